"""Per-run and per-evaluation state: residual caches, the leader's decision, probe sums.

A RunState lives exactly as long as one sampler call (created and released by the
OUTER_SAMPLE wrapper); nothing in here is kept on the model object.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Any

import torch

from .adapters.base import ModelAdapter
from .config import SemCacheConfig
from .error import Decision, ErrorAccumulator, ScheduleLimits
from .psa import ProbeAccumulator, SemanticScore, select_probe_layers, skip_threshold
from .stats import EvalRecord, RunStats

BlockCall = Callable[[dict], dict]


def _same_sigma(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


class WindowController:
    """Skip policy state of the leader stream in one context window."""

    def __init__(self, config: SemCacheConfig):
        self.errors = ErrorAccumulator(config.error_model)
        self.evaluations = 0
        self.consecutive_skips = 0
        self.last_decision: tuple[float, bool] | None = None


class RunState:
    """One sampler call: limits from its sigma schedule, caches, decisions and stats."""

    def __init__(
        self,
        config: SemCacheConfig,
        adapter: ModelAdapter,
        diffusion_model: Any,
        sigmas: torch.Tensor,
        sigma_start: float,
        sigma_end: float,
    ):
        self.config = config
        self.adapter = adapter
        self.block_keys = adapter.block_keys(diffusion_model)
        self.probe_layers = select_probe_layers(len(self.block_keys), config.probe_layers)
        self.alpha, self.beta = config.weights(adapter.default_alpha, adapter.default_beta)
        schedule = [float(s) for s in sigmas.flatten().tolist()]
        self.steps = max(len(schedule) - 1, 0)
        evaluated = schedule[:-1] if len(schedule) > 1 else schedule
        self.schedule = evaluated
        self.limits = ScheduleLimits(
            sigma_start=sigma_start,
            sigma_end=sigma_end,
            last_sigma=min(evaluated) if evaluated else 0.0,
            max_skip_steps=config.max_skip_steps,
            warmup_evaluations=config.warmup_evaluations,
        )
        self.cache_device = None if config.cache_device == "model_device" else torch.device("cpu")
        self.leader: Hashable | None = None
        self.windows: dict[Hashable, WindowController] = {}
        self.residuals: dict[tuple[Hashable, Hashable], torch.Tensor] = {}
        self.score: SemanticScore | None = None
        self.scored_computations = 0
        self.stats = RunStats(
            family=adapter.variant(diffusion_model),
            total_steps=self.steps,
            settings={
                "threshold_scale": config.threshold_scale,
                "start_percent": config.start_percent,
                "end_percent": config.end_percent,
                "max_skip_steps": config.max_skip_steps,
                "probe_layers": len(self.probe_layers),
                "alpha": self.alpha,
                "beta": self.beta,
                "tanh_scale": config.tanh_scale,
                "error_model": config.error_model,
                "threshold_mode": config.threshold_mode,
                "cache_device": config.cache_device,
            },
        )
        self.disabled_reason: str | None = adapter.caching_blocker(diffusion_model)
        if self.disabled_reason is None and self.steps < config.min_steps:
            self.disabled_reason = (
                f"schedule has {self.steps} steps, fewer than min_steps={config.min_steps} "
                "(few-step/distilled schedules run uncached)"
            )
        self.stats.disabled_reason = self.disabled_reason
        self._started = time.perf_counter()

    # -- evaluation bookkeeping -------------------------------------------------------------
    def step_index(self, sigma: float) -> int:
        if not self.schedule:
            return 0
        return min(range(len(self.schedule)), key=lambda i: abs(self.schedule[i] - sigma))

    def window(self, key: Hashable) -> WindowController:
        if key not in self.windows:
            self.windows[key] = WindowController(self.config)
        return self.windows[key]

    def residual(self, stream: Hashable, window: Hashable, like: torch.Tensor) -> torch.Tensor | None:
        cached = self.residuals.get((stream, window))
        if cached is None or cached.shape != like.shape:
            return None
        return cached

    def store_residual(self, stream: Hashable, window: Hashable, residual: torch.Tensor) -> None:
        target = self.cache_device or residual.device
        self.residuals[(stream, window)] = residual.detach().to(target, copy=True)

    def note_computed_prompt(self, probe: ProbeAccumulator) -> None:
        """A computed evaluation with conditional rows: refresh p_s from the second on (paper §3.2)."""
        self.scored_computations += 1
        if self.scored_computations >= 2 and probe.layers:
            self.score = probe.score(self.alpha, self.beta, self.config.tanh_scale)

    def wants_probe(self) -> bool:
        # The first computed step is noise-dominated and never scored: skip its probe cost.
        return self.scored_computations >= 1

    def finish(self, error: BaseException | None = None) -> RunStats:
        self.stats.wall_seconds = time.perf_counter() - self._started
        self.stats.cache_bytes = sum(t.numel() * t.element_size() for t in self.residuals.values())
        self.stats.finished = error is None
        if error is not None:
            self.stats.error = f"{type(error).__name__}: {error}"
        return self.stats

    def release(self) -> None:
        """Drop every tensor this run holds."""
        self.residuals.clear()
        self.windows.clear()
        self.score = None


class Evaluation:
    """One DIFFUSION_MODEL call: the streams in it, the decision, and the block-stack I/O."""

    def __init__(
        self,
        run: RunState,
        x: torch.Tensor,
        uuids: list[Hashable],
        cond_or_uncond: list[int],
        sigma: float,
        window: Hashable,
    ):
        self.run = run
        self.streams = list(uuids) if uuids else [None]
        self.rows = max(x.shape[0] // len(self.streams), 1)
        self.sigma = sigma
        self.window = window
        if run.leader is None:
            run.leader = self.streams[0]
        self.leader_index = self.streams.index(run.leader) if run.leader in self.streams else None
        self.cond_chunks = [j for j, c in enumerate(cond_or_uncond or []) if c == 0]
        self.probe = ProbeAccumulator(run.config.norm_stride)
        self.skip = False
        self.decision: Decision | None = None
        self.stack_in: torch.Tensor | None = None
        self.blocks_run = 0
        self.tokens = 0
        self.started = time.perf_counter()
        self.last_block = len(run.block_keys) - 1

    # -- helpers ------------------------------------------------------------------------------
    def chunk(self, t: torch.Tensor, j: int) -> torch.Tensor:
        return t[j * self.rows : (j + 1) * self.rows]

    def cond_rows(self, t: torch.Tensor) -> torch.Tensor | None:
        if not self.cond_chunks or t.shape[0] != self.rows * len(self.streams):
            return None
        return torch.cat([self.chunk(t, j) for j in self.cond_chunks], dim=0)

    def leader_sample(self, t: torch.Tensor) -> torch.Tensor:
        """Token-subsampled copy of the leader's rows, for Eq. 8 norms."""
        return self.chunk(t, self.leader_index)[:, :: self.run.config.norm_stride].detach().float().clone()

    def cached_residuals(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        out = []
        for j, stream in enumerate(self.streams):
            r = self.run.residual(stream, self.window, self.chunk(x, j))
            if r is None:
                return None
            out.append(r)
        return out

    # -- the decision (block 0) ---------------------------------------------------------------
    def decide(self, x: torch.Tensor) -> Decision:
        run, controller = self.run, self.run.window(self.window)
        residuals = self.cached_residuals(x)
        if self.leader_index is None:
            last = controller.last_decision
            follows = last is not None and last[1] and _same_sigma(last[0], self.sigma)
            if follows and residuals is not None:
                return Decision(True, "leader_skipped")
            return Decision(False, "leader_computed" if not follows else "no_cache")
        current_in = self.leader_sample(x)
        forced = run.limits.forced_reason(self.sigma, controller.evaluations, controller.consecutive_skips)
        if forced is None and residuals is None:
            forced = "no_cache"
        if forced is None and not controller.errors.ready:
            forced = "no_estimate"
        if forced is None and run.score is None:
            forced = "no_score"
        threshold = None
        if run.score is not None:
            threshold = skip_threshold(run.score.p_s, run.config.threshold_scale, run.config.threshold_mode)
        if forced is not None:
            return Decision(False, forced, threshold=threshold)
        error, delta = controller.errors.candidate(current_in)
        if error < threshold:
            controller.errors.accept_skip(error, current_in)
            return Decision(True, "error_below_threshold", error, threshold, delta)
        return Decision(False, "error_above_threshold", error, threshold, delta)

    # -- block slot entry -------------------------------------------------------------------
    def run_block(self, index: int, args: dict, call: BlockCall) -> dict:
        adapter = self.run.adapter
        if index == 0:
            x = adapter.stack_input(args)
            self.tokens = x.shape[1] if x.ndim >= 2 else 0
            self.decision = self.decide(x)
            self.skip = self.decision.skip
            if self.skip:
                residuals = self.cached_residuals(x)
                cached = torch.cat([r.to(device=x.device, dtype=x.dtype) for r in residuals], dim=0)
                return adapter.skipped_output(args, x + cached)
            self.stack_in = x.clone() if adapter.blocks_mutate_input else x
        if self.skip:
            return adapter.passthrough(args)
        out = call(args)
        self.blocks_run += 1
        if index == self.last_block and self.stack_in is not None:
            stack_out = adapter.stack_output(out)
            residual = stack_out - self.stack_in
            for j, stream in enumerate(self.streams):
                self.run.store_residual(stream, self.window, self.chunk(residual, j))
            if self.leader_index is not None:
                self.run.window(self.window).errors.record_computed(
                    self.leader_sample(self.stack_in), self.leader_sample(stack_out)
                )
        return out

    def add_probe(self, z_in: torch.Tensor, z_out: torch.Tensor) -> None:
        zi, zo = self.cond_rows(z_in), self.cond_rows(z_out)
        if zi is not None and zo is not None:
            self.probe.add(zi, zo)

    # -- end of the evaluation ----------------------------------------------------------------
    def finish(self) -> None:
        run = self.run
        if self.decision is None:
            return  # our first block never ran (foreign slot): nothing was decided or cached
        n_blocks = len(run.block_keys)
        work = self.rows * len(self.streams) * self.tokens
        run.stats.evaluations += 1
        run.stats.token_blocks_done += work * self.blocks_run
        run.stats.token_blocks_total += work * n_blocks
        if not self.skip and self.cond_chunks:
            run.note_computed_prompt(self.probe)
        if self.leader_index is None:
            return
        controller = run.window(self.window)
        controller.evaluations += 1
        controller.consecutive_skips = controller.consecutive_skips + 1 if self.skip else 0
        controller.last_decision = (self.sigma, self.skip)
        errors = controller.errors
        score = run.score
        run.stats.records.append(
            EvalRecord(
                sigma=self.sigma,
                step=run.step_index(self.sigma),
                decision="skipped" if self.skip else "computed",
                reason=self.decision.reason,
                error=self.decision.error,
                threshold=self.decision.threshold,
                p_s=score.p_s if score else None,
                m_norm=score.m_norm if score else None,
                d_norm=score.d_norm if score else None,
                rho=errors.rho,
                k=errors.k,
                seconds=time.perf_counter() - self.started,
            )
        )
