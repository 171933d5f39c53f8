"""What the pack holds: the bounded token sample its statistics keep, and honest byte accounting.

Users size runs to their card's last gigabyte, so the report's cache figure is the peak of every
tensor the pack keeps during a run, by kind (`KINDS`), not only the residuals. Working tensors of
one evaluation (the block-stack input a residual is taken against, the residual batch a skipped
step adds) are the size of the model's own activations, exist in every residual cache, and are
not counted.

The Eq. 8 samples and the probe sums take a fixed token budget (`token_sample`), so they stop
growing with resolution: every `stride`-th token while that fits the budget (the behaviour before
the budget existed, unchanged at small sizes), else `budget` tokens spread evenly over the
sequence (frame-major, so over frames and rows alike).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable

import torch

KINDS = ("residuals", "error_samples", "probe", "tmm")


def token_sample(t: torch.Tensor, stride: int, budget: int, device: torch.device | None = None) -> torch.Tensor:
    """A copy (never a view of the model's tensors) of some tokens of a (rows, tokens, ...) tensor.

    Same dtype as `t` (the model's compute dtype); on `device` (the cache device) if given.
    """
    n = t.shape[1]
    if -(-n // stride) <= budget:
        picked = t[:, ::stride]
    else:
        picked = t.index_select(1, torch.arange(budget, device=t.device) * n // budget)
    return picked.detach().to(device or t.device, copy=True)


def tensor_bytes(tensors: Iterable[torch.Tensor | None]) -> int:
    """Bytes of the storages behind `tensors`, each storage once (an alias is not memory twice)."""
    seen: set[tuple[str, int]] = set()
    total = 0
    for t in tensors:
        if t is None:
            continue
        storage = t.untyped_storage()
        key = (str(t.device), storage.data_ptr())
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
    return total


class MemoryLedger:
    """Bytes held now, by (kind, owner), and the peak of their sum with its split by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, Hashable], int] = {}
        self.peak = 0
        self.peak_by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)

    def hold(self, kind: str, owner: Hashable, *tensors: torch.Tensor | None) -> None:
        """`owner` now holds exactly `tensors` of `kind` (replacing what it held before)."""
        size = tensor_bytes(tensors)
        with self._lock:
            self._held[(kind, owner)] = size
            self._note_peak()

    def drop(self, kind: str, owner: Hashable) -> None:
        with self._lock:
            self._held.pop((kind, owner), None)

    def by_kind(self) -> dict[str, int]:
        """What is held now, by kind."""
        with self._lock:
            return self._split()

    def _split(self) -> dict[str, int]:
        split = dict.fromkeys(KINDS, 0)
        for (kind, _), size in self._held.items():
            split[kind] = split.get(kind, 0) + size
        return split

    def _note_peak(self) -> None:
        total = sum(self._held.values())
        if total > self.peak:
            self.peak = total
            self.peak_by_kind = self._split()

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


class ResidualCache:
    """Residuals by (stream, window) on the cache device (None: where they were computed)."""

    def __init__(self, ledger: MemoryLedger, device: torch.device | None):
        self.ledger = ledger
        self.device = device
        self._lock = threading.Lock()
        self._residuals: dict[Hashable, torch.Tensor] = {}

    def get(self, key: Hashable, like: torch.Tensor) -> torch.Tensor | None:
        """The residual at `key` if it fits `like` (a changed latent shape invalidates it)."""
        cached = self._residuals.get(key)
        return cached if cached is not None and cached.shape == like.shape else None

    def put(self, key: Hashable, residual: torch.Tensor) -> None:
        stored = residual.detach().to(self.device or residual.device, copy=True)
        with self._lock:
            self._residuals[key] = stored
        self.ledger.hold("residuals", key, stored)

    def clear(self) -> None:
        with self._lock:
            self._residuals.clear()
