"""Shared fixtures: a real ComfyUI, the pack loaded as a package, tiny Wan checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after ComfyUI: semcache_core for unit tests


@pytest.fixture(scope="session")
def comfy():
    from comfy_env import bootstrap

    bootstrap()
    import comfy.sample

    return comfy


@pytest.fixture(scope="session")
def pack(comfy):
    from comfy_env import load_pack

    return load_pack()


@pytest.fixture(scope="session")
def ckpt_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_ckpts")


@pytest.fixture(scope="session")
def wan_paths(comfy, ckpt_dir):
    from tiny_models import WAN_VARIANTS, build_wan

    return {name: build_wan(name, ckpt_dir / f"tiny_wan_{name}.safetensors") for name in WAN_VARIANTS}


@pytest.fixture(scope="session")
def wan_models(wan_paths):
    from tiny_models import load

    return {name: load(path) for name, path in wan_paths.items()}
