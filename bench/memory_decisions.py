"""Does the bounded token sample (issue 24) change SemCache's decisions? Skip patterns and PSNR.

The Eq. 8 samples and the probe sums keep at most `norm_token_budget` tokens (default 192);
before, every 4th token of any size. This samples the same prompts and schedules with:
  before   : norm_token_budget unlimited (every 4th token, as before the budget existed)
  default  : the default budget (on the proxy's 144 tokens the same 36 tokens: must be identical)
  budget N : a budget far below the default, so it is active on the proxy's small token count
  all      : every token (norm_stride 1), the estimator without sampling
and reports, per schedule, the skipped steps, the step pattern and the PSNR against the uncached
sample of the same seed. `--tiny` runs a random tiny Wan (4 blocks, dim 256) at 2,304 tokens
instead, where the default budget is active (192 of the 576 tokens stride 4 gave).

  .venv/bin/python bench/memory_decisions.py                 # proxy -> bench/results/memory_decisions.md
  .venv/bin/python bench/memory_decisions.py --tiny --steps 12:euler   # tiny Wan, 2,304 tokens
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness.env import PROXY_CHECKPOINT, latent_shape, load_model, setup  # noqa: E402
from harness.metrics import psnr  # noqa: E402

UNLIMITED = 2**62


def variants(budgets: list[int]) -> dict[str, dict]:
    out = {"before": dict(norm_token_budget=UNLIMITED), "default": {}}
    out.update({f"budget {b}": dict(norm_token_budget=b) for b in budgets})
    out["all"] = dict(norm_stride=1, norm_token_budget=UNLIMITED)
    return out


def proxy_runner(pack, prompts: int):
    """(name, sample(model, steps, sampler) -> latent) per prompt, on the trained proxy."""
    import comfy.sample
    from harness.prompts import NEGATIVE, PROMPTS
    from proxy.comfy_nodes.proxy_codec import raw_to_rgb
    from proxy.comfy_nodes.proxy_text import encode

    model = load_model(PROXY_CHECKPOINT)
    frames, height, width = latent_shape()
    picked = [PROMPTS[i] for i in (0, 4, 1, 5, 2, 6, 3, 7)[:prompts]]  # static, dynamic alternating

    def make(prompt):
        def run(patched, steps, sampler):
            lat = torch.zeros(1, 16, frames, height, width)
            noise = comfy.sample.prepare_noise(lat, prompt.seed)
            with torch.inference_mode():
                out = comfy.sample.sample(patched, noise, steps, 6.0, sampler, "simple", [[encode(prompt.text), {}]],
                                          [[encode(NEGATIVE), {}]], lat, seed=prompt.seed, disable_pbar=True)
                return raw_to_rgb(out)[0]  # the proxy codec's RGB in [0, 1], as the benchmark scores it
        return run

    tokens = frames * (height // 2) * (width // 2)
    return model, [(p.text, make(p)) for p in picked], tokens


def tiny_runner(seeds: int):
    """A random tiny Wan (4 blocks, dim 256, fp32) at 4 x 48 x 48 latent = 2,304 tokens."""
    import comfy.ldm.wan.model
    import comfy.ops
    import comfy.sample
    from sampling import cond
    from tiny_models import load, save_random_weights

    path = BENCH / "out" / "tiny_wan_dim256.safetensors"
    if not path.exists():
        torch.manual_seed(0)
        wan = comfy.ldm.wan.model.WanModel(model_type="t2v", dim=256, ffn_dim=512, num_heads=2, num_layers=4,
                                           in_dim=16, out_dim=16, text_dim=4096,
                                           operations=comfy.ops.disable_weight_init)
        save_random_weights(wan, path, 0, ones=lambda k, v: "norm" in k and k.endswith("weight"),
                            zeros=lambda k, v: "norm" in k and k.endswith("bias"))
    model = load(path)

    def make(seed):
        def run(patched, steps, sampler, callback=None):
            lat = torch.zeros(1, 16, 4, 48, 48)
            noise = comfy.sample.prepare_noise(lat, seed)
            with torch.inference_mode():
                return comfy.sample.sample(patched, noise, steps, 5.0, sampler, "simple", cond(seed), cond(seed + 100),
                                           lat, seed=seed, disable_pbar=True, callback=callback)
        return run

    return model, [(f"seed {s}", make(s)) for s in range(seeds)], 2304


def deviation(errors: list, reference: list, pattern: str, ref_pattern: str) -> float | None:
    """Largest relative difference of E_t from the reference run's, over the steps before the
    two step patterns first differ (after that the runs are in different states)."""
    same = next((i for i, (a, b) in enumerate(zip(pattern, ref_pattern)) if a != b), len(pattern))
    pairs = [(e, r) for e, r in zip(errors[:same], reference[:same]) if e is not None and r]
    return max((abs(e - r) / abs(r) for e, r in pairs), default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="random tiny Wan at 2,304 tokens instead of the proxy")
    parser.add_argument("--prompts", type=int, default=4, help="proxy prompts (or tiny seeds)")
    parser.add_argument("--steps", default="30:uni_pc,20:euler", help="schedules steps:sampler, comma-separated")
    parser.add_argument("--budgets", default="16,8", help="active budgets to add (tokens)")
    parser.add_argument("--threshold", type=float, default=None, help="threshold_scale (default 0.2; tiny: 1.0)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    pack = setup(threads=1)
    from importlib import import_module

    glue = import_module(f"{pack.__name__}.semcache_core.comfy_glue")
    config = import_module(f"{pack.__name__}.semcache_core.config")
    model, cases, tokens = tiny_runner(args.prompts) if args.tiny else proxy_runner(pack, args.prompts)
    threshold = args.threshold if args.threshold is not None else (1.0 if args.tiny else 0.2)
    budgets = [int(b) for b in args.budgets.split(",") if b]
    schedules = [(int(s.split(":")[0]), s.split(":")[1]) for s in args.steps.split(",")]
    started = time.time()
    rows = []
    for steps, sampler in schedules:
        for name, run in cases:
            ref = run(model, steps, sampler).float()
            for label, settings in variants(budgets).items():
                patched = glue.patch_model(model, config.SemCacheConfig(threshold_scale=threshold, **settings))
                out = run(patched, steps, sampler).float()
                stats = glue.latest_stats(patched)
                pattern = "".join("." if r.decision == "skipped" else "C" for r in stats.records)
                errors = [r.error for r in stats.records]
                rows.append(dict(schedule=f"{steps} {sampler}", case=name, variant=label, skipped=stats.skipped,
                                 pattern=pattern, psnr=psnr(out, ref), cache_mib=stats.cache_bytes / 2**20,
                                 e_dev=0.0, errors=errors))
                first = next(r for r in rows if r["schedule"] == rows[-1]["schedule"] and r["case"] == name)
                rows[-1]["e_dev"] = deviation(errors, first["errors"], pattern, first["pattern"])  # vs "before"
                print({k: v for k, v in rows[-1].items() if k != "errors"}, flush=True)
    what = "random tiny Wan (4 blocks, dim 256, fp32)" if args.tiny else f"proxy `{PROXY_CHECKPOINT.name}`"
    lines = ["# Bounded token sample: decisions before/after (issue 24)", "",
             f"`bench/memory_decisions.py{' --tiny' if args.tiny else ''}` in {(time.time() - started) / 60:.1f} min, "
             f"{what}, {tokens} tokens, threshold_scale {threshold}, cfg batched, 1 thread. PSNR (proxy: decoded RGB; "
             "tiny: the latent, peak 1) against the uncached sample of the same seed and schedule (dB); `.` skipped step, `C` computed.", "",
             "*E_t dev*: the largest relative difference of the error estimate E_t from the `before` run's, "
             "over the steps before their patterns first differ.", "",
             "| schedule | case | variant | skipped | PSNR | E_t dev | pattern |", "|---|---|---|---:|---:|---:|---|"]
    lines += [f"| {r['schedule']} | {r['case']} | {r['variant']} | {r['skipped']} | {r['psnr']:.2f} | "
              f"{'-' if r['e_dev'] is None else format(100 * r['e_dev'], '.2f') + '%'} | `{r['pattern']}` |"
              for r in rows]
    lines += ["", "Means per schedule and variant:", "", "| schedule | variant | mean skipped | mean PSNR |",
              "|---|---|---:|---:|"]
    for steps, sampler in schedules:
        for label in variants(budgets):
            sel = [r for r in rows if r["schedule"] == f"{steps} {sampler}" and r["variant"] == label]
            lines.append(f"| {steps} {sampler} | {label} | {sum(r['skipped'] for r in sel) / len(sel):.2f} | "
                         f"{sum(r['psnr'] for r in sel) / len(sel):.2f} |")
    out = args.out or BENCH / "results" / ("memory_decisions_tiny.md" if args.tiny else "memory_decisions.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
