// turnout console: live runs list, run timeline (SVG), live run page, decisions.
// Plain JavaScript, no dependencies; every request goes to this server only.
"use strict";

(function () {
  const CONSOLE_HEADER = { "X-Turnout-Console": "1" };
  const SVGNS = "http://www.w3.org/2000/svg";
  const TERMINAL = new Set([
    "completed", "failed", "canceled", "terminated", "timed_out", "continued_as_new",
  ]);
  const CLOSING = new Set([
    "workflow_completed", "workflow_failed", "workflow_canceled", "workflow_terminated",
    "workflow_timed_out", "workflow_continued_as_new",
  ]);
  const EVENT_TYPES = [
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

  // ------------------------------------------------------------------ common

  function svg(name, attrs, parent) {
    const node = document.createElementNS(SVGNS, name);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function titled(node, text) {
    const title = svg("title", {}, node);
    title.textContent = text;
    return node;
  }

  function ms(event) {
    return Date.parse(event.at);
  }

  function duration(seconds) {
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 120) return (Math.round(seconds * 10) / 10) + " s";
    if (seconds < 7200) return (Math.round(seconds / 6) / 10) + " min";
    return (Math.round(seconds / 360) / 10) + " h";
  }

  // Logout (and any other console form posted by script, with the console header).
  document.addEventListener("submit", async (submit) => {
    const form = submit.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-console-post")) return;
    submit.preventDefault();
    try {
      await fetch(form.action, { method: "POST", headers: CONSOLE_HEADER, credentials: "same-origin" });
    } finally {
      window.location.assign("/login");
    }
  });

  // ------------------------------------------------------------------ runs list

  // Parts of the home page (task queues, runs) that re-read themselves every 2 s.
  function liveParts() {
    for (const box of document.querySelectorAll("[data-live][data-part]")) {
      const base = box.dataset.live || "/";
      const url = base + (base.includes("?") ? "&" : "?") + "partial=" + encodeURIComponent(box.dataset.part);
      let last = null;
      const tick = async () => {
        if (!document.hidden) {
          try {
            const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
            if (response.redirected || response.status === 401) return; // logged out: stop
            if (response.ok) {
              const html = await response.text();
              if (html !== last) box.innerHTML = html;
              last = html;
            }
          } catch (error) {
            // the server may be restarting; try again on the next tick
          }
        }
        window.setTimeout(tick, 2000);
      };
      window.setTimeout(tick, 2000);
    }
  }

  // ------------------------------------------------------------------ timeline model

  // Rows of the timeline from the events: the workflow, then activities, timers,
  // approvals, children and markers in the order they first appear.
  function model(events, open, now) {
    const rows = [];
    const byKey = new Map();
    function row(key, label, kind) {
      let found = byKey.get(key);
      if (!found) {
        found = { key, label, kind, items: [] };
        byKey.set(key, found);
        rows.push(found);
      }
      return found;
    }
    const sorted = events.slice().sort((a, b) => a.seq - b.seq);
    if (!sorted.length) return { rows, t0: now, t1: now };
    const t0 = ms(sorted[0]);
    let t1 = Math.max(...sorted.map(ms));
    if (open) t1 = Math.max(t1, now);

    const started = sorted.find((e) => e.type === "workflow_started");
    const wf = row("workflow", "workflow " + ((started && started.attributes.workflow_type) || ""), "workflow");
    const closing = sorted.find((e) => CLOSING.has(e.type));
    const finalState = closing ? closing.type.replace("workflow_", "") : "running";
    wf.items.push({
      shape: "bar", start: started ? ms(started) : t0, end: closing ? ms(closing) : t1,
      cls: closing ? (finalState === "completed" ? "ok" : finalState === "continued_as_new" ? "workflow" : "bad") : "running",
      title: "workflow " + finalState, data: { kind: "workflow", outcome: finalState },
    });
    let waitingSince = null;

    const activityRow = new Map(); // activity_seq or activity_id -> row
    const activityById = new Map(); // activity_id -> row
    const attempts = new Map(); // row key + attempt -> bar item
    const typeCount = new Map();
    function activityKey(a) {
      return a.activity_seq !== undefined && a.activity_seq !== null ? "s" + a.activity_seq : "i" + a.activity_id;
    }
    function activityOf(e) {
      const a = e.attributes;
      let r = activityRow.get(activityKey(a)) || (a.activity_id !== undefined ? activityById.get(String(a.activity_id)) : undefined);
      if (!r) {
        const name = a.activity_type || "activity";
        const n = (typeCount.get(name) || 0) + 1;
        typeCount.set(name, n);
        r = row("activity:" + activityKey(a), name + (n > 1 ? " (" + n + ")" : ""), "activity");
        r.name = name;
        r.scheduled = null;
        r.lastEnd = null;
        activityRow.set(activityKey(a), r);
      }
      if (a.activity_id !== undefined && a.activity_id !== null) activityById.set(String(a.activity_id), r);
      return r;
    }
    function closeAttempt(r, e, cls, outcome) {
      const a = e.attributes;
      const item = attempts.get(r.key + "#" + a.attempt) || openAttempt(r);
      if (item) {
        item.end = ms(e);
        item.cls = cls;
        item.data.outcome = outcome;
        item.title = r.name + " attempt " + item.data.attempt + ": " + outcome + (a.failure ? " (" + (a.failure.cause ? a.failure.cause.message : a.failure.message) + ")" : "");
        r.lastEnd = ms(e);
      } else {
        // no attempt started (for example, timed out in the queue)
        r.items.push({
          shape: "bar", start: r.scheduled || ms(e), end: ms(e), cls,
          title: r.name + ": " + outcome, data: { kind: "activity", name: r.name, attempt: a.attempt || "", outcome },
        });
      }
    }
    function openAttempt(r) {
      for (let i = r.items.length - 1; i >= 0; i--) {
        const it = r.items[i];
        if (it.data.kind === "activity" && it.data.outcome === "running") return it;
      }
      return null;
    }

    const timers = new Map();
    const approvals = new Map();
    const children = new Map();

    for (const e of sorted) {
      const a = e.attributes || {};
      const at = ms(e);
      switch (e.type) {
        case "state_changed":
          if (a.to === "waiting_approval") waitingSince = at;
          else if (a.from === "waiting_approval" && waitingSince !== null) {
            wf.items.push({ shape: "bar", start: waitingSince, end: at, cls: "wait", title: "waiting for approval", data: { kind: "waiting" } });
            waitingSince = null;
          }
          break;
        case "workflow_task_failed":
          wf.items.push({ shape: "mark", at, cls: "bad", title: "workflow task failed: " + ((a.failure && a.failure.message) || ""), data: { kind: "task-failed" } });
          break;
        case "workflow_cancel_requested":
          wf.items.push({ shape: "mark", at, cls: "muted", title: "cancel requested", data: { kind: "cancel" } });
          break;
        case "activity_scheduled": {
          const r = activityOf(e);
          r.scheduled = at;
          r.lastEnd = at;
          break;
        }
        case "activity_started": {
          const r = activityOf(e);
          const from = r.lastEnd !== null ? r.lastEnd : r.scheduled;
          if (from !== null && from < at) {
            r.items.push({ shape: "bar", thin: true, start: from, end: at, cls: "wait", title: r.name + ": waiting " + duration((at - from) / 1000), data: { kind: "queued" } });
          }
          const item = {
            shape: "bar", start: at, end: t1, cls: "running",
            title: r.name + " attempt " + a.attempt + ": running",
            data: { kind: "activity", name: r.name, attempt: a.attempt, outcome: "running" },
          };
          r.items.push(item);
          attempts.set(r.key + "#" + a.attempt, item);
          break;
        }
        case "retry_scheduled":
          closeAttempt(activityOf(e), e, "bad", "retried");
          break;
        case "activity_completed":
          closeAttempt(activityOf(e), e, "ok", "completed");
          break;
        case "activity_failed":
          closeAttempt(activityOf(e), e, "bad", "failed");
          break;
        case "activity_timed_out":
          closeAttempt(activityOf(e), e, "bad", "timed_out");
          break;
        case "activity_canceled":
          closeAttempt(activityOf(e), e, "muted", "canceled");
          break;
        case "policy_decided": {
          const r = a.activity_id !== undefined ? activityById.get(String(a.activity_id)) : undefined;
          const target = r || row("policy", "policy decisions", "marks");
          const outcome = a.outcome || "";
          target.items.push({
            shape: "diamond", above: Boolean(r), at, cls: outcome === "allow" ? "ok" : outcome === "deny" ? "bad" : "wait",
            title: "policy: " + outcome + (a.reason ? " (" + a.reason + ")" : "") + (a.decided_by ? " by " + a.decided_by : ""),
            data: { kind: "policy", outcome },
          });
          break;
        }
        case "timer_started": {
          const key = a.timer_seq !== undefined ? a.timer_seq : a.timer_id;
          const r = row("timer:" + key, "timer " + (a.duration !== undefined ? duration(Number(a.duration)) : ""), "timer");
          const item = { shape: "bar", start: at, end: t1, cls: "wait", title: "timer " + duration(Number(a.duration || 0)), data: { kind: "timer", outcome: "pending" } };
          r.items.push(item);
          timers.set(String(key), item);
          break;
        }
        case "timer_fired":
        case "timer_canceled": {
          const item = timers.get(String(a.timer_seq !== undefined ? a.timer_seq : a.timer_id));
          if (item) {
            item.end = at;
            item.data.outcome = e.type === "timer_fired" ? "fired" : "canceled";
            item.cls = e.type === "timer_fired" ? "timer" : "muted";
            item.title += ": " + item.data.outcome;
          }
          break;
        }
        case "approval_requested": {
          const r = row("approval:" + a.name, "approval " + a.name, "approval");
          const item = { shape: "bar", start: at, end: t1, cls: "wait", title: "approval " + a.name + ": pending", data: { kind: "approval", name: a.name, outcome: "pending" } };
          r.items.push(item);
          approvals.set(a.name, item);
          break;
        }
        case "approval_decided": {
          const item = approvals.get(a.name);
          const r = row("approval:" + a.name, "approval " + a.name, "approval");
          const good = a.outcome === "approved";
          if (item) {
            item.end = at;
            item.data.outcome = a.outcome;
            item.title = "approval " + a.name + ": waited " + duration((at - item.start) / 1000);
          }
          r.items.push({
            shape: good ? "check" : "cross", at, cls: good ? "ok" : "bad",
            title: a.name + " " + a.outcome + (a.decided_by ? " by " + a.decided_by : "") + (a.reason ? " (" + a.reason + ")" : ""),
            data: { kind: "decision", name: a.name, outcome: a.outcome },
          });
          break;
        }
        case "child_workflow_started": {
          const key = a.child_seq !== undefined ? a.child_seq : a.workflow_id;
          const r = row("child:" + key, "child " + (a.workflow_type || a.workflow_id || ""), "child");
          const item = {
            shape: "bar", start: at, end: t1, cls: "running", title: "child " + (a.workflow_id || ""),
            href: a.workflow_id ? "/runs/" + encodeURIComponent(a.workflow_id) : null,
            data: { kind: "child", outcome: "running" },
          };
          r.items.push(item);
          children.set(String(key), item);
          break;
        }
        case "child_workflow_completed":
        case "child_workflow_failed":
        case "child_workflow_canceled":
        case "child_workflow_terminated":
        case "child_workflow_timed_out": {
          const key = a.child_seq !== undefined ? a.child_seq : a.workflow_id;
          const outcome = e.type.replace("child_workflow_", "");
          const item = children.get(String(key));
          if (item) {
            item.end = at;
            item.cls = outcome === "completed" ? "ok" : "bad";
            item.data.outcome = outcome;
            item.title += ": " + outcome;
          }
          break;
        }
        case "signal_received":
          row("signals", "signals", "marks").items.push({ shape: "diamond", at, cls: "mark", title: "signal " + (a.name || ""), data: { kind: "signal", name: a.name } });
          break;
        case "artifact_recorded":
          row("artifacts", "artifacts", "marks").items.push({ shape: "square", at, cls: "mark", title: "artifact " + (a.name || "") + (a.uri ? " " + a.uri : ""), data: { kind: "artifact", name: a.name } });
          break;
        case "marker_recorded":
          row("markers", "markers", "marks").items.push({ shape: "diamond", at, cls: "muted", title: "marker " + (a.patch_id || a.marker || ""), data: { kind: "marker" } });
          break;
        default:
          break;
      }
    }
    if (waitingSince !== null) {
      wf.items.push({ shape: "bar", start: waitingSince, end: closing ? ms(closing) : t1, cls: "wait", title: "waiting for approval", data: { kind: "waiting" } });
    }
    return { rows, t0, t1 };
  }

  // ------------------------------------------------------------------ timeline drawing

  function niceStep(span, count) {
    const raw = span / count;
    const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000,
      120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
    return steps.find((s) => s >= raw) || raw;
  }

  function draw(container, events, open) {
    const now = Date.now();
    const { rows, t0, t1 } = model(events, open, now);
    const width = Math.max(640, container.clientWidth || 960);
    const labelW = Math.min(220, Math.round(width * 0.24));
    const rowH = 28;
    const axisH = 26;
    const right = 18;
    const height = axisH + rows.length * rowH + 8;
    const span = Math.max(t1 - t0, 1);
    const plotW = width - labelW - right;
    const x = (t) => labelW + ((t - t0) / span) * plotW;

    const root = svg("svg", {
      xmlns: SVGNS, width, height, viewBox: "0 0 " + width + " " + height,
      class: "gantt", "aria-hidden": "true", focusable: "false",
    });
    // axis
    const axis = svg("g", { class: "axis" }, root);
    const step = niceStep(span, Math.max(2, Math.floor(plotW / 110)));
    for (let t = 0; t <= span + 1e-9; t += step) {
      const px = x(t0 + t);
      svg("line", { x1: px, x2: px, y1: axisH - 6, y2: height - 4, class: "grid" }, axis);
      const label = svg("text", { x: px, y: axisH - 10, "text-anchor": t === 0 ? "start" : "middle" }, axis);
      label.textContent = "+" + duration(t / 1000);
    }
    // rows
    rows.forEach((r, i) => {
      const y = axisH + i * rowH;
      const g = svg("g", { class: "row row-" + r.kind, "data-row": r.key }, root);
      svg("rect", { x: 0, y, width, height: rowH, class: i % 2 ? "band odd" : "band" }, g);
      const label = svg("text", { x: 8, y: y + rowH / 2 + 4, class: "label" }, g);
      label.textContent = r.label.length > 30 ? r.label.slice(0, 29) + "…" : r.label;
      titled(label, r.label);
      const mid = y + rowH / 2;
      for (const it of r.items) {
        const data = {};
        for (const [k, v] of Object.entries(it.data || {})) data["data-" + k] = v;
        if (it.shape === "bar") {
          const h = it.thin ? 4 : 14;
          const x1 = x(it.start);
          const w = Math.max(3, x(it.end) - x1);
          const parent = it.href ? svg("a", { href: it.href, class: "bar-link", tabindex: "-1" }, g) : g;
          const bar = svg("rect", { x: x1, y: mid - h / 2, width: w, height: h, rx: it.thin ? 2 : 3, class: "bar " + it.cls, ...data }, parent);
          titled(bar, it.title + " · " + duration((it.end - it.start) / 1000));
          if (!it.thin && it.data && it.data.attempt && w > 16) {
            const t = svg("text", { x: x1 + 4, y: mid + 4, class: "bar-label" }, g);
            t.textContent = "#" + it.data.attempt;
          }
        } else {
          const cx = x(it.at);
          let mark;
          if (it.shape === "square") {
            mark = svg("rect", { x: cx - 5, y: mid - 5, width: 10, height: 10, class: "mark " + it.cls, ...data }, g);
          } else if (it.shape === "check" || it.shape === "cross") {
            mark = svg("circle", { cx, cy: mid, r: 7, class: "mark " + it.cls, ...data }, g);
            const glyph = svg("path", {
              d: it.shape === "check" ? `M${cx - 3.5} ${mid} l2.5 2.5 l4.5 -5` : `M${cx - 3} ${mid - 3} l6 6 M${cx + 3} ${mid - 3} l-6 6`,
              class: "glyph",
            }, g);
            titled(glyph, it.title);
          } else if (it.above) {
            // a policy decision on an activity's row: small, above its attempt's bar
            mark = svg("path", { d: `M${cx} ${mid - 13} l4 4 l-4 4 l-4 -4 z`, class: "mark small " + it.cls, ...data }, g);
          } else {
            mark = svg("path", { d: `M${cx} ${mid - 6} l6 6 l-6 6 l-6 -6 z`, class: "mark " + it.cls, ...data }, g);
          }
          titled(mark, it.title);
        }
      }
    });
    if (open) {
      svg("line", { x1: x(now), x2: x(now), y1: axisH - 6, y2: height - 4, class: "now" }, root);
    }
    container.replaceChildren(root);
    container.setAttribute("aria-label",
      "Timeline of " + rows.length + " rows over " + duration(span / 1000) + "; the events are listed in the table below");
  }

  // ------------------------------------------------------------------ run page

  function liveRun() {
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
    let pending = null;
    let sseErrors = 0;

    const redraw = () => draw(chart, events, open);
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
      ticker = poller = null;
      root.dataset.open = "false";
      if (liveBadge) liveBadge.hidden = true;
      redraw();
    }

    async function refresh() {
      let response;
      try {
        response = await fetch(root.dataset.panel + "?after=" + lastSeq(), {
          credentials: "same-origin", headers: { Accept: "application/json" },
        });
      } catch (error) {
        return;
      }
      if (!response.ok || response.redirected) return;
      const panel = await response.json();
      add(panel.events || []);
      for (const part of ["summary", "pending", "details"]) {
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
        if (source) source.close();
        source = null;
      }
    }

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
      let response;
      try {
        response = await fetch(
          root.dataset.approvals + "/" + encodeURIComponent(name) + "/" + action,
          {
            method: "POST",
            credentials: "same-origin",
            headers: { ...CONSOLE_HEADER, "Content-Type": "application/json", Accept: "application/json" },
            body: JSON.stringify(body),
          },
        );
      } catch (error) {
        response = null;
      }
      if (response && response.ok) {
        if (status) status.textContent = (action === "approve" ? "Approved " : "Rejected ") + name + ".";
      } else {
        let message = response ? "The decision was not recorded (HTTP " + response.status + ")." : "The server did not answer; try again.";
        if (response) {
          try {
            const problem = await response.json();
            const detail = problem && (problem.error || problem);
            if (detail && detail.message) message = detail.message;
          } catch (error) {
            // not JSON
          }
        }
        if (status) status.textContent = message;
        buttons.forEach((b) => { b.disabled = false; });
      }
      refresh();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    liveParts();
    liveRun();
  });
})();
