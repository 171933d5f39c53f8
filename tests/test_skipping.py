"""Real skipping, verified by counting real block executions (not by reading our stats)."""

from __future__ import annotations

import pytest
import torch

from sampling import BlockCounter, latent, sample
from test_exactness import patched, stats

STEPS = 30
LAT = (1, 16, 3, 8, 8)


def computed_steps_from_blocks(counter: BlockCounter) -> list[int]:
    return [i for i, n in enumerate(counter.per_step) if n > 0]


def test_default_settings_skip_for_real_on_30_steps(pack, wan_models):
    model = patched(pack, wan_models["t2v"])  # node defaults
    with BlockCounter(model) as counter:
        out = sample(model, latent(LAT), steps=STEPS, callback=counter.callback)
    run = stats(model)
    assert len(counter.per_step) == STEPS == len(run.records)
    counted = computed_steps_from_blocks(counter)
    reported = [r.step for r in run.records if r.decision == "computed"]
    assert counted == reported
    assert 0 < run.skipped < STEPS
    # a skipped evaluation runs no block; a computed one runs every block exactly once
    assert all(n in (0, counter.n_blocks) for n in counter.per_step)
    assert counter.calls == counter.n_blocks * len(counted)
    # the block work the stats claim matches what really ran
    assert run.estimated_speedup == pytest.approx(STEPS / len(counted))
    base = sample(wan_models["t2v"], latent(LAT), steps=STEPS)
    assert torch.isfinite(out).all() and not torch.equal(out, base)


def test_higher_threshold_skips_more(pack, wan_models):
    skipped = []
    for scale in (0.05, 1.0, 4.0):
        model = patched(pack, wan_models["t2v"], threshold_scale=scale, max_skip_steps=100)
        with BlockCounter(model) as counter:
            sample(model, latent(LAT), steps=STEPS, callback=counter.callback)
        skipped.append(counter.per_step.count(0))
    assert skipped[0] <= skipped[1] <= skipped[2] and skipped[0] < skipped[2]


def test_cache_device_cpu_gives_the_same_output(pack, wan_models):
    a = patched(pack, wan_models["t2v"], threshold_scale=2.0)
    b = patched(pack, wan_models["t2v"], threshold_scale=2.0, cache_device="cpu")
    out_a = sample(a, latent(LAT), steps=STEPS)
    out_b = sample(b, latent(LAT), steps=STEPS)
    assert stats(a).skipped > 0
    assert torch.equal(out_a, out_b)


@pytest.mark.parametrize("cache_device", ["model_device", "cpu"])
def test_residuals_live_on_the_requested_device(pack, wan_models, cache_device):
    """Found mid-run among the tensors the live run state holds (one residual per CFG stream)."""
    from cache_device_run import residual_devices

    devices, model_device = residual_devices(wan_models["t2v"], cache_device)
    expected = model_device if cache_device == "model_device" else "cpu"
    assert devices == [expected, expected]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on a GPU machine)")
def test_residuals_live_on_the_requested_device_on_cuda(wan_paths):
    """The same in a fresh process that lets ComfyUI use the GPU: model_device keeps residuals in
    GPU memory, cpu moves them to system RAM."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    done = subprocess.run([sys.executable, str(here / "cache_device_run.py"), str(wan_paths["t2v"])],
                          cwd=here, capture_output=True, text=True, timeout=600, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["model"].startswith("cuda"), found
    assert found["model_device"] == [found["model"]] * 2 and found["cpu"] == ["cpu"] * 2, found


def test_summary_line_is_logged(pack, wan_models, caplog):
    model = patched(pack, wan_models["t2v"], threshold_scale=2.0)
    with caplog.at_level("INFO", logger="SemCache"):
        sample(model, latent(LAT), steps=STEPS)
    lines = [r.getMessage() for r in caplog.records if r.name == "SemCache"]
    run = stats(model)
    assert any(f"computed {run.computed}, skipped {run.skipped}" in line for line in lines), lines
