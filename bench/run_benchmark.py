"""SemCache vs ComfyUI's EasyCache and LazyCache on the trained proxy Wan 2.1 T2V model.

Every sample runs through ComfyUI's real sampler (comfy.sample.sample = the KSampler path) with
the MODEL patched exactly as each method's node does, at ComfyUI's Wan 2.1 T2V workflow settings
(30 steps, cfg 6, uni_pc, simple, shift 8) on 9 latent frames of 8x8. For each prompt the
uncached sample is the reference; every configuration is compared with it on the same seed.

  .venv/bin/python bench/run_benchmark.py            # full run -> bench/results/ (~20 min on 2 CPU cores)
  .venv/bin/python bench/run_benchmark.py --quick    # 2 prompts x 5 configs -> bench/out/quick/ (< 3 min)
  .venv/bin/python bench/run_benchmark.py --report-only --out bench/results   # redo tables/plot from the CSV

Writes samples.csv (one row per prompt x configuration), summary.csv (per configuration),
pareto.png, frames.png (uncached vs each method's default) and benchmark.md into --out.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import platform
import sys
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import suites  # noqa: E402
from harness.aggregate import by_config  # noqa: E402
from harness.env import PROXY_CHECKPOINT, load_model, setup  # noqa: E402
from harness.methods import UNCACHED  # noqa: E402
from harness.plots import frames_grid, pareto  # noqa: E402
from harness.prompts import NEUTRAL_PROMPTS, PROMPTS, QUICK_PROMPTS  # noqa: E402
from harness.provenance import engine_version  # noqa: E402
from harness.report import markdown  # noqa: E402
from harness.runner import SamplingSetup, row, run_method, sample  # noqa: E402


def read_rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(out: Path, rows: list[dict], header: list[str]) -> None:
    write_csv(out / "samples.csv", rows)
    summaries = by_config(rows)
    write_csv(out / "summary.csv", [dataclasses.asdict(s) for s in summaries])
    pareto(summaries, out / "pareto.png")
    (out / "benchmark.md").write_text(markdown(rows, header))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 prompts x 5 configurations (< 3 min)")
    parser.add_argument("--out", type=Path, help="output folder (default bench/results, or bench/out/quick)")
    parser.add_argument("--checkpoint", type=Path, default=PROXY_CHECKPOINT)
    parser.add_argument("--steps", type=int, default=SamplingSetup.steps)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable timings)")
    parser.add_argument("--with-neutral", action="store_true", help="add the two neutral-motion prompts")
    parser.add_argument("--report-only", action="store_true", help="rebuild tables and plot from --out/samples.csv")
    args = parser.parse_args()
    out: Path = (args.out or (BENCH / "out" / "quick" if args.quick else BENCH / "results")).resolve()
    out.mkdir(parents=True, exist_ok=True)

    if args.report_only:
        rows = read_rows(out / "samples.csv")
        header = (out / "benchmark.md").read_text().split("\n## ")[0].splitlines() if (out / "benchmark.md").exists() else []
        write_outputs(out, rows, header)
        print(f"[bench] rebuilt {out}/benchmark.md, summary.csv, pareto.png from {len(rows)} rows")
        return 0

    started = time.monotonic()
    pack = setup(threads=args.threads)
    model = load_model(args.checkpoint)
    prompts = QUICK_PROMPTS if args.quick else PROMPTS + (NEUTRAL_PROMPTS if args.with_neutral else [])
    methods = suites.quick() if args.quick else suites.full()
    sampling = SamplingSetup(steps=args.steps)
    print(f"[bench] {len(prompts)} prompts x {len(methods)} configurations, {sampling}", flush=True)
    sample(model, dataclasses.replace(prompts[0], seed=0), dataclasses.replace(sampling, steps=3))  # warm-up

    rows: list[dict] = []
    shown = [m for m in methods if m is UNCACHED or m.tag == "default"]
    clips: dict[str, list] = {m.label: [] for m in shown}
    for prompt in prompts:  # prompts outer, methods inner: slow drifts of machine load hit all methods alike
        ref = run_method(model, pack, UNCACHED, prompt, sampling)
        for method in methods:
            result = ref if method is UNCACHED else run_method(model, pack, method, prompt, sampling)
            rows.append(row(method, prompt, result, ref))
            if method in shown:
                clips[method.label].append(result.video)
            r = rows[-1]
            print(f"[bench] {prompt.motion_class:>7} | {method.label:<28} skipped {r['skipped_steps']:>2} "
                  f"work {r['work_speedup']:.2f}x cpu {r['cpu_speedup']:.2f}x PSNR {r['psnr']:.2f} "
                  f"SSIM {r['ssim']:.4f} motion {r['motion_ratio']:.3f}  {r['pattern']}", flush=True)
        write_csv(out / "samples.csv", rows)  # partial results survive an interruption

    minutes = (time.monotonic() - started) / 60
    header = [
        "# SemCache benchmark on the proxy Wan 2.1 T2V model" + (" (quick subset)" if args.quick else ""),
        "",
        f"Generated by `bench/run_benchmark.py{' --quick' if args.quick else ''}` in {minutes:.1f} min on "
        f"{platform.machine()} CPU ({torch.get_num_threads()} torch thread), torch {torch.__version__}. "
        f"Checkpoint `{args.checkpoint.name}` (trained by `bench/proxy/train.py`), loaded with "
        "`comfy.sd.load_diffusion_model`; sampling through `comfy.sample.sample` with "
        f"{sampling.steps} steps, cfg {sampling.cfg}, {sampling.sampler}/{sampling.scheduler}, shift 8, "
        f"latent 16x{sampling.frames}x{sampling.height}x{sampling.width} ({sampling.frames} frames of "
        f"{sampling.height * 2}x{sampling.width * 2} px after the proxy codec); {len(prompts)} prompts "
        "(static / dynamic, and neutral with --with-neutral; one fixed seed each), negative prompt empty. "
        f"Engine: git {engine_version()}.",
        "",
        "- **compute speedup**: transformer block work of the uncached run / block work with the method, "
        "counted by forward hooks on the real blocks (what decides speed at real scale, where the blocks are "
        "~all of a step; see `realscale.md`).",
        "- **CPU-time / wall speedup**: measured on this proxy, where a step is so small that the 512-token "
        "text projection and ComfyUI's per-step overhead are a large share; not a real-scale number.",
        "- **PSNR / SSIM**: decoded RGB clip vs the uncached clip of the same prompt and seed. **motion ratio**: "
        "frame-difference energy vs uncached (1 = same motion, < 1 frozen). **motion error**: relative L2 error "
        "of the frame differences.",
        "- Speedups are ratios of totals over the prompts; fidelity numbers are means over the prompts.",
    ]
    write_outputs(out, rows, header)
    frames_grid(clips, [f"{p.text} [{p.motion_class}]" for p in prompts], out / "frames.png")
    print(f"[bench] done in {minutes:.1f} min -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
