"""`target_speedup`: an online budget controller that sets the skip threshold during a run
(DESIGN §4.5), and the per-window decision state it lives in.

Why online: what a fixed `threshold_scale` buys depends on the model, the step count and the
sampler, and the estimate E_t is only known step by step. So the controller plans from the
schedule known at the start of each sampler call (a split KSamplerAdvanced is one segment,
with its own target) and, at every evaluation the hard limits leave free, re-plans:

- it knows how many evaluations it may still compute (work budget left / work of one computed
  evaluation, which TMM makes smaller) and so how many of the remaining ones must be skipped;
- it keeps the fixed rule's placement, skip when E_t < tau, and only chooses tau: the lowest
  threshold that, applied from here to the end of the schedule, would skip as many as are still
  needed. For that it forecasts the E_t increments still to come: each is the schedule's own
  step in log-SNR, log((1 - sigma) / sigma) (the same variable flow-matching solvers step in),
  times the highest increment / step ratio measured over the latest half of the run so far. A wrong
  forecast costs placement, never the target: the plan is redone at every evaluation from the
  budget actually left;
- when computing this evaluation would leave the run more than 5 % below the target, it skips
  regardless of the estimate; when the budget is met, it computes.

Why this rule: the fixed threshold's placement is what the fixed-threshold sweep measures;
ranking each estimate among those seen so far (the first controller) skipped early steps the
fixed rule never skips and caught up on the second-to-last step: on the proxy it cost 2.5 dB
mean PSNR at equal speed (benchmark v2, target rows).

Why the highest ratio, and over the latest half: a forecast that underestimates what is to come
holds skips back and then has to spend them at the end, on the steps that cost most to reuse;
one that overestimates skips more mid-run and computes the last steps once the budget is met.
The first free steps' ratios run 2-5x above the later ones, so a maximum over the whole run
over-forecasts the rest. Of the forecasts and placement rules tried on the proxy's tuning
prompts, this one cost least against the fixed rule at equal speed; every variant and its
numbers: `bench/results/target_controller_variants.md`.

Why skip at every free evaluation when the target is at the limit (within 5 % of the most the
limits allow, or above it): then every skip the limits leave is needed, so the estimate has nothing
left to choose, and the fixed rule at a high threshold does the same (skip as soon and as long as
allowed, compute the last steps). Planning to the band's edge instead spent the 5 % on an early
compute and then had to skip up to the second-to-last step.

Why catch up only to the 5 % band: the fixed rule never reuses the last steps, where E_t rises;
hitting the target exactly made the controller reuse them.

The hard limits (warm-up, start/end percent, last step, max_skip_steps) are checked before
the controller is asked, so it never overrides them; it only replaces `E_t < tau` on the
evaluations they leave free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import SemCacheConfig
from .error import ErrorAccumulator, ScheduleLimits
from .tmm import FrameStaleness

def max_skips(free: Sequence[bool], max_run: int, run: int = 0) -> int:
    """The most skips a sequence of evaluations allows: `free[i]` = the limits let i be skipped,
    at most `max_run` in a row, `run` skips already in a row. Greedy is optimal here."""
    count = 0
    for ok in free:
        if ok and run < max_run:
            count += 1
            run += 1
        else:
            run = 0
    return count


@dataclass
class TargetPlan:
    """What one sampler call can do: its positions, which the limits leave free, the most it can reach."""

    target: float
    free: list[bool]  # per schedule position: not forced by start/end percent or the last step
    warmup: int
    max_run: int
    shape: list[float] = field(default_factory=list)  # forecast: E_t increment per position, up to a factor

    @classmethod
    def for_run(cls, target: float, run: Any, stats: Any) -> TargetPlan | None:
        """The plan of a sampler call (RunState `run`: its schedule and limits), None when
        target_speedup is off; the target and the most reachable go into its RunStats."""
        if target <= 0:
            return None
        plan = cls.from_schedule(target, run.schedule, run.limits)
        stats.target_speedup, stats.target_reachable = target, plan.reachable
        return plan

    @classmethod
    def from_schedule(cls, target: float, schedule: Sequence[float], limits: ScheduleLimits) -> TargetPlan:
        free = [limits.forced_reason(s, limits.warmup_evaluations, 0) is None for s in schedule]
        return cls(target, free, limits.warmup_evaluations, limits.max_skip_steps, increment_shape(schedule))

    @property
    def steps(self) -> int:
        return len(self.free)

    @property
    def reachable(self) -> float:
        """The highest speedup the limits allow on this schedule (one evaluation per step, no TMM)."""
        skippable = [ok and i >= self.warmup for i, ok in enumerate(self.free)]
        computed = self.steps - max_skips(skippable, self.max_run)
        return self.steps / computed if computed > 0 else float("inf")

    @property
    def at_limit(self) -> bool:
        """The target asks for (about) the most the limits allow: there is no placement left to choose."""
        return self.target >= self.reachable * (1 - CATCH_UP_SLACK)

    @property
    def unreachable(self) -> bool:
        return self.target > self.reachable * (1 + 1e-9)


def increment_shape(schedule: Sequence[float]) -> list[float]:
    """Per position, the step in log-SNR, log((1 - sigma) / sigma), from the previous one: on a
    flow-matching schedule (sigmas in [0, 1]) E_t's increments follow it up to a slowly varying
    factor (on the proxy's full-compute runs the factor stays flat, 0.3-0.45, from mid-run to the
    last step; against log(1 - sigma) alone it rose 2-3x over the last third). Other schedules get
    a flat shape."""
    if not schedule or max(schedule) > 1.0 + 1e-6 or min(schedule) < 0.0:
        return [1.0] * len(schedule)
    logs = [math.log(max(1.0 - s, SHAPE_FLOOR)) - math.log(max(s, SHAPE_FLOOR)) for s in schedule]
    return [0.0] + [max(b - a, 0.0) for a, b in zip(logs, logs[1:])]


SHAPE_FLOOR = 1e-4  # 1 - sigma at the pure-noise end, sigma at the clean end
CATCH_UP_SLACK = 0.05  # skips regardless of the estimate only to stay within 5 % of the target


@dataclass
class Budget:
    """The leader's work account in one window, and the E_t increments measured so far."""

    plan: TargetPlan
    done: float = 0.0  # block work done, in full evaluations
    evaluations: int = 0
    positions: set = field(default_factory=set)
    work_per_compute: float = 1.0  # the latest computed evaluation's share of the full work
    accumulated: float = 0.0  # E_t after the latest leader evaluation (0 after a computed one)
    ratios: list[float] = field(default_factory=list)  # measured increment / forecast shape, in order

    def note(self, position: int, work: float) -> None:
        """After every leader evaluation: its share of the full block work (0 when skipped)."""
        self.evaluations += 1
        self.positions.add(position)
        self.done += work
        if work > 0:
            self.work_per_compute = work
            self.accumulated = 0.0

    def decide(self, position: int, consecutive_skips: int, error: float) -> tuple[bool, float, str]:
        """(skip, threshold tau used, reason) at an evaluation the hard limits leave free."""
        plan = self.plan
        increment = max(error - self.accumulated, 0.0)
        if position < len(plan.shape) and plan.shape[position] > 0:
            self.ratios.append(increment / plan.shape[position])
        per_position = self.per_position
        remaining = plan.steps - position  # positions left, this one included
        need = self.skips_needed(plan.target, remaining * per_position)
        floor = self.skips_needed(plan.target * (1 - CATCH_UP_SLACK), remaining * per_position)
        most = max_skips(plan.free[position:], plan.max_run, consecutive_skips) * per_position
        if need < 0.5:
            skip, tau, reason = False, 0.0, "target_reached"
        elif floor > 1e-9 + max_skips(plan.free[position + 1:], plan.max_run, 0) * per_position:
            skip, tau, reason = True, math.inf, "target_catch_up"  # computing this one would leave the band
        elif plan.at_limit and need >= most - 0.5:
            skip, tau, reason = True, math.inf, "target_at_limit"  # every skip the limits allow is needed
        else:
            wanted = need if need < most - 0.5 else floor  # behind: the edge of the band, not every skip left
            tau = self.threshold_for(position, consecutive_skips, increment, max(round(wanted / per_position), 1))
            skip = error < tau
            reason = "error_below_threshold" if skip else "error_above_threshold"
        self.accumulated = error if skip else 0.0
        return skip, tau, reason

    def skips_needed(self, target: float, remaining: float) -> float:
        """Evaluations still to skip (of `remaining`) for the run to end at `target`."""
        budget_left = self.plan.steps * self.per_position / target - self.done
        return remaining - max(budget_left, 0.0) / self.work_per_compute

    @property
    def forecast_ratio(self) -> float:
        """The factor on the shape for the increments to come: the highest ratio measured over the
        latest half of the evaluations so far (the first free steps, often 2-5x above the later
        ones, age out as the run goes on)."""
        return max(self.ratios[len(self.ratios) // 2:], default=0.0)

    @property
    def per_position(self) -> float:
        """Evaluations per schedule position so far (> 1: multi-evaluation samplers)."""
        return max(self.evaluations / max(len(self.positions), 1), 1.0)

    def threshold_for(self, position: int, run: int, increment: float, wanted: int) -> float:
        """The lowest tau with which `E_t < tau`, from this evaluation to the end of the schedule
        on the forecast increments, skips `wanted` positions (bisection: the count grows with tau)."""
        shape = self.plan.shape
        ratio = self.forecast_ratio
        forecast = [increment] + [ratio * shape[j] for j in range(position + 1, self.plan.steps)]
        lo, hi = 0.0, self.accumulated + sum(forecast) + 1.0
        if self.skips_with(hi, position, run, forecast) < wanted:
            return hi
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self.skips_with(mid, position, run, forecast) >= wanted:
                hi = mid
            else:
                lo = mid
        return hi

    def skips_with(self, tau: float, position: int, run: int, forecast: Sequence[float]) -> int:
        """How many positions from `position` on the fixed rule `E_t < tau` skips, on `forecast`."""
        plan, error, count = self.plan, self.accumulated, 0
        for offset, j in enumerate(range(position, plan.steps)):
            if plan.free[j] and run < plan.max_run and error + forecast[offset] < tau:
                error, run, count = error + forecast[offset], run + 1, count + 1
            else:
                error, run = 0.0, 0
        return count


def skip_rule(controller: WindowController, error: float, threshold: float, run: Any,
              sigma: float) -> tuple[bool, float, str]:
    """(skip, tau, reason) where the limits leave the choice: E_t < tau, or the budget's choice.

    `run` is the RunState (its score, settings and schedule)."""
    if controller.budget is None:
        skip = error < threshold
        return skip, threshold, "error_below_threshold" if skip else "error_above_threshold"
    return controller.budget.decide(run.step_index(sigma), controller.consecutive_skips, error)


class WindowController:
    """Decision state of the leader stream in one context window."""

    def __init__(self, config: SemCacheConfig, plan: TargetPlan | None = None,
                 on_change: Callable[..., None] | None = None, forecast_order: int = 0):
        # on_change: its samples, for the ledger; forecast_order: reuse_mode's (forecast.mode_order)
        self.errors = ErrorAccumulator(config.error_model, on_change, forecast_order)
        self.evaluations = 0
        self.consecutive_skips = 0
        self.staleness: FrameStaleness | None = None
        self.predicted_clean = None
        self.budget = Budget(plan) if plan is not None else None

    def note_work(self, evaluation: Any, computed_tokens: int) -> None:
        """After a leader Evaluation: its share of a full evaluation's block work (0 when skipped)."""
        if self.budget is not None:
            done = 0 if evaluation.skip else computed_tokens * evaluation.blocks_run
            full = max(evaluation.tokens * len(evaluation.run.block_keys), 1)
            self.budget.note(evaluation.run.step_index(evaluation.sigma), done / full)


def target_line(target: float, reachable: float | None, achieved: float, tmm: bool) -> str:
    """The report's `target:` line: asked, achieved, and whether the limits allowed it."""
    line = f"target: {target:.2f}x, achieved {achieved:.2f}x"
    if reachable is not None and target > reachable * (1 + 1e-9):
        extra = " without TMM" if tmm else ""
        line += (
            f" (not reachable: the limits (warm-up, start/end percent, last step, max_skip_steps) allow at most "
            f"{reachable:.2f}x{extra} on this schedule)"
        )
    elif abs(achieved - target) > 0.1 * target:
        line += " (missed by more than 10 %)"
    return line
