"""`target_speedup`: an online budget controller that sets the skip threshold during a run
(DESIGN §4.5), and the per-window decision state it lives in.

Why online: what a fixed `threshold_scale` buys depends on the model, the step count and the
sampler, and the estimate E_t is only known step by step. So the controller plans from the
schedule known at the start of each sampler call (a split KSamplerAdvanced is one segment,
with its own target) and, at every evaluation the hard limits leave free, decides so that the
block work done ends at total / target:

- it knows how many evaluations it may still compute (work budget left / work of one computed
  evaluation, which TMM makes smaller) and so how many of the remaining ones must be skipped;
- it skips this one when its normalised estimate `E_t / tau-base` (the threshold_scale that
  would have been needed to skip it) ranks among the lowest of those seen in the run, in the
  proportion still to be skipped: skips go where the estimate is lowest;
- when the skips still needed reach the most the limits still allow, it skips wherever they
  allow; when the budget is met, it computes.

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
from .psa import skip_threshold
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


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated q-quantile of `values` (non-empty), q in [0, 1]."""
    s = sorted(values)
    pos = min(max(q, 0.0), 1.0) * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    if math.isinf(s[lo]) or math.isinf(s[hi]):
        return s[lo] if pos == lo else s[hi]
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass
class TargetPlan:
    """What one sampler call can do: its positions, which the limits leave free, the most it can reach."""

    target: float
    free: list[bool]  # per schedule position: not forced by start/end percent or the last step
    warmup: int
    max_run: int

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
        return cls(target, free, limits.warmup_evaluations, limits.max_skip_steps)

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
    def unreachable(self) -> bool:
        return self.target > self.reachable * (1 + 1e-9)


@dataclass
class Budget:
    """The leader's work account in one window, and the normalised estimates seen so far."""

    plan: TargetPlan
    done: float = 0.0  # block work done, in full evaluations
    evaluations: int = 0
    positions: set = field(default_factory=set)
    work_per_compute: float = 1.0  # the latest computed evaluation's share of the full work
    history: list[float] = field(default_factory=list)

    def note(self, position: int, work: float) -> None:
        """After every leader evaluation: its share of the full block work (0 when skipped)."""
        self.evaluations += 1
        self.positions.add(position)
        self.done += work
        if work > 0:
            self.work_per_compute = work

    def decide(self, position: int, consecutive_skips: int, error: float, base: float) -> tuple[bool, float, str]:
        """(skip, threshold tau used, reason) at an evaluation the hard limits leave free."""
        plan = self.plan
        per_position = max(self.evaluations / max(len(self.positions), 1), 1.0)  # >1: multi-evaluation samplers
        remaining = plan.steps - position  # positions left, this one included
        budget_left = plan.steps * per_position / plan.target - self.done
        need = remaining * per_position - max(budget_left, 0.0) / self.work_per_compute  # skips still needed
        most = max_skips(plan.free[position:], plan.max_run, consecutive_skips) * per_position
        needed_scale = error / base if base > 0 else math.inf
        self.history.append(needed_scale)
        if need < 0.5:
            return False, 0.0, "target_reached"
        if need >= most - 0.5:
            return True, _tau(max(self.history), base), "target_catch_up"
        # pace on the most skips still possible (not on the free steps: max_skip_steps makes some of
        # those unskippable), so the controller keeps ahead and rarely has to catch up at the end
        scale = quantile(self.history, min(need / max(most, 1.0), 1.0))
        tau = _tau(scale, base)
        if needed_scale <= scale:
            return True, tau, "error_below_threshold"
        return False, tau, "error_above_threshold"


def _tau(scale: float, base: float) -> float:
    return scale * base if base > 0 and math.isfinite(scale) else math.inf


def skip_rule(controller: WindowController, error: float, threshold: float, run: Any,
              sigma: float) -> tuple[bool, float, str]:
    """(skip, tau, reason) where the limits leave the choice: E_t < tau, or the budget's choice.

    `run` is the RunState (its score, settings and schedule)."""
    if controller.budget is None:
        skip = error < threshold
        return skip, threshold, "error_below_threshold" if skip else "error_above_threshold"
    base = skip_threshold(run.score.p_s, 1.0, run.config.threshold_mode)
    return controller.budget.decide(run.step_index(sigma), controller.consecutive_skips, error, base)


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
