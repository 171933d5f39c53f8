"""First Block Cache (WaveSpeed's "Apply First Block Cache"; the cache-dit FBCache idea),
written from its published rule; calibration-free.

The first block always runs. Its residual H₁ − H₀ is compared with the one stored at the last
*computed* step: if mean|Δ| / mean|stored| < `residual_diff_threshold` the rest of the stack is
skipped and its residual from the last computed step (H_N − H₁) is added to H₁; otherwise the
rest runs and the stored first-block residual is refreshed. Gated by start/end percent (sigma)
and `max_consecutive_cache_hits` (−1 = unlimited), as the node is. Threshold 0 disables (the
node's rule). Default 0.1: WaveSpeed's recommendation for video models (the node's own default
0 means off; Wan is not in its list).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .engine import Policy, Step, rel_l1

DEFAULTS = {"residual_diff_threshold": 0.1, "start": 0.0, "end": 1.0, "max_consecutive_cache_hits": -1}


class FirstBlockCachePolicy(Policy):
    stage = "after_first"

    def __init__(self, residual_diff_threshold: float, start: float = 0.0, end: float = 1.0,
                 max_consecutive_cache_hits: int = -1):
        self.thresh = residual_diff_threshold
        self.start_pct, self.end_pct = start, end
        self.max_hits = max_consecutive_cache_hits
        self.sigma_start, self.sigma_end = float("inf"), 0.0
        self.stored: torch.Tensor | None = None
        self.hits = 0

    def start(self, sigmas: list[float], percent_to_sigma: Callable[[float], float]) -> None:
        self.sigma_start, self.sigma_end = float(percent_to_sigma(self.start_pct)), float(percent_to_sigma(self.end_pct))

    def decide_residual(self, step: Step, can_reuse: bool, first_residual: torch.Tensor) -> bool:
        """The rule on a first-block residual (separate so a synthetic sequence can test it)."""
        self.value = None
        in_window = self.sigma_end <= step.sigma <= self.sigma_start
        allowed = self.max_hits < 0 or self.hits < self.max_hits
        if self.stored is not None and can_reuse and in_window and allowed and self.thresh > 0:
            self.value = rel_l1(first_residual, self.stored)
            if self.value < self.thresh:
                self.hits += 1
                return True
        self.stored = first_residual.detach().float().clone()
        self.hits = 0
        return False

    def decide_after_first(self, step: Step, can_reuse: bool, x: torch.Tensor, first: torch.Tensor) -> bool:
        return self.decide_residual(step, can_reuse, first - x)
