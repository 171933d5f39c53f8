"""The one hook engine every peer policy runs on: ComfyUI's public extension points only.

A peer is a *decision rule* over block-stack residual reuse (TeaCache, MagCache, First Block
Cache, the oracle). The mechanics they share live here, built like the pack (DESIGN §3):
- an OUTER_SAMPLE wrapper makes a fresh PeerRun (policy state, cached residuals) per sampler
  call and drops it in `finally`;
- a DIFFUSION_MODEL wrapper opens one evaluation per model call (streams from `uuids`, the
  current sigma) and shows the policy the model output (calibration);
- a slot in every `patches_replace["dit"][("double_block", i)]` (wrapping a previous occupant)
  asks the policy at its decision point and, on reuse, returns `base + cached residual` and
  turns the remaining blocks into identity.

Decision points (`Policy.stage`): "before" block 0 (TeaCache, MagCache), "after_first" block
(First Block Cache: block 0 always runs; the residual of blocks 1..N-1 is reused), "after_last"
block (the oracle: the whole stack ran, the policy compares truth with reuse and may replace the
output by the reused one; that evaluation's block work is then taken off the books).
One decision per sampler step, by the evaluation holding the leader stream (the first uuid seen in
the run) over all its rows; evaluations of other streams at the same sigma follow it. Residuals
are kept per stream.
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
    """What one sampler call decided: (step index, reused?, the rule's value) per leader evaluation."""

    decisions: list[tuple[int, bool, float | None]] = field(default_factory=list)
    observations: list[dict] = field(default_factory=list)  # free-form records (calibration)

    @property
    def pattern(self) -> str:
        return "".join("." if skip else "C" for _, skip, _ in self.decisions)


class Policy:
    """Per-run decision state of one peer (a fresh instance per sampler call).

    Each `decide_*` gets `can_reuse` (a cached residual of the right shape exists for every
    stream) and returns True to reuse; it must keep its own state consistent when it returns
    False or when `can_reuse` is False. `value` is what the rule compared, for the log.
    """

    stage = "before"
    value: float | None = None

    def start(self, sigmas: list[float], percent_to_sigma: Callable[[float], float]) -> None:
        """The sampler call's schedule (sigmas without the final 0) and the model's percent map."""

    def decide_before(self, step: Step, can_reuse: bool, x: torch.Tensor, args: dict, model: Any) -> bool:
        return False

    def decide_after_first(self, step: Step, can_reuse: bool, x: torch.Tensor, first: torch.Tensor) -> bool:
        return False

    def decide_after_last(self, step: Step, can_reuse: bool, x: torch.Tensor, true_out: torch.Tensor,
                          reused_out: torch.Tensor | None) -> bool:
        return False

    def computed(self, step: Step, x: torch.Tensor, out: torch.Tensor) -> None:
        """A computed step's block-stack input and output (leader rows)."""

    def observe_output(self, step: Step, output: torch.Tensor, log: RunLog) -> None:
        """The model output of a leader evaluation (leader rows)."""


@dataclass(frozen=True)
class PeerHolder:
    """What a patched MODEL carries: how to make a run's policy, and where its log goes."""

    make_policy: Callable[[], Policy]
    log_key: str


class PeerRun:
    """One sampler call: the policy, the schedule, residuals per stream, the last decision."""

    def __init__(self, policy: Policy, sigmas: torch.Tensor, percent_to_sigma: Callable[[float], float], log: RunLog):
        schedule = [float(s) for s in sigmas.flatten().tolist()]
        self.schedule = schedule[:-1] if len(schedule) > 1 else schedule
        self.policy = policy
        self.log = log
        self.leader: Hashable | None = None
        self.residuals: dict[Hashable, torch.Tensor] = {}
        self.last_decision: tuple[float, bool] | None = None
        policy.start(self.schedule, percent_to_sigma)

    def step(self, sigma: float) -> Step:
        index = min(range(len(self.schedule)), key=lambda i: abs(self.schedule[i] - sigma)) if self.schedule else 0
        return Step(index, len(self.schedule), sigma)


class Evaluation:
    """One DIFFUSION_MODEL call: streams, the decision, the block-stack input."""

    def __init__(self, run: PeerRun, model: Any, x: torch.Tensor, uuids: list, sigma: float):
        self.run = run
        self.model = model
        self.streams = list(uuids) if uuids else [None]
        self.batch = x.shape[0]
        self.rows = max(x.shape[0] // len(self.streams), 1)
        if run.leader is None:
            run.leader = self.streams[0]
        self.leader = self.streams.index(run.leader) if run.leader in self.streams else None
        self.step = run.step(sigma)
        self.n_blocks = len(model.blocks)
        self.skip = False
        self.decided = False
        self.stack_in: torch.Tensor | None = None
        self.base: torch.Tensor | None = None  # what the cached residual is added to

    def lead(self, t: torch.Tensor) -> torch.Tensor:
        """The rows a rule looks at: every row of the leader's evaluation. Batched CFG (ComfyUI's
        usual layout) gives one decision over cond and uncond together, as FBCache and TeaCache's
        single-state models do; split calls give the leader stream's rows."""
        return t

    def cached(self, like: torch.Tensor) -> torch.Tensor | None:
        parts = []
        for j, stream in enumerate(self.streams):
            r = self.run.residuals.get(stream)
            if r is None or r.shape != like[j * self.rows : (j + 1) * self.rows].shape:
                return None
            parts.append(r)
        return torch.cat(parts, dim=0).to(device=like.device, dtype=like.dtype)

    def _follow(self) -> bool:
        last = self.run.last_decision
        return last is not None and last[1] and math.isclose(last[0], self.step.sigma, rel_tol=1e-6, abs_tol=1e-9)

    def _decide(self, stage: str, residual: torch.Tensor | None, *signals: Any) -> bool:
        can_reuse = residual is not None
        if self.leader is None:
            skip = can_reuse and self._follow()
        else:
            policy = self.run.policy
            if stage == "before":
                skip = policy.decide_before(self.step, can_reuse, *signals)
            elif stage == "after_first":
                skip = policy.decide_after_first(self.step, can_reuse, *signals)
            else:
                skip = policy.decide_after_last(self.step, can_reuse, *signals)
            skip = bool(skip) and can_reuse
            self.run.last_decision = (self.step.sigma, skip)
            self.run.log.decisions.append((self.step.index, skip, policy.value))
        self.decided = True
        return skip

    def run_block(self, position: int, args: dict, call: Callable[[dict], dict]) -> dict:
        stage = self.run.policy.stage
        last = position == self.n_blocks - 1
        if position == 0:
            x = args["img"]
            self.stack_in = x
            self.base = x
            if stage == "before":
                residual = self.cached(x)
                self.skip = self._decide(stage, residual, self.lead(x), args, self.model)
                if self.skip:
                    return {"img": x + residual}
            out = call(args)
            if stage == "after_first":
                self.base = out["img"]
                residual = self.cached(self.base)
                signals = (self.lead(x), self.lead(self.base)) if self.leader is not None else (x, self.base)
                self.skip = self._decide(stage, residual, *signals)
                if self.skip:
                    return {"img": self.base + residual}
            if not last:
                return out
        elif self.skip:
            return {"img": args["img"]}
        else:
            out = call(args)
        if last:
            out = self._finish_stack(out)
        return out

    def _finish_stack(self, out: dict) -> dict:
        hidden = out["img"]
        if self.run.policy.stage == "after_last":
            residual = self.cached(self.base)
            reused = self.base + residual if residual is not None else None
            if self.leader is not None:
                signals = (self.lead(self.stack_in), self.lead(hidden), self.lead(reused) if reused is not None else None)
            else:
                signals = (self.stack_in, hidden, reused)
            self.skip = self._decide("after_last", residual, *signals)
            if self.skip:
                # the truth was computed off the books: count this evaluation as if it did no block work
                off_the_books(self.batch * self.stack_in.shape[1] * self.n_blocks)
                return {**out, "img": reused}
        residual = (hidden - self.base).detach()
        for j, stream in enumerate(self.streams):
            self.run.residuals[stream] = residual[j * self.rows : (j + 1) * self.rows].clone()
        if self.leader is not None:
            self.run.policy.computed(self.step, self.lead(self.stack_in), self.lead(hidden))
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
    evaluation = Evaluation(run, model, args[0], transformer_options.get("uuids") or [], sigma)
    token = _current.set(evaluation)
    try:
        out = executor(*args, **kwargs)
    finally:
        _current.reset(token)
    if evaluation.decided and evaluation.leader is not None:
        run.policy.observe_output(evaluation.step, evaluation.lead(out), run.log)
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
