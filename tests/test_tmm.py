"""TMM on the real sampler: exactness at 0, pruned token counts, frame 0, staleness, chaining."""

from __future__ import annotations

import pytest
import torch

from sampling import BlockCounter, cond, latent, sample
from test_exactness import i2v_conds, stats

FRAMES, H, W = 7, 8, 8
TOKENS_PER_FRAME = (H // 2) * (W // 2)


def with_tmm(model, **settings):
    from semcache_pack.semcache_core.comfy_glue import patch_tmm
    from semcache_pack.semcache_core.tmm import TMMConfig

    return patch_tmm(model, TMMConfig(**settings))


def with_psa(model, **settings):
    from semcache_pack.semcache_core.comfy_glue import patch_model
    from semcache_pack.semcache_core.config import SemCacheConfig

    return patch_model(model, SemCacheConfig(**settings))


def setup_case(models, name: str):
    channels = 48 if name == "ti2v5b" else 16
    kwargs: dict = {}
    lat = latent((1, channels, FRAMES, H, W), seed=3 if name == "ti2v5b" else None)
    if name == "ti2v5b":
        mask = torch.ones(1, 1, FRAMES, H, W)
        mask[:, :, 0] = 0.0
        kwargs["noise_mask"] = mask
    if name == "i2v":
        kwargs["positive"], kwargs["negative"] = i2v_conds_for(FRAMES)
    return models[name], lat, kwargs


def i2v_conds_for(frames: int):
    pos, neg = i2v_conds()
    image = latent((1, 16, frames, H, W), seed=5)
    for c in (pos, neg):
        c[0][1]["concat_latent_image"] = image
    return pos, neg


def check_pruned_tokens(counter: BlockCounter, run) -> None:
    """Every block of every step got exactly the tokens of the frames the stats say were computed."""
    assert len(counter.step_tokens) == len(run.records)
    for record, tokens in zip(run.records, counter.step_tokens, strict=True):
        if record.decision == "skipped":
            assert tokens == []
            continue
        computed = record.frames_total - len(record.frames_reused)
        assert tokens == [computed * TOKENS_PER_FRAME] * counter.n_blocks, (record, tokens)


def check_frame_rules(run, max_staleness: int) -> None:
    maps = [r.frame_map() for r in run.records if r.decision != "skipped"]
    assert maps and all(m[0] == "#" for m in maps), "latent frame 0 is always computed"
    for f in range(FRAMES):
        streak = 0
        for m in maps:
            streak = streak + 1 if m[f] == "." else 0
            assert streak <= max_staleness, f"frame {f} reused {streak} computed steps in a row"


@pytest.mark.parametrize("name", ["t2v", "i2v", "ti2v5b"])
def test_reuse_ratio_zero_is_bit_identical(pack, wan_models, name):
    model, lat, kwargs = setup_case(wan_models, name)
    base = sample(model, lat, steps=12, **kwargs)
    assert torch.equal(sample(with_tmm(model, reuse_ratio=0.0), lat, steps=12, **kwargs), base)
    psa = with_psa(model, threshold_scale=2.0)
    psa_out = sample(psa, lat, steps=12, **kwargs)
    chained = with_tmm(psa, reuse_ratio=0.0)
    assert torch.equal(sample(chained, lat, steps=12, **kwargs), psa_out)


@pytest.mark.parametrize("name", ["t2v", "i2v", "ti2v5b"])
def test_pruned_steps_get_exactly_the_expected_tokens(pack, wan_models, name):
    model, lat, kwargs = setup_case(wan_models, name)
    tmm = with_tmm(model, reuse_ratio=0.4, max_frame_staleness=2, start_percent=0.0)
    with BlockCounter(tmm) as counter:
        out = sample(tmm, lat, steps=12, callback=counter.callback, **kwargs)
    assert torch.isfinite(out).all()
    run = stats(tmm)
    assert run.tmm_disabled_reason is None
    assert run.partial > 0 and run.skipped == 0, "TMM alone: every step runs, the moving frames only"
    check_pruned_tokens(counter, run)
    check_frame_rules(run, 2)
    assert run.token_blocks_saved_tmm > 0 and run.token_blocks_saved_psa == 0


@pytest.mark.parametrize("source", ["noisy_latent", "predicted_clean"])
def test_psa_and_tmm_together(pack, wan_models, source):
    model, lat, kwargs = setup_case(wan_models, "t2v")
    both = with_tmm(with_psa(model, threshold_scale=2.0), reuse_ratio=0.4, max_frame_staleness=1,
                    motion_source=source, start_percent=0.0)
    with BlockCounter(both) as counter:
        sample(both, lat, steps=30, callback=counter.callback, **kwargs)
    run = stats(both)
    assert run.skipped > 0 and run.partial > 0
    check_pruned_tokens(counter, run)
    check_frame_rules(run, 1)
    assert run.token_blocks_saved_psa > 0 and run.token_blocks_saved_tmm > 0
    report = run.report()
    assert "TMM" in report and any(r.frame_map() in report for r in run.records if r.decision == "partial")


def test_both_chaining_orders_give_the_same_output(pack, wan_models):
    model, lat, _ = setup_case(wan_models, "t2v")
    psa = dict(threshold_scale=2.0)
    tmm = dict(reuse_ratio=0.3, start_percent=0.0)
    a = with_tmm(with_psa(model, **psa), **tmm)
    b = with_psa(with_tmm(model, **tmm), **psa)
    out_a = sample(a, lat, steps=20)
    out_b = sample(b, lat, steps=20)
    assert torch.equal(out_a, out_b)
    ra, rb = stats(a), stats(b)
    assert [r.frame_map() for r in ra.records] == [r.frame_map() for r in rb.records]
    assert ra.partial > 0 and ra.skipped > 0
    assert len(a.wrappers["diffusion_model"]["semcache"]) == 1


def test_unsupported_token_layout_runs_with_tmm_off_and_says_so(pack, wan_models, caplog):
    """time_dim_concat appends latent frames as extra tokens: not T*H/2*W/2 video tokens."""
    model, lat, _ = setup_case(wan_models, "t2v")
    extra = dict(time_dim_concat=latent((1, 16, 2, H, W), seed=8))
    kwargs = dict(positive=cond(1, **extra), negative=cond(2, **extra))
    base = sample(model, lat, steps=12, **kwargs)
    tmm = with_tmm(model, reuse_ratio=0.5, start_percent=0.0)
    with caplog.at_level("INFO", logger="SemCache"), BlockCounter(tmm) as counter:
        out = sample(tmm, lat, steps=12, callback=counter.callback, **kwargs)
    assert torch.equal(out, base)
    run = stats(tmm)
    assert run.tmm_disabled_reason and "tokens" in run.tmm_disabled_reason and run.partial == 0
    assert all(t == (FRAMES + 2) * TOKENS_PER_FRAME for step in counter.step_tokens for t in step)
    assert any("TMM off" in r.getMessage() for r in caplog.records)


def test_tmm_node_schema(pack):
    from semcache_pack.nodes import TMMFrameSelector

    s = TMMFrameSelector.define_schema()
    assert (s.node_id, s.display_name) == ("TMMFrameSelector", "TMM Frame Selector")
    assert [i.id for i in s.inputs] == ["model", "reuse_ratio", "max_frame_staleness", "motion_source", "start_percent"]
    assert all(i.tooltip for i in s.inputs)


def test_stats_plot_draws_the_frame_map(pack, wan_models):
    from semcache_pack.nodes import SemCacheStats
    from semcache_pack.semcache_core import plot as plot_module

    model, lat, _ = setup_case(wan_models, "t2v")
    both = with_tmm(with_psa(model, threshold_scale=2.0), reuse_ratio=0.4, start_percent=0.0)
    samples = sample(both, lat, steps=20)
    out = SemCacheStats.execute(both, {"samples": samples})
    report, plot = out[1], out[2]
    run = stats(both)
    assert plot.shape[1] == plot_module.HEIGHT + FRAMES * plot_module.MAP_ROW + 24
    # count reused (grey) cells in the frame map: one per reused frame of each partial step
    grey = torch.tensor(plot_module.REUSED)
    cells = 0
    for f in range(FRAMES):
        y = plot_module.MAP_TOP + 18 + f * plot_module.MAP_ROW + 1
        row = (plot[0, y] * 255).round().to(torch.int64)
        is_grey = (row == grey).all(dim=1).tolist()
        cells += sum(1 for i, v in enumerate(is_grey) if v and (i == 0 or not is_grey[i - 1]))
    assert cells == sum(len(r.frames_reused or []) for r in run.records if r.decision == "partial") > 0
    assert f"({run.partial} partial)" in report.splitlines()[0]


def test_last_step_computes_every_frame(pack, wan_models):
    model, lat, _ = setup_case(wan_models, "t2v")
    tmm = with_tmm(model, reuse_ratio=0.5, max_frame_staleness=5, start_percent=0.0)
    with BlockCounter(tmm) as counter:
        sample(tmm, lat, steps=12, callback=counter.callback)
    run = stats(tmm)
    assert run.partial > 0
    assert run.records[-1].decision == "computed" and run.records[-1].frame_map() == "#" * FRAMES
    assert counter.step_tokens[-1] == [FRAMES * TOKENS_PER_FRAME] * counter.n_blocks


def test_tmm_start_percent_prunes_only_after_it(pack, wan_models):
    model, lat, _ = setup_case(wan_models, "t2v")
    tmm = with_tmm(model, reuse_ratio=0.4, max_frame_staleness=5, start_percent=0.5)
    with BlockCounter(tmm) as counter:
        sample(tmm, lat, steps=12, callback=counter.callback)
    import comfy.samplers

    sampling = tmm.get_model_object("model_sampling")
    sigmas = [float(s) for s in comfy.samplers.calculate_sigmas(sampling, "simple", 12)][:-1]
    sigma_start = sampling.percent_to_sigma(0.5)
    full = [FRAMES * TOKENS_PER_FRAME] * counter.n_blocks
    before = [i for i, s in enumerate(sigmas) if s > sigma_start]
    assert 2 <= len(before) < 10
    assert all(counter.step_tokens[i] == full for i in before), counter.step_tokens
    assert any(counter.step_tokens[i] != full for i in range(len(before), 12)), "pruning starts after start_percent"
    early = with_tmm(model, reuse_ratio=0.4, max_frame_staleness=5, start_percent=0.0)
    with BlockCounter(early) as counter_early:
        sample(early, lat, steps=12, callback=counter_early.callback)
    assert any(counter_early.step_tokens[i] != full for i in before), "without it those steps are pruned"


def test_motion_source_predicted_clean_changes_the_frames(pack, wan_models):
    """Frames computed on each pruned step, read from the first block's input (reuse_probe)."""
    from reuse_probe import ReuseProbe

    model, lat, _ = setup_case(wan_models, "t2v")
    chosen, outputs = {}, {}
    for source in ("noisy_latent", "predicted_clean"):
        tmm = with_tmm(model, reuse_ratio=0.4, max_frame_staleness=3, motion_source=source, start_percent=0.0)
        with ReuseProbe(tmm) as probe:
            outputs[source] = sample(tmm, lat, steps=12)
        assert probe.errors == [] and probe.partial > 0
        chosen[source] = [tuple(p["frames"]) for p in probe.partials]
    assert chosen["noisy_latent"] != chosen["predicted_clean"], chosen
    assert not torch.equal(outputs["noisy_latent"], outputs["predicted_clean"])


@pytest.mark.parametrize("variant", ["vace", "humo"])
def test_tmm_turns_itself_off_on_other_wan_variants(pack, wan_models, ckpt_dir, caplog, variant):
    """Only plain WanModel and CameraWanModel have exactly T*H/2*W/2 frame-major video tokens:
    VACE and HuMo run every token (TMM off for the run), while step caching stays on."""
    from tiny_models import build_wan, load

    model = wan_models["vace"] if variant == "vace" else load(build_wan("humo", ckpt_dir / "tiny_wan_humo.safetensors"))
    class_name = type(model.get_model_object("diffusion_model")).__name__
    assert class_name in ("VaceWanModel", "HumoWanModel")
    lat = latent((1, 16, FRAMES, H, W))
    base = sample(model, lat, steps=12)
    tmm = with_tmm(model, reuse_ratio=0.5, start_percent=0.0)
    with caplog.at_level("INFO", logger="SemCache"), BlockCounter(tmm) as counter:
        out = sample(tmm, lat, steps=12, callback=counter.callback)
    assert torch.equal(out, base)
    assert all(t == FRAMES * TOKENS_PER_FRAME for step in counter.step_tokens for t in step)
    assert all(n == counter.n_blocks for n in counter.per_step)
    run = stats(tmm)
    assert run.partial == 0
    assert run.disabled_reason is None and class_name in run.tmm_disabled_reason
    assert any("TMM off" in r.getMessage() for r in caplog.records)
    psa = with_tmm(with_psa(model, threshold_scale=5.0, start_percent=0.0), reuse_ratio=0.5, start_percent=0.0)
    with BlockCounter(psa) as counter:
        sample(psa, lat, steps=12, callback=counter.callback)
    assert 0 in counter.per_step, "step caching still works on " + class_name
    assert all(t == FRAMES * TOKENS_PER_FRAME for step in counter.step_tokens for t in step)
