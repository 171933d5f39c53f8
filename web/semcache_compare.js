// Shows the numbers of the "Compare Videos" node (SemCacheCompare) on the node after each run:
// PSNR, per-frame PSNR min/mean, SSIM, motion ratio and motion error, as the report text.
//
// Input: the node's UI output, `message.text[0]` (the report) and `message.semcache_compare[0]`
// (the same numbers as JSON; an identical clip has psnr null and identical true). Text goes in as
// text (textContent, never HTML), no network, no build step; only the public `app` module and
// `node.addDOMWidget` are used (frontend 1.32 pinned by ComfyUI 0.3.75 and the newest ones).
// What was shown is exposed as data-* attributes on the widget element (`.semcache-compare`).
import { app } from "../../scripts/app.js";

const EXTENSION = "SemCache.CompareVideos";
const NODE_CLASS = "SemCacheCompare";
const WIDGET = "semcache_compare_report";

function buildElement() {
  const root = document.createElement("div");
  root.className = "semcache-compare";
  root.style.cssText =
    "display:flex;flex-direction:column;width:100%;height:100%;box-sizing:border-box;padding:4px 6px;" +
    "font:11px/1.35 sans-serif;color:#d6dbe1;overflow:hidden;pointer-events:auto";
  const report = document.createElement("pre");
  report.className = "semcache-compare-report";
  report.style.cssText =
    "flex:1 1 auto;margin:0;overflow:auto;font:10px/1.35 monospace;white-space:pre-wrap;word-break:break-word;" +
    "background:rgba(0,0,0,0.25);border-radius:4px;padding:4px;user-select:text";
  report.textContent = "Run the workflow to compare the two videos.";
  root.append(report);
  return { root, report };
}

function ensureWidget(node) {
  if (node.semcacheCompareParts) return node.semcacheCompareParts;
  const parts = buildElement();
  const widget = node.addDOMWidget(WIDGET, "semcache_compare_report", parts.root, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => 120,
  });
  widget.serialize = false; // display only: not saved in the workflow, not sent with the prompt
  if (widget.options) widget.options.serialize = false;
  parts.widget = widget;
  node.semcacheCompareParts = parts;
  return parts;
}

function show(node, text, numbers) {
  const parts = ensureWidget(node);
  parts.report.textContent = typeof text === "string" ? text : "";
  const data = parts.root.dataset;
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? String(v) : "");
  data.psnr = numbers?.identical ? "inf" : num(numbers?.psnr);
  data.ssim = num(numbers?.ssim);
  data.frames = num(numbers?.frames);
  data.rendered = String((Number(data.rendered) || 0) + 1);
  const size = node.computeSize?.() || node.size;
  node.setSize?.([Math.max(node.size[0], size[0], 360), Math.max(node.size[1], size[1], 230)]);
  app.graph?.setDirtyCanvas(true, true);
}

if (!globalThis.__semcacheCompareRegistered) {
  globalThis.__semcacheCompareRegistered = true;

  app.registerExtension({
    name: EXTENSION,
    async beforeRegisterNodeDef(nodeType, nodeData) {
      if (nodeData?.name !== NODE_CLASS) return;
      const onNodeCreated = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        const result = onNodeCreated?.apply(this, arguments);
        try {
          ensureWidget(this);
        } catch (error) {
          console.warn("[SemCache] could not add the compare widget", error);
        }
        return result;
      };
      const onExecuted = nodeType.prototype.onExecuted;
      nodeType.prototype.onExecuted = function (message) {
        onExecuted?.apply(this, arguments);
        const text = message?.text?.[0];
        if (typeof text !== "string") return;
        const numbers = message?.semcache_compare?.[0];
        show(this, text, numbers && typeof numbers === "object" ? numbers : null);
      };
    },
  });
}
