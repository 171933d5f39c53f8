"""Browser tests: the real ComfyUI frontend, in Debian's Chromium, against a headless ComfyUI.

For each frontend under .cache/frontends/ (scripts/setup_env.sh unpacks the version this ComfyUI
pins, 1.32.9 for 0.3.75, and the newest one known to work), one server and one browser:
- every shipped workflow loads with no missing node type and its widget values intact, and the
  prompt the frontend makes of it passes the server's validation except for model/image files
  (which the test server does not have);
- the proxy demo workflow is queued from the UI like a user would; the Cache Stats node must
  draw exactly the run's stats: one bar per step of the right kind (counted in the canvas pixels
  and again in a screenshot of the node), E_t points and tau segments, partial-step frame labels,
  the summary line and the report; the screenshot goes to tests/_artifacts/;
- the timeline is fed known stats (and hostile text) directly, to check the drawing and that
  text is never parsed as HTML;
- on the newest frontend, each node's help page opens in the node-docs panel (the selection
  toolbox's Node Info button) and renders from web/docs/, in English and, with the editor's
  locale switched to zh, in Chinese, where the node titles, widget labels and a tooltip come from
  locales/zh/nodeDefs.json; the Compare Videos node shows its report as text.
SEMCACHE_BROWSER_TESTS=0 skips this module; SEMCACHE_FRONTENDS=1.32.9 picks frontends.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser.build_workflows import FILE_INPUTS, FRONTEND_ONLY, PROXY_DEMO
from browser.driver import TIMEOUT_SCALE, Browser, installed_frontends, parse_hex, pinned_frontend_version
from server_harness import (
    PROXY_CHECKPOINT_NAME,
    ComfyServer,
    install_proxy_nodes,
    prepare_base_dir,
    write_user_settings,
)

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
# the trained proxy if present (SEMCACHE_PROXY_CHECKPOINT overrides); else a tiny random Wan runs the demo
TRAINED_PROXY = Path(os.environ.get("SEMCACHE_PROXY_CHECKPOINT") or REPO / "bench" / "proxy" / PROXY_CHECKPOINT_NAME)
STATS_NODE_ID = 8  # the Cache Stats node of workflows/semcache_proxy_wan_demo.json
# The README's screenshot: taken by test_demo_run_draws_its_stats on the pinned frontend, from the
# demo workflow at the nodes' current defaults; what it shows is recorded beside it (the .json),
# and tests/test_workflows.py checks that record against the current defaults.
README_SHOT = REPO / "docs" / "cache_stats_node.png"
README_SHOT_INFO = README_SHOT.with_suffix(".json")
MARK_KINDS = ("computed", "partial", "skipped")
# a loaded machine (other jobs on 2 cores) can need far longer than the usual ~10-20 s start:
START_TIMEOUT_S = 150 * TIMEOUT_SCALE  # SEMCACHE_TIMEOUT_SCALE (tests/browser/driver.py)

pytestmark = pytest.mark.skipif(os.environ.get("SEMCACHE_BROWSER_TESTS") == "0", reason="SEMCACHE_BROWSER_TESTS=0")
FRONTENDS = installed_frontends()


def test_pinned_frontend_is_installed():
    """scripts/setup_env.sh must have unpacked at least the frontend this ComfyUI pins."""
    pinned = pinned_frontend_version()
    assert pinned, "no comfyui-frontend-package pin in ComfyUI's requirements.txt"
    assert pinned in [f.version for f in FRONTENDS], (
        f"frontend {pinned} missing under .cache/frontends/ (run scripts/setup_env.sh)"
    )


@pytest.mark.parametrize("name", ["semcache_stats.js", "semcache_compare.js"])
def test_web_extension_stays_local_and_text_only(name):
    """No network access, no HTML parsing of text, no build step: plain ES module source."""
    assert sorted(p.name for p in (REPO / "web").glob("*.js")) == ["semcache_compare.js", "semcache_stats.js"]
    source = (REPO / "web" / name).read_text()
    for forbidden in (
        "fetch(",
        "XMLHttpRequest",
        "WebSocket",
        "EventSource",
        "sendBeacon",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert forbidden not in source, forbidden
    assert re.findall(r'^import .* from "([^"]+)";$', source, re.M) == ["../../scripts/app.js"]


# -- one server + browser per frontend ------------------------------------------------------------
class UI:
    def __init__(self, server: ComfyServer, browser: Browser, version: str):
        self.server, self.browser, self.version = server, browser, version
        self.page = browser.page
        self.demo_output: tuple[str, dict] | None = None  # (report, stats) of the demo run

    def post_prompt(self, prompt: dict) -> tuple[int, dict]:
        data = json.dumps({"prompt": prompt, "client_id": "semcache-validation"}).encode()
        request = urllib.request.Request(
            self.server.url + "/prompt", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")


def _prepare_base(base: Path) -> Path:
    prepare_base_dir(base, build_model=False)
    install_proxy_nodes(base)
    checkpoint = base / "models" / "diffusion_models" / PROXY_CHECKPOINT_NAME
    if TRAINED_PROXY.is_file():
        checkpoint.symlink_to(TRAINED_PROXY)
    else:  # the demo still runs, on random weights
        from comfy_env import bootstrap

        bootstrap()
        from tiny_models import build_wan

        build_wan("t2v", checkpoint)
    from PIL import Image  # the start image the image-to-video workflows name

    (base / "input").mkdir(exist_ok=True)
    Image.new("RGB", (64, 64), (90, 120, 160)).save(base / "input" / "example.png")
    _write_control_video(base / "input" / "control_video.mp4")  # the VACE workflow's control video
    # no first-run template browser over the canvas
    write_user_settings(base, {"Comfy.TutorialCompleted": True})
    return base


def _write_control_video(path: Path) -> None:
    """A real 9-frame 64x64 video (PyAV, a ComfyUI requirement): LoadVideo validates the file."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=16)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(9):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 20 * i, dtype=np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One server per frontend, all started at once (each takes ~10-20 s to come up)."""
    started = {}
    for frontend in FRONTENDS:
        base = _prepare_base(tmp_path_factory.mktemp(f"browser_{frontend.version}"))
        started[frontend.version] = ComfyServer(base, front_end_root=frontend.root)
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
            for future in [pool.submit(server.start, START_TIMEOUT_S) for server in started.values()]:
                future.result()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def browser():
    with Browser() as shared:  # one Chromium; each frontend is its own origin (port)
        yield shared


@pytest.fixture(scope="module", params=FRONTENDS, ids=lambda f: f"frontend-{f.version}")
def ui(request, servers, browser):
    frontend = request.param
    server = servers[frontend.version]
    browser.open_app(server.url, timeout_s=120)
    assert browser.frontend_version() == frontend.version
    yield UI(server, browser, frontend.version)


def _same_value(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_loads_and_validates(ui, path):
    workflow = json.loads(path.read_text())
    loaded = ui.browser.load_workflow(workflow, path.name)
    assert loaded["missing"] == [], f"{path.name}: node types unknown to the frontend/server: {loaded['missing']}"

    by_id = {n["id"]: n for n in loaded["nodes"]}
    for node in workflow["nodes"]:
        assert node["id"] in by_id, f"{path.name}: node {node['id']} ({node['type']}) dropped on load"
        if node["type"] in FRONTEND_ONLY:
            continue
        got = by_id[node["id"]]["widgets_values"] or []
        want = node.get("widgets_values", [])
        assert len(got) == len(want) and all(map(_same_value, got, want)), (
            f"{path.name}: {node['type']} #{node['id']} widgets {want} came back as {got}"
        )

    if path.stem == PROXY_DEMO:
        return  # it would run: test_demo_run_draws_its_stats queues it from the UI instead
    prompt = ui.browser.graph_to_prompt()
    expected = {str(n["id"]) for n in workflow["nodes"] if n["type"] not in FRONTEND_ONLY and n.get("mode", 0) == 0}
    assert set(prompt) == expected, f"{path.name}: the frontend's prompt has nodes {sorted(prompt)}"
    status, answer = ui.post_prompt(prompt)
    assert status == 400, f"{path.name}: expected only missing model files, got HTTP {status}: {answer}"
    problems = []
    for node_id, entry in answer.get("node_errors", {}).items():
        for error in entry["errors"]:
            name = error.get("extra_info", {}).get("input_name")
            if error["type"] != "value_not_in_list" or name not in FILE_INPUTS:
                problems.append((node_id, entry.get("class_type"), error["type"], name, error.get("details")))
    assert not problems, f"{path.name}: the server rejects more than the missing files: {problems}"
    assert answer.get("node_errors"), answer


def _expected_marks(stats: dict) -> dict:
    counts = Counter(step["decision"] for step in stats["steps"])
    return {kind: counts.get(kind, 0) for kind in MARK_KINDS}


def _check_drawn(ui: UI, node_id: int, stats: dict, text: str | None, name: str) -> dict:
    """Everything the node shows must agree with `stats`/`text`; returns the node's state."""
    state = ui.browser.node_state(node_id)
    assert state and state["connected"], "the Cache Stats widget is not in the page"
    timeline = state["timeline"]
    expected = _expected_marks(stats)
    assert timeline["steps"] == len(stats["steps"])
    assert timeline["marks"] == expected, (timeline["marks"], expected)
    finite = lambda v: isinstance(v, (int, float)) and math.isfinite(v)  # noqa: E731
    assert timeline["errorPoints"] == sum(finite(s["error"]) for s in stats["steps"])
    assert timeline["thresholdSegments"] == sum(finite(s["threshold"]) for s in stats["steps"])
    assert timeline["checkPoints"] == sum(finite(s.get("check_measured")) for s in stats["steps"])
    labels = [
        [s["frames_total"] - len(s["frames_reused"] or []), s["frames_total"]]
        for s in stats["steps"] if s["decision"] == "partial" and isinstance(s["frames_total"], int)
    ]  # fmt: skip
    assert [[p["kept"], p["total"]] for p in timeline["partialLabels"]] == labels
    dataset = state["dataset"]
    assert [int(dataset[k]) for k in MARK_KINDS] == [expected[k] for k in MARK_KINDS]

    colors = {k: parse_hex(v) for k, v in ui.browser.extension_colors().items() if k in MARK_KINDS}
    assert len(set(colors.values())) == 3, colors
    in_canvas = ui.browser.count_bars(node_id, colors)
    assert in_canvas == expected, f"canvas pixels show {in_canvas} bars, the stats say {expected}"

    shot = ARTIFACTS / f"{name}_frontend-{ui.version}.png"
    clip, lane = ui.browser.screenshot_node(node_id, shot)
    assert lane["visible"], "the timeline canvas has no size on screen"
    from browser.driver import count_bars_in_image

    on_screen = count_bars_in_image(shot, clip, lane, colors)
    assert on_screen == expected, f"the screenshot shows {on_screen} bars, the stats say {expected} ({shot})"

    if text is not None:
        assert state["report"] == text
        assert state["summary"] == text.split("\n", 1)[0].split("; warnings: ")[0]
    return state


def test_demo_run_draws_its_stats(ui):
    """Queue the shipped proxy demo from the UI; the node must draw exactly the run's stats."""
    workflow = json.loads((REPO / "workflows" / f"{PROXY_DEMO}.json").read_text())
    ui.browser.load_workflow(workflow, f"{PROXY_DEMO}.json")
    before = set(ui.server.get("/history"))
    ui.browser.queue()
    ui.browser.wait_rendered(STATS_NODE_ID, timeout_s=180)
    deadline = time.monotonic() + 30 * TIMEOUT_SCALE  # the history entry is written just after the node's output is sent
    while not (new := [pid for pid in ui.server.get("/history") if pid not in before]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(new) == 1, new
    entry = ui.server.wait(new[0], timeout=30 * TIMEOUT_SCALE)
    assert entry["status"]["status_str"] == "success", entry["status"]
    output = entry["outputs"][str(STATS_NODE_ID)]
    text, stats = output["text"][0], output["semcache_stats"][0]
    assert stats is not None, text
    assert stats["total_steps"] == len(stats["steps"]) == 30
    marks = _expected_marks(stats)
    assert stats["computed"] == marks["computed"] + marks["partial"]
    assert stats["partial"] == marks["partial"] and stats["skipped"] == marks["skipped"]
    assert marks["skipped"] > 0 and marks["partial"] > 0, f"the demo should skip steps and reuse frames: {text}"

    ui.demo_output = (text, stats)
    state = _check_drawn(ui, STATS_NODE_ID, stats, text, "cache_stats_demo")
    if ui.version == pinned_frontend_version():
        _publish_readme_screenshot(ARTIFACTS / f"cache_stats_demo_frontend-{ui.version}.png", ui.version, text)
    assert state["size"][0] >= 500 and state["size"][1] >= 400
    js_errors = [e for e in ui.browser.page_errors if "semcache" in e.lower()]
    assert not js_errors, js_errors


def _publish_readme_screenshot(shot: Path, frontend: str, text: str) -> None:
    """Refresh docs/cache_stats_node.png (and its record) when what it shows changed: the settings,
    the decisions, the ComfyUI or frontend version. Wall times alone do not rewrite it."""
    from comfy_env import COMFY_DIR

    version = re.search(r'__version__ = "([^"]+)"', (COMFY_DIR / "comfyui_version.py").read_text()).group(1)
    lines = text.splitlines()
    summary = re.sub(r" \(estimated.*$", "", lines[0])  # "SemCache [Wan T2V] steps 30: computed 15 (8 partial), skipped 15"
    settings = next(line for line in lines if line.startswith("settings: "))
    info = {"workflow": f"workflows/{PROXY_DEMO}.json", "comfyui": version, "frontend": frontend, "summary": summary,
            "settings": settings.removeprefix("settings: ")}  # fmt: skip
    old = json.loads(README_SHOT_INFO.read_text()) if README_SHOT_INFO.is_file() else None
    if old != info or not README_SHOT.is_file() or os.environ.get("SEMCACHE_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, README_SHOT)
        README_SHOT_INFO.write_text(json.dumps(info, indent=1) + "\n")


SYNTHETIC_REPORT = (
    'SemCache [Wan T2V] steps 40: computed 14 (6 partial), skipped 26 <img src=x onerror="window.__semcachePwned=1">'
    "; warnings: <b>not bold</b>\n\nline two & <script>window.__semcachePwned=2</script>"
)


def _synthetic_stats() -> dict:
    steps = []
    pattern = "CCCPSSSSCSSSPSSSSCSSPSSSCSSSSPSSCSSSSPSC"  # 40 steps: computed, partial, skipped
    for i, code in enumerate(pattern):
        decision = {"C": "computed", "P": "partial", "S": "skipped"}[code]
        partial = decision == "partial"
        steps.append({
            "step": i, "sigma": 1 - i / 40, "decision": decision,
            "error": None if i < 3 else 0.02 * (i % 5), "threshold": None if i < 2 else 0.5 - 0.005 * i,
            "p_s": 0.2, "frames_total": 21 if partial or decision == "computed" else None,
            "frames_reused": list(range(1, 1 + i % 7)) if partial else ([] if decision == "computed" else None),
        })  # fmt: skip
    counts = Counter(pattern)
    return {
        "family": "Wan T2V", "total_steps": 40, "computed": counts["C"] + counts["P"], "partial": counts["P"],
        "skipped": counts["S"], "estimated_speedup": 2.5, "measured_speedup": None, "cache_mib": 1.0,
        "wall_seconds": 3.0, "disabled_reason": None, "warnings": ["<b>not bold</b>"], "steps": steps,
    }  # fmt: skip


def test_timeline_draws_given_stats_and_keeps_text_as_text(ui):
    """A fresh Cache Stats node fed known stats: exact marks, no HTML from the text, null stats."""
    node_id = ui.page.evaluate("""() => {
      const app = window.comfyAPI?.app?.app ?? window.app;
      const node = window.LiteGraph.createNode("SemCacheStats");
      node.pos = [200, 1600];
      app.graph.add(node);
      return node.id;
    }""")
    ui.browser.frame_node(node_id)
    stats = _synthetic_stats()
    deliver = """([id, text, stats]) => {
      const app = window.comfyAPI?.app?.app ?? window.app;
      app.graph.getNodeById(id).onExecuted({text: [text], semcache_stats: [stats]});
    }"""
    ui.page.evaluate(deliver, [node_id, SYNTHETIC_REPORT, stats])
    state = _check_drawn(ui, node_id, stats, SYNTHETIC_REPORT, "cache_stats_synthetic")
    assert "<img" in state["summary"] and "<b>not bold</b>" in state["warnings"]
    assert {"img", "b", "script"}.isdisjoint(state["elements"]), state["elements"]
    assert ui.page.evaluate("() => window.__semcachePwned ?? null") is None

    # the pixel checks do not trust the extension's own account: make it claim other stats than
    # the ones it drew, and the comparison with the canvas must fail
    claimed = json.loads(json.dumps(stats))
    flipped = next(step for step in claimed["steps"] if step["decision"] == "skipped")
    flipped["decision"] = "computed"
    ui.page.evaluate(
        """([id, marks]) => {
          const app = window.comfyAPI?.app?.app ?? window.app;
          const node = app.graph.getNodeById(id);
          node.semcacheTimeline.marks = marks;
          for (const [kind, count] of Object.entries(marks)) node.semcacheParts.root.dataset[kind] = String(count);
        }""",
        [node_id, _expected_marks(claimed)],
    )
    with pytest.raises(AssertionError, match="canvas pixels show"):
        _check_drawn(ui, node_id, claimed, None, "cache_stats_claimed")

    # a model that never ran: text only, an empty timeline
    message = "Cache Stats: this model is not patched by SemCache Patch Model."
    ui.page.evaluate(deliver, [node_id, message, None])
    state = ui.browser.node_state(node_id)
    assert state["timeline"]["steps"] == 0 and state["summary"] == message and state["report"] == message
    ui.page.evaluate(
        "(id) => (window.comfyAPI?.app?.app ?? window.app).graph.remove("
        "(window.comfyAPI?.app?.app ?? window.app).graph.getNodeById(id))",
        node_id,
    )


def test_nodes_2_0_mode_draws_the_same(ui):
    """With the newest frontend's "Nodes 2.0" (Vue nodes, Comfy.VueNodes.Enabled) the node is a DOM
    element of its own; the demo run's output, delivered again, must be drawn the same way there."""
    if ui.version != FRONTENDS[-1].version or ui.version == pinned_frontend_version():
        pytest.skip("checked on the newest frontend only")
    if ui.demo_output is None:
        pytest.skip("needs test_demo_run_draws_its_stats first")
    text, stats = ui.demo_output
    ui.browser.set_setting(ui.server.url, "Comfy.VueNodes.Enabled", True)
    try:
        ui.browser.reload_app()
        workflow = json.loads((REPO / "workflows" / f"{PROXY_DEMO}.json").read_text())
        ui.browser.load_workflow(workflow, f"{PROXY_DEMO}.json")
        assert ui.page.evaluate(
            "(id) => !!document.querySelector(`[data-node-id='${id}'] .semcache-stats`)", STATS_NODE_ID
        ), "Nodes 2.0 mode is not on, or the node does not hold the timeline"
        ui.browser.frame_node(STATS_NODE_ID)
        ui.page.evaluate(
            """([id, text, stats]) => {
              const app = window.comfyAPI?.app?.app ?? window.app;
              app.graph.getNodeById(id).onExecuted({text: [text], semcache_stats: [stats]});
            }""",
            [STATS_NODE_ID, text, stats],
        )
        _check_drawn(ui, STATS_NODE_ID, stats, text, "cache_stats_nodes2")
    finally:
        ui.browser.set_setting(ui.server.url, "Comfy.VueNodes.Enabled", False)


NODE_IDS = ("SemCachePatchModel", "TMMFrameSelector", "SemCacheStats", "SemCacheCompare")
DOCS = REPO / "web" / "docs"


def _doc_title(page: Path) -> str:
    return page.read_text(encoding="utf-8").splitlines()[0].removeprefix("# ").strip()


def _doc_images(page: Path) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))


def _check_help(ui: UI, node_id: str, page: Path) -> dict:
    title = _doc_title(page)
    shown = ui.browser.open_node_help(node_id, title)
    assert shown["h1"] == title, f"{node_id}: the docs panel does not show {page.relative_to(REPO)}: {shown}"
    assert shown["tables"] >= 1 and len(shown["headings"]) >= 2, shown
    images = _doc_images(page)
    assert [Path(i["src"]).name for i in shown["images"]] == [Path(i).name for i in images], shown["images"]
    assert all(i["width"] > 0 for i in shown["images"]), f"{node_id}: a picture did not load: {shown['images']}"
    return shown


def test_node_help_pages_and_chinese_translations(ui):
    """The node-docs panel renders every node's page in English, then in Chinese with the locale
    switched; in Chinese the node titles, widget labels and a hovered tooltip are the zh locale's."""
    if ui.version != FRONTENDS[-1].version:
        pytest.skip("checked on the newest frontend")
    zh = json.loads((REPO / "locales" / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
    try:
        for node_id in NODE_IDS:
            shown = _check_help(ui, node_id, DOCS / f"{node_id}.md")
            assert shown["nodeTitle"] == _doc_title(DOCS / f"{node_id}.md")
        ui.browser.set_setting(ui.server.url, "Comfy.Locale", "zh")
        ui.browser.reload_app()
        for node_id in NODE_IDS:
            shown = _check_help(ui, node_id, DOCS / node_id / "zh.md")
            assert shown["nodeTitle"] == zh[node_id]["display_name"], shown["nodeTitle"]
        ui.browser.open_node_help("SemCachePatchModel", _doc_title(DOCS / "SemCachePatchModel" / "zh.md"))
        ui.browser.page.keyboard.press("Escape")
        expected = zh["SemCachePatchModel"]["inputs"]["threshold_scale"]["tooltip"]
        point, tooltip = ui.browser.widget_tooltip("SemCachePatchModel", "threshold_scale", expected)
        assert tooltip == expected, f"hovering threshold_scale showed {tooltip!r}"
        labels = dict(point["labels"])
        wanted = {k: v["name"] for k, v in zh["SemCachePatchModel"]["inputs"].items() if k in labels}
        assert {k: labels[k] for k in wanted} == wanted, labels
    finally:
        ui.browser.set_setting(ui.server.url, "Comfy.Locale", "en")
        ui.browser.reload_app()


def test_compare_node_shows_its_report_as_text(ui):
    """Compare Videos' web extension: the report (hostile text included) is shown as text."""
    report = "Compare Videos: candidate vs reference, 3 frame(s) of 8x8\nPSNR 31.20 dB <b>x</b><img src=x>"
    state = ui.page.evaluate(
        """([text]) => {
          const app = window.comfyAPI?.app?.app ?? window.app;
          const node = window.LiteGraph.createNode("SemCacheCompare");
          node.pos = [200, 200];
          app.graph.add(node);
          node.onExecuted({text: [text], semcache_compare: [{psnr: 31.2, ssim: 0.9, frames: 3, identical: false}]});
          const root = node.semcacheCompareParts?.root;
          const out = {text: root?.querySelector(".semcache-compare-report")?.textContent ?? null,
                       elements: root ? [...root.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()) : [],
                       psnr: root?.dataset.psnr ?? null};
          app.graph.remove(node);
          return out;
        }""",
        [report],
    )
    assert state["text"] == report and state["psnr"] == "31.2"
    assert {"b", "img"}.isdisjoint(state["elements"]), state["elements"]
