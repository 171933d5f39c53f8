"""Runs one SemCache sampling in a fresh process and saves the latent (for leak tests).

usage: python fresh_run.py CKPT OUT.safetensors PROMPT_SEED HEIGHT WIDTH STEPS THRESHOLD [THREADS]

THREADS: torch's thread count, the caller's (an earlier test may have changed it in the caller's
process; another count sums in another order, which is not bit-identical).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from comfy_env import load_pack  # noqa: E402


def main() -> None:
    ckpt, out, prompt_seed, height, width, steps, threshold = sys.argv[1:8]
    if len(sys.argv) > 8:
        import torch

        torch.set_num_threads(int(sys.argv[8]))
    load_pack()
    from safetensors.torch import save_file

    from sampling import cond, latent, sample
    from semcache_pack.semcache_core.comfy_glue import patch_model
    from semcache_pack.semcache_core.config import SemCacheConfig
    from tiny_models import load

    model = patch_model(load(Path(ckpt)), SemCacheConfig(threshold_scale=float(threshold)))
    lat = latent((1, 16, 3, int(height), int(width)))
    result = sample(model, lat, steps=int(steps), positive=cond(int(prompt_seed)))
    save_file({"latent": result.contiguous()}, out)


if __name__ == "__main__":
    main()
