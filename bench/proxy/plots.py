"""Training plots (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def loss_curve(losses: list[float], path: Path, window: int = 50) -> Path:
    """Raw per-step loss and its running mean, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    running = [sum(losses[max(0, i - window + 1) : i + 1]) / (i - max(0, i - window + 1) + 1) for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.6, alpha=0.4, label="loss (per step)")
    ax.plot(range(1, len(losses) + 1), running, lw=1.8, label=f"running mean ({window})")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("flow-matching MSE")
    ax.set_title("Proxy Wan 2.1 T2V training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
