"""The fidelity metrics, re-exported from the engine (`semcache_core/metrics.py`), their one home.

The pack's Compare Videos node uses the same code, so the benchmark's numbers and the node's
mean the same thing. Kept as a module of its own so `from harness.metrics import ...` and
`from .metrics import ...` go on working. The engine file is loaded by path (it imports torch
only), so neither the repo root (it holds a `nodes/` folder that would shadow ComfyUI's) nor
ComfyUI has to be on sys.path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ENGINE_METRICS = Path(__file__).resolve().parents[2] / "semcache_core" / "metrics.py"
_NAME = "semcache_engine_metrics"


def _engine():
    module = sys.modules.get(_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(_NAME, ENGINE_METRICS)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module
        spec.loader.exec_module(module)
    return module


_m = _engine()
SSIM_WINDOW = _m.SSIM_WINDOW
_C1, _C2 = _m._C1, _m._C2
_gaussian_window = _m._gaussian_window
fidelity = _m.fidelity
frame_diffs = _m.frame_diffs
motion_energy = _m.motion_energy
motion_error = _m.motion_error
motion_ratio = _m.motion_ratio
psnr = _m.psnr
psnr_per_frame = _m.psnr_per_frame
ssim = _m.ssim
video_from_images = _m.video_from_images

__all__ = [
    "ENGINE_METRICS", "SSIM_WINDOW", "fidelity", "frame_diffs", "motion_energy", "motion_error", "motion_ratio",
    "psnr", "psnr_per_frame", "ssim", "video_from_images",
]  # fmt: skip
