// The timeline's rows, computed from a run's events.

import { CLOSING, duration, ms } from "./common.js";

const NOT_STARTED = new Set(["queued", "claimed"]);

// Rows of the timeline from the events: the workflow, then activities, timers,
// approvals, children and markers in the order they first appear. `state` is the run's:
// an open run no worker has started yet (queued, claimed) is drawn waiting, not running.
export function model(events, open, now, state) {
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
  const waiting = !closing && open && NOT_STARTED.has(state);
  const finalState = closing ? closing.type.replace("workflow_", "") : waiting ? state : "running";
  let cls = waiting ? "wait" : "running";
  if (closing) cls = finalState === "completed" ? "ok" : finalState === "continued_as_new" ? "workflow" : "bad";
  wf.items.push({
    shape: "bar", start: started ? ms(started) : t0, end: closing ? ms(closing) : t1, cls,
    title: "workflow " + (waiting ? state + ": no worker has started it yet" : finalState),
    data: { kind: "workflow", outcome: finalState },
  });
  // The wait for approvals is a strip along the bottom of the workflow's bar, whose
  // colour stays the run's outcome.
  const waited = (start, end) => ({
    shape: "bar", thin: true, strip: true, start, end, cls: "wait", title: "waiting for approval", data: { kind: "waiting" },
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
          wf.items.push(waited(waitingSince, at));
          waitingSince = null;
        }
        break;
      case "workflow_task_failed":
        wf.items.push({ shape: "triangle", at, cls: "bad", title: "workflow task failed: " + ((a.failure && a.failure.message) || ""), data: { kind: "task-failed" } });
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
        row("signals", "signals", "marks").items.push({ shape: "diamond", at, cls: "note", title: "signal " + (a.name || ""), data: { kind: "signal", name: a.name } });
        break;
      case "artifact_recorded":
        row("artifacts", "artifacts", "marks").items.push({ shape: "square", at, cls: "note", title: "artifact " + (a.name || "") + (a.uri ? " " + a.uri : ""), data: { kind: "artifact", name: a.name } });
        break;
      case "marker_recorded":
        row("markers", "markers", "marks").items.push({ shape: "diamond", at, cls: "muted", title: "marker " + (a.patch_id || a.marker || ""), data: { kind: "marker" } });
        break;
      default:
        break;
    }
  }
  if (waitingSince !== null) {
    wf.items.push(waited(waitingSince, closing ? ms(closing) : t1));
  }
  return { rows, t0, t1 };
}
