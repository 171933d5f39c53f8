"""Fidelity targets (issue: a proxy that behaves like real Wan), their verdicts and the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    name: str
    value: str
    goal: str
    met: bool

    def line(self) -> str:
        return f"{'MET ' if self.met else 'MISS'}  {self.name}: {self.value} (target {self.goal})"


def markdown(header: list[str], targets: list[Target], tables: list[str]) -> str:
    lines = ["# Proxy fidelity", "", *header, "", "## Targets", "", "| target | value | goal | met |",
             "|---|---:|---|:--:|"]
    lines += [f"| {t.name} | {t.value} | {t.goal} | {'✔' if t.met else '✘'} |" for t in targets]
    for table in tables:
        lines += ["", table]
    return "\n".join(lines) + "\n"


def curve_plot(curves: dict[str, list[float]], real: list[float], path: Path, title: str) -> Path:
    """The proxy's MagCache-statistic curves (per setting) against the real Wan 2.1 1.3B curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot([(i + 1) / len(real) for i in range(len(real))], real, "k-", lw=2.2, label="real Wan 2.1 T2V 1.3B (published)")
    for label, curve in curves.items():
        ax.plot([(i + 1) / len(curve) for i in range(len(curve))], curve, "-o", ms=2.5, lw=1.2, label=label)
    ax.set_xlabel("position in the schedule (step / steps)")
    ax.set_ylabel("mean over tokens of |R_t| / |R_{t-1}|")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
