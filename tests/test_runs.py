"""Nothing leaks between runs; an interrupt or exception leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sampling import BlockCounter, cond, latent, sample
from test_exactness import patched, stats

HERE = Path(__file__).resolve().parent


def leftovers(model) -> list[str]:
    """Everything a finished run could have left on the model or the process."""
    from semcache_pack.semcache_core import comfy_glue

    found = []
    diffusion_model = model.get_model_object("diffusion_model")
    for name, module in diffusion_model.named_modules():
        if module._forward_hooks or module._forward_pre_hooks:
            found.append(f"hook on {name}")
    if comfy_glue.RUN_KEY in model.model_options.get("transformer_options", {}):
        found.append("run state on the patched model")
    if comfy_glue._current.get() is not None:
        found.append("active evaluation")
    return found


def test_two_runs_in_a_row_match_a_fresh_process(pack, wan_models, wan_paths, tmp_path):
    model = patched(pack, wan_models["t2v"], threshold_scale=1.0)
    first = sample(model, latent((1, 16, 3, 8, 8)), steps=30, positive=cond(11))
    assert stats(model).skipped > 0
    second = sample(model, latent((1, 16, 3, 12, 16)), steps=20, positive=cond(12))
    assert stats(model).skipped > 0 and stats(model).total_steps == 20
    out = tmp_path / "fresh.safetensors"
    subprocess.run(
        [sys.executable, str(HERE / "fresh_run.py"), str(wan_paths["t2v"]), str(out), "12", "12", "16", "20", "1.0"],
        check=True, cwd=HERE, timeout=300,
    )
    from safetensors.torch import load_file

    fresh = load_file(str(out))["latent"]
    assert torch.equal(second, fresh)
    again = sample(model, latent((1, 16, 3, 8, 8)), steps=30, positive=cond(11))
    assert torch.equal(first, again)
    assert leftovers(model) == []


class Boom(RuntimeError):
    pass


def test_exception_inside_a_block_leaves_nothing_behind(pack, wan_models):
    model = patched(pack, wan_models["t2v"], threshold_scale=1.0)
    reference = sample(model, latent((1, 16, 3, 8, 8)), steps=20)
    blocks = model.get_model_object("diffusion_model").blocks
    calls = {"n": 0}

    def explode(module, inputs, output):
        calls["n"] += 1
        if calls["n"] == 5:  # 5th computed step: mid-sampling, probe hooks installed
            raise Boom("mid-sampling failure")

    handle = blocks[2].register_forward_hook(explode)
    try:
        with pytest.raises(Boom):
            sample(model, latent((1, 16, 3, 8, 8)), steps=20)
    finally:
        handle.remove()
    assert leftovers(model) == []
    run = stats(model)
    assert not run.finished and "Boom" in run.error and "ended early" in run.summary_line()
    assert torch.equal(sample(model, latent((1, 16, 3, 8, 8)), steps=20), reference)


def test_interrupt_mid_sampling_leaves_nothing_behind(pack, wan_models):
    import comfy.model_management as mm

    model = patched(pack, wan_models["t2v"], threshold_scale=1.0)
    reference = sample(model, latent((1, 16, 3, 8, 8)), steps=20)

    def interrupt_at_step_8(step, x0, x, total):
        if step == 8:  # what ComfyUI's progress hook does when the user presses Cancel
            mm.interrupt_current_processing(True)
            mm.throw_exception_if_processing_interrupted()

    with pytest.raises(mm.InterruptProcessingException):
        sample(model, latent((1, 16, 3, 8, 8)), steps=20, callback=interrupt_at_step_8)
    assert leftovers(model) == []
    assert len(stats(model).records) == 9
    with BlockCounter(model) as counter:
        again = sample(model, latent((1, 16, 3, 8, 8)), steps=20, callback=counter.callback)
    assert torch.equal(again, reference)
    assert len(counter.per_step) == 20


def test_input_model_is_untouched(pack, wan_models):
    base = wan_models["t2v"]
    before = sample(base, latent((1, 16, 3, 8, 8)), steps=12)
    model = patched(pack, base, threshold_scale=3.0)
    sample(model, latent((1, 16, 3, 8, 8)), steps=12)
    from semcache_pack.semcache_core import comfy_glue

    assert comfy_glue.HOLDER_KEY not in base.model_options.get("transformer_options", {})
    assert not base.model_options.get("transformer_options", {}).get("patches_replace")
    assert torch.equal(sample(base, latent((1, 16, 3, 8, 8)), steps=12), before)
