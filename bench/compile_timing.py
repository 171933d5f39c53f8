"""torch.compile (inductor) with and without SemCache: a computed step's time, first-run compile time.

  .venv/bin/python bench/compile_timing.py            # tiny random Wan, CPU inductor, ~minutes
  .venv/bin/python bench/compile_timing.py --placement blocks   # KJNodes-style per-block compile

Three models on the same random Wan (the UNETLoader path), each sampled `--runs` times with a
new prompt per run: eager, compile alone (core TorchCompileModel's `set_torch_compile_wrapper`,
inductor) and compile + SemCache. SemCache runs at threshold 0 here, so every step is computed
and the step times compare like with like; one more run at `--threshold` shows the skipping
under compile. A step's time is the process CPU time of one CALC_COND_BATCH call (outside the
compiled region, so timing does not add graph breaks), median over the steps of the warm runs;
the first run's extra time over a warm run is reported as compile time. Also printed: dynamo's
unique graph count and recompile-limit hits per model.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness.env import setup  # noqa: E402
from harness.realscale import load_wan  # noqa: E402

SHAPE = dict(dim=256, ffn_dim=512, num_heads=2, num_layers=4, in_dim=16, out_dim=16, text_dim=4096)


class LimitHits(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "recompile_limit" in record.getMessage():
            self.count += 1


def timed(model: Any, times: list[float]) -> Any:
    import comfy.patcher_extension as pe

    def wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return executor(*args, **kwargs)
        finally:
            times.append(time.process_time() - start)

    m = model.clone()
    m.add_wrapper_with_key(pe.WrappersMP.CALC_COND_BATCH, "bench_timing", wrapper)
    return m


def run_series(name: str, model: Any, args: argparse.Namespace, hits: LimitHits) -> dict:
    import torch._dynamo
    from sampling import cond, latent, sample

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    hits.count = 0
    lat = latent((1, 16, args.frames, args.size, args.size))
    walls, step_times = [], []
    for r in range(args.runs):
        times: list[float] = []
        start = time.process_time()
        sample(timed(model, times), lat, steps=args.steps, cfg=5.0, positive=cond(100 + r))
        walls.append(time.process_time() - start)
        if r > 0:
            step_times.extend(times)
    warm = statistics.median(walls[1:]) if len(walls) > 1 else walls[0]
    row = dict(
        name=name,
        step_s=statistics.median(step_times) if step_times else float("nan"),
        first_run_extra_s=walls[0] - warm,
        graphs=int(torch._dynamo.utils.counters["stats"]["unique_graphs"]),
        limit_hits=hits.count,
    )
    print(
        f"{name:<22} computed step {row['step_s'] * 1000:8.1f} ms   first run +{row['first_run_extra_s']:6.1f} s"
        f"   graphs {row['graphs']:3d}   recompile-limit hits {row['limit_hits']}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placement", choices=["whole", "blocks"], default="whole")
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--threshold", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    setup(threads=args.threads)
    from comfy_api.torch_helpers import set_torch_compile_wrapper

    from semcache_pack.semcache_core.comfy_glue import latest_stats, patch_model
    from semcache_pack.semcache_core.config import SemCacheConfig

    hits = LimitHits()
    logging.getLogger("torch._dynamo").addHandler(hits)
    base = load_wan(SHAPE)
    keys = None
    if args.placement == "blocks":
        keys = [f"diffusion_model.blocks.{i}" for i in range(SHAPE["num_layers"])]

    def compiled(model: Any) -> Any:
        m = model.clone()
        set_torch_compile_wrapper(m, backend=args.backend, keys=keys)
        return m

    print(
        f"torch {torch.__version__}, {args.backend} ({args.placement}), Wan dim {SHAPE['dim']} x {SHAPE['num_layers']} "
        f"layers, latent {args.frames}x{args.size}x{args.size}, {args.steps} steps, cfg 5, {args.runs} runs, "
        f"{torch.get_num_threads()} thread(s)",
        flush=True,
    )
    rows = [
        run_series("eager", base, args, hits),
        run_series("compile", compiled(base), args, hits),
        run_series("compile + SemCache", patch_model(compiled(base), SemCacheConfig(threshold_scale=0.0)), args, hits),
    ]
    print("  (first-run times after the first compiled model profit from inductor's on-disk graph cache)")
    ratio = rows[2]["step_s"] / rows[1]["step_s"]
    print(f"compile + SemCache / compile, computed step: {ratio:.3f} (target <= 1.10)")
    skipping = patch_model(compiled(base), SemCacheConfig(threshold_scale=args.threshold, min_steps=4))
    run_series(f"compile + SemCache {args.threshold:g}", skipping, args, hits)
    stats = latest_stats(skipping)
    print(f"  last run: {stats.summary_line()}")


if __name__ == "__main__":
    main()
