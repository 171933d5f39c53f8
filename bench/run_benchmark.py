"""SemCache vs every step cache users pick instead, and the limit, on the trained proxy Wan 2.1 T2V.

Every sample runs through ComfyUI's real sampler (comfy.sample.sample = the KSampler path) with
the MODEL patched exactly as each method's node does (peers: `harness/peers/`, written from
their papers on the same public hook points), at ComfyUI's Wan 2.1 T2V workflow settings (cfg 6,
simple, shift 8) on the proxy's latent (from its checkpoint metadata; 9x8x8 for older ones).
Each schedule (20/30/50 steps x euler/uni_pc) gets every method's threshold sweep; the main one
(30 steps uni_pc) adds ablations and TMM alone. For each prompt the uncached sample of the same
schedule and seed is the reference.

  .venv/bin/python bench/run_benchmark.py            # full run -> bench/results/ (resumes what is there)
  .venv/bin/python bench/run_benchmark.py --quick    # 2 prompts, 30 steps, every default -> bench/out/quick/
  .venv/bin/python bench/run_benchmark.py --plan --prompts 4 --sweep 3 --schedules 30:uni_pc,20:euler
                                                     # prints the run's size and estimated minutes, runs nothing
  .venv/bin/python bench/run_benchmark.py --report-only --out bench/results   # redo tables/plot from the CSV
  .venv/bin/python bench/run_benchmark.py --realscale [realscale_timing.py options]   # Wan-1.3B-shaped timings

Resumable: rows already in --out/samples.csv (same method label, prompt, seed, schedule) are
kept and not rerun; the uncached references and the default clips for the figures are kept in
--out/.resume/. `--fresh` starts over. Writes samples.csv, summary.csv (per schedule and
configuration), calibration.json (TeaCache / MagCache calibration), pareto.png, frames.png,
contact_sheet.png and benchmark.md into --out.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import bound, suites  # noqa: E402
from harness import target as target_report  # noqa: E402
from harness.aggregate import schedule_summaries  # noqa: E402
from harness.env import PROXY_CHECKPOINT, latent_shape, load_model, setup  # noqa: E402
from harness.methods import UNCACHED, Method, replay, run_method  # noqa: E402
from harness.peers import calibration  # noqa: E402
from harness.plots import calibration_plot, contact_sheet, frames_grid, pareto  # noqa: E402
from harness.progress import progress  # noqa: E402
from harness.prompts import NEUTRAL_PROMPTS, PROMPTS, QUICK_PROMPTS, TUNING_PROMPTS, BenchPrompt  # noqa: E402
from harness.provenance import checksum, engine_version  # noqa: E402
from harness.readme import update_readme  # noqa: E402
from harness.report import markdown  # noqa: E402
from harness.runner import Sample, SamplingSetup, row, sample  # noqa: E402


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)  # an interruption never leaves a half-written CSV


def row_key(r: dict) -> tuple:
    return (r["method"], r["prompt"], str(r["seed"]), str(r["steps"]), r["sampler"])


def pick_prompts(n: int | None, with_neutral: bool) -> list[BenchPrompt]:
    """The first `n` prompts, alternating static and dynamic so that any n stays balanced."""
    static = [p for p in PROMPTS if p.motion_class == "static"]
    dynamic = [p for p in PROMPTS if p.motion_class != "static"]
    ordered = [p for pair in zip(static, dynamic) for p in pair]
    ordered += [p for p in PROMPTS if p not in ordered]
    picked = ordered[: n or len(ordered)]
    return picked + (NEUTRAL_PROMPTS if with_neutral else [])


class Store:
    """What a resumed run needs besides the CSV: uncached references and the default clips."""

    def __init__(self, out: Path):
        self.dir = out / ".resume"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, kind: str, label: str, prompt: BenchPrompt, s: SamplingSetup) -> Path:
        safe = "".join(c if c.isalnum() else "_" for c in label)
        return self.dir / f"{kind}_{s.steps}_{s.sampler}_{s.frames}x{s.height}x{s.width}_{prompt.seed}_{safe}.pt"

    def load_ref(self, prompt: BenchPrompt, s: SamplingSetup) -> Sample | None:
        path = self._path("ref", "uncached", prompt, s)
        return torch.load(path, weights_only=False) if path.exists() else None

    def save_ref(self, prompt: BenchPrompt, s: SamplingSetup, ref: Sample) -> None:
        torch.save(ref, self._path("ref", "uncached", prompt, s))

    def save_video(self, label: str, prompt: BenchPrompt, s: SamplingSetup, video: torch.Tensor) -> None:
        torch.save(video, self._path("video", label, prompt, s))

    def load_video(self, label: str, prompt: BenchPrompt, s: SamplingSetup) -> torch.Tensor | None:
        path = self._path("video", label, prompt, s)
        return torch.load(path) if path.exists() else None


def log_row(r: dict) -> None:
    print(f"[bench] {r['steps']:>2} {r['sampler']:<6} {r['motion_class']:>7} | {r['method']:<32} "
          f"skipped {r['skipped_steps']:>2} work {r['work_speedup']:.2f}x cpu {r['cpu_speedup']:.2f}x "
          f"PSNR {r['psnr']:.2f} SSIM {r['ssim']:.4f} motion {r['motion_ratio']:.3f}  {r['pattern']}", flush=True)


def run_prompt(model, pack, prompt: BenchPrompt, methods: list[Method], sampling: SamplingSetup, repeats: int,
               timed: set, done: set, store: Store, keep_videos: set, split: str = "evaluation",
               previous: list[dict] | None = None, replays: bool = False) -> list[dict]:
    """The methods not yet done on one prompt and schedule. Methods in `timed` (and the uncached
    reference with them) run `repeats` times in total, interleaved; their times are medians. With
    `replays`, every whole-step pattern of this prompt and schedule not yet replayed is then re-run
    with plain residual reuse (the search bound's candidates; `harness/bound.py`)."""
    todo = [m for m in methods if m is not UNCACHED and (m.label, prompt.text, str(prompt.seed), str(sampling.steps),
                                                         sampling.sampler) not in done]
    ref_done = (UNCACHED.label, prompt.text, str(prompt.seed), str(sampling.steps), sampling.sampler) in done
    pending = replays and any(
        (replay(p).label, prompt.text, str(prompt.seed), str(sampling.steps), sampling.sampler) not in done
        for p in bound.replay_patterns(previous or [], prompt.text, sampling.steps, sampling.sampler))
    if not todo and ref_done and not pending:
        return []
    ref = store.load_ref(prompt, sampling)
    if ref is None:
        ref = run_method(model, pack, UNCACHED, prompt, sampling)
    results = {m: run_method(model, pack, m, prompt, sampling) for m in todo}
    timed_todo = [m for m in todo if m in timed]
    for _ in range(repeats - 1 if timed_todo or (UNCACHED in timed and not ref_done) else 0):
        if UNCACHED in timed and len(ref.walls) < repeats:
            ref.add_timing(run_method(model, pack, UNCACHED, prompt, sampling))
        for m in timed_todo:
            results[m].add_timing(run_method(model, pack, m, prompt, sampling))
    store.save_ref(prompt, sampling, ref)
    if UNCACHED.label in keep_videos:
        store.save_video(UNCACHED.label, prompt, sampling, ref.video)
    rows = [] if ref_done else [row(UNCACHED, prompt, ref, ref, sampling)]
    for m in todo:
        rows.append(row(m, prompt, results[m], ref, sampling))
        if m.label in keep_videos:
            store.save_video(m.label, prompt, sampling, results[m].video)
    for r in rows:
        r["split"] = split
    if replays:
        known = (previous or []) + rows
        patterns = bound.replay_patterns(known, prompt.text, sampling.steps, sampling.sampler)
        for pattern, sources in patterns.items():
            m = replay(pattern)
            if (m.label, prompt.text, str(prompt.seed), str(sampling.steps), sampling.sampler) in done:
                continue
            r = row(m, prompt, run_method(model, pack, m, prompt, sampling), ref, sampling)
            r.update(split=split, replay_of="; ".join(sources))
            rows.append(r)
    for r in rows:
        log_row(r)
    return rows


SCHEDULE_FIELDS = ("split", "method", "family", "tag", "prompt", "motion_class", "seed", "steps", "sampler", "pattern",
                   "decisions", "skipped_steps", "work_speedup", "psnr", "replay_of")


def previous_sessions(out: Path) -> list[dict]:
    """The sessions that wrote the rows a resumed run keeps (run.json; older files name only the last)."""
    path = out / "run.json"
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    if "sessions" in saved:
        return list(saved["sessions"])
    return [{"argv": saved.get("argv", []), "minutes": round(saved.get("minutes_this_session", 0.0), 1),
             "commit": saved.get("commit", "?"), "kept_rows": 0}]


def sessions_text(sessions: list[dict]) -> str:
    """Every session's command and time: the rows of a resumed run come from all of them."""
    parts = [f"`{' '.join(['bench/run_benchmark.py', *x['argv']])}` ({x['minutes']:.1f} min, git {x['commit']}"
             + (f", kept {x['kept_rows']} rows of the sessions before" if x.get("kept_rows") else "") + ")"
             for x in sessions]
    total = sum(x["minutes"] for x in sessions)
    return parts[0] if len(parts) == 1 else f"{len(parts)} sessions, {total:.1f} min in all: " + "; then ".join(parts)


def write_outputs(out: Path, rows: list[dict], header: list[str], main: tuple[int, str],
                  calibration_info: dict | None = None) -> None:
    from harness.aggregate import evaluation_rows

    write_csv(out / "samples.csv", rows)
    write_csv(out / "schedules.csv", [{k: r.get(k, "") for k in SCHEDULE_FIELDS} for r in rows])
    per_schedule = schedule_summaries(evaluation_rows(rows))
    write_csv(out / "summary.csv", [{"steps": k[0], "sampler": k[1], **dataclasses.asdict(s)}
                                    for k, summaries in per_schedule.items() for s in summaries])
    fronts = {k: bound.frontier([r for r in evaluation_rows(rows) if (int(r["steps"]), r["sampler"]) == k])
              for k in per_schedule}
    pareto(per_schedule, out / "pareto.png", main=main, bounds=fronts)
    if calibration_info is None and (out / "calibration.json").exists():
        calibration_info = json.loads((out / "calibration.json").read_text()).get("info")
    text = markdown(rows, header, main, calibration_info)
    section = target_report.markdown_section(evaluation_rows(rows))  # target mode and the error check (issue 19)
    if section:
        target_report.plot(evaluation_rows(rows), out / "target_vs_achieved.png")
        text = text.rstrip("\n") + "\n\n" + section
    (out / "benchmark.md").write_text(text)
    if out == (BENCH / "results").resolve():  # the committed run: the README quotes its tables
        written = update_readme(BENCH.parent / "README.md", text)
        print(f"[bench] README blocks updated: {', '.join(written) or 'none'}", flush=True)


def step_seconds(model, pack, prompt: BenchPrompt, sampling: SamplingSetup) -> float:
    """CPU seconds of one uncached sampler step (a 6-step sample, after the warm-up)."""
    probe = dataclasses.replace(sampling, steps=6)
    return sample(model, prompt, probe).cpu / 6


# Expected CPU time of a sample as a share of the uncached one of the same schedule, measured on
# the proxy (`--quick`, 2 prompts, 30 steps: cached methods 0.36-0.69, replays 0.51-0.67, the
# oracles 0.95-1.20 since they run the whole stack every step, First Block Cache at 0.03 1.0-1.06);
# a sample also pays a fixed overhead of about OVERHEAD_STEPS steps.
COST = {"uncached": 1.0, "greedy-oracle": 1.1, "constrained-oracle": 1.1, "fbcache": 0.8, "tmm": 0.9,
        "semcache+tmm": 0.6, "replay": 0.6, "taylorseer-lite": 0.3}
CACHED_COST = 0.55
OVERHEAD_STEPS = 0.5
REPLAYED = ("easycache", "lazycache")  # whose patterns are replayed (bound.SAME_AS_REPLAY: the others)


def sample_cost(m: Method, steps: int) -> float:
    return steps * COST.get(m.family, CACHED_COST) + OVERHEAD_STEPS


def exact_speed_runs(model, pack, prompt: BenchPrompt, sampling: SamplingSetup, store: Store,
                     rows: list[dict]) -> list[dict]:
    """Fixed-threshold runs on one prompt and schedule, bisected on threshold_scale until the fixed
    rule skips exactly as much as each target-mode sample there (issue 19; harness/target.py)."""
    key, new = ((sampling.steps, sampling.sampler), prompt.text, str(prompt.seed)), []
    while (scale := target_report.next_exact_scale(rows + new, key)) is not None:
        known = rows + new
        added = run_prompt(model, pack, prompt, [target_report.exact_speed_method(scale)], sampling, 1, set(),
                           {row_key(r) for r in known}, store, set(), "evaluation", known)
        if not added:  # already there: next_exact_scale would propose it again
            break
        new += added
    return new


def plan_lines(schedules: list[tuple[int, str]], methods_of, prompts_of, repeats: int, timed: set,
               seconds: float, calibration_steps: int, tuning: list[Method], tuning_prompts: int,
               replays: set, fidelity_steps: int) -> list[str]:
    """Samples per schedule and estimated minutes: each sample costed by its expected share of an
    uncached sample (COST; upper bound: every sample costed as an uncached one)."""
    lines, total, upper = [], calibration_steps + fidelity_steps, calibration_steps + fidelity_steps
    for i, (steps, sampler) in enumerate(schedules):
        methods = methods_of((steps, sampler))
        prompts = prompts_of((steps, sampler))
        extra = [m for m in methods if m in timed] if i == 0 else []
        n_replays = sum(1 for m in methods if m.family in REPLAYED) if (steps, sampler) in replays else 0
        cost = sum(sample_cost(m, steps) for m in methods) + (repeats - 1) * sum(sample_cost(m, steps) for m in extra)
        cost += n_replays * (steps * COST["replay"] + OVERHEAD_STEPS)
        n_samples = len(methods) + (repeats - 1) * len(extra) + n_replays
        work, worst = cost * len(prompts), (steps + OVERHEAD_STEPS) * n_samples * len(prompts)
        total, upper = total + work, upper + worst
        lines.append(f"  {steps} steps {sampler}: {len(methods)} configurations + <= {n_replays} replays x {len(prompts)} "
                     f"prompts = {n_samples * len(prompts)} samples, ~{work * seconds / 60:.1f} min "
                     f"(<= {worst * seconds / 60:.1f})")
        if i == 0 and tuning:
            t = sum(sample_cost(m, steps) for m in tuning) * tuning_prompts
            total, upper = total + t, upper + (steps + OVERHEAD_STEPS) * len(tuning) * tuning_prompts
            lines.append(f"  tuning ({steps} steps {sampler}): {len(tuning)} configurations x {tuning_prompts} prompts, "
                         f"~{t * seconds / 60:.1f} min")
    lines.append(f"  calibration: {calibration_steps} steps, {calibration_steps * seconds / 60:.1f} min; proxy fidelity "
                 f"report: ~{fidelity_steps} steps, {fidelity_steps * seconds / 60:.1f} min")
    lines.append(f"  total ~{total * seconds / 60:.1f} min (<= {upper * seconds / 60:.1f}) at {seconds * 1000:.0f} ms CPU "
                 "per uncached step")
    return lines


def main() -> int:
    if "--realscale" in sys.argv[1:]:  # the same command times Wan-1.3B-shaped blocks
        import realscale_timing

        sys.argv = [str(BENCH / "realscale_timing.py")] + [a for a in sys.argv[1:] if a != "--realscale"]
        return realscale_timing.main()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 prompts, 30 steps uni_pc, every default (< 5 min)")
    parser.add_argument("--out", type=Path, help="output folder (default bench/results, or bench/out/quick)")
    parser.add_argument("--checkpoint", type=Path, default=PROXY_CHECKPOINT)
    parser.add_argument("--prompts", type=int, help="number of benchmark prompts (static/dynamic alternating; "
                        "default all 8, 2 with --quick; the 2 neutral ones come on top)")
    parser.add_argument("--with-neutral", action="store_true", default=None,
                        help="add the two neutral-motion prompts (the default of a full run; with --quick: add them)")
    parser.add_argument("--no-neutral", action="store_true", help="leave out the two neutral-motion prompts")
    parser.add_argument("--schedules", default=None, help="steps:sampler list, first = main, e.g. "
                        "'30:uni_pc,20:euler,50:uni_pc' (default: 30:uni_pc, 20:euler, 20:uni_pc, 30:euler, 50:uni_pc; 'all' adds "
                        "50:euler)")
    parser.add_argument("--sweep", type=int, help="sweep points per method on the main schedule (evenly spread, "
                        "default kept; default all)")
    parser.add_argument("--sweep-other", type=int, default=2, help="sweep points per method on the other schedules "
                        "(MagCache at K = 4 only; SemCache always its whole sweep; default 2; 0 = as on the main one)")
    parser.add_argument("--other-prompts", type=int, default=0, help="evaluation prompts on the other schedules "
                        "(the first N of the main schedule's, balanced; default 0 = all of them)")
    parser.add_argument("--replays", default="main", choices=("main", "all", "none"),
                        help="schedules whose logged whole-step patterns are replayed for the search bound")
    parser.add_argument("--no-tuning", action="store_true", help="leave out the tuning prompts (SemCache's sweep)")
    parser.add_argument("--families", help="comma-separated methods to sweep (default all: "
                        + ",".join(suites.FAMILIES) + ")")
    parser.add_argument("--no-extras", action="store_true", help="leave out ablations, EasyCache's bug, TMM alone")
    parser.add_argument("--no-target", action="store_true", help="leave out the target_speedup and self_calibrated "
                        "rows (harness/target.py)")
    parser.add_argument("--calibration-prompts", type=int, default=6, help="TeaCache calibration prompts (default 6)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable timings)")
    parser.add_argument("--repeats", type=int, help="runs per timed sample (uncached and node defaults on the main "
                        "schedule); times are medians (default 2, 1 with --quick)")
    parser.add_argument("--fresh", action="store_true", help="discard the rows already in --out and start over")
    parser.add_argument("--plan", action="store_true", help="print the run's size and estimated time, run nothing")
    parser.add_argument("--report-only", action="store_true", help="rebuild tables and plot from --out/samples.csv")
    parser.add_argument("--realscale", action="store_true", help="run realscale_timing.py instead (its options follow)")
    parser.add_argument("--no-fidelity", action="store_true", help="leave out the proxy-fidelity report (fidelity.py)")
    args = parser.parse_args()
    out: Path = (args.out or (BENCH / "out" / "quick" if args.quick else BENCH / "results")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    schedules = suites.parse_schedules(args.schedules) if args.schedules else (
        [suites.MAIN_SCHEDULE] if args.quick else
        list(suites.DEFAULT_SCHEDULES))
    main_schedule = schedules[0]

    if args.report_only:
        rows = read_rows(out / "samples.csv")
        md = out / "benchmark.md"
        header = md.read_text().split("\n## ")[0].splitlines() if md.exists() else []
        write_outputs(out, rows, header, main_schedule)
        print(f"[bench] rebuilt {out}/benchmark.md, summary.csv, pareto.png from {len(rows)} rows")
        return 0

    started = time.monotonic()
    frames, height, width = latent_shape(args.checkpoint)
    # every evaluation prompt, neutral ones included, unless --quick (neutral only when asked for)
    with_neutral = not args.no_neutral and (args.with_neutral if args.with_neutral is not None else not args.quick)
    prompts = pick_prompts(args.prompts or (2 if args.quick else None), with_neutral)
    if args.quick and args.prompts is None:
        prompts = list(QUICK_PROMPTS) + (NEUTRAL_PROMPTS if with_neutral else [])
    plan = suites.Plan(families=tuple(args.families.split(",")) if args.families else suites.FAMILIES,
                       sweep_points=args.sweep, other_points=args.sweep_other or None, extras=not args.no_extras)
    tuning_prompts = [] if args.quick or args.no_tuning else list(TUNING_PROMPTS)
    tuning_methods = suites.tuning(plan) if tuning_prompts else []
    replay_schedules = set() if args.replays == "none" else (
        set(schedules) if args.replays == "all" else {main_schedule})
    other_prompts = pick_prompts(args.other_prompts, False) if args.other_prompts and not args.quick else prompts
    other_prompts = [p for p in other_prompts if p in prompts] or prompts
    unknown = set(plan.families) - set(suites.FAMILIES)
    if unknown:
        parser.error(f"unknown --families {sorted(unknown)}; choose from {', '.join(suites.FAMILIES)}")

    def methods_of(schedule: tuple[int, str]) -> list[Method]:
        if args.quick:
            return suites.quick()
        return suites.for_schedule(schedule, plan, main_schedule) + ([] if args.no_target else suites.target_suite())

    repeats = args.repeats or (1 if args.quick else 2)
    timed = {UNCACHED} | {m for m in methods_of(main_schedule) if m.tag == "default"}
    base = SamplingSetup(steps=main_schedule[0], sampler=main_schedule[1], frames=frames, height=height, width=width)
    cal_prompts = 1 if args.quick else args.calibration_prompts
    cal_steps = cal_prompts * sum(n for n, _ in calibration.TEACACHE_SCHEDULES)
    fidelity_steps = 0 if args.quick or args.no_fidelity else (50 + 30) * (len(PROMPTS) + len(NEUTRAL_PROMPTS) + 6)
    if args.fresh and out.exists() and not args.plan:  # --plan never touches a run's results
        for name in ("samples.csv", "calibration.json"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / ".resume", ignore_errors=True)

    pack = setup(threads=args.threads)
    model = load_model(args.checkpoint)
    sample(model, dataclasses.replace(prompts[0], seed=0), dataclasses.replace(base, steps=3))  # warm-up
    if args.plan:
        seconds = step_seconds(model, pack, prompts[0], base)
        print(f"[bench] plan: {len(prompts)} prompts, latent 16x{frames}x{height}x{width}, {repeats} timing repeats of "
              f"{len(timed)} configurations on the main schedule", flush=True)
        print(f"[bench] other schedules: {len(other_prompts)} prompts; tuning: {len(tuning_prompts)} prompts; replays on "
              f"{', '.join(f'{n} {s}' for n, s in sorted(replay_schedules)) or 'none'}", flush=True)
        exact = [] if args.no_target else [target_report.exact_speed_method(0.2)] * len(target_report.TARGETS)
        lines = plan_lines(schedules, lambda s: methods_of(s) + exact,
                           lambda s: prompts if s == main_schedule else other_prompts, repeats, timed, seconds,
                           cal_steps, tuning_methods, len(tuning_prompts), replay_schedules, fidelity_steps)
        print("\n".join(lines))
        return 0

    cal = calibration.load_or_calibrate(out / "calibration.json", args.checkpoint, model, base, cal_prompts)
    calibration.use(cal)
    cal.info["magcache_vs_real_pearson"] = calibration_plot(cal, out / "calibration.png")
    (out / "calibration.json").write_text(json.dumps(dataclasses.asdict(cal), indent=1))  # --report-only reads it
    print(f"[bench] calibration: TeaCache poly R² e {cal.info.get('teacache_e_r2', float('nan')):.3f}, e0 "
          f"{cal.info.get('teacache_e0_r2', float('nan')):.3f}; MagCache curve of {len(cal.magcache_ratios) // 2} steps, "
          f"Pearson with real Wan {cal.info['magcache_vs_real_pearson']:.3f}", flush=True)
    rows = read_rows(out / "samples.csv")
    done = {row_key(r) for r in rows}
    resumed = len(rows)
    if rows:
        print(f"[bench] resuming: {len(rows)} rows already in {out / 'samples.csv'} are kept", flush=True)
    print(f"[bench] {len(prompts)} prompts; schedules {', '.join(f'{n} {s}' for n, s in schedules)}; "
          f"{len(methods_of(main_schedule))} configurations on the main one; {repeats} timing repeats", flush=True)
    store = Store(out)
    shown = [m for m in methods_of(main_schedule) if m is UNCACHED or m.tag == "default"]
    jobs = [(s, p, "evaluation") for s in schedules for p in (prompts if s == main_schedule else other_prompts)]
    jobs[len(prompts):len(prompts)] = [(main_schedule, p, "tuning") for p in tuning_prompts]
    bar = progress(total=len(jobs), desc="benchmark", unit="prompt x schedule")
    for (steps, sampler), prompt, split in jobs:  # prompts outer, methods inner: load drifts hit all methods alike
        sampling = dataclasses.replace(base, steps=steps, sampler=sampler)
        is_main = (steps, sampler) == main_schedule and split == "evaluation"
        bar.set_postfix_str(f"{steps} {sampler} {split}", refresh=False)
        methods = tuning_methods if split == "tuning" else methods_of((steps, sampler))
        rows += run_prompt(model, pack, prompt, methods, sampling, repeats if is_main else 1,
                           timed if is_main else set(), done, store, {m.label for m in shown} if is_main else set(),
                           split, rows, split == "evaluation" and (steps, sampler) in replay_schedules)
        if split == "evaluation" and not args.quick and not args.no_target:
            rows += exact_speed_runs(model, pack, prompt, sampling, store, rows)
        done = {row_key(r) for r in rows}
        write_csv(out / "samples.csv", rows)  # finished rows survive an interruption
        bar.update(1)
    bar.close()

    minutes = (time.monotonic() - started) / 60
    families = sorted({r["family"] for r in rows} - {"uncached"})
    sessions = previous_sessions(out) if resumed else []
    sessions.append({"argv": sys.argv[1:], "minutes": round(minutes, 1), "commit": engine_version(),
                     "kept_rows": resumed})
    header = [
        "# SemCache benchmark v2 on the proxy Wan 2.1 T2V model" + (" (quick subset)" if args.quick else ""),
        "",
        f"Generated by {sessions_text(sessions)} on {platform.machine()} CPU "
        f"({torch.get_num_threads()} torch thread), torch {torch.__version__}. Checkpoint `{args.checkpoint.name}`, "
        "loaded with `comfy.sd.load_diffusion_model`; sampling through `comfy.sample.sample`, cfg "
        f"{base.cfg}, scheduler {base.scheduler}, shift 8, latent 16x{frames}x{height}x{width}. Engine: git "
        f"{engine_version()}; proxy SHA-256 `{checksum(args.checkpoint)}`.",
        "",
        "**Prompts.** Evaluation set (every table): " + "; ".join(
            f"{p.text} ({p.motion_class}{', held out' if p.held_out else ''})" for p in prompts)
        + (f". Other schedules use the first {len(other_prompts)} of them." if len(other_prompts) != len(prompts) else ".")
        + (" Tuning set (SemCache's sweep and ablations, the evidence for its defaults; never in a table above the "
           "tuning section): " + "; ".join(f"{p.text} ({p.motion_class})" for p in tuning_prompts) + "."
           if tuning_prompts else "") + " Calibration prompts (TeaCache, MagCache): "
        + "; ".join(cal.info.get("calibration_prompts", [])) + ".",
        "",
        "**What this run covers:** " + f"{len(prompts)} prompts ({', '.join(sorted({p.motion_class for p in prompts}))}; "
        f"{sum(p.held_out for p in prompts)} held out of training; one fixed seed each; negative prompt empty); "
        f"schedules {', '.join(f'{n} steps {s}' for n, s in schedules)} (main: {main_schedule[0]} {main_schedule[1]}); "
        f"methods {', '.join(families)}; sweep points per method: "
        f"{'all' if plan.sweep_points is None or args.quick else plan.sweep_points}"
        f"{'' if plan.extras and not args.quick else '; no ablations'}. Times of the uncached run and of each node "
        f"default on the main schedule are medians of {repeats} interleaved runs.",
        "",
        "**Calibration** (`calibration.json`, `calibration.png`, prompts disjoint from both sets): see *Calibration "
        "of TeaCache and MagCache on the proxy*.",
        "",
        "- **compute speedup**: transformer block work of the uncached run / block work with the method, counted by "
        "forward hooks on the real blocks (what decides speed at real scale; see `realscale.md`). The greedy and "
        "constrained oracles run the whole stack every step to know the truth; their reused steps are counted as no "
        "block work.",
        "- **CPU-time / wall speedup**: measured on this proxy, where a step is small; not a real-scale number "
        "(and meaningless for the oracles).",
        "- **PSNR / SSIM**: decoded RGB clip vs the uncached clip of the same prompt, seed and schedule. **motion "
        "ratio**: frame-difference energy vs uncached (1 = same motion, < 1 frozen). **motion error**: relative L2 "
        "error of the frame differences.",
        "- Speedups are ratios of totals over the prompts; fidelity numbers are means over the prompts.",
    ]
    write_outputs(out, rows, header, main_schedule, cal.info)
    if not args.quick and not args.no_fidelity:  # is the proxy evidence at all? (results/fidelity.md)
        import fidelity

        fidelity.main(["--out", str(out), "--checkpoint", str(args.checkpoint)])
    main_sampling = dataclasses.replace(base, steps=main_schedule[0], sampler=main_schedule[1])
    # every family's default, not only this invocation's --families: a partial resume keeps the figure whole
    full = suites.for_schedule(main_schedule, dataclasses.replace(plan, families=suites.FAMILIES), main_schedule)
    every_default = shown + [m for m in full if m.tag == "default" and m.label not in {s.label for s in shown}]
    clips = {m.label: [store.load_video(m.label, p, main_sampling) for p in prompts] for m in every_default}
    clips = {k: v for k, v in clips.items() if all(c is not None for c in v)}
    labels = [f"{p.text} [{p.motion_class}{', held out' if p.held_out else ''}]" for p in prompts]
    if UNCACHED.label in clips:
        frames_grid(clips, labels, out / "frames.png")
        contact_sheet(clips[UNCACHED.label], labels, out / "contact_sheet.png")
    (out / "run.json").write_text(json.dumps({"argv": sys.argv[1:], "minutes_this_session": minutes,
                                             "commit": engine_version(), "proxy": args.checkpoint.name,
                                             "proxy_sha256": checksum(args.checkpoint), "sessions": sessions},
                                            indent=1))
    print(f"[bench] done in {minutes:.1f} min -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
