"""Training batches: clean latents of freshly rendered clips, their prompt contexts, and for each
clip a small bank of other clips the same prompt could have given (for low-variance targets)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from .comfy_nodes.proxy_codec import rgb_to_latent
from .comfy_nodes.proxy_text import encode, token_count
from .model import short_context
from .world import random_clip, render

# The sampling latent shape (16, F, H, W): 13 latent frames of 16x16 latent pixels, i.e. 8x8 Wan
# tokens per frame (832 tokens). Stored in the checkpoint's metadata as `semcache.latent_shape`.
FRAMES, LATENT_H, LATENT_W = 13, 16, 16


@dataclass
class Batch:
    latents: torch.Tensor  # (B, 16, T, H, W), model space
    context: torch.Tensor  # (B, L, 4096), the short form of the 512-token context
    bias: torch.Tensor  # (B, L) padding logit bias for cross-attention
    prompts: list[str]
    bank: torch.Tensor | None = None  # (B, K, 16, T, H, W): latents[b] first, then K-1 alternatives


def make_batch(
    rng: random.Random, gen: torch.Generator, size: int, uncond_prob: float = 0.1, bank: int = 1,
    frames: int = FRAMES, height: int = LATENT_H, width: int = LATENT_W,
) -> Batch:
    """`size` random clips; a fraction get the empty prompt so classifier-free guidance works.

    With `bank` > 1 every clip also gets `bank - 1` alternatives drawn from the same conditional
    distribution: the same description with other unnamed details (position, size, phases), or
    for an empty prompt other random descriptions.
    """
    clips = [random_clip(rng) for _ in range(size)]
    prompts = ["" if rng.random() < uncond_prob else c.prompt for c in clips]
    banks = []
    for clip, prompt in zip(clips, prompts):
        members = [clip] + [clip if prompt else random_clip(rng) for _ in range(bank - 1)]
        banks.append(torch.stack([render(m, frames, height * 2, width * 2, gen) for m in members]))
    rgb = torch.stack(banks)  # (B, K, 3, T, 2H, 2W)
    lat = rgb_to_latent(rgb.flatten(0, 1)).unflatten(0, rgb.shape[:2])
    full = torch.cat([encode(p) for p in prompts])
    context, bias = short_context(full, [token_count(p) for p in prompts])
    return Batch(lat[:, 0].contiguous(), context, bias, prompts, lat if bank > 1 else None)


def posterior_velocity(x_t: torch.Tensor, sigma: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """E[noise - x0 | x_t] when x0 is one of the bank's clips, each equally likely a priori.

    x_t = (1 - s) x0 + s * noise with Gaussian noise, so the posterior weight of bank member k is
    softmax_k(-|x_t - (1 - s) x0_k|^2 / (2 s^2)), and the velocity's posterior mean is
    (x_t - E[x0 | x_t]) / s. This is the "stable target field" of Xu et al. (2023): the same
    minimiser as flow matching's noise - x0 as the bank grows, with far less variance at high noise.
    """
    s = sigma.view(-1, 1, 1, 1, 1, 1)
    diff = x_t.unsqueeze(1) - (1 - s) * bank  # (B, K, C, T, H, W)
    logits = -(diff.flatten(2).pow(2).sum(-1)) / (2 * s.view(-1, 1) ** 2)
    weights = torch.softmax(logits, dim=1).view(*logits.shape, 1, 1, 1, 1)
    x0_mean = (weights * bank).sum(1)
    return (x_t - x0_mean) / sigma.view(-1, 1, 1, 1, 1)
