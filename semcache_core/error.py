"""Accumulated-error estimator (paper Eq. 8) and the skip policy with its limits (DESIGN §4.3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .forecast import forecast_gain, push

EPS = 1e-8


def l1(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute value: an L1 norm up to the element count, which cancels in every ratio."""
    return x.float().abs().mean()


def diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a - b in fp32: samples are kept in the model's dtype, their norms are taken in fp32."""
    return a.float() - b.float()


@dataclass
class Decision:
    """What the leader decided for one evaluation, and why."""

    skip: bool
    reason: str
    error: float | None = None
    threshold: float | None = None
    delta: float | None = None


class ErrorAccumulator:
    """E_t = E_{t-1} + gain * rho * k * delta_t; reset to 0 on every computed step.

    rho (residual-magnitude ratio) and k (transformation rate) come from the two latest
    computed steps; delta_t is the relative change of the block-stack input since the previous
    evaluation (`input_scaled`), or 1 (`paper`, Eq. 8 taken literally).

    `gain` makes E_t the error of what a skip applies. It is exactly 1 with reuse_mode `reuse`
    (`order` 0: Eq. 8 as before). With a forecast (`order` 1 or 2) it is the forecast's error
    relative to reuse's where the truth was last known: at a computed step, the forecast of its
    residual from the computed residuals before it against the reuse of the one before
    (`forecast.forecast_gain`, on the same token sample as the rest of Eq. 8); the larger of the
    latest two such measurements (one lucky forecast does not license a long run of skips: on the
    proxy's tuning prompts the latest one alone gave a speed that fell as the threshold rose, and up
    to 3 dB less PSNR at equal speed); 1 until the history is long enough for the forecast to
    differ from reuse.
    """

    def __init__(self, error_model: str, on_change: Callable[..., None] | None = None, order: int = 0):
        self.error_model = error_model
        self.on_change = on_change  # called with `samples` whenever they change (memory.MemoryLedger)
        self.order = order
        self.reset()

    def reset(self) -> None:
        self.error = 0.0
        self.rho: float | None = None
        self.k: float | None = None
        self.last_in: torch.Tensor | None = None
        self.last_out: torch.Tensor | None = None
        self.prev_input: torch.Tensor | None = None
        self.gain = 1.0
        self.gains: list[float] = []  # the latest two measured forecast gains
        self.residual_history: list[tuple[float, torch.Tensor]] = []  # forecasting only: sampled residuals

    @property
    def samples(self) -> tuple[torch.Tensor | None, ...]:
        """The token samples kept between evaluations (prev_input is often last_in itself)."""
        return self.last_in, self.last_out, self.prev_input, *(t for _, t in self.residual_history)

    @property
    def ready(self) -> bool:
        return self.rho is not None and self.k is not None

    def input_delta(self, current_in: torch.Tensor) -> float:
        if self.error_model == "paper" or self.prev_input is None:
            return 1.0
        if self.prev_input.shape != current_in.shape:
            return float("inf")
        return float(l1(diff(current_in, self.prev_input)) / (l1(self.prev_input) + EPS))

    def candidate(self, current_in: torch.Tensor) -> tuple[float, float]:
        """Error if this evaluation were skipped, and the delta used."""
        delta = self.input_delta(current_in)
        if self.order == 0:  # reuse: Eq. 8 exactly as before (no factor, not even 1.0)
            return self.error + self.rho * self.k * delta, delta
        return self.error + self.gain * self.rho * self.k * delta, delta

    def accept_skip(self, error: float, current_in: torch.Tensor) -> None:
        self.error = error
        self.prev_input = current_in
        self._changed()

    def record_computed(self, block_in: torch.Tensor, block_out: torch.Tensor, position: float = 0.0) -> None:
        """Update rho and k (and the forecast gain) from this and the previous computed steps
        (`position`: this one's place in the schedule, forecast.schedule_position); E restarts at 0."""
        if self.last_in is not None and self.last_in.shape == block_in.shape:
            values = torch.stack(
                [
                    l1(diff(block_out, block_in)),
                    l1(diff(self.last_out, self.last_in)),
                    l1(diff(block_out, self.last_out)),
                    l1(diff(block_in, self.last_in)),
                ]
            ).tolist()
            self.rho = values[0] / (values[1] + EPS)
            self.k = values[2] / (values[3] + EPS)
        if self.order > 0:
            self._record_forecast(block_in, block_out, position)
        self.error = 0.0
        self.last_in, self.last_out = block_in, block_out
        self.prev_input = block_in
        self._changed()

    def _record_forecast(self, block_in: torch.Tensor, block_out: torch.Tensor, position: float) -> None:
        residual = diff(block_out, block_in).to(block_out.dtype)  # kept like the other samples, in the model's dtype
        history = self.residual_history
        if history and history[-1][1].shape != residual.shape:
            history.clear()
        if history and abs(history[-1][0] - position) < 1e-6:
            history.pop()  # the same position computed again (Heun): only the later one counts
        gain = forecast_gain(history, position, residual, self.order)
        if gain is not None:
            self.gains = [*self.gains[-1:], gain]
            self.gain = max(self.gains)
        push(history, position, residual, self.order + 1)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(*self.samples)


@dataclass(frozen=True)
class ScheduleLimits:
    """Sigma-based limits, so they hold for KSamplerAdvanced splits (DESIGN §4.3)."""

    sigma_start: float
    sigma_end: float
    last_sigma: float
    max_skip_steps: int
    warmup_evaluations: int

    def forced_reason(self, sigma: float, evaluation: int, consecutive_skips: int) -> str | None:
        """Why this evaluation must be computed, or None if it may be skipped."""
        if evaluation < self.warmup_evaluations:
            return "warmup"
        if sigma > self.sigma_start:
            return "before_start"
        if sigma <= self.sigma_end:
            return "after_end"
        if sigma <= self.last_sigma * (1 + 1e-6):
            return "last_step"
        if consecutive_skips >= self.max_skip_steps:
            return "max_skip_steps"
        return None
