"""MagCache (Ma et al. 2025, "MagCache: Fast Video Generation with Magnitude-Aware Cache") as its
authors ship it for Wan 2.1 in ComfyUI, written from the algorithm (no code copied).

Checked against Zehong-Ma/ComfyUI-MagCache `nodes.py` (47bdd2a), `magcache_wanmodel_forward`:
- The decision uses no tensor of the current run: a magnitude ratio curve γ (mean over tokens
  of ‖R_t‖₂/‖R_{t−1}‖₂, R = block-stack residual), calibrated per stream and stored interleaved
  (cond, uncond) per step as upstream's Wan curves are (`calibration.py`, on the proxy, at 50
  steps). Other step counts map by `int(step·(L−1)/(steps−1))` (nearest lower calibrated step);
  the entry of the stream at batch position i is `2·step + i`, as upstream indexes it.
- One state per stream: ratio ← ratio·γ, steps += 1, err += |1 − ratio|; the stream may reuse
  while err ≤ `magcache_thresh` and steps ≤ K, otherwise it resets (ratio 1, steps 0, err 0).
  The batched streams reuse together if *any* of them may (upstream's `skip_forward or ...`).
- The first `retention_ratio` of the steps compute without touching the state; threshold 0
  disables the node (upstream returns the model unpatched).
Settings: the authors' recommendation for Wan 2.1 T2V 1.3B (README table and example
workflow): thresh 0.12, K 4, retention 0.2; the node's widget defaults are 0.06 / K 2.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .engine import Evaluation, Policy, Step

DEFAULTS = {"magcache_thresh": 0.12, "magcache_K": 4, "retention_ratio": 0.2}
WIDGET_DEFAULTS = {"magcache_thresh": 0.06, "magcache_K": 2, "retention_ratio": 0.2}


def ratio_index(step: int, total: int, calibrated: int) -> int:
    """Calibrated step for step `step` of `total` (curve calibrated at `calibrated` steps)."""
    if total == calibrated or total <= 1:
        return min(step, calibrated - 1)
    return int(step * (calibrated - 1) / (total - 1))


class MagCachePolicy(Policy):
    stage = "before"

    def __init__(self, ratios: list[float], magcache_thresh: float, magcache_K: int = 4,
                 retention_ratio: float = 0.2, interleaved: bool = True):
        self.ratios = list(ratios)
        self.interleaved = interleaved
        self.thresh, self.k, self.retention = magcache_thresh, magcache_K, retention_ratio
        self.state: dict[Hashable, list[float]] = {}  # stream -> [ratio, steps, err]

    def gamma(self, step: Step, position: int) -> float:
        calibrated = len(self.ratios) // 2 if self.interleaved else len(self.ratios)
        index = ratio_index(step.index, step.total, calibrated)
        return self.ratios[2 * index + min(position, 1)] if self.interleaved else self.ratios[index]

    def stream_may_reuse(self, stream: Hashable, gamma: float) -> bool:
        """One stream's rule (separate so a hand-computed sequence can test it)."""
        ratio, steps, err = self.state.get(stream, [1.0, 0, 0.0])
        ratio *= gamma
        steps += 1
        err += abs(1.0 - ratio)
        self.value = err
        if err <= self.thresh and steps <= self.k:
            self.state[stream] = [ratio, steps, err]
            return True
        self.state[stream] = [1.0, 0, 0.0]
        return False

    def decide_streams(self, step: Step, streams: list[Hashable], can_reuse: list[bool]) -> list[bool]:
        if self.thresh <= 0 or step.index < int(step.total * self.retention):
            return [False] * len(streams)
        may = [self.stream_may_reuse(s, self.gamma(step, i)) for i, s in enumerate(streams)]
        reuse = any(may) and all(can_reuse)
        return [reuse] * len(streams)

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        return self.decide_streams(ev.step, ev.streams, can_reuse)
