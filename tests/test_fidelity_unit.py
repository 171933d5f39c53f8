"""The proxy-fidelity statistics (bench/proxy_fidelity), on hand-computed and published values."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from proxy_fidelity import trajectory  # noqa: E402


def test_magnitude_ratio_and_relative_change_by_hand():
    r0 = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # token norms 5 and 1
    r1 = torch.tensor([[6.0, 8.0], [0.0, 0.5]])  # token norms 10 and 0.5
    assert trajectory.magnitude_ratios([r0, r1]) == [(2.0 + 0.5) / 2]
    # mean |r1 - r0| = (3 + 4 + 0 + 0.5) / 4, mean |r0| = (3 + 4 + 0 + 1) / 4
    assert math.isclose(trajectory.relative_changes([r0, r1])[0], 7.5 / 8.0)


def test_published_curve_statistics_match_the_reference_description():
    data = json.loads((BENCH / "data" / "real_wan_magcache_ratios.json").read_text())
    cond = data["curves"]["wan2.1_t2v_1.3B"]["cond"]
    assert len(cond) == 49 and cond[0] == 1.0124 and cond[-1] == 0.81838
    assert abs(trajectory.smoothness(cond) - 0.0023) < 1e-4 and abs(trajectory.smoothness(cond, tail=0) - 0.009) < 5e-4
    assert "Zehong-Ma/ComfyUI-MagCache" in data["source"]


def test_pearson_smoothness_and_resampling():
    assert math.isclose(trajectory.pearson([1, 2, 3], [2, 4, 6]), 1.0)
    assert math.isclose(trajectory.pearson([1, 2, 3], [3, 2, 1]), -1.0)
    assert trajectory.resample([0.0, 1.0], 3) == [0.0, 0.5, 1.0]
    assert trajectory.smoothness([1.0, 1.0, 1.0, 5.0], tail=1) == 0.0  # the jump is in the tail
    assert trajectory.late_mean([10.0, 1.0, 1.0, 1.0], total_steps=20) == 1.0  # steps >= 2 kept
    # spread: std across prompts per step (population std), max over the first 90 % of steps;
    # the diverging last step of 10 is left out
    curves = [[1.0] * 9 + [5.0], [1.0, 1.02] + [1.0] * 7 + [0.0]]
    assert math.isclose(trajectory.spread(curves), 0.01) and trajectory.spread(curves[:1]) == 0.0


def test_residual_trace_records_each_stream_of_every_real_evaluation(wan_models):
    """The fidelity probe on a tiny Wan through comfy.sample: one residual per stream per step,
    equal to what the block stack really added (checked against a manual forward)."""
    from proxy_fidelity.probe import with_residual_trace
    from sampling import BlockCounter, cond, latent, sample

    model = wan_models["t2v"]
    traced, trace = with_residual_trace(model)
    with BlockCounter(traced) as counter:
        sample(traced, latent((1, 16, 2, 4, 4)), steps=4, cfg=5.0, positive=cond(1), negative=cond(2),
               callback=counter.callback)
    assert counter.per_step == [counter.n_blocks] * 4 and counter.rows == 2 * counter.calls  # cond+uncond batched
    assert len(trace.cond) == len(trace.uncond) == len(trace.sigmas) == 4
    assert trace.sigmas == sorted(trace.sigmas, reverse=True)
    assert all(r.shape == trace.cond[0].shape and r.abs().sum() > 0 for r in trace.cond + trace.uncond)
    assert not torch.equal(trace.cond[0], trace.uncond[0])  # the streams are told apart
    assert model.model_options.get("transformer_options", {}).get("patches_replace") in (None, {})  # input untouched
