"""v6 training batches: v5's `Batch`, rendered by the v6 world (any frame count), encoded by
the v6 text encoding and codec."""

from __future__ import annotations

import random

import torch

from ..data import LATENT_H, LATENT_W, Batch, posterior_velocity  # noqa: F401
from .codec import planes_to_latent
from .text import short_context
from .world import WorldOptions, random_clip, render_planes

FRAMES = 13  # latent frames at inference (semcache.latent_shape "16,13,16,16")


def clip_latents(clips, frames: int, gen: torch.Generator, options: WorldOptions) -> torch.Tensor:
    """(N, 16, frames, 16, 16) model-space latents of `clips`, unnamed details from `gen`."""
    planes = torch.stack([render_planes(c, frames, 2 * LATENT_H, 2 * LATENT_W, gen, options) for c in clips])
    if not options.material:
        planes = planes[:, :3]
    return planes_to_latent(planes)


def make_batch(rng: random.Random, gen: torch.Generator, size: int, uncond_prob: float = 0.15, bank: int = 1,
               frames: int = FRAMES, options: WorldOptions = WorldOptions()) -> Batch:
    """`size` random clips of `frames` latent frames; a share get the empty prompt (for CFG).
    With `bank` > 1 each also gets bank-1 alternatives of the same prompt (posterior target)."""
    clips = [random_clip(rng) for _ in range(size)]
    prompts = ["" if rng.random() < uncond_prob else c.prompt for c in clips]
    members = []
    for clip, prompt in zip(clips, prompts):
        members += [clip] + [clip if prompt else random_clip(rng) for _ in range(bank - 1)]
    lat = clip_latents(members, frames, gen, options).unflatten(0, (size, bank))
    context, bias = short_context(prompts)
    return Batch(lat[:, 0].contiguous(), context, bias, prompts, lat if bank > 1 else None)
