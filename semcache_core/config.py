"""User-facing settings of one SemCache patch, validated once at patch time."""

from __future__ import annotations

import math
from dataclasses import dataclass

ERROR_MODELS = ("input_scaled", "paper", "self_calibrated")
THRESHOLD_MODES = ("inverse", "paper")
CACHE_DEVICES = ("model_device", "cpu")
REUSE_MODES = ("reuse", "forecast_1", "forecast_2")  # forecast.py; kept here so nodes import one module
MIN_TARGET, MAX_TARGET = 1.0, 20.0  # target_speedup range (0 = off)


def target_problem(target: float) -> str | None:
    """Why `target` is not a valid target_speedup (None when it is)."""
    if target == 0.0:
        return None
    if not math.isfinite(target) or not MIN_TARGET <= target <= MAX_TARGET:
        return (
            f"target_speedup must be 0 (off) or between {MIN_TARGET:g} and {MAX_TARGET:g} "
            f"(a speedup factor: 2 = half the block work), got {target}"
        )
    return None


@dataclass(frozen=True)
class SemCacheConfig:
    """Settings of the PSA step cache (DESIGN §4.2-§4.3).

    `alpha`/`beta` < 0 mean "the paper's value for the detected model family".
    """

    threshold_scale: float = 0.2
    start_percent: float = 0.1
    end_percent: float = 1.0
    max_skip_steps: int = 4
    probe_layers: int = 15
    alpha: float = -1.0
    beta: float = -1.0
    tanh_scale: float = 1.0
    error_model: str = "input_scaled"
    cache_device: str = "model_device"
    threshold_mode: str = "inverse"
    min_steps: int = 10
    warmup_evaluations: int = 2
    norm_stride: int = 4
    target_speedup: float = 0.0  # 0 = off; else the controller sets the threshold (controller.py)
    # most tokens the Eq. 8 samples and probe sums keep (memory.token_sample; README "Memory")
    norm_token_budget: int = 192
    # what a skipped step adds: the last computed residual, or its order-1 / order-2 forecast (forecast.py)
    reuse_mode: str = "reuse"

    def __post_init__(self) -> None:
        problems = []
        if self.threshold_scale < 0:
            problems.append(f"threshold_scale must be >= 0, got {self.threshold_scale}")
        if not 0.0 <= self.start_percent <= 1.0 or not 0.0 <= self.end_percent <= 1.0:
            problems.append("start_percent and end_percent must lie in [0, 1]")
        elif self.start_percent > self.end_percent:
            problems.append(
                f"start_percent ({self.start_percent}) must not be after end_percent ({self.end_percent})"
            )
        if self.max_skip_steps < 0:
            problems.append(f"max_skip_steps must be >= 0, got {self.max_skip_steps}")
        if self.probe_layers < 1:
            problems.append(f"probe_layers must be >= 1, got {self.probe_layers}")
        if self.tanh_scale <= 0:
            problems.append(f"tanh_scale must be > 0, got {self.tanh_scale}")
        if self.error_model not in ERROR_MODELS:
            problems.append(f"error_model must be one of {ERROR_MODELS}, got {self.error_model!r}")
        if self.threshold_mode not in THRESHOLD_MODES:
            problems.append(f"threshold_mode must be one of {THRESHOLD_MODES}, got {self.threshold_mode!r}")
        if self.cache_device not in CACHE_DEVICES:
            problems.append(f"cache_device must be one of {CACHE_DEVICES}, got {self.cache_device!r}")
        if min(self.min_steps, self.warmup_evaluations, self.norm_stride, self.norm_token_budget) < 1:
            problems.append("min_steps, warmup_evaluations, norm_stride and norm_token_budget must be >= 1")
        if self.reuse_mode not in REUSE_MODES:
            problems.append(f"reuse_mode must be one of {REUSE_MODES}, got {self.reuse_mode!r}")
        if target_problem(self.target_speedup):
            problems.append(target_problem(self.target_speedup))
        if problems:
            raise ValueError("SemCache: " + "; ".join(problems))

    def weights(self, family_alpha: float, family_beta: float) -> tuple[float, float]:
        """alpha/beta to use: the user's, or the family default where the user left -1."""
        alpha = family_alpha if self.alpha < 0 else self.alpha
        beta = family_beta if self.beta < 0 else self.beta
        return alpha, beta
