"""ComfyUI's own custom-node loader (nodes.load_custom_node) accepts the pack, in-process.

The loader imports the pack under its *path* as module name (0.3.75: "/abs/path" with dots
replaced), which differs from the `semcache_pack` name tests/comfy_env.load_pack() uses, so the
two never share modules. Everything the loader registers (node mappings, web dirs, sys.modules
entries) is restored afterwards, so later tests see ComfyUI as it was.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from comfy_env import COMFY_DIR, PACK_NAME, REPO, bootstrap

NODE_IDS = {"SemCachePatchModel": "SemCache Patch Model", "SemCacheStats": "Cache Stats"}


@pytest.fixture
def comfy_nodes():
    """ComfyUI's top-level `nodes` module, with its registries restored after the test."""
    bootstrap()
    import nodes

    assert Path(nodes.__file__).resolve().parent == COMFY_DIR, f"`nodes` is not ComfyUI's: {nodes.__file__}"
    registries = (nodes.NODE_CLASS_MAPPINGS, nodes.NODE_DISPLAY_NAME_MAPPINGS, nodes.EXTENSION_WEB_DIRS,
                  nodes.LOADED_MODULE_DIRS)  # fmt: skip
    saved = [dict(r) for r in registries]
    modules_before = set(sys.modules)
    pack_module = sys.modules.get(PACK_NAME)
    yield nodes
    for registry, content in zip(registries, saved):
        registry.clear()
        registry.update(content)
    for name in set(sys.modules) - modules_before:
        if _is_repo_module(sys.modules[name]) and name.partition(".")[0] != PACK_NAME:
            del sys.modules[name]
    assert sys.modules.get(PACK_NAME) is pack_module, "loading through ComfyUI replaced the test import of the pack"


def _is_repo_module(module) -> bool:
    file = getattr(module, "__file__", None)
    return bool(file) and REPO in Path(file).resolve().parents


def _loader_module_name() -> str:
    """The name ComfyUI's loader gave the pack (0.3.75: the folder path, "." -> "_x_")."""
    init = REPO / "__init__.py"
    names = [n for n, m in list(sys.modules.items()) if n != PACK_NAME and getattr(m, "__file__", None)
             and Path(m.__file__).resolve() == init]  # fmt: skip
    assert len(names) == 1, names
    return names[0]


def _load(nodes, path: Path) -> bool:
    return asyncio.run(nodes.load_custom_node(str(path), ignore=set(), module_parent="custom_nodes"))


def test_comfy_loader_registers_nodes_and_web_dir(comfy_nodes):
    nodes = comfy_nodes
    assert _load(nodes, REPO) is True

    for node_id, display_name in NODE_IDS.items():
        assert node_id in nodes.NODE_CLASS_MAPPINGS
        assert nodes.NODE_DISPLAY_NAME_MAPPINGS[node_id] == display_name
        node_cls = nodes.NODE_CLASS_MAPPINGS[node_id]
        assert node_cls.RELATIVE_PYTHON_MODULE == f"custom_nodes.{REPO.name}"
        assert node_cls.__module__.startswith(_loader_module_name() + "."), node_cls.__module__

    web = (REPO / "web").resolve()
    # WEB_DIRECTORY registers under the install folder's name (only once: pyproject sets no web dir).
    assert Path(nodes.EXTENSION_WEB_DIRS[REPO.name]).resolve() == web
    assert sum(Path(d).resolve() == web for d in nodes.EXTENSION_WEB_DIRS.values()) == 1
    assert (web / "semcache_stats.js").is_file()
    assert Path(nodes.LOADED_MODULE_DIRS[REPO.name]).resolve() == REPO


def test_loader_and_test_import_coexist(pack, comfy_nodes):
    """The pack imported by load_pack() and by ComfyUI's loader are separate module trees."""
    nodes = comfy_nodes
    assert _load(nodes, REPO) is True
    loaded = nodes.NODE_CLASS_MAPPINGS["SemCachePatchModel"]
    ours = {cls.__name__: cls for cls in pack.nodes.NODE_CLASSES}["SemCachePatchModel"]
    assert loaded is not ours
    assert ours.__module__.startswith(PACK_NAME + ".")
    assert sys.modules[_loader_module_name()] is not pack
