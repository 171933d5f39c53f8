"""Per-run and per-evaluation state: residual caches, the leader's decisions, probe sums.

A RunState lives exactly as long as one sampler call (created and released by the
OUTER_SAMPLE wrapper); nothing in here is kept on the model object. Evaluations of one run may
run at the same time in several threads (MultiGPU work units): what they share in the RunState
is changed under its lock, and the leader's decisions reach them through `sync.DecisionBoard`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import torch

from .adapters.base import ModelAdapter
from .config import SemCacheConfig
from .controller import TargetPlan, WindowController, skip_rule
from .error import Decision, ScheduleLimits
from .error_check import ErrorCheck, check_estimate, measure_check
from .forecast import mode_order, schedule_position
from .memory import MemoryLedger, ResidualCache, token_sample
from .psa import ProbeAccumulator, SemanticScore, select_probe_layers, skip_threshold
from .stats import EvalRecord, RunStats
from . import sync
from .sync import DecisionBoard, LeaderChoice
from .tmm import FrameStaleness, TMMConfig, frame_token_index, motion_scores, select_reused_frames

Denoiser = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


class RunState:
    """One sampler call: limits from its sigma schedule, caches, decisions and stats."""

    def __init__(
        self,
        psa: SemCacheConfig | None,
        tmm: TMMConfig | None,
        adapter: ModelAdapter,
        sigmas: torch.Tensor,
        percent_to_sigma: Callable[[float], float],
        denoise: Denoiser | None = None,
    ):
        self.psa_active = psa is not None
        self.config = psa or SemCacheConfig()
        self.tmm = tmm if tmm is not None and tmm.active else None
        self.adapter = adapter
        self.denoise = denoise
        config = self.config
        self.block_keys = adapter.block_keys()
        self.probe_layers = select_probe_layers(len(self.block_keys), config.probe_layers)
        self.alpha, self.beta = config.weights(adapter.default_alpha, adapter.default_beta)
        schedule = [float(s) for s in sigmas.flatten().tolist()]
        self.steps = max(len(schedule) - 1, 0)
        self.schedule = schedule[:-1] if len(schedule) > 1 else schedule
        self.limits = ScheduleLimits(
            sigma_start=float(percent_to_sigma(config.start_percent)),
            sigma_end=float(percent_to_sigma(config.end_percent)),
            last_sigma=min(self.schedule) if self.schedule else 0.0,
            max_skip_steps=config.max_skip_steps,
            warmup_evaluations=config.warmup_evaluations,
        )
        self.tmm_sigma_start = float(percent_to_sigma(self.tmm.start_percent)) if self.tmm else 0.0
        self.checks = ErrorCheck(self_calibrated=config.error_model == "self_calibrated")
        self.cache_device = None if config.cache_device == "model_device" else torch.device("cpu")
        self.leader: Hashable | None = None
        self.lock = threading.RLock()
        self.thread = threading.get_ident()  # evaluations on other threads may run concurrently
        self.board = DecisionBoard()
        self.leader_wait = sync.LEADER_WAIT_SECONDS
        self._adapters: dict[int, ModelAdapter] = {id(adapter.model): adapter}
        self._evaluations_at: dict[tuple, int] = {}  # (streams, window, sigma) -> evaluations so far
        self.windows: dict[Hashable, WindowController] = {}
        self.memory = MemoryLedger()  # every tensor this run keeps, by kind; its peak is the report's cache
        self.forecast_order = mode_order(config.reuse_mode)  # 0: plain reuse (forecast.py)
        self.residuals = ResidualCache(self.memory, self.cache_device, self.forecast_order)
        self.score: SemanticScore | None = None
        self.scored_computations = 0
        self.stats = RunStats(family=adapter.variant(), total_steps=self.steps, settings=self._settings())
        self.plan = TargetPlan.for_run(config.target_speedup if self.psa_active else 0.0, self, self.stats)
        self.disabled_reason: str | None = adapter.caching_blocker()
        if self.disabled_reason is None and self.steps < config.min_steps:
            self.disabled_reason = (
                f"schedule has {self.steps} steps, fewer than min_steps={config.min_steps} "
                "(few-step/distilled schedules run uncached)"
            )
        self.stats.disabled_reason = self.disabled_reason
        self.tmm_disabled_reason: str | None = None
        if self.tmm is not None and self.disabled_reason is None:
            blocker = adapter.tmm_blocker()
            if blocker:
                self.disable_tmm(blocker)
        self._started = time.perf_counter()

    def _settings(self) -> dict:
        settings: dict[str, Any] = {}
        if self.psa_active:
            c = self.config
            settings.update(
                threshold_scale=c.threshold_scale, start_percent=c.start_percent, end_percent=c.end_percent,
                max_skip_steps=c.max_skip_steps, probe_layers=len(self.probe_layers), alpha=self.alpha,
                beta=self.beta, tanh_scale=c.tanh_scale, error_model=c.error_model,
                threshold_mode=c.threshold_mode, cache_device=c.cache_device, reuse_mode=c.reuse_mode,
                **({"target_speedup": c.target_speedup} if c.target_speedup else {}),
            )
        else:
            settings["psa"] = "off"
        if self.tmm is not None:
            t = self.tmm
            settings.update(
                reuse_ratio=t.reuse_ratio, max_frame_staleness=t.max_frame_staleness,
                motion_source=t.motion_source, tmm_start_percent=t.start_percent,
            )
        return settings

    def disable_tmm(self, reason: str) -> None:
        if self.tmm_disabled_reason is None:
            self.tmm_disabled_reason = reason
            self.stats.tmm_disabled_reason = reason

    @property
    def tmm_enabled(self) -> bool:
        return self.tmm is not None and self.tmm_disabled_reason is None

    # -- evaluation bookkeeping -------------------------------------------------------------
    def step_index(self, sigma: float) -> int:
        if not self.schedule:
            return 0
        return min(range(len(self.schedule)), key=lambda i: abs(self.schedule[i] - sigma))

    def window(self, key: Hashable) -> WindowController:
        with self.lock:
            if key not in self.windows:
                self.windows[key] = WindowController(
                    self.config, self.plan, lambda *t: self.memory.hold("error_samples", key, *t),
                    self.forecast_order)
            return self.windows[key]

    def adapter_for(self, diffusion_model: Any) -> ModelAdapter:
        """The adapter of the diffusion model actually being run (a MultiGPU clone has its own)."""
        with self.lock:
            adapter = self._adapters.get(id(diffusion_model))
            if adapter is None or adapter.model is not diffusion_model:
                adapter = type(self.adapter)(diffusion_model)
                self._adapters[id(diffusion_model)] = adapter
            return adapter

    def claim_leader(self, stream: Hashable) -> Hashable:
        """The first stream seen in the run leads it; atomic when streams arrive together."""
        with self.lock:
            if self.leader is None:
                self.leader = stream
            return self.leader

    def choice_key(self, streams: tuple, window: Hashable, sigma: float) -> tuple:
        """Where a leader choice is posted: window, sigma and which evaluation at that sigma it is.

        Second-order samplers evaluate some sigmas twice; the n-th follower evaluation at a sigma
        follows the leader's n-th, not whichever the leader happened to post last.
        """
        at = (window, f"{sigma:.7g}")
        with self.lock:
            n = self._evaluations_at.get((streams, *at), 0)
            self._evaluations_at[(streams, *at)] = n + 1
        return (*at, n)

    def warn(self, message: str) -> None:
        with self.lock:
            self.stats.warn(message)

    def position(self, sigma: float) -> float:
        """`sigma`'s place in this call's schedule, in steps (fractional between schedule sigmas)."""
        return schedule_position(self.schedule, sigma)

    def residual(self, stream: Hashable, window: Hashable, like: torch.Tensor,
                 position: float | None = None) -> torch.Tensor | None:
        """What a skip at `position` applies for this stream and window: its latest residual
        (reuse_mode `reuse`) or their forecast there."""
        return self.residuals.get((stream, window), like, position)

    def store_residual(self, stream: Hashable, window: Hashable, residual: torch.Tensor,
                       position: float = 0.0) -> None:
        self.residuals.put((stream, window), residual, position)

    def note_computed_prompt(self, probe: ProbeAccumulator) -> None:
        """A computed evaluation with conditional rows: refresh p_s from the second on (paper §3.2)."""
        with self.lock:
            self.scored_computations += 1
            if self.scored_computations >= 2 and probe.layers:
                self.score = probe.score(self.alpha, self.beta, self.config.tanh_scale)

    def wants_probe(self) -> bool:
        # The first computed step is noise-dominated and never scored: skip its probe cost.
        return self.psa_active and self.scored_computations >= 1

    def finish(self, error: BaseException | None = None) -> RunStats:
        self.stats.wall_seconds = time.perf_counter() - self._started
        self.stats.cache_bytes, self.stats.cache_bytes_by_kind = self.memory.peak, dict(self.memory.peak_by_kind)
        self.stats.finished = error is None
        if error is not None:
            self.stats.error = f"{type(error).__name__}: {error}"
        return self.stats

    def release(self) -> None:
        """Drop every tensor this run holds."""
        with self.lock:
            self.residuals.clear()
            self.windows.clear()
            self._adapters.clear()
            self._evaluations_at.clear()
            self.board.clear()
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
        adapter: ModelAdapter | None = None,
        concurrent: bool = False,
    ):
        self.run = run
        self.adapter = adapter or run.adapter  # bound to the diffusion model running this call
        self.concurrent = concurrent  # other streams of this run may be evaluated at this moment
        self.model_input = x
        self.streams = list(uuids) if uuids else [None]
        self.rows = max(x.shape[0] // len(self.streams), 1)
        self.sigma = sigma
        self.position = run.position(sigma)  # where forecasts are evaluated / residuals are stored
        self.window = window
        leader = run.claim_leader(self.streams[0])
        self.leader_index = self.streams.index(leader) if leader in self.streams else None
        self.choice_key = run.choice_key(tuple(self.streams), window, sigma)
        self.leader_choice: LeaderChoice | None = None
        self.cond_chunks = [j for j, c in enumerate(cond_or_uncond or []) if c == 0]
        self.probe = ProbeAccumulator(run.config.norm_stride, run.config.norm_token_budget, run.cache_device)
        self.skip = False
        self.decision: Decision | None = None
        self.check_estimate = self.check = None  # error check: (raw, used) E_t, then (measured, estimated)
        self.stack_in: torch.Tensor | None = None
        self.blocks_run = 0
        self.tokens = 0
        self.text_tokens = 0
        self.started = time.perf_counter()
        self.last_block = len(run.block_keys) - 1
        # TMM: the frames computed this evaluation and the gathered per-token block inputs
        self.total_frames = 0
        self.reused_frames: list[int] = []
        self.token_index: torch.Tensor | None = None
        self.subset_inputs: dict | None = None

    # -- helpers ------------------------------------------------------------------------------
    def chunk(self, t: torch.Tensor, j: int) -> torch.Tensor:
        return t[j * self.rows : (j + 1) * self.rows]

    def cond_rows(self, t: torch.Tensor) -> torch.Tensor | None:
        if not self.cond_chunks or t.shape[0] != self.rows * len(self.streams):
            return None
        return torch.cat([self.chunk(t, j) for j in self.cond_chunks], dim=0)

    def leader_sample(self, t: torch.Tensor) -> torch.Tensor:
        """Copy of a bounded token sample of the leader's rows, for Eq. 8 norms (in t's dtype)."""
        c = self.run.config
        return token_sample(self.chunk(t, self.leader_index), c.norm_stride, c.norm_token_budget, self.run.cache_device)

    def cached_residuals(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        out = []
        for j, stream in enumerate(self.streams):
            r = self.run.residual(stream, self.window, self.chunk(x, j), self.position)
            if r is None:
                return None
            out.append(r)
        return out

    def cached_residual_batch(self, x: torch.Tensor) -> torch.Tensor | None:
        residuals = self.cached_residuals(x)
        if residuals is None:
            return None
        return torch.cat([r.to(device=x.device, dtype=x.dtype) for r in residuals], dim=0)

    # -- PSA: skip or compute (block 0) -------------------------------------------------------
    def decide(self, x: torch.Tensor) -> Decision:
        run, controller = self.run, self.run.window(self.window)
        if not run.psa_active:
            return Decision(False, "psa_off")
        residuals = self.cached_residuals(x)
        if self.leader_index is None:
            choice = self.leader_choice_now()
            if choice is None:
                if not self.concurrent:
                    return Decision(False, "leader_computed")
                with run.lock:
                    run.stats.leader_wait_timeouts += 1
                return Decision(False, "leader_wait_timeout")
            if choice.skip and residuals is not None:
                return Decision(True, "leader_skipped")
            return Decision(False, "no_cache" if choice.skip else "leader_computed")
        current_in = self.leader_sample(x)
        forced = run.limits.forced_reason(self.sigma, controller.evaluations, controller.consecutive_skips)
        if forced is None and residuals is None:
            forced = "no_cache"
        if forced is None and not controller.errors.ready:
            forced = "no_estimate"
        if forced is None and run.score is None:
            forced = "no_score"
        threshold = None
        if run.score is not None and run.plan is None:  # target_speedup: the controller sets tau
            threshold = skip_threshold(run.score.p_s, run.config.threshold_scale, run.config.threshold_mode)
        if forced is not None:
            return Decision(False, forced, threshold=threshold)
        raw, delta = controller.errors.candidate(current_in)
        error = raw * run.checks.calibration  # exactly raw unless error_model = self_calibrated
        skip, threshold, reason = skip_rule(controller, error, threshold, run, self.sigma)
        if skip:
            controller.errors.accept_skip(raw, current_in)
        return Decision(skip, reason, error, threshold, delta)

    def leader_choice_now(self) -> LeaderChoice | None:
        """A follower's view of the leader's choice at this sigma; waits for it if concurrent."""
        if self.leader_choice is None:
            wait = self.run.leader_wait if self.concurrent else 0.0
            self.leader_choice = self.run.board.lookup(self.choice_key, wait)
        return self.leader_choice

    def post_choice(self) -> None:
        """The leader publishes what it decided the moment it has (skip, and TMM frames)."""
        if self.leader_index is not None:
            self.run.board.post(self.choice_key, LeaderChoice(self.skip, tuple(self.reused_frames)))

    # -- TMM: which frames to compute (block 0 of a computed evaluation) -----------------------
    def choose_reused_frames(self, x: torch.Tensor) -> list[int]:
        run = self.run
        if not run.tmm_enabled:
            return []
        latent = self.adapter.latent_frames(self.model_input)
        frames = latent.shape[2]
        tokens_per_frame = self.adapter.tokens_per_frame(latent)
        if x.shape[1] != frames * tokens_per_frame:
            run.disable_tmm(
                f"{x.shape[1]} block tokens are not {frames} frames x {tokens_per_frame} tokens "
                "(reference, motion or extra tokens present)"
            )
            return []
        self.total_frames = frames
        if self.sigma > run.tmm_sigma_start or frames < 2 or self.cached_residuals(x) is None:
            return []  # every frame needs a residual from a full computation first
        if self.sigma <= run.limits.last_sigma * (1 + 1e-6):
            return []  # the last step leaves no later step to correct a stale frame: compute all
        controller = run.window(self.window)
        if self.leader_index is None:
            choice = self.leader_choice_now()
            return list(choice.reused_frames) if choice is not None and not choice.skip else []
        if controller.staleness is None or len(controller.staleness.counts) != frames:
            controller.staleness = FrameStaleness(frames)
        source = self.chunk(latent, self.leader_index)
        if run.tmm.motion_source == "predicted_clean":
            source = controller.predicted_clean
            if source is None or source.shape[2] != frames:
                return []
        scores = motion_scores(source)
        return select_reused_frames(scores, run.tmm.reuse_ratio, controller.staleness.counts,
                                    run.tmm.max_frame_staleness)

    def start_partial(self, args: dict, x: torch.Tensor, reused: list[int]) -> dict:
        computed = [f for f in range(self.total_frames) if f not in set(reused)]
        tokens_per_frame = x.shape[1] // self.total_frames
        index = frame_token_index(computed, tokens_per_frame, x.device)
        try:
            sub = self.adapter.gather_frames(args, index, computed, self.total_frames)
        except ValueError as exc:
            self.run.disable_tmm(str(exc))
            return args
        self.reused_frames = reused
        self.token_index = index
        # only what the adapter restricted (RoPE rows, masks, per-frame modulation) is reused by the
        # later blocks; streams that flow from block to block (HunyuanVideo's txt) must not be.
        self.subset_inputs = {k: v for k, v in sub.items() if k != "img" and v is not args.get(k)}
        return sub

    # -- block slot entry -------------------------------------------------------------------
    @property
    def image_token_count(self) -> int:
        """Image tokens the blocks currently carry (fewer on a TMM-pruned evaluation)."""
        return len(self.token_index) if self.token_index is not None else self.tokens

    def enter_block(self, position: int, block_type: str, args: dict) -> tuple[dict | None, dict]:
        """Before a block: `(output, args)` where a non-None output means "do not run the block".

        Split from `leave_block` so the block itself runs between the two, in the caller's frame
        (under torch.compile that is a traced, compiled region; these two halves are not).
        """
        adapter = self.adapter
        if position == 0:
            x = adapter.stack_input(args)
            self.tokens = x.shape[1] if x.ndim >= 2 else 0
            self.text_tokens = adapter.text_tokens(args)
            self.decision = self.decide(x)
            self.skip = self.decision.skip
            self.check_estimate = None if self.skip else check_estimate(self, x)
            if self.skip:
                self.post_choice()
                hidden = x + self.cached_residual_batch(x)
                return adapter.with_image_tokens(adapter.passthrough(args, block_type), block_type, hidden,
                                                 self.tokens, self.text_tokens), args
            self.stack_in = x.clone() if adapter.blocks_mutate_input else x
            reused = self.choose_reused_frames(x)
            if reused:
                args = self.start_partial(args, x, reused)
            self.post_choice()
        elif self.skip:
            return adapter.passthrough(args, block_type), args
        elif self.subset_inputs is not None:
            args = {**args, **self.subset_inputs}
        return None, args

    def leave_block(self, position: int, block_type: str, out: dict) -> dict:
        """After a block ran: count it; after the last one, store residuals and Eq. 8 records."""
        self.blocks_run += 1
        if position == self.last_block and self.stack_in is not None:
            out = self.finish_stack(out, block_type)
        return out

    def finish_stack(self, out: dict, block_type: str) -> dict:
        """Scatter a pruned stack back to full size; update residuals and Eq. 8 records."""
        adapter, stack_in = self.adapter, self.stack_in
        n_img, n_txt = self.image_token_count, self.text_tokens
        hidden = adapter.image_tokens(out, block_type, n_img, n_txt)
        if self.token_index is not None:
            residual = self.cached_residual_batch(stack_in)  # a fresh tensor (torch.cat)
            residual[:, self.token_index] = hidden - stack_in[:, self.token_index]
            hidden = stack_in + residual  # reused frames: x_before_first_block + R_frame
            out = adapter.with_image_tokens(out, block_type, hidden, n_img, n_txt)
        else:
            residual = hidden - stack_in
        self.check = measure_check(self, residual)  # error check, on a computed step after reuse
        for j, stream in enumerate(self.streams):
            self.run.store_residual(stream, self.window, self.chunk(residual, j), self.position)
        if self.leader_index is not None:
            self.run.window(self.window).errors.record_computed(
                self.leader_sample(stack_in), self.leader_sample(hidden), self.position
            )
        return out

    def add_probe(self, z_in: torch.Tensor, z_out: torch.Tensor, joint: bool = False) -> None:
        if joint:
            part = self.adapter.image_part
            z_in = part(z_in, self.image_token_count, self.text_tokens)
            z_out = part(z_out, self.image_token_count, self.text_tokens)
        zi, zo = self.cond_rows(z_in), self.cond_rows(z_out)
        if zi is not None and zo is not None:
            self.probe.add(zi, zo)
            self.run.memory.hold("probe", id(self), self.probe.sum_in, self.probe.sum_out)

    # -- end of the evaluation ----------------------------------------------------------------
    def finish(self, output: torch.Tensor | None = None) -> None:
        run = self.run
        run.memory.drop("probe", id(self))  # the probe sums go with this evaluation
        if self.decision is None:
            return  # our first block never ran (foreign slot): nothing was decided or cached
        n_blocks = len(run.block_keys)
        rows = self.rows * len(self.streams)
        computed_tokens = len(self.token_index) if self.token_index is not None else self.tokens
        with run.lock:  # concurrent streams finish at the same time
            run.stats.evaluations += 1
            run.stats.token_blocks_total += rows * self.tokens * n_blocks
            run.stats.token_blocks_done += rows * computed_tokens * self.blocks_run
            if self.skip:
                run.stats.token_blocks_saved_psa += rows * self.tokens * n_blocks
            else:
                run.stats.token_blocks_saved_tmm += rows * (self.tokens - computed_tokens) * self.blocks_run
        if not self.skip and self.cond_chunks:
            run.note_computed_prompt(self.probe)
        if self.leader_index is None:
            return
        controller = run.window(self.window)
        controller.note_work(self, computed_tokens)
        controller.evaluations += 1
        controller.consecutive_skips = controller.consecutive_skips + 1 if self.skip else 0
        if not self.skip and run.tmm_enabled:
            if controller.staleness is not None:
                controller.staleness.update(self.reused_frames)
            if output is not None and run.tmm.motion_source == "predicted_clean" and run.denoise is not None:
                latent = self.adapter.latent_frames(self.model_input)
                rows = slice(self.leader_index * self.rows, (self.leader_index + 1) * self.rows)
                out_latent = output[rows, : latent.shape[1]]
                controller.predicted_clean = run.denoise(latent[rows], out_latent, self.sigma).to(run.cache_device)
                run.memory.hold("tmm", self.window, controller.predicted_clean)
        self.record(controller)

    def record(self, controller: WindowController) -> None:
        run, score, errors = self.run, self.run.score, controller.errors
        if self.skip:
            decision = "skipped"
        else:
            decision = "partial" if self.reused_frames else "computed"
        frames = self.total_frames or None
        run.stats.records.append(
            EvalRecord(
                sigma=self.sigma,
                step=run.step_index(self.sigma),
                decision=decision,
                reason=self.decision.reason,
                error=self.decision.error,
                threshold=self.decision.threshold,
                p_s=score.p_s if score else None,
                m_norm=score.m_norm if score else None,
                d_norm=score.d_norm if score else None,
                rho=errors.rho,
                k=errors.k,
                seconds=time.perf_counter() - self.started,
                frames_total=frames,
                frames_reused=list(self.reused_frames) if frames else None,
                check_measured=(self.check or (None, None))[0], check_estimated=(self.check or (None, None))[1],
            )
        )
