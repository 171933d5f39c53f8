"""Temporal motion metric (paper Eq. 9-10): which latent frames to compute, which to reuse.

Pure tensor code. Frame f >= 1 is scored by how much it differs from frame f-1; the frames
below the reuse percentile are reused (lowest motion first), frame 0 never, and no frame is
reused more than `max_frame_staleness` computed steps in a row (DESIGN §4.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-8
MOTION_SOURCES = ("noisy_latent", "predicted_clean")


@dataclass(frozen=True)
class TMMConfig:
    """Settings of the TMM frame selector node."""

    reuse_ratio: float = 0.2
    max_frame_staleness: int = 2
    motion_source: str = "noisy_latent"
    start_percent: float = 0.1

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.reuse_ratio < 1.0:
            problems.append(f"reuse_ratio must lie in [0, 1), got {self.reuse_ratio}")
        if self.max_frame_staleness < 1:
            problems.append(f"max_frame_staleness must be >= 1, got {self.max_frame_staleness}")
        if self.motion_source not in MOTION_SOURCES:
            problems.append(f"motion_source must be one of {MOTION_SOURCES}, got {self.motion_source!r}")
        if not 0.0 <= self.start_percent <= 1.0:
            problems.append(f"start_percent must lie in [0, 1], got {self.start_percent}")
        if problems:
            raise ValueError("TMM: " + "; ".join(problems))

    @property
    def active(self) -> bool:
        return self.reuse_ratio > 0.0


def motion_scores(latent: torch.Tensor) -> torch.Tensor:
    """Eq. 9 for frames 1..T-1 of a (B, C, T, H, W) latent; all batch rows score together."""
    frames = latent.detach().float().movedim(2, 0).reshape(latent.shape[2], -1)
    norms = torch.linalg.vector_norm(frames, dim=1)
    diff = torch.linalg.vector_norm(frames[1:] - frames[:-1], dim=1)
    return diff / (norms[1:] + norms[:-1] + EPS)


def reuse_threshold(scores: torch.Tensor, reuse_ratio: float) -> float:
    """Eq. 10 with the paper's preservation ratio r = 1 - reuse_ratio: tau = P_{(1-r)*100}(scores)."""
    return float(torch.quantile(scores.float(), reuse_ratio))


def select_reused_frames(scores: torch.Tensor, reuse_ratio: float, staleness: list[int], max_staleness: int) -> list[int]:
    """Frames (>= 1) to reuse this step: below the Eq. 10 threshold and not too stale."""
    if reuse_ratio <= 0.0 or scores.numel() == 0:
        return []
    tau = reuse_threshold(scores, reuse_ratio)
    return [
        f + 1
        for f, s in enumerate(scores.tolist())
        if s < tau and staleness[f + 1] < max_staleness
    ]


def frame_token_index(frames: list[int], tokens_per_frame: int, device: torch.device | None = None) -> torch.Tensor:
    """Token positions of whole frames in a frame-major (t, h, w) token sequence."""
    base = torch.tensor(frames, dtype=torch.long, device=device).unsqueeze(1) * tokens_per_frame
    return (base + torch.arange(tokens_per_frame, device=device)).flatten()


class FrameStaleness:
    """How many computed steps in a row each frame has been reused."""

    def __init__(self, frames: int):
        self.counts = [0] * frames

    def update(self, reused: list[int]) -> None:
        reused_set = set(reused)
        self.counts = [c + 1 if f in reused_set else 0 for f, c in enumerate(self.counts)]
