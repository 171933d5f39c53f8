"""The search bound: the best final-clip PSNR any whole-step reuse schedule found reaches, per work.

A *whole-step* sample computes every block or none at each step (its block-work pattern has only
"C" and "."): SemCache, EasyCache, LazyCache, TeaCache, MagCache, the oracles and the replays.
For each prompt and schedule, every such sample is a schedule that was actually found and run,
with its block work and its PSNR against the uncached clip; the replays (`methods.replay`) add
each logged pattern re-run with plain block-stack residual reuse, and a search may add more.

Per prompt the bound keeps the best PSNR for each number of computed steps; over the prompts it
allocates computed steps where they buy the most PSNR (an exact knapsack over the prompts), so a
method that skips more on easy prompts cannot beat it by its allocation. The frontier therefore
lies at or above every whole-step method's mean point by construction *of what was searched*;
it is a bound of the schedules searched, not of every schedule. A method point above it is a
defect of the bound (reported, never a win).

Forecasting rows (SemCache `reuse_mode` forecast_1 / forecast_2, TaylorSeer-Lite: `FORECASTING`)
have whole-step patterns too, but a skipped step adds an extrapolated residual, not the cached
one, so their PSNR is not that of their pattern under reuse. They are left out of this bound (it
stays a bound of reuse schedules, and "no whole-step point above it" keeps its meaning) and set
against their own: `forecast_frontier`, the same knapsack over the forecasting rows only (the best
forecasting schedules found). That bound is not extended to forecasting by a search: a forecast row
above the reuse bound shows what forecasting buys over the best reuse schedule found.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

PSNR_CAP = 99.0
# Families whose reuse is exactly the replay's (block-stack residual of the last computed step,
# per stream, added to the stack input): replaying their own pattern gives their own clip (the
# oracles': a test; SemCache's: measured, PSNR equal to 0.01 dB on the proxy).
SAME_AS_REPLAY = ("semcache", "teacache", "teacache-ret", "magcache", "greedy-oracle", "constrained-oracle", "replay", "uncached")


FORECASTING = ("semcache-forecast_1", "semcache-forecast_2", "taylorseer-lite")


def forecasting(row: dict[str, Any]) -> bool:
    return row.get("family") in FORECASTING


def whole_step(row: dict[str, Any], forecast: bool = False) -> bool:
    """A whole-step row of the reuse bound (`forecast`: of the forecast bound instead)."""
    pattern = row.get("pattern") or ""
    return bool(pattern) and set(pattern) <= {"C", "."} and forecasting(row) == forecast


def _f(row: dict[str, Any], key: str) -> float:
    return float(row[key])


@dataclass
class BoundPoint:
    """One point of the bound's frontier: total work, mean PSNR, and the allocation behind it."""

    speedup: float
    psnr: float
    computed: int
    picks: dict[str, tuple[int, float, str]] = field(default_factory=dict)  # prompt -> (computed, psnr, source)

    def class_speedup(self, prompts: dict[str, str], steps: int, cls: str) -> float | None:
        mine = [p for p in self.picks if prompts.get(p) == cls]
        work = sum(self.picks[p][0] for p in mine)
        return len(mine) * steps / work if mine and work else None


def per_prompt_options(rows: list[dict[str, Any]], forecast: bool = False) -> dict[str, dict[int, tuple[float, str]]]:
    """prompt -> computed steps -> (best PSNR, the label that reached it), whole-step rows only."""
    out: dict[str, dict[int, tuple[float, str]]] = defaultdict(dict)
    for r in rows:
        if not whole_step(r, forecast):
            continue
        c = r["pattern"].count("C")
        psnr = min(_f(r, "psnr"), PSNR_CAP)
        best = out[r["prompt"]].get(c)
        if best is None or psnr > best[0]:
            out[r["prompt"]][c] = (psnr, r["method"])
    return out


def frontier(rows: list[dict[str, Any]], forecast: bool = False) -> list[BoundPoint]:
    """The bound's Pareto frontier (speedup ascending) on one schedule's rows (`forecast`: the
    forecast bound's, over the forecasting rows)."""
    options = per_prompt_options(rows, forecast)
    prompts = sorted(options)
    if not prompts:
        return []
    steps = max(len(r["pattern"]) for r in rows if whole_step(r, forecast))
    # best[C] = (sum of PSNR, picks) over the prompts so far with C computed steps in total
    best: dict[int, tuple[float, dict]] = {0: (0.0, {})}
    for p in prompts:
        nxt: dict[int, tuple[float, dict]] = {}
        for total, (score, picks) in best.items():
            for c, (psnr, src) in options[p].items():
                key = total + c
                if key not in nxt or score + psnr > nxt[key][0]:
                    nxt[key] = (score + psnr, {**picks, p: (c, psnr, src)})
        best = nxt
    n = len(prompts)
    points = [BoundPoint(n * steps / max(c, 1), score / n, c, picks) for c, (score, picks) in best.items()]
    kept: list[BoundPoint] = []
    for pt in sorted(points, key=lambda q: (-q.speedup, -q.psnr)):
        if not kept or pt.psnr > kept[-1].psnr:
            kept.append(pt)
    return sorted(kept, key=lambda q: q.speedup)


def forecast_frontier(rows: list[dict[str, Any]]) -> list[BoundPoint]:
    """The forecast bound: the best forecasting schedules found, allocated over the prompts."""
    return frontier(rows, forecast=True)


def _interp(pts: list[tuple[float, float]], x: float) -> float | None:
    pts = sorted(pts)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    if pts and abs(x - pts[0][0]) < 1e-12:
        return pts[0][1]
    return None


def psnr_at(points: list[BoundPoint], speedup: float) -> float | None:
    """The bound's PSNR at `speedup` (linear between frontier points; the frontier is monotone)."""
    if points and speedup < points[0].speedup:
        return points[0].psnr
    return _interp([(p.speedup, p.psnr) for p in points], speedup)


def speedup_at(points: list[BoundPoint], psnr: float) -> float | None:
    """The bound's speedup at `psnr`."""
    return _interp([(p.psnr, p.speedup) for p in points], psnr)


def nearest(points: list[BoundPoint], psnr: float) -> BoundPoint | None:
    """The frontier point whose PSNR is closest to `psnr` (for the static/dynamic split)."""
    return min(points, key=lambda p: abs(p.psnr - psnr)) if points else None


def replay_patterns(rows: list[dict[str, Any]], prompt: str, steps: int, sampler: str) -> dict[str, list[str]]:
    """Patterns of one prompt and schedule worth replaying: whole-step ones with at least one reuse,
    produced by a family whose own reuse differs from the replay's, and not yet replayed."""
    mine = [r for r in rows if r["prompt"] == prompt and int(r["steps"]) == steps and r["sampler"] == sampler]
    done = {r["pattern"] for r in mine if r["family"] in SAME_AS_REPLAY}
    out: dict[str, list[str]] = defaultdict(list)
    for r in mine:
        if whole_step(r) and "." in r["pattern"] and r["pattern"] not in done:
            out[r["pattern"]].append(r["method"])
    return dict(out)
