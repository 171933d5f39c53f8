"""TaylorSeer-Lite (philipy1219/ComfyUI-TaylorSeer, node `TaylorSeerLite`) as its ComfyUI port runs
it on Wan, written from the algorithm (no code copied).

Checked against philipy1219/ComfyUI-TaylorSeer `nodes.py` and `wanvideo_hook.py` (62d9fac):
- It replaces Wan's `forward_orig`: on a *full* call the whole model runs and the head's output is
  the feature; on a *Taylor* call nothing runs (no block, no head) and the output is the Taylor
  expansion of the cached feature: sum_i factor_i * x^i / i!, x = calls since the last full one.
  The head output before unpatchify is forecast; unpatchify is a reshuffle, so forecasting the
  model output (what the DIFFUSION_MODEL wrapper sees, `engine.py` stage "model") is the same.
- Schedule (`cal_type`): a call is full while `step < first_enhance`, when `cache_counter ==
  fresh_threshold - 1` (so every `fresh_threshold`-th call) or when `step >= last_enhance - 1`;
  otherwise Taylor. `step` counts the model calls of the sampler call (reset when the sampler is
  at its first sigma): one per step when cond and uncond are batched, as here.
- Factors (`derivative_approximation`): at a full call factor_0 = the feature and factor_{i+1} =
  (factor_i - old factor_i) / (calls between the last two full calls), up to `max_order`, while the
  old factor exists and `step > first_enhance - 2`. One cache for the whole batch: each row
  (each CFG stream) is forecast from its own values.
- Settings: the Wan example workflow (`examples/taylorseerlite_example_wan2-2.json`) uses
  fresh_threshold 5, max_order 1, first_enhance 1, last_enhance 50 (the node's generic defaults are
  6, 2, 3, 50); `fresh_threshold` is its speed knob (the node allows 3-7).
Not a whole-step *reuse* method: its skipped calls forecast, so its rows stand against the forecast
bound (`harness/bound.py`), not the reuse one.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .engine import Evaluation, Policy

DEFAULTS = {"fresh_threshold": 5, "max_order": 1, "first_enhance": 1, "last_enhance": 50}


class TaylorSeerLitePolicy(Policy):
    stage = "model"

    def __init__(self, fresh_threshold: float, max_order: int = 1, first_enhance: int = 1, last_enhance: int = 50):
        self.fresh = int(round(fresh_threshold))
        self.max_order = int(max_order)
        self.first_enhance = int(first_enhance)
        self.last_enhance = int(last_enhance)
        self.step = 0  # model calls so far in this sampler call
        self.counter = 0  # `cache_counter`: Taylor calls since the last full one
        self.activated = 0  # `current_activated_step`
        self.previous = 0  # `previous_activated_step`
        self.factors: dict[int, torch.Tensor] = {}

    def is_full(self) -> bool:
        """Upstream's `cal_type` for the current call (updates the counters)."""
        first = self.step < self.first_enhance
        # force_scheduler: round(fresh_threshold / 1), the same interval before and after the first steps
        # (`not self.factors`: only with first_enhance 0, where upstream would return 0 from an empty cache)
        if first or self.counter == self.fresh - 1 or self.step >= self.last_enhance - 1 or not self.factors:
            self.counter = 0
            self.previous, self.activated = self.activated, self.step
            return True
        self.counter += 1
        return False

    def update(self, feature: torch.Tensor) -> None:
        """Upstream's `derivative_approximation` at a full call."""
        distance = self.activated - self.previous
        new = {0: feature}
        for i in range(self.max_order):
            if self.factors.get(i) is not None and self.step > self.first_enhance - 2:
                new[i + 1] = (new[i] - self.factors[i]) / distance
            else:
                break
        self.factors = new

    def forecast(self) -> torch.Tensor:
        """Upstream's `taylor_formula` at the current call."""
        x = self.step - self.activated
        out: Any = 0
        for i, factor in self.factors.items():
            out = out + (1 / math.factorial(i)) * factor * (x**i)
        return out

    def model_call(self, ev: Evaluation, like: torch.Tensor) -> torch.Tensor | None:
        """The forecast output of this call, or None: run the model (then `model_output`)."""
        if self.is_full():
            return None
        out = self.forecast()
        self.step += 1
        return out

    def model_output(self, ev: Evaluation, output: torch.Tensor) -> None:
        self.update(output.detach().clone())
        self.step += 1
