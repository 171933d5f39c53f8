"""bench/gpu_check.sh, the prepared real-scale GPU check, runs (here at reduced size on the CPU)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_script_runs_at_reduced_size_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_TIMEOUT": "1500", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--cpu", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with (tmp_path / "gpu_check.csv").open() as f:
        values = {r["quantity"]: float(r["value"]) for r in csv.DictReader(f)}
    assert values["full_step_s"] > values["skipped_step_s"] > 0
    assert 0 < values["tmm_0.5_fraction"] and 0 < values["tmm_0.2_fraction"]
    assert values["run30_wall_speedup"] > 1.0
    text = (tmp_path / "gpu_check.md").read_text()
    assert "reduced size" in text and "SemCache-skipped step" in text and "TMM-partial step, reuse 0.5" in text
