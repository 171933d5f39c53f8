"""The v6 text encoding: `encode(prompt) -> (1, 512, 4096)`, the interface of
`comfy_nodes/proxy_text.encode`, but one that knows word order and which word goes with which.

v5's encoder gives each word a fixed hashed vector, so "a red ball and a blue cube" and "a blue
ball and a red cube" are the same bag of rows (cross-attention has no positions). v6 row i is
    normalise(w_i + 0.5 * w_{i+1}) + 0.5 * p_i
with w the v5 word vector (SHA-256 seeded), w_{i+1} the next word's (so "red" before "ball"
differs from "red" before "cube": the colour is bound to its noun) and p_i a fixed hashed vector
for position i (order and role: first vs second object). EOS and zero padding as before, so the
training shortcut for the pads (`model.short_context`) still holds. Deterministic, no weights.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import torch

from ..comfy_nodes.proxy_text import EOS, TEXT_DIM, TEXT_LEN, token_count, word_vector, words_of  # noqa: F401

NEXT_WEIGHT = 0.5
POSITION_WEIGHT = 0.5


@lru_cache(maxsize=1024)
def position_vector(index: int) -> torch.Tensor:
    """A unit-variance 4096-d vector for token position `index` (seeded by its SHA-256)."""
    seed = int.from_bytes(hashlib.sha256(f"<pos {index}>".encode()).digest()[:8], "little") & (2**63 - 1)
    return torch.randn(TEXT_DIM, generator=torch.Generator().manual_seed(seed))


@lru_cache(maxsize=8192)
def rows(prompt: str) -> torch.Tensor:
    """(token_count(prompt), 4096): the non-padding rows of `encode(prompt)`."""
    tokens = words_of(prompt)[: TEXT_LEN - 1] + [EOS]
    out = torch.empty(len(tokens), TEXT_DIM)
    for i, word in enumerate(tokens):
        row = word_vector(word)
        if i + 1 < len(tokens):
            row = (row + NEXT_WEIGHT * word_vector(tokens[i + 1])) / (1 + NEXT_WEIGHT**2) ** 0.5
        out[i] = row + POSITION_WEIGHT * position_vector(i)
    return out


def encode(prompt: str) -> torch.Tensor:
    """(1, 512, 4096) float32: one row per word (bound to the next word, with its position),
    an EOS row, then zeros."""
    r = rows(prompt)
    out = torch.zeros(1, TEXT_LEN, TEXT_DIM)
    out[0, : r.shape[0]] = r
    return out


def short_context(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """`model.short_context` of the prompts' encodings, built without the 512-row tensors."""
    import math

    lengths = [token_count(p) for p in prompts]
    width = max(lengths) + 1
    out = torch.zeros(len(prompts), width, TEXT_DIM)
    bias = torch.zeros(len(prompts), width)
    for b, (p, n) in enumerate(zip(prompts, lengths)):
        out[b, :n] = rows(p)
        bias[b, n:] = math.log((TEXT_LEN - n) / (width - n))
    return out, bias
