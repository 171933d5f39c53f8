"""Target mode and the error check on the tiny random Wan of the tests (issue 19's table).

    .venv/bin/python bench/target_tiny.py [input_scaled|self_calibrated]

For targets 1.5 / 2 / 2.5 / 3 at 20 / 30 / 50 steps with uni_pc and euler: the compute speedup
achieved (transformer block work counted by hooks on the real blocks), the most the limits allow,
and the error check's measured / estimated ratio (median and range over the run). A markdown
table on stdout; about 5 min on one CPU thread.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))


def main(error_model: str = "input_scaled") -> None:
    from comfy_env import bootstrap, load_pack

    bootstrap()
    load_pack()
    from sampling import BlockCounter, latent, sample
    from semcache_pack.semcache_core.comfy_glue import latest_stats, patch_model
    from semcache_pack.semcache_core.config import SemCacheConfig
    from semcache_pack.semcache_core.error_check import ratio
    from tiny_models import build_wan, load

    with tempfile.TemporaryDirectory() as tmp:
        base = load(build_wan("t2v", Path(tmp) / "tiny_t2v.safetensors"))
        print(f"error_model = {error_model}\n")
        print("| steps | sampler | target | achieved | reachable | checks | measured / estimated: median (range) |")
        print("|---|---|---|---|---|---|---|")
        for steps in (20, 30, 50):
            for sampler in ("uni_pc", "euler"):
                for target in (1.5, 2.0, 2.5, 3.0):
                    model = patch_model(base, SemCacheConfig(target_speedup=target, error_model=error_model))
                    with BlockCounter(model) as counter:
                        sample(model, latent((1, 16, 3, 8, 8)), steps=steps, sampler=sampler, callback=counter.callback)
                    run = latest_stats(model)
                    achieved = counter.n_blocks * len(counter.per_step) / counter.calls
                    ratios = [ratio(r.check_measured, r.check_estimated) for r in run.records]
                    ratios = [r for r in ratios if r is not None]
                    text = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "-"
                    print(f"| {steps} | {sampler} | {target:g} | {achieved:.3f} | {run.target_reachable:.2f} "
                          f"| {len(ratios)} | {text} |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:2])
