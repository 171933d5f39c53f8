"""What a reused step outputs: exactly the block-stack input plus that stream's latest residual.

Checked from outside with hooks on the model's own modules (tests/reuse_probe.py), so a stale,
zeroed or cond/uncond-swapped residual fails here even though the output stays finite.
"""

from __future__ import annotations

import pytest

from reuse_probe import ReuseProbe
from sampling import latent, sample
from test_exactness import CASES, patched, run_case
from test_hunyuan import CHANNELS, hunyuan, run  # noqa: F401  (hunyuan: pytest fixture)
from test_tmm import setup_case, with_psa, with_tmm

EAGER = dict(threshold_scale=5.0, start_percent=0.0, min_steps=1)


def check(probe: ReuseProbe, streams: int) -> None:
    assert probe.errors == [], probe.errors[:5]
    assert probe.skipped >= streams, "some evaluations of every stream were skipped"
    assert probe.computed >= 2


@pytest.mark.parametrize("case_name", ["t2v_batched_cfg", "t2v_separate_calls", "t2v_batch2", "t2v_cfg1"])
def test_wan_skipped_steps_reuse_their_own_streams_residual(pack, wan_models, case_name):
    case = CASES[case_name]
    model = patched(pack, wan_models[case["model"]], **EAGER)
    with ReuseProbe(model) as probe:
        run_case(wan_models, case, model=model)
    streams = 1 if case.get("cfg") == 1.0 else 2
    check(probe, streams * case.get("batch", 1))


@pytest.mark.parametrize("variant", list(CHANNELS))
@pytest.mark.parametrize("neg_len", [13, 20], ids=["separate_calls", "batched"])
def test_hunyuan_skipped_steps_reuse_their_own_streams_residual(pack, hunyuan, variant, neg_len):  # noqa: F811
    model = patched(pack, hunyuan[variant], **EAGER)
    with ReuseProbe(model) as probe:
        run(model, variant, neg_len=neg_len)
    check(probe, 2)


def test_tmm_reused_frames_keep_their_last_values_and_computed_frames_are_exact(pack, wan_models):
    """Every reused frame = its last computed value; every computed frame = the model's own blocks
    on exactly the computed frames' tokens (an uncached computation of that pruned step)."""
    base, lat, kwargs = setup_case(wan_models, "t2v")
    model = with_tmm(with_psa(base, **EAGER), reuse_ratio=0.4, max_frame_staleness=2, start_percent=0.0)
    with ReuseProbe(model) as probe:
        sample(model, lat, steps=12, **kwargs)
    assert probe.errors == [], probe.errors[:5]
    assert probe.partial > 0 and probe.reused_frames_checked > 0 and probe.skipped > 0
    assert probe.recompute_partials() < 1e-5


def test_probe_catches_a_wrong_residual(pack, wan_models):
    """The check itself can fail: a residual from the other stream is not accepted."""
    model = patched(pack, wan_models["t2v"], **EAGER)
    with ReuseProbe(model) as probe:
        original = probe._on_head

        def swapped(module, inputs):
            call = probe._call
            if call is not None and call.block_in is None and len(call.streams) == 2:
                call.streams = call.streams[::-1]
            original(module, inputs)

        probe._handles[-1].remove()
        probe._handles[-1] = model.get_model_object("diffusion_model").head.register_forward_pre_hook(swapped)
        sample(model, latent((1, 16, 3, 8, 8)), steps=12)
    assert probe.skipped > 0 and any("skipped" in e for e in probe.errors)
