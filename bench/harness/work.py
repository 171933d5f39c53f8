"""Honest work accounting: count the transformer blocks that really ran, per sampler step.

Forward hooks on every block of the diffusion model count token-block executions (rows x
tokens), whichever caching method is active; a step none of whose blocks ran was skipped.
"""

from __future__ import annotations

from typing import Any

_ACTIVE: list[BlockWork] = []


def off_the_books(token_blocks: int) -> None:
    """Block work that really ran but must not count (the oracle's look at the truth on a step it
    then reuses): taken off every active counter's current step."""
    for work in _ACTIVE:
        work.total -= token_blocks
        work._open -= token_blocks


class BlockWork:
    """Context manager: hooks on every block; `callback` (the sampler's) closes each step."""

    def __init__(self, model: Any):
        self.blocks = model.get_model_object("diffusion_model").blocks
        self.n_blocks = len(self.blocks)
        self.per_step: list[int] = []
        self.total = 0
        self._open = 0
        self._handles: list[Any] = []

    def __enter__(self) -> "BlockWork":
        self._handles = [b.register_forward_hook(self._hook) for b in self.blocks]
        _ACTIVE.append(self)
        return self

    def _hook(self, module: Any, inputs: tuple, output: Any) -> None:
        work = inputs[0].shape[0] * inputs[0].shape[1]
        self.total += work
        self._open += work

    def callback(self, step: int, x0: Any, x: Any, total_steps: int) -> None:
        self.per_step.append(self._open)
        self._open = 0

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        self.blocks = None  # the counts outlive the model: a saved Sample must not pickle its blocks

    @property
    def skipped_steps(self) -> int:
        return sum(1 for w in self.per_step if w == 0)

    def step_pattern(self) -> str:
        """One character per step: C computed, . skipped, p partial (fewer blocks than the max)."""
        top = max(self.per_step, default=0)
        return "".join("." if w == 0 else ("C" if w == top else "p") for w in self.per_step)
