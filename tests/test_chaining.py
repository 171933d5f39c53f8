"""Living beside other nodes: slots already taken, slots taken later, re-patching, samplers."""

from __future__ import annotations

import pytest
import torch

from sampling import BlockCounter, EvaluationCounter, latent, sample
from test_exactness import patched, stats

LAT = (1, 16, 3, 8, 8)


def counting_replacement(counter: dict):
    """Another pack's block replacement: runs the block and counts how often it was asked.

    A closure, not an object: ComfyUI 0.3.75's clone() deep-copies objects in model_options.
    """

    def replacement(args, extra):
        counter["calls"] += 1
        return extra["original_block"](args)

    return replacement


def test_existing_slot_replacement_is_wrapped_not_overwritten(pack, wan_models):
    theirs = {"calls": 0}
    other = wan_models["t2v"].clone()
    other.set_model_patch_replace(counting_replacement(theirs), "dit", "double_block", 3)
    base = sample(other, latent(LAT), steps=20)
    assert theirs["calls"] == 20
    theirs["calls"] = 0
    model = patched(pack, other, threshold_scale=0.0)
    assert torch.equal(sample(model, latent(LAT), steps=20), base)
    assert theirs["calls"] == 20, "their replacement still runs on every computed step"
    theirs["calls"] = 0
    eager = patched(pack, other, threshold_scale=50.0, start_percent=0.0)
    sample(eager, latent(LAT), steps=20)
    assert theirs["calls"] == stats(eager).computed < 20


def test_slot_taken_after_us_turns_caching_off_and_warns(pack, wan_models):
    model = patched(pack, wan_models["t2v"], threshold_scale=50.0, start_percent=0.0)
    later = model.clone()
    later.set_model_patch_replace(counting_replacement({"calls": 0}), "dit", "double_block", 2)  # overwrites ours
    with BlockCounter(later) as counter:
        sample(later, latent(LAT), steps=20, callback=counter.callback)
    assert all(n == counter.n_blocks for n in counter.per_step)
    run = stats(model)
    assert run.records == [] and any("held by another node" in w for w in run.warnings)


def test_patching_twice_configures_one_engine(pack, wan_models):
    first = patched(pack, wan_models["t2v"], threshold_scale=0.0)
    from semcache_pack.semcache_core.comfy_glue import patch_model
    from semcache_pack.semcache_core.config import SemCacheConfig

    second = patch_model(first, SemCacheConfig(threshold_scale=50.0, start_percent=0.0))
    wrappers = second.wrappers
    for kind in ("outer_sample", "diffusion_model"):
        assert len(wrappers[kind]["semcache"]) == 1
    single = patched(pack, wan_models["t2v"], threshold_scale=50.0, start_percent=0.0)
    with BlockCounter(second) as c2:
        out2 = sample(second, latent(LAT), steps=20, callback=c2.callback)
    with BlockCounter(single) as c1:
        out1 = sample(single, latent(LAT), steps=20, callback=c1.callback)
    assert c1.per_step == c2.per_step and torch.equal(out1, out2)
    assert stats(second).skipped > 0 and stats(first) is None


@pytest.mark.parametrize("sampler", ["heun", "uni_pc", "dpmpp_2m"])
def test_other_samplers(pack, wan_models, sampler):
    base = sample(wan_models["t2v"], latent(LAT), steps=12, sampler=sampler)
    assert torch.equal(sample(patched(pack, wan_models["t2v"], threshold_scale=0.0), latent(LAT), steps=12,
                              sampler=sampler), base)
    model = patched(pack, wan_models["t2v"], threshold_scale=5.0)
    with EvaluationCounter(model) as counter:
        out = sample(model, latent(LAT), steps=12, sampler=sampler)
    assert torch.isfinite(out).all()
    blocks = counter.per_evaluation
    assert len(blocks) == len(stats(model).records) >= 12  # heun: two evaluations per step
    # every evaluation runs all blocks or none, and the skipped ones ran none, counted on the blocks
    assert all(n in (0, counter.n_blocks) for n in blocks), blocks
    assert 0 < blocks.count(0) == stats(model).skipped < len(blocks)
    assert [n == 0 for n in blocks] == [r.decision == "skipped" for r in stats(model).records]
