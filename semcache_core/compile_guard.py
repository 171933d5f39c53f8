"""Keeps SemCache's own Python out of torch.compile's tracing (DESIGN §3, reference/issues.md P7).

Core `TorchCompileModel` compiles the whole diffusion model, so dynamo would trace our wrappers
and block slots: graph breaks on every `.item()`, guards on our per-run objects, one cache entry
per block slot and a recompile-limit hit. Two markers prevent that:

- `eager`: a function of ours that never calls model code (decisions, bookkeeping). Dynamo skips
  it and everything it calls.
- `eager_frame`: a function of ours that calls back into model code (the DIFFUSION_MODEL wrapper
  calls the model, a block slot calls the block). Dynamo skips this frame only; the model code
  it calls is traced and compiled as usual, so the block work stays compiled.

Every frame of ours reachable from compiled code is one of the two; nothing here keeps state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable)


def _disable(fn: F, recursive: bool) -> F:
    compiler = getattr(torch, "compiler", None)
    if compiler is None or not hasattr(compiler, "disable"):
        return fn  # a torch without torch.compile: nothing to keep out of
    try:
        return compiler.disable(fn, recursive=recursive)
    except TypeError:  # torch < 2.4: no `recursive`; the private spelling has it
        from torch import _dynamo

        return _dynamo.disable(fn, recursive=recursive)


def eager(fn: F) -> F:
    """Never traced by dynamo, nor anything it calls: for code that does not call the model."""
    return _disable(fn, recursive=True)


def eager_frame(fn: F) -> F:
    """This frame is never traced; the model code it calls still is (and stays compiled)."""
    return _disable(fn, recursive=False)
