"""Which configurations a benchmark run measures, and how to make the run smaller.

Every schedule (20 / 30 / 50 steps x euler / uni_pc) gets each method's threshold sweep, so
each has its own Pareto curves: SemCache, EasyCache, LazyCache, TeaCache, MagCache, First
Block Cache, the oracle and SemCache + TMM (reuse-ratio sweep at SemCache's default). The main
schedule (30 steps uni_pc, ComfyUI's Wan 2.1 T2V template) adds SemCache's ablations (one
setting changed at its default threshold_scale) for the open design choices of DESIGN §4,
EasyCache without the input copy of fairness.py (its fp32 in-place bug) and the TMM Frame
Selector alone. `Plan` shrinks a run: fewer sweep points per method (evenly spread, the default
always kept), fewer families, no extras. QUICK: every default plus a few points, two prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .methods import UNCACHED, Method, easycache, lazycache, peer, semcache, semcache_tmm, tmm

# knob sweeps, each containing the node default (None: the oracle has no default)
SWEEPS: dict[str, tuple[float, ...]] = {
    "semcache": (0.05, 0.1, 0.2, 0.25, 0.35, 0.6, 1.0),
    "easycache": (0.05, 0.1, 0.2, 0.3, 0.5),
    "lazycache": (0.1, 0.2, 0.4),
    "teacache": (0.03, 0.06, 0.1, 0.15, 0.3, 0.6),
    "magcache": (0.02, 0.06, 0.12, 0.2, 0.4),
    "fbcache": (0.05, 0.1, 0.15, 0.2, 0.3, 0.4),
    "oracle": (0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
    "semcache+tmm": (0.1, 0.2, 0.3),  # TMM reuse_ratio at SemCache's default threshold_scale
}
DEFAULT_SCALE = 0.2  # SemCachePatchModel's default threshold_scale
DEFAULT_REUSE = 0.2  # EasyCache / LazyCache node default reuse_threshold
DEFAULT_TMM_REUSE = 0.2  # TMM Frame Selector's default reuse_ratio
DEFAULTS: dict[str, float | None] = {
    "semcache": DEFAULT_SCALE, "easycache": DEFAULT_REUSE, "lazycache": DEFAULT_REUSE, "teacache": 0.15,
    "magcache": 0.06, "fbcache": 0.1, "oracle": None, "semcache+tmm": DEFAULT_TMM_REUSE,
}
# MagCache's skip cap K is its second knob: with the node's K = 2 the speedup saturates below 3x,
# so the sweep's larger thresholds also raise K (the label shows it).
MAGCACHE_K = {0.2: 4, 0.4: 6}
FAMILIES = tuple(SWEEPS)
MAIN_SCHEDULE = (30, "uni_pc")
SCHEDULES = ((20, "euler"), (20, "uni_pc"), (30, "euler"), (30, "uni_pc"), (50, "euler"), (50, "uni_pc"))
QUICK_ORACLE = (0.1, 0.2, 0.4)


@dataclass(frozen=True)
class Plan:
    """How much of the sweeps a run measures: `sweep_points` per family (None = all)."""

    families: tuple[str, ...] = FAMILIES
    sweep_points: int | None = None
    extras: bool = True  # ablations, EasyCache's fp32 bug, TMM alone (main schedule only)


def thin(points: tuple[float, ...], n: int | None, default: float | None) -> list[float]:
    """`n` of `points`, evenly spread over the sorted sweep, the default always among them."""
    pts = sorted(points)
    if n is None or n >= len(pts):
        return pts
    n = max(n, 1)
    idx = {round(i * (len(pts) - 1) / (n - 1)) for i in range(n)} if n > 1 else {len(pts) // 2}
    picked = [pts[i] for i in sorted(idx)]
    if default is not None and default not in picked:
        nearest = min(picked, key=lambda p: abs(p - default))
        picked = sorted([p for p in picked if p != nearest] + [default])
    return picked


def _tag(family: str, knob: float) -> str:
    return "default" if DEFAULTS[family] == knob else ""


def method(family: str, knob: float) -> Method:
    tag = _tag(family, knob)
    if family == "semcache":
        return semcache(tag, threshold_scale=knob)
    if family == "easycache":
        return easycache(knob, tag)
    if family == "lazycache":
        return lazycache(knob, tag)
    if family == "semcache+tmm":
        return semcache_tmm(DEFAULT_SCALE, knob, tag)
    if family == "magcache" and knob in MAGCACHE_K:
        return peer(family, knob, tag, magcache_K=MAGCACHE_K[knob])
    return peer(family, knob, tag)


def sweeps(plan: Plan = Plan()) -> list[Method]:
    """Uncached, then each family's (thinned) sweep: what every schedule runs."""
    out = [UNCACHED]
    for family in plan.families:
        out += [method(family, k) for k in thin(SWEEPS[family], plan.sweep_points, DEFAULTS[family])]
    return out


def extras() -> list[Method]:
    """Main schedule only: SemCache ablations at its default, EasyCache's fp32 bug, TMM alone."""
    base = DEFAULT_SCALE
    methods = [
        semcache("mode=paper", threshold_scale=base, threshold_mode="paper"),
        semcache("error=paper", threshold_scale=base, error_model="paper"),
        semcache("tanh=0.25", threshold_scale=base, tanh_scale=0.25),
        semcache("tanh=4", threshold_scale=base, tanh_scale=4.0),
        semcache("start=0.2", threshold_scale=base, start_percent=0.2),
        semcache("start=0.05", threshold_scale=base, start_percent=0.05),
        semcache("max_skip=2", threshold_scale=base, max_skip_steps=2),
        semcache("max_skip=8", threshold_scale=base, max_skip_steps=8),
        semcache("stride=1", threshold_scale=base, norm_stride=1),
        easycache(DEFAULT_REUSE, "no input copy: fp32 bug", copy_input=False),
    ]
    methods += [tmm(r, _tag("semcache+tmm", r)) for r in (0.1, 0.2, 0.3, 0.5)]
    methods += [tmm(r, "predicted_clean", motion_source="predicted_clean") for r in (0.2, 0.5)]
    methods += [semcache_tmm(base, DEFAULT_TMM_REUSE, "predicted_clean", motion_source="predicted_clean")]
    return methods


def for_schedule(schedule: tuple[int, str], plan: Plan = Plan(), main: tuple[int, str] = MAIN_SCHEDULE) -> list[Method]:
    methods = sweeps(plan)
    if plan.extras and schedule == main:
        methods += extras()
    return methods


def defaults() -> list[Method]:
    """Every method at its node default (what a user gets without touching a widget)."""
    return [method(f, DEFAULTS[f]) for f in FAMILIES if DEFAULTS[f] is not None] + [tmm(DEFAULT_TMM_REUSE, "default")]


def quick() -> list[Method]:
    """Every default, one more SemCache point, and three oracle points (a curve to match on)."""
    out = [UNCACHED] + [method(f, DEFAULTS[f]) for f in FAMILIES if DEFAULTS[f] is not None and f != "semcache+tmm"]
    out.insert(2, semcache("", threshold_scale=0.35))
    return out + [method("oracle", k) for k in QUICK_ORACLE]


def parse_schedules(text: str) -> list[tuple[int, str]]:
    """"30:uni_pc,20:euler" -> [(30, "uni_pc"), (20, "euler")]; "all" -> every schedule."""
    if text.strip() == "all":
        return list(SCHEDULES)
    out = []
    for part in text.split(","):
        steps, _, sampler = part.strip().partition(":")
        out.append((int(steps), sampler or "uni_pc"))
    return out


# --- issue 19: target_speedup and error_model=self_calibrated rows, run on every schedule -------
# (kept apart from the sweeps above; the rows, their tables and plot live in harness/target.py)
def target_suite() -> list[Method]:
    """SemCache in target mode (1.5 / 2 / 2.5 / 3) and self_calibrated at a few scales."""
    from .target import methods as target_methods

    return target_methods()
