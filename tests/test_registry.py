"""The Comfy registry package: `comfy node validate` and `comfy node pack` (comfy-cli from PyPI,
installed by scripts/setup_env.sh) on a copy of the repository, the zip's contents against
.comfyignore's intent, the size the README states, and the unpacked zip loaded from a fresh
`custom_nodes/` folder by ComfyUI's own loader."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from comfy_env import COMFY_DIR, REPO, bootstrap

COMFY_CLI = Path(os.environ.get("SEMCACHE_COMFY_CLI") or REPO / ".cache" / "comfy-cli" / "bin" / "comfy")
NODE_IDS = {"SemCachePatchModel", "TMMFrameSelector", "SemCacheStats", "SemCacheCompare"}
TOP_LEVEL = {"__init__.py", "nodes", "semcache_core", "web", "locales", "workflows", "README.md", "LICENSE",
             "pyproject.toml"}  # fmt: skip
NEVER = ("tests/", "bench/", "scripts/", "docs/", ".ci/", ".git")


def _tracked_files() -> list[str]:
    """What a fresh clone holds (committed or staged, plus new files git does not ignore)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return [f for f in out.splitlines() if (REPO / f).is_file() and not (REPO / f).is_symlink()]


def _comfy(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), NO_COLOR="1", COLUMNS="200")
    return subprocess.run([str(COMFY_CLI), "--skip-prompt", "--no-json", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> dict:
    """Validate and pack a git copy of the repository; returns the outputs and the zip's path."""
    assert COMFY_CLI.is_file(), f"no comfy-cli at {COMFY_CLI} (run scripts/setup_env.sh)"
    src = tmp_path_factory.mktemp("registry_src") / "semcache"
    for name in _tracked_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    subprocess.run(["git", "add", "-A"], cwd=src, check=True)
    home = tmp_path_factory.mktemp("comfy_cli_home")
    validate = _comfy(["node", "validate"], src, home)
    pack = _comfy(["node", "pack"], src, home)
    return {"validate": validate, "pack": pack, "zip": src / "node.zip"}


def test_comfy_node_validate_passes(packed):
    result = packed["validate"]
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "All validation checks passed" in text and "Security warnings" not in text, text


def test_pack_holds_only_what_runs_in_comfyui(packed):
    assert packed["pack"].returncode == 0, packed["pack"].stdout + packed["pack"].stderr
    with zipfile.ZipFile(packed["zip"]) as z:
        names = z.namelist()
    leaked = [n for n in names if n.startswith(NEVER) or "/results/" in n or n.endswith((".safetensors", ".pt"))]
    assert not leaked, leaked
    assert {n.split("/")[0] for n in names} == TOP_LEVEL, sorted({n.split("/")[0] for n in names})
    for need in ("__init__.py", "nodes/__init__.py", "semcache_core/comfy_glue.py", "semcache_core/metrics.py",
                 "web/semcache_stats.js", "locales/zh/nodeDefs.json", "workflows/semcache_wan_t2v_compare.json"):
        assert need in names, need  # fmt: skip
    # the demo needs the proxy's own nodes and checkpoint (bench/): it stays in the repository
    assert "workflows/semcache_proxy_wan_demo.json" not in names
    shipped = {p for p in names if p.startswith("workflows/")}
    wanted = {f"workflows/{p.name}" for p in (REPO / "workflows").glob("*.json")} - {
        "workflows/semcache_proxy_wan_demo.json"}  # fmt: skip
    assert shipped == wanted


def test_readme_states_the_zip_size(packed):
    """README: 'a zip of N files, about K KB' must match what `comfy node pack` makes (±10%)."""
    with zipfile.ZipFile(packed["zip"]) as z:
        count = len(z.namelist())
    size_kb = packed["zip"].stat().st_size / 1024
    text = (REPO / "README.md").read_text()
    match = re.search(r"zip of (\d+) files, about (\d+) KB", text)
    assert match, "README does not state the registry zip's size ('zip of N files, about K KB')"
    assert int(match.group(1)) == count, f"README says {match.group(1)} files, the zip has {count}"
    assert abs(int(match.group(2)) - size_kb) <= 0.1 * size_kb, f"README says {match.group(2)} KB, zip {size_kb:.0f} KB"


def test_pyproject_has_the_registry_metadata():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    project, comfy = data["project"], data["tool"]["comfy"]
    assert re.fullmatch(r"[a-z][a-z0-9-]*", project["name"]) and re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert "HunyuanVideo" in project["description"] and "Wan" in project["description"]
    assert project["license"] == {"file": "LICENSE"} and (REPO / "LICENSE").read_text().lstrip().startswith(
        "GNU GENERAL PUBLIC LICENSE")  # fmt: skip
    assert "Operating System :: OS Independent" in project["classifiers"]
    assert any(c.startswith("Environment :: GPU ::") for c in project["classifiers"]) and project["keywords"]
    repository = project["urls"]["Repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository)
    owner_repo = repository.removeprefix("https://github.com/")
    assert all(owner_repo in url for url in project["urls"].values())
    icon = re.fullmatch(rf"https://raw\.githubusercontent\.com/{re.escape(owner_repo)}/main/(.+)", comfy["Icon"])
    assert icon and (REPO / icon.group(1)).is_file(), comfy["Icon"]
    assert comfy["PublisherId"] and comfy["DisplayName"] == "SemCache" and comfy["requires-comfyui"] == ">=0.3.75"
    if "OWNER" in repository:  # the placeholder must be explained where a publisher looks
        assert "OWNER" in (REPO / "README.md").read_text()


def test_unpacked_zip_loads_with_comfyuis_loader(packed, tmp_path):
    """A fresh custom_nodes/semcache from the zip, loaded by nodes.load_custom_node (in-process);
    ComfyUI's registries are restored afterwards."""
    bootstrap()
    import nodes

    assert Path(nodes.__file__).resolve().parent == COMFY_DIR
    target = tmp_path / "custom_nodes" / "semcache"
    with zipfile.ZipFile(packed["zip"]) as z:
        z.extractall(target)
    registries = (nodes.NODE_CLASS_MAPPINGS, nodes.NODE_DISPLAY_NAME_MAPPINGS, nodes.EXTENSION_WEB_DIRS,
                  nodes.LOADED_MODULE_DIRS)  # fmt: skip
    saved = [dict(r) for r in registries]
    modules_before = set(sys.modules)
    try:
        loaded = asyncio.run(nodes.load_custom_node(str(target), ignore=set(), module_parent="custom_nodes"))
        assert loaded is True
        for node_id in NODE_IDS:
            cls = nodes.NODE_CLASS_MAPPINGS[node_id]
            assert Path(sys.modules[cls.__module__].__file__).resolve().is_relative_to(target.resolve()), node_id
        assert nodes.NODE_DISPLAY_NAME_MAPPINGS["SemCacheCompare"] == "Compare Videos"
        web = Path(nodes.EXTENSION_WEB_DIRS["semcache"]).resolve()
        assert web == (target / "web").resolve() and (web / "semcache_stats.js").is_file()
        assert all((web / "docs" / f"{node_id}.md").is_file() for node_id in NODE_IDS)
    finally:
        for registry, content in zip(registries, saved):
            registry.clear()
            registry.update(content)
        for name in set(sys.modules) - modules_before:
            file = getattr(sys.modules[name], "__file__", None)
            if file and Path(file).resolve().is_relative_to(tmp_path.resolve()):
                del sys.modules[name]
