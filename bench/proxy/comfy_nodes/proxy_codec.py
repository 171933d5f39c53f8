"""The proxy model's fixed "VAE": an exact linear map between RGB video and 16-channel latents.

The proxy has no learned VAE. A latent pixel holds a 2x2 RGB patch (12 values, 4 spare
channels left at zero), mixed by an orthonormal 16x16 Hadamard matrix so every latent channel
carries a bit of everything, like a real VAE latent. Being exact and invertible, it lets the
benchmark measure PSNR/SSIM on RGB frames and lets the demo show the proxy's videos.
Latents here are in the model's space (what the transformer sees, after Wan's latent
normalisation); `raw_to_rgb` first applies that normalisation to what a sampler returns.
"""

from __future__ import annotations

import torch

PATCH = 2
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25
CHANNELS = 16
USED = 3 * PATCH * PATCH  # 12 of the 16 channels carry the RGB patch


def _hadamard(n: int) -> torch.Tensor:
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h / n**0.5


MIX = _hadamard(CHANNELS)  # orthonormal: MIX @ MIX.T == I


def rgb_to_latent(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, 2H, 2W) in [0, 1] -> (B, 16, T, H, W) model-space latent."""
    b, c, t, h2, w2 = rgb.shape
    x = (rgb - PIXEL_MEAN) / PIXEL_STD
    x = x.reshape(b, c, t, h2 // PATCH, PATCH, w2 // PATCH, PATCH)
    x = x.permute(0, 1, 4, 6, 2, 3, 5).reshape(b, USED, t, h2 // PATCH, w2 // PATCH)
    full = torch.cat([x, x.new_zeros(b, CHANNELS - USED, t, h2 // PATCH, w2 // PATCH)], dim=1)
    return torch.einsum("oc,bcthw->bothw", MIX.to(full), full)


def latent_to_rgb(latent: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Inverse of rgb_to_latent (the 4 spare channels are dropped): (B, 3, T, 2H, 2W)."""
    b, _, t, h, w = latent.shape
    full = torch.einsum("co,bothw->bcthw", MIX.to(latent), latent.float())
    x = full[:, :USED].reshape(b, 3, PATCH, PATCH, t, h, w).permute(0, 1, 4, 5, 2, 6, 3)
    rgb = x.reshape(b, 3, t, h * PATCH, w * PATCH) * PIXEL_STD + PIXEL_MEAN
    return rgb.clamp(0.0, 1.0) if clamp else rgb


def raw_to_rgb(raw: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """A sampler's output LATENT (Wan 2.1 raw latent space) -> RGB video."""
    import comfy.latent_formats

    return latent_to_rgb(comfy.latent_formats.Wan21().process_in(raw.float()), clamp=clamp)
