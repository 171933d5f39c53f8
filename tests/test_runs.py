"""Nothing leaks between runs; an interrupt or exception leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from leaks import cached_tensors, leftovers, run_state_objects, tensor_storages
from sampling import BlockCounter, cond, latent, sample
from test_exactness import patched, stats

HERE = Path(__file__).resolve().parent


def test_two_runs_in_a_row_match_a_fresh_process(pack, wan_models, wan_paths, tmp_path):
    model = patched(pack, wan_models["t2v"], threshold_scale=1.0)
    first = sample(model, latent((1, 16, 3, 8, 8)), steps=30, positive=cond(11))
    assert stats(model).skipped > 0
    second = sample(model, latent((1, 16, 3, 12, 16)), steps=20, positive=cond(12))
    assert stats(model).skipped > 0 and stats(model).total_steps == 20
    out = tmp_path / "fresh.safetensors"
    subprocess.run(
        [sys.executable, str(HERE / "fresh_run.py"), str(wan_paths["t2v"]), str(out), "12", "12", "16", "20", "1.0",
         str(torch.get_num_threads())],
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


LAT = (1, 16, 3, 8, 8)


def failed_run_state(run_sampler, exc_type) -> tuple[int, list]:
    """Run a sampler that fails; while its traceback (and with it the run's frames) is alive:
    how many run-state objects are alive, and which tensors its RunState still holds.
    The traceback is dropped on return."""
    with pytest.raises(exc_type) as excinfo:
        run_sampler()
    alive, cached = len(run_state_objects()), cached_tensors()
    del excinfo
    return alive, [tuple(t.shape) for t in cached]


def assert_failed_run_left_nothing(model, base, baseline, alive: int, cached: list) -> None:
    assert alive > 0, "the failed run's frames were alive, so the scan could see its state"
    assert cached == [], "a failed run still held its cache while its traceback was alive"
    assert leftovers(model, input_model=base, baseline=baseline) == []


def test_finished_run_leaves_nothing_behind(pack, wan_models):
    base = wan_models["t2v"]
    model = patched(pack, base, threshold_scale=1.0)
    sample(model, latent(LAT), steps=12)  # ComfyUI's own one-time allocations happen here
    baseline = tensor_storages()
    out = sample(model, latent(LAT), steps=20)
    assert stats(model).skipped > 0
    assert leftovers(model, input_model=base, baseline=baseline, keep=[out]) == []


def test_leftovers_can_fire(pack, wan_models):
    """The scan sees a run state and its tensors while a run is in progress (from a sampler callback)."""
    model = patched(pack, wan_models["t2v"], threshold_scale=1.0)
    baseline = tensor_storages()
    seen: list[list[str]] = []

    def look(step, x0, x, total):
        if step == 6:
            seen.append(leftovers(model, baseline=baseline, keep=[x0, x]))

    sample(model, latent(LAT), steps=12, callback=look)
    (found,) = seen
    assert any("live RunState" in f for f in found) and any("held by run state" in f for f in found), found
    assert any("new tensor storages" in f for f in found), found


def test_exception_inside_a_block_leaves_nothing_behind(pack, wan_models):
    base = wan_models["t2v"]
    model = patched(pack, base, threshold_scale=1.0)
    reference = sample(model, latent(LAT), steps=20)
    blocks = model.get_model_object("diffusion_model").blocks
    calls = {"n": 0}

    def explode(module, inputs, output):
        calls["n"] += 1
        if calls["n"] == 5:  # 5th computed step: mid-sampling, probe hooks installed
            raise Boom("mid-sampling failure")

    baseline = tensor_storages()
    handle = blocks[2].register_forward_hook(explode)
    try:
        alive, cached = failed_run_state(lambda: sample(model, latent(LAT), steps=20), Boom)
    finally:
        handle.remove()
    assert_failed_run_left_nothing(model, base, baseline, alive, cached)
    run = stats(model)
    assert not run.finished and "Boom" in run.error and "ended early" in run.summary_line()
    assert torch.equal(sample(model, latent(LAT), steps=20), reference)


def test_raising_sampler_callback_leaves_nothing_behind(pack, wan_models):
    base = wan_models["t2v"]
    model = patched(pack, base, threshold_scale=1.0)
    reference = sample(model, latent(LAT), steps=20)

    def fail_at_step_7(step, x0, x, total):
        if step == 7:
            raise Boom("preview failed")

    baseline = tensor_storages()
    alive, cached = failed_run_state(lambda: sample(model, latent(LAT), steps=20, callback=fail_at_step_7), Boom)
    assert_failed_run_left_nothing(model, base, baseline, alive, cached)
    assert len(stats(model).records) == 8 and not stats(model).finished
    assert torch.equal(sample(model, latent(LAT), steps=20), reference)


def test_interrupt_mid_sampling_leaves_nothing_behind(pack, wan_models):
    import comfy.model_management as mm

    base = wan_models["t2v"]
    model = patched(pack, base, threshold_scale=1.0)
    reference = sample(model, latent(LAT), steps=20)

    def interrupt_at_step_8(step, x0, x, total):
        if step == 8:  # what ComfyUI's progress hook does when the user presses Cancel
            mm.interrupt_current_processing(True)
            mm.throw_exception_if_processing_interrupted()

    baseline = tensor_storages()
    alive, cached = failed_run_state(
        lambda: sample(model, latent(LAT), steps=20, callback=interrupt_at_step_8), mm.InterruptProcessingException
    )
    assert_failed_run_left_nothing(model, base, baseline, alive, cached)
    assert len(stats(model).records) == 9
    with BlockCounter(model) as counter:
        again = sample(model, latent(LAT), steps=20, callback=counter.callback)
    assert torch.equal(again, reference)
    assert len(counter.per_step) == 20


def options_snapshot(model) -> str:
    """The input model's patches, wrappers, callbacks and options, as comparable text."""
    return repr((model.model_options, model.wrappers, model.callbacks, model.patches, model.object_patches,
                 model.additional_models, model.attachments, model.injections))


def test_input_model_is_untouched(pack, wan_models):
    base = wan_models["t2v"]
    before = sample(base, latent(LAT), steps=12)
    snapshot = options_snapshot(base)
    model = patched(pack, base, threshold_scale=3.0)
    with BlockCounter(model) as counter:
        sample(model, latent(LAT), steps=12, callback=counter.callback)
    assert 0 in counter.per_step, "the patched clone really skipped"
    assert options_snapshot(base) == snapshot
    from leaks import hooks_on, semcache_on_input_model

    assert semcache_on_input_model(base) == [] and hooks_on(base) == []
    with BlockCounter(base) as counter:
        again = sample(base, latent(LAT), steps=12, callback=counter.callback)
    assert torch.equal(again, before)
    assert counter.per_step == [counter.n_blocks] * 12, "the input model runs every block of every step"
