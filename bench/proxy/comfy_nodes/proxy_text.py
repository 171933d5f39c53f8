"""The proxy model's text encoder: prompt -> (1, 512, 4096), shaped like Wan's UMT5 output.

No learned weights: every word maps to a fixed pseudo-random vector seeded by a hash of the
word, followed by an end-of-sequence vector and zero padding to 512 tokens. The proxy Wan model
learns what the words mean during training; the encoder only has to be deterministic and
identical at training, benchmark and demo time (any machine, any process, any Python hash seed).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import torch

TEXT_LEN = 512  # Wan pads UMT5 output to at least 512 tokens (comfy text_encoders/wan.py)
TEXT_DIM = 4096  # UMT5-XXL width; ComfyUI 0.3.75 forces text_dim 4096 for Wan
EOS = "</s>"
_WORD = re.compile(r"[a-z0-9]+")


def words_of(prompt: str) -> list[str]:
    """Lower-cased alphanumeric words, in order (punctuation is ignored)."""
    return _WORD.findall(prompt.lower())


@lru_cache(maxsize=4096)
def word_vector(word: str) -> torch.Tensor:
    """A unit-variance 4096-d vector that depends only on the word's bytes."""
    seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little") & (2**63 - 1)
    return torch.randn(TEXT_DIM, generator=torch.Generator().manual_seed(seed))


def token_count(prompt: str) -> int:
    """Non-padding tokens the encoding of `prompt` has (its words plus EOS)."""
    return min(len(words_of(prompt)), TEXT_LEN - 1) + 1


def encode(prompt: str) -> torch.Tensor:
    """(1, 512, 4096) float32: one row per word, an EOS row, then zeros."""
    tokens = words_of(prompt)[: TEXT_LEN - 1] + [EOS]
    out = torch.zeros(1, TEXT_LEN, TEXT_DIM)
    out[0, : len(tokens)] = torch.stack([word_vector(t) for t in tokens])
    return out
