"""Training batches: clean latents of freshly rendered clips plus their (short) prompt contexts."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from .comfy_nodes.proxy_codec import rgb_to_latent
from .comfy_nodes.proxy_text import encode, token_count
from .model import short_context
from .world import random_clip, render

FRAMES, LATENT_H, LATENT_W = 9, 8, 8  # the benchmark's latent shape: 9 frames of 8x8 (144 tokens)


@dataclass
class Batch:
    latents: torch.Tensor  # (B, 16, T, H, W), model space
    context: torch.Tensor  # (B, L, 4096), the short form of the 512-token context
    bias: torch.Tensor  # (B, L) padding logit bias for cross-attention
    prompts: list[str]


def make_batch(
    rng: random.Random, gen: torch.Generator, size: int, uncond_prob: float = 0.1,
    frames: int = FRAMES, height: int = LATENT_H, width: int = LATENT_W,
) -> Batch:
    """`size` random clips; a fraction get the empty prompt so classifier-free guidance works."""
    clips = [random_clip(rng) for _ in range(size)]
    prompts = ["" if rng.random() < uncond_prob else c.prompt for c in clips]
    rgb = torch.stack([render(c, frames, height * 2, width * 2, gen) for c in clips])
    full = torch.cat([encode(p) for p in prompts])
    context, bias = short_context(full, [token_count(p) for p in prompts])
    return Batch(rgb_to_latent(rgb), context, bias, prompts)
