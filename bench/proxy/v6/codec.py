"""The v6 codec: v5's exact 2x2-patch Hadamard code, with the 4 spare channels carrying the
material plane instead of zeros.

The first 12 pre-mix values are RGB in v5's order, so `proxy_codec.latent_to_rgb` / `raw_to_rgb`
decode v6 latents unchanged (they drop the last 4 pre-mix values).
"""

from __future__ import annotations

import torch

from ..comfy_nodes.proxy_codec import CHANNELS, MIX, PATCH, PIXEL_MEAN, PIXEL_STD


def planes_to_latent(planes: torch.Tensor) -> torch.Tensor:
    """(B, 4, T, 2H, 2W) RGB + material in [0, 1] -> (B, 16, T, H, W) model-space latent.
    With 3 planes the spare channels are zero (exactly v5's `rgb_to_latent`)."""
    b, c, t, h2, w2 = planes.shape
    x = (planes - PIXEL_MEAN) / PIXEL_STD
    x = x.reshape(b, c, t, h2 // PATCH, PATCH, w2 // PATCH, PATCH)
    x = x.permute(0, 1, 4, 6, 2, 3, 5).reshape(b, c * PATCH * PATCH, t, h2 // PATCH, w2 // PATCH)
    if x.shape[1] < CHANNELS:
        x = torch.cat([x, x.new_zeros(b, CHANNELS - x.shape[1], *x.shape[2:])], dim=1)
    return torch.einsum("oc,bcthw->bothw", MIX.to(x), x)
