"""Demo: the same tiny-Wan workflow on a real headless ComfyUI, uncached and with SemCache.

Starts ComfyUI (tests/server_harness.py) with this pack in custom_nodes/, builds a tiny random
Wan 2.1 T2V checkpoint, and queues two prompts with the same seed over HTTP:
  1. UNETLoader -> KSampler -> SaveLatent                                (uncached)
  2. UNETLoader -> SemCache Patch Model -> KSampler -> Cache Stats -> SaveLatent (+ SaveImage of the plot)
It prints the Cache Stats report, the wall times and the largest difference between the two
latents, and copies the latents, the timeline plot, the report, a JSON summary and the server log
to out/demo/ (git-ignored).

The model is tiny and random, so the timings show the mechanism and its overhead, not the speedup
a real Wan model gets (there the skipped block work dominates); see README "Results".
Run it through scripts/demo.sh, or `.venv/bin/python bench/demo_tiny.py --help`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the server harness; the repo root itself never goes on sys.path

from server_harness import ComfyServer, output_files, parse_summary, prepare_base_dir, stats_text, wan_t2v_graph  # noqa: E402

OUT = REPO / "out" / "demo"


def execution_seconds(entry: dict) -> float | None:
    """Server-side execution time of a prompt, from its history status messages."""
    stamps = {name: data.get("timestamp") for name, data in entry["status"].get("messages", [])}
    if stamps.get("execution_start") is None or stamps.get("execution_success") is None:
        return None
    return (stamps["execution_success"] - stamps["execution_start"]) / 1000.0


def load_latent(path: Path):
    from safetensors.torch import load_file

    return load_file(str(path))["latent_tensor"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--length", type=int, default=9, help="frames (latent frames = (length - 1) // 4 + 1)")
    parser.add_argument("--threshold-scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server (0 = torch default)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shape = dict(width=args.width, height=args.height, length=args.length, steps=args.steps)
    # The ComfyUI base directory is temporary: its custom_nodes/semcache links back to this repo,
    # and a link inside the repo would send directory walkers (pytest collection) round in circles.
    with tempfile.TemporaryDirectory(prefix="semcache_demo_") as tmp:
        t0 = time.monotonic()
        base = prepare_base_dir(Path(tmp))
        print(f"[demo] ComfyUI base directory: {base} (tiny Wan T2V built in {time.monotonic() - t0:.1f} s)")
        with ComfyServer(base, threads=args.threads or None) as server:
            print(f"[demo] headless ComfyUI up at {server.url} in {server.startup_seconds:.1f} s")
            # Warm-up (loads the model once, so neither timed run pays for it): another seed, 2 steps.
            warmup = {**shape, "steps": 2}
            server.run(wan_t2v_graph(seed=args.seed + 1000, cached=False, prefix="warmup", **warmup))
            plain, plain_wall = server.run(wan_t2v_graph(seed=args.seed, cached=False, prefix="uncached", **shape))
            cached, cached_wall = server.run(
                wan_t2v_graph(
                    seed=args.seed,
                    cached=True,
                    prefix="semcache",
                    semcache={"threshold_scale": args.threshold_scale},
                    save_plot=True,
                    **shape,
                )
            )
        files = {
            "uncached_latent": (output_files(server, plain, "7", "latents")[0], out / "uncached.latent"),
            "semcache_latent": (output_files(server, cached, "7", "latents")[0], out / "semcache.latent"),
            "timeline_plot": (output_files(server, cached, "9", "images")[0], out / "timeline.png"),
            "server_log": (server.log_path, out / "server.log"),
        }
        for source, target in files.values():
            shutil.copyfile(source, target)
    files = {name: target for name, (_, target) in files.items()}

    report = stats_text(cached)
    reference, result = load_latent(files["uncached_latent"]), load_latent(files["semcache_latent"])
    max_abs = float((reference - result).abs().max())
    scale = float(reference.abs().max())
    summary = parse_summary(report.splitlines()[0]) or {}
    timings = {
        "server_start_s": round(server.startup_seconds, 2),
        "uncached_wall_s": round(plain_wall, 3),
        "semcache_wall_s": round(cached_wall, 3),
        "uncached_exec_s": execution_seconds(plain),
        "semcache_exec_s": execution_seconds(cached),
    }
    files["report"], files["summary"] = out / "report.txt", out / "summary.json"
    files["report"].write_text(report + "\n")
    settings = {**shape, "seed": args.seed, "threshold_scale": args.threshold_scale, "threads": args.threads}
    result_json = {
        "settings": settings,
        "stats": summary,
        "timings": timings,
        "latent_shape": list(reference.shape),
        "max_abs_diff": max_abs,
        "max_abs_uncached": scale,
        "files": {name: str(path) for name, path in files.items()},
    }
    files["summary"].write_text(json.dumps(result_json, indent=2) + "\n")

    print("\n===== Cache Stats report =====")
    print(report)
    print("==============================\n")
    log_lines = [line for line in files["server_log"].read_text().splitlines() if line.startswith("SemCache [")]
    print(f"[demo] server log summary line: {log_lines[-1] if log_lines else '(missing!)'}")
    print(f"[demo] latent shape {tuple(reference.shape)}, seed {args.seed}, {args.steps} steps, cfg 5, euler/simple")
    print(f"[demo] wall time, uncached : {plain_wall:.2f} s (server execution {timings['uncached_exec_s']} s)")
    print(f"[demo] wall time, SemCache : {cached_wall:.2f} s (server execution {timings['semcache_exec_s']} s)")
    print(
        f"[demo] max |uncached - SemCache| = {max_abs:.4g} (max |uncached| = {scale:.4g}); "
        "the tiny model is random, so this says nothing about visual quality"
    )
    print(f"[demo] outputs in {out}:")
    for name, path in files.items():
        print(f"         {name:<16} {path}")
    if not summary or summary.get("computed", 0) + summary.get("skipped", 0) != args.steps:
        print("[demo] FAILED: the Cache Stats report does not account for every step", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
