"""Cheap fidelity checks of a v6 checkpoint for the recipe experiments (2-4 prompts, ~1 CPU-min each).

Through ComfyUI's real sampler (UNETLoader path, comfy.sample) at Wan's pipeline settings (UniPC,
50 steps, shift 5, cfg 5), with the v6 text encoding, uncached: the MagCache ratio curve of the
cond stream (hidden residual, `proxy_fidelity.probe`) and of the output velocity's norm, its
Pearson with real Wan 2.1 1.3B, smoothness, the last ratios; the named object's visibility and
centroid motion (`proxy_fidelity.objects`, as bench/fidelity.py); motion energy; the
predicted end-of-curve from the world's spectrum (`data_checks.py`); and a fixed validation loss
on 13-frame clips. Prints one JSON line and writes eval.json (+ clips.png) next to the checkpoint.

  .venv/bin/python bench/proxy/v6/quick_eval.py DIR [--prompts 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BENCH))

from harness.env import latent_shape, load_model, setup  # noqa: E402

PROMPTS = [  # (clip, seed): a directional dynamic prompt, a static one, then more
    ("red", "car", "racing", "to the right", "in the snow", 201),
    ("yellow", "cube", "resting", None, "in a coffee shop", 204),
    ("blue", "ball", "running", "downward", "in the desert", 202),
    ("red", "ball", "waiting", None, "on the grassland", 205),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a train.py --out folder")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    setup(threads=args.threads)
    import comfy.sample
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3

    from harness.metrics import motion_energy
    from proxy import model as proxy_model
    from proxy.comfy_nodes.proxy_codec import raw_to_rgb
    from proxy.v6 import data_checks
    from proxy.v6.data import clip_latents
    from proxy.v6.text import encode, short_context
    from proxy.v6.world import COLORS, DIRECTIONS, Clip, WorldOptions
    from proxy_fidelity import objects, trajectory
    from proxy_fidelity.probe import with_residual_trace

    ckpt = args.run / "semcache_proxy_wan.safetensors"
    settings = json.loads((args.run / "settings.json").read_text())
    options = WorldOptions(texture=settings["texture"] == "on", material=settings["material"] == "on",
                           object_scale=settings["object_scale"], material_grain=settings.get("material_grain", 0.0))
    patcher = load_model(ckpt)
    shape = latent_shape(ckpt)
    real = json.loads((BENCH / "data" / "real_wan_magcache_ratios.json").read_text())["curves"]["wan2.1_t2v_1.3B"]["cond"]
    result: dict = {"run": args.run.name, "prompts": []}
    curves, vel_curves, videos = [], [], []
    for color, subject, action, direction, scene, seed in PROMPTS[: args.prompts]:
        clip = Clip(color, subject, action, direction, scene, None)
        model = ModelSamplingSD3().patch(patcher, shift=5.0)[0]
        traced, trace = with_residual_trace(model)
        outputs: list[float] = []

        def wrapper(apply_model, a, outputs=outputs):
            out = apply_model(a["input"], a["timestep"], **a["c"])
            rows = out.shape[0] // max(len(a["cond_or_uncond"]), 1)
            i = a["cond_or_uncond"].index(0) * rows if 0 in a["cond_or_uncond"] else None
            if i is not None:  # velocity = (x - x0) / sigma, cond stream
                outputs.append(float(((a["input"][i] - out[i]) / a["timestep"][i]).norm()))
            return out

        traced.set_model_unet_function_wrapper(wrapper)
        lat = torch.zeros(1, 16, *shape)
        noise = comfy.sample.prepare_noise(lat, seed)
        with torch.inference_mode():
            raw = comfy.sample.sample(traced, noise, 50, 5.0, "uni_pc", "simple", [[encode(clip.prompt), {}]],
                                      [[encode(""), {}]], lat, seed=seed, disable_pbar=True)
        video = raw_to_rgb(raw)[0]
        videos.append(video)
        ratios = trajectory.magnitude_ratios(trace.cond)
        curves.append(ratios)
        vel = [b / a for a, b in zip(outputs, outputs[1:])]
        vel_curves.append(vel)
        t = objects.track(video, COLORS[color])
        entry = {"prompt": clip.prompt, "visible": round(t.visible, 2), "net": [round(v, 2) for v in t.net()],
                 "speed": round(t.speed(), 3), "energy": motion_energy(video), "final_ratio": round(ratios[-1], 4)}
        if direction:
            entry["moves_as_named"] = objects.moves_as_named(t, DIRECTIONS[direction])
        else:
            entry["stays_put"] = objects.stays_put(t)
        result["prompts"].append(entry)
        print(json.dumps(entry), flush=True)
    mean_curve = [sum(v) / len(v) for v in zip(*curves)]
    mean_vel = [sum(v) / len(v) for v in zip(*vel_curves)]
    result.update(
        pearson=round(trajectory.pearson(mean_curve, real), 3), smoothness=round(trajectory.smoothness(mean_curve), 4),
        last5=[round(v, 3) for v in mean_curve[-5:]], velocity_last5=[round(v, 3) for v in mean_vel[-5:]],
        spread=round(max(float(torch.tensor(c).std()) for c in zip(*curves)) if len(curves) > 1 else 0.0, 4),
        curve=[round(v, 4) for v in mean_curve],
    )
    dyn = [e["energy"] for e in result["prompts"] if "moves_as_named" in e]
    sta = [e["energy"] for e in result["prompts"] if "stays_put" in e]
    result["energy_dyn_over_static"] = round(sum(dyn) / len(dyn) / max(sum(sta) / len(sta), 1e-12), 2) if dyn and sta else None
    # predicted end of curve from the world's spectrum (same formula as data_checks.py)
    rng, gen = random.Random(0), torch.Generator().manual_seed(0)
    from proxy.v6.world import random_clip

    clips = [random_clip(rng) for _ in range(12)]
    lat = clip_latents([c for c in clips for _ in range(4)], 13, gen, options).unflatten(0, (12, 4))
    mu2, lam = data_checks.spectrum(lat)
    power = data_checks.predicted_power(mu2, lam, data_checks.schedule())
    result["predicted_last5"] = [round(v, 3) for v in (power[1:] / power[:-1]).sqrt()[-5:].tolist()]
    # validation loss: fixed 13-frame clips, fixed noise, sigma grid (EMA weights, fp16 -> fp32)
    from proxy.v6.model import build_v6
    from safetensors.torch import load_file

    net = build_v6("wan")
    net.load_state_dict({k: v.float() for k, v in load_file(str(ckpt)).items()})
    rng, gen = random.Random(1234), torch.Generator().manual_seed(1234)
    clips = [random_clip(rng) for _ in range(6)]
    x0 = clip_latents(clips, 13, gen, options)
    context, bias = short_context([c.prompt for c in clips])
    noise = torch.randn(x0.shape, generator=gen)
    val = {}
    with torch.no_grad():
        for s in (0.9, 0.6, 0.3, 0.1):
            x_t = (1 - s) * x0 + s * noise
            pred = net(x_t, torch.full((6,), s * 1000.0), context,
                       transformer_options={"optimized_attention_override": proxy_model.padded_attention_override(bias)})
            val[str(s)] = round(float(torch.nn.functional.mse_loss(pred, noise - x0)), 4)
    result["val_loss"] = val
    result["eval_seconds"] = round(time.perf_counter() - started, 1)
    (args.run / "eval.json").write_text(json.dumps(result, indent=1))
    try:
        from harness.plots import contact_sheet

        contact_sheet(videos, [e["prompt"] for e in result["prompts"]], args.run / "clips.png")
    except Exception as exc:  # a plot is a nicety, the numbers are the result
        print(f"[quick_eval] no contact sheet: {exc}")
    print(json.dumps({k: v for k, v in result.items() if k not in ("curve", "prompts")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
