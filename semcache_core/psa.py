"""Prompt-semantic score (paper Eq. 3-7) and probe-layer selection (DESIGN §4.2)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .memory import token_sample

EPS = 1e-8


def select_probe_layers(num_layers: int, count: int) -> list[int]:
    """Spread `count` layers evenly inside each third (shallow, middle, deep) of the stack.

    The count is split over the thirds as evenly as possible (earlier thirds take the
    remainder); inside a third of length m, k layers sit at the centres of k equal slices.
    Asking for at least as many layers as exist returns all of them.
    """
    if num_layers <= 0:
        return []
    if count >= num_layers:
        return list(range(num_layers))
    bounds = [round(i * num_layers / 3) for i in range(4)]
    per_third = [count // 3 + (1 if i < count % 3 else 0) for i in range(3)]
    chosen: list[int] = []
    for third in range(3):
        lo, hi, k = bounds[third], bounds[third + 1], per_third[third]
        m = hi - lo
        k = min(k, m)
        chosen.extend(lo + math.floor((j + 0.5) * m / k) for j in range(k))
    return sorted(set(chosen))


@dataclass(frozen=True)
class SemanticScore:
    """One evaluation of Eq. 3-7."""

    m_raw: float
    m_norm: float
    cos: float
    d_norm: float
    p_s: float


def semantic_score(
    z_in: torch.Tensor, z_out: torch.Tensor, alpha: float, beta: float, tanh_scale: float
) -> SemanticScore:
    """Eq. 3-7 on the probe-averaged cross-attention input and output (any shape, same shape)."""
    zi = z_in.detach().float().flatten()
    zo = z_out.detach().float().flatten()
    n_in = torch.linalg.vector_norm(zi)
    n_out = torch.linalg.vector_norm(zo)
    dot = torch.dot(zi, zo)
    n_in, n_out, dot = (float(v) for v in torch.stack([n_in, n_out, dot]).tolist())
    m_raw = (n_out - n_in) / (n_in + EPS)
    m_norm = math.tanh(m_raw / tanh_scale)
    cos = dot / (n_in * n_out + EPS)
    d_norm = (1.0 - cos) / 2.0
    return SemanticScore(m_raw, m_norm, cos, d_norm, alpha * m_norm + beta * d_norm)


def skip_threshold(p_s: float, threshold_scale: float, mode: str) -> float:
    """tau_t: `inverse` lowers the threshold as the prompt asks for more change (DESIGN §4.2)."""
    base = (1.0 - p_s) if mode == "inverse" else p_s
    return max(0.0, threshold_scale * base)


class ProbeAccumulator:
    """Sums cross-attention input/output over the probe layers of one evaluation.

    Over a bounded token sample (`memory.token_sample`), in fp32, on `device` (the cache device).
    """

    def __init__(self, token_stride: int, token_budget: int = 2**62, device: torch.device | None = None):
        self.token_stride = token_stride
        self.token_budget = token_budget
        self.device = device
        self.sum_in: torch.Tensor | None = None
        self.sum_out: torch.Tensor | None = None
        self.layers = 0

    def add(self, z_in: torch.Tensor, z_out: torch.Tensor) -> None:
        zi = token_sample(z_in, self.token_stride, self.token_budget, self.device).float()
        zo = token_sample(z_out, self.token_stride, self.token_budget, self.device).float()
        if self.sum_in is None or self.sum_in.shape != zi.shape:
            self.sum_in, self.sum_out, self.layers = zi, zo, 1  # fresh copies
        else:
            self.sum_in += zi
            self.sum_out += zo
            self.layers += 1

    def score(self, alpha: float, beta: float, tanh_scale: float) -> SemanticScore | None:
        if not self.layers:
            return None
        return semantic_score(self.sum_in / self.layers, self.sum_out / self.layers, alpha, beta, tanh_scale)
