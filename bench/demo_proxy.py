"""Demo: the proxy Wan demo workflow on a real headless ComfyUI, uncached and with SemCache.

Starts ComfyUI (tests/server_harness.py, 127.0.0.1 only) with this pack and the proxy model's
nodes (bench/proxy/comfy_nodes) in custom_nodes/ and the trained proxy Wan checkpoint
(bench/proxy/semcache_proxy_wan.safetensors) in models/diffusion_models/. Then it queues the
workflow a user opens in the editor, workflows/semcache_proxy_wan_demo.json, converted to API
format from its own links and widget values (bench/demo/workflow_api.py), twice with the same seed:
  1. uncached: the SemCache nodes bypassed (SemCache Patch Model, TMM Frame Selector, Cache Stats),
     exactly what Ctrl+B on them does in the editor;
  2. SemCache: the workflow as saved (its SemCache settings are the ones stored in the file).
Both runs also save the sampled latent (a SaveLatent tap on the decoder's input), from which the
demo decodes the RGB clips with the proxy's exact codec.

Writes to out/demo/ (git-ignored): side_by_side.gif and .webp (uncached | SemCache | 4x abs
difference), cache_stats.png (the Cache Stats timeline plot), the two clips as the workflow's
animated WEBPs, report.txt, summary.json and the server log. Prints the wall-time speedup
(uncached / SemCache), the Cache Stats estimated speedup and the PSNR of the SemCache clip
against the uncached one. Run it through scripts/demo.sh, or `.venv/bin/python bench/demo_proxy.py --help`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the server harness; the repo root itself never goes on sys.path
sys.path.insert(0, str(REPO / "bench"))  # bench/demo helpers

from demo.preview import side_by_side_frames, write_animation  # noqa: E402
from demo.workflow_api import ui_to_api  # noqa: E402
from harness.metrics import psnr  # noqa: E402  (the engine's metric, as the benchmark and Compare Videos)
from server_harness import (  # noqa: E402
    PROXY_CHECKPOINT_NAME,
    ComfyServer,
    install_proxy_nodes,
    output_files,
    prepare_base_dir,
    stats_text,
)

OUT = REPO / "out" / "demo"
WORKFLOW = REPO / "workflows" / "semcache_proxy_wan_demo.json"
CHECKPOINT = REPO / "bench" / "proxy" / PROXY_CHECKPOINT_NAME
CODEC = REPO / "bench" / "proxy" / "comfy_nodes" / "proxy_codec.py"
SEMCACHE_TYPES = frozenset({"SemCachePatchModel", "TMMFrameSelector", "SemCacheStats"})
TAP_ID = "900"  # the demo's SaveLatent tap (not in the workflow file)
SUMMARY_RE = re.compile(
    r"steps (?P<steps>\d+): computed (?P<computed>\d+)(?: \((?P<partial>\d+) partial\))?, "
    r"skipped (?P<skipped>\d+) \(estimated (?P<estimated>[0-9.]+)x"
)


def execution_seconds(entry: dict) -> float | None:
    """Server-side execution time of a prompt, from its history status messages."""
    stamps = {name: data.get("timestamp") for name, data in entry["status"].get("messages", [])}
    if stamps.get("execution_start") is None or stamps.get("execution_success") is None:
        return None
    return (stamps["execution_success"] - stamps["execution_start"]) / 1000.0


def node_of(graph: dict, class_type: str) -> str:
    found = [node_id for node_id, node in graph.items() if node["class_type"] == class_type]
    if len(found) != 1:
        raise RuntimeError(f"expected one {class_type} node in the demo workflow, found {len(found)}")
    return found[0]


def build_graph(
    workflow: dict, object_info: dict, cached: bool, seed: int, steps: int | None, prefix: str, tmm: bool = True
) -> dict:
    bypass = (frozenset() if tmm else frozenset({"TMMFrameSelector"})) if cached else SEMCACHE_TYPES
    graph = ui_to_api(workflow, object_info, bypass=bypass)
    sampler = graph[node_of(graph, "KSampler")]["inputs"]
    sampler["seed"] = seed
    if steps is not None:
        sampler["steps"] = steps
    for node in graph.values():  # keep the two runs' files apart
        if "filename_prefix" in node["inputs"]:
            node["inputs"]["filename_prefix"] = f"{prefix}/{node['inputs']['filename_prefix']}"
    decoder = graph[node_of(graph, "SemCacheProxyDecode")]["inputs"]["samples"]
    graph[TAP_ID] = {"class_type": "SaveLatent", "inputs": {"samples": decoder, "filename_prefix": f"{prefix}/latent"}}
    return graph


def semcache_settings(workflow_graph: dict, object_info: dict) -> tuple[dict, dict]:
    """(settings the workflow runs SemCache with, node defaults from /object_info that differ)."""
    inputs = workflow_graph[node_of(workflow_graph, "SemCachePatchModel")]["inputs"]
    info = object_info["SemCachePatchModel"]["input"]
    defaults = {}
    for section in ("required", "optional"):
        for name, spec in info.get(section, {}).items():
            if len(spec) > 1 and isinstance(spec[1], dict) and "default" in spec[1]:
                defaults[name] = spec[1]["default"]
    settings = {k: v for k, v in inputs.items() if not isinstance(v, list)}
    differ = {k: defaults[k] for k, v in settings.items() if k in defaults and defaults[k] != v}
    return settings, differ


def load_codec():
    from comfy_env import bootstrap

    bootstrap()  # raw_to_rgb uses comfy.latent_formats (Wan 2.1's latent normalisation)
    spec = importlib.util.spec_from_file_location("semcache_proxy_codec", CODEC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode_clip(codec, path: Path):
    """A saved latent -> (T, H, W, 3) float RGB in [0, 1] (torch) via the proxy's exact codec."""
    from safetensors.torch import load_file

    latent = load_file(str(path))["latent_tensor"]
    rgb = codec.raw_to_rgb(latent)  # (B, 3, T, H, W)
    return rgb[0].permute(1, 2, 3, 0).double()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", type=Path, default=WORKFLOW, help="UI-format workflow (default: the demo's)")
    parser.add_argument("--seed", type=int, default=None, help="sampler seed (default: the workflow's)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the workflow's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server (0 = torch default)")
    parser.add_argument("--no-tmm", action="store_true", help="bypass the workflow's TMM Frame Selector (PSA only)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    if not CHECKPOINT.is_file():
        print(f"[demo] FAILED: no proxy checkpoint at {CHECKPOINT} (train it: bench/proxy/train.py)", file=sys.stderr)
        return 1
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    workflow = json.loads(args.workflow.read_text())
    started = time.monotonic()
    # The ComfyUI base directory is temporary: its custom_nodes/ links back into this repo, and a
    # link inside the repo would send directory walkers (pytest collection) round in circles.
    with tempfile.TemporaryDirectory(prefix="semcache_demo_") as tmp:
        base = prepare_base_dir(Path(tmp), build_model=False)
        install_proxy_nodes(base)
        models = base / "models" / "diffusion_models"
        (models / PROXY_CHECKPOINT_NAME).symlink_to(CHECKPOINT)
        with ComfyServer(base, threads=args.threads or None) as server:
            print(f"[demo] headless ComfyUI up at {server.url} in {server.startup_seconds:.1f} s")
            object_info = server.get("/object_info", timeout=30.0)
            saved = ui_to_api(workflow, object_info)
            sampler = saved[node_of(saved, "KSampler")]["inputs"]
            seed = sampler["seed"] if args.seed is None else args.seed
            steps = sampler["steps"] if args.steps is None else args.steps
            settings, differ = semcache_settings(saved, object_info)
            print(f"[demo] workflow {args.workflow.name}: {len(saved)} nodes to run, seed {seed}, {steps} steps, "
                  f"cfg {sampler['cfg']}, {sampler['sampler_name']}/{sampler['scheduler']}")  # fmt: skip
            print(f"[demo] SemCache settings (from the workflow): {settings}")
            if differ:
                print(f"[demo] note: the node's current defaults differ from the workflow for {differ}")
            # Warm-up (loads the model, encodes the prompts, first-call costs) with another seed and
            # few steps, on both paths, so neither timed run pays for them.
            for cached in (False, True):
                server.run(
                    build_graph(workflow, object_info, cached, seed + 1000, 3, "warmup", not args.no_tmm), timeout=300
                )
            runs = {}
            for name, cached in (("uncached", False), ("semcache", True)):
                graph = build_graph(workflow, object_info, cached, seed, steps, name, not args.no_tmm)
                entry, wall = server.run(graph, timeout=600)
                runs[name] = (graph, entry, wall)
                print(f"[demo] {name:<8} run: {wall:.2f} s wall")
        _, cached_entry, _ = runs["semcache"]
        cached_graph = runs["semcache"][0]
        stats_id = node_of(cached_graph, "SemCacheStats")
        plot_id = next(  # the image node showing the stats plot (PreviewImage in the workflow)
            node_id for node_id, node in cached_graph.items()
            if node["inputs"].get("images") == [stats_id, 2]
        )  # fmt: skip
        webp_id = node_of(cached_graph, "SaveAnimatedWEBP")
        files = {}
        for name, (graph, entry, _) in runs.items():
            files[f"{name}_latent"] = (output_files(server, entry, TAP_ID, "latents")[0], out / f"{name}.latent")
            files[f"{name}_webp"] = (output_files(server, entry, webp_id, "images")[0], out / f"{name}.webp")
        files["cache_stats_plot"] = (output_files(server, cached_entry, plot_id, "images")[0], out / "cache_stats.png")
        files["server_log"] = (server.log_path, out / "server.log")
        for source, target in files.values():
            shutil.copyfile(source, target)
    files = {name: target for name, (_, target) in files.items()}

    report = stats_text(cached_entry, stats_id)
    codec = load_codec()
    reference = decode_clip(codec, files["uncached_latent"])
    result = decode_clip(codec, files["semcache_latent"])
    clip_psnr = psnr(result, reference)
    difference = ((result - reference).abs() * 4.0).clamp(0.0, 1.0)
    frames = side_by_side_frames(
        [reference.numpy(), result.numpy(), difference.numpy()], ["uncached", "SemCache", "4x |diff|"]
    )
    files["side_by_side_gif"] = write_animation(frames, out / "side_by_side.gif")
    files["side_by_side_webp"] = write_animation(frames, out / "side_by_side.webp")
    frames[len(frames) // 2].save(out / "side_by_side_frame.png")
    files["side_by_side_frame"] = out / "side_by_side_frame.png"

    match = SUMMARY_RE.search(report.splitlines()[0])
    summary = {k: float(v) if k == "estimated" else int(v or 0) for k, v in match.groupdict().items()} if match else {}
    estimated = summary.get("estimated")
    walls = {name: wall for name, (_, _, wall) in runs.items()}
    execs = {name: execution_seconds(entry) for name, (_, entry, _) in runs.items()}
    wall_speedup = walls["uncached"] / walls["semcache"]
    exec_speedup = execs["uncached"] / execs["semcache"] if execs["uncached"] and execs["semcache"] else None
    total = time.monotonic() - started

    files["report"], files["summary"] = out / "report.txt", out / "summary.json"
    files["report"].write_text(report + "\n")
    files["summary"].write_text(
        json.dumps(
            {
                "workflow": str(args.workflow),
                "seed": seed,
                "steps": steps,
                "semcache_settings": settings,
                "tmm": not args.no_tmm,
                "node_defaults_differing": differ,
                "stats": summary,
                "estimated_speedup": estimated,
                "wall_s": walls,
                "server_exec_s": execs,
                "wall_speedup": wall_speedup,
                "server_exec_speedup": exec_speedup,
                "psnr_db": clip_psnr,
                "clip_shape_thwc": list(reference.shape),
                "demo_seconds": total,
                "files": {name: str(path) for name, path in files.items()},
            },
            indent=2,
        )
        + "\n"
    )

    print("\n===== Cache Stats report =====")
    print(report)
    print("==============================\n")
    exec_txt = f"{exec_speedup:.2f}x" if exec_speedup else "n/a"
    print(f"[demo] wall time: uncached {walls['uncached']:.2f} s, SemCache {walls['semcache']:.2f} s")
    print(f"[demo] speedup (wall, uncached / SemCache): {wall_speedup:.2f}x  (server execution: {exec_txt})")
    print(f"[demo] speedup (Cache Stats estimate, block work): {estimated:.2f}x" if estimated else
          "[demo] speedup (Cache Stats estimate): n/a")  # fmt: skip
    print(f"[demo] PSNR of the SemCache clip vs the uncached clip (same seed, RGB): {clip_psnr:.2f} dB")
    print("[demo] note: the proxy is tiny, so ComfyUI's per-step overhead is a large part of its wall time;")
    print("       at real Wan scale the block work (the Cache Stats estimate) dominates a step.")
    print(f"[demo] outputs in {out}:")
    for name, path in files.items():
        print(f"         {name:<20} {path}")
    print(f"[demo] done in {total:.1f} s")
    if not summary or summary.get("computed", 0) + summary.get("skipped", 0) != steps:
        print("[demo] FAILED: the Cache Stats report does not account for every step", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
