"""What a SemCache run could leave behind, found by scanning what is actually alive.

The run state lives in the guider's cloned model options, never on the patched model, so a check
of the model's options cannot see a leak. These helpers ask the garbage collector instead: which
of the pack's run-state objects are alive, which tensors they (still) hold, which tensor storages
exist that did not exist before the run, and which hooks or wrappers sit on the models.
"""

from __future__ import annotations

import gc
import types
import warnings
from collections.abc import Iterable

import torch

PACK_PREFIX = "semcache_pack."
# Per-run / per-evaluation objects of the engine (a RunStats published for the UI is not one).
RUN_STATE_TYPES = {"RunState", "Evaluation", "WindowController", "ErrorAccumulator", "DecisionBoard", "_Begun"}


def run_state_objects() -> list:
    gc.collect()
    return [
        o for o in gc.get_objects()
        if type(o).__name__ in RUN_STATE_TYPES and type(o).__module__.startswith(PACK_PREFIX)
    ]


def tensors_held(roots: Iterable, depth: int = 6) -> list[torch.Tensor]:
    """Tensors reachable from `roots` through attributes, dicts, lists, tuples and sets.

    Stops at modules (a run may name the model it runs, not own its weights) and functions."""
    found: list[torch.Tensor] = []
    seen: set[int] = set()
    frontier = list(roots)
    for _ in range(depth):
        following = []
        for obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, torch.Tensor):
                found.append(obj)
            elif isinstance(obj, (torch.nn.Module, type, types.FunctionType, types.MethodType, types.ModuleType)):
                continue
            elif isinstance(obj, dict):
                following.extend(obj.keys())
                following.extend(obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                following.extend(obj)
            elif hasattr(obj, "__dict__"):
                following.extend(vars(obj).values())
        frontier = following
    return found


def cached_tensors() -> list[torch.Tensor]:
    """Tensors held by live RunState objects: what a run keeps between evaluations (residuals,
    Eq. 8 samples). A failed run's RunState stays alive as long as its traceback does; what it
    holds must already be gone by then."""
    return tensors_held(o for o in run_state_objects() if type(o).__name__ == "RunState")


def tensor_storages() -> dict[int, int]:
    """data_ptr -> bytes of every tensor storage the garbage collector can see."""
    gc.collect()
    storages = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # isinstance() on deprecated torch aliases warns
        for obj in gc.get_objects():
            try:
                if isinstance(obj, torch.Tensor) and obj.device.type != "meta":
                    storage = obj.untyped_storage()
                    storages[storage.data_ptr()] = storage.nbytes()
            except Exception:  # noqa: BLE001  (tensor subclasses without storage)
                pass
    return storages


def hooks_on(model) -> list[str]:
    diffusion_model = model.get_model_object("diffusion_model")
    return [
        f"hook on {name or 'diffusion_model'}"
        for name, module in diffusion_model.named_modules()
        if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
    ]


def semcache_on_input_model(model) -> list[str]:
    """Wrappers, block replacements or settings of SemCache on a model that was only an input."""
    found = []
    for kind, by_key in model.wrappers.items():
        if "semcache" in by_key:
            found.append(f"{kind} wrapper on the input model")
    options = model.model_options.get("transformer_options", {})
    if "semcache" in options:
        found.append("SemCache settings on the input model")
    for key, slot in options.get("patches_replace", {}).get("dit", {}).items():
        if type(slot).__module__.startswith(PACK_PREFIX):
            found.append(f"SemCache block slot {key} on the input model")
    return found


def leftovers(model, input_model=None, baseline: dict[int, int] | None = None, keep: Iterable = ()) -> list[str]:
    """Everything a finished (or failed) run could have left behind; [] when clean.

    `baseline`: tensor_storages() before the run; new storages other than those of `keep` (the
    run's output) count as leaked tensors."""
    from semcache_pack.semcache_core import comfy_glue

    found = []
    alive = run_state_objects()
    found += [f"live {type(o).__name__}" for o in alive]
    held = tensors_held(alive)
    if held:
        found.append(f"{len(held)} tensors ({sum(t.nbytes for t in held)} bytes) held by run state")
    found += hooks_on(model)
    if comfy_glue.RUN_KEY in model.model_options.get("transformer_options", {}):
        found.append("run state on the patched model")
    if comfy_glue._current.get() is not None:
        found.append("active evaluation")
    if input_model is not None:
        found += semcache_on_input_model(input_model)
        found += [f"{h} (input model)" for h in hooks_on(input_model)]
    if baseline is not None:
        kept = {t.untyped_storage().data_ptr() for t in keep}
        new = {p: n for p, n in tensor_storages().items() if p not in baseline and p not in kept}
        if new:
            found.append(f"{len(new)} new tensor storages ({sum(new.values())} bytes) alive after the run")
    return found
