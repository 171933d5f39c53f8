"""What each cache holds at real scale, computed from the model shapes (README "Memory").

Per sampler call, batch 1, bf16 hidden states. SemCache keeps one block-stack residual per stream
(cond and uncond: 2 with CFG), three Eq. 8 token samples of the leader stream (previous computed
input and output, the last skipped input) in the compute dtype, and, during a probed evaluation,
two fp32 probe sums over the same bounded token sample (`semcache_core/memory.py`). TMM with the
default noisy-latent motion source keeps no tensor; with `predicted_clean` it keeps the leader's
predicted clean latent (fp32). MagCache/TeaCache-style caches keep one residual per stream.
"Before" is the engine before the token budget: every 4th token, fp32, all three samples.

  .venv/bin/python bench/memory_table.py           # the table (markdown) from the shapes
  .venv/bin/python bench/memory_table.py --check   # + the same formula against a measured run of a
                                                   #   tiny Wan (dim 256, 2,304 tokens, fp32, CFG batched)
"""

from __future__ import annotations

import argparse
import gc
import warnings
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

MiB = 2**20
STRIDE, BUDGET = 4, 192  # SemCacheConfig.norm_stride / norm_token_budget defaults (checked by --check)


@dataclass(frozen=True)
class Shape:
    name: str
    tokens: int  # image tokens in the block stack
    dim: int
    streams: int  # residuals kept: 2 with CFG (cond + uncond), 1 for guidance-distilled models
    latent: int  # latent elements (C*T*H*W) for TMM's predicted-clean latent
    bytes_per: int = 2  # bf16 hidden states


def video_tokens(frames: int, height: int, width: int) -> tuple[int, int, int]:
    """(latent frames, latent H, latent W) of a video: VAE x4 in time, x8 in space."""
    return 1 + (frames - 1) // 4, height // 8, width // 8


def shape(name: str, frames: int, height: int, width: int, dim: int, streams: int, channels: int = 16) -> Shape:
    t, h, w = video_tokens(frames, height, width)
    return Shape(name, t * (h // 2) * (w // 2), dim, streams, channels * t * h * w)


SHAPES = [
    shape("Wan 2.1 T2V 1.3B, 832x480, 81 frames, CFG", 81, 480, 832, 1536, 2),
    shape("Wan 2.2 T2V A14B (one expert), 1280x720, 81 frames, CFG", 81, 720, 1280, 5120, 2),
    shape("HunyuanVideo, 1280x720, 129 frames, cfg 1 (guidance-distilled)", 129, 720, 1280, 3072, 1),
]


def sample_tokens(tokens: int, stride: int = STRIDE, budget: int | None = BUDGET) -> int:
    """memory.token_sample's token count."""
    strided = -(-tokens // stride)
    return strided if budget is None or strided <= budget else budget


def holdings(s: Shape, budget: int | None = BUDGET, sample_bytes: int | None = None, order: int = 0) -> dict[str, int]:
    """Peak bytes by kind (the kinds of `memory.KINDS`); `order`: reuse_mode's forecast order, which keeps
    order + 1 residuals per stream and order + 1 sampled residuals for the forecast gain."""
    n = sample_tokens(s.tokens, budget=budget)
    return {
        "residuals": (order + 1) * s.streams * s.tokens * s.dim * s.bytes_per,
        "error_samples": (3 + (order + 1 if order else 0)) * n * s.dim * (sample_bytes or s.bytes_per),
        "probe": 2 * n * s.dim * 4,
    }


def table() -> list[str]:
    lines = ["| model, size | tokens | MagCache/TeaCache-style (1 residual/stream) | SemCache | SemCache + TMM "
             "(noisy_latent / predicted_clean motion) | before the budget (reported / held) |", "|---|---:|---:|---:|---:|---:|"]
    for s in SHAPES:
        new, old = holdings(s), holdings(s, budget=None, sample_bytes=4)
        peer = new["residuals"]
        tmm = sum(new.values()) + s.latent * 4
        lines.append(
            f"| {s.name} | {s.tokens:,} | {peer / MiB:,.0f} MiB | {sum(new.values()) / MiB:,.0f} MiB "
            f"({sum(new.values()) / peer:.3f}x) | {sum(new.values()) / MiB:,.0f} / {tmm / MiB:,.0f} MiB | "
            f"{old['residuals'] / MiB:,.0f} / {sum(old.values()) / MiB:,.0f} MiB ({sum(old.values()) / peer:.2f}x) |"
        )
    return lines


def forecast_table() -> list[str]:
    """What reuse_mode forecast_1 / forecast_2 hold beside reuse (README "Memory")."""
    lines = ["| model, size | residual per stream | SemCache reuse | forecast_1 | forecast_2 |", "|---|---:|---:|---:|---:|"]
    for s in SHAPES:
        one = s.tokens * s.dim * s.bytes_per
        totals = [sum(holdings(s, order=o).values()) / MiB for o in (0, 1, 2)]
        lines.append(f"| {s.name} | {one / MiB:,.0f} MiB | {totals[0]:,.0f} MiB | {totals[1]:,.0f} MiB "
                     f"(+{totals[1] - totals[0]:,.0f}) | {totals[2]:,.0f} MiB (+{totals[2] - totals[0]:,.0f}) |")
    return lines


def live_tensor_bytes() -> int:
    """Bytes of every tensor storage the garbage collector can reach, each storage once."""
    import torch

    gc.collect()
    storages: dict[tuple[str, int], int] = {}
    with warnings.catch_warnings():  # isinstance on torch.distributed's deprecated aliases warns
        warnings.simplefilter("ignore")
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor)]
    for t in tensors:
        if not t.is_meta:
            storages[(str(t.device), t.untyped_storage().data_ptr())] = t.untyped_storage().nbytes()
    return sum(storages.values())


def check(steps: int = 12) -> list[str]:
    """The formula at a reduced size against the run's report and the live tensors it left."""
    from importlib import import_module

    from harness.env import setup
    from memory_decisions import tiny_runner

    pack = setup(threads=1)
    glue = import_module(f"{pack.__name__}.semcache_core.comfy_glue")
    config = import_module(f"{pack.__name__}.semcache_core.config")
    defaults = config.SemCacheConfig()
    assert (defaults.norm_stride, defaults.norm_token_budget) == (STRIDE, BUDGET), "update STRIDE/BUDGET"
    model, cases, tokens = tiny_runner(1)
    run = cases[0][1]
    s = Shape("tiny Wan", tokens, 256, 2, 16 * 4 * 48 * 48, bytes_per=4)
    seen: dict[str, list[int]] = {}
    for label, patched in (("uncached", model),
                           ("semcache", glue.patch_model(model, config.SemCacheConfig(threshold_scale=1.0)))):
        seen[label] = []
        run(patched, steps, "euler", callback=lambda *a, out=seen[label]: out.append(live_tensor_bytes()))
    stats = glue.latest_stats(patched)
    measured = max(c - b for c, b in zip(seen["semcache"], seen["uncached"]))
    formula = holdings(s)
    lines = [f"Check at reduced size (`--check`): tiny Wan, {tokens} tokens, dim 256, fp32, CFG batched, "
             f"{steps} euler steps, threshold_scale 1 (skips {stats.skipped}).", "",
             "| kind | formula | reported peak |", "|---|---:|---:|"]
    for kind in formula:
        lines.append(f"| {kind} | {formula[kind] / MiB:.3f} MiB | {stats.cache_bytes_by_kind.get(kind, 0) / MiB:.3f} MiB |")
    lines += [f"| total | {sum(formula.values()) / MiB:.3f} MiB | {stats.cache_bytes / MiB:.3f} MiB |", "",
              f"Live tensors between steps, SemCache minus uncached (max over steps): {measured / MiB:.3f} MiB "
              f"(the probe sums exist only during an evaluation: formula without them "
              f"{(sum(formula.values()) - formula['probe']) / MiB:.3f} MiB)."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="also run the reduced-size check (about a minute)")
    args = parser.parse_args()
    lines = table() + [""] + forecast_table()
    if args.check:
        lines += [""] + check()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
