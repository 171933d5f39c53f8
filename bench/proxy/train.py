"""Train the proxy Wan 2.1 T2V model (seeded, CPU, ~50 min on 2 cores) and save its fp16 checkpoint.

Rectified-flow training exactly as ComfyUI samples Wan: x_t = (1 - s) x0 + s * noise, the model
gets timestep s * 1000 and predicts noise - x0 (ComfyUI's CONST/flow parameterisation), so the
checkpoint samples correctly through the stock KSampler with Wan's default shift 8.
Usage: .venv/bin/python bench/proxy/train.py [--steps N] [--out DIR]   (writes the checkpoint,
train_log.txt and loss_curve.png into DIR, default bench/proxy/).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))  # comfy_env: ComfyUI first on sys.path, CPU mode

from comfy_env import bootstrap  # noqa: E402

bootstrap()

from proxy import model as proxy_model  # noqa: E402
from proxy.data import make_batch  # noqa: E402
from proxy.plots import loss_curve  # noqa: E402

CHECKPOINT = "semcache_proxy_wan.safetensors"
SHIFT = 8.0  # Wan 2.1 T2V's default sampling shift in ComfyUI


def sample_sigmas(gen: torch.Generator, size: int) -> torch.Tensor:
    """A third each: shifted like the inference schedule (mostly high noise), uniform (detail),
    logit-normal (mid noise, where layout and objects form; as in SD3)."""
    t = torch.rand(size, generator=gen).clamp(1e-3, 1.0)
    shifted = SHIFT * t / (1 + (SHIFT - 1) * t)
    logit_normal = torch.sigmoid(torch.randn(size, generator=gen))
    pick = torch.randint(0, 3, (size,), generator=gen)
    return torch.where(pick == 0, shifted, torch.where(pick == 1, t, logit_normal)).clamp(1e-3, 1.0)


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup, 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--uncond", type=float, default=0.15, help="share of empty prompts (for CFG)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.txt"
    log_file = log_path.open("w")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    log(f"# proxy Wan training  torch {torch.__version__}  settings {json.dumps(settings)}")
    log(f"# model {json.dumps(proxy_model.CONFIG)}")
    model = proxy_model.build(seed=args.seed)
    ema = copy.deepcopy(model).requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    log(f"# parameters {sum(p.numel() for p in params) / 1e6:.2f} M")
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    losses: list[float] = []
    started = time.perf_counter()
    log("step,loss,loss_avg50,lr,seconds")
    for step in range(args.steps):
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = make_batch(rng, gen, args.batch, uncond_prob=args.uncond)
        noise = torch.randn(batch.latents.shape, generator=gen)
        sigma = sample_sigmas(gen, args.batch)
        s = sigma.view(-1, 1, 1, 1, 1)
        x_t = (1 - s) * batch.latents + s * noise
        options = {"optimized_attention_override": proxy_model.padded_attention_override(batch.bias)}
        pred = model(x_t, sigma * 1000.0, batch.context, transformer_options=options)
        loss = torch.nn.functional.mse_loss(pred, noise - batch.latents)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.lerp_(p, 1 - decay)
        losses.append(loss.item())
        if step % 10 == 9 or step == args.steps - 1:
            recent = losses[-50:]
            log(f"{step + 1},{losses[-1]:.5f},{sum(recent) / len(recent):.5f},{lr:.2e},{time.perf_counter() - started:.1f}")
    elapsed = time.perf_counter() - started
    meta = {"config": json.dumps(proxy_model.CONFIG), "training": json.dumps(settings), "seconds": f"{elapsed:.0f}"}
    ckpt = proxy_model.save_fp16(ema, out / CHECKPOINT, metadata={"semcache_proxy": json.dumps(meta)})
    loss_curve(losses, out / "loss_curve.png")
    log(f"# done: {args.steps} steps in {elapsed / 60:.1f} min; EMA weights saved to {ckpt.name} "
        f"({ckpt.stat().st_size / 2**20:.1f} MiB)")
    log_file.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
