"""First Block Cache (ParaAttention's `para_attn.first_block_cache`, also WaveSpeed's "Apply First
Block Cache") as its author ships it for Wan, written from the algorithm (no code copied).

Checked against chengzeyi/ParaAttention `first_block_cache/utils.py` and
`diffusers_adapters/wan.py` (4de137c; the Wan default `residual_diff_threshold` 0.03 since
ad03f9c, lowered from 0.05):
- The first block always runs. Its residual H₁ − H₀ is compared with the one stored at that
  stream's last *computed* step: if mean|Δ| / mean|stored| < `residual_diff_threshold` the rest of
  the stack is skipped and the stream's residual of blocks 1..N−1 from its last computed step is
  added to H₁; otherwise the rest runs and both stored residuals are refreshed.
- Wan's adapter sets `enable_alter_cache`: cond and uncond (alternating calls in diffusers) keep
  separate buffers and decide separately. Here they are batched in one call, so each stream
  decides on its own rows and only the computing streams run blocks 1..N−1.
- No warm-up (warmup_steps 0), no cap; threshold 0 disables. Calibration-free.
Block 0 always runs, so on the proxy (few blocks) its speedup is lower than on a 30-block Wan
1.3B; the report also gives the speedup projected to 30 blocks.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import torch

from .engine import Evaluation, Policy, rel_l1

DEFAULTS = {"residual_diff_threshold": 0.03}


class FirstBlockCachePolicy(Policy):
    stage = "after_first"

    def __init__(self, residual_diff_threshold: float):
        self.thresh = residual_diff_threshold
        self.stored: dict[Hashable, torch.Tensor] = {}

    def stream_may_reuse(self, stream: Hashable, can_reuse: bool, first_residual: torch.Tensor) -> bool:
        """One stream's rule on its first-block residual (separate so it can be tested by hand)."""
        stored = self.stored.get(stream)
        if stored is not None and can_reuse and self.thresh > 0:
            self.value = rel_l1(first_residual, stored)
            if self.value < self.thresh:
                return True
        self.stored[stream] = first_residual.detach().float().clone()
        return False

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        residual = signals["first"] - signals["x"]
        return [self.stream_may_reuse(s, c, r) for s, c, r in zip(ev.streams, can_reuse, ev.chunks(residual))]
