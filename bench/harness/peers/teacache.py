"""TeaCache (Liu et al. 2024, "Timestep Embedding Tells: It's Time to Cache for Video Diffusion
Model") as its authors ship it for Wan 2.1, written from the algorithm (no code copied).

Checked against ali-vilab/TeaCache `TeaCache4Wan2.1/teacache_generate.py` (7c10efc) and the
ComfyUI port welltop-cn/ComfyUI-TeaCache `nodes.py` (91dff8e):
- Signal: the relative L1 change, step to step, of the *timestep embedding*: `e` (the output of
  `time_embedding`, mode "e") or `e0` (after `time_projection`, mode "e0" = upstream's
  `use_ret_steps` / ComfyUI's `*_ret_mode`). It depends on the timestep only, so on Wan the skip
  schedule is the same for every prompt.
- Rule, one state per CFG stream (cond / uncond): acc += max(0, poly(rel_l1)); compute when
  acc >= `rel_l1_thresh` (and reset acc), else reuse the stream's cached block-stack residual.
  The polynomial is refitted on the proxy (`calibration.py`) and clamped at 0, so a fitted
  curve that dips below zero can never *lower* the accumulated change.
- Forced computes (teacache_generate.py): the first `ret_steps` steps (1 in mode "e", 5 in mode
  "e0") and, in mode "e" only, the last step (`cutoff_steps = 2·steps − 2` counts cond+uncond
  calls). A forced step resets acc. ComfyUI's start/end percent gate is kept (default 0 / 1).
- Streams batched in one call (ComfyUI's layout): compute if any stream must (the port ORs the
  streams' `should_calc`); the two streams see the same `e`, so they agree anyway.
Recommended Wan 2.1 T2V 1.3B thresholds (ComfyUI-TeaCache README): 0.08 in mode "e", 0.15 in
mode "e0" (ret mode); TeaCache4Wan2.1's table: 0.05 / 0.08 ("e"), 0.05 / 0.10 ("e0").
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import torch

from .engine import Evaluation, Policy, Step, rel_l1

MODES = ("e", "e0")
RET_STEPS = {"e": 1, "e0": 5}  # teacache_generate.py: ret_steps = 1*2 / 5*2 model calls (cond + uncond)
RECOMMENDED = {"e": 0.08, "e0": 0.15}  # ComfyUI-TeaCache README, Wan2.1-T2V-1.3B (and -ret-mode)
DEFAULTS = {"rel_l1_thresh": RECOMMENDED["e"], "mode": "e", "start_percent": 0.0, "end_percent": 1.0}
RET_DEFAULTS = {**DEFAULTS, "rel_l1_thresh": RECOMMENDED["e0"], "mode": "e0"}  # family "teacache-ret"


def rescale(coefficients: list[float], rel: float) -> float:
    """The fitted polynomial (highest power first, as numpy.polyfit returns it), clamped at 0."""
    out = 0.0
    for c in coefficients:
        out = out * rel + c
    return max(out, 0.0)


class TeaCachePolicy(Policy):
    stage = "before"

    def __init__(self, coefficients: list[float] | dict[str, list[float]], rel_l1_thresh: float, mode: str = "e",
                 start_percent: float = 0.0, end_percent: float = 1.0):
        if mode not in MODES:
            raise ValueError(f"TeaCache mode must be one of {MODES}, got {mode!r}")
        self.coefficients = list(coefficients[mode] if isinstance(coefficients, dict) else coefficients)
        self.thresh, self.mode = rel_l1_thresh, mode
        self.start_percent, self.end_percent = start_percent, end_percent
        self.previous: dict[Hashable, torch.Tensor] = {}
        self.accumulated: dict[Hashable, float] = {}

    def forced(self, step: Step) -> bool:
        """Steps that always compute: the retention steps, and (mode "e") the last one."""
        return step.index < RET_STEPS[self.mode] or (self.mode == "e" and step.is_last)

    def stream_must_compute(self, stream: Hashable, step: Step, signal: torch.Tensor) -> bool:
        """One stream's rule on its signal (separate so a hand-computed sequence can test it)."""
        previous = self.previous.get(stream)
        self.previous[stream] = signal.detach().float().clone()
        if previous is None or self.forced(step) or self.thresh <= 0:
            self.accumulated[stream] = 0.0
            return True
        acc = self.accumulated.get(stream, 0.0) + rescale(self.coefficients, rel_l1(signal, previous))
        if acc < self.thresh:
            self.accumulated[stream] = acc
            return False
        self.accumulated[stream] = 0.0
        return True

    def decide_signals(self, step: Step, streams: list[Hashable], signals: list[torch.Tensor],
                       can_reuse: list[bool]) -> list[bool]:
        must = [self.stream_must_compute(s, step, sig) for s, sig in zip(streams, signals)]
        self.value = max((self.accumulated[s] for s in streams), default=None)
        enabled = self.start_percent <= step.fraction <= self.end_percent
        reuse = enabled and not any(must) and all(can_reuse)
        return [reuse] * len(streams)

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        x = signals["x"]
        full = ev.time_embedding(x.dtype) if self.mode == "e" else signals["vec"]
        return self.decide_signals(ev.step, ev.streams, ev.chunks(full), can_reuse)
