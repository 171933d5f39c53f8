"""From per-sample rows to per-configuration numbers, matched comparisons and class splits.

Speedups over a set of samples are ratios of totals (total uncached cost / total cost), the
speedup of rendering that whole set; fidelity metrics are means over the samples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import mean
from typing import Any

CLASSES = ("static", "neutral", "dynamic")


@dataclass
class Summary:
    """One configuration over a set of samples."""

    label: str
    family: str
    tag: str
    knob: float | None
    settings: str
    n: int
    skipped: float
    work_speedup: float
    cpu_speedup: float
    wall_speedup: float
    psnr: float
    ssim: float
    motion_ratio: float
    motion_error: float
    p_s: float | None
    tau: float | None


def _f(row: dict, key: str) -> float | None:
    value = row.get(key)
    if value in (None, ""):
        return None
    return float(value)


def _mean_opt(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return mean(kept) if kept else None


def summarize(rows: list[dict[str, Any]]) -> Summary:
    first = rows[0]
    total = {k: sum(_f(r, k) for r in rows) for k in ("block_work", "ref_block_work", "cpu_s", "ref_cpu_s", "wall_s", "ref_wall_s")}
    return Summary(
        label=first["method"],
        family=first["family"],
        tag=first.get("tag") or "",
        knob=_f(first, "knob"),
        settings=first["settings"],
        n=len(rows),
        skipped=mean(_f(r, "skipped_steps") for r in rows),
        work_speedup=total["ref_block_work"] / max(total["block_work"], 1.0),
        cpu_speedup=total["ref_cpu_s"] / total["cpu_s"],
        wall_speedup=total["ref_wall_s"] / total["wall_s"],
        psnr=mean(min(_f(r, "psnr"), 99.0) for r in rows),
        ssim=mean(_f(r, "ssim") for r in rows),
        motion_ratio=mean(_f(r, "motion_ratio") for r in rows),
        motion_error=mean(_f(r, "motion_error") for r in rows),
        p_s=_mean_opt([_f(r, "p_s_mean") for r in rows]),
        tau=_mean_opt([_f(r, "tau_mean") for r in rows]),
    )


def by_config(rows: list[dict[str, Any]]) -> list[Summary]:
    """One Summary per method label, in first-seen order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["method"]].append(r)
    return [summarize(g) for g in groups.values()]


def by_class(rows: list[dict[str, Any]], label: str) -> dict[str, Summary]:
    """The configuration `label` split by the prompts' motion class."""
    out = {}
    for cls in CLASSES:
        picked = [r for r in rows if r["method"] == label and r["motion_class"] == cls]
        if picked:
            out[cls] = summarize(picked)
    return out


# rows that exist only for a comparison (issue 19's exact-speed runs: each threshold on the prompts
# that needed it), so their per-configuration means cover different prompts: never a point or a row
# of their own in the tables and plots
EXACT_SPEED_TAG = "exact speed"
COMPARISON_ONLY_TAGS = (EXACT_SPEED_TAG,)


def sweep(summaries: list[Summary], family: str) -> list[Summary]:
    """A family's untagged (or default) sweep points, by knob: the curve to interpolate on."""
    points = [s for s in summaries if s.family == family and s.tag in ("", "default")]
    return sorted(points, key=lambda s: s.knob or 0.0)


def interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """Piecewise-linear y(x) through points sorted by x; None outside their range."""
    pts = sorted(points)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    if pts and x == pts[0][0]:
        return pts[0][1]
    return None


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (speedup, quality) points no other point beats on both axes, by speedup."""
    best: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if not best or y > best[-1][1]:
            best.append((x, y))
    return sorted(best)


def matched(reference: Summary, curve: list[Summary], speed_key: str = "work_speedup") -> dict[str, Any]:
    """The other method's speedup at `reference`'s PSNR and its PSNR at `reference`'s speedup.

    Interpolated along the Pareto frontier of the other method's threshold sweep (its best
    trade-offs); None where the reference lies outside that range.
    """
    speed = getattr(reference, speed_key)
    by_speed = frontier([(getattr(s, speed_key), s.psnr) for s in curve])
    by_psnr = [(y, x) for x, y in by_speed]
    return {
        "psnr_at_matched_speedup": interpolate(by_speed, speed),
        "speedup_at_matched_psnr": interpolate(by_psnr, reference.psnr),
        "speed_range": (min(p[0] for p in by_speed), max(p[0] for p in by_speed)) if by_speed else None,
        "psnr_range": (min(p[0] for p in by_psnr), max(p[0] for p in by_psnr)) if by_psnr else None,
    }


def schedule_of(row: dict[str, Any]) -> tuple[int, str]:
    return int(row["steps"]), row["sampler"]


def schedule_summaries(rows: list[dict[str, Any]]) -> dict[tuple[int, str], list[Summary]]:
    """One list of Summaries per schedule (steps, sampler), schedules sorted."""
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[schedule_of(r)].append(r)
    return {k: by_config(groups[k]) for k in sorted(groups)}


def speedup_at_psnr(curve: list[Summary], psnr: float, speed_key: str = "work_speedup") -> float | None:
    """A sweep's speedup at `psnr`, on its Pareto frontier; None outside its PSNR range."""
    by_speed = frontier([(getattr(s, speed_key), s.psnr) for s in curve])
    return interpolate([(y, x) for x, y in by_speed], psnr)


def psnr_at_speedup(curve: list[Summary], speed: float, speed_key: str = "work_speedup") -> float | None:
    """A sweep's PSNR at `speed`, on its Pareto frontier; None outside its speed range."""
    return interpolate(frontier([(getattr(s, speed_key), s.psnr) for s in curve]), speed)


def evaluation_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows every table is measured on (rows before the split existed count as evaluation)."""
    return [r for r in rows if (r.get("split") or "evaluation") == "evaluation"]


def tuning_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("split") == "tuning"]


def projected_speedup(rows: list[dict[str, Any]], blocks: int = 30) -> float | None:
    """First Block Cache's compute speedup on a `blocks`-block model from its per-step decisions
    ("." block 0 only, "C" every block, "h" one of two streams reused): block 0 always runs."""
    total = cost = 0.0
    for r in rows:
        d = r.get("decisions") or ""
        if not d:
            return None
        total += len(d)
        cost += sum({"C": 1.0, ".": 1.0 / blocks, "h": (1.0 + (blocks - 1) * 0.5) / blocks}[c] for c in d)
    return total / cost if cost else None


def nearest_psnr(curve: list[Summary], psnr: float) -> Summary | None:
    """The sweep point whose PSNR is closest to `psnr` (the oracle's stand-in "default")."""
    return min(curve, key=lambda s: abs(s.psnr - psnr)) if curve else None
