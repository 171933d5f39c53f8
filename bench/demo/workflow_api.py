"""Convert a ComfyUI UI-format workflow (what the editor saves and opens) to an API-format graph.

The demo queues `workflows/semcache_proxy_wan_demo.json` itself, so the file a user opens and the
graph the demo runs cannot drift apart. The conversion follows the frontend's own rules:
  - widget values: `widgets_values` in the order of the node's widget inputs from /object_info
    (`input_order`, required then optional); an input with `control_after_generate` (a seed) has
    one extra value after it, an `image_upload` input one upload-button value;
  - links: `links` rows are [id, origin_id, origin_slot, target_id, target_slot, type], and an
    input socket names its link;
  - node modes: 0 runs, 2 (muted) is left out, 4 (bypassed) passes each output straight through
    from the first input of the same type (preferring the same slot), as Ctrl+B does;
  - frontend-only nodes (notes, reroutes, primitives) are not sent.
A node left with a missing required socket (e.g. a preview of a bypassed node's plot) is dropped,
and so are the nodes that then miss their inputs.
"""

from __future__ import annotations

from typing import Any

WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4


def _is_widget(kind: Any) -> bool:
    return isinstance(kind, list) or kind in WIDGET_KINDS


def widget_names(info: dict) -> list[str | None]:
    """Names of the node's widget values in `widgets_values` order (None: a value to skip)."""
    names: list[str | None] = []
    for section in ("required", "optional"):
        for name in info.get("input_order", {}).get(section, []):
            spec = info["input"][section][name]
            kind, options = spec[0], (spec[1] if len(spec) > 1 and spec[1] else {})
            if _is_widget(kind):
                names.append(name)
                if options.get("control_after_generate"):
                    names.append(None)
                if options.get("image_upload"):
                    names.append(None)
    return names


def required_sockets(info: dict) -> list[str]:
    required = info.get("input", {}).get("required", {})
    return [name for name in info.get("input_order", {}).get("required", []) if not _is_widget(required[name][0])]


def ui_to_api(
    workflow: dict,
    object_info: dict,
    bypass: set[str] | frozenset[str] = frozenset(),
) -> dict[str, dict]:
    """API-format graph of `workflow`. `bypass`: node types to treat as bypassed (mode 4) in this
    conversion, on top of the modes saved in the file (the uncached twin of a cached workflow)."""
    nodes = {n["id"]: n for n in workflow["nodes"] if n["type"] not in FRONTEND_ONLY}
    links = {row[0]: row for row in workflow["links"]}
    for node in nodes.values():
        if node["type"] not in object_info:
            raise ValueError(f"node {node['id']} ({node['type']}) is not installed on the server")

    def mode(node: dict) -> int:
        return BYPASSED if node["type"] in bypass else node.get("mode", 0)

    def source(link_id: int | None, kind: str, seen: tuple = ()) -> tuple[int, int] | None:
        """The (node id, output slot) a link really carries, looking through bypassed nodes."""
        if link_id is None or link_id not in links:
            return None
        _, origin, slot, _, _, _ = links[link_id]
        node = nodes.get(origin)
        if node is None or mode(node) == MUTED or origin in seen:
            return None
        if mode(node) != BYPASSED:
            return origin, slot
        inputs = [i for i in node.get("inputs", []) if i.get("type") == kind and i.get("link") is not None]
        same_slot = [i for i in inputs if node["inputs"].index(i) == slot]
        for candidate in same_slot + inputs:
            found = source(candidate["link"], kind, seen + (origin,))
            if found:
                return found
        return None

    graph: dict[str, dict] = {}
    for node_id, node in nodes.items():
        if mode(node) in (MUTED, BYPASSED):
            continue
        info = object_info[node["type"]]
        inputs: dict[str, Any] = {}
        values = list(node.get("widgets_values") or [])
        for name, value in zip(widget_names(info), values):
            if name is not None:
                inputs[name] = value
        for socket in node.get("inputs", []):
            if socket.get("widget"):  # a widget converted to an input: linked value replaces the widget
                inputs.pop(socket["name"], None)
            found = source(socket.get("link"), socket.get("type"))
            if found:
                inputs[socket["name"]] = [str(found[0]), found[1]]
        graph[str(node_id)] = {
            "class_type": node["type"],
            "inputs": inputs,
            "_meta": {"title": node.get("title") or node["type"]},
        }

    # Drop nodes whose required sockets lost their source, until none is left dangling.
    while True:
        missing = [
            node_id
            for node_id, entry in graph.items()
            if any(name not in entry["inputs"] for name in required_sockets(object_info[entry["class_type"]]))
            or any(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and v[0] not in graph
                   for v in entry["inputs"].values())
        ]  # fmt: skip
        if not missing:
            return graph
        for node_id in missing:
            del graph[node_id]
