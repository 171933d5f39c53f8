"""Reference policies that know the truth, and the replay of a given skip schedule.

- **Greedy oracle** (`GreedyOraclePolicy`): at every step it also runs the whole block stack (off
  the books) and knows the true relative error of reusing the cached residual instead,
  e_t = mean|(I_t + R_c) − O_t| / mean|O_t| on the block stack's output. It accumulates
  E += e_t and reuses while E < `oracle_thresh`, otherwise keeps the truth and resets E. No
  warm-up, cap or forced step. It is *greedy and local*: blind to how an error now grows later,
  so a method that chooses *which* steps to compute can beat it. Not a limit.
- **Constrained oracle** (`ConstrainedOraclePolicy`): the same idea under SemCache's forced steps
  (its `warmup_evaluations`, `start_percent`, last step and `max_skip_steps`), with the true error
  measured at the *model output* (the head applied to the reused and to the true stack output):
  SemCache's rule with a perfect error estimate.
- **Replay** (`ReplayPolicy`): reuses exactly on the steps a pattern marks "." (all streams), the
  building block of the search bound (`harness/bound.py`).
Reused oracle steps count as no block work (`work.off_the_books`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine import Evaluation, Policy, Step, rel_l1

DEFAULTS: dict = {}
# SemCacheConfig's defaults (the pack's node); a test checks they match.
SEMCACHE_FORCED = {"warmup_evaluations": 2, "start_percent": 0.1, "max_skip_steps": 4}


class GreedyOraclePolicy(Policy):
    stage = "after_last"

    def __init__(self, oracle_thresh: float):
        self.thresh = oracle_thresh
        self.accumulated = 0.0

    def decide_error(self, can_reuse: bool, error: float | None) -> bool:
        """The rule on a known true error (separate so a hand-computed sequence can test it)."""
        if not can_reuse or error is None:
            self.accumulated = 0.0
            return False
        self.value = self.accumulated + error
        if self.value < self.thresh:
            self.accumulated = self.value
            return True
        self.accumulated = 0.0
        return False

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        reused = signals["reused_out"]
        error = rel_l1(reused, signals["true_out"]) if reused is not None else None
        return [self.decide_error(all(can_reuse), error)] * len(can_reuse)


class ConstrainedOraclePolicy(Policy):
    stage = "after_last"

    def __init__(self, oracle_thresh: float, warmup_evaluations: int = 2, start_percent: float = 0.1,
                 max_skip_steps: int = 4):
        self.thresh = oracle_thresh
        self.warmup, self.start_percent, self.max_skip = warmup_evaluations, start_percent, max_skip_steps
        self.sigma_start = float("inf")
        self.accumulated = 0.0
        self.consecutive = 0
        self.evaluations = 0

    def start(self, sigmas: list[float], percent_to_sigma: Callable[[float], float]) -> None:
        self.sigma_start = float(percent_to_sigma(self.start_percent))

    def forced(self, step: Step) -> bool:
        """SemCache's forced computes (semcache_core/error.py `forced_reason`)."""
        return (self.evaluations < self.warmup or step.sigma > self.sigma_start or step.is_last
                or self.consecutive >= self.max_skip)

    def decide_error(self, step: Step, can_reuse: bool, error: float | None) -> bool:
        """The rule on a known true output error (separate so a hand-computed sequence can test it)."""
        forced = self.forced(step)
        self.evaluations += 1
        if forced or not can_reuse or error is None:
            self.accumulated, self.consecutive = 0.0, 0
            return False
        self.value = self.accumulated + error
        if self.value < self.thresh:
            self.accumulated, self.consecutive = self.value, self.consecutive + 1
            return True
        self.accumulated, self.consecutive = 0.0, 0
        return False

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        reused = signals["reused_out"]
        error = rel_l1(ev.head(reused), ev.head(signals["true_out"])) if reused is not None else None
        return [self.decide_error(ev.step, all(can_reuse), error)] * len(can_reuse)


class ReplayPolicy(Policy):
    """Reuse (every stream) exactly where `pattern` has "." (a step the pattern lacks computes)."""

    stage = "before"

    def __init__(self, pattern: str):
        self.pattern = pattern

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        i = ev.step.index
        reuse = i < len(self.pattern) and self.pattern[i] == "." and all(can_reuse)
        return [reuse] * len(can_reuse)
