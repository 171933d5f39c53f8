"""MultiGPU work units: cond and uncond evaluated at the same time, in threads, on separate models.

ComfyUI v0.33's `MultiGPU_WorkUnits` (`_calc_cond_batch_multigpu`) runs each cond group in a
worker thread on a deep clone of the model (a fresh load from the loader) and sets
`transformer_options["multigpu_thread_device"]`. ComfyUI 0.3.75 has no such node, and v0.33's
only runs with two or more accelerators, so `CFGSplit` below does the same thing with 0.3.75's
own pieces: a CALC_COND_BATCH wrapper (public API) that hands every cond to ComfyUI's real
`_calc_cond_batch` in its own thread, on its own freshly loaded model, with a barrier so the
threads overlap. The positive cond runs on the clone, so a probe or adapter bound to the model
the run started with would watch the wrong model.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from sampling import BlockCounter, latent, sample
from test_exactness import patched, stats

LAT = (1, 16, 3, 8, 8)
STEPS = 12


class CFGSplit:
    """Cond i runs in thread i on models[i]; `delay(step, i)` holds thread i after the barrier."""

    def __init__(self, models: list, delay=None, serial: bool = False):
        self.models = models  # BaseModel per cond index; None = the model the sampler passes
        self.delay = delay or (lambda step, i: 0.0)
        self.serial = serial
        self.step = -1
        self.threads: set[int] = set()

    def wrapper(self, executor, model, conds, x_in, timestep, model_options):
        import comfy.model_patcher

        self.step += 1
        active = [i for i, c in enumerate(conds) if c is not None]
        barrier = threading.Barrier(1 if self.serial else len(active))
        results: dict[int, torch.Tensor] = {}
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                self.threads.add(threading.get_ident())
                options = comfy.model_patcher.create_model_options_clone(model_options)
                options["transformer_options"]["multigpu_thread_device"] = x_in.device  # as v0.33 sets it
                only = [c if j == i else None for j, c in enumerate(conds)]
                barrier.wait(timeout=60)
                time.sleep(self.delay(self.step, i))
                results[i] = executor(self.models[i] or model, only, x_in, timestep, options)[i]
            except BaseException as exc:  # re-raised in the sampler's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in active]
        for t in threads:
            t.start()
            if self.serial:
                t.join()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return [results.get(i, torch.zeros_like(x_in)) for i in range(len(conds))]


def split(model, clone_patcher, **kwargs):
    """`model` with CFGSplit installed: cond on the clone's model, uncond on `model`'s own."""
    import comfy.patcher_extension as pe

    harness = CFGSplit([clone_patcher.model, None], **kwargs)
    m = model.clone()
    m.add_wrapper_with_key(pe.WrappersMP.CALC_COND_BATCH, "test_cfg_split", harness.wrapper)
    return m, harness


@pytest.fixture(scope="module")
def clone(wan_paths):
    """A second, freshly loaded copy of the tiny Wan: what v0.33's deepclone_multigpu makes."""
    from tiny_models import load

    patcher = load(wan_paths["t2v"])
    patcher.pre_run()  # the clone's BaseModel.current_patcher, as the multigpu path prepares it
    return patcher


def run(model, clone, steps=STEPS, **kwargs):
    with BlockCounter(model) as main_blocks, BlockCounter(clone) as clone_blocks:

        def callback(*a):
            main_blocks.callback(*a)
            clone_blocks.callback(*a)

        out = sample(model, latent(LAT), steps=steps, callback=callback, **kwargs)
    return out, clone_blocks.per_step, main_blocks.per_step  # cond stream, uncond stream


@pytest.fixture
def patient(monkeypatch):
    """A generous bounded wait: on a starved CI machine a late leader may take seconds."""
    from semcache_pack.semcache_core import sync

    monkeypatch.setattr(sync, "LEADER_WAIT_SECONDS", 60.0)


def test_threshold_zero_concurrent_streams_are_bit_identical(pack, wan_models, clone, patient):
    base = wan_models["t2v"]
    plain, _ = split(base, clone)
    reference, ref_cond, ref_uncond = run(plain, clone)
    model, harness = split(patched(pack, base, threshold_scale=0.0), clone)
    out, cond_blocks, uncond_blocks = run(model, clone)
    assert len(harness.threads) >= 2  # really evaluated off the sampler's thread
    assert torch.equal(out, reference)
    n = len(base.get_model_object("diffusion_model").blocks)
    assert cond_blocks == uncond_blocks == [n] * STEPS == ref_cond == ref_uncond
    run_stats = stats(model)
    assert run_stats.evaluations == 2 * STEPS and run_stats.skipped == 0
    assert sum(r.p_s is not None for r in run_stats.records) > 0  # probes saw the cond stream's model


class Timeline:
    """Who reached which point of which step, in order, from hooks on each model's own modules:
    "embed" (patch embedding: the evaluation has begun, past the point where it claims the lead)
    and "head" (the block stack is done: computed, or skipped by decision). Threads can wait for an
    event, so the tests order the streams by events instead of by sleeps."""

    COND, UNCOND = 0, 1

    def __init__(self, harness: CFGSplit, cond_model, uncond_model):
        self.harness = harness
        self.events: list[tuple[int, int, str]] = []
        self.changed = threading.Condition()
        self.handles = []
        for stream, patcher in ((self.COND, cond_model), (self.UNCOND, uncond_model)):
            dm = patcher.get_model_object("diffusion_model")
            self.handles.append(dm.patch_embedding.register_forward_hook(self._note(stream, "embed")))
            self.handles.append(dm.head.register_forward_pre_hook(self._note(stream, "head")))

    def _note(self, stream: int, kind: str):
        def hook(*args):
            with self.changed:
                self.events.append((self.harness.step, stream, kind))
                self.changed.notify_all()

        return hook

    def wait_for(self, step: int, stream: int, kind: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: (step, stream, kind) in self.events, timeout=timeout)

    def index(self, step: int, stream: int, kind: str) -> int:
        return self.events.index((step, stream, kind))

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def cond_leads_then_arrives_last(timeline_box: list, follower_done_wait: float):
    """Step 0: the uncond thread starts only once the cond evaluation has begun, so cond leads the
    run. Later steps: the cond (leader) thread starts only after the uncond (follower) evaluation
    has begun, and then waits up to `follower_done_wait` s more for the follower to finish: a
    follower that does not wait for the leader's decision finishes in that time."""

    def gate(step: int, i: int) -> float:
        timeline: Timeline = timeline_box[0]
        if step == 0 and i == Timeline.UNCOND:
            assert timeline.wait_for(0, Timeline.COND, "embed", 60)
        elif step > 0 and i == Timeline.COND:
            assert timeline.wait_for(step, Timeline.UNCOND, "embed", 60)
            timeline.wait_for(step, Timeline.UNCOND, "head", follower_done_wait)
        return 0.0

    return gate


def test_follower_waits_for_the_leaders_decision_at_each_sigma(pack, wan_models, clone, patient):
    base = wan_models["t2v"]
    settings = dict(threshold_scale=1.0, min_steps=4)
    box: list = []
    model, harness = split(patched(pack, base, **settings), clone, delay=cond_leads_then_arrives_last(box, 0.3))
    box.append(timeline := Timeline(harness, clone, model))
    try:
        out, cond_blocks, uncond_blocks = run(model, clone)
    finally:
        timeline.close()
    run_stats = stats(model)
    assert run_stats.skipped > 0, cond_blocks
    # who led: the cond stream began first at step 0; at every later step the follower (uncond) began
    # first, yet finished only after the leader had begun: it waited for the leader's decision
    assert timeline.index(0, Timeline.COND, "embed") < timeline.index(0, Timeline.UNCOND, "embed")
    for step in range(1, STEPS):
        assert timeline.index(step, Timeline.UNCOND, "embed") < timeline.index(step, Timeline.COND, "embed")
        assert timeline.index(step, Timeline.COND, "embed") < timeline.index(step, Timeline.UNCOND, "head"), step
    # the same decision on both streams at every sigma, verified by real block executions
    assert cond_blocks == uncond_blocks
    assert cond_blocks.count(0) == run_stats.skipped
    assert run_stats.evaluations == 2 * STEPS  # thread-safe counters: no update lost
    assert run_stats.leader_wait_timeouts == 0  # the follower waited for the late leader every time
    n = len(base.get_model_object("diffusion_model").blocks)
    computed = STEPS - run_stats.skipped
    assert run_stats.token_blocks_done == 2 * computed * n * (LAT[2] * LAT[3] * LAT[4] // 4)
    # the same run with the threads one after the other: the same decisions and output
    serial, _ = split(patched(pack, base, **settings), clone, serial=True)
    serial_out, serial_cond, _ = run(serial, clone)
    assert serial_cond == cond_blocks
    assert torch.equal(out, serial_out)


def test_follower_computes_when_the_leader_is_stalled(pack, wan_models, clone, monkeypatch):
    """The leader of every later step starts only once the follower has finished that step (60 s
    at most), so the follower's bounded wait (0.02 s) must run out: it computes, never hangs."""
    from semcache_pack.semcache_core import sync

    monkeypatch.setattr(sync, "LEADER_WAIT_SECONDS", 0.02)
    base = wan_models["t2v"]
    box: list = []
    model, harness = split(patched(pack, base, threshold_scale=1.0, min_steps=4), clone,
                           delay=cond_leads_then_arrives_last(box, 60))
    box.append(timeline := Timeline(harness, clone, model))
    try:
        out, cond_blocks, uncond_blocks = run(model, clone, steps=10)
    finally:
        timeline.close()
    n = len(base.get_model_object("diffusion_model").blocks)
    assert torch.isfinite(out).all()
    for step in range(1, 10):  # the follower finished before its leader began
        assert timeline.index(step, Timeline.UNCOND, "head") < timeline.index(step, Timeline.COND, "embed")
    assert stats(model).skipped > 0 and cond_blocks.count(0) == stats(model).skipped
    assert uncond_blocks == [n] * 10  # never waited for longer than allowed: it computed every step
    assert stats(model).leader_wait_timeouts > 0
