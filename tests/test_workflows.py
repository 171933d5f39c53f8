"""The shipped example workflows (UI format): structure, links, and how SemCache is wired in.

They are built by tests/browser/build_workflows.py; tests/test_browser_ui.py loads every one into
the real frontend and has the server validate the prompt the frontend makes of it, and
test_server_e2e.py checks semcache_wan_t2v.json against the server's node definitions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from server_harness import PATCH_MODEL_INPUTS

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced"}
SEMCACHE_MODEL_NODES = {"SemCachePatchModel", "TMMFrameSelector"}
LOADERS = {"UNETLoader": ["unet_name"], "CLIPLoader": ["clip_name"], "DualCLIPLoader": ["clip_name1", "clip_name2"],
           "VAELoader": ["vae_name"]}  # fmt: skip


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_example_workflows():
    names = {p.stem for p in WORKFLOWS}
    assert {
        "semcache_wan_t2v",
        "semcache_wan22_14b_t2v",
        "semcache_hunyuan_video_t2v",
        "semcache_proxy_wan_demo",
        "semcache_wan_t2v_compare",
        "semcache_wan_vace",
    } <= names


def test_vace_workflow_caches_a_control_video_run():
    """semcache_wan_vace.json: the VACE model, a control video into WanVaceToVideo, whose
    conditioning and latent drive the SemCache-patched sampler (the hint blocks are cached)."""
    workflow = load(REPO / "workflows" / "semcache_wan_vace.json")
    (loader,) = [n for n in workflow["nodes"] if n["type"] == "UNETLoader"]
    assert loader["widgets_values"][0] == "wan2.1_vace_1.3B_fp16.safetensors"
    (sampler,) = [n for n in workflow["nodes"] if n["type"] == "KSampler"]
    assert _source(workflow, sampler, "model")["type"] == "SemCachePatchModel"
    vace = _source(workflow, sampler, "positive")
    assert vace["type"] == "WanVaceToVideo" and _source(workflow, sampler, "latent_image")["id"] == vace["id"]
    assert _source(workflow, _source(workflow, vace, "control_video"), "video")["type"] == "LoadVideo"


def test_compare_workflow_is_a_same_seed_ab():
    """semcache_wan_t2v_compare.json: one cached and one uncached sampler, same settings and seed,
    from the same model, latent and prompts; Compare Videos gets the uncached decode as reference."""
    workflow = load(REPO / "workflows" / "semcache_wan_t2v_compare.json")
    samplers = [n for n in workflow["nodes"] if n["type"] == "KSampler"]
    assert len(samplers) == 2 and samplers[0]["widgets_values"] == samplers[1]["widgets_values"]
    models = {_source(workflow, s, "model")["type"] for s in samplers}
    assert models == {"SemCachePatchModel", "ModelSamplingSD3"}
    for name in ("positive", "negative", "latent_image"):
        assert len({_source(workflow, s, name)["id"] for s in samplers}) == 1, name
    (node,) = [n for n in workflow["nodes"] if n["type"] == "SemCacheCompare"]
    reference, candidate = _source(workflow, node, "reference"), _source(workflow, node, "candidate")
    assert {reference["type"], candidate["type"]} == {"VAEDecode"}
    assert _source(workflow, _source(workflow, reference, "samples"), "model")["type"] == "ModelSamplingSD3"
    assert _source(workflow, _source(workflow, candidate, "samples"), "latent")["type"] == "KSampler"
    assert [t["type"] for t, _ in _consumers(workflow, node, 1)] == ["PreviewImage"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_links_are_consistent(path: Path):
    workflow = load(path)
    nodes = {node["id"]: node for node in workflow["nodes"]}
    assert len(nodes) == len(workflow["nodes"]), "duplicate node ids"
    assert workflow["last_node_id"] >= max(nodes)

    links = {}
    for link in workflow["links"]:
        link_id, origin, origin_slot, target, target_slot, link_type = link
        assert link_id not in links, f"duplicate link id {link_id}"
        links[link_id] = link
        source, sink = nodes[origin], nodes[target]
        output, input_ = source["outputs"][origin_slot], sink["inputs"][target_slot]
        assert link_id in (output["links"] or []), f"link {link_id} missing from node {origin} output {origin_slot}"
        assert input_["link"] == link_id, f"node {target} input {target_slot} does not point at link {link_id}"
        assert output["type"] == input_["type"] == link_type, f"link {link_id}: type mismatch"
    assert workflow["last_link_id"] >= max(links)

    for node in workflow["nodes"]:  # and the other way round: every reference names a real link
        for input_ in node.get("inputs", []):
            if input_.get("link") is not None:
                assert links[input_["link"]][3] == node["id"]
        for slot, output in enumerate(node.get("outputs", [])):
            for link_id in output.get("links") or []:
                assert links[link_id][1:3] == [node["id"], slot]


def _source(workflow: dict, node: dict, input_name: str) -> dict:
    """The node feeding `input_name` of `node`."""
    link_id = next(i["link"] for i in node["inputs"] if i["name"] == input_name)
    assert link_id is not None, f"{node['type']} #{node['id']}: {input_name} is not connected"
    origin = next(link[1] for link in workflow["links"] if link[0] == link_id)
    return next(n for n in workflow["nodes"] if n["id"] == origin)


def _consumers(workflow: dict, node: dict, slot: int = 0) -> list[tuple[dict, str]]:
    found = []
    for link_id in node["outputs"][slot]["links"] or []:
        link = next(link for link in workflow["links"] if link[0] == link_id)
        target = next(n for n in workflow["nodes"] if n["id"] == link[3])
        found.append((target, target["inputs"][link[4]]["name"]))
    return found


def _is_compare_reference(workflow: dict, sampler: dict) -> bool:
    """The sampler's latent is decoded and fed to Compare Videos as its uncached `reference`."""
    for decode, _ in _consumers(workflow, sampler):
        if decode["type"] == "VAEDecode":
            if any(t["type"] == "SemCacheCompare" and name == "reference" for t, name in _consumers(workflow, decode)):
                return True
    return False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_sampler_is_cached_and_reported(path: Path):
    """Each sampler samples a SemCache-patched model, and a Cache Stats node reads that model
    right after it (inline: the sampler's latent goes through Cache Stats). The one exception is
    the uncached reference run of a same-seed A/B that goes into Compare Videos."""
    workflow = load(path)
    samplers = [n for n in workflow["nodes"] if n["type"] in SAMPLERS and n.get("mode", 0) == 0]
    assert samplers
    for sampler in samplers:
        if sampler["type"] == "SamplerCustomAdvanced":
            guider = _source(workflow, sampler, "guider")
            model = _source(workflow, guider, "model")
        else:
            model = _source(workflow, sampler, "model")
        if model["type"] not in SEMCACHE_MODEL_NODES and _is_compare_reference(workflow, sampler):
            continue
        assert model["type"] in SEMCACHE_MODEL_NODES, f"{sampler['type']} #{sampler['id']} samples an uncached model"
        stats = [t for t, name in _consumers(workflow, sampler) if t["type"] == "SemCacheStats" and name == "latent"]
        assert len(stats) == 1, f"{sampler['type']} #{sampler['id']}: no Cache Stats on its output"
        assert _source(workflow, stats[0], "model")["id"] == model["id"], "Cache Stats reads another model"
        downstream = [name for _, name in _consumers(workflow, stats[0], 0)]
        assert downstream, "Cache Stats' latent output goes nowhere (it must sit inline)"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_semcache_nodes_have_every_input(path: Path):
    workflow = load(path)
    patches = [n for n in workflow["nodes"] if n["type"] == "SemCachePatchModel"]
    assert patches
    for node in patches:
        assert len(node["widgets_values"]) == len(PATCH_MODEL_INPUTS) - 1  # every input except `model`
    for node in workflow["nodes"]:
        if node["type"] in ("KSampler", "KSamplerAdvanced", "RandomNoise") and node.get("mode", 0) == 0:
            assert "fixed" in node["widgets_values"], f"{path.name}: {node['type']} seed is not fixed"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_model_files_have_download_links(path: Path):
    """Loaders name their files as ComfyUI's official workflows do and carry the download link."""
    workflow = load(path)
    for node in workflow["nodes"]:
        if node["type"] not in LOADERS or node["widgets_values"][0] == "semcache_proxy_wan.safetensors":
            continue
        models = {m["name"]: m for m in node.get("properties", {}).get("models", [])}
        for index, _ in enumerate(LOADERS[node["type"]]):
            name = node["widgets_values"][index]
            assert name in models, f"{path.name}: {node['type']} #{node['id']} {name} has no download link"
            assert models[name]["url"].startswith("https://") and models[name]["url"].split("?")[0].endswith(name)


def _readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_readme_lists_every_workflow_and_its_files():
    section = _readme_section("Workflows")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([\w.]+\.json)` \|.*$", section, re.M)}
    assert set(rows) == {p.name for p in WORKFLOWS}, sorted(rows)
    for path in WORKFLOWS:
        for node in load(path)["nodes"]:
            for index, _ in enumerate(LOADERS.get(node["type"], [])):
                name = node["widgets_values"][index]
                assert name in rows[path.name], f"README row of {path.name} does not name {name}"


def test_readme_screenshot_exists():
    section = _readme_section("Screenshot")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", section)
    assert images and all((REPO / image).is_file() for image in images), images


def test_readme_screenshot_shows_the_current_defaults(pack):
    """docs/cache_stats_node.png is rewritten by the browser test whenever what it shows changes;
    its record (docs/cache_stats_node.json) must match today's node defaults and the README caption."""
    from semcache_pack.nodes import SemCachePatchModel, TMMFrameSelector

    info = json.loads((REPO / "docs" / "cache_stats_node.json").read_text())
    shown = dict(item.split("=", 1) for item in info["settings"].split(", "))
    for node in (SemCachePatchModel, TMMFrameSelector):
        for item in node.define_schema().inputs:
            if item.id in ("model", "alpha", "beta", "probe_layers") or item.id not in shown:
                continue  # alpha/beta/probe_layers are shown resolved for the model
            default = item.default
            value = type(default)(shown[item.id]) if not isinstance(default, str) else shown[item.id]
            assert value == default, f"the screenshot shows {item.id}={shown[item.id]}, the default is {default}"
    assert {"threshold_scale", "reuse_ratio"} <= set(shown)
    section = _readme_section("Screenshot")
    assert info["workflow"].split("/")[-1] in section
    assert f"ComfyUI {info['comfyui']}, frontend {info['frontend']}" in section
