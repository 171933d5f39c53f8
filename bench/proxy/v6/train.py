"""Train proxy v6 (seeded, resumable, at a fixed compute budget; CPU or CUDA).

Rectified flow exactly as ComfyUI samples Wan (timestep s*1000, target noise - x0), like v5's
`proxy/train.py`, with the v6 recipe switches (defaults = the chosen recipe, experiments.md):
  --curriculum 1:0.5,5:0.3,13:0.2     frames:share of the compute budget, in order
  --batch 1:32,5:8,13:2               clips per optimizer step in each phase
  --init adaln_zero|wan               adaLN-Zero (blocks start as the identity) or v5's init
  --t-dist logit_normal|uniform|v5    timestep density (logit_normal: 90 % LN(0,1) + 10 % uniform)
  --bank 1|6                          6 = v5's posterior-mean target (logs its weight entropy)
  --object-scale 1.4  --texture on|off  --material on|off  --material-grain 0.05
The budget is in GFLOP (`model.sample_gflop`, x3 for training), so runs with different
curricula are compared at equal compute, not equal wall time. The lr is constant after a
warm-up and decays (cosine to 5 %) over the last --decay share of the budget.

  .venv/bin/python bench/proxy/v6/train.py --out bench/proxy/v6/run --max-minutes 150   # stage 1 (README.md)
  .venv/bin/python bench/proxy/v6/train.py --out DIR --resume        # continue exactly (same schedule)
  .venv/bin/python bench/proxy/v6/train.py --out DIR --resume --extend-gflop 900000 \
      --extend-curriculum 5:0.15,13:0.85     # a longer run: more budget appended to the plan

An extension appends phases after the original plan (and after earlier extensions: all are
kept in settings.json, so a later --resume rebuilds the same plan); the lr decay and the EMA
half-life move to the new end. Why: stage 1 ran ~4x faster than the plan assumed, so the
original budget ended inside stage 1; changing --budget-gflop instead would move the curriculum
boundaries under a run already past them.

Writes into --out: semcache_proxy_wan.safetensors (EMA, fp16, `semcache.latent_shape` =
"16,13,16,16", `semcache.text_encoder` = "v6"), train_state.safetensors (fp32 weights, EMA,
AdamW moments, RNG states; not committed), resume_state.safetensors (fp16 weights, RNG
states: committed, so a new machine can `--resume`; resume.py), train_log.txt (CSV: step, phase frames, samples,
cumulative GFLOP, loss, lr, seconds, bank entropy).
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

BENCH = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

from comfy_env import bootstrap  # noqa: E402

bootstrap()

from proxy import model as proxy_model  # noqa: E402
from proxy.data import posterior_velocity  # noqa: E402
from proxy.train import load_state, save_state  # noqa: E402
from proxy.v6.data import FRAMES, LATENT_H, LATENT_W, make_batch  # noqa: E402
from proxy.v6.model import build_v6, sample_gflop  # noqa: E402
from proxy.v6.resume import COMPACT, load_compact, save_compact  # noqa: E402
from proxy.v6.world import WorldOptions  # noqa: E402

CHECKPOINT = "semcache_proxy_wan.safetensors"
STATE = "train_state.safetensors"
REWARM = 20  # steps over which a compact resume (fresh AdamW moments) re-warms the lr


def parse_pairs(text: str, cast) -> list[tuple[int, float]]:
    return [(int(a), cast(b)) for a, b in (part.split(":") for part in text.split(","))]


def phases(budget: float, curriculum: list[tuple[int, float]], batches: dict[int, int]) -> list[tuple[int, int, int]]:
    """[(frames, batch, steps)] so that phase i uses share_i of the budget (GFLOP, training = 3x fwd)."""
    total = sum(s for _, s in curriculum)
    out = []
    for frames, share in curriculum:
        batch = batches[frames]
        per_step = 3 * sample_gflop(frames) * batch
        out.append((frames, batch, max(1, round(budget * share / total / per_step))))
    return out


def phase_at(step: int, plan: list[tuple[int, int, int]]) -> tuple[int, int]:
    for frames, batch, steps in plan:
        if step < steps:
            return frames, batch
        step -= steps
    return plan[-1][0], plan[-1][1]


def sample_sigmas(gen: torch.Generator, size: int, dist: str) -> torch.Tensor:
    u = torch.rand(size, generator=gen)
    if dist == "uniform":
        s = u
    elif dist == "logit_normal":  # SD3's LN(0, 1), with 10 % uniform to keep mass near sigma = 1
        ln = torch.sigmoid(torch.randn(size, generator=gen))
        s = torch.where(torch.rand(size, generator=gen) < 0.1, u, ln)
    elif dist == "v5":
        shift = torch.tensor((5.0, 8.0))[torch.randint(0, 2, (size,), generator=gen)]
        shifted = shift * u / (1 + (shift - 1) * u)
        ln = torch.sigmoid(torch.randn(size, generator=gen))
        pick = torch.randint(0, 3, (size,), generator=gen)
        s = torch.where(pick == 0, shifted, torch.where(pick == 1, u, ln))
    else:
        raise ValueError(dist)
    return s.clamp(1e-3, 1.0)


def lr_at(step: int, steps: int, peak: float, warmup: int, decay_share: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    start = steps * (1 - decay_share)
    if step < start:
        return peak
    progress = min((step - start) / max(steps - start, 1), 1.0)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-gflop", type=float, default=300000.0, help="total training compute (3x forward GFLOP)")
    parser.add_argument("--curriculum", default="1:0.5,5:0.3,13:0.2")
    parser.add_argument("--batch", default="1:32,5:8,13:2")
    parser.add_argument("--init", default="adaln_zero", choices=("adaln_zero", "wan"))
    parser.add_argument("--t-dist", default="logit_normal", choices=("logit_normal", "uniform", "v5"))
    parser.add_argument("--bank", type=int, default=1)
    parser.add_argument("--object-scale", type=float, default=1.4)
    parser.add_argument("--texture", default="on", choices=("on", "off"))
    parser.add_argument("--material", default="on", choices=("on", "off"))
    parser.add_argument("--material-grain", type=float, default=0.05,
                        help="pixel std of per-frame grain in the material plane only (invisible in RGB; data_checks.md)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--decay", type=float, default=0.1, help="share of the steps over which the lr decays at the end")
    parser.add_argument("--ema-share", type=float, default=0.04, help="EMA half-life as a share of all steps")
    parser.add_argument("--uncond", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop (saving everything) after this long in this call")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--extend-gflop", type=float, default=0.0,
                        help="with --resume: append this much budget (GFLOP) to the plan, in --extend-curriculum's phases")
    parser.add_argument("--extend-curriculum", default="5:0.15,13:0.85")
    parser.add_argument("--extend-batch", default="1:32,5:8,13:2")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    state_path, ckpt_path = out / STATE, out / CHECKPOINT
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if args.resume and (out / "settings.json").exists():  # the schedule is the original run's
        saved = json.loads((out / "settings.json").read_text())
        keep = {"threads", "device", "max_minutes", "resume", "save_every", "out",
                "extend_gflop", "extend_curriculum", "extend_batch"}
        settings = {k: (settings[k] if k in keep else saved.get(k, settings[k])) for k in settings}
        for k, v in settings.items():
            if k != "out":
                setattr(args, k.replace("-", "_"), v)
        if args.extend_gflop > 0:
            saved.setdefault("extensions", []).append(
                {"gflop": args.extend_gflop, "curriculum": args.extend_curriculum, "batch": args.extend_batch})
            (out / "settings.json").write_text(json.dumps(saved, indent=1))
        settings["extensions"] = saved.get("extensions", [])
    else:
        if args.extend_gflop > 0:
            raise SystemExit("--extend-gflop needs --resume (it appends to a started run's plan)")
        (out / "settings.json").write_text(json.dumps(settings, indent=1))
    options = WorldOptions(texture=args.texture == "on", material=args.material == "on", object_scale=args.object_scale,
                           material_grain=args.material_grain)
    plan = phases(args.budget_gflop, parse_pairs(args.curriculum, float), dict(parse_pairs(args.batch, int)))
    for extension in settings.get("extensions", []):
        plan += phases(extension["gflop"], parse_pairs(extension["curriculum"], float),
                       dict(parse_pairs(extension["batch"], int)))
    total_steps = sum(s for *_, s in plan)
    ema_decay = 0.5 ** (1.0 / max(args.ema_share * total_steps, 1.0))

    model = build_v6(args.init, seed=args.seed)
    proxy_model.keep_time_embedding_smooth(model)
    ema = copy.deepcopy(model).requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    rng, gen = random.Random(args.seed), torch.Generator().manual_seed(args.seed)
    losses: list[float] = []
    start_step, seconds_before = 0, 0.0
    compact_path = out / COMPACT
    exact = args.resume and state_path.exists()
    compact = args.resume and not exact and compact_path.exists() and ckpt_path.exists()
    resumed = exact or compact
    if exact:
        start_step, losses, seconds_before = load_state(state_path, model, ema, opt, rng, gen)
    elif compact:  # a new machine: the committed state (fresh AdamW moments, lr re-warmed)
        start_step, losses, seconds_before = load_compact(compact_path, ckpt_path, model, ema, rng, gen)
    elif args.resume and (out / "train_log.txt").exists():  # a started run without its state: say so
        raise SystemExit(f"--resume: neither {state_path} nor {compact_path} with {ckpt_path} exists")
    model.to(device)
    ema.to(device)
    log_file = (out / "train_log.txt").open("a" if resumed else "w")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    if resumed:
        source = STATE if exact else f"{COMPACT} (fresh AdamW moments, lr re-warmed over {REWARM} steps)"
        log(f"# resumed from {source} at step {start_step} ({seconds_before / 60:.1f} min before)")
        if args.extend_gflop > 0:
            log(f"# extended by {args.extend_gflop:.0f} GFLOP ({args.extend_curriculum}, batch {args.extend_batch}): "
                f"plan {plan}; {total_steps} steps; EMA decay {ema_decay:.5f}")
    else:
        log(f"# proxy v6 training  torch {torch.__version__}  settings {json.dumps(settings)}")
        log(f"# plan (frames, batch, steps): {plan}; {total_steps} steps; EMA decay {ema_decay:.5f}")
        log(f"# parameters {sum(p.numel() for p in params) / 1e6:.2f} M; latent at inference (16, {FRAMES}, {LATENT_H}, {LATENT_W})")
        log("step,frames,samples,gflop,loss,loss_avg50,lr,seconds,bank_entropy")

    def cumulative(step: int) -> tuple[int, float]:
        samples, gflop = 0, 0.0
        for frames, batch, steps in plan:
            n = min(step, steps)
            samples += n * batch
            gflop += n * batch * 3 * sample_gflop(frames)
            step -= n
            if step <= 0:
                break
        return samples, gflop

    def save(step: int, seconds: float) -> None:
        save_state(state_path, model, ema, opt, step, losses, rng, gen, seconds)
        save_compact(compact_path, model, step, losses, rng, gen, seconds)
        samples, gflop = cumulative(step)
        training = dict(settings, steps_done=step, samples=samples, gflop=round(gflop))
        meta = {"semcache_proxy": json.dumps({"config": json.dumps(proxy_model.CONFIG), "training": json.dumps(training),
                                              "seconds": f"{seconds:.0f}"}),
                "semcache.latent_shape": f"16,{FRAMES},{LATENT_H},{LATENT_W}", "semcache.text_encoder": "v6"}
        proxy_model.save_fp16(ema, ckpt_path, metadata=meta)

    started = time.perf_counter()
    step = start_step
    entropies: list[float] = []
    for step in range(start_step, total_steps):
        frames, batch_size = phase_at(step, plan)
        lr = lr_at(step, total_steps, args.lr, args.warmup, args.decay)
        if compact:
            lr *= min(1.0, (step - start_step + 1) / REWARM)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = make_batch(rng, gen, batch_size, uncond_prob=args.uncond, bank=args.bank, frames=frames, options=options)
        noise = torch.randn(batch.latents.shape, generator=gen)
        sigma = sample_sigmas(gen, batch_size, args.t_dist)
        s = sigma.view(-1, 1, 1, 1, 1)
        x_t = (1 - s) * batch.latents + s * noise
        if batch.bank is not None:
            target = posterior_velocity(x_t, sigma, batch.bank)
            sb = sigma.view(-1, 1)
            logits = -((x_t.unsqueeze(1) - (1 - sb.view(-1, 1, 1, 1, 1, 1)) * batch.bank).flatten(2).pow(2).sum(-1)) / (2 * sb**2)
            w = torch.softmax(logits.double(), dim=1)
            entropies.append(float(-(w * w.clamp_min(1e-300).log()).sum(1).mean()))
        else:
            target = noise - batch.latents
        options_t = {"optimized_attention_override": proxy_model.padded_attention_override(batch.bias.to(device))}
        pred = model(x_t.to(device), (sigma * 1000.0).to(device), batch.context.to(device), transformer_options=options_t)
        loss = torch.nn.functional.mse_loss(pred.float(), target.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.lerp_(p, 1 - decay)
        losses.append(loss.item())
        elapsed = seconds_before + time.perf_counter() - started
        if step % 10 == 9 or step == total_steps - 1:
            recent = losses[-50:]
            samples, gflop = cumulative(step + 1)
            ent = f"{sum(entropies) / len(entropies):.4f}" if entropies else ""
            entropies.clear()
            log(f"{step + 1},{frames},{samples},{gflop:.0f},{losses[-1]:.5f},{sum(recent) / len(recent):.5f},{lr:.2e},{elapsed:.1f},{ent}")
        over_time = args.max_minutes and time.perf_counter() - started > args.max_minutes * 60
        if (step + 1) % args.save_every == 0 or step == total_steps - 1 or over_time:
            save(step + 1, elapsed)
        if over_time:
            log(f"# stopped after {args.max_minutes:.0f} min (--max-minutes) at step {step + 1}; --resume continues")
            break
    elapsed = seconds_before + time.perf_counter() - started
    if step + 1 >= total_steps:
        save(total_steps, elapsed)
        samples, gflop = cumulative(total_steps)
        log(f"# done: {total_steps} steps, {samples} samples, {gflop:.0f} GFLOP in {elapsed / 60:.1f} min")
    log_file.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
