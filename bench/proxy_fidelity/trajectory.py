"""Statistics of a residual trace that step caches depend on (pure torch/numpy, no ComfyUI)."""

from __future__ import annotations

import math

import torch


def magnitude_ratios(residuals: list[torch.Tensor]) -> list[float]:
    """MagCache's calibration statistic: per step t >= 1, mean over tokens of |R_t| / |R_{t-1}|
    (norms over the channel dimension, per token)."""
    out = []
    for prev, cur in zip(residuals, residuals[1:]):
        out.append(float((cur.norm(dim=-1) / prev.norm(dim=-1).clamp_min(1e-12)).mean()))
    return out


def relative_changes(residuals: list[torch.Tensor]) -> list[float]:
    """True step-to-step change of the residual: mean |R_t - R_{t-1}| / mean |R_{t-1}|, t >= 1."""
    return [float((cur - prev).abs().mean() / prev.abs().mean().clamp_min(1e-12))
            for prev, cur in zip(residuals, residuals[1:])]


def late_mean(values: list[float], total_steps: int, skip_share: float = 0.1) -> float:
    """Mean of a per-step series (value i belongs to step i + 1) over the steps after the first
    `skip_share` of the schedule."""
    first = math.ceil(skip_share * total_steps)
    kept = [v for i, v in enumerate(values) if i + 1 >= first]
    return sum(kept) / len(kept)


def smoothness(curve: list[float], tail: int = 5) -> float:
    """Std of the step-to-step differences of a curve, leaving out its last `tail` values."""
    head = torch.tensor(curve[: len(curve) - tail], dtype=torch.float64)
    return float(head.diff().std(unbiased=False))


def spread(curves: list[list[float]], share: float = 0.9) -> float:
    """Max over the first `share` of the steps of the std across curves (one per prompt) at each
    step: real Wan's curves coincide across prompts (issue 21)."""
    if len(curves) < 2:
        return 0.0
    values = torch.tensor(curves, dtype=torch.float64)
    kept = max(1, math.floor(share * values.shape[1]))
    return float(values[:, :kept].std(dim=0, unbiased=False).max())


def pearson(a: list[float], b: list[float]) -> float:
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-300))


def resample(curve: list[float], length: int) -> list[float]:
    """Linear interpolation of a per-step curve onto `length` evenly spaced positions."""
    if len(curve) == length:
        return list(curve)
    src = torch.tensor(curve, dtype=torch.float64)
    pos = torch.linspace(0, len(curve) - 1, length, dtype=torch.float64)
    lo = pos.floor().long().clamp(max=len(curve) - 2)
    frac = pos - lo
    return [float(v) for v in src[lo] * (1 - frac) + src[lo + 1] * frac]
