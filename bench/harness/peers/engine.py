"""The one hook engine every peer policy runs on: ComfyUI's public extension points only.

A peer is a *decision rule* over block-stack residual reuse (TeaCache, MagCache, First Block
Cache, the greedy and constrained oracles, a replayed schedule). The mechanics they share live
here, built like the pack (DESIGN §3):
- an OUTER_SAMPLE wrapper makes a fresh PeerRun (policy state, cached residuals) per sampler
  call and drops it in `finally`;
- a DIFFUSION_MODEL wrapper opens one evaluation per model call (streams from `uuids`, their
  cond/uncond kind from `cond_or_uncond`, the current sigma and timestep) and shows the policy
  the model output (calibration);
- a slot in every `patches_replace["dit"][("double_block", i)]` (wrapping a previous occupant)
  asks the policy at its decision point and applies its answer *per stream*: a stream that
  reuses gets `base + its cached residual`; the streams that compute run the remaining blocks on
  their own rows only (so the block work counted by hooks on the real blocks is what ran).

Decision points (`Policy.stage`): "before" block 0 (TeaCache, MagCache, replay), "after_first"
block (First Block Cache: block 0 always runs; the residual of blocks 1..N-1 is reused),
"after_last" block (the oracles: the whole stack ran, the policy compares truth with reuse and
may replace the output by the reused one; that evaluation's block work is then taken off the
books), "model" (TaylorSeer-Lite: the policy gets the whole model call, `model_call` returns an
output to use instead of running the model or None to run it, then `model_output` sees the output). Every evaluation decides for its own streams; a policy that keeps one state per stream
and combines the streams' answers (TeaCache: compute if any stream must; MagCache: reuse if any
stream may) returns the same answer for all of them, as its upstream code does.
"""

from __future__ import annotations

import contextvars
import math
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..work import off_the_books

HOLDER_KEY = "semcache_bench_peer"
RUN_KEY = "semcache_bench_peer_run"
WRAPPER_KEY = "semcache_bench_peer"

_current: contextvars.ContextVar[Evaluation | None] = contextvars.ContextVar("bench_peer_eval", default=None)
_LOGS: dict[str, RunLog] = {}


@dataclass(frozen=True)
class Step:
    """Where an evaluation sits in its sampler call's schedule."""

    index: int
    total: int
    sigma: float

    @property
    def is_last(self) -> bool:
        return self.index >= self.total - 1

    @property
    def fraction(self) -> float:
        return self.index / max(self.total, 1)


@dataclass
class RunLog:
    """What one sampler call decided: per evaluation (step index, reused? per stream, the rule's value)."""

    decisions: list[tuple[int, list[bool], float | None]] = field(default_factory=list)
    observations: list[dict] = field(default_factory=list)  # free-form records (calibration)

    @property
    def pattern(self) -> str:
        """One character per step: "." every stream reused, "C" none, "h" some (First Block Cache)."""
        per_step: dict[int, list[bool]] = {}
        for index, skips, _ in self.decisions:
            per_step.setdefault(index, []).extend(skips)
        return "".join("." if all(s) else ("C" if not any(s) else "h") for _, s in sorted(per_step.items()))


class Policy:
    """Per-run decision state of one peer (a fresh instance per sampler call).

    `decide` gets the evaluation, `can_reuse` per stream (a cached residual of the right shape
    exists) and the stage's tensors; it returns one bool per stream (True = reuse) and must keep
    its own state consistent whatever the engine then does. `value` is what the rule compared.
    """

    stage = "before"
    value: float | None = None

    def start(self, sigmas: list[float], percent_to_sigma: Callable[[float], float]) -> None:
        """The sampler call's schedule (sigmas without the final 0) and the model's percent map."""

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        return [False] * len(can_reuse)

    def computed(self, ev: Evaluation, x: torch.Tensor, out: torch.Tensor) -> None:
        """A computed evaluation's block-stack input and output (all rows; every stream computed)."""

    def observe_output(self, ev: Evaluation, output: torch.Tensor, log: RunLog) -> None:
        """The model output of an evaluation (all rows)."""

    def model_call(self, ev: Evaluation, like: torch.Tensor) -> torch.Tensor | None:
        """Stage "model": the output of this whole model call, or None to run the model."""
        return None

    def model_output(self, ev: Evaluation, output: torch.Tensor) -> None:
        """Stage "model": the output of a model call that ran."""


@dataclass(frozen=True)
class PeerHolder:
    """What a patched MODEL carries: how to make a run's policy, and where its log goes."""

    make_policy: Callable[[], Policy]
    log_key: str


class PeerRun:
    """One sampler call: the policy, the schedule, residuals per stream."""

    def __init__(self, policy: Policy, sigmas: torch.Tensor, percent_to_sigma: Callable[[float], float], log: RunLog):
        schedule = [float(s) for s in sigmas.flatten().tolist()]
        self.schedule = schedule[:-1] if len(schedule) > 1 else schedule
        self.policy = policy
        self.log = log
        self.residuals: dict[Hashable, torch.Tensor] = {}
        policy.start(self.schedule, percent_to_sigma)

    def step(self, sigma: float) -> Step:
        index = min(range(len(self.schedule)), key=lambda i: abs(self.schedule[i] - sigma)) if self.schedule else 0
        return Step(index, len(self.schedule), sigma)


def _take(t: Any, index: torch.Tensor, batch: int) -> Any:
    """Rows `index` of a per-row tensor (anything else, e.g. shared RoPE, is passed as is)."""
    if torch.is_tensor(t) and t.ndim > 0 and t.shape[0] == batch:
        return t.index_select(0, index.to(t.device))
    return t


class Evaluation:
    """One DIFFUSION_MODEL call: streams, the per-stream decision, the block-stack input."""

    def __init__(self, run: PeerRun, model: Any, x: torch.Tensor, uuids: list, kinds: list | None, sigma: float,
                 timestep: torch.Tensor | None):
        self.run = run
        self.model = model
        self.streams = list(uuids) if uuids else [None]
        self.kinds = list(kinds) if kinds and len(kinds) == len(self.streams) else [0] * len(self.streams)
        self.batch = x.shape[0]
        self.rows = max(x.shape[0] // len(self.streams), 1)
        self.step = run.step(sigma)
        self.timestep = timestep
        self.n_blocks = len(model.blocks)
        self.skip: list[bool] = [False] * len(self.streams)
        self.decided = False
        self.stack_in: torch.Tensor | None = None
        self.base: torch.Tensor | None = None  # what the cached residual is added to (all rows)
        self.compute_rows: torch.Tensor | None = None  # row index of the computing streams when partial
        self._e: torch.Tensor | None = None

    # -- views ------------------------------------------------------------------------------
    def chunk(self, t: torch.Tensor, j: int) -> torch.Tensor:
        """Stream j's rows of a per-row tensor."""
        return t[j * self.rows : (j + 1) * self.rows]

    def chunks(self, t: torch.Tensor) -> list[torch.Tensor]:
        return [self.chunk(t, j) for j in range(len(self.streams))]

    def time_embedding(self, dtype: torch.dtype) -> torch.Tensor:
        """Wan's `e` (before the time projection), recomputed from the timestep exactly as the
        model's forward computes it: (B, 1 or per-frame, dim). Tiny; the same for every prompt."""
        if self._e is None:
            from comfy.ldm.wan.model import sinusoidal_embedding_1d

            t = self.timestep
            m = self.model
            e = m.time_embedding(sinusoidal_embedding_1d(m.freq_dim, t.flatten()).to(dtype=dtype))
            self._e = e.reshape(t.shape[0], -1, e.shape[-1])
        return self._e

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The model's output head on block-stack output (before unpatchify, a pure reshuffle)."""
        return self.model.head(hidden, self.time_embedding(hidden.dtype))

    # -- the decision -----------------------------------------------------------------------
    def cached(self, j: int, like: torch.Tensor) -> torch.Tensor | None:
        r = self.run.residuals.get(self.streams[j])
        if r is None or r.shape != self.chunk(like, j).shape:
            return None
        return r.to(device=like.device, dtype=like.dtype)

    def _decide(self, base: torch.Tensor, **signals: Any) -> list[bool]:
        can = [self.cached(j, base) is not None for j in range(len(self.streams))]
        policy = self.run.policy
        policy.value = None
        answer = policy.decide(self, can, **signals)
        skip = [bool(s) and c for s, c in zip(answer, can)]
        self.run.log.decisions.append((self.step.index, skip, policy.value))
        self.decided = True
        return skip

    def _reused(self, base: torch.Tensor) -> torch.Tensor | None:
        """base + cached residual for every stream (None if a stream has none)."""
        parts = []
        for j in range(len(self.streams)):
            r = self.cached(j, base)
            if r is None:
                return None
            parts.append(self.chunk(base, j) + r)
        return torch.cat(parts, dim=0)

    def _start_partial(self, base: torch.Tensor) -> None:
        rows = [j * self.rows + i for j, s in enumerate(self.skip) if not s for i in range(self.rows)]
        self.compute_rows = torch.tensor(rows, dtype=torch.long)

    def _sliced(self, args: dict) -> dict:
        return {k: _take(v, self.compute_rows, self.batch) for k, v in args.items()}

    def _assemble(self, computed_hidden: torch.Tensor) -> torch.Tensor:
        """Full batch after the stack: reused streams base + residual, computing ones their output."""
        parts, k = [], 0
        for j, s in enumerate(self.skip):
            if s:
                parts.append(self.chunk(self.base, j) + self.cached(j, self.base))
            else:
                parts.append(computed_hidden[k * self.rows : (k + 1) * self.rows])
                k += 1
        return torch.cat(parts, dim=0)

    # -- the block slots --------------------------------------------------------------------
    def run_block(self, position: int, args: dict, call: Callable[[dict], dict]) -> dict:
        stage = self.run.policy.stage
        last = position == self.n_blocks - 1
        if position == 0:
            x = args["img"]
            self.stack_in = x
            self.base = x
            if stage == "before":
                self.skip = self._decide(x, x=x, vec=args.get("vec"))
                if all(self.skip):
                    return {"img": self._reused(x)}
                if any(self.skip):
                    self._start_partial(x)
                    out = call(self._sliced(args))
                    return self._finish_stack(out) if last else out
            out = call(args)
            if stage == "after_first":
                self.base = out["img"]
                self.skip = self._decide(self.base, x=x, first=self.base)
                if all(self.skip):
                    return {"img": self._reused(self.base)}
                if any(self.skip):
                    self._start_partial(self.base)
                    out = {**out, "img": _take(self.base, self.compute_rows, self.batch)}
            if not last:
                return out
        elif all(self.skip):
            return {"img": args["img"]}
        else:
            out = call(self._sliced(args) if self.compute_rows is not None else args)
        if last:
            out = self._finish_stack(out)
        return out

    def _finish_stack(self, out: dict) -> dict:
        hidden = out["img"]
        if self.compute_rows is not None:  # partial: some streams reused, the rest ran on their own rows
            full = self._assemble(hidden)
            k = 0
            for j, s in enumerate(self.skip):
                if not s:
                    part = hidden[k * self.rows : (k + 1) * self.rows]
                    base = self.chunk(self.base, j)
                    self.run.residuals[self.streams[j]] = (part - base).detach().clone()
                    k += 1
            return {**out, "img": full}
        if self.run.policy.stage == "after_last":
            reused = self._reused(self.base)
            self.skip = self._decide(self.base, x=self.stack_in, true_out=hidden, reused_out=reused)
            if any(self.skip) and not all(self.skip):
                raise RuntimeError("an after_last policy decides for all streams together")
            if all(self.skip):
                # the truth was computed off the books: count this evaluation as if it did no block work
                off_the_books(self.batch * self.stack_in.shape[1] * self.n_blocks)
                return {**out, "img": reused}
        residual = (hidden - self.base).detach()
        for j, stream in enumerate(self.streams):
            self.run.residuals[stream] = self.chunk(residual, j).clone()
        self.run.policy.computed(self, self.stack_in, hidden)
        return out


class BlockSlot:
    """Our entry in one block slot; calls the slot's previous occupant (or the block)."""

    def __init__(self, position: int, inner: Any = None):
        self.position = position
        self.inner = inner

    def __call__(self, args: dict, extra: dict) -> dict:
        def call(block_args: dict) -> dict:
            if self.inner is not None:
                return self.inner(block_args, extra)
            return extra["original_block"](block_args)

        evaluation = _current.get()
        if evaluation is None:
            return call(args)
        return evaluation.run_block(self.position, args, call)


def outer_sample_wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
    """A fresh PeerRun per sampler call; everything dropped on the way out."""
    import comfy.model_patcher

    guider = executor.class_obj
    original = guider.model_options
    holder: PeerHolder | None = original.get("transformer_options", {}).get(HOLDER_KEY)
    if holder is None:
        return executor(*args, **kwargs)
    sampling = guider.model_patcher.get_model_object("model_sampling")
    log = RunLog()
    run = PeerRun(holder.make_policy(), args[3], sampling.percent_to_sigma, log)
    guider.model_options = comfy.model_patcher.create_model_options_clone(original)
    guider.model_options["transformer_options"][RUN_KEY] = run
    try:
        return executor(*args, **kwargs)
    finally:
        run.residuals.clear()
        guider.model_options = original
        _LOGS[holder.log_key] = log


def diffusion_model_wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
    """One model evaluation: the Evaluation the block slots consult."""
    transformer_options = args[-1] if args and isinstance(args[-1], dict) else kwargs.get("transformer_options")
    run: PeerRun | None = transformer_options.get(RUN_KEY) if isinstance(transformer_options, dict) else None
    if run is None:
        return executor(*args, **kwargs)
    sigmas = transformer_options.get("sigmas")
    sigma = float(sigmas.flatten()[0]) if sigmas is not None else 0.0
    model = getattr(executor, "class_obj", None)  # the WanModel actually running this call
    if not hasattr(model, "blocks"):
        return executor(*args, **kwargs)
    timestep = args[1] if len(args) > 1 and torch.is_tensor(args[1]) else kwargs.get("timestep")
    evaluation = Evaluation(run, model, args[0], transformer_options.get("uuids") or [],
                            transformer_options.get("cond_or_uncond"), sigma, timestep)
    if run.policy.stage == "model":
        return _whole_call(run, evaluation, executor, args, kwargs)
    token = _current.set(evaluation)
    try:
        out = executor(*args, **kwargs)
    finally:
        _current.reset(token)
    if evaluation.decided:
        run.policy.observe_output(evaluation, out, run.log)
    return out


def _whole_call(run: PeerRun, evaluation: Evaluation, executor: Any, args: tuple, kwargs: dict) -> Any:
    """Stage "model": the policy's output instead of the model's, or the model run (no block slot acts)."""
    policy = run.policy
    policy.value = None
    out = policy.model_call(evaluation, args[0])
    run.log.decisions.append((evaluation.step.index, [out is not None] * len(evaluation.streams), policy.value))
    if out is not None:
        return out
    out = executor(*args, **kwargs)
    policy.model_output(evaluation, out)
    return out


def apply_peer(model: Any, make_policy: Callable[[], Policy]) -> Any:
    """A clone of `model` whose sampler runs use a fresh `make_policy()` per call."""
    import comfy.patcher_extension as pe

    dm = model.get_model_object("diffusion_model")
    if not hasattr(dm, "blocks"):
        raise TypeError(f"bench peers support Wan models only, got {type(dm).__name__}")
    patched = model.clone()
    options = patched.model_options.setdefault("transformer_options", {})
    options[HOLDER_KEY] = PeerHolder(make_policy, uuid.uuid4().hex)
    for kind, fn in ((pe.WrappersMP.OUTER_SAMPLE, outer_sample_wrapper),
                     (pe.WrappersMP.DIFFUSION_MODEL, diffusion_model_wrapper)):
        patched.remove_wrappers_with_key(kind, WRAPPER_KEY)
        patched.add_wrapper_with_key(kind, WRAPPER_KEY, fn)
    slots = options.get("patches_replace", {}).get("dit", {})
    for i in range(len(dm.blocks)):
        existing = slots.get(("double_block", i))
        if not isinstance(existing, BlockSlot):
            patched.set_model_patch_replace(BlockSlot(i, existing), "dit", "double_block", i)
    return patched


def latest_log(model: Any) -> RunLog | None:
    """The log of the latest sampler call of a peer-patched MODEL."""
    holder = model.model_options.get("transformer_options", {}).get(HOLDER_KEY)
    return _LOGS.get(holder.log_key) if holder is not None else None


def rel_l1(a: torch.Tensor, b: torch.Tensor) -> float:
    """mean|a - b| / mean|b|: the relative L1 change every one of these papers uses."""
    a, b = a.float(), b.float()
    return float((a - b).abs().mean() / b.abs().mean().clamp_min(1e-12))


def same(sigma_a: float, sigma_b: float) -> bool:
    return math.isclose(sigma_a, sigma_b, rel_tol=1e-6, abs_tol=1e-9)
