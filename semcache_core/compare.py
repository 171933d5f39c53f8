"""Compare Videos: a user's own same-seed A/B (uncached vs cached) in numbers and a difference video.

We cannot measure quality on a user's GPU and models; this lets them, with the benchmark's own
metrics (`metrics.py`). Imports torch only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import metrics

DEFAULT_AMPLIFY = 4.0


@dataclass
class Comparison:
    """The numbers of one comparison; `None` where a metric does not apply (one frame, tiny frames)."""

    frames: int
    height: int
    width: int
    psnr: float
    psnr_frames: list[float]
    ssim: float | None
    motion_ratio: float | None
    motion_error: float | None

    @property
    def psnr_min(self) -> float:
        return min(self.psnr_frames)

    @property
    def psnr_min_frame(self) -> int:
        return self.psnr_frames.index(self.psnr_min)

    @property
    def psnr_mean(self) -> float:
        """Mean of the per-frame PSNRs of the frames that differ (inf when every frame is identical)."""
        finite = [p for p in self.psnr_frames if math.isfinite(p)]
        return sum(finite) / len(finite) if finite else float("inf")  # identical frames have no finite PSNR

    def to_dict(self) -> dict:
        """JSON-safe numbers for the node's UI message: an infinite PSNR (identical) becomes None."""

        def safe(value: float | None) -> float | None:
            return value if value is not None and math.isfinite(value) else None

        return {
            "frames": self.frames,
            "height": self.height,
            "width": self.width,
            "identical": math.isinf(self.psnr),
            "psnr": safe(self.psnr),
            "psnr_frame_min": safe(self.psnr_min),
            "psnr_frame_min_index": self.psnr_min_frame,
            "psnr_frame_mean": safe(self.psnr_mean),
            "psnr_frames": [safe(p) for p in self.psnr_frames],
            "ssim": self.ssim,
            "motion_ratio": self.motion_ratio,
            "motion_error": self.motion_error,
        }

    def report(self, amplify: float = DEFAULT_AMPLIFY) -> str:
        """The text the node returns and shows: one number per line, with what it means."""

        def db(value: float) -> str:
            return "inf dB (identical)" if math.isinf(value) else f"{value:.2f} dB"

        identical_frames = sum(math.isinf(p) for p in self.psnr_frames)
        lines = [
            f"Compare Videos: candidate vs reference, {self.frames} frame(s) of {self.width}x{self.height}",
            f"PSNR {db(self.psnr)} (higher = closer; above ~40 dB differences are hard to see)",
            f"PSNR per frame: min {db(self.psnr_min)} (frame {self.psnr_min_frame}), mean {db(self.psnr_mean)}"
            + (f", {identical_frames} identical frame(s) left out of the mean" if 0 < identical_frames < self.frames else ""),
            "SSIM " + (f"{self.ssim:.4f} (1 = identical structure)" if self.ssim is not None
                       else f"n/a (frames smaller than {metrics.SSIM_WINDOW}x{metrics.SSIM_WINDOW})"),
            "motion ratio " + (f"{self.motion_ratio:.3f} (1 = as much motion as the reference; < 1 frozen, > 1 jitter)"
                               if self.motion_ratio is not None else "n/a (one frame)"),
            "motion error " + (f"{self.motion_error:.3f} (0 = the same frame-to-frame change)"
                               if self.motion_error is not None else "n/a (one frame)"),
            f"difference video: |candidate - reference| x {amplify:g}",
        ]  # fmt: skip
        return "\n".join(lines)


def _check(reference: torch.Tensor, candidate: torch.Tensor) -> None:
    for name, images in (("reference", reference), ("candidate", candidate)):
        if images.ndim != 4 or images.shape[0] == 0:
            raise ValueError(f"Compare Videos: {name} is not an IMAGE batch (got shape {tuple(images.shape)})")
    if reference.shape[0] != candidate.shape[0]:
        raise ValueError(
            f"Compare Videos: the reference has {reference.shape[0]} frames and the candidate {candidate.shape[0]}; "
            "compare two runs of the same length (same frames/length setting, same seed)."
        )
    if reference.shape[1:3] != candidate.shape[1:3]:
        raise ValueError(
            f"Compare Videos: the reference frames are {reference.shape[2]}x{reference.shape[1]} and the candidate "
            f"frames {candidate.shape[2]}x{candidate.shape[1]} (width x height); compare two runs of the same size."
        )
    if reference.shape[3] != candidate.shape[3]:
        raise ValueError(
            f"Compare Videos: the reference has {reference.shape[3]} channels and the candidate "
            f"{candidate.shape[3]}; both must be IMAGE outputs of the same kind (e.g. VAE Decode)."
        )


def compare(reference: torch.Tensor, candidate: torch.Tensor) -> Comparison:
    """Metrics of `candidate` against `reference`, both ComfyUI IMAGE batches (frames, H, W, C)."""
    _check(reference, candidate)
    ref = metrics.video_from_images(reference.detach().float().cpu())
    cand = metrics.video_from_images(candidate.detach().float().cpu())
    frames, height, width = reference.shape[0], reference.shape[1], reference.shape[2]
    moving = frames >= 2
    return Comparison(
        frames=frames,
        height=height,
        width=width,
        psnr=metrics.psnr(cand, ref),
        psnr_frames=metrics.psnr_per_frame(cand, ref),
        ssim=metrics.ssim(cand, ref) if min(height, width) >= metrics.SSIM_WINDOW else None,
        motion_ratio=metrics.motion_ratio(cand, ref) if moving else None,
        motion_error=metrics.motion_error(cand, ref) if moving else None,
    )


def difference_video(
    reference: torch.Tensor, candidate: torch.Tensor, amplify: float = DEFAULT_AMPLIFY
) -> torch.Tensor:
    """|candidate - reference| x `amplify`, clipped to [0, 1]: an IMAGE batch to preview or save."""
    _check(reference, candidate)
    diff = (candidate.float() - reference.float().to(candidate.device)).abs() * float(amplify)
    return diff.clamp(0.0, 1.0)
