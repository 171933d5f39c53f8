"""Real-scale step timings: Wan-1.3B-shaped blocks, random weights, SemCache's real code path.

What a caching method can win is decided by three costs at the real model size: a full step,
a skipped step (SemCache still runs the embeddings, its block-0 slot adds the cached residual,
the head runs), and the bookkeeping SemCache adds to a computed step (probe hooks on the
cross-attention of 15 layers, the skip decision, residual store, Eq. 8 norms). The model is
built in memory with ComfyUI's WanModel key layout and loaded through
`comfy.sd.load_diffusion_model_state_dict`, then sampled with `comfy.sample.sample`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import import_module
from statistics import median
from typing import Any, Iterator

import torch

WAN_1_3B = dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30, in_dim=16, out_dim=16, text_dim=4096)


def random_state_dict(shape: dict, seed: int = 0, dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
    """WanModel weights with the given shape, random but well-scaled (timings only)."""
    import comfy.ldm.wan.model
    import comfy.ops

    meta = comfy.ldm.wan.model.WanModel(model_type="t2v", device="meta", operations=comfy.ops.disable_weight_init, **shape)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in meta.state_dict().items():
        if "norm" in key and key.endswith("weight"):
            t = torch.ones(value.shape)
        elif key.endswith("bias"):
            t = torch.zeros(value.shape)
        elif key.endswith("modulation"):
            t = torch.randn(value.shape, generator=gen) / shape["dim"] ** 0.5
        else:
            t = torch.randn(value.shape, generator=gen) * 0.02
        state[key] = t.to(dtype)
    return state


def load_wan(shape: dict, seed: int = 0, dtype: torch.dtype | None = None) -> Any:
    """The random model through ComfyUI's loader; `dtype` forces the weight/compute dtype (GPU bf16)."""
    import comfy.model_management
    import comfy.sd

    options = {"dtype": dtype} if dtype is not None else {}
    patcher = comfy.sd.load_diffusion_model_state_dict(random_state_dict(shape, seed), model_options=options)
    comfy.model_management.load_models_gpu([patcher])
    return patcher


_CUDA_CLOCK = False


def use_cuda_clock(on: bool = True) -> None:
    """Time with the wall clock after a device synchronisation (GPU runs) instead of CPU time."""
    global _CUDA_CLOCK
    _CUDA_CLOCK = on


def clock() -> float:
    """This process's CPU time: with one torch thread it is the compute a step took, whatever
    else runs on the machine (wall time on a shared 2-core box mostly measures the neighbours).
    On a GPU (`use_cuda_clock`): synchronised wall time, since the work runs on the device."""
    if _CUDA_CLOCK:
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def _timed_evaluations(times: list[float]):
    """Outermost DIFFUSION_MODEL wrapper: CPU time of every model evaluation."""

    def wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return executor(*args, **kwargs)
        finally:
            times.append(clock() - start)

    return wrapper


@dataclass
class Overhead:
    """Seconds spent inside SemCache's bookkeeping functions, by function."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))


# (module under semcache_core, class, method): everything SemCache adds to a computed step.
INSTRUMENTED = (
    ("state", "Evaluation", "decide"),
    ("state", "Evaluation", "add_probe"),
    ("state", "RunState", "store_residual"),
    ("state", "RunState", "note_computed_prompt"),
    ("error", "ErrorAccumulator", "record_computed"),
)


@contextmanager
def instrument(pack: Any) -> Iterator[Overhead]:
    """Time SemCache's bookkeeping methods (patched on the classes for the duration)."""
    found = Overhead()
    originals = []
    for module, cls_name, method in INSTRUMENTED:
        cls = getattr(import_module(f"{pack.__name__}.semcache_core.{module}"), cls_name)
        original = getattr(cls, method)
        originals.append((cls, method, original))

        def timed(*args: Any, _original: Any = original, _name: str = f"{cls_name}.{method}", **kwargs: Any) -> Any:
            start = clock()
            try:
                return _original(*args, **kwargs)
            finally:
                found.seconds[_name] += clock() - start
                found.calls[_name] += 1

        setattr(cls, method, timed)
    try:
        yield found
    finally:
        for cls, method, original in originals:
            setattr(cls, method, original)


@dataclass
class StepTimes:
    tokens: int
    full: list[float]  # uncached evaluations
    computed: list[float]  # SemCache computed evaluations with probes active
    skipped: list[float]  # SemCache skipped evaluations
    overhead: Overhead
    computed_count: int

    @property
    def overhead_per_computed(self) -> float:
        return sum(self.overhead.seconds.values()) / max(self.computed_count, 1)


def _conditioning() -> tuple[list, list]:
    """Random UMT5-shaped positive/negative contexts, zero-padded to 512 tokens like ComfyUI's."""
    gen = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 512, 4096, generator=gen) * (torch.arange(512) < 24).view(1, -1, 1), {}]]
    negative = [[torch.randn(1, 512, 4096, generator=gen) * (torch.arange(512) < 8).view(1, -1, 1), {}]]
    return positive, negative


def sample_timed(patched: Any, latent: tuple[int, int, int], steps: int, cfg: float, conds: tuple[list, list],
                 blocks_of: Any = None) -> tuple[list[float], list[float]]:
    """Sample with comfy.sample.sample; CPU time of every evaluation (outermost wrapper) and, with
    `blocks_of` (a diffusion model), the time inside its transformer blocks per evaluation."""
    import comfy.patcher_extension as pe
    import comfy.sample

    lat = torch.zeros(1, 16, *latent)
    times: list[float] = []
    block_times: list[float] = []
    timed = patched.clone()
    timed.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, "bench_timing", _timed_evaluations(times))
    # the timing wrapper must be outermost: move it to the front of the wrapper dict
    wrappers = timed.wrappers[pe.WrappersMP.DIFFUSION_MODEL]
    wrappers_in_order = {"bench_timing": wrappers.pop("bench_timing"), **wrappers}
    wrappers.clear()
    wrappers.update(wrappers_in_order)
    blocks = block_clock(blocks_of, block_times) if blocks_of is not None else nullcontext()
    with torch.inference_mode(), blocks:
        comfy.sample.sample(timed, comfy.sample.prepare_noise(lat, 0), steps, cfg, "euler", "simple",
                            conds[0], conds[1], lat, seed=0, disable_pbar=True)
    return times, block_times


def measure(model: Any, pack: Any, latent: tuple[int, int, int], steps: int = 4, cfg: float = 6.0,
            bar: Any = None) -> StepTimes:
    """One uncached and one SemCache run of `steps` steps (SemCache forced to skip step 2 of 0..3).

    SemCache settings: warm-up 2 evaluations, start 0, a huge threshold, so the pattern is
    computed, computed (probes on), skipped, computed (the last step is always computed).
    `bar` (a harness.progress bar) advances by the sampled steps after each run, outside the timing.
    """

    glue = import_module(f"{pack.__name__}.semcache_core.comfy_glue")
    config = import_module(f"{pack.__name__}.semcache_core.config")
    frames, height, width = latent
    conds = _conditioning()

    def run(patched: Any, steps: int = steps) -> list[float]:
        times = sample_timed(patched, latent, steps, cfg, conds)[0]
        if bar is not None:
            bar.update(steps)
        return times

    full = run(model, steps=3)  # the median of 3 uncached steps is the full-step cost
    cfg_obj = config.SemCacheConfig(threshold_scale=1e6, start_percent=0.0, max_skip_steps=1, min_steps=3)
    patched = glue.patch_model(model, cfg_obj)
    with instrument(pack) as overhead:
        cached = run(patched)
    records = glue.latest_stats(patched).records
    decisions = [r.decision for r in records]
    computed = [t for i, (t, d) in enumerate(zip(cached, decisions)) if d == "computed" and i >= 1]
    skipped = [t for t, d in zip(cached, decisions) if d == "skipped"]
    tokens = frames * (height // 2) * (width // 2)
    return StepTimes(tokens, full, computed, skipped, overhead, sum(d == "computed" for d in decisions))


def summary(t: StepTimes) -> dict[str, float]:
    """Medians (a step = one batched cond+uncond evaluation) and the overhead as % of a full step."""
    full = median(t.full)
    return {
        "tokens": t.tokens,
        "full_step_s": full,
        "semcache_computed_step_s": median(t.computed) if t.computed else float("nan"),
        "skipped_step_s": median(t.skipped) if t.skipped else float("nan"),
        "skipped_pct_of_full": 100 * median(t.skipped) / full if t.skipped else float("nan"),
        "overhead_ms": 1000 * t.overhead_per_computed,
        "overhead_pct_of_full": 100 * t.overhead_per_computed / full,
        "ab_overhead_pct": 100 * (median(t.computed) - full) / full if t.computed else float("nan"),
    }


@dataclass
class TMMTimes:
    """A TMM run at real block shapes: which evaluations ran only some frames, and what they cost."""

    tokens: int
    frames: int
    full: list[float]  # uncached evaluations (whole step)
    full_blocks: list[float]  # time inside the transformer blocks of those evaluations
    partial: list[float]  # TMM partial evaluations (whole step)
    partial_blocks: list[float]
    token_fraction: list[float]  # computed video tokens / all video tokens, per partial evaluation


@contextmanager
def block_clock(diffusion_model: Any, per_evaluation: list[float]) -> Iterator[None]:
    """Sum the CPU time inside the real transformer blocks (forward hooks), per model evaluation."""
    blocks = list(diffusion_model.blocks)
    state = {"start": 0.0, "sum": 0.0}

    def pre(module: Any, args: Any) -> None:
        state["start"] = clock()

    def post(module: Any, args: Any, output: Any) -> None:
        state["sum"] += clock() - state["start"]
        if module is blocks[-1]:
            per_evaluation.append(state["sum"])
            state["sum"] = 0.0

    handles = [b.register_forward_pre_hook(pre) for b in blocks] + [b.register_forward_hook(post) for b in blocks]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def measure_tmm(model: Any, pack: Any, latent: tuple[int, int, int], reuse_ratio: float = 0.5,
                steps: int = 4, cfg: float = 6.0, bar: Any = None) -> TMMTimes:
    """Uncached steps vs a TMM Frame Selector run (start 0): step 0 and the last step compute every
    frame, the steps between run only the selected frames (gathered tokens, real block code).
    `bar` (a harness.progress bar) advances by the sampled steps after each run."""
    glue = import_module(f"{pack.__name__}.semcache_core.comfy_glue")
    config = import_module(f"{pack.__name__}.semcache_core.config")
    tmm = import_module(f"{pack.__name__}.semcache_core.tmm")
    frames, height, width = latent
    conds = _conditioning()
    diffusion_model = model.model.diffusion_model

    def run(patched: Any, steps: int) -> tuple[list[float], list[float]]:
        timed = sample_timed(patched, latent, steps, cfg, conds, blocks_of=diffusion_model)
        if bar is not None:
            bar.update(steps)
        return timed

    full, full_blocks = run(model, steps=3)
    # PSA off (threshold 0) and min_steps lowered so that a 4-step run is not treated as a distilled schedule
    psa_off = glue.patch_model(model, config.SemCacheConfig(threshold_scale=0.0, min_steps=steps))
    patched = glue.patch_tmm(psa_off, tmm.TMMConfig(reuse_ratio=reuse_ratio, start_percent=0.0))
    step_times, block_times = run(patched, steps)
    records = glue.latest_stats(patched).records
    picked = [i for i, r in enumerate(records) if r.decision == "partial"]
    fractions = [(frames - len(records[i].frames_reused or ())) / frames for i in picked]
    tokens = frames * (height // 2) * (width // 2)
    return TMMTimes(tokens, frames, full, full_blocks, [step_times[i] for i in picked],
                    [block_times[i] for i in picked], fractions)


def tmm_summary(t: TMMTimes) -> dict[str, float]:
    """Medians: a TMM-partial step and its block time as fractions of an uncached step."""
    full, full_blocks = median(t.full), median(t.full_blocks)
    partial, partial_blocks = median(t.partial), median(t.partial_blocks)
    return {
        "tokens": t.tokens,
        "frames": t.frames,
        "partial_steps": len(t.partial),
        "computed_token_fraction": median(t.token_fraction),
        "full_step_s": full,
        "partial_step_s": partial,
        "partial_step_fraction": partial / full,
        "full_blocks_s": full_blocks,
        "partial_blocks_s": partial_blocks,
        "partial_blocks_fraction": partial_blocks / full_blocks,
    }
