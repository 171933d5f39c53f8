"""Where a run really keeps its residuals: the devices of the residual-shaped tensors its live
RunState holds, looked up mid-run (from a sampler callback) by scanning what is alive.

Used in-process by tests/test_skipping.py (CPU) and, when CUDA is present, as a script in a fresh
process that lets ComfyUI use the GPU:
  python tests/cache_device_run.py CKPT  ->  JSON {cache_device: [devices], "model": device}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def residual_devices(model, cache_device: str, steps: int = 12) -> tuple[list[str], str]:
    """Devices of the full-size (rows x tokens x dim) tensors held by the run state at step 8."""
    from leaks import cached_tensors
    from sampling import latent, sample
    from semcache_pack.semcache_core.comfy_glue import patch_model
    from semcache_pack.semcache_core.config import SemCacheConfig

    patched = patch_model(model, SemCacheConfig(threshold_scale=5.0, start_percent=0.0, min_steps=1,
                                                cache_device=cache_device))
    dm = patched.get_model_object("diffusion_model")
    lat = (1, 16, 3, 8, 8)
    full = (1, lat[2] * (lat[3] // 2) * (lat[4] // 2), dm.dim)  # one stream's residual
    seen: list[str] = []

    def look(step, x0, x, total):
        if step == 8:
            seen.extend(str(t.device) for t in cached_tensors() if tuple(t.shape) == full)

    sample(patched, latent(lat), steps=steps, callback=look)
    return seen, str(next(dm.parameters()).device)


def main() -> None:
    import torch

    from comfy_env import bootstrap, load_pack

    bootstrap(cpu=not torch.cuda.is_available())
    load_pack()
    from tiny_models import load

    model = load(Path(sys.argv[1]))
    result = {}
    for device in ("model_device", "cpu"):
        result[device], result["model"] = residual_devices(model, device)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
