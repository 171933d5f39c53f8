"""The Pareto figure: fidelity vs speedup for every configuration, one curve per method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .aggregate import COMPARISON_ONLY_TAGS, Summary, sweep

COLORS = {"semcache": "tab:red", "easycache": "tab:blue", "lazycache": "tab:green", "teacache": "tab:cyan",
          "teacache-ret": "tab:pink", "magcache": "tab:olive", "fbcache": "tab:brown", "greedy-oracle": "dimgray",
          "constrained-oracle": "gray", "tmm": "tab:purple", "semcache+tmm": "tab:orange",
          "semcache-forecast_1": "darkred", "semcache-forecast_2": "salmon", "taylorseer-lite": "navy"}
LEGEND = {"greedy-oracle": "greedy oracle (not a limit)", "constrained-oracle": "constrained oracle (not a limit)"}
PSNR_TOP = 70.0  # points above (output identical to uncached) are drawn just under the top edge
PANELS = (("psnr", "PSNR vs uncached (dB) ↑"), ("ssim", "SSIM vs uncached ↑"), ("motion_error", "motion error ↓"))


def _shown(value: float, metric: str) -> float:
    return min(value, PSNR_TOP - 2) if metric == "psnr" else value


def _frontier(curve: list[Summary], metric: str, speed_key: str) -> list[Summary]:
    """The sweep's points no other point beats on speed and `metric` (lower is better for errors)."""
    sign = -1.0 if metric == "motion_error" else 1.0
    kept: list[Summary] = []
    for s in sorted(curve, key=lambda c: (-getattr(c, speed_key), -sign * getattr(c, metric))):
        if not kept or sign * getattr(s, metric) > sign * getattr(kept[-1], metric):
            kept.append(s)
    return sorted(kept, key=lambda c: getattr(c, speed_key))


def _panel(ax, summaries: list[Summary], metric: str, speed_key: str, front: list | None = None) -> None:
    if front and metric == "psnr" and speed_key == "work_speedup":
        ax.plot([p.speedup for p in front], [_shown(p.psnr, metric) for p in front], "-", color="black", lw=2.2,
                label="search bound (best schedule searched)", zorder=1)
    for family, color in COLORS.items():
        curve = sweep(summaries, family)
        if len(curve) > 1:  # every point, and the sweep's frontier as the curve (MagCache sweeps K as well)
            style = "--" if family.endswith("oracle") else "-"
            ax.plot([getattr(s, speed_key) for s in curve], [_shown(getattr(s, metric), metric) for s in curve],
                    "o", color=color, ms=3, alpha=0.6)
            best = _frontier(curve, metric, speed_key)
            ax.plot([getattr(s, speed_key) for s in best], [_shown(getattr(s, metric), metric) for s in best],
                    style, color=color, lw=1.4, label=LEGEND.get(family, family))
        for s in summaries:
            if s.family != family or s.tag in COMPARISON_ONLY_TAGS:
                continue
            x, y = getattr(s, speed_key), _shown(getattr(s, metric), metric)
            if s.tag == "default":
                ax.plot(x, y, "*", color=color, ms=14, mec="black", mew=0.7, zorder=5)
            elif s.tag:
                ax.plot(x, y, "D", mfc="none", color=color, ms=6)
                ax.annotate(s.tag, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")


def pareto(per_schedule: dict[tuple[int, str], list[Summary]] | list[Summary], path: Path,
           speed_key: str = "work_speedup", title: str = "", main: tuple[int, str] | None = None,
           bounds: dict | None = None) -> Path:
    """One row of panels (PSNR, SSIM, motion error vs compute speedup) per schedule, main first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(per_schedule, list):
        per_schedule = {main or (0, ""): per_schedule}
    keys = sorted(per_schedule, key=lambda k: (k != main, k))
    fig, axes = plt.subplots(len(keys), len(PANELS), figsize=(15, 4.3 * len(keys)), squeeze=False)
    for row, key in enumerate(keys):
        for ax, (metric, ylabel) in zip(axes[row], PANELS):
            _panel(ax, per_schedule[key], metric, speed_key, (bounds or {}).get(key))
            ax.set_xlabel("compute speedup (transformer block work, uncached / cached)" if speed_key == "work_speedup"
                          else speed_key.replace("_", " "))
            ax.set_ylabel(ylabel)
            if metric == "psnr":
                ax.set_ylim(top=PSNR_TOP)
                ax.set_title(f"{key[0]} steps {key[1]}" if key[0] else "", loc="left", fontsize=10)
            ax.grid(alpha=0.3)
    axes[0][0].plot([], [], "*", color="gray", ms=12, mec="black", label="node default")
    axes[0][0].plot([], [], "D", mfc="none", color="gray", label="ablation / extra (label = what changed)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title or "Proxy Wan 2.1 T2V: fidelity vs compute speedup, each point = mean over the prompts")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def frames_grid(columns: dict[str, list], prompts: list[str], path: Path) -> Path:
    """Rows = prompts; for each column label, that method's clip as a strip of frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    labels = list(columns)
    fig, axes = plt.subplots(len(prompts), len(labels), figsize=(4.2 * len(labels), 0.75 * len(prompts) + 0.6),
                             squeeze=False)
    for i, prompt in enumerate(prompts):
        for j, label in enumerate(labels):
            video = columns[label][i]  # (3, T, H, W)
            pad = torch.nn.functional.pad(video, (0, 1), value=1.0)  # a white gap between frames
            strip = pad.permute(2, 1, 3, 0).reshape(video.shape[2], -1, 3)
            ax = axes[i][j]
            ax.imshow(strip.clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(label, fontsize=9)
            if j == 0:
                ax.set_ylabel(prompt, fontsize=6, rotation=0, ha="right", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def contact_sheet(videos: list, prompts: list[str], path: Path) -> Path:
    """The uncached clips, one row of frames per prompt, large enough to see the motion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    fig, axes = plt.subplots(len(prompts), 1, figsize=(11, 1.5 * len(prompts) + 0.6), squeeze=False)
    for ax, video, prompt in zip(axes[:, 0], videos, prompts):
        pad = torch.nn.functional.pad(video, (0, 2), value=1.0)  # a white gap between frames
        strip = pad.permute(2, 1, 3, 0).reshape(video.shape[2], -1, 3)
        ax.imshow(strip.clamp(0, 1).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(prompt, fontsize=9, loc="left")
    fig.suptitle(f"Proxy Wan 2.1 T2V, uncached: the {videos[0].shape[1]} decoded frames of each benchmark prompt "
                 "(left to right)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def calibration_plot(calibration: Any, path: Path) -> float | None:
    """TeaCache's fitted polynomial: predicted vs actual output change, per mode; the proxy's MagCache
    ratios (cond) beside the published real Wan 2.1 T2V 1.3B curve. Returns their Pearson correlation
    (both mapped to the proxy's calibration steps), or None."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    info = calibration.info
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    for ax, mode in zip(axes[:2], ("e", "e0")):
        pts = np.asarray(info.get(f"teacache_{mode}_points") or [[0.0, 0.0]])
        coefficients = calibration.teacache_coefficients.get(mode, [0.0])
        predicted = np.maximum(np.polyval(coefficients, pts[:, 0]), 0.0)
        ax.plot(pts[:, 1], predicted, ".", ms=3, alpha=0.5)
        top = float(max(pts[:, 1].max(), predicted.max(), 1e-6))
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        ax.set_xlabel("actual output change (rel. L1, step to step)")
        ax.set_ylabel("TeaCache's predicted change (poly, clamped at 0)")
        ax.set_title(f"TeaCache signal {mode}: R² {info.get(f'teacache_{mode}_r2', float('nan')):.3f}", fontsize=10)
        ax.grid(alpha=0.3)
    ratios = calibration.magcache_ratios
    proxy = np.asarray(ratios[0::2][1:])  # cond, steps 1..
    real_path = Path(__file__).resolve().parents[1] / "data" / "real_wan_magcache_ratios.json"
    pearson = None
    ax = axes[2]
    ax.plot(np.linspace(0, 1, len(proxy)), proxy, "-", color="tab:olive", label="proxy (calibrated here)")
    if real_path.exists():
        real = np.asarray(json.loads(real_path.read_text())["curves"]["wan2.1_t2v_1.3B"]["cond"])
        ax.plot(np.linspace(0, 1, len(real)), real, "-", color="black", label="real Wan 2.1 T2V 1.3B (published)")
        mapped = np.interp(np.linspace(0, 1, len(proxy)), np.linspace(0, 1, len(real)), real)
        if len(proxy) > 2 and proxy.std() > 0:
            pearson = float(np.corrcoef(proxy, mapped)[0, 1])
    ax.set_xlabel("sampling progress (step / steps)")
    ax.set_ylabel("MagCache ratio |R_t| / |R_t-1| (cond)")
    ax.set_title("MagCache ratio curve" + (f": Pearson {pearson:.3f}" if pearson is not None else ""), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return pearson
