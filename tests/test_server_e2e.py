"""End to end: a real headless ComfyUI server with the pack installed in custom_nodes/.

One server for the module (see server_harness.comfy_server); the tiny Wan T2V runs a 30-step
KSampler through SemCache Patch Model and Cache Stats, submitted over HTTP like the UI does.
"""

from __future__ import annotations

import json
from pathlib import Path

from server_harness import (
    PATCH_MODEL_INPUTS,
    comfy_server,  # noqa: F401  (pytest fixture)
    output_files,
    parse_summary,
    stats_text,
    wan_t2v_graph,
)

REPO = Path(__file__).resolve().parents[1]
STEPS = 30


def test_object_info_patch_model_inputs(comfy_server):  # noqa: F811
    info = comfy_server.get("/object_info/SemCachePatchModel")["SemCachePatchModel"]
    assert info["display_name"] == "SemCache Patch Model"
    inputs = info["input"]
    names = [*inputs.get("required", {}), *inputs.get("optional", {})]
    assert sorted(names) == sorted(PATCH_MODEL_INPUTS)
    # inputs added after the first release are optional, so API-format prompts saved before them still run
    assert set(inputs.get("optional", {})) == {"target_speedup", "reuse_mode"}
    assert set(inputs["required"]) == set(PATCH_MODEL_INPUTS) - {"target_speedup", "reuse_mode"}
    assert info["output"] == ["MODEL"]


def test_object_info_stats_node(comfy_server):  # noqa: F811
    info = comfy_server.get("/object_info/SemCacheStats")["SemCacheStats"]
    assert info["display_name"] == "Cache Stats"
    assert info["output_node"] is True
    assert set(info["input"]["required"]) == {"model", "latent"}
    assert info["output"] == ["LATENT", "STRING", "IMAGE"]


def test_web_extension_is_served(comfy_server):  # noqa: F811
    scripts = comfy_server.get("/extensions")
    assert "/extensions/semcache/semcache_stats.js" in scripts
    assert not [s for s in scripts if s.endswith("semcache_stats.js") and "/semcache/" not in s], scripts


def test_example_workflow_is_a_template(comfy_server):  # noqa: F811
    """ComfyUI lists the pack's workflows/ folder under Templates and serves the files."""
    templates = comfy_server.get("/workflow_templates")
    assert "semcache_wan_t2v" in templates.get("semcache", []), templates
    served = comfy_server.get("/api/workflow_templates/semcache/semcache_wan_t2v.json")
    assert served == json.loads((REPO / "workflows" / "semcache_wan_t2v.json").read_text())


def test_wan_t2v_workflow_skips_steps(comfy_server):  # noqa: F811
    graph = wan_t2v_graph(seed=7, steps=STEPS, prefix="e2e")
    # test-only nodes: hooks on the loaded model's own blocks, read after the sampler finished
    graph["20"] = {"class_type": "SemCacheTestBlockCounter", "inputs": {"model": ["1", 0]}}
    graph["2"]["inputs"]["model"] = ["20", 0]
    graph["21"] = {"class_type": "SemCacheTestBlockReport", "inputs": {"latent": ["5", 0], "model": ["1", 0]}}
    entry, seconds = comfy_server.run(graph, timeout=90)

    report = stats_text(entry)
    summary = parse_summary(report.splitlines()[0])
    assert summary is not None, report
    assert summary["family"].startswith("Wan")
    assert summary["steps"] == STEPS
    assert summary["computed"] + summary["skipped"] == STEPS, report
    assert summary["skipped"] > 0, report
    assert summary["computed"] > 0, report
    # what really ran: one evaluation per step (cond and uncond batched), all blocks or none
    counted = json.loads(entry["outputs"]["21"]["text"][0])
    per_evaluation, blocks = counted["per_evaluation"], counted["blocks"]
    assert len(per_evaluation) == STEPS and all(n in (0, blocks) for n in per_evaluation), counted
    assert per_evaluation.count(0) == summary["skipped"] and per_evaluation.count(blocks) == summary["computed"]

    latents = output_files(comfy_server, entry, "7", "latents")
    assert latents and all(p.is_file() for p in latents), entry["outputs"]

    log_lines = [line for line in comfy_server.log_text().splitlines() if parse_summary(line)]
    assert any(parse_summary(line) == summary for line in log_lines), comfy_server.log_tail()
    assert seconds < 90


FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MODEL_FILE_INPUTS = {"unet_name", "clip_name", "vae_name", "ckpt_name"}  # not installed on the test server


def _widget_inputs(info: dict) -> list[tuple[str, list]]:
    """Inputs the frontend shows as widgets, in widgets_values order (with seed's control value)."""
    widgets = []
    for section in ("required", "optional"):
        for name in info["input_order"].get(section, []):
            spec = info["input"][section][name]
            kind, options = spec[0], spec[1] if len(spec) > 1 else {}
            if isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"):
                widgets.append((name, kind if isinstance(kind, list) else options.get("options")))
                if options.get("control_after_generate"):
                    widgets.append(("control_after_generate", ["fixed", "increment", "decrement", "randomize"]))
    return widgets


def test_example_workflow_matches_server_nodes(comfy_server):  # noqa: F811
    """The shipped UI workflow uses node types ComfyUI 0.3.75 knows, with valid widget values."""
    workflow = json.loads((REPO / "workflows" / "semcache_wan_t2v.json").read_text())
    info = comfy_server.get("/object_info")
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        assert node["type"] in info, node["type"]
        widgets = _widget_inputs(info[node["type"]])
        values = node.get("widgets_values", [])
        assert len(values) == len(widgets), (node["type"], values, widgets)
        for (name, options), value in zip(widgets, values):
            if options is not None and name not in MODEL_FILE_INPUTS:
                assert value in options, (node["type"], name, value)
