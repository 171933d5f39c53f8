"""Fidelity of a cached video against the uncached one (same prompt, same seed).

The one implementation of the metrics: the benchmark (`bench/harness/metrics.py` re-exports these
names) and the Compare Videos node both use it, so a number in the benchmark tables and a number a
user reads on the node mean the same thing. Imports torch only.

Videos are RGB tensors (3, T, H, W) in [0, 1]; `video_from_images` turns a ComfyUI IMAGE batch
(T, H, W, 3) into that layout.
- PSNR over the whole clip (peak 1.0), and per frame.
- SSIM (Wang et al. 2004; 7x7 Gaussian window, sigma 1.5) per frame and channel, averaged
  ('valid' windows only).
- Motion fidelity (DESIGN §7, frame-difference energy): `motion_ratio` = energy of the cached
  clip's frame differences / the reference's (1 = same amount of motion, < 1 = frozen,
  > 1 = jitter), and `motion_error` = relative L2 error of the frame differences themselves.
"""

from __future__ import annotations

import math

import torch

_C1, _C2 = 0.01**2, 0.03**2
SSIM_WINDOW = 7
_SSIM_CHUNK = 24  # (frame, channel) planes per convolution: bounds memory on long, large clips


def _psnr_of_mse(mse: float) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def psnr(video: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR in dB of the whole clip (inf when identical)."""
    return _psnr_of_mse(float(torch.mean((video.double() - ref.double()) ** 2)))


def psnr_per_frame(video: torch.Tensor, ref: torch.Tensor) -> list[float]:
    """PSNR in dB of each frame of (3, T, H, W) clips: shows where in time a cache drifts."""
    mse = ((video.double() - ref.double()) ** 2).mean(dim=(0, 2, 3))
    return [_psnr_of_mse(float(m)) for m in mse]


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim(video: torch.Tensor, ref: torch.Tensor, window: int = SSIM_WINDOW) -> float:
    """Mean SSIM over frames and channels ('valid' windows only); frames must be >= window pixels."""
    x_all = video.permute(1, 0, 2, 3).reshape(-1, 1, *video.shape[-2:])  # (T*3, 1, H, W)
    y_all = ref.permute(1, 0, 2, 3).reshape(-1, 1, *ref.shape[-2:])
    w = _gaussian_window(window).to(x_all.device)
    conv = torch.nn.functional.conv2d
    total, count = 0.0, 0
    for start in range(0, x_all.shape[0], _SSIM_CHUNK):  # every plane has the same number of windows
        x = x_all[start : start + _SSIM_CHUNK].double()
        y = y_all[start : start + _SSIM_CHUNK].double()
        mx, my = conv(x, w), conv(y, w)
        sxx = conv(x * x, w) - mx**2
        syy = conv(y * y, w) - my**2
        sxy = conv(x * y, w) - mx * my
        num = (2 * mx * my + _C1) * (2 * sxy + _C2)
        den = (mx**2 + my**2 + _C1) * (sxx + syy + _C2)
        values = num / den
        total += float(values.sum())
        count += values.numel()
    return total / count


def frame_diffs(video: torch.Tensor) -> torch.Tensor:
    """Frame-to-frame differences of a (3, T, H, W) clip, in float64."""
    return video[:, 1:].double() - video[:, :-1].double()


def motion_energy(video: torch.Tensor) -> float:
    """Mean squared frame-to-frame change: how much the clip moves."""
    return float(torch.mean(frame_diffs(video) ** 2))


def motion_ratio(video: torch.Tensor, ref: torch.Tensor) -> float:
    """Motion energy of `video` / that of `ref`: 1 = same motion, < 1 frozen, > 1 jitter."""
    return motion_energy(video) / max(motion_energy(ref), 1e-12)


def motion_error(video: torch.Tensor, ref: torch.Tensor) -> float:
    """Relative L2 error of the frame differences (0 = the same motion, frame by frame)."""
    d, r = frame_diffs(video), frame_diffs(ref)
    return float(torch.linalg.vector_norm(d - r) / max(float(torch.linalg.vector_norm(r)), 1e-12))


def fidelity(video: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """The four benchmark numbers of `video` against `ref` (both (3, T, H, W) in [0, 1])."""
    return {
        "psnr": psnr(video, ref),
        "ssim": ssim(video, ref),
        "motion_ratio": motion_ratio(video, ref),
        "motion_error": motion_error(video, ref),
    }


def video_from_images(images: torch.Tensor) -> torch.Tensor:
    """A ComfyUI IMAGE batch (T, H, W, C) -> the (C, T, H, W) layout the metrics take."""
    if images.ndim != 4:
        raise ValueError(f"expected an IMAGE batch (frames, height, width, channels), got shape {tuple(images.shape)}")
    return images.permute(3, 0, 1, 2)
