"""target_speedup and the error check on the real sampler, verified on the real blocks.

Block work is counted by forward hooks on the model's own blocks (tests/sampling.py), the error
check's truth by hooks on the first and last block; nothing is read back from our stats to
decide whether the engine did what it says.
"""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from sampling import BlockCounter, latent, sample
from test_exactness import patched, stats
from test_limits import sigmas_of
from test_tmm import with_psa, with_tmm

LAT = (1, 16, 3, 8, 8)


def achieved(counter: BlockCounter, calls_per_step: int = 1) -> float:
    """Block work without caching / block work done, from the real block calls."""
    return counter.n_blocks * calls_per_step * len(counter.per_step) / counter.calls


def counted(model, steps: int, sampler: str = "euler", **kwargs) -> tuple[BlockCounter, torch.Tensor]:
    with BlockCounter(model) as counter:
        out = sample(model, latent(LAT), steps=steps, sampler=sampler, callback=counter.callback, **kwargs)
    return counter, out


def longest_skip_run(per_step: list[int]) -> int:
    run = longest = 0
    for n in per_step:
        run = run + 1 if n == 0 else 0
        longest = max(longest, run)
    return longest


def known_budget(steps: int, max_run: int, warmup: int = 2) -> float:
    """start_percent 0, end 1: warm-up and the last step computed, the rest free, runs of max_run."""
    free, run, skips = steps - warmup - 1, 0, 0
    for _ in range(free):
        if run < max_run:
            skips, run = skips + 1, run + 1
        else:
            run = 0
    return steps / (steps - skips)


def test_target_zero_keeps_todays_decisions_and_the_check_changes_nothing(pack, wan_models, monkeypatch):
    """target_speedup = 0: the fixed rule E_t < tau decides every free step, and the always-on error
    check only reads (the same run with the check switched off gives the same bits)."""
    import semcache_pack.semcache_core.state as state

    model = patched(pack, wan_models["t2v"], threshold_scale=0.5, target_speedup=0.0)
    counter, out = counted(model, 30, sampler="uni_pc")
    run = stats(model)
    assert 0 < run.skipped < 30 and run.target_speedup == 0.0
    for record, n in zip(run.records, counter.per_step, strict=True):
        assert (n == 0) == (record.decision == "skipped")
        if record.reason in ("error_below_threshold", "error_above_threshold"):
            assert (record.error < record.threshold) == (record.decision == "skipped")
            assert record.threshold == pytest.approx(0.5 * (1 - record.p_s))
    assert any(r.check_measured is not None for r in run.records)
    monkeypatch.setattr(state, "check_estimate", lambda *a: None)
    monkeypatch.setattr(state, "measure_check", lambda *a: None)
    quiet = patched(pack, wan_models["t2v"], threshold_scale=0.5)
    counter_quiet, out_quiet = counted(quiet, 30, sampler="uni_pc")
    assert torch.equal(out, out_quiet) and counter.per_step == counter_quiet.per_step
    assert all(r.check_measured is None for r in stats(quiet).records)


def test_node_without_target_is_the_node_with_target_zero(pack, wan_models):
    from semcache_pack.nodes import SemCachePatchModel
    from test_nodes import patch_with_node

    a = patch_with_node(wan_models["t2v"], threshold_scale=1.0)
    b = patch_with_node(wan_models["t2v"], threshold_scale=1.0, target_speedup=0.0)
    assert torch.equal(sample(a, latent(LAT), steps=20), sample(b, latent(LAT), steps=20))
    # added after the first release, in order, at the end (reuse_mode came after it: issue 23)
    assert [i.id for i in SemCachePatchModel.define_schema().inputs][-2:] == ["target_speedup", "reuse_mode"]


@pytest.mark.parametrize("target", [1.5, 2.0, 3.0])
def test_reaches_a_reachable_target_with_a_known_skip_budget(pack, wan_models, target):
    steps, max_run = 30, 4
    reachable = known_budget(steps, max_run)  # 30 / 8 = 3.75
    model = patched(pack, wan_models["t2v"], start_percent=0.0, max_skip_steps=max_run, target_speedup=target)
    counter, out = counted(model, steps)
    assert torch.isfinite(out).all()
    got = achieved(counter)
    assert abs(got - target) <= 0.1 * target, (target, got, counter.per_step)
    run = stats(model)
    assert run.target_reachable == pytest.approx(reachable)
    assert f"target: {target:.2f}x, achieved {run.estimated_speedup:.2f}x" in run.report()
    assert run.estimated_speedup == pytest.approx(got)


def test_unreachable_target_reaches_the_most_and_says_so(pack, wan_models):
    steps, max_run = 30, 1
    reachable = known_budget(steps, max_run)  # every other free step: 30 / 16
    model = patched(pack, wan_models["t2v"], start_percent=0.0, max_skip_steps=max_run, target_speedup=4.0)
    counter, _ = counted(model, steps)
    assert achieved(counter) == pytest.approx(reachable)
    report = stats(model).report()
    assert "not reachable" in report and f"at most {reachable:.2f}x" in report
    assert "target 4.00x not reachable" in stats(model).summary_line()


@pytest.mark.parametrize("target", [1.5, 20.0])
def test_controller_never_breaks_a_hard_limit(pack, wan_models, target):
    steps = 30
    settings = dict(start_percent=0.3, end_percent=0.9, max_skip_steps=2, target_speedup=target)
    model = patched(pack, wan_models["t2v"], **settings)
    counter, _ = counted(model, steps)
    sampling = model.get_model_object("model_sampling")
    sigma_start, sigma_end = sampling.percent_to_sigma(0.3), sampling.percent_to_sigma(0.9)
    sigmas = sigmas_of(model, steps)[:-1]
    steps_run = counter.per_step
    assert steps_run[0] > 0 and steps_run[1] > 0 and steps_run[-1] > 0, "warm-up and last step computed"
    for i, s in enumerate(sigmas):
        if s > sigma_start or s <= sigma_end:
            assert steps_run[i] > 0, (i, s)
    assert longest_skip_run(steps_run) <= 2
    assert steps_run.count(0) > 0
    reachable = stats(model).target_reachable
    if target <= reachable:
        assert abs(achieved(counter) - target) <= 0.1 * target
    else:
        assert achieved(counter) == pytest.approx(reachable)


def test_split_ksampler_advanced_applies_the_target_to_each_segment(pack, wan_models):
    steps, split, target = 24, 12, 2.0
    high = patched(pack, wan_models["t2v"], start_percent=0.0, target_speedup=target)
    low = patched(pack, wan_models["t2v"], start_percent=0.0, target_speedup=target)
    with BlockCounter(high) as c_high:
        mid = sample(high, latent(LAT), steps=steps, start_step=0, last_step=split,
                     force_full_denoise=False, callback=c_high.callback)
    with BlockCounter(low) as c_low:
        sample(low, mid, steps=steps, start_step=split, last_step=10000, disable_noise=True, callback=c_low.callback)
    for counter, model in ((c_high, high), (c_low, low)):
        assert len(counter.per_step) == steps - split
        assert counter.per_step[0] > 0 and counter.per_step[1] > 0 and counter.per_step[-1] > 0
        assert abs(achieved(counter) - target) <= 0.1 * target, counter.per_step
        assert stats(model).target_speedup == target


def test_target_with_tmm_counts_the_pruned_work(pack, wan_models):
    frames, target = 7, 2.0
    model = with_tmm(with_psa(wan_models["t2v"], start_percent=0.0, target_speedup=target),
                     reuse_ratio=0.3, start_percent=0.0)
    with BlockCounter(model) as counter:
        sample(model, latent((1, 16, frames, 8, 8)), steps=30, callback=counter.callback)
    full = frames * 16 * counter.n_blocks * len(counter.per_step)
    got = full / sum(counter.tokens)
    assert stats(model).partial > 0
    assert abs(got - target) <= 0.1 * target, got


def test_target_on_hunyuan_video(pack, comfy, ckpt_dir):
    from test_hunyuan import conds
    from tiny_models import build_hunyuan, load

    model = load(build_hunyuan("hv10", ckpt_dir / "tiny_hunyuan_hv10.safetensors"))
    cached = patched(pack, model, start_percent=0.0, target_speedup=2.5)
    pos, neg = conds("hv10")
    with BlockCounter(cached) as counter:
        sample(cached, latent((1, 16, 3, 8, 8)), steps=30, positive=pos, negative=neg, callback=counter.callback)
    assert abs(achieved(counter, calls_per_step=2) - 2.5) <= 0.25, counter.per_step  # cond, uncond: 2 calls


def test_error_check_equals_an_independent_computation(pack, wan_models):
    """The measured error of every checked step, recomputed from the block stack's input and
    output captured by hooks on the model's own first and last block."""
    model = patched(pack, wan_models["t2v"], threshold_scale=1.0, start_percent=0.0, norm_stride=1)
    blocks = model.get_model_object("diffusion_model").blocks
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    handles = [
        blocks[0].register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach().clone())),
        blocks[-1].register_forward_hook(lambda m, args, out: outputs.append(out.detach().clone())),
    ]
    try:
        counter, _ = counted(model, 30, cfg=1.0)  # one stream: the leader's rows are the batch
    finally:
        for h in handles:
            h.remove()
    computed = [i for i, n in enumerate(counter.per_step) if n > 0]
    residual = {step: outputs[k] - inputs[k] for k, step in enumerate(computed)}
    run = stats(model)
    checked = [r for r in run.records if r.check_measured is not None]
    assert len(checked) >= 3
    after_reuse = [i for i in computed if i > 0 and counter.per_step[i - 1] == 0]
    assert [r.step for r in checked] == [i for i in after_reuse if i in residual]
    for record in checked:
        previous = max(i for i in computed if i < record.step)
        fresh, reused = residual[record.step], residual[previous]
        truth = float((fresh - reused).abs().mean() / fresh.abs().mean())
        assert record.check_measured == pytest.approx(truth, rel=1e-4), record
        assert record.check_estimated is not None and record.check_estimated > 0
    report = run.report()
    assert any(line.startswith("error check: measured / estimated median") for line in report.splitlines())


def test_self_calibrated_brings_the_ratio_towards_one(pack, wan_models):
    def log_ratios(error_model: str) -> list[float]:
        model = patched(pack, wan_models["t2v"], threshold_scale=0.5, error_model=error_model)
        sample(model, latent(LAT), steps=50)
        pairs = [(r.check_measured, r.check_estimated) for r in stats(model).records if r.check_measured]
        return [abs(math.log(m / e)) for m, e in pairs]

    plain, calibrated = log_ratios("input_scaled"), log_ratios("self_calibrated")
    assert len(plain) >= 3 and len(calibrated) >= 3
    # the first check of a calibrated run has no calibration yet; the later ones do
    assert statistics.median(calibrated[1:]) < statistics.median(plain)


def test_out_of_range_target_is_a_clear_error(pack, wan_models):
    from test_nodes import patch_with_node

    with pytest.raises(ValueError, match=r"target_speedup must be 0 \(off\) or between 1 and 20.*got 0.5"):
        patch_with_node(wan_models["t2v"], target_speedup=0.5)
