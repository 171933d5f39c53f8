"""Fidelity of a cached video against the uncached one (same prompt, same seed).

Videos are RGB tensors (3, T, H, W) in [0, 1], decoded by the proxy's exact codec.
- PSNR over the whole clip.
- SSIM (Wang et al. 2004; 7x7 Gaussian window, sigma 1.5) per frame and channel, averaged.
- Motion fidelity (DESIGN §7, frame-difference energy): `motion_ratio` = energy of the cached
  clip's frame differences / the reference's (1 = same amount of motion, < 1 = frozen,
  > 1 = jitter), and `motion_error` = relative L2 error of the frame differences themselves.
"""

from __future__ import annotations

import math

import torch

_C1, _C2 = 0.01**2, 0.03**2


def psnr(video: torch.Tensor, ref: torch.Tensor) -> float:
    mse = float(torch.mean((video.double() - ref.double()) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim(video: torch.Tensor, ref: torch.Tensor, window: int = 7) -> float:
    """Mean SSIM over frames and channels ('valid' windows only)."""
    x = video.double().permute(1, 0, 2, 3).reshape(-1, 1, *video.shape[-2:])  # (T*3, 1, H, W)
    y = ref.double().permute(1, 0, 2, 3).reshape(-1, 1, *ref.shape[-2:])
    w = _gaussian_window(window)
    conv = torch.nn.functional.conv2d
    mx, my = conv(x, w), conv(y, w)
    sxx = conv(x * x, w) - mx**2
    syy = conv(y * y, w) - my**2
    sxy = conv(x * y, w) - mx * my
    num = (2 * mx * my + _C1) * (2 * sxy + _C2)
    den = (mx**2 + my**2 + _C1) * (sxx + syy + _C2)
    return float((num / den).mean())


def frame_diffs(video: torch.Tensor) -> torch.Tensor:
    return video[:, 1:].double() - video[:, :-1].double()


def motion_energy(video: torch.Tensor) -> float:
    """Mean squared frame-to-frame change: how much the clip moves."""
    return float(torch.mean(frame_diffs(video) ** 2))


def motion_ratio(video: torch.Tensor, ref: torch.Tensor) -> float:
    return motion_energy(video) / max(motion_energy(ref), 1e-12)


def motion_error(video: torch.Tensor, ref: torch.Tensor) -> float:
    d, r = frame_diffs(video), frame_diffs(ref)
    return float(torch.linalg.vector_norm(d - r) / max(float(torch.linalg.vector_norm(r)), 1e-12))


def fidelity(video: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    return {
        "psnr": psnr(video, ref),
        "ssim": ssim(video, ref),
        "motion_ratio": motion_ratio(video, ref),
        "motion_error": motion_error(video, ref),
    }
