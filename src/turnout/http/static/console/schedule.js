// A schedule's page: pause and unpause (with a note), trigger and delete, each sent to the
// JSON API's /schedules routes with the console's header; the page's details re-read
// themselves after each action and every 2 s, so the runs a trigger starts appear.

import { onActions, send } from "./common.js";

export function liveSchedule() {
  const root = document.getElementById("schedule");
  if (!root) return;
  const box = document.getElementById("schedule-actions");
  const status = document.getElementById("schedule-status");
  const detail = document.getElementById("schedule-detail");
  const api = root.dataset.api;
  const id = root.dataset.scheduleId;
  let gone = false;

  function say(text, refused) {
    status.textContent = text;
    status.classList.toggle("refused", Boolean(refused));
  }

  // Show the pause form while the schedule is active, the unpause form while paused.
  function showState() {
    const state = detail.querySelector("[data-paused]");
    if (!state) return;
    const paused = state.dataset.paused === "true";
    box.querySelectorAll("form[data-while]").forEach((form) => {
      form.hidden = form.dataset.while !== (paused ? "paused" : "active");
    });
  }

  async function refresh() {
    if (gone) return;
    try {
      const response = await fetch(root.dataset.detail, {
        credentials: "same-origin", headers: { Accept: "text/html" },
      });
      if (response.redirected || response.status === 401) return; // logged out
      if (response.ok) {
        const html = await response.text();
        if (html !== detail.innerHTML) detail.innerHTML = html;
        showState();
      }
    } catch (error) {
      // the server may be restarting; try again on the next tick
    }
  }

  function note(form) {
    const text = form.elements.note ? form.elements.note.value.trim() : "";
    return text ? { note: text } : {};
  }

  const handlers = {
    async pause(form) {
      say("Pausing…");
      return [await send("POST", api + "/pause", note(form)), "Paused."];
    },
    async unpause(form) {
      say("Unpausing…");
      return [await send("POST", api + "/unpause", note(form)), "Unpaused."];
    },
    async trigger() {
      say("Triggering…");
      const answer = await send("POST", api + "/trigger", {});
      return [answer, "Triggered: " + id + " acts once now; the run appears under Recent actions."];
    },
    async delete() {
      if (!window.confirm("Delete schedule " + id + "? The runs it started go on.")) return null;
      say("Deleting…");
      const answer = await send("DELETE", api);
      if (answer.ok) {
        gone = true;
        window.location.assign("/console/schedules?deleted=" + encodeURIComponent(id));
      }
      return [answer, "Deleted."];
    },
  };

  onActions(box, handlers, async (answer, done, form) => {
    say(answer.ok ? done : answer.message, !answer.ok);
    if (answer.ok && form.elements.note) form.elements.note.value = "";
    await refresh();
  });

  const tick = async () => {
    if (!document.hidden) await refresh();
    if (!gone) window.setTimeout(tick, 2000);
  };
  window.setTimeout(tick, 2000);
}
