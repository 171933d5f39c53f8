"""Which configurations a benchmark run measures, and how to make the run smaller.

Every schedule (20 / 30 / 50 steps x euler / uni_pc) gets each method's threshold sweep on the
evaluation prompts, so each has its own Pareto curves: SemCache, EasyCache, LazyCache, TeaCache
(both Wan modes), MagCache (every threshold at K = 2, 4, 6), First Block Cache, the greedy and
the constrained oracle, and SemCache + TMM (reuse-ratio sweep at SemCache's default). The main
schedule (30 steps uni_pc, ComfyUI's Wan 2.1 T2V template) adds EasyCache without the input
copy of fairness.py (its fp32 in-place bug) and the TMM Frame Selector alone; the tuning prompts
run SemCache's sweep and its ablations there (`tuning`). `Plan` shrinks a run: fewer sweep
points per method (evenly spread, the default always kept; fewer still off the main schedule),
fewer families, no extras. QUICK: every default plus a few points, two prompts.

Forecasting rows (issue 23): SemCache's sweep with reuse_mode forecast_1 / forecast_2 and
TaylorSeer-Lite's interval sweep are families of their own (`--families` selects them); they are
not whole-step *reuse* schedules, so the search bound leaves them out and the report sets them
against their own forecast frontier (`harness/bound.py`).

Layout for additions: one `SWEEPS`/`DEFAULTS` entry per family, `method()` maps a knob to its
Method; extra rows of one schedule go into a function like `extras()` and `for_schedule()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .methods import UNCACHED, Method, easycache, lazycache, peer, semcache, semcache_forecast, semcache_tmm, tmm

# knob sweeps, each containing the node default (None: the oracles have no default)
SWEEPS: dict[str, tuple[float, ...]] = {
    # 0.15, 0.3 and 0.45 fill the widest gaps, so target mode (issue 19) is compared on a chord over
    # neighbouring points rather than across a convex bend of the PSNR-speed curve
    "semcache": (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.45, 0.6, 1.0),
    "easycache": (0.05, 0.1, 0.2, 0.3, 0.5),
    "lazycache": (0.1, 0.2, 0.4),
    "teacache": (0.03, 0.05, 0.08, 0.12, 0.2, 0.3),  # mode "e" (upstream's default Wan signal)
    "teacache-ret": (0.05, 0.1, 0.15, 0.2, 0.3),  # mode "e0", first 5 steps computed (ret mode)
    "magcache": (0.03, 0.06, 0.12, 0.2),  # each at every K of MAGCACHE_KS
    "fbcache": (0.02, 0.03, 0.05, 0.08, 0.12, 0.2),
    "greedy-oracle": (0.05, 0.1, 0.2, 0.4, 1.0),
    "constrained-oracle": (0.03, 0.06, 0.1, 0.2, 0.4),
    "semcache+tmm": (0.1, 0.2, 0.3),  # TMM reuse_ratio at SemCache's default threshold_scale
    # issue 23: SemCache's threshold sweep with reuse_mode forecast_1 / forecast_2, and TaylorSeer-Lite's
    # fixed interval (its node allows 3-7; 2 is added for a point near 2x)
    # (the forecast gain lowers E_t, so the same speed needs a higher threshold_scale than with reuse)
    "semcache-forecast_1": (0.1, 0.2, 0.35, 0.6, 1.0, 1.6, 2.5),
    "semcache-forecast_2": (0.1, 0.2, 0.35, 0.6, 1.0, 1.6, 2.5),
    "taylorseer-lite": (2, 3, 4, 5, 6, 7),
}
FORECAST_MODES = {"semcache-forecast_1": "forecast_1", "semcache-forecast_2": "forecast_2"}  # family -> reuse_mode
DEFAULT_SCALE = 0.2  # SemCachePatchModel's default threshold_scale
DEFAULT_REUSE = 0.2  # EasyCache / LazyCache node default reuse_threshold
DEFAULT_TMM_REUSE = 0.2  # TMM Frame Selector's default reuse_ratio
# Each peer's default row is its authors' recommended Wan 2.1 T2V 1.3B setting (see peers/).
DEFAULTS: dict[str, float | None] = {
    "semcache": DEFAULT_SCALE, "easycache": DEFAULT_REUSE, "lazycache": DEFAULT_REUSE, "teacache": 0.08,
    "teacache-ret": 0.15, "magcache": 0.12, "fbcache": 0.03, "greedy-oracle": None, "constrained-oracle": None,
    "semcache+tmm": DEFAULT_TMM_REUSE,
    # not node defaults (the node's reuse_mode default is `reuse`): no "default" row; TaylorSeer-Lite's
    # interval of its Wan example workflow
    "semcache-forecast_1": None, "semcache-forecast_2": None, "taylorseer-lite": 5,
}
# families whose whole sweep runs on every schedule, whatever `--sweep-other` says: SemCache's
# fixed-threshold curve is what the target-mode rows (harness/target.py) are compared with there
FULL_SWEEP_EVERYWHERE = ("semcache",)
MAGCACHE_KS = (2, 4, 6)  # MagCache's skip cap K, swept at every threshold
MAGCACHE_DEFAULT_K = 4
FAMILIES = tuple(SWEEPS)
WHOLE_STEP = ("semcache", "easycache", "lazycache", "teacache", "teacache-ret", "magcache", "greedy-oracle",
              "constrained-oracle")
MAIN_SCHEDULE = (30, "uni_pc")
SCHEDULES = ((20, "euler"), (20, "uni_pc"), (30, "euler"), (30, "uni_pc"), (50, "euler"), (50, "uni_pc"))
# What a plain full run measures (`--schedules all` adds 50 steps euler): sized by `--plan` to fit
# 150 minutes of one CPU thread on the 2-core dev box.
DEFAULT_SCHEDULES = ((30, "uni_pc"), (20, "euler"), (20, "uni_pc"), (30, "euler"), (50, "uni_pc"))
QUICK_ORACLE = (0.1, 0.2, 0.4)


@dataclass(frozen=True)
class Plan:
    """How much of the sweeps a run measures: `sweep_points` per family (None = all)."""

    families: tuple[str, ...] = FAMILIES
    sweep_points: int | None = None  # on the main schedule
    other_points: int | None = None  # on the other schedules (None: as on the main one)
    magcache_ks: tuple[int, ...] = MAGCACHE_KS  # on the main schedule; the others use K = 4 only when thinned
    extras: bool = True  # EasyCache's fp32 bug, TMM alone (main schedule only)


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


def _tag(family: str, knob: float, k: int | None = None) -> str:
    if family == "magcache" and k is not None and k != MAGCACHE_DEFAULT_K:
        return ""
    return "default" if DEFAULTS[family] == knob else ""


def method(family: str, knob: float, k: int | None = None) -> Method:
    """One sweep point of `family` (MagCache: at skip cap `k`, default K = 4)."""
    tag = _tag(family, knob, k)
    if family == "semcache":
        return semcache(tag, threshold_scale=knob)
    if family == "easycache":
        return easycache(knob, tag)
    if family == "lazycache":
        return lazycache(knob, tag)
    if family == "semcache+tmm":
        return semcache_tmm(DEFAULT_SCALE, knob, tag)
    if family in FORECAST_MODES:
        return semcache_forecast(family, knob, tag)
    if family == "magcache":
        return peer(family, knob, tag, magcache_K=k or MAGCACHE_DEFAULT_K)
    if family == "teacache-ret":
        return peer(family, knob, tag, mode="e0")
    return peer(family, knob, tag)


def sweeps(plan: Plan = Plan(), main: bool = True) -> list[Method]:
    """Uncached, then each family's (thinned) sweep: what every schedule runs."""
    points = plan.sweep_points if main or plan.other_points is None else plan.other_points
    ks = plan.magcache_ks if main or plan.other_points is None else (MAGCACHE_DEFAULT_K,)
    out = [UNCACHED]
    for family in plan.families:
        n = plan.sweep_points if family in FULL_SWEEP_EVERYWHERE else points
        knobs = thin(SWEEPS[family], n, DEFAULTS[family])
        if family == "magcache":
            out += [method(family, t, k) for t in knobs for k in ks]
        else:
            out += [method(family, t) for t in knobs]
    return out


def ablations() -> list[Method]:
    """SemCache's design choices, one setting changed at its default: run on the tuning prompts."""
    base = DEFAULT_SCALE
    return [
        semcache("mode=paper", threshold_scale=base, threshold_mode="paper"),
        semcache("error=paper", threshold_scale=base, error_model="paper"),
        semcache("tanh=0.25", threshold_scale=base, tanh_scale=0.25),
        semcache("tanh=4", threshold_scale=base, tanh_scale=4.0),
        semcache("start=0.2", threshold_scale=base, start_percent=0.2),
        semcache("start=0.05", threshold_scale=base, start_percent=0.05),
        semcache("max_skip=2", threshold_scale=base, max_skip_steps=2),
        semcache("max_skip=8", threshold_scale=base, max_skip_steps=8),
        semcache("stride=1", threshold_scale=base, norm_stride=1),
    ]


def tuning(plan: Plan = Plan()) -> list[Method]:
    """What the tuning prompts run (main schedule): SemCache's whole sweep and its ablations, the
    evidence its defaults are chosen on; the evaluation prompts never inform them."""
    return [UNCACHED] + [method("semcache", t) for t in SWEEPS["semcache"]] + ablations()


def extras() -> list[Method]:
    """Main schedule only: EasyCache's fp32 bug, TMM alone."""
    base = DEFAULT_SCALE
    methods = [easycache(DEFAULT_REUSE, "no input copy: fp32 bug", copy_input=False)]
    methods += [tmm(r, _tag("semcache+tmm", r)) for r in (0.2, 0.5)]  # the 150-minute budget: two TMM points
    methods += [semcache_tmm(base, DEFAULT_TMM_REUSE, "predicted_clean", motion_source="predicted_clean")]
    return methods


def for_schedule(schedule: tuple[int, str], plan: Plan = Plan(), main: tuple[int, str] = MAIN_SCHEDULE) -> list[Method]:
    methods = sweeps(plan, main=schedule == main)
    if plan.extras and schedule == main:
        methods += extras()
    return methods


def defaults() -> list[Method]:
    """Every method at its node default (what a user gets without touching a widget)."""
    return [method(f, DEFAULTS[f]) for f in FAMILIES if DEFAULTS[f] is not None] + [tmm(DEFAULT_TMM_REUSE, "default")]


def quick() -> list[Method]:
    """Every default, one more SemCache point, and three points of each oracle (curves to match on)."""
    out = [UNCACHED] + [method(f, DEFAULTS[f]) for f in FAMILIES
                        if DEFAULTS[f] is not None and f not in ("semcache+tmm", "taylorseer-lite")]
    out.insert(2, semcache("", threshold_scale=0.35))
    return out + [method(o, k) for o in ("greedy-oracle", "constrained-oracle") for k in QUICK_ORACLE]


def parse_schedules(text: str) -> list[tuple[int, str]]:
    """"30:uni_pc,20:euler" -> [(30, "uni_pc"), (20, "euler")]; "all" -> every schedule, main first."""
    if text.strip() == "all":
        return [MAIN_SCHEDULE] + [s for s in SCHEDULES if s != MAIN_SCHEDULE]
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
