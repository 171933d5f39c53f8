"""Real-scale timing on a GPU: Wan-1.3B-shaped blocks at 81 frames 480x832, one prepared check.

  bash bench/gpu_check.sh                 # CUDA: -> bench/results/gpu_check.{md,csv} (<= 8 min)
  bash bench/gpu_check.sh --out DIR       # anywhere else; without CUDA it runs at reduced size on CPU

A random-weight model with Wan 2.1 1.3B's shapes (30 blocks, dim 1536), built in memory in
ComfyUI's key layout, loaded by `comfy.sd.load_diffusion_model_state_dict` in bf16 and sampled by
`comfy.sample.sample` at cfg 6 (cond + uncond batched in one evaluation) with ComfyUI's own
attention. Latent 16x21x60x104 = 81 frames of 480x832 = 32,760 video tokens per row. Measured
(wall clock after a device synchronisation, medians): a full step, a SemCache-skipped step,
SemCache's bookkeeping on a computed step, TMM-partial steps at reuse 0.2 and 0.5; and the wall
speedup of a 30-step run with SemCache's default skip pattern on the benchmark (mean skip count of
`semcache 0.2 [default]` at 30 steps uni_pc in bench/results/samples.csv), projected from those
measured step costs. Nothing is downloaded. Without CUDA: a 4-layer model at 3x8x8 (8x8x8 for
TMM) on the CPU, so the suite can check that the script runs; those numbers mean nothing.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from pathlib import Path
from statistics import mean

import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

GPU_LATENT = (21, 60, 104)  # 81 frames of 480x832 -> 21 x 60 x 104 latent, 32,760 tokens
CPU_LATENT, CPU_TMM_LATENT = (3, 8, 8), (8, 8, 8)
TINY = dict(dim=256, ffn_dim=512, num_heads=2, num_layers=4, in_dim=16, out_dim=16, text_dim=4096)
RUN_STEPS = 30
DEFAULT_LABEL = "semcache 0.2 [default]"


def default_skips(samples_csv: Path, steps: int = RUN_STEPS) -> tuple[float, str]:
    """Mean skipped steps of SemCache's default at `steps` uni_pc in a benchmark run, and where from."""
    if samples_csv.exists():
        with samples_csv.open() as f:
            picked = [r for r in csv.DictReader(f) if r["method"] == DEFAULT_LABEL and int(r["steps"]) == steps
                      and r.get("sampler", "uni_pc") == "uni_pc"]
        if picked:
            return mean(float(r["skipped_steps"]) for r in picked), f"{samples_csv.relative_to(BENCH.parent)} " \
                f"({len(picked)} prompts)"
    return 14.0, "no benchmark rows found: 14 of 30 assumed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="default: bench/results on CUDA, bench/out/gpu_check on CPU")
    parser.add_argument("--cpu", action="store_true", help="reduced size on the CPU even if CUDA is present")
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu
    out = (args.out or (BENCH / "results" if cuda else BENCH / "out" / "gpu_check")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    from harness.env import setup
    from harness.provenance import engine_version
    from harness.realscale import WAN_1_3B, load_wan, measure, measure_tmm, summary, tmm_summary, use_cuda_clock

    pack = setup(threads=0 if cuda else 1, cpu=not cuda)
    if cuda:
        use_cuda_clock()
    shape, latent, tmm_latent = (WAN_1_3B, GPU_LATENT, GPU_LATENT) if cuda else (TINY, CPU_LATENT, CPU_TMM_LATENT)
    model = load_wan(shape, dtype=torch.bfloat16 if cuda else None)
    dm = model.model.diffusion_model
    device = torch.cuda.get_device_name() if cuda else f"{platform.machine()} CPU (reduced size: not a real-scale number)"
    print(f"[gpu_check] {device}: {sum(p.numel() for p in dm.parameters()) / 1e9:.2f} B params, "
          f"dtype {next(dm.parameters()).dtype}, built in {time.monotonic() - started:.0f} s", flush=True)

    step = summary(measure(model, pack, latent))
    print(f"[gpu_check] full {step['full_step_s']:.3f} s, skipped {step['skipped_step_s']:.4f} s, overhead "
          f"{step['overhead_ms']:.1f} ms", flush=True)
    tmm = {}
    for reuse in (0.2, 0.5):
        tmm[reuse] = tmm_summary(measure_tmm(model, pack, tmm_latent, reuse_ratio=reuse))
        print(f"[gpu_check] TMM reuse {reuse}: partial {tmm[reuse]['partial_step_s']:.3f} s = "
              f"{tmm[reuse]['partial_step_fraction']:.3f} of full", flush=True)
    skipped, source = default_skips(BENCH / "results" / "samples.csv")
    full, skip, over = step["full_step_s"], step["skipped_step_s"], step["overhead_ms"] / 1000
    computed = RUN_STEPS - skipped
    uncached_run, semcache_run = RUN_STEPS * full, computed * (full + over) + skipped * skip
    minutes = (time.monotonic() - started) / 60

    rows = [{"quantity": k, "value": v} for k, v in {
        "tokens": step["tokens"], "full_step_s": full, "skipped_step_s": skip,
        "skipped_pct_of_full": step["skipped_pct_of_full"], "semcache_overhead_ms": step["overhead_ms"],
        "semcache_overhead_pct_of_full": step["overhead_pct_of_full"],
        "tmm_0.2_partial_step_s": tmm[0.2]["partial_step_s"], "tmm_0.2_fraction": tmm[0.2]["partial_step_fraction"],
        "tmm_0.5_partial_step_s": tmm[0.5]["partial_step_s"], "tmm_0.5_fraction": tmm[0.5]["partial_step_fraction"],
        "default_skipped_of_30": skipped, "run30_uncached_s": uncached_run, "run30_semcache_s": semcache_run,
        "run30_wall_speedup": uncached_run / semcache_run}.items()]
    with (out / "gpu_check.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["quantity", "value"])
        writer.writeheader()
        writer.writerows(rows)
    frames, height, width = latent
    lines = [
        f"# Real-scale timing on {'a GPU' if cuda else 'the CPU at reduced size (a smoke run, not real scale)'}",
        "",
        f"`bash bench/gpu_check.sh` in {minutes:.1f} min on {device}, torch {torch.__version__}; Wan-shaped model "
        f"(dim {shape['dim']}, {shape['num_layers']} blocks, random weights), {next(dm.parameters()).dtype}, latent "
        f"16x{frames}x{height}x{width} ({step['tokens']} video tokens per row), cfg 6 (cond + uncond batched), "
        f"ComfyUI's attention, `comfy.sample.sample`. Engine: git {engine_version()}. Times: "
        f"{'wall clock after torch.cuda.synchronize' if cuda else 'CPU time of this process'}, medians.",
        "",
        "| | time | vs full step |",
        "|---|---:|---:|",
        f"| full step | {full:.3f} s | 1 |",
        f"| SemCache-skipped step | {skip:.4f} s | {skip / full:.3f} |",
        f"| SemCache overhead on a computed step | {step['overhead_ms']:.1f} ms | {over / full:.4f} |",
        f"| TMM-partial step, reuse 0.2 (computed tokens {tmm[0.2]['computed_token_fraction']:.2f}) | "
        f"{tmm[0.2]['partial_step_s']:.3f} s | {tmm[0.2]['partial_step_fraction']:.3f} |",
        f"| TMM-partial step, reuse 0.5 (computed tokens {tmm[0.5]['computed_token_fraction']:.2f}) | "
        f"{tmm[0.5]['partial_step_s']:.3f} s | {tmm[0.5]['partial_step_fraction']:.3f} |",
        "",
        f"30-step run at SemCache's default skip pattern ({skipped:.1f} of 30 skipped, from {source}), projected "
        f"from the measured step costs: uncached {uncached_run:.1f} s, SemCache {semcache_run:.1f} s, **wall speedup "
        f"{uncached_run / semcache_run:.2f}x**.",
    ]
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")
    print(f"[gpu_check] done in {minutes:.1f} min -> {out}/gpu_check.md", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
