"""Per-evaluation records and the run summary the user sees (DESIGN §5)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import error_check
from .controller import target_line


def _finite(value: float | None) -> float | None:
    """JSON has no inf/nan: send None instead."""
    return value if value is not None and math.isfinite(value) else None


@dataclass
class EvalRecord:
    """One leader evaluation (one denoising step for the leader stream)."""

    sigma: float
    step: int
    decision: str  # "computed" | "partial" (TMM reused some frames) | "skipped"
    reason: str
    error: float | None = None
    threshold: float | None = None
    p_s: float | None = None
    m_norm: float | None = None
    d_norm: float | None = None
    rho: float | None = None
    k: float | None = None
    seconds: float = 0.0
    frames_total: int | None = None
    frames_reused: list[int] | None = None
    check_measured: float | None = None  # error check (error_check.py): true error of the reused residual
    check_estimated: float | None = None  # ... and the estimate E_t for the same step

    @property
    def ran_blocks(self) -> bool:
        return self.decision != "skipped"

    def frame_map(self) -> str:
        """One character per latent frame: # computed, . reused, - skipped step."""
        if not self.frames_total:
            return ""
        if self.decision == "skipped":
            return "-" * self.frames_total
        reused = set(self.frames_reused or ())
        return "".join("." if f in reused else "#" for f in range(self.frames_total))


@dataclass
class RunStats:
    """Everything one sampler call recorded; kept after the run for the Cache Stats node."""

    family: str
    total_steps: int
    settings: dict = field(default_factory=dict)
    records: list[EvalRecord] = field(default_factory=list)
    token_blocks_done: int = 0
    token_blocks_total: int = 0
    token_blocks_saved_psa: int = 0
    token_blocks_saved_tmm: int = 0
    evaluations: int = 0
    wall_seconds: float = 0.0
    cache_bytes: int = 0  # peak of every tensor the run held (memory.MemoryLedger)
    cache_bytes_by_kind: dict = field(default_factory=dict)  # that peak split by kind
    disabled_reason: str | None = None
    tmm_disabled_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    leader_wait_timeouts: int = 0  # concurrent follower evaluations that computed without the leader's decision
    finished: bool = False
    error: str | None = None
    target_speedup: float = 0.0  # target_speedup mode (controller.py); 0 = off
    target_reachable: float | None = None  # the most the limits allow on this schedule
    reused: str = ""  # what a skipped step reuses (the variant's block stack and between-block work)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    @property
    def computed(self) -> int:
        """Steps that ran the blocks (fully or, with TMM, on some frames)."""
        return sum(r.ran_blocks for r in self.records)

    @property
    def partial(self) -> int:
        return sum(r.decision == "partial" for r in self.records)

    @property
    def skipped(self) -> int:
        return sum(r.decision == "skipped" for r in self.records)

    @property
    def estimated_speedup(self) -> float:
        """Block work without caching over block work done."""
        if not self.token_blocks_done:
            return 1.0
        return self.token_blocks_total / self.token_blocks_done

    @property
    def measured_speedup(self) -> float | None:
        """From per-evaluation wall times: (all steps at the mean computed cost) / actual time."""
        computed = [r.seconds for r in self.records if r.decision == "computed"]
        actual = sum(r.seconds for r in self.records)
        if not computed or actual <= 0:
            return None
        return (sum(computed) / len(computed)) * len(self.records) / actual

    def final_warnings(self) -> list[str]:
        warnings = list(self.warnings)
        if self.tmm_disabled_reason:
            warnings.append(f"TMM off: {self.tmm_disabled_reason}")
        if self.leader_wait_timeouts:
            warnings.append(
                f"{self.leader_wait_timeouts} concurrent evaluations did not get the leader's decision in time "
                "and computed"
            )
        steps = len(self.records)
        if self.target_speedup and self.disabled_reason is None and steps:
            if self.target_reachable is not None and self.target_speedup > self.target_reachable * (1 + 1e-9):
                warnings.append(f"target {self.target_speedup:.2f}x not reachable: the limits allow at most "
                                f"{self.target_reachable:.2f}x on this schedule")
        if self.disabled_reason is None and steps:
            if self.skipped == 0:
                warnings.append("no step was skipped (threshold too low or schedule too short)")
            elif self.skipped >= steps - 2:
                warnings.append("almost every step was skipped: expect visible quality loss")
        return warnings

    def summary_line(self) -> str:
        if self.disabled_reason:
            head = f"SemCache [{self.family}] ran uncached: {self.disabled_reason}"
        else:
            measured = self.measured_speedup
            measured_txt = f", measured {measured:.2f}x" if measured is not None else ""
            if self.target_speedup:
                measured_txt = f", target {self.target_speedup:.2f}x" + measured_txt
            partial = f" ({self.partial} partial)" if self.partial else ""
            mode = self.settings.get("reuse_mode", "reuse")
            forecast = f" by {mode}" if mode != "reuse" else ""  # skipped steps added a forecast residual
            head = (
                f"SemCache [{self.family}] steps {len(self.records)}: computed {self.computed}{partial}, "
                f"skipped {self.skipped}{forecast} (estimated {self.estimated_speedup:.2f}x{measured_txt}); "
                f"cache {self.cache_bytes / 2**20:.2f} MiB; {self.wall_seconds:.2f} s"
            )
        warnings = self.final_warnings()
        if self.error:
            warnings.append(f"run ended early: {self.error}")
        return head + ("; warnings: " + "; ".join(warnings) if warnings else "")

    def to_dict(self) -> dict:
        """JSON-ready summary and per-step timeline, sent to the web extension with the report."""
        return {
            "family": self.family,
            "total_steps": self.total_steps,
            "computed": self.computed,
            "partial": self.partial,
            "skipped": self.skipped,
            "estimated_speedup": round(self.estimated_speedup, 4),
            "measured_speedup": None if self.measured_speedup is None else round(self.measured_speedup, 4),
            "cache_mib": round(self.cache_bytes / 2**20, 3),
            "cache_mib_by_kind": {k: round(v / 2**20, 3) for k, v in self.cache_bytes_by_kind.items()},
            "wall_seconds": round(self.wall_seconds, 3),
            "disabled_reason": self.disabled_reason,
            "reused": self.reused,
            "warnings": self.final_warnings(),
            "target_speedup": self.target_speedup or None,
            "target_reachable": _finite(self.target_reachable),
            "error_check": self.check_lines()[-1] if self.check_lines() else None,
            "steps": [
                {
                    "step": r.step,
                    "sigma": r.sigma,
                    "decision": r.decision,
                    "error": _finite(r.error),
                    "threshold": _finite(r.threshold),
                    "p_s": _finite(r.p_s),
                    "frames_total": r.frames_total,
                    "frames_reused": r.frames_reused,
                    "check_measured": _finite(r.check_measured),
                    "check_estimated": _finite(r.check_estimated),
                }
                for r in self.records
            ],
        }

    def check_lines(self) -> list[str]:
        """The report's `target:` line (target_speedup mode) and `error check:` line (PSA on)."""
        if self.disabled_reason or self.settings.get("psa") == "off" or not self.records:
            return []
        lines = []
        if self.target_speedup:
            tmm = self.token_blocks_saved_tmm > 0
            lines.append(target_line(self.target_speedup, self.target_reachable, self.estimated_speedup, tmm))
        pairs = [(r.check_measured, r.check_estimated) for r in self.records if r.check_measured is not None]
        return lines + [error_check.summary_line(pairs)]

    def report(self) -> str:
        """Multi-line text for the Cache Stats node."""
        lines = [self.summary_line(), ""]
        if self.settings:
            lines.append("settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()))
        if self.reused:
            lines.append(f"reused residual: {self.reused}")
        if self.token_blocks_total:
            total = self.token_blocks_total
            lines.append(
                f"block work saved: PSA {100 * self.token_blocks_saved_psa / total:.1f}%, "
                f"TMM {100 * self.token_blocks_saved_tmm / total:.1f}%"
            )
        lines.extend(self.check_lines())
        if self.cache_bytes_by_kind:
            lines.append(f"cache at its peak ({self.cache_bytes / 2**20:.2f} MiB, every tensor held): " + ", ".join(
                f"{kind} {size / 2**20:.2f} MiB" for kind, size in self.cache_bytes_by_kind.items()))
        lines.append(f"{'step':>4} {'sigma':>8} {'decision':>8} {'E_t':>8} {'tau':>8} {'p_s':>7} {'E_true':>8} "
                     f"{'E_est':>8}  frames  reason")

        def fmt(v: float | None, width: int) -> str:
            return f"{v:>{width}.4f}" if v is not None else " " * (width - 1) + "-"

        for r in self.records:
            lines.append(
                f"{r.step:>4} {r.sigma:>8.4f} {r.decision:>8} {fmt(r.error, 8)} {fmt(r.threshold, 8)} "
                f"{fmt(r.p_s, 7)} {fmt(r.check_measured, 8)} {fmt(r.check_estimated, 8)}  {r.frame_map() or '-'}  "
                f"{r.reason}"
            )
        return "\n".join(lines)
