// A run's actions: cancel, terminate (with a reason), signal (JSON arguments) and re-run
// with the same input. Each goes through the JSON API with the console's header; what the
// server refuses (a run that closed meanwhile, ...) is shown as its one-line message.

import { onActions, send } from "./common.js";

const MAX_ID = 255;

// The arguments typed for a signal: [args, null], or [null, why they cannot be sent].
export function parseArgs(text) {
  const trimmed = text.trim();
  if (!trimmed) return [[], null];
  let value;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    return [null, "The arguments are not valid JSON: " + error.message + "."];
  }
  if (!Array.isArray(value)) {
    return [null, 'The arguments must be a JSON array, one item per argument: ["value", 1].'];
  }
  return [value, null];
}

// A new workflow id for a re-run: the run's own id with a short random suffix.
function rerunId(workflowId) {
  const bytes = new Uint8Array(4);
  window.crypto.getRandomValues(bytes);
  const suffix = "-rerun-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return workflowId.slice(0, MAX_ID - suffix.length) + suffix;
}

// Wire the actions of the run page `root`; `refresh` re-reads the page's parts.
// Answers { closed }: the page calls closed() when the run closes, to hide what no longer applies.
export function actions(root, refresh) {
  const box = document.getElementById("actions");
  const status = document.getElementById("action-status");
  const argsInput = document.getElementById("signal-args");
  const argsError = document.getElementById("signal-args-error");
  const base = root.dataset.workflow;

  function say(text) {
    if (status) status.textContent = text;
  }

  function closed() {
    if (!box) return;
    box.querySelectorAll("[data-while-open]").forEach((form) => { form.hidden = true; });
    box.hidden = !box.querySelector("form:not([hidden])");
  }

  function argsProblem(text) {
    if (!argsInput || !argsError) return;
    argsError.textContent = text || "";
    if (text) argsInput.setAttribute("aria-invalid", "true");
    else argsInput.removeAttribute("aria-invalid");
  }

  const handlers = {
    async cancel() {
      if (!window.confirm("Cancel this run? The workflow sees the cancellation and closes.")) return null;
      say("Asking the run to cancel…");
      const answer = await send("POST", base + "/cancel");
      return [answer, "Cancellation requested."];
    },
    async terminate(form) {
      if (!window.confirm("Terminate this run now? Its code gets no chance to clean up.")) return null;
      const reason = form.elements.reason.value.trim();
      say("Terminating…");
      const answer = await send("POST", base + "/terminate", reason ? { reason } : {});
      return [answer, "Terminated."];
    },
    async signal(form) {
      const name = form.elements.name.value.trim();
      const [args, problem] = parseArgs(form.elements.args.value);
      argsProblem(problem);
      if (problem) {
        argsInput.focus();
        say("");
        return null;
      }
      say("Sending signal " + name + "…");
      const answer = await send("POST", base + "/signals/" + encodeURIComponent(name), { args });
      return [answer, "Signal " + name + " sent."];
    },
    async rerun() {
      say("Reading the run's input…");
      const described = await send("GET", base);
      if (!described.ok) return [described, ""];
      const run = described.body;
      if (!Array.isArray(run.input)) {
        say("This executor does not report the run's input, so it cannot be re-run from here.");
        return null;
      }
      const workflowId = rerunId(run.workflow_id);
      say("Starting a new run of " + run.workflow_type + "…");
      const started = await send("POST", "/workflows", {
        workflow: run.workflow_type, args: run.input, task_queue: run.task_queue, id: workflowId,
      });
      if (started.ok) window.location.assign("/runs/" + encodeURIComponent(started.body.workflow_id));
      return [started, "Started " + workflowId + "."];
    },
  };

  if (box) {
    onActions(box, handlers, (answer, done) => {
      say(answer.ok ? done : answer.message);
      if (status) status.classList.toggle("refused", !answer.ok);
      refresh();
    });
    if (argsInput) argsInput.addEventListener("input", () => argsProblem(""));
  }
  return { closed };
}
