"""The shipped example workflows (UI format) parse and their links are consistent.

Checked against a running ComfyUI (node types, widget values) in test_server_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.json"))


def test_there_is_an_example_workflow():
    assert "semcache_wan_t2v.json" in [p.name for p in WORKFLOWS]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_links_are_consistent(path: Path):
    workflow = json.loads(path.read_text())
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


def test_semcache_nodes_are_wired_inline():
    workflow = json.loads((Path(__file__).resolve().parents[1] / "workflows" / "semcache_wan_t2v.json").read_text())
    by_type = {}
    for node in workflow["nodes"]:
        by_type.setdefault(node["type"], []).append(node)
    patch, sampler, stats = by_type["SemCachePatchModel"][0], by_type["KSampler"][0], by_type["SemCacheStats"][0]
    links = {link[0]: link for link in workflow["links"]}
    model_link = next(i["link"] for i in sampler["inputs"] if i["name"] == "model")
    assert links[model_link][1] == patch["id"]
    latent_link = next(i["link"] for i in stats["inputs"] if i["name"] == "latent")
    assert links[latent_link][1] == sampler["id"]
    assert len(patch["widgets_values"]) == 12  # every SemCachePatchModel input except `model`
