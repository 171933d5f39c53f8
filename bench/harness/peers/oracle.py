"""The limit: a residual-reuse policy with a perfect error estimate.

At every step it also runs the whole block stack (off the books) and knows the true relative
error of reusing the cached residual instead, e_t = mean|(I_t + R_c) − O_t| / mean|O_t| (I_t, O_t
the stack input and true output, R_c the residual of the last computed step). It accumulates
E += e_t and reuses while E < `oracle_thresh` (the reused output replaces the true one, and that
step's block work is counted as none), otherwise it keeps the true output, refreshes R_c and
resets E. No warm-up, cap or forced step: only the error decides, so its threshold sweep is the
upper bound of what any such rule reaches on this model. Threshold 0 never reuses.
"""

from __future__ import annotations

import torch

from .engine import Policy, Step, rel_l1

DEFAULTS: dict = {}


class OraclePolicy(Policy):
    stage = "after_last"

    def __init__(self, oracle_thresh: float):
        self.thresh = oracle_thresh
        self.accumulated = 0.0

    def decide_error(self, step: Step, can_reuse: bool, error: float | None) -> bool:
        """The rule on a known true error (separate so a synthetic sequence can test it)."""
        self.value = None
        if not can_reuse or error is None:
            self.accumulated = 0.0
            return False
        self.value = self.accumulated + error
        if self.value < self.thresh:
            self.accumulated = self.value
            return True
        self.accumulated = 0.0
        return False

    def decide_after_last(self, step: Step, can_reuse: bool, x: torch.Tensor, true_out: torch.Tensor,
                          reused_out: torch.Tensor | None) -> bool:
        error = rel_l1(reused_out, true_out) if reused_out is not None else None
        return self.decide_error(step, can_reuse, error)
