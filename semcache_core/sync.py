"""The leader's per-sigma decisions, handed to streams that run at the same time (DESIGN §3, §4.3).

ComfyUI's MultiGPU work units (v0.33 `MultiGPU_WorkUnits`) evaluate cond and uncond at the same
time in worker threads, each on its own deep-cloned model. A follower stream must take the
leader's decision for the same sigma, but it may reach its first block before the leader has
decided. So the leader posts each decision the moment it is taken, and a concurrent follower
waits for it, for a bounded time: after that it computes (always safe, only slower). Sequential
evaluations never wait: their leader has already posted.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass

# How long a concurrent follower waits for the leader's decision at its sigma before computing.
# The leader decides at its first block, right after the model's input embedding, so this only
# runs out when the leader is not evaluated at that sigma at all (or is stalled).
LEADER_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class LeaderChoice:
    """What the leader did at one (window, sigma): skip the step, and which frames TMM reused."""

    skip: bool
    reused_frames: tuple[int, ...] = ()


class DecisionBoard:
    """Leader choices by key, posted once per leader evaluation, read by every other stream."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._choices: dict[Hashable, LeaderChoice] = {}

    def post(self, key: Hashable, choice: LeaderChoice) -> None:
        with self._changed:
            self._choices[key] = choice
            self._changed.notify_all()

    def lookup(self, key: Hashable, wait_seconds: float = 0.0) -> LeaderChoice | None:
        """The leader's choice at `key`; waits up to `wait_seconds` for it to be posted."""
        with self._changed:
            if wait_seconds > 0:
                self._changed.wait_for(lambda: key in self._choices, timeout=wait_seconds)
            return self._choices.get(key)

    def clear(self) -> None:
        with self._changed:
            self._choices.clear()
            self._changed.notify_all()
