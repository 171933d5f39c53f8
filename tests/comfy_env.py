"""Bootstraps a real ComfyUI for the tests (DESIGN §6) and loads the pack as a package.

The ComfyUI checkout is COMFYUI_DIR, else the 0.3.75 copy scripts/setup_env.sh extracted.
ComfyUI goes first on sys.path (it owns the top-level `nodes` module); the pack is imported
under its own package name and never put on sys.path ahead of ComfyUI.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMFY_DIR = Path(os.environ.get("COMFYUI_DIR") or REPO / ".comfyui" / "ComfyUI-0.3.75").resolve()
PACK_NAME = "semcache_pack"


_CPU: bool | None = None


def bootstrap(cpu: bool | None = None) -> Path:
    """ComfyUI on sys.path, on the CPU; `cpu=False` at the first call lets it use a GPU
    (bench/gpu_check.py). Later calls without `cpu` keep the first call's choice."""
    global _CPU
    if cpu is not None or _CPU is None:
        _CPU = True if cpu is None else cpu
    if not (COMFY_DIR / "comfy").is_dir():
        raise RuntimeError(f"No ComfyUI at {COMFY_DIR}: run scripts/setup_env.sh or set COMFYUI_DIR")
    if str(COMFY_DIR) not in sys.path:
        sys.path.insert(0, str(COMFY_DIR))
    import comfy.cli_args

    comfy.cli_args.args.cpu = _CPU  # before comfy.model_management is imported
    return COMFY_DIR


def load_pack():
    """The pack imported as a package (relative imports work; ComfyUI keeps `nodes`)."""
    bootstrap()
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module
