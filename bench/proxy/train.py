"""Train the proxy Wan 2.1 T2V model (seeded, resumable; CPU or CUDA) and save its fp16 checkpoint.

Rectified-flow training exactly as ComfyUI samples Wan: x_t = (1 - s) x0 + s * noise, the model
gets timestep s * 1000 and predicts noise - x0 (ComfyUI's CONST/flow parameterisation), so the
checkpoint samples correctly through the stock KSampler. The regression target is the posterior
mean of noise - x0 over a small bank of clips of the same prompt (`data.posterior_velocity`),
which has the same minimiser and much less variance at high noise.

  .venv/bin/python bench/proxy/train.py                      # the committed run (writes bench/proxy/v5/)
  .venv/bin/python bench/proxy/train.py --resume             # continue: from train_state.safetensors
                                                             # if present, else the committed checkpoint
  .venv/bin/python bench/proxy/train.py --device cuda --steps 20000 --batch 32 --out /tmp/proxy

Writes the checkpoint (EMA weights, fp16, with `semcache.latent_shape` in its metadata),
train_log.txt and loss_curve.png into --out; every --save-every steps it also writes the
checkpoint and a full training state (fp32 weights, EMA, AdamW moments, RNG states) so an
interrupted run continues exactly where it stopped.
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

from harness.progress import progress  # noqa: E402
from proxy import model as proxy_model  # noqa: E402
from proxy.data import FRAMES, LATENT_H, LATENT_W, make_batch, posterior_velocity  # noqa: E402
from proxy.plots import loss_curve  # noqa: E402

CHECKPOINT = "semcache_proxy_wan.safetensors"
STATE = "train_state.safetensors"  # not committed (bench/proxy/.gitignore); the resumable state
SHIFTS = (5.0, 8.0)  # Wan's own pipeline samples at shift 5, ComfyUI's Wan workflows at shift 8


def sample_sigmas(gen: torch.Generator, size: int) -> torch.Tensor:
    """A third each: shifted like an inference schedule (mostly high noise), uniform (detail),
    logit-normal (mid noise, where layout and objects form; as in SD3)."""
    t = torch.rand(size, generator=gen).clamp(1e-3, 1.0)
    shift = torch.tensor(SHIFTS)[torch.randint(0, len(SHIFTS), (size,), generator=gen)]
    shifted = shift * t / (1 + (shift - 1) * t)
    logit_normal = torch.sigmoid(torch.randn(size, generator=gen))
    pick = torch.randint(0, 3, (size,), generator=gen)
    return torch.where(pick == 0, shifted, torch.where(pick == 1, t, logit_normal)).clamp(1e-3, 1.0)


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min((step - warmup) / max(steps - warmup, 1), 1.0)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def save_state(path: Path, model, ema, opt, step: int, losses: list[float], rng: random.Random,
               gen: torch.Generator, seconds: float) -> None:
    """Everything a resumed run needs, as safetensors (tensors) + JSON metadata (no pickle)."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().float().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().float().contiguous() for k, v in ema.state_dict().items()})
    names = {id(p): n for n, p in model.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.numel() > 1:
                    tensors[f"adam.{key}.{names[id(p)]}"] = value.detach().contiguous()
    tensors["gen_state"] = gen.get_state()
    meta = {"step": str(step), "losses": json.dumps(losses), "rng": json.dumps(rng.getstate()),
            "seconds": f"{seconds:.1f}"}
    tmp = path.with_suffix(".partial")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def load_state(path: Path, model, ema, opt, rng: random.Random, gen: torch.Generator) -> tuple[int, list[float], float]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        model.load_state_dict({k[6:]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")})
        ema.load_state_dict({k[4:]: f.get_tensor(k) for k in f.keys() if k.startswith("ema.")})
        params = dict(model.named_parameters())
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
        step = int(meta["step"])
        for name, p in params.items():
            keys = {key: f"adam.{key}.{name}" for key in ("exp_avg", "exp_avg_sq")}
            if all(k in f.keys() for k in keys.values()):
                opt.state[p] = {key: f.get_tensor(k) for key, k in keys.items()}
                opt.state[p]["step"] = torch.tensor(float(step))
        gen.set_state(f.get_tensor("gen_state"))
    version, internal, gauss = json.loads(meta["rng"])
    rng.setstate((version, tuple(internal), gauss))
    return step, json.loads(meta["losses"]), float(meta["seconds"])


def load_checkpoint_weights(path: Path, model, ema) -> int:
    """Continue from a committed fp16 checkpoint (fresh optimizer); returns its step count."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k).float() for k in f.keys()}
        meta = json.loads(f.metadata().get("semcache_proxy", "{}"))
    model.load_state_dict(state)
    ema.load_state_dict(state)
    return int(json.loads(meta.get("training", "{}")).get("steps_done", 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=900, help="total optimizer steps of the schedule")
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--bank", type=int, default=6, help="clips per prompt for the posterior-mean target (1 = plain flow matching)")
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--ema", type=float, default=0.99)
    parser.add_argument("--uncond", type=float, default=0.15, help="share of empty prompts (for CFG)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop (saving everything) after this long; 0 = no limit")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "v5")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    state_path, ckpt_path = out / STATE, out / CHECKPOINT
    model = proxy_model.build(seed=args.seed)
    proxy_model.keep_time_embedding_smooth(model)
    ema = copy.deepcopy(model).requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    losses: list[float] = []
    start_step, seconds_before = 0, 0.0
    if args.resume and state_path.exists():
        start_step, losses, seconds_before = load_state(state_path, model, ema, opt, rng, gen)
        resumed = f"# resumed from {state_path.name} at step {start_step}"
    elif args.resume and ckpt_path.exists():
        start_step = load_checkpoint_weights(ckpt_path, model, ema)
        rng, gen = random.Random(args.seed + start_step), torch.Generator().manual_seed(args.seed + start_step)
        resumed = f"# resumed from {ckpt_path.name} weights at step {start_step} (fresh optimizer, new data seed)"
    else:
        resumed = None
    model.to(device)
    ema.to(device)

    log_path = out / "train_log.txt"
    log_file = log_path.open("a" if resumed else "w")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if resumed:
        log(resumed)
    else:
        log(f"# proxy Wan training  torch {torch.__version__}  settings {json.dumps(settings)}")
        log(f"# model {json.dumps(proxy_model.CONFIG)}  latent (16, {FRAMES}, {LATENT_H}, {LATENT_W})")
        log(f"# parameters {sum(p.numel() for p in params) / 1e6:.2f} M")
        log("step,loss,loss_avg50,lr,seconds")

    def save(step: int, seconds: float) -> None:
        save_state(state_path, model, ema, opt, step, losses, rng, gen, seconds)
        training = dict(settings, steps_done=step)
        meta = {"semcache_proxy": json.dumps({"config": json.dumps(proxy_model.CONFIG), "training": json.dumps(training),
                                              "seconds": f"{seconds:.0f}"}),
                "semcache.latent_shape": f"16,{FRAMES},{LATENT_H},{LATENT_W}"}
        proxy_model.save_fp16(ema, ckpt_path, metadata=meta)

    started = time.perf_counter()
    step = start_step
    bar = progress(total=args.steps, desc="train", unit="step", initial=start_step)
    for step in range(start_step, args.steps):
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = make_batch(rng, gen, args.batch, uncond_prob=args.uncond, bank=args.bank)
        noise = torch.randn(batch.latents.shape, generator=gen)
        sigma = sample_sigmas(gen, args.batch)
        s = sigma.view(-1, 1, 1, 1, 1)
        x_t = (1 - s) * batch.latents + s * noise
        target = posterior_velocity(x_t, sigma, batch.bank) if batch.bank is not None else noise - batch.latents
        options = {"optimized_attention_override": proxy_model.padded_attention_override(batch.bias.to(device))}
        pred = model(x_t.to(device), (sigma * 1000.0).to(device), batch.context.to(device), transformer_options=options)
        loss = torch.nn.functional.mse_loss(pred.float(), target.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.lerp_(p, 1 - decay)
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        elapsed = seconds_before + time.perf_counter() - started
        if step % 10 == 9 or step == args.steps - 1:
            recent = losses[-50:]
            log(f"{step + 1},{losses[-1]:.5f},{sum(recent) / len(recent):.5f},{lr:.2e},{elapsed:.1f}")
        over_time = args.max_minutes and elapsed > args.max_minutes * 60
        if (step + 1) % args.save_every == 0 or step == args.steps - 1 or over_time:
            save(step + 1, elapsed)
        if over_time:
            log(f"# stopped after {elapsed / 60:.1f} min (--max-minutes) at step {step + 1}; --resume continues")
            break
    bar.close()
    elapsed = seconds_before + time.perf_counter() - started
    if step + 1 >= args.steps:
        save(args.steps, elapsed)
        loss_curve(losses, out / "loss_curve.png")
        log(f"# done: {args.steps} steps in {elapsed / 60:.1f} min; EMA weights saved to {ckpt_path.name} "
            f"({ckpt_path.stat().st_size / 2**20:.1f} MiB)")
    log_file.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
