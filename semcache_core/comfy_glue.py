"""The only module that talks to ComfyUI's patcher API (DESIGN §3). Imports comfy lazily.

Hook points, all public and stable from 0.3.75 on:
- OUTER_SAMPLE wrapper: a fresh RunState per sampler call, released in `finally`.
- DIFFUSION_MODEL wrapper: one Evaluation per model call; temporary probe hooks.
- Block replacement on every block slot (wrapping whatever was there): skip / compute.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .adapters import ModelAdapter, ProbePoint, detect_adapter
from .between_blocks import BetweenBlockWork, restore, swap_in
from .compile_guard import eager, eager_frame
from .config import SemCacheConfig
from .registry import latest, publish
from .state import Evaluation, RunState
from .stats import RunStats
from .tmm import TMMConfig

log = logging.getLogger("SemCache")

HOLDER_KEY = "semcache"
RUN_KEY = "semcache_run"
WRAPPER_KEY = "semcache"

_current: contextvars.ContextVar[Evaluation | None] = contextvars.ContextVar("semcache_eval", default=None)


@dataclass(frozen=True)
class SemCacheHolder:
    """What a patched MODEL carries: the settings of both techniques (either may be absent)
    and the key its run stats are published under. One holder = one engine, however many of
    our nodes were chained."""

    psa: SemCacheConfig | None
    tmm: TMMConfig | None
    stats_key: str


class BlockSlot:
    """Our entry in one `patches_replace["dit"]` slot; calls the slot's previous occupant.

    `position` is the block's place in the whole stack (HunyuanVideo: doubles, then singles).
    Under torch.compile this frame is skipped and our decisions run eagerly before and after
    the block; the block itself (the previous occupant) is still traced and compiled.
    """

    def __init__(self, position: int, block_type: str, inner: Any = None):
        self.position = position
        self.block_type = block_type
        self.inner = inner

    @eager_frame
    def __call__(self, args: dict, extra: dict) -> dict:
        evaluation = _current.get()
        if evaluation is not None:
            done, args = _enter_block(evaluation, self.position, self.block_type, args)
            if done is not None:
                return done
        out = self.inner(args, extra) if self.inner is not None else extra["original_block"](args)
        if evaluation is None:
            return out
        return _leave_block(evaluation, self.position, self.block_type, out)


@eager
def _enter_block(evaluation: Evaluation, position: int, block_type: str, args: dict) -> tuple[dict | None, dict]:
    return evaluation.enter_block(position, block_type, args)


@eager
def _leave_block(evaluation: Evaluation, position: int, block_type: str, out: dict) -> dict:
    return evaluation.leave_block(position, block_type, out)


def diffusion_model_of(model: Any) -> Any:
    return model.get_model_object("diffusion_model")


def patch_model(model: Any, config: SemCacheConfig) -> Any:
    """A clone of `model` with PSA step caching; keeps TMM settings from an earlier TMM node."""
    existing = holder_of(model)
    return _install(model, psa=config, tmm=existing.tmm if existing else None)


def patch_tmm(model: Any, config: TMMConfig) -> Any:
    """A clone of `model` with TMM frame selection; keeps PSA settings from an earlier SemCache node."""
    existing = holder_of(model)
    return _install(model, psa=existing.psa if existing else None, tmm=config)


def _install(model: Any, psa: SemCacheConfig | None, tmm: TMMConfig | None) -> Any:
    """Clone, then make sure exactly one set of our wrappers and block slots is present."""
    import comfy.patcher_extension as pe

    diffusion_model = diffusion_model_of(model)
    # raises UnsupportedModelError before any change
    adapter = detect_adapter(diffusion_model, type(getattr(model, "model", None)).__name__)
    patched = model.clone()
    transformer_options = patched.model_options.setdefault("transformer_options", {})
    transformer_options[HOLDER_KEY] = SemCacheHolder(psa, tmm, uuid.uuid4().hex)
    for wrapper_type, fn in (
        (pe.WrappersMP.OUTER_SAMPLE, outer_sample_wrapper),
        (pe.WrappersMP.DIFFUSION_MODEL, diffusion_model_wrapper),
    ):
        patched.remove_wrappers_with_key(wrapper_type, WRAPPER_KEY)  # re-patching replaces, never stacks
        patched.add_wrapper_with_key(wrapper_type, WRAPPER_KEY, fn)
    slots = transformer_options.get("patches_replace", {}).get("dit", {})
    for position, (block_type, index) in enumerate(adapter.block_keys()):
        existing = slots.get((block_type, index))
        if isinstance(existing, BlockSlot):
            continue
        patched.set_model_patch_replace(BlockSlot(position, block_type, existing), "dit", block_type, index)
    return patched


def holder_of(model: Any) -> SemCacheHolder | None:
    return model.model_options.get("transformer_options", {}).get(HOLDER_KEY)


def latest_stats(model: Any) -> RunStats | None:
    holder = holder_of(model)
    return latest(holder.stats_key) if holder is not None else None


def outer_sample_wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
    """One sampler call: fresh state in, stats published and every tensor dropped on the way out."""
    import comfy.model_patcher

    guider = executor.class_obj
    original_options = guider.model_options
    holder = original_options.get("transformer_options", {}).get(HOLDER_KEY)
    if holder is None:
        return executor(*args, **kwargs)
    patcher = guider.model_patcher
    diffusion_model = diffusion_model_of(patcher)
    adapter: ModelAdapter = detect_adapter(diffusion_model)
    sampling = patcher.get_model_object("model_sampling")
    run = RunState(
        holder.psa,
        holder.tmm,
        adapter,
        args[3],
        percent_to_sigma=sampling.percent_to_sigma,
        denoise=_denoiser(sampling),
    )
    adapter.between_block_work(_skipping)
    run.stats.reused = adapter.reused_work()
    if run.disabled_reason:
        log.info("SemCache: caching off for this run: %s", run.disabled_reason)
    elif run.tmm_disabled_reason:
        log.info("SemCache: TMM off for this run: %s", run.tmm_disabled_reason)
    guider.model_options = comfy.model_patcher.create_model_options_clone(original_options)
    guider.model_options["transformer_options"][RUN_KEY] = run
    error: BaseException | None = None
    try:
        return executor(*args, **kwargs)
    except BaseException as exc:
        error = exc
        raise
    finally:
        stats = run.finish(error)
        run.release()
        guider.model_options = original_options
        publish(holder.stats_key, stats)
        log.info(stats.summary_line())


def _denoiser(sampling: Any):
    """Predicted clean latent from a model output, through the model's own sampling rule."""
    import torch

    def denoise(x: Any, output: Any, sigma: float) -> Any:
        return sampling.calculate_denoised(torch.full((x.shape[0],), sigma, device=x.device), output, x)

    return denoise


def _transformer_options(args: tuple, kwargs: dict) -> dict | None:
    if args and isinstance(args[-1], dict):
        return args[-1]
    found = kwargs.get("transformer_options")
    return found if isinstance(found, dict) else None


def _foreign_slot(transformer_options: dict, run: RunState) -> tuple[str, int] | None:
    """A block slot that is not ours (a later node overwrote it, or SLG's extra pass)."""
    slots = transformer_options.get("patches_replace", {}).get("dit", {})
    for key in run.block_keys:
        if not isinstance(slots.get(key), BlockSlot):
            return key
    return None


def _window_key(transformer_options: dict) -> Any:
    window = transformer_options.get("context_window")
    if window is None:
        return None
    index_list = getattr(window, "index_list", None)
    return tuple(index_list) if index_list is not None else id(window)


@eager_frame
def diffusion_model_wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
    """One model evaluation: set up the Evaluation the block slots consult, probe, finish.

    Only `executor(...)` (the model) runs traced under torch.compile; the rest is eager.
    """
    begun = _begin_evaluation(executor.class_obj, args, kwargs)
    if begun is None:
        return executor(*args, **kwargs)
    try:
        out = executor(*args, **kwargs)
        _finish_evaluation(begun, out)
        return out
    finally:
        _end_evaluation(begun)


@dataclass
class _Begun:
    evaluation: Evaluation
    token: contextvars.Token
    handles: list
    gates: list = field(default_factory=list)  # between-block gates to put back (between_blocks.py)


@eager
def _begin_evaluation(diffusion_model: Any, args: tuple, kwargs: dict) -> _Begun | None:
    """The Evaluation for this call (None: run uncached), made current, with its probe hooks.

    Everything model-bound (adapter, probe modules) is taken from `diffusion_model`, the model
    this call runs: with MultiGPU work units that is a deep clone, not the model the run began with.
    """
    transformer_options = _transformer_options(args, kwargs)
    run: RunState | None = transformer_options.get(RUN_KEY) if transformer_options else None
    if run is None or run.disabled_reason:
        return None
    foreign = _foreign_slot(transformer_options, run)
    if foreign is not None:
        run.warn(f"block slot {foreign} is held by another node: those evaluations ran uncached")
        return None
    adapter = run.adapter_for(diffusion_model) if diffusion_model is not None else run.adapter
    blocked = adapter.evaluation_blocker(args, kwargs)
    if blocked is not None:
        run.warn(f"{blocked}: those evaluations ran uncached")
        return None
    sigmas = transformer_options.get("sigmas")
    sigma = float(sigmas.flatten()[0]) if sigmas is not None else 0.0
    evaluation = Evaluation(
        run,
        args[0],
        transformer_options.get("uuids") or [],
        transformer_options.get("cond_or_uncond") or [],
        sigma,
        _window_key(transformer_options),
        adapter=adapter,
        concurrent=threading.get_ident() != run.thread or "multigpu_thread_device" in transformer_options,
    )
    begun = _Begun(evaluation, _current.set(evaluation), [])
    try:
        work = adapter.between_block_work(_skipping)
        if work is not None:
            _gate_between_block_work(begun, work)
        if evaluation.cond_chunks and run.wants_probe():
            for point in adapter.probe_points(run.probe_layers):
                begun.handles.extend(_probe_hooks(evaluation, point))
    except BaseException:
        _end_evaluation(begun)
        raise
    return begun


@eager
def _finish_evaluation(begun: _Begun, out: Any) -> None:
    if getattr(out, "is_cuda", False):
        import torch

        torch.cuda.synchronize(out.device)  # honest per-evaluation wall time in the stats
    begun.evaluation.finish(out)


@eager
def _end_evaluation(begun: _Begun) -> None:
    for handle in begun.handles:
        handle.remove()
    begun.handles.clear()
    restore(begun.gates)
    _current.reset(begun.token)


@eager
def _skipping() -> bool:
    """Whether the evaluation running now (in this thread) is a skipped one: the gates ask."""
    evaluation = _current.get()
    return evaluation is not None and evaluation.skip


def _gate_between_block_work(begun: _Begun, work: BetweenBlockWork) -> None:
    """For one evaluation: gates in, and the residual measured at the stack's real end.

    The block slots then only decide and skip; the residual (and the Eq. 8 record) is taken at
    the input of `work.stack_end`, after the last between-block contribution, not after the
    last block.
    """
    evaluation = begun.evaluation
    block_type = evaluation.run.block_keys[-1][0]
    evaluation.last_block = -1  # no block ends the stack

    @eager
    def end_of_stack(module: Any, inputs: tuple) -> None:
        if not evaluation.skip and evaluation.stack_in is not None and inputs:
            evaluation.finish_stack({"img": inputs[0]}, block_type)

    begun.handles.append(work.stack_end.register_forward_pre_hook(end_of_stack))
    begun.gates.extend(swap_in(work.gates))


def _probe_hooks(evaluation: Evaluation, point: ProbePoint) -> list:
    """Temporary forward hooks pairing Z_in (input of in_module) with Z_out (output of out_module)."""
    pending: list = []

    @eager
    def take_input(module: Any, inputs: tuple, output: Any) -> None:
        if inputs:
            pending[:] = [inputs[0]]

    @eager
    def take_output(module: Any, inputs: tuple, output: Any) -> None:
        if point.in_module is module and inputs:
            pending[:] = [inputs[0]]
        if pending and hasattr(output, "shape"):
            evaluation.add_probe(pending.pop(), output, point.joint)

    if point.in_module is point.out_module:
        return [point.out_module.register_forward_hook(take_output)]
    return [point.in_module.register_forward_hook(take_input), point.out_module.register_forward_hook(take_output)]
