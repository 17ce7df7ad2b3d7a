// The run page: live events (SSE, with polling as the fallback), the timeline, what the run
// waits on, decisions;
// its actions are in actions.js.

import { CLOSING, EVENT_TYPES, TERMINAL, send } from "./common.js";
import { actions } from "./actions.js";
import { draw } from "./timeline-draw.js";

export function liveRun() {
  const root = document.getElementById("run");
  const chart = document.getElementById("timeline");
  const data = document.getElementById("events-data");
  if (!root || !chart || !data) return;
  const decide = document.getElementById("decide");
  const status = document.getElementById("decide-status");
  const liveBadge = document.getElementById("live");
  const byInput = document.getElementById("decided-by");
  const reasonInput = document.getElementById("decision-reason");
  let events = JSON.parse(data.textContent || "[]");
  let open = root.dataset.open === "true";
  let source = null;
  let ticker = null;
  let poller = null;
  let waits = null;
  let pending = null;
  let sseErrors = 0;
  // Refreshes overlap (the stream's, the pollers', an action's): an answer is shown only
  // if no later-asked one was shown first, so a slow, older answer never puts back a
  // state the run has left (and, once it closed, never reopens the page).
  let asked = 0;
  let shown = 0;
  let answered = 0;

  const redraw = () => draw(chart, events, open, root.dataset.state);
  redraw();
  window.addEventListener("resize", redraw);
  try {
    if (byInput && !byInput.value) byInput.value = window.localStorage.getItem("turnout.decider") || "";
  } catch (error) {
    // storage may be disabled
  }

  function lastSeq() {
    return events.length ? events[events.length - 1].seq : 0;
  }

  function add(list) {
    const seen = new Set(events.map((e) => e.seq));
    let changed = false;
    for (const e of list) {
      if (!seen.has(e.seq)) {
        events.push(e);
        seen.add(e.seq);
        changed = true;
      }
    }
    if (changed) events.sort((a, b) => a.seq - b.seq);
    return changed;
  }

  function stop() {
    open = false;
    if (source) source.close();
    source = null;
    if (ticker) window.clearInterval(ticker);
    if (poller) window.clearInterval(poller);
    if (waits) window.clearInterval(waits);
    ticker = poller = waits = null;
    root.dataset.open = "false";
    if (liveBadge) liveBadge.hidden = true;
    acting.closed();
    redraw();
  }

  async function refresh() {
    const ticket = ++asked;
    let panel = null;
    try {
      const response = await fetch(root.dataset.panel + "?after=" + lastSeq(), {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      if (response.ok && !response.redirected) panel = await response.json();
    } catch (error) {
      panel = null;
    }
    root.dataset.answered = String(++answered);
    if (!panel) return;
    add(panel.events || []);
    if (ticket < shown) {
      redraw();
      return;
    }
    shown = ticket;
    for (const part of ["summary", "waiting", "pending", "details"]) {
      const box = document.getElementById(part);
      if (!box || typeof panel[part] !== "string") continue;
      const opened = Array.from(box.querySelectorAll("details")).map((d) => d.open);
      const focused = document.activeElement && box.contains(document.activeElement);
      box.innerHTML = panel[part];
      box.querySelectorAll("details").forEach((d, i) => { d.open = Boolean(opened[i]); });
      if (focused && part === "pending" && status) status.focus();
    }
    if (decide) decide.hidden = !decide.querySelector("[data-decide]");
    root.dataset.state = panel.state;
    if (!panel.open) stop();
    else redraw();
  }

  function refreshSoon() {
    if (pending) return;
    pending = window.setTimeout(() => { pending = null; refresh(); }, 150);
  }

  function startPolling() {
    if (source) source.close();
    source = null;
    if (!poller && open) poller = window.setInterval(refresh, 1500);
  }

  function onEvent(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    sseErrors = 0;
    if (add([event])) redraw();
    refreshSoon();
    const a = event.attributes || {};
    if (CLOSING.has(event.type) || (event.type === "state_changed" && TERMINAL.has(a.to))) {
      // the stream has said all it will; the run's own record may trail its last event
      // (Temporal's describe), so it is re-read every second until it says closed
      if (source) source.close();
      source = null;
      if (poller) window.clearInterval(poller);
      poller = window.setInterval(refresh, 1000);
    }
  }

  const acting = actions(root, refresh);
  if (!open) return;
  ticker = window.setInterval(redraw, 1000);
  if ("EventSource" in window) {
    source = new EventSource(root.dataset.events + "?after=" + lastSeq());
    for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
    source.addEventListener("message", onEvent);
    source.onerror = () => {
      sseErrors += 1;
      refreshSoon();
      if (!source || source.readyState === EventSource.CLOSED || sseErrors >= 3) startPolling();
    };
    // a slow safety net: what the stream cannot say (a decision made elsewhere, a page held open)
    poller = window.setInterval(refresh, 10000);
    // retries, heartbeats and workers come and go without events on every executor: while the
    // run waits on an activity or no worker moves it, its pending panel is re-read every 2 s
    waits = window.setInterval(() => {
      if (!document.hidden && document.querySelector("#waiting .pending-activities, #waiting .stuck")) refresh();
    }, 2000);
  } else {
    startPolling();
  }

  document.addEventListener("click", async (click) => {
    const button = click.target instanceof Element ? click.target.closest("[data-decide]") : null;
    if (!button) return;
    const action = button.dataset.decide;
    const name = button.dataset.name;
    const by = byInput ? byInput.value.trim() : "";
    if (!by) {
      if (status) status.textContent = "Enter your name first: it is recorded with the decision.";
      if (byInput) {
        byInput.setAttribute("aria-invalid", "true");
        byInput.focus();
      }
      return;
    }
    if (byInput) byInput.removeAttribute("aria-invalid");
    try {
      window.localStorage.setItem("turnout.decider", by);
    } catch (error) {
      // storage may be disabled
    }
    const body = { by };
    const reason = reasonInput ? reasonInput.value.trim() : "";
    if (reason) body.reason = reason;
    const buttons = document.querySelectorAll("[data-decide]");
    buttons.forEach((b) => { b.disabled = true; });
    if (status) status.textContent = (action === "approve" ? "Approving " : "Rejecting ") + name + "…";
    const url = root.dataset.approvals + "/" + encodeURIComponent(name) + "/" + action;
    const answer = await send("POST", url, body);
    if (answer.ok) {
      if (status) status.textContent = (action === "approve" ? "Approved " : "Rejected ") + name + ".";
    } else {
      if (status) status.textContent = answer.message;
      buttons.forEach((b) => { b.disabled = false; });
    }
    refresh();
  });
}
