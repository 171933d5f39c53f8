"""Target mode and the error check in the benchmark (issue 19): rows, tables and a plot.

- `methods()`: SemCache with `target_speedup` 1.5 / 2 / 2.5 / 3 and with
  `error_model = self_calibrated` at a few threshold_scale points; every schedule runs them
  (tagged, so they stay off the fixed-threshold sweep curves the other tables interpolate on).
- `error_check_fields(stats)`: the run's measured / estimated error ratios, for each CSV row.
- `markdown_section(rows)`: achieved vs target per schedule (and the quality cost: PSNR against
  the fixed-threshold sweep's at the same achieved speedup), the error-check ratios per schedule,
  and whether self-calibration moves the frontier or evens out one threshold_scale's quality.
- `plot(rows, path)`: the "target vs achieved" figure.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean, median, pstdev, stdev
from typing import Any

from .aggregate import EXACT_SPEED_TAG, by_config, interpolate, psnr_at_speedup, schedule_of, schedule_summaries, sweep
from .error_fields import error_check_fields  # noqa: F401  (re-exported: runner rows use it)
from .methods import Method, semcache

TARGETS = (1.5, 2.0, 2.5, 3.0)
SELF_CALIBRATED_SCALES = (0.1, 0.2, 0.35, 0.6)  # points of SemCache's fixed sweep (suites.SWEEPS)
TOLERANCE = 0.10  # the acceptance band: achieved within +-10 % of the target
# exact-speed comparison: extra fixed-threshold runs per prompt and schedule, found by bisection on
# threshold_scale, until the fixed rule itself skips as many steps as each target sample did
EXACT_TAG = EXACT_SPEED_TAG
EXACT_MAX_RUNS = 12  # per prompt and schedule
EXACT_BRACKET = 1.03  # stop bisecting once the bracketing scales are this close
EXACT_SCALE_RANGE = (0.005, 16.0)  # how far past the sweep's ends a target's speed is looked for


def target_tag(target: float) -> str:
    return f"target {target:g}"


def calibrated_tag() -> str:
    return "self_calibrated"


def methods() -> list[Method]:
    """Target-mode rows, then self_calibrated rows (run on every schedule)."""
    out = [semcache(target_tag(t), target_speedup=t) for t in TARGETS]
    out += [semcache(calibrated_tag(), threshold_scale=s, error_model="self_calibrated") for s in SELF_CALIBRATED_SCALES]
    return out


def fixed_curve(summaries: list) -> list:
    """SemCache's fixed-threshold sweep without the points that reused nothing: their PSNR is
    infinite (capped), which would bend a linear interpolation towards absurd values."""
    return [s for s in sweep(summaries, "semcache") if s.work_speedup > 1.0 + 1e-9]


def _target_of(row: dict) -> float | None:
    tag = row.get("tag") or ""
    return float(tag.split()[1]) if tag.startswith("target ") else None


def _f(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _prompt_key(row: dict) -> tuple:
    return schedule_of(row), row.get("prompt"), str(row.get("seed"))


def _sample_key(row: dict) -> tuple:
    return _prompt_key(row), row.get("tag")


def same_prompt_costs(rows: list[dict[str, Any]]) -> dict[tuple, float]:
    """Per target-mode sample (keyed by schedule, prompt, seed and tag): the fixed sweep's PSNR on the *same prompt* at the
    sample's own achieved speedup minus its PSNR (linear between that prompt's sweep points that
    reused something). Unlike the set-level cost it leaves out what the fixed rule gains by
    running easy prompts faster and hard ones slower at the same mean speed: it isolates where
    the controller put the skips."""
    curves: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for r in _fixed_rows(rows, tags=("", "default")):
        if float(r["work_speedup"]) > 1.0 + 1e-9:
            curves[_prompt_key(r)].append((float(r["work_speedup"]), min(float(r["psnr"]), 99.0)))
    out: dict[tuple, float] = {}
    for r in rows:
        if _target_of(r) is None:
            continue
        fixed = interpolate(curves.get(_prompt_key(r), []), float(r["work_speedup"]))
        if fixed is not None:
            out[_sample_key(r)] = fixed - min(float(r["psnr"]), 99.0)
    return out


def standard_error(values: list[float]) -> float:
    """Standard error of a point's mean over its samples (0 for a single one)."""
    return stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0


def _fixed_rows(rows: list[dict[str, Any]], key: tuple | None = None,
                tags: tuple[str, ...] = ("", "default", EXACT_TAG)) -> list[dict[str, Any]]:
    """SemCache's fixed-threshold runs (by default sweep points and exact-speed runs), of one prompt
    and schedule when `key` is given."""
    return [r for r in rows if r.get("family") == "semcache" and r.get("tag") in tags
            and _f(r.get("knob")) is not None and _f(r.get("work_speedup")) is not None
            and (key is None or _prompt_key(r) == key)]


def _same_speed(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def next_exact_scale(rows: list[dict[str, Any]], key: tuple) -> float | None:
    """The next threshold_scale to run on one prompt and schedule (`key`: schedule, prompt, seed) so
    that the fixed rule reaches some target sample's achieved speedup exactly; None when every
    target sample there is matched, cannot be bracketed, or its bracket is already narrow.

    Why: the fixed sweep's PSNR at a speedup between two of its points is an interpolation across a
    convex bend (each first skip costs most), and its mean over prompts at a mean speedup also
    credits the spread of speeds one threshold gives; a fixed-rule run at the same speed on the same
    prompt measures "PSNR at equal achieved speedup" without either."""
    fixed = _fixed_rows(rows, key)
    if not fixed or sum(r.get("tag") == EXACT_TAG for r in fixed) >= EXACT_MAX_RUNS:
        return None
    knobs = {float(r["knob"]) for r in fixed}
    speeds = sorted({float(r["work_speedup"]) for r in rows if _target_of(r) is not None and _prompt_key(r) == key})
    for speed in speeds:
        if any(_same_speed(float(r["work_speedup"]), speed) for r in fixed):
            continue
        below = [float(r["knob"]) for r in fixed if float(r["work_speedup"]) < speed]
        above = [float(r["knob"]) for r in fixed if float(r["work_speedup"]) > speed]
        if not below or not above:  # outside the sweep: widen it, within EXACT_SCALE_RANGE
            scale = min(knobs) / 2 if not below else max(knobs) * 2
            if EXACT_SCALE_RANGE[0] <= scale <= EXACT_SCALE_RANGE[1]:
                return float(f"{scale:.3g}")
            continue
        lo, hi = max(below), min(above)
        if hi <= lo * EXACT_BRACKET:  # narrow already, or the speed is not monotone in the scale here
            continue
        scale = float(f"{(lo * hi) ** 0.5:.3g}")
        if lo < scale < hi and scale not in knobs:
            return scale
    return None


def exact_speed_costs(rows: list[dict[str, Any]]) -> dict[tuple, float]:
    """Per target-mode sample (keyed like `same_prompt_costs`): the fixed rule's PSNR on the same
    prompt at the same achieved speedup minus the sample's. The fixed runs (sweep and exact-speed
    ones) that reached exactly that speedup give it (their mean); otherwise the nearest run on each
    side, linearly (after the exact-speed bisection these are close)."""
    out: dict[tuple, float] = {}
    cache: dict[tuple, list[tuple[float, float]]] = {}
    for r in rows:
        if _target_of(r) is None:
            continue
        key = _prompt_key(r)
        if key not in cache:
            cache[key] = [(float(x["work_speedup"]), min(float(x["psnr"]), 99.0)) for x in _fixed_rows(rows, key)]
        points, speed = cache[key], float(r["work_speedup"])
        same = [p for s, p in points if _same_speed(s, speed)]
        if same:
            fixed = mean(same)
        else:
            below = [s for s, _ in points if s < speed]
            above = [s for s, _ in points if s > speed]
            sides = [(x, mean(p for s, p in points if s == x)) for x in (max(below, default=None), min(above, default=None))
                     if x is not None]
            fixed = interpolate(sides, speed) if len(sides) == 2 else None
        if fixed is not None:
            out[_sample_key(r)] = fixed - min(float(r["psnr"]), 99.0)
    return out


def exact_speed_method(scale: float) -> Method:
    """A fixed-threshold run of the exact-speed comparison (tagged: off the sweep curves)."""
    return semcache(EXACT_TAG, threshold_scale=scale)


def achieved_table(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """Markdown lines: achieved vs target per schedule, and the totals the closing note quotes."""
    per_schedule = schedule_summaries(rows)
    per_sample = same_prompt_costs(rows)
    per_exact = exact_speed_costs(rows)
    lines = [
        "| schedule | target | achieved (all prompts) | per prompt min-max | within +-10 % | PSNR | fixed sweep PSNR at that speedup | cost (dB) | same-prompt cost (dB, samples) | exact-speed cost (dB, +- standard error, samples) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        t = _target_of(r)
        if t is not None:
            groups[(schedule_of(r), t)].append(r)
    hits = total = 0
    costs: list[float] = []
    sample_costs: list[float] = []
    exact_points: list[float] = []
    exact_samples = exact_clear = 0
    for (schedule, t), picked in sorted(groups.items()):
        summary = by_config(picked)[0]
        speeds = [_f(r["work_speedup"]) for r in picked]
        inside = sum(abs(s - t) <= TOLERANCE * t for s in speeds if s is not None)
        hits, total = hits + inside, total + len(speeds)
        fixed = psnr_at_speedup(fixed_curve(per_schedule[schedule]), summary.work_speedup)
        cost = None if fixed is None else fixed - summary.psnr
        if cost is not None:
            costs.append(cost)
        own = [per_sample[_sample_key(r)] for r in picked if _sample_key(r) in per_sample]
        sample_costs += own
        exact = [per_exact[_sample_key(r)] for r in picked if _sample_key(r) in per_exact]
        if exact:
            exact_points.append(mean(exact))
            if len(exact) > 1 and mean(exact) - 2 * standard_error(exact) > 0.5:
                exact_clear += 1
            exact_samples += len(exact)
        lines.append(
            f"| {schedule[0]} {schedule[1]} | {t:g} | {summary.work_speedup:.2f}x | {min(speeds):.2f}-{max(speeds):.2f} "
            f"| {inside}/{len(speeds)} | {summary.psnr:.2f} | {'-' if fixed is None else f'{fixed:.2f}'} "
            f"| {'-' if cost is None else f'{cost:+.2f}'} | {f'{mean(own):+.2f} ({len(own)})' if own else '-'} "
            f"| {f'{mean(exact):+.2f} +- {standard_error(exact):.2f} ({len(exact)})' if exact else '-'} |"
        )
    totals = {"within": hits, "samples": total, "mean_cost_db": mean(costs) if costs else None,
              "max_cost_db": max(costs) if costs else None, "points": len(costs),
              "points_within_half_db": sum(c <= 0.5 for c in costs),
              "same_prompt_cost_db": mean(sample_costs) if sample_costs else None,
              "same_prompt_samples": len(sample_costs),
              "exact_cost_db": mean(exact_points) if exact_points else None,
              "exact_max_cost_db": max(exact_points) if exact_points else None,
              "exact_points": len(exact_points), "exact_samples": exact_samples,
              "exact_points_within_half_db": sum(c <= 0.5 for c in exact_points),
              "exact_points_clearly_above_half_db": exact_clear}
    return lines, totals


def ratio_table(rows: list[dict[str, Any]]) -> list[str]:
    """Error check per schedule: median (min-max over samples) of each sample's measured / estimated
    median, for the fixed-threshold sweep (input_scaled) and for self_calibrated."""
    lines = ["| schedule | input_scaled: ratio median (range) | samples | self_calibrated: ratio median (range) | samples |",
             "|---|---|---|---|---|"]
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        value = _f(r.get("check_ratio_median"))
        if r.get("family") != "semcache" or value is None or _target_of(r) is not None:
            continue
        kind = "self_calibrated" if r.get("tag") == calibrated_tag() else (
            "input_scaled" if r.get("tag") in ("", "default") else None)
        if kind:
            groups[schedule_of(r)][kind].append(value)
    for schedule, kinds in sorted(groups.items()):
        cells = []
        for kind in ("input_scaled", "self_calibrated"):
            v = kinds.get(kind, [])
            cells += [f"{median(v):.2f} ({min(v):.2f}-{max(v):.2f})" if v else "-", str(len(v))]
        lines.append(f"| {schedule[0]} {schedule[1]} | " + " | ".join(cells) + " |")
    return lines


def calibration_verdict(rows: list[dict[str, Any]]) -> list[str]:
    """Does self_calibrated move the frontier (PSNR at equal speedup), or make one threshold_scale
    give more even quality across schedules (spread of its PSNR)? Numbers for both."""
    per_schedule = schedule_summaries(rows)
    gains: list[float] = []
    spread: dict[str, dict[float, list[float]]] = {"input_scaled": defaultdict(list), "self_calibrated": defaultdict(list)}
    for summaries in per_schedule.values():
        fixed = fixed_curve(summaries)
        for s in summaries:
            if s.family == "semcache" and s.tag == calibrated_tag() and s.knob is not None:
                at = psnr_at_speedup(fixed, s.work_speedup)
                if at is not None:
                    gains.append(s.psnr - at)
                spread["self_calibrated"][s.knob].append(s.psnr)
        for s in sweep(summaries, "semcache"):
            if s.knob in SELF_CALIBRATED_SCALES:
                spread["input_scaled"][s.knob].append(s.psnr)
    lines = []
    if gains:
        lines.append(f"- self_calibrated vs the fixed sweep at equal compute speedup: mean {mean(gains):+.2f} dB "
                     f"(min {min(gains):+.2f}, max {max(gains):+.2f}) over {len(gains)} schedule x scale points.")
    for knob in SELF_CALIBRATED_SCALES:
        a, b = spread["input_scaled"].get(knob, []), spread["self_calibrated"].get(knob, [])
        if len(a) > 1 and len(b) > 1:
            lines.append(f"- threshold_scale {knob:g}: PSNR spread across schedules (std) input_scaled "
                         f"{pstdev(a):.2f} dB, self_calibrated {pstdev(b):.2f} dB.")
    return lines or ["- no self_calibrated rows in this run."]


def markdown_section(rows: list[dict[str, Any]]) -> str:
    """The benchmark report's target-mode / error-check section (empty without target rows)."""
    if not any(_target_of(r) is not None for r in rows):
        return ""
    table, totals = achieved_table(rows)
    cost = totals["mean_cost_db"]
    lines = [
        "## Target mode and the error check",
        "",
        "`target_speedup` rows (compute speedup = transformer block work, uncached / cached, counted on the real "
        "blocks). *cost* = the fixed-threshold sweep's PSNR at the same achieved speedup minus the target row's "
        "(positive: target mode is worse; interpolated linearly between the sweep's points that reused "
        "something, '-' outside them): the sweep's mean PSNR over the prompts at the same mean speedup, on its "
        "Pareto frontier. *same-prompt cost* = each sample against the fixed sweep on its own prompt at its own "
        "achieved speedup, then the mean: it leaves out what a fixed threshold gains by running easy prompts "
        "faster and hard ones slower at the same mean speedup (a target holds every prompt at one speed), so it "
        "measures where the controller put the skips, but still interpolates between that prompt's sweep points. "
        "*exact-speed cost* = each sample against fixed-threshold runs on its own prompt that skipped exactly as "
        "much (extra runs tagged `exact speed`, found by bisection on threshold_scale; where none lands exactly, "
        "the nearest run on each side), then the mean: PSNR at equal achieved speedup with no interpolation across "
        "the curve's convex bend and no credit for the spread of speeds one threshold gives.",
        "",
        *table,
        "",
        f"Within +-10 %: {totals['within']}/{totals['samples']} samples; quality cost mean "
        + ("-" if cost is None else f"{cost:+.2f} dB, max {totals['max_cost_db']:+.2f} dB, "
           f"{totals['points_within_half_db']} of {totals['points']} points within 0.5 dB")
        + "; same-prompt cost mean "
        + ("-" if totals["same_prompt_cost_db"] is None else
           f"{totals['same_prompt_cost_db']:+.2f} dB over {totals['same_prompt_samples']} samples")
        + "; exact-speed cost mean "
        + ("-" if totals["exact_cost_db"] is None else
           f"{totals['exact_cost_db']:+.2f} dB, max {totals['exact_max_cost_db']:+.2f} dB, "
           f"{totals['exact_points_within_half_db']} of {totals['exact_points']} points within 0.5 dB, "
           f"{totals['exact_points_clearly_above_half_db']} above it by more than two standard errors "
           f"({totals['exact_samples']} samples)") + ".",
        "",
        "Error check: measured / estimated error on computed steps right after reuse (below 1: E_t overestimates).",
        "",
        *ratio_table(rows),
        "",
        *calibration_verdict(rows),
        "",
        "![target vs achieved](target_vs_achieved.png)",
        "",
    ]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Achieved compute speedup against the target, one line per schedule, per-prompt dots, the
    +-10 % band."""
    groups: dict[tuple, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        t = _target_of(r)
        if t is not None and _f(r.get("work_speedup")) is not None:
            groups[schedule_of(r)][t].append(float(r["work_speedup"]))
    if not groups:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    lo, hi = min(TARGETS) * 0.8, max(TARGETS) * 1.2
    xs = [lo, hi]
    ax.fill_between(xs, [x * (1 - TOLERANCE) for x in xs], [x * (1 + TOLERANCE) for x in xs], color="0.9",
                    label="+-10 %")
    ax.plot(xs, xs, "k--", lw=1, label="achieved = target")
    for schedule, per_target in sorted(groups.items()):
        targets = sorted(per_target)
        line = ax.plot(targets, [mean(per_target[t]) for t in targets], "-o", ms=4, label=f"{schedule[0]} {schedule[1]}")
        for t in targets:
            ax.plot([t] * len(per_target[t]), per_target[t], ".", color=line[0].get_color(), alpha=0.4)
    ax.set_xlabel("target_speedup")
    ax.set_ylabel("achieved compute speedup (block work)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("SemCache target mode: target vs achieved", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
