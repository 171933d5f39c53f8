"""MagCache (Ma et al. 2025, "MagCache: Fast Video Generation with Magnitude-Aware Cache"),
written from the paper's algorithm.

The decision uses no tensor of the current run: a per-step magnitude ratio curve
γ_t = mean over tokens of ‖R_t‖₂/‖R_{t−1}‖₂ (R = block-stack residual), calibrated once from
one prompt (`calibration.py`, on the proxy) at the calibration step count and mapped to other
step counts by nearest lower index, as the authors do. At each step after the retention steps
(the first `retention_ratio` of the steps always compute): ratio ← ratio·γ_t, steps += 1,
err += |1 − ratio|; reuse while err < `magcache_thresh` and steps ≤ K, otherwise compute and
reset (ratio 1, steps 0, err 0). Defaults: the authors' ComfyUI node (thresh 0.06, K 2,
retention 0.2).
"""

from __future__ import annotations

from typing import Any

import torch

from .engine import Policy, Step

DEFAULTS = {"magcache_thresh": 0.06, "magcache_K": 2, "retention_ratio": 0.2}


def ratio_index(step: int, total: int, calibrated: int) -> int:
    """Index into a curve calibrated at `calibrated` steps for step `step` of `total`."""
    if total == calibrated or total <= 1:
        return min(step, calibrated - 1)
    return int(step * (calibrated - 1) / (total - 1))


class MagCachePolicy(Policy):
    stage = "before"

    def __init__(self, ratios: list[float], magcache_thresh: float, magcache_K: int = 2,
                 retention_ratio: float = 0.2):
        self.ratios = list(ratios)
        self.thresh, self.k, self.retention = magcache_thresh, magcache_K, retention_ratio
        self._reset()

    def _reset(self) -> None:
        self.acc_ratio, self.acc_steps, self.acc_err = 1.0, 0, 0.0

    def decide_step(self, step: Step, can_reuse: bool) -> bool:
        self.value = None
        if step.index < int(step.total * self.retention) or not can_reuse:
            self._reset()
            return False
        self.acc_ratio *= self.ratios[ratio_index(step.index, step.total, len(self.ratios))]
        self.acc_steps += 1
        self.acc_err += abs(1.0 - self.acc_ratio)
        self.value = self.acc_err
        if self.acc_err < self.thresh and self.acc_steps <= self.k:
            return True
        self._reset()
        return False

    def decide_before(self, step: Step, can_reuse: bool, x: torch.Tensor, args: dict, model: Any) -> bool:
        return self.decide_step(step, can_reuse)
