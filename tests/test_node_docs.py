"""Help pages (web/docs/<NodeId>.md and web/docs/<NodeId>/zh.md, ComfyUI's custom-node help-page
convention) and translations (locales/zh/nodeDefs.json, served by ComfyUI's /i18n) for every node:
present, complete against the node schemas, and naming every supported model family.
tests/test_browser_ui.py checks that the real frontend renders them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "web" / "docs"
LOCALES = ("zh",)
FAMILIES = ("Wan", "HunyuanVideo")


@pytest.fixture(scope="module")
def schemas(pack) -> dict:
    return {cls.define_schema().node_id: cls.define_schema() for cls in pack.nodes.NODE_CLASSES}


def _outputs(schema) -> list[str]:
    return [o.display_name or o.id or o.io_type for o in schema.outputs]


def test_every_node_has_a_help_page_naming_every_input_and_output(schemas):
    assert set(schemas) == {"SemCachePatchModel", "TMMFrameSelector", "SemCacheStats", "SemCacheCompare"}
    for node_id, schema in schemas.items():
        for page in [DOCS / f"{node_id}.md", *(DOCS / node_id / f"{lang}.md" for lang in LOCALES)]:
            assert page.is_file(), f"{node_id}: no help page {page.relative_to(REPO)}"
            text = page.read_text(encoding="utf-8")
            assert text.startswith("# "), f"{page.name}: a help page starts with the node's title"
            missing = [name for name in [i.id for i in schema.inputs] + _outputs(schema) if f"`{name}`" not in text]
            assert not missing, f"{page.relative_to(REPO)} does not describe {missing}"
            for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):  # relative to the docs folder, as served
                assert not re.match(r"\w+://", image) and (DOCS / image).is_file(), f"{page.name}: {image}"
        english = (DOCS / f"{node_id}.md").read_text()
        assert english.splitlines()[0] == f"# {schema.display_name}"
        assert all(family in english for family in FAMILIES), f"{node_id}.md does not name {FAMILIES}"


@pytest.mark.parametrize("lang", LOCALES)
def test_locale_translates_every_node_input_output_and_tooltip(schemas, lang):
    data = json.loads((REPO / "locales" / lang / "nodeDefs.json").read_text(encoding="utf-8"))
    assert set(data) == set(schemas), sorted(set(data) ^ set(schemas))
    for node_id, schema in schemas.items():
        entry = data[node_id]
        assert entry.get("display_name") and entry.get("description"), node_id
        assert all(family in entry["description"] for family in FAMILIES), f"{lang} {node_id} description"
        inputs = entry.get("inputs", {})
        for item in schema.inputs:
            got = inputs.get(item.id, {})
            assert got.get("name") and got.get("tooltip"), f"{lang}: {node_id} input {item.id!r} is not translated"
        assert set(inputs) == {i.id for i in schema.inputs}, f"{lang}: {node_id} translates unknown inputs"
        outputs = entry.get("outputs", {})
        assert set(outputs) == {str(n) for n in range(len(schema.outputs))}, f"{lang}: {node_id} outputs"
        assert all(o.get("name") and o.get("tooltip") for o in outputs.values()), f"{lang}: {node_id} outputs"
        page = (DOCS / node_id / f"{lang}.md").read_text(encoding="utf-8")
        assert page.splitlines()[0] == f"# {entry['display_name']}", f"{lang}.md title != the translated name"
        for input_id, got in inputs.items():  # the page shows the label the user sees beside the id
            assert f"{got['name']} `{input_id}`" in page, f"{node_id}/{lang}.md: no '{got['name']} `{input_id}`'"


def test_descriptions_and_model_tooltips_name_every_supported_family(schemas):
    for node_id, schema in schemas.items():
        assert all(family in schema.description for family in FAMILIES), f"{node_id} description"
    for node_id in ("SemCachePatchModel", "TMMFrameSelector"):  # the nodes that take the video model itself
        tooltip = next(i.tooltip for i in schemas[node_id].inputs if i.id == "model")
        assert all(family in tooltip for family in FAMILIES), f"{node_id}.model tooltip"
