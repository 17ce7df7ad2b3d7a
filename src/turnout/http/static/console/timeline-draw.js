// The timeline drawn as SVG.

import { SVGNS, duration, svg, titled } from "./common.js";
import { model } from "./timeline-model.js";

function niceStep(span, count) {
  const raw = span / count;
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000,
    120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
  return steps.find((s) => s >= raw) || raw;
}

// An attempt's "#N" inside its bar when it fits, else just after the bar when the row has
// room there before its next bar, else not at all (the bar's tooltip still says it).
function attemptLabel(g, text, x1, w, mid, limit) {
  const label = svg("text", { x: x1 + 4, y: mid + 4, class: "bar-label" }, g);
  label.textContent = text;
  const width = label.getComputedTextLength();
  if (width + 8 <= w) return;
  if (x1 + w + 3 + width <= limit) {
    label.setAttribute("x", String(x1 + w + 3));
    label.setAttribute("class", "bar-label outside");
    return;
  }
  label.remove();
}

// The glyph of a mark at (cx, mid): each kind of mark has its own, as in the legend.
function mark(g, it, cx, mid, data) {
  if (it.shape === "square") {
    return svg("rect", { x: cx - 5, y: mid - 5, width: 10, height: 10, class: "mark " + it.cls, ...data }, g);
  }
  if (it.shape === "triangle") {
    return svg("path", { d: `M${cx} ${mid - 7} l7 12 h-14 z`, class: "mark " + it.cls, ...data }, g);
  }
  if (it.shape === "check" || it.shape === "cross") {
    const circle = svg("circle", { cx, cy: mid, r: 7, class: "mark " + it.cls, ...data }, g);
    const glyph = svg("path", {
      d: it.shape === "check" ? `M${cx - 3.5} ${mid} l2.5 2.5 l4.5 -5` : `M${cx - 3} ${mid - 3} l6 6 M${cx + 3} ${mid - 3} l-6 6`,
      class: "glyph",
    }, g);
    titled(glyph, it.title);
    return circle;
  }
  if (it.above) {
    // a policy decision on an activity's row: small, above its attempt's bar
    return svg("path", { d: `M${cx} ${mid - 13} l4 4 l-4 4 l-4 -4 z`, class: "mark small " + it.cls, ...data }, g);
  }
  return svg("path", { d: `M${cx} ${mid - 6} l6 6 l-6 6 l-6 -6 z`, class: "mark " + it.cls, ...data }, g);
}

// Draw the run's timeline into `container`; `state` is the run's state (a run no worker has
// started yet is drawn waiting, not running).
export function draw(container, events, open, state) {
  const now = Date.now();
  const { rows, t0, t1 } = model(events, open, now, state);
  const width = Math.max(640, container.clientWidth || 960);
  const labelW = Math.min(220, Math.round(width * 0.24));
  const rowH = 28;
  const axisH = 26;
  const right = 28; // room for an attempt's label after a bar that ends the run
  const height = axisH + rows.length * rowH + 8;
  const span = Math.max(t1 - t0, 1);
  const plotW = width - labelW - right;
  const x = (t) => labelW + ((t - t0) / span) * plotW;

  const root = svg("svg", {
    xmlns: SVGNS, width, height, viewBox: "0 0 " + width + " " + height,
    class: "gantt", "aria-hidden": "true", focusable: "false",
  });
  container.replaceChildren(root); // in the document, so labels can be measured
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
    r.items.forEach((it, n) => {
      const data = { "data-shape": it.shape };
      for (const [k, v] of Object.entries(it.data || {})) data["data-" + k] = v;
      if (it.shape !== "bar") {
        titled(mark(g, it, x(it.at), mid, data), it.title);
        return;
      }
      const h = it.thin ? 4 : 14;
      const x1 = x(it.start);
      const w = Math.max(3, x(it.end) - x1);
      // a strip runs along the bottom of the row's bar (the workflow's wait for approvals)
      const top = it.strip ? mid + 7 - h : mid - h / 2;
      const parent = it.href ? svg("a", { href: it.href, class: "bar-link", tabindex: "-1" }, g) : g;
      const bar = svg("rect", { x: x1, y: top, width: w, height: h, rx: it.thin ? 2 : 3, class: "bar " + it.cls, ...data }, parent);
      titled(bar, it.title + " · " + duration((it.end - it.start) / 1000));
      if (!it.thin && it.data && it.data.attempt) {
        const next = r.items.slice(n + 1).find((other) => other.shape === "bar" && !other.thin);
        attemptLabel(g, "#" + it.data.attempt, x1, w, mid, (next ? x(next.start) : width) - 2);
      }
    });
  });
  if (open) {
    svg("line", { x1: x(now), x2: x(now), y1: axisH - 6, y2: height - 4, class: "now" }, root);
  }
  container.setAttribute("aria-label",
    "Timeline of " + rows.length + " rows over " + duration(span / 1000) + "; the events are listed in the table below");
}
