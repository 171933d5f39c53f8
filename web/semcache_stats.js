// Shows the SemCache run report on the "Cache Stats" node after each run.
// The node's UI output is {"text": [report]} (ui.PreviewText on the Python side).
import { app } from "../../scripts/app.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const EXTENSION = "SemCache.CacheStats";
const WIDGET = "semcache_report";

// ComfyUI may serve this file twice (pyproject [tool.comfy] web and WEB_DIRECTORY under
// different names when the folder is not called "semcache"); register only once.
if (!globalThis.__semcacheStatsRegistered) {
  globalThis.__semcacheStatsRegistered = true;

  app.registerExtension({
    name: EXTENSION,
    async beforeRegisterNodeDef(nodeType, nodeData) {
      if (nodeData?.name !== "SemCacheStats") return;
      const onExecuted = nodeType.prototype.onExecuted;
      nodeType.prototype.onExecuted = function (message) {
        onExecuted?.apply(this, arguments);
        const text = message?.text?.[0];
        if (typeof text !== "string") return;
        let widget = this.widgets?.find((w) => w.name === WIDGET);
        if (!widget) {
          widget = ComfyWidgets.STRING(this, WIDGET, ["STRING", { multiline: true }], app).widget;
          // display only: kept out of the saved workflow and of the prompt sent to the server
          widget.serialize = false;
          if (widget.options) widget.options.serialize = false;
          if (widget.inputEl) {
            widget.inputEl.readOnly = true;
            widget.inputEl.style.fontFamily = "monospace";
            widget.inputEl.style.opacity = 0.85;
          }
        }
        widget.value = text;
        const size = this.computeSize();
        this.setSize([Math.max(this.size[0], size[0], 420), Math.max(this.size[1], size[1], 220)]);
        app.graph?.setDirtyCanvas(true, false);
      };
    },
  });
}
