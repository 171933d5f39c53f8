"""`reuse_mode`: what a skipped step adds to the block-stack input (README "What SemCache does").

`reuse` adds the residual of the stream's last computed step, as the paper does. `forecast_1` and
`forecast_2` extrapolate it instead: the polynomial of degree 1 or 2 through the stream's last 2
or 3 computed residuals (Newton's divided differences, written as Lagrange weights so a forecast
is one weighted sum of the kept residuals), evaluated at the skipped step. Order 1 is TaylorSeer's
first-order finite-difference Taylor step; with fewer residuals kept than the order needs (the
first computed steps of a run) the order drops, down to plain reuse with one.

The axis is the *step position* in the sampler call's schedule, not sigma: on the proxy Wan
(uncached runs, 2 tuning prompts, residuals computed every 2-4 steps and forecast to the steps
between) order 1 is as good in either axis (relative L1 error 0.131 vs 0.131 at 30 uni_pc steps,
0.068 vs 0.066 at 20 euler, every 2nd step computed) but order 2 along sigma overshoots where
the shifted schedule bends (0.36 vs 0.25 at 30 uni_pc, 0.68 vs 0.14 at 20 euler, every 3rd / 4th
step computed). Evaluations between schedule sigmas (second-order samplers) get a fractional
position by linear interpolation of the schedule; two computed evaluations at the same position
(Heun evaluates some sigmas twice) keep the later one only, so no difference divides by ~0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .config import REUSE_MODES
SAME_POSITION = 1e-6  # positions closer than this are one point of the history


def mode_order(mode: str) -> int:
    """Polynomial order of a reuse_mode: 0 for `reuse`, 1 / 2 for `forecast_1` / `forecast_2`."""
    if mode not in REUSE_MODES:
        raise ValueError(f"reuse_mode must be one of {REUSE_MODES}, got {mode!r}")
    return REUSE_MODES.index(mode)


def schedule_position(schedule: Sequence[float], sigma: float) -> float:
    """Where `sigma` lies in a decreasing `schedule`, in steps: i at schedule[i], linear between
    (a second-order sampler's intermediate sigma gets a fractional position), clamped to the ends."""
    if not schedule:
        return 0.0
    if sigma >= schedule[0]:
        return 0.0
    for i in range(len(schedule) - 1):
        hi, lo = schedule[i], schedule[i + 1]
        if lo <= sigma <= hi:
            return i + ((hi - sigma) / (hi - lo) if hi > lo else 0.0)
    return float(len(schedule) - 1)


def lagrange_weights(xs: Sequence[float], x: float) -> list[float]:
    """Weights w with p(x) = sum w_i * y_i for the polynomial p through (xs[i], y_i); xs distinct."""
    weights = []
    for i, xi in enumerate(xs):
        w = 1.0
        for j, xj in enumerate(xs):
            if j != i:
                w *= (x - xj) / (xi - xj)
        weights.append(w)
    return weights


def extrapolate(history: Sequence[tuple[float, torch.Tensor]], position: float, order: int,
                device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The forecast at `position` from `history` ((position, tensor), oldest first, non-empty):
    the polynomial through its last min(order + 1, len) points, summed in fp32 on `device`, returned
    in `dtype` (defaults: the newest tensor's). With one point (or order 0) that point itself."""
    newest = history[-1][1]
    device = device or newest.device
    dtype = dtype or newest.dtype
    points = list(history[-(order + 1):]) if order > 0 else [history[-1]]
    if len(points) == 1:
        return newest.to(device=device, dtype=dtype)
    weights = lagrange_weights([p for p, _ in points], position)
    out = torch.zeros(newest.shape, device=device, dtype=torch.float32)
    for w, (_, t) in zip(weights, points):
        out.add_(t.to(device=device, dtype=torch.float32), alpha=w)
    return out.to(dtype)


def push(history: list[tuple[float, torch.Tensor]], position: float, t: torch.Tensor, keep: int) -> None:
    """Append (position, t), replacing a point at the same position, keeping the newest `keep`."""
    if history and abs(history[-1][0] - position) < SAME_POSITION:
        history.pop()
    history.append((position, t))
    del history[:-keep]


def forecast_gain(history: Sequence[tuple[float, torch.Tensor]], position: float, fresh: torch.Tensor,
                  order: int) -> float | None:
    """How the forecast compares with reuse where the truth is known: at a computed step, the
    forecast from the earlier computed residuals (`history`, not yet holding `fresh`) against the
    reuse of the latest one, as ||fresh - forecast||_1 / ||fresh - reused||_1. None when the
    history is too short for the forecast to differ from reuse (it then is reuse: gain 1)."""
    if order < 1 or len(history) < 2:
        return None
    predicted = extrapolate(history, position, order, fresh.device, torch.float32)
    fresh = fresh.float()
    miss = (fresh - predicted).abs().mean()
    reuse = (fresh - history[-1][1].to(fresh.device, torch.float32)).abs().mean()
    return float(miss / reuse.clamp_min(1e-12))
