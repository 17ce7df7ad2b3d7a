// Shared by the console's modules: the console's request header, run and event names,
// SVG helpers and durations.

export const CONSOLE_HEADER = { "X-Turnout-Console": "1" };
export const SVGNS = "http://www.w3.org/2000/svg";
export const TERMINAL = new Set([
  "completed", "failed", "canceled", "terminated", "timed_out", "continued_as_new",
]);
export const CLOSING = new Set([
  "workflow_completed", "workflow_failed", "workflow_canceled", "workflow_terminated",
  "workflow_timed_out", "workflow_continued_as_new",
]);
export const EVENT_TYPES = [
  "workflow_started", "workflow_completed", "workflow_failed", "workflow_canceled",
  "workflow_terminated", "workflow_timed_out", "workflow_continued_as_new",
  "workflow_cancel_requested", "workflow_task_completed", "workflow_task_failed",
  "activity_scheduled", "activity_started", "activity_completed", "activity_failed",
  "activity_timed_out", "activity_cancel_requested", "activity_canceled",
  "timer_started", "timer_fired", "timer_canceled", "signal_received",
  "child_workflow_started", "child_workflow_completed", "child_workflow_failed",
  "child_workflow_canceled", "child_workflow_terminated", "child_workflow_timed_out",
  "marker_recorded", "state_changed", "lease_expired", "retry_scheduled", "dead_lettered",
  "approval_requested", "approval_decided", "policy_decided", "artifact_recorded",
];

export function svg(name, attrs, parent) {
  const node = document.createElementNS(SVGNS, name);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (parent) parent.appendChild(node);
  return node;
}

export function titled(node, text) {
  const title = svg("title", {}, node);
  title.textContent = text;
  return node;
}

export function ms(event) {
  return Date.parse(event.at);
}

export function duration(seconds) {
  if (seconds < 1) return Math.round(seconds * 1000) + " ms";
  if (seconds < 120) return (Math.round(seconds * 10) / 10) + " s";
  if (seconds < 7200) return (Math.round(seconds / 6) / 10) + " min";
  return (Math.round(seconds / 360) / 10) + " h";
}

// Send a change to the API as the console does (the cookie, and the console's header).
// Answers { ok, status, body, message }: message is the server's one-line error, or says
// that the server did not answer.
export async function send(method, url, body) {
  const headers = { ...CONSOLE_HEADER, Accept: "application/json" };
  const init = { method, credentials: "same-origin", headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    return { ok: false, status: 0, body: null, message: "The server did not answer; try again." };
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    // not JSON
  }
  const detail = answer && (answer.error || answer);
  const message = !response.ok && detail && typeof detail.message === "string"
    ? detail.message
    : "The server answered HTTP " + response.status + ".";
  return { ok: response.ok && !response.redirected, status: response.status, body: answer, message };
}

// Run the handler of each form submitted in `box` (by its data-action), with the box's
// buttons disabled meanwhile. A handler answers null (nothing was sent) or
// [answer, text]: then done(answer, text, form) says how it went.
export function onActions(box, handlers, done) {
  box.addEventListener("submit", async (submit) => {
    const form = submit.target;
    if (!(form instanceof HTMLFormElement) || !handlers[form.dataset.action]) return;
    submit.preventDefault();
    const buttons = box.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const outcome = await handlers[form.dataset.action](form);
      if (outcome) await done(outcome[0], outcome[1], form);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}
