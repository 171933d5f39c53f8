"""Error check: the estimate E_t against the truth, measured for free on the run itself.

Why: every default comes from a small proxy model, and on a user's model E_t may be off by a
factor nothing else can see. But a computed step that follows reused steps has the fresh
residual R_fresh and the residual R_reused that reuse would have applied at that step; their
difference is the true error reuse would have made there. So on every such step (the leader's
rows, the same token subsample and the same L1 norm as E_t) we measure

    measured = ||R_fresh - R_reused||_1 / ||R_fresh||_1

and set it beside the estimate E_t the accumulator gives for that step (the error had it been
skipped too). With TMM, only the frames this step computed are compared.

`error_model = self_calibrated` scales the estimate by the median measured / estimated ratio of
the run so far (1 until the first check): the same accumulator, calibrated online.

With a forecasting reuse_mode, "what reuse would have applied" is the forecast at this step
(forecast.py), and E_t carries the forecast gain (error.ErrorAccumulator): both sides of the check
are about what a skip actually applies.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .error import EPS, ErrorAccumulator, l1
from .memory import token_sample


def relative_error(fresh: torch.Tensor, reused: torch.Tensor) -> float:
    """||fresh - reused||_1 / ||fresh||_1 (mean absolute values: the element count cancels)."""
    fresh, reused = fresh.float(), reused.to(device=fresh.device, dtype=torch.float32)
    diff, norm = torch.stack([l1(fresh - reused), l1(fresh)]).tolist()
    return diff / (norm + EPS)


def estimate_if_skipped(errors: ErrorAccumulator, current_in: torch.Tensor) -> float | None:
    """E_t for this step had it been skipped (no state change), or None without an estimate."""
    if not errors.ready:
        return None
    return errors.candidate(current_in)[0]


def check_estimate(evaluation: Any, x: torch.Tensor) -> tuple[float, float] | None:
    """(raw, used) E_t of a leader evaluation that computes right after reuse (kept for its check:
    the estimate had this step been skipped too); None for every other evaluation."""
    if evaluation.leader_index is None or not evaluation.run.psa_active:
        return None
    controller = evaluation.run.window(evaluation.window)
    if controller.consecutive_skips == 0:
        return None
    raw = estimate_if_skipped(controller.errors, evaluation.leader_sample(x))
    return None if raw is None else (raw, raw * evaluation.run.checks.calibration)


def measure_check(evaluation: Any, residual: torch.Tensor) -> tuple[float, float] | None:
    """(measured, estimated) for a computed Evaluation after reuse: the fresh residual of its
    leader rows against the one reuse would have applied, before the cache is overwritten."""
    run, j = evaluation.run, evaluation.leader_index
    if evaluation.check_estimate is None or j is None:
        return None
    fresh = evaluation.chunk(residual, j)
    reused = run.residual(evaluation.streams[j], evaluation.window, fresh, evaluation.position)  # what a skip applied
    if reused is None:
        return None
    index = evaluation.token_index
    if index is not None:  # TMM: only the frames this step computed
        fresh, reused = fresh[:, index], reused[:, index.to(reused.device)]
    stride, budget = run.config.norm_stride, run.config.norm_token_budget  # E_t's own token sample
    measured = relative_error(token_sample(fresh, stride, budget), token_sample(reused, stride, budget))
    raw, estimated = evaluation.check_estimate
    run.checks.add(run.step_index(evaluation.sigma), measured, estimated, raw)
    return measured, estimated


@dataclass(frozen=True)
class CheckSample:
    step: int
    measured: float
    estimated: float  # the estimate the decision used (self_calibrated: already scaled)
    raw: float  # the accumulator's own estimate


class ErrorCheck:
    """The checks of one sampler call, and the self-calibration factor they give."""

    def __init__(self, self_calibrated: bool = False):
        self.self_calibrated = self_calibrated
        self.samples: list[CheckSample] = []
        self._lock = threading.Lock()

    @property
    def calibration(self) -> float:
        """Factor on E_t: median measured / raw estimate so far (self_calibrated), else exactly 1."""
        if not self.self_calibrated:
            return 1.0
        with self._lock:
            ratios = [s.measured / s.raw for s in self.samples if s.raw > EPS]
        return statistics.median(ratios) if ratios else 1.0

    def add(self, step: int, measured: float, estimated: float, raw: float) -> CheckSample:
        sample = CheckSample(step, measured, estimated, raw)
        with self._lock:
            self.samples.append(sample)
        return sample


def ratio(measured: float | None, estimated: float | None) -> float | None:
    """measured / estimated, None where either is missing or the estimate is ~0."""
    if measured is None or estimated is None or estimated <= EPS or not math.isfinite(estimated):
        return None
    return measured / estimated


def summary_line(pairs: Sequence[tuple[float | None, float | None]]) -> str:
    """The report's `error check:` line from (measured, estimated) per checked step."""
    ratios = [r for r in (ratio(m, e) for m, e in pairs) if r is not None]
    if not ratios:
        return "error check: no computed step followed a reused one (nothing to check)"
    return (
        f"error check: measured / estimated median {statistics.median(ratios):.2f}, "
        f"range {min(ratios):.2f}-{max(ratios):.2f} over {len(ratios)} checked step"
        f"{'s' if len(ratios) != 1 else ''}"
    )
