// Draws what SemCache did on the "Cache Stats" node after each run: the summary line, a per-step
// timeline (computed / partial with the number of frames computed / skipped) with the estimated
// error E_t against the threshold tau, and the full text report.
//
// Input: the node's UI output, `message.text[0]` (the report) and `message.semcache_stats[0]`
// (null when the model never ran, else {family, total_steps, computed, partial, skipped,
// estimated_speedup, measured_speedup, cache_mib, wall_seconds, disabled_reason, warnings,
// steps: [{step, sigma, decision, error, threshold, p_s, frames_total, frames_reused, check_measured,
// check_estimated}], target_speedup, target_reachable, error_check}).
// Everything is drawn locally: text goes in as text (textContent, never HTML), no network, no
// build step; only the public `app` module and `node.addDOMWidget` are used, which frontend
// 1.32 (pinned by ComfyUI 0.3.75) and the newest frontends both provide.
//
// For tests and curious users, what was drawn is exposed as `node.semcacheTimeline` and as
// data-* attributes on the widget element (`.semcache-stats`).
import { app } from "../../scripts/app.js";

const EXTENSION = "SemCache.CacheStats";
const NODE_CLASS = "SemCacheStats";
const WIDGET = "semcache_timeline";

export const COLORS = {
  computed: "#4f8ff7",
  partial: "#f2b63c",
  skipped: "#3fb950",
  reusedShade: "rgba(0, 0, 0, 0.45)",
  error: "#f5f5f5",
  threshold: "#ff5f5f",
  check: "#39c5cf",
  background: "#16191d",
  grid: "#2c3138",
  label: "#aab2bd",
};

// Canvas geometry in CSS pixels. The mark lane holds one bar per step; the chart below it plots
// E_t (dots) and tau (line segments) on a shared y scale starting at 0.
const GEOMETRY = { height: 168, padLeft: 34, padRight: 8, laneTop: 6, laneHeight: 22, labelHeight: 12, chartBottomPad: 16 };
const MIN_WIDTH = 560;
const MIN_HEIGHT = 440;

function fmt(value, digits = 3) {
  return value === null || value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

function framesComputed(step) {
  if (!Number.isInteger(step.frames_total)) return null;
  const reused = Array.isArray(step.frames_reused) ? step.frames_reused.length : 0;
  return step.frames_total - reused;
}

function stepTitle(step, index) {
  const parts = [`step ${step.step ?? index}: ${step.decision}`];
  const kept = framesComputed(step);
  if (step.decision === "partial" && kept !== null) parts.push(`${kept}/${step.frames_total} frames computed`);
  if (Number.isFinite(step.sigma)) parts.push(`sigma ${fmt(step.sigma, 4)}`);
  parts.push(`E_t ${fmt(step.error, 4)}`, `tau ${fmt(step.threshold, 4)}`, `p_s ${fmt(step.p_s, 4)}`);
  if (Number.isFinite(step.check_measured)) {
    parts.push(`error check: measured ${fmt(step.check_measured, 4)} vs estimated ${fmt(step.check_estimated, 4)}`);
  }
  return parts.join(", ");
}

function makeEl(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// The legend words and COLORS are also the plot image's (semcache_core/plot.py LEGEND, PALETTE).
function legendItem(color, label, line = false, title = "") {
  const item = makeEl("span");
  if (title) item.title = title;
  item.style.cssText = "display:inline-flex;align-items:center;gap:4px;margin-right:10px;white-space:nowrap";
  const swatch = makeEl("span");
  swatch.style.cssText = line
    ? `display:inline-block;width:12px;height:2px;background:${color}`
    : `display:inline-block;width:9px;height:9px;border-radius:2px;background:${color}`;
  item.append(swatch, makeEl("span", "", label));
  return item;
}

function buildElement() {
  const root = makeEl("div", "semcache-stats");
  root.style.cssText =
    "display:flex;flex-direction:column;gap:4px;width:100%;height:100%;box-sizing:border-box;" +
    "padding:4px 6px;font:11px/1.35 sans-serif;color:#d6dbe1;overflow:hidden;pointer-events:auto";
  const summary = makeEl("div", "semcache-summary", "Run the workflow to see what SemCache did.");
  summary.style.cssText = "font-weight:600;white-space:pre-wrap;word-break:break-word";
  const warnings = makeEl("div", "semcache-warnings");
  warnings.style.cssText = "color:#f2b63c;white-space:pre-wrap;word-break:break-word;display:none";
  const legend = makeEl("div", "semcache-legend");
  legend.style.cssText = "display:flex;flex-wrap:wrap;color:#aab2bd;font-size:10px";
  legend.append(
    legendItem(COLORS.computed, "computed"),
    legendItem(COLORS.partial, "partial", false, "the number under a partial bar: latent frames computed"),
    legendItem(COLORS.skipped, "skipped"),
    legendItem(COLORS.error, "E_t", true),
    legendItem(COLORS.threshold, "tau (threshold)", true),
    legendItem(COLORS.check, "measured error", false,
      "error check: the true error of the reused result, measured on the next computed step (diamond)"),
  );
  const canvas = makeEl("canvas", "semcache-timeline");
  canvas.style.cssText = `width:100%;height:${GEOMETRY.height}px;flex:0 0 ${GEOMETRY.height}px;display:block;border-radius:4px`;
  const report = makeEl("pre", "semcache-report");
  report.style.cssText =
    "flex:1 1 auto;min-height:40px;max-height:200px;margin:0;overflow:auto;font:10px/1.3 monospace;white-space:pre;" +
    "background:rgba(0,0,0,0.25);border-radius:4px;padding:4px;user-select:text";
  root.append(summary, warnings, legend, canvas, report);
  return { root, summary, warnings, legend, canvas, report };
}

// Draws `stats.steps` on the canvas and returns what was drawn (counts per kind, E_t points,
// tau segments, partial labels) so the same numbers can be compared with the stats.
export function drawTimeline(canvas, stats) {
  const drawn = {
    steps: 0,
    marks: { computed: 0, partial: 0, skipped: 0 },
    errorPoints: 0,
    thresholdSegments: 0,
    checkPoints: 0,
    partialLabels: [],
    lane: null,
  };
  const cssWidth = Math.max(canvas.clientWidth || 0, 200);
  const cssHeight = GEOMETRY.height;
  const ratio = Math.max(1, Math.round(window.devicePixelRatio || 1));
  if (canvas.width !== cssWidth * ratio || canvas.height !== cssHeight * ratio) {
    canvas.width = cssWidth * ratio;
    canvas.height = cssHeight * ratio;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, cssWidth, cssHeight);

  const steps = Array.isArray(stats?.steps) ? stats.steps : [];
  const g = GEOMETRY;
  const plotLeft = g.padLeft;
  const plotWidth = Math.max(1, cssWidth - g.padLeft - g.padRight);
  const laneTop = g.laneTop;
  const laneBottom = laneTop + g.laneHeight;
  const chartTop = laneBottom + g.labelHeight + 4;
  const chartBottom = cssHeight - g.chartBottomPad;
  drawn.lane = { top: laneTop, bottom: laneBottom, left: plotLeft, width: plotWidth, cssWidth, ratio };
  ctx.font = "10px sans-serif";
  ctx.textBaseline = "middle";
  if (!steps.length) {
    ctx.fillStyle = COLORS.label;
    ctx.textAlign = "center";
    ctx.fillText(stats ? "no steps recorded" : "no run yet", cssWidth / 2, cssHeight / 2);
    return drawn;
  }

  const n = steps.length;
  const slot = plotWidth / n;
  const gap = slot >= 4 ? Math.max(1, Math.round(slot * 0.18)) : 0;
  const barWidth = Math.max(1, Math.floor(slot) - gap);
  const xOf = (i) => Math.round(plotLeft + i * slot);
  const centerOf = (i) => xOf(i) + barWidth / 2;

  // lane: one bar per step
  ctx.textAlign = "right";
  ctx.fillStyle = COLORS.label;
  ctx.fillText("steps", plotLeft - 4, (laneTop + laneBottom) / 2);
  steps.forEach((step, i) => {
    const kind = step.decision === "partial" ? "partial" : step.decision === "skipped" ? "skipped" : "computed";
    const x = xOf(i);
    ctx.fillStyle = COLORS[kind];
    ctx.fillRect(x, laneTop, barWidth, g.laneHeight);
    drawn.marks[kind] += 1;
    if (kind === "partial") {
      const kept = framesComputed(step);
      if (kept !== null && step.frames_total > 0) {
        // shade the top of the bar by the share of frames reused; the bottom stays bright
        const reusedHeight = Math.floor(g.laneHeight * (1 - kept / step.frames_total) * 0.8);
        ctx.fillStyle = COLORS.reusedShade;
        ctx.fillRect(x, laneTop, barWidth, reusedHeight);
        drawn.partialLabels.push({ index: i, kept, total: step.frames_total });
        if (slot >= 7) {
          ctx.fillStyle = COLORS.partial;
          ctx.textAlign = "center";
          ctx.fillText(String(kept), centerOf(i), laneBottom + g.labelHeight / 2 + 1);
        }
      }
    }
  });
  drawn.steps = n;

  // chart: E_t and tau against a common scale
  let top = 0;
  for (const step of steps) {
    for (const v of [step.error, step.threshold, step.check_measured]) if (Number.isFinite(v) && v > top) top = v;
  }
  top = top > 0 ? top * 1.1 : 1;
  const yOf = (v) => chartBottom - (Math.min(v, top) / top) * (chartBottom - chartTop);
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(plotLeft, chartBottom + 0.5);
  ctx.lineTo(plotLeft + plotWidth, chartBottom + 0.5);
  ctx.moveTo(plotLeft, chartTop);
  ctx.lineTo(plotLeft, chartBottom);
  ctx.stroke();
  ctx.fillStyle = COLORS.label;
  ctx.textAlign = "right";
  ctx.fillText(fmt(top, top < 0.1 ? 3 : 2), plotLeft - 4, chartTop + 4);
  ctx.fillText("0", plotLeft - 4, chartBottom);
  ctx.textAlign = "left";
  ctx.fillText("step 0", plotLeft, cssHeight - 6);
  ctx.textAlign = "right";
  ctx.fillText(`step ${steps[n - 1].step ?? n - 1}`, plotLeft + plotWidth, cssHeight - 6);

  ctx.strokeStyle = COLORS.threshold;
  ctx.lineWidth = 2;
  steps.forEach((step, i) => {
    if (!Number.isFinite(step.threshold)) return;
    const y = yOf(step.threshold);
    ctx.beginPath();
    ctx.moveTo(xOf(i), y);
    ctx.lineTo(xOf(i) + Math.max(slot, 1), y);
    ctx.stroke();
    drawn.thresholdSegments += 1;
  });
  ctx.fillStyle = COLORS.error;
  steps.forEach((step, i) => {
    if (!Number.isFinite(step.error)) return;
    ctx.beginPath();
    ctx.arc(centerOf(i), yOf(step.error), Math.max(1.5, Math.min(3, slot / 3)), 0, Math.PI * 2);
    ctx.fill();
    drawn.errorPoints += 1;
  });
  // error check: a diamond at the true error measured on a computed step after reuse
  ctx.strokeStyle = COLORS.check;
  ctx.lineWidth = 1.5;
  steps.forEach((step, i) => {
    if (!Number.isFinite(step.check_measured)) return;
    const x = centerOf(i);
    const y = yOf(step.check_measured);
    const r = Math.max(2.5, Math.min(4.5, slot / 2.5));
    ctx.beginPath();
    ctx.moveTo(x, y - r);
    ctx.lineTo(x + r, y);
    ctx.lineTo(x, y + r);
    ctx.lineTo(x - r, y);
    ctx.closePath();
    ctx.stroke();
    drawn.checkPoints += 1;
  });
  return drawn;
}

function summaryOf(text, stats) {
  const first = typeof text === "string" ? text.split("\n", 1)[0] : "";
  if (first) return first.replace(/; warnings: .*$/, "");
  if (!stats) return "No SemCache run to show.";
  return `SemCache [${stats.family}] steps ${stats.total_steps}: computed ${stats.computed}, skipped ${stats.skipped}`;
}

function render(node, parts, text, stats) {
  parts.summary.textContent = summaryOf(text, stats);
  const warnings = Array.isArray(stats?.warnings) ? stats.warnings.filter((w) => typeof w === "string" && w) : [];
  if (stats?.disabled_reason && !warnings.some((w) => w.includes(stats.disabled_reason))) {
    warnings.unshift(`ran uncached: ${stats.disabled_reason}`);
  }
  parts.warnings.textContent = warnings.map((w) => `⚠ ${w}`).join("\n");
  parts.warnings.style.display = warnings.length ? "block" : "none";
  parts.report.textContent = typeof text === "string" ? text : "";
  parts.stats = stats || null;
  const drawn = drawTimeline(parts.canvas, parts.stats);
  node.semcacheTimeline = drawn;
  const data = parts.root.dataset;
  data.steps = String(drawn.steps);
  data.computed = String(drawn.marks.computed);
  data.partial = String(drawn.marks.partial);
  data.skipped = String(drawn.marks.skipped);
  data.errorPoints = String(drawn.errorPoints);
  data.thresholdSegments = String(drawn.thresholdSegments);
  data.checkPoints = String(drawn.checkPoints);
  data.partialLabels = drawn.partialLabels.map((p) => `${p.kept}/${p.total}`).join(",");
  data.laneTop = String(drawn.lane?.top ?? "");
  data.laneBottom = String(drawn.lane?.bottom ?? "");
  data.rendered = String((Number(data.rendered) || 0) + 1);
}

function ensureWidget(node) {
  if (node.semcacheParts) return node.semcacheParts;
  const parts = buildElement();
  const widget = node.addDOMWidget(WIDGET, "semcache_timeline", parts.root, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => 330,
  });
  widget.serialize = false; // display only: not saved in the workflow, not sent with the prompt
  if (widget.options) widget.options.serialize = false;
  parts.widget = widget;
  node.semcacheParts = parts;
  // redraw when the node (and so the canvas) changes width
  let lastWidth = 0;
  if (typeof ResizeObserver === "function") {
    const observer = new ResizeObserver(() => {
      const width = parts.canvas.clientWidth;
      if (width && width !== lastWidth) {
        lastWidth = width;
        node.semcacheTimeline = drawTimeline(parts.canvas, parts.stats);
      }
    });
    observer.observe(parts.canvas);
    const onRemoved = node.onRemoved;
    node.onRemoved = function () {
      observer.disconnect();
      return onRemoved?.apply(this, arguments);
    };
  }
  parts.canvas.addEventListener("mousemove", (event) => {
    const steps = parts.stats?.steps;
    if (!Array.isArray(steps) || !steps.length) return;
    const rect = parts.canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / Math.max(rect.width, 1)) * (parts.canvas.clientWidth || rect.width);
    const plotWidth = (parts.canvas.clientWidth || rect.width) - GEOMETRY.padLeft - GEOMETRY.padRight;
    const i = Math.floor(((x - GEOMETRY.padLeft) / Math.max(plotWidth, 1)) * steps.length);
    parts.canvas.title = i >= 0 && i < steps.length ? stepTitle(steps[i], i) : "";
  });
  drawTimeline(parts.canvas, null);
  return parts;
}

function fitNode(node) {
  const size = node.computeSize?.() || node.size;
  node.setSize?.([Math.max(node.size[0], size[0], MIN_WIDTH), Math.max(node.size[1], size[1], MIN_HEIGHT)]);
  app.graph?.setDirtyCanvas(true, true);
}

// ComfyUI may serve this file twice (pyproject [tool.comfy] web and WEB_DIRECTORY under
// different names when the folder is not called "semcache"); register only once.
if (!globalThis.__semcacheStatsRegistered) {
  globalThis.__semcacheStatsRegistered = true;

  app.registerExtension({
    name: EXTENSION,
    async beforeRegisterNodeDef(nodeType, nodeData) {
      if (nodeData?.name !== NODE_CLASS) return;
      const onNodeCreated = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        const result = onNodeCreated?.apply(this, arguments);
        try {
          ensureWidget(this);
          fitNode(this);
        } catch (error) {
          console.warn("[SemCache] could not add the timeline widget", error);
        }
        return result;
      };
      const onExecuted = nodeType.prototype.onExecuted;
      nodeType.prototype.onExecuted = function (message) {
        onExecuted?.apply(this, arguments);
        const text = message?.text?.[0];
        const stats = message?.semcache_stats?.[0] ?? null;
        if (typeof text !== "string" && !stats) return;
        const parts = ensureWidget(this);
        render(this, parts, text, stats && typeof stats === "object" ? stats : null);
        fitNode(this);
      };
    },
  });
}
