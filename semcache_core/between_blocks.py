"""Work some variants run between blocks, outside the block slots (DESIGN §4.1).

Wan VACE adds hint blocks after mapped blocks, Wan S2V injects audio and Wan Animate fuses face
features; none of it goes through a block slot. To cache such a model:

- on a computed step it runs as usual, and the block-stack residual is measured where the stack
  really ends, at the input of the module after it (Wan: the head), so the residual contains it;
- on a skipped step none of it runs: block 0 already returns input + residual, and gates keep the
  between-block modules from being called at all, so their contribution is applied exactly once.

A gate is an attribute of the running model that the model's own forward consults before it
calls the between-block work (a lookup table, a module list). It is swapped in for one model
evaluation and put back in `finally`, the way ComfyUI's own torch.compile wrapper swaps
`diffusion_model` in for one call. A gate holds no tensor and no module of another model, and
only changes anything while the current evaluation is a skipped one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from .compile_guard import eager

Skipping = Callable[[], bool]


@dataclass(frozen=True)
class Gate:
    """`owner.attribute` is replaced by `replacement` while one evaluation runs."""

    owner: Any
    attribute: str
    replacement: Any


@dataclass(frozen=True)
class BetweenBlockWork:
    """What a variant runs between its blocks, and how a skipped step keeps it from running.

    `modules`: the modules doing the work (named in the stats, counted by the tests).
    `stack_end`: the module whose first input is the block stack's output, after the last
    between-block contribution (Wan: the head); the residual is measured there.
    `reused`: one line for the stats, what a skipped step reuses.
    """

    label: str
    modules: tuple[torch.nn.Module, ...]
    stack_end: torch.nn.Module
    gates: tuple[Gate, ...]
    reused: str


class SkippableLookup(dict):
    """A block-index lookup (`{block: slot}`) that finds nothing on a skipped step.

    For forwards written `j = table.get(i); if j is not None: <between-block work>` (VACE's
    `vace_layers_mapping`, S2V's `injected_block_id`): on a skipped step the work is not called.
    """

    def __init__(self, table: dict, skipping: Skipping):
        super().__init__(table)
        self._skipping = skipping

    def get(self, key: Any, default: Any = None) -> Any:
        if _skipping(self._skipping):
            return default
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        return not _skipping(self._skipping) and super().__contains__(key)


class SkippableModuleList(torch.nn.ModuleList):
    """The same modules (same names, same weights); indexing on a skipped step gives a stand-in
    that returns an additive zero instead of calling the module (Animate: `x = x + fuser[k](...)`).
    """

    def __init__(self, modules: Iterable[torch.nn.Module], skipping: Skipping):
        super().__init__(modules)
        self._skipping = skipping

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return torch.nn.ModuleList(list(self._modules.values())[idx])
        if _skipping(self._skipping):
            return _additive_zero
        return super().__getitem__(idx)


@eager
def _skipping(predicate: Skipping) -> bool:
    return bool(predicate())


def _additive_zero(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return x.new_zeros(())


def swap_in(gates: Iterable[Gate]) -> list[tuple[Any, str, Any]]:
    """Put the gates in place; returns what `restore` needs to put the very same originals back."""
    saved: list[tuple[Any, str, Any]] = []
    try:
        for gate in gates:
            saved.append((gate.owner, gate.attribute, getattr(gate.owner, gate.attribute)))
            setattr(gate.owner, gate.attribute, gate.replacement)
    except BaseException:
        restore(saved)
        raise
    return saved


def restore(saved: list[tuple[Any, str, Any]]) -> None:
    for owner, attribute, original in reversed(saved):
        setattr(owner, attribute, original)
    saved.clear()
