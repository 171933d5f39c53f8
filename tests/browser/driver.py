"""Drives the real ComfyUI frontend in Debian's Chromium through Playwright (Python).

Nothing is downloaded: the browser is /usr/bin/chromium (apt package `chromium`), Playwright's
own driver comes inside its PyPI wheel, and the frontends are PyPI `comfyui-frontend-package`
wheels that scripts/setup_env.sh unpacks under .cache/frontends/<version>/. The page may only
talk to 127.0.0.1: every other request is aborted and recorded (`Browser.blocked`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfy_env import COMFY_DIR, REPO

CHROMIUM = Path(os.environ.get("SEMCACHE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
FRONTENDS_DIR = REPO / ".cache" / "frontends"
# SEMCACHE_TIMEOUT_SCALE=4 multiplies every wait (a loaded shared machine can be many times slower)
TIMEOUT_SCALE = max(1.0, float(os.environ.get("SEMCACHE_TIMEOUT_SCALE") or 1))
VIEWPORT = {"width": 1600, "height": 1000}
NODE_CLASS = "SemCacheStats"


@dataclass(frozen=True)
class Frontend:
    version: str
    root: Path  # the static folder to pass as --front-end-root


def pinned_frontend_version(comfy_dir: Path = COMFY_DIR) -> str | None:
    """The comfyui-frontend-package version the ComfyUI checkout pins in its requirements.txt."""
    try:
        text = (comfy_dir / "requirements.txt").read_text()
    except OSError:
        return None
    match = re.search(r"^comfyui-frontend-package==([\w.]+)", text, re.M)
    return match.group(1) if match else None


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", version))


def installed_frontends() -> list[Frontend]:
    """Frontends unpacked under .cache/frontends/ (SEMCACHE_FRONTENDS=1.32.9,1.58.1 picks some)."""
    found = []
    if FRONTENDS_DIR.is_dir():
        for folder in FRONTENDS_DIR.iterdir():
            static = folder / "comfyui_frontend_package" / "static"
            if (static / "index.html").is_file():
                found.append(Frontend(folder.name, static))
    wanted = [v.strip() for v in os.environ.get("SEMCACHE_FRONTENDS", "").split(",") if v.strip()]
    if wanted:
        found = [f for f in found if f.version in wanted]
    return sorted(found, key=lambda f: _version_key(f.version))


def parse_hex(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


# -- page-side helpers (JavaScript run with page.evaluate) -------------------------------------------
JS_READY = """() => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const types = window.LiteGraph?.registered_node_types;
  // backend node types, the frontend's own (notes) and our extension's hook must all be in
  return !!(app && app.graph && app.canvas && types && types.SemCacheStats && types.MarkdownNote
            && types.Note && typeof types.SemCacheStats.prototype.onExecuted === "function");
}"""

JS_LOAD_WORKFLOW = """async ([workflow, name]) => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  await app.loadGraphData(workflow, true, true, name,
    {showMissingNodesDialog: false, showMissingModelsDialog: false, deferWarnings: true});
  const types = window.LiteGraph.registered_node_types;
  const nodes = app.graph.serialize().nodes;
  return {
    missing: [...new Set(workflow.nodes.map((n) => n.type).filter((t) => !types[t]))],
    nodes: nodes.map((n) => ({id: n.id, type: n.type, mode: n.mode, widgets_values: n.widgets_values ?? null})),
  };
}"""

JS_GRAPH_TO_PROMPT = """async () => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const p = await app.graphToPrompt();
  return p.output;
}"""

JS_QUEUE = """async () => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  await app.queuePrompt(0, 1);
}"""

JS_NODE_STATE = """(id) => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const node = app.graph.getNodeById(id);
  if (!node) return null;
  const root = node.semcacheParts?.root;
  return {
    timeline: node.semcacheTimeline ?? null,
    dataset: root ? {...root.dataset} : null,
    summary: root?.querySelector(".semcache-summary")?.textContent ?? null,
    warnings: root?.querySelector(".semcache-warnings")?.textContent ?? null,
    report: root?.querySelector(".semcache-report")?.textContent ?? null,
    elements: root ? [...root.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()) : [],
    size: [...node.size],
    connected: !!root?.isConnected,
  };
}"""

# Count the bars in the mark lane straight from the canvas pixels: one row near the lane's
# bottom (the partial bars' shading covers only their top), classified by the extension's colors.
JS_COUNT_BARS = """([id, colors]) => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const node = app.graph.getNodeById(id);
  const canvas = node?.semcacheParts?.canvas;
  if (!canvas || !canvas.width) return null;
  const lane = node.semcacheTimeline?.lane;
  if (!lane) return null;
  const ratio = lane.ratio;
  const root = node.semcacheParts.root;
  const y = Math.floor((Number(root.dataset.laneBottom) - 2) * ratio);
  const row = canvas.getContext("2d").getImageData(0, y, canvas.width, 1).data;
  const runs = {}; for (const k of Object.keys(colors)) runs[k] = 0;
  let prev = null;
  for (let x = 0; x < canvas.width; x++) {
    const [r, g, b] = [row[4 * x], row[4 * x + 1], row[4 * x + 2]];
    let kind = null;
    for (const [k, [cr, cg, cb]] of Object.entries(colors)) {
      if (Math.abs(r - cr) <= 12 && Math.abs(g - cg) <= 12 && Math.abs(b - cb) <= 12) { kind = k; break; }
    }
    if (kind && kind !== prev) runs[kind] += 1;
    prev = kind;
  }
  return runs;
}"""

# Put the node at a known place on screen at zoom 1 and return its box in page pixels, and where
# the mark lane's bottom row lies (page y) so a screenshot can be checked like the canvas.
JS_FRAME_NODE = """(id) => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const node = app.graph.getNodeById(id);
  const ds = app.canvas.ds;
  const title = window.LiteGraph.NODE_TITLE_HEIGHT ?? 30;
  ds.scale = 1;
  ds.offset[0] = 80 - node.pos[0];
  ds.offset[1] = 170 + title - node.pos[1];
  app.canvas.setDirty(true, true);
  app.canvas.draw?.(true, true);
  const vueNodes = app.extensionManager?.setting?.get?.("Comfy.VueNodes.Enabled");
  const element = vueNodes ? document.querySelector(`[data-node-id="${id}"]`) : null;
  const box = element?.getBoundingClientRect();
  if (box && box.width > 0) {  // Nodes 2.0: the node is a DOM element of its own size
    return {x: box.left - 6, y: box.top - 6, width: box.width + 12, height: box.height + 12};
  }
  const rect = app.canvas.canvas.getBoundingClientRect();
  return {
    x: rect.left + (node.pos[0] + ds.offset[0]) * ds.scale - 6,
    y: rect.top + (node.pos[1] + ds.offset[1]) * ds.scale - title - 6,
    width: node.size[0] * ds.scale + 12,
    height: (node.size[1] + title) * ds.scale + 12,
  };
}"""

JS_LANE_ON_PAGE = """(id) => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const parts = app.graph.getNodeById(id)?.semcacheParts;
  if (!parts) return null;
  const r = parts.canvas.getBoundingClientRect();
  const scale = r.width / parts.canvas.clientWidth;
  return {left: r.left, right: r.right, y: r.top + (Number(parts.root.dataset.laneBottom) - 2) * scale,
          visible: r.width > 0 && r.height > 0};
}"""

# The node-docs panel as a user opens it on the newest frontends: a fresh node of `type`, selected;
# the selection toolbox's "Node Info" button opens the side panel that renders the node's help page
# (web/docs/<NodeId>.md, or web/docs/<NodeId>/<locale>.md). Returns what the panel shows once its
# first heading is `title` (null if it never is: the frontend falls back to the node's description
# when it finds no page).
JS_OPEN_NODE_HELP = """async ([type, title, ms]) => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const sleep = (t) => new Promise((r) => setTimeout(r, t));
  app.graph.clear();
  const node = window.LiteGraph.createNode(type);
  node.pos = [300, 300];
  app.graph.add(node);
  app.canvas.deselectAll?.();
  app.canvas.selectNode(node);
  app.canvas.setDirty(true, true);
  const visible = (e) => !!e && e.offsetParent !== null;
  const panel = () => [...document.querySelectorAll(".node-help-content")].find(visible);
  const deadline = Date.now() + ms;
  let clicked = 0;
  while (Date.now() < deadline) {
    const content = panel();
    const h1 = content?.querySelector("h1");
    if (h1 && h1.textContent.trim() === title) {
      await sleep(300);  // images load after the text
      const imgs = [...content.querySelectorAll("img")];
      for (let i = 0; i < 20 && imgs.some((img) => !img.complete); i++) await sleep(250);
      return {
        nodeTitle: node.title, h1: h1.textContent.trim(), clicked,
        headings: [...content.querySelectorAll("h2")].map((h) => h.textContent.trim()),
        tables: content.querySelectorAll("table").length,
        codes: [...content.querySelectorAll("code")].map((c) => c.textContent),
        images: imgs.map((img) => ({src: img.getAttribute("src"), width: img.naturalWidth})),
      };
    }
    if (!content && clicked < 3) {
      const button = document.querySelector('.selection-toolbox [data-testid="info-button"]');
      if (button) { button.click(); clicked += 1; await sleep(1500); continue; }
    }
    await sleep(250);
  }
  const content = panel();
  return {nodeTitle: node.title, h1: null, clicked, text: content ? content.textContent.slice(0, 300) : null};
}"""

# Page coordinates of a widget of the first node of `type` (to hover it, as a user would for its tooltip).
JS_WIDGET_POINT = """([type, name]) => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const node = app.graph.nodes.find((n) => n.type === type);
  const widget = node?.widgets?.find((w) => w.name === name);
  if (!widget) return null;
  const ds = app.canvas.ds;
  const rect = app.canvas.canvas.getBoundingClientRect();
  const y = node.pos[1] + (widget.last_y ?? widget.y ?? 0) + 10;
  const x = node.pos[0] + node.size[0] / 2;
  return {x: rect.left + (x + ds.offset[0]) * ds.scale, y: rect.top + (y + ds.offset[1]) * ds.scale,
          label: widget.label ?? null, labels: node.widgets.map((w) => [w.name, w.label ?? null])};
}"""


@dataclass
class Browser:
    """One Chromium with a fresh profile; `page` is its only tab."""

    executable: Path = CHROMIUM
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        if not self.executable.is_file():
            raise RuntimeError(f"no Chromium at {self.executable} (scripts/setup_env.sh installs Debian's chromium)")
        self._profile = tempfile.mkdtemp(prefix="semcache_chromium_")
        self._pw = sync_playwright().start()
        try:
            self.context = self._pw.chromium.launch_persistent_context(
                self._profile, executable_path=str(self.executable), headless=True, args=list(CHROMIUM_FLAGS),
                viewport=VIEWPORT, device_scale_factor=1, timeout=60_000,
            )  # fmt: skip
        except Exception:
            self._pw.stop()
            shutil.rmtree(self._profile, ignore_errors=True)
            raise
        self.context.set_default_timeout(30_000 * TIMEOUT_SCALE)
        self.context.route("**/*", self._route)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text[:500]))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)[:1000]))
        return self

    def _route(self, route: Any) -> None:
        url = route.request.url
        if re.match(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/", url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.context.close()
        finally:
            self._pw.stop()
            shutil.rmtree(self._profile, ignore_errors=True)

    # -- the app --------------------------------------------------------------------------------
    def open_app(self, url: str, timeout_s: float = 90.0) -> float:
        started = time.monotonic()
        timeout_s *= TIMEOUT_SCALE
        self.page.goto(url, timeout=timeout_s * 1000, wait_until="domcontentloaded")
        self.page.wait_for_function(JS_READY, timeout=timeout_s * 1000, polling=250)
        return time.monotonic() - started

    def set_setting(self, server_url: str, name: str, value: Any) -> None:
        """Store a frontend setting on the server (applies on the next page load)."""
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{server_url}/api/settings/{name}", data=json.dumps(value).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10):
            pass

    def reload_app(self, timeout_s: float = 90.0) -> float:
        started = time.monotonic()
        timeout_s *= TIMEOUT_SCALE
        self.page.reload(timeout=timeout_s * 1000, wait_until="domcontentloaded")
        self.page.wait_for_function(JS_READY, timeout=timeout_s * 1000, polling=250)
        return time.monotonic() - started

    def frontend_version(self) -> str | None:
        return self.page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ ?? null")

    def evaluate_bounded(self, script: str, arg: Any = None, timeout_s: float = 60.0) -> Any:
        """page.evaluate of an async function, failing after `timeout_s` instead of waiting forever."""
        bounded = """async ([source, arg, ms]) => {
          const fn = (0, eval)("(" + source + ")");
          let timer;
          const limit = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
          });
          try { return await Promise.race([fn(arg), limit]); } finally { clearTimeout(timer); }
        }"""
        return self.page.evaluate(bounded, [script, arg, int(timeout_s * TIMEOUT_SCALE * 1000)])

    def load_workflow(self, workflow: dict, name: str) -> dict:
        return self.evaluate_bounded(JS_LOAD_WORKFLOW, [workflow, name])

    def graph_to_prompt(self) -> dict:
        return self.evaluate_bounded(JS_GRAPH_TO_PROMPT)

    def queue(self) -> None:
        self.evaluate_bounded(JS_QUEUE)

    def node_state(self, node_id: int) -> dict | None:
        return self.page.evaluate(JS_NODE_STATE, node_id)

    def wait_rendered(self, node_id: int, at_least: int = 1, timeout_s: float = 120.0) -> None:
        self.page.wait_for_function(
            """([id, n]) => {
              const app = window.comfyAPI?.app?.app ?? window.app;
              const root = app.graph.getNodeById(id)?.semcacheParts?.root;
              return Number(root?.dataset.rendered || 0) >= n;
            }""",
            arg=[node_id, at_least], timeout=timeout_s * TIMEOUT_SCALE * 1000, polling=250,
        )  # fmt: skip

    def extension_colors(self) -> dict[str, str]:
        return self.evaluate_bounded("async () => (await import('/extensions/semcache/semcache_stats.js')).COLORS")

    def count_bars(self, node_id: int, colors: dict[str, tuple[int, int, int]]) -> dict[str, int] | None:
        return self.page.evaluate(JS_COUNT_BARS, [node_id, {k: list(v) for k, v in colors.items()}])

    def open_node_help(self, node_type: str, title: str, timeout_s: float = 90.0) -> dict:
        """Open the node-docs panel for a fresh `node_type` node; see JS_OPEN_NODE_HELP."""
        ms = int(timeout_s * TIMEOUT_SCALE * 1000)
        return self.evaluate_bounded(JS_OPEN_NODE_HELP, [node_type, title, ms], timeout_s + 30)

    def widget_tooltip(self, node_type: str, widget: str, expected: str, timeout_s: float = 20.0) -> tuple[dict, str]:
        """Hover a widget of the first `node_type` node; returns (its labels, the tooltip text shown)."""
        point = self.page.evaluate(JS_WIDGET_POINT, [node_type, widget])
        assert point, f"no widget {widget} on a {node_type} node"
        self.page.mouse.move(point["x"], point["y"])
        self.page.wait_for_timeout(200)
        self.page.mouse.move(point["x"] + 3, point["y"])
        shown = ""
        deadline = time.monotonic() + timeout_s * TIMEOUT_SCALE
        while time.monotonic() < deadline:
            shown = self.page.evaluate(
                "() => [...document.querySelectorAll('.node-tooltip')].filter((e) => e.offsetParent !== null)"
                ".map((e) => e.textContent.trim()).join('\\n')"
            )
            if shown == expected:
                break
            self.page.wait_for_timeout(250)
        return point, shown

    def frame_node(self, node_id: int) -> None:
        """Bring the node on screen at zoom 1 (DOM widgets of nodes off screen are hidden)."""
        self.page.evaluate(JS_FRAME_NODE, node_id)
        self.page.wait_for_timeout(300)

    def screenshot_node(self, node_id: int, path: Path) -> tuple[dict, dict]:
        """PNG of the node at zoom 1; returns (clip box, mark lane row) in page pixels."""
        box = self.page.evaluate(JS_FRAME_NODE, node_id)
        self.page.wait_for_timeout(400)  # DOM widgets follow the canvas on its next frames
        box = self.page.evaluate(JS_FRAME_NODE, node_id)
        self.page.wait_for_timeout(400)
        lane = self.page.evaluate(JS_LANE_ON_PAGE, node_id)
        clip = {
            "x": max(0.0, box["x"]), "y": max(0.0, box["y"]),
            "width": min(box["width"], VIEWPORT["width"] - max(0.0, box["x"])),
            "height": min(box["height"], VIEWPORT["height"] - max(0.0, box["y"])),
        }  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), clip=clip)
        return clip, lane


def count_bars_in_image(path: Path, clip: dict, lane: dict, colors: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    """The same bar count as JS_COUNT_BARS, on a screenshot: what is actually visible on screen."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    y = round(lane["y"] - clip["y"])
    x0, x1 = max(0, round(lane["left"] - clip["x"])), min(image.width, round(lane["right"] - clip["x"]))
    runs = {k: 0 for k in colors}
    prev = None
    for x in range(x0, x1):
        pixel = image.getpixel((x, y))
        kind = next((k for k, c in colors.items() if all(abs(p - q) <= 12 for p, q in zip(pixel, c))), None)
        if kind and kind != prev:
            runs[kind] += 1
        prev = kind
    return runs
