"""threshold_scale = 0 must give output bit-identical to the unpatched model, on every layout."""

from __future__ import annotations

import pytest
import torch

from sampling import BlockCounter, cond, latent, sample

STEPS = 12


def patched(pack, model, **settings):
    from semcache_pack.semcache_core.comfy_glue import patch_model
    from semcache_pack.semcache_core.config import SemCacheConfig

    return patch_model(model, SemCacheConfig(**settings))


def stats(model):
    from semcache_pack.semcache_core.comfy_glue import latest_stats

    return latest_stats(model)


def clip_vision(seed: int):
    import comfy.clip_vision

    out = comfy.clip_vision.Output()
    out.penultimate_hidden_states = torch.randn(1, 257, 1280, generator=torch.Generator().manual_seed(seed))
    return out


def i2v_conds():
    image = latent((1, 16, 3, 8, 8), seed=5)
    extra = dict(concat_latent_image=image, clip_vision_output=clip_vision(6))
    return cond(1, **extra), cond(2, **extra)


CASES = {
    "t2v_batched_cfg": dict(model="t2v"),
    "t2v_separate_calls": dict(model="t2v", neg_len=600),
    "t2v_cfg1": dict(model="t2v", cfg=1.0),
    "t2v_batch2": dict(model="t2v", batch=2),
    "i2v": dict(model="i2v"),
    "ti2v5b_denoise_mask": dict(model="ti2v5b", mask=True),
}


def run_case(models, case: dict, model=None, callback=None):
    name = case["model"]
    model = model if model is not None else models[name]
    channels = 48 if name == "ti2v5b" else 16
    lat = latent((case.get("batch", 1), channels, 3, 8, 8), seed=3 if case.get("mask") else None)
    kwargs = {}
    positive, negative = cond(1), cond(2, case.get("neg_len", 512))
    if name == "i2v":
        positive, negative = i2v_conds()
    if case.get("mask"):
        mask = torch.ones(1, 1, 3, 8, 8)
        mask[:, :, 0] = 0.0  # Wan 2.2 TI2V: first frame is the conditioning image
        kwargs["noise_mask"] = mask
    return sample(model, lat, steps=STEPS, cfg=case.get("cfg", 5.0), positive=positive, negative=negative,
                  callback=callback, **kwargs)


@pytest.mark.parametrize("case_name", list(CASES))
def test_threshold_zero_is_bit_identical(pack, wan_models, case_name):
    case = CASES[case_name]
    base = run_case(wan_models, case)
    model = patched(pack, wan_models[case["model"]], threshold_scale=0.0)
    with BlockCounter(model) as counter:
        out = run_case(wan_models, case, model=model, callback=counter.callback)
    assert torch.equal(out, base), f"{case_name}: max diff {(out - base).abs().max().item()}"
    run = stats(model)
    assert run is not None and run.finished and run.disabled_reason is None
    assert len(run.records) == STEPS and run.skipped == 0
    assert all(c > 0 for c in counter.per_step), "every step must run blocks"


@pytest.mark.parametrize("case_name", list(CASES))
def test_skipping_runs_on_every_layout(pack, wan_models, case_name):
    """With an eager threshold every layout still samples, skips for real, and follows the leader."""
    case = CASES[case_name]
    model = patched(pack, wan_models[case["model"]], threshold_scale=5.0, start_percent=0.0, min_steps=1)
    with BlockCounter(model) as counter:
        out = run_case(wan_models, case, model=model, callback=counter.callback)
    assert torch.isfinite(out).all()
    run = stats(model)
    assert run.skipped > 0
    n = counter.n_blocks
    calls_per_step = 2 if case.get("neg_len") else 1
    for record, blocks in zip(run.records, counter.per_step, strict=True):
        expected = 0 if record.decision == "skipped" else n * calls_per_step
        assert blocks == expected, (record, blocks)
