"""Checks of a world design before any training (writes data_checks.md / data_checks.png here).

1. End of the MagCache curve, predicted from the data alone (proxy_research.md §4). Render
   PROMPTS prompts x SEEDS seeds, take the orthonormal 3-D FFT of every latent channel, and per
   frequency f the prompt-conditional mean mu_f and variance lambda_f (over seeds). For a
   Gaussian component the optimal velocity E[noise - x0 | x_t] has mean square
   |mu|^2 + [s - (1-s) lambda]^2 / [(1-s)^2 lambda + s^2]; summed over frequencies this is the
   optimal output's power P(s), and sqrt(P(s_i) / P(s_{i-1})) along Wan's 50-step shift-5
   schedule is the predicted output-norm ratio curve. Real Wan's hidden-residual ratio falls to
   0.82 at the last step; a design is kept when its predicted curve falls over the last 10 steps.
2. The bank-6 posterior weights' entropy against sigma: how much the 6-clip posterior-mean
   target (v5's) differs from plain flow matching (one-hot weights, entropy 0).

  .venv/bin/python bench/proxy/v6/data_checks.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from proxy.comfy_nodes.proxy_codec import rgb_to_latent  # noqa: E402
from proxy.v6.data import clip_latents  # noqa: E402
from proxy.v6.world import WorldOptions, random_clip  # noqa: E402
from proxy.world import render as render_v5  # noqa: E402

PROMPTS, SEEDS, FRAMES = 24, 6, 13


def schedule(steps: int = 50, shift: float = 5.0) -> torch.Tensor:
    t = torch.linspace(1.0, 0.0, steps + 1)[:-1].double()
    return shift * t / (1 + (shift - 1) * t)


def spectrum(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """latents (P, S, 16, T, H, W) -> per-prompt |mu_f|^2 and lambda_f, each (P, F)."""
    x = torch.fft.fftn(latents.double(), dim=(-3, -2, -1), norm="ortho").flatten(2)
    mu = x.mean(1)
    lam = (x - mu.unsqueeze(1)).abs().pow(2).sum(1) / (x.shape[1] - 1)
    return mu.abs().pow(2), lam


def predicted_power(mu2: torch.Tensor, lam: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Mean over prompts of the optimal velocity's total power at each sigma."""
    out = []
    for s in sigmas.tolist():
        g = (s - (1 - s) * lam) ** 2 / ((1 - s) ** 2 * lam + s**2)
        out.append(float((mu2 + g).sum(1).mean()))
    return torch.tensor(out, dtype=torch.float64)


def designs() -> dict[str, callable]:
    def v6(options: WorldOptions):
        return lambda clips, gen: clip_latents(clips, FRAMES, gen, options)

    def v5(clips, gen):
        return rgb_to_latent(torch.stack([render_v5(c, FRAMES, 32, 32, gen) for c in clips]))

    return {
        "v5 world (smooth, spare channels zero)": v5,
        "v6, texture off, material off": v6(WorldOptions(texture=False, material=False)),
        "v6, texture off, material plane on": v6(WorldOptions(texture=False, material=True)),
        "v6, texture on (std 0.05-0.10), material off": v6(WorldOptions(texture=True, material=False)),
        "v6 default: texture on (std 0.05-0.10), material on": v6(WorldOptions()),
        "v6, weak texture (std 0.02-0.04), material on": v6(WorldOptions(texture_std=(0.02, 0.04))),
        "v6, strong texture (std 0.10-0.16), material on": v6(WorldOptions(texture_std=(0.10, 0.16))),
        "v6 default + per-frame grain std 0.01 (not adopted)": v6(WorldOptions(grain=0.01)),
        "v6 default + per-frame grain std 0.03 (not adopted)": v6(WorldOptions(grain=0.03)),
        "v6 default + grain std 0.05 in the material plane only (RGB static)": v6(WorldOptions(material_grain=0.05)),
        "v6 default + grain std 0.10 in the material plane only (RGB static)": v6(WorldOptions(material_grain=0.10)),
    }


def bank_entropy(options: WorldOptions, bank: int = 6, n: int = 48) -> list[tuple[float, float]]:
    """(sigma, mean entropy in nats of the bank's posterior weights) for non-empty prompts."""
    rng, gen = random.Random(1), torch.Generator().manual_seed(1)
    clips = [random_clip(rng) for _ in range(n)]
    lat = clip_latents([c for c in clips for _ in range(bank)], FRAMES, gen, options).unflatten(0, (n, bank))
    rows = []
    for s in (0.99, 0.97, 0.95, 0.9, 0.85, 0.8, 0.7, 0.5, 0.3):
        noise = torch.randn(lat[:, 0].shape, generator=gen)
        x_t = (1 - s) * lat[:, 0] + s * noise
        logits = -((x_t.unsqueeze(1) - (1 - s) * lat).flatten(2).pow(2).sum(-1)) / (2 * s**2)
        w = torch.softmax(logits.double(), dim=1)
        rows.append((s, float(-(w * w.clamp_min(1e-300).log()).sum(1).mean())))
    return rows


def main() -> int:
    torch.set_num_threads(1)
    sigmas = schedule()
    lines = ["# v6 data checks (before training)", "",
             f"`bench/proxy/v6/data_checks.py`: {PROMPTS} random training prompts x {SEEDS} seeds, 13 latent "
             "frames of 16x16, orthonormal 3-D FFT per latent channel; sigma from Wan's 50-step shift-5 schedule.",
             "Predicted = sqrt(P(s_i)/P(s_(i-1))) of the optimal velocity's power (module docstring). Real Wan "
             "2.1 1.3B hidden-residual ratio, last 5 steps: 0.940 0.924 0.902 0.868 0.818.", "",
             "| design | share of power in 0.01 < lambda < 0.3 (excl. mean) | predicted ratio, steps 46-50 | "
             "min over the last 10 | falls over the last 10 steps? |", "|---|---:|---|---:|---|"]
    curves = {}
    for name, make in designs().items():
        rng, gen = random.Random(0), torch.Generator().manual_seed(0)
        clips = [random_clip(rng) for _ in range(PROMPTS)]
        lat = make([c for c in clips for _ in range(SEEDS)], gen).unflatten(0, (PROMPTS, SEEDS))
        mu2, lam = spectrum(lat)
        mid = ((lam > 0.01) & (lam < 0.3)).double()
        share = float((lam * mid).sum() / lam.sum().clamp_min(1e-12))
        power = predicted_power(mu2, lam, sigmas)
        ratio = (power[1:] / power[:-1]).sqrt()
        curves[name] = ratio
        tail = ratio[-10:]
        falls = bool(tail[-1] < tail[0] and tail[-1] < 0.99)
        lines.append(f"| {name} | {share:.2f} | {' '.join(f'{v:.3f}' for v in ratio[-5:].tolist())} | "
                     f"{float(tail.min()):.3f} | {'yes' if falls else 'no'} |")
        print(lines[-1], flush=True)
    lines += ["", "![predicted curves](data_checks.png)", "", "## Bank-6 posterior weights (v6 default world)", "",
              "Entropy in nats of the 6 posterior weights of v5's bank target (log 6 = 1.79 = uniform, 0 = one-hot "
              "= plain flow matching), mean over 48 prompts:", "", "| sigma | entropy |", "|---:|---:|"]
    for s, h in bank_entropy(WorldOptions()):
        lines.append(f"| {s:.2f} | {h:.3f} |")
        print(lines[-1], flush=True)
    (HERE / "data_checks.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import json

        real = json.loads((HERE.parents[1] / "data" / "real_wan_magcache_ratios.json").read_text())
        real = real["curves"]["wan2.1_t2v_1.3B"]["cond"]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.plot(range(2, 2 + len(real)), real, "k-", lw=2, label="real Wan 2.1 1.3B (hidden residual)")
        for name, r in curves.items():
            ax.plot(range(2, 2 + len(r)), r.tolist(), lw=1, label=name)
        ax.set_ylim(0.6, 1.2)
        ax.set_xlabel("step (50-step shift-5 schedule)")
        ax.set_ylabel("predicted output-norm ratio")
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(HERE / "data_checks.png", dpi=80)
    except ImportError:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
