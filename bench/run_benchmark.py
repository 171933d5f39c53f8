"""SemCache vs ComfyUI's EasyCache and LazyCache on the trained proxy Wan 2.1 T2V model.

Every sample runs through ComfyUI's real sampler (comfy.sample.sample = the KSampler path) with
the MODEL patched exactly as each method's node does, at ComfyUI's Wan 2.1 T2V workflow settings
(30 steps, cfg 6, uni_pc, simple, shift 8) on 9 latent frames of 8x8, and every node default
also on 20/30/50 steps with euler and uni_pc. For each prompt the uncached sample is the
reference; every configuration is compared with it on the same seed.

  .venv/bin/python bench/run_benchmark.py            # full run -> bench/results/ (~60 min on 2 CPU cores)
  .venv/bin/python bench/run_benchmark.py --quick    # 2 prompts x 5 configs -> bench/out/quick/ (< 3 min)
  .venv/bin/python bench/run_benchmark.py --report-only --out bench/results   # redo tables/plot from the CSV
  .venv/bin/python bench/run_benchmark.py --realscale [realscale_timing.py options]   # Wan-1.3B-shaped timings

Writes samples.csv (one row per prompt x configuration), schedules.csv (node defaults per
schedule), summary.csv (per configuration), pareto.png, frames.png (uncached vs each method's
default), contact_sheet.png (the uncached clips) and benchmark.md into --out.
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
from harness.plots import contact_sheet, frames_grid, pareto  # noqa: E402
from harness.prompts import NEUTRAL_PROMPTS, PROMPTS, QUICK_PROMPTS  # noqa: E402
from harness.provenance import engine_version  # noqa: E402
from harness.readme import update_readme  # noqa: E402
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


def write_outputs(out: Path, rows: list[dict], schedule_rows: list[dict], header: list[str]) -> None:
    write_csv(out / "samples.csv", rows)
    if schedule_rows:
        write_csv(out / "schedules.csv", schedule_rows)
    summaries = by_config(rows)
    write_csv(out / "summary.csv", [dataclasses.asdict(s) for s in summaries])
    pareto(summaries, out / "pareto.png")
    text = markdown(rows, header, schedule_rows)
    (out / "benchmark.md").write_text(text)
    if out == (BENCH / "results").resolve():  # the committed run: the README quotes its tables
        written = update_readme(BENCH.parent / "README.md", text)
        print(f"[bench] README blocks updated: {', '.join(written) or 'none'}", flush=True)


def run_prompt(model, pack, prompt, methods, sampling, repeats: int, timed: set) -> tuple[list[dict], dict]:
    """Every method on one prompt (uncached first, it is the reference); methods in `timed` are
    run `repeats` times in total, interleaved, and their times are the medians."""
    results = {UNCACHED: run_method(model, pack, UNCACHED, prompt, sampling)}
    for method in methods:
        if method is not UNCACHED:
            results[method] = run_method(model, pack, method, prompt, sampling)
    for _ in range(repeats - 1):
        for method in methods:
            if method in timed:
                results[method].add_timing(run_method(model, pack, method, prompt, sampling))
    ref = results[UNCACHED]
    rows = [row(m, prompt, results[m], ref, sampling) for m in methods]
    for r in rows:
        print(f"[bench] {sampling.steps:>2} {sampling.sampler:<6} {r['motion_class']:>7} | {r['method']:<32} "
              f"skipped {r['skipped_steps']:>2} work {r['work_speedup']:.2f}x cpu {r['cpu_speedup']:.2f}x "
              f"PSNR {r['psnr']:.2f} SSIM {r['ssim']:.4f} motion {r['motion_ratio']:.3f}  {r['pattern']}", flush=True)
    return rows, {m.label: results[m].video for m in methods}


def main() -> int:
    if "--realscale" in sys.argv[1:]:  # the same command times Wan-1.3B-shaped blocks
        import realscale_timing

        sys.argv = [str(BENCH / "realscale_timing.py")] + [a for a in sys.argv[1:] if a != "--realscale"]
        return realscale_timing.main()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 prompts x 5 configurations (< 3 min)")
    parser.add_argument("--out", type=Path, help="output folder (default bench/results, or bench/out/quick)")
    parser.add_argument("--checkpoint", type=Path, default=PROXY_CHECKPOINT)
    parser.add_argument("--steps", type=int, default=suites.MAIN_SCHEDULE[0])
    parser.add_argument("--sampler", default=suites.MAIN_SCHEDULE[1])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable timings)")
    parser.add_argument("--repeats", type=int, help="runs per timed sample (uncached and node defaults); "
                        "times are medians (default 3, 1 with --quick)")
    parser.add_argument("--no-schedules", action="store_true", help="skip the 20/30/50-step x euler/uni_pc part")
    parser.add_argument("--with-neutral", action="store_true", help="add the two neutral-motion prompts")
    parser.add_argument("--report-only", action="store_true", help="rebuild tables and plot from --out/samples.csv")
    parser.add_argument("--realscale", action="store_true", help="run realscale_timing.py instead (its options follow)")
    args = parser.parse_args()
    out: Path = (args.out or (BENCH / "out" / "quick" if args.quick else BENCH / "results")).resolve()
    out.mkdir(parents=True, exist_ok=True)

    if args.report_only:
        rows = read_rows(out / "samples.csv")
        schedule_rows = read_rows(out / "schedules.csv") if (out / "schedules.csv").exists() else []
        header = (out / "benchmark.md").read_text().split("\n## ")[0].splitlines() if (out / "benchmark.md").exists() else []
        write_outputs(out, rows, schedule_rows, header)
        print(f"[bench] rebuilt {out}/benchmark.md, summary.csv, pareto.png from {len(rows)} rows")
        return 0

    started = time.monotonic()
    pack = setup(threads=args.threads)
    model = load_model(args.checkpoint)
    prompts = QUICK_PROMPTS if args.quick else PROMPTS + (NEUTRAL_PROMPTS if args.with_neutral else [])
    methods = suites.quick() if args.quick else suites.full()
    repeats = args.repeats or (1 if args.quick else 3)
    timed = {UNCACHED} | {m for m in methods if m.tag == "default"}
    sampling = SamplingSetup(steps=args.steps, sampler=args.sampler)
    schedules = [] if args.quick or args.no_schedules else [
        SamplingSetup(steps=n, sampler=name) for n, name in suites.SCHEDULES if (n, name) != (args.steps, args.sampler)]
    print(f"[bench] {len(prompts)} prompts x {len(methods)} configurations, {sampling}, {repeats} timing repeats; "
          f"then {len(schedules)} more schedules", flush=True)
    sample(model, dataclasses.replace(prompts[0], seed=0), dataclasses.replace(sampling, steps=3))  # warm-up

    rows: list[dict] = []
    shown = [m for m in methods if m is UNCACHED or m.tag == "default"]
    clips: dict[str, list] = {m.label: [] for m in shown}
    for prompt in prompts:  # prompts outer, methods inner: slow drifts of machine load hit all methods alike
        prompt_rows, videos = run_prompt(model, pack, prompt, methods, sampling, repeats, timed)
        rows += prompt_rows
        for m in shown:
            clips[m.label].append(videos[m.label])
        write_csv(out / "samples.csv", rows)  # partial results survive an interruption
    schedule_rows: list[dict] = []
    for schedule in schedules:
        for prompt in prompts:
            schedule_rows += run_prompt(model, pack, prompt, suites.schedules(), schedule, 1, set())[0]
        write_csv(out / "schedules.csv", schedule_rows)

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
        f"(static / dynamic, {sum(p.held_out for p in prompts)} of them combinations held out of training; "
        "neutral ones with --with-neutral; one fixed seed each), negative prompt empty. "
        f"Times of the uncached run and of each node default are medians of {repeats} interleaved runs. "
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
    write_outputs(out, rows, schedule_rows, header)
    labels = [f"{p.text} [{p.motion_class}{', held out' if p.held_out else ''}]" for p in prompts]
    frames_grid(clips, labels, out / "frames.png")
    contact_sheet(clips[UNCACHED.label], labels, out / "contact_sheet.png")
    print(f"[bench] done in {minutes:.1f} min -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
