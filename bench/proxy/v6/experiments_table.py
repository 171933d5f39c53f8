"""The results table of experiments.md, from experiments/*/{settings.json,train_log.txt,eval.json}.

  .venv/bin/python bench/proxy/v6/experiments_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["base", "no_curriculum", "wan_init", "uniform_t", "small_objects", "no_texture"]
WHAT = {
    "base": "1-frame curriculum 1:0.6,5:0.25,13:0.15; adaLN-Zero; logit-normal t; object scale 1.4; texture on",
    "no_curriculum": "base, but 13 frames only (no curriculum)",
    "wan_init": "base, but v5's (Wan) init instead of adaLN-Zero",
    "uniform_t": "base, but uniform t",
    "small_objects": "base, but object scale 1.0 (v5's sizes)",
    "no_texture": "base, but texture off (material plane kept)",
}


def row(name: str) -> str | None:
    run = HERE / "experiments" / name
    if not (run / "eval.json").exists():
        return None
    ev = json.loads((run / "eval.json").read_text())
    log = [line for line in (run / "train_log.txt").read_text().splitlines() if line[:1].isdigit()]
    last = log[-1].split(",")
    step, samples, gflop, avg, seconds = last[0], last[2], last[3], last[5], float(last[7])
    first = ev["prompts"][0]
    checks = f"vis {first['visible']:.0%}, net {first['net'][0]:+.1f},{first['net'][1]:+.1f}, " + (
        "moves" if first.get("moves_as_named") else "no")
    val = ev["val_loss"]
    vals = " / ".join(f"{val[k]:.3f}" for k in ("0.9", "0.6", "0.3", "0.1"))
    return (f"| {name} | {WHAT[name]} | {step} | {samples} | {gflop} | {seconds / 60:.1f} | {avg} | {vals} | "
            f"{checks} | {first['final_ratio']:.3f} | {ev['last5'][-1]:.3f} | {ev['velocity_last5'][-1]:.3f} | "
            f"{ev['predicted_last5'][-1]:.3f} | {ev['pearson']:.2f} | {ev['smoothness']:.4f} |")


def main() -> int:
    print("| run | setting | steps | samples | GFLOP | train min (wall) | train loss (avg 50) | val loss at σ 0.9 / 0.6 / 0.3 / 0.1 "
          "| object check, prompt 1 (red car → right) | final ratio, prompt 1 | final ratio, mean | output-velocity final ratio "
          "| predicted final ratio | Pearson | smoothness |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for name in ORDER:
        r = row(name)
        if r:
            print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
