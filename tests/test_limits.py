"""Every limit of DESIGN §4.3, checked against real block executions per step."""

from __future__ import annotations

import torch

from sampling import BlockCounter, latent, sample
from test_exactness import patched, stats

LAT = (1, 16, 3, 8, 8)
EAGER = dict(threshold_scale=50.0, max_skip_steps=100)  # skip wherever the limits allow


def sigmas_of(model, steps: int) -> list[float]:
    import comfy.samplers

    sampling = model.get_model_object("model_sampling")
    return [float(s) for s in comfy.samplers.calculate_sigmas(sampling, "simple", steps)]


def run_counted(model, steps: int, **kwargs) -> BlockCounter:
    with BlockCounter(model) as counter:
        sample(model, latent(LAT), steps=steps, callback=counter.callback, **kwargs)
    return counter


def test_start_percent_computes_every_step_before_it(pack, wan_models):
    model = patched(pack, wan_models["t2v"], start_percent=0.4, **EAGER)
    counter = run_counted(model, 20)
    sampling = model.get_model_object("model_sampling")
    sigma_start = sampling.percent_to_sigma(0.4)
    sigmas = sigmas_of(model, 20)[:-1]
    before = [i for i, s in enumerate(sigmas) if s > sigma_start]
    assert before and all(counter.per_step[i] > 0 for i in before)
    assert any(n == 0 for i, n in enumerate(counter.per_step) if i not in before)


def test_end_percent_computes_every_step_after_it(pack, wan_models):
    model = patched(pack, wan_models["t2v"], start_percent=0.0, end_percent=0.6, **EAGER)
    counter = run_counted(model, 20)
    sigma_end = model.get_model_object("model_sampling").percent_to_sigma(0.6)
    sigmas = sigmas_of(model, 20)[:-1]
    after = [i for i, s in enumerate(sigmas) if s <= sigma_end]
    assert after and all(counter.per_step[i] > 0 for i in after)
    assert counter.per_step.count(0) > 0


def test_last_step_warmup_and_max_skip(pack, wan_models):
    model = patched(pack, wan_models["t2v"], start_percent=0.0, threshold_scale=50.0, max_skip_steps=3)
    counter = run_counted(model, 24)
    steps = counter.per_step
    assert steps[0] > 0 and steps[1] > 0, "first evaluations of a sampler call are computed"
    assert steps[-1] > 0, "last step computed"
    run_length = longest = 0
    for n in steps:
        run_length = run_length + 1 if n == 0 else 0
        longest = max(longest, run_length)
    assert longest == 3


def test_short_schedule_runs_uncached_and_says_so(pack, wan_models, caplog):
    model = patched(pack, wan_models["t2v"], min_steps=10, **EAGER)
    with caplog.at_level("INFO", logger="SemCache"):
        counter = run_counted(model, 6)
    assert all(n == model.get_model_object("diffusion_model").blocks.__len__() for n in counter.per_step)
    run = stats(model)
    assert run.disabled_reason and "min_steps" in run.disabled_reason
    assert any("uncached" in r.getMessage() for r in caplog.records)
    base = sample(wan_models["t2v"], latent(LAT), steps=6)
    assert torch.equal(sample(model, latent(LAT), steps=6), base)


def expected_computed(schedule: list[float], sigma_start: float, sigma_end: float, max_skip: int,
                      warmup: int = 2) -> list[bool]:
    """The limits of DESIGN §4.3 applied to one sampler call's own sigmas, with a threshold so high
    that every evaluation the limits allow is skipped: True = computed."""
    computed, skips = [], 0
    for i, s in enumerate(schedule):
        forced = i < warmup or s > sigma_start or s <= sigma_end or i == len(schedule) - 1 or skips >= max_skip
        computed.append(forced)
        skips = 0 if forced else skips + 1
    return computed


def test_split_ksampler_advanced_exact_pattern_with_end_percent(pack, wan_models):
    """Wan 2.2 A14B style: high-noise and low-noise halves as two KSamplerAdvanced calls, each model
    patched by its own node; the step index restarts at 0 in the second call. Both halves, step by
    step: warm-up at the start of each call, start_percent and end_percent by sigma across the
    split, max_skip_steps, each call's last step."""
    steps, split = 24, 10
    settings = dict(start_percent=0.2, end_percent=0.75, threshold_scale=50.0, max_skip_steps=3)
    high = patched(pack, wan_models["t2v"], **settings)
    low = patched(pack, wan_models["t2v"], **settings)
    sampling = high.get_model_object("model_sampling")
    sigma_start, sigma_end = sampling.percent_to_sigma(0.2), sampling.percent_to_sigma(0.75)
    sigmas = sigmas_of(high, steps)[:-1]
    with BlockCounter(high) as c_high:
        mid = sample(high, latent(LAT), steps=steps, start_step=0, last_step=split,
                     force_full_denoise=False, callback=c_high.callback)
    with BlockCounter(low) as c_low:
        sample(low, mid, steps=steps, start_step=split, last_step=10000, disable_noise=True,
               callback=c_low.callback)
    want_high = expected_computed(sigmas[:split], sigma_start, sigma_end, 3)
    want_low = expected_computed(sigmas[split:], sigma_start, sigma_end, 3)
    assert [n > 0 for n in c_high.per_step] == want_high
    assert [n > 0 for n in c_low.per_step] == want_low
    assert all(n in (0, c_high.n_blocks) for n in c_high.per_step + c_low.per_step)
    # the pattern exercises every limit: skips in both halves, after_end computed at the end of the low half
    assert not all(want_high) and not all(want_low)
    assert sum(s <= sigma_end for s in sigmas[split:]) >= 3 and any(s > sigma_start for s in sigmas[:split])
    # each patched model published its own run
    assert stats(high).total_steps == split and stats(low).total_steps == steps - split
    assert stats(high) is not stats(low)
