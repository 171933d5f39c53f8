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

from .forecast import extrapolate, push

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
    """Residuals by (stream, window) on the cache device (None: where they were computed).

    With a forecasting reuse_mode (`order` 1 or 2, forecast.py) each key keeps its last
    `order + 1` computed residuals with their schedule positions, and `get` at a position returns
    their extrapolation there; every kept residual is counted by the ledger. `order` 0 keeps one
    and returns it as stored (plain reuse).
    """

    def __init__(self, ledger: MemoryLedger, device: torch.device | None, order: int = 0):
        self.ledger = ledger
        self.device = device
        self.order = order
        self._lock = threading.Lock()
        self._history: dict[Hashable, list[tuple[float, torch.Tensor]]] = {}

    def get(self, key: Hashable, like: torch.Tensor, position: float | None = None) -> torch.Tensor | None:
        """The residual at `key` if it fits `like` (a changed latent shape invalidates it); with a
        forecasting order and a `position`, the forecast there (on `like`'s device and dtype)."""
        with self._lock:  # a snapshot: another thread may store for another stream meanwhile
            history = list(self._history.get(key) or ())
        if not history or history[-1][1].shape != like.shape:
            return None
        if self.order == 0 or position is None or len(history) == 1:
            return history[-1][1]
        return extrapolate(history, position, self.order, like.device, like.dtype)

    def put(self, key: Hashable, residual: torch.Tensor, position: float = 0.0) -> None:
        stored = residual.detach().to(self.device or residual.device, copy=True)
        with self._lock:
            history = self._history.setdefault(key, [])
            if history and history[-1][1].shape != stored.shape:
                history.clear()  # a new latent shape: the old residuals say nothing about it
            push(history, position, stored, self.order + 1)
            kept = [t for _, t in history]
        self.ledger.hold("residuals", key, *kept)

    def clear(self) -> None:
        with self._lock:
            self._history.clear()
