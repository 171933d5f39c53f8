"""TeaCache (Liu et al. 2024, "Timestep Embedding Tells: It's Time to Cache for Video Diffusion
Model"), Wan formulation, written from the paper's algorithm.

Indicator: the timestep-modulated input of the first block, `norm1(x)·(1+scale)+shift` with
(shift, scale) from block 0's modulation plus the time projection (the block's own formula).
Its relative L1 change from the previous step is rescaled by a polynomial that the authors fit
from input change to model-output change on calibration prompts (here: `calibration.py`, on the
proxy, prompts disjoint from the benchmark's) and accumulated; the step is reused while the sum
stays below `rel_l1_thresh`, otherwise computed and the sum reset. The first and last steps
and the steps before `start_percent` (of the step count, as the ComfyUI node gates) compute.
`rel_l1_thresh` 0 disables reuse (the node's rule). Defaults: the authors' ComfyUI Wan 2.1
example workflow (`rel_l1_thresh` 0.15, `start_percent` 0.1, `end_percent` 1).
"""

from __future__ import annotations

from typing import Any

import torch

from .engine import Policy, Step, rel_l1

DEFAULTS = {"rel_l1_thresh": 0.15, "start_percent": 0.1, "end_percent": 1.0}


def modulated_input(block: Any, x: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
    """`norm1(x)·(1+scale)+shift` of a Wan block, as its forward computes it before self-attention."""
    mod = block.modulation.to(device=x.device, dtype=x.dtype)
    e = (mod + vec).chunk(6, dim=1) if vec.ndim < 4 else (mod.unsqueeze(0) + vec).unbind(2)
    shift, scale = e[0], e[1]
    if shift.ndim == 3 and shift.shape[1] not in (1, x.shape[1]):  # per-frame modulation (TI2V): per token
        per = x.shape[1] // shift.shape[1]
        shift, scale = shift.repeat_interleave(per, dim=1), scale.repeat_interleave(per, dim=1)
    return block.norm1(x) * (1 + scale) + shift


class TeaCachePolicy(Policy):
    stage = "before"

    def __init__(self, coefficients: list[float], rel_l1_thresh: float, start_percent: float = 0.1,
                 end_percent: float = 1.0):
        self.coefficients = list(coefficients)
        self.thresh = rel_l1_thresh
        self.start_percent, self.end_percent = start_percent, end_percent
        self.previous: torch.Tensor | None = None
        self.accumulated = 0.0

    def rescale(self, rel: float) -> float:
        """The fitted polynomial (highest power first, as numpy.polyfit returns it)."""
        out = 0.0
        for c in self.coefficients:
            out = out * rel + c
        return out

    def decide_indicator(self, step: Step, can_reuse: bool, indicator: torch.Tensor) -> bool:
        """The rule on an indicator tensor (separate so a synthetic sequence can test it)."""
        previous, self.previous = self.previous, indicator.detach().float().clone()
        self.value = None
        gated = (previous is None or step.index == 0 or step.is_last or self.thresh <= 0
                 or not self.start_percent <= step.fraction <= self.end_percent)
        if gated or not can_reuse:
            self.accumulated = 0.0
            return False
        self.accumulated += self.rescale(rel_l1(indicator, previous))
        self.value = self.accumulated
        if self.accumulated < self.thresh:
            return True
        self.accumulated = 0.0
        return False

    def decide_before(self, step: Step, can_reuse: bool, x: torch.Tensor, args: dict, model: Any) -> bool:
        return self.decide_indicator(step, can_reuse, modulated_input(model.blocks[0], x, args["vec"]))
