"""Per-evaluation records and the run summary the user sees (DESIGN §5)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalRecord:
    """One leader evaluation (one denoising step for the leader stream)."""

    sigma: float
    step: int
    decision: str  # "computed" | "skipped"
    reason: str
    error: float | None = None
    threshold: float | None = None
    p_s: float | None = None
    m_norm: float | None = None
    d_norm: float | None = None
    rho: float | None = None
    k: float | None = None
    seconds: float = 0.0


@dataclass
class RunStats:
    """Everything one sampler call recorded; kept after the run for the Cache Stats node."""

    family: str
    total_steps: int
    settings: dict = field(default_factory=dict)
    records: list[EvalRecord] = field(default_factory=list)
    token_blocks_done: int = 0
    token_blocks_total: int = 0
    evaluations: int = 0
    wall_seconds: float = 0.0
    cache_bytes: int = 0
    disabled_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    finished: bool = False
    error: str | None = None

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    @property
    def computed(self) -> int:
        return sum(r.decision == "computed" for r in self.records)

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
        steps = len(self.records)
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
            head = (
                f"SemCache [{self.family}] steps {len(self.records)}: computed {self.computed}, "
                f"skipped {self.skipped} (estimated {self.estimated_speedup:.2f}x{measured_txt}); "
                f"cache {self.cache_bytes / 2**20:.2f} MiB; {self.wall_seconds:.2f} s"
            )
        warnings = self.final_warnings()
        if self.error:
            warnings.append(f"run ended early: {self.error}")
        return head + ("; warnings: " + "; ".join(warnings) if warnings else "")

    def report(self) -> str:
        """Multi-line text for the Cache Stats node."""
        lines = [self.summary_line(), ""]
        if self.settings:
            lines.append("settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()))
        lines.append(f"{'step':>4} {'sigma':>8} {'decision':>8} {'E_t':>8} {'tau':>8} {'p_s':>7}  reason")

        def fmt(v: float | None, width: int) -> str:
            return f"{v:>{width}.4f}" if v is not None else " " * (width - 1) + "-"

        for r in self.records:
            lines.append(
                f"{r.step:>4} {r.sigma:>8.4f} {r.decision:>8} {fmt(r.error, 8)} {fmt(r.threshold, 8)} "
                f"{fmt(r.p_s, 7)}  {r.reason}"
            )
        return "\n".join(lines)
