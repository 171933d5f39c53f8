"""The benchmark harness: metrics, matched comparisons, work counting, the EasyCache fairness shim."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from harness.aggregate import Summary, frontier, interpolate, matched  # noqa: E402
from harness.metrics import motion_error, motion_ratio, psnr, ssim  # noqa: E402


def test_fidelity_metrics():
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(3, 5, 16, 16, generator=gen)
    assert psnr(ref, ref) == math.inf and abs(ssim(ref, ref) - 1) < 1e-9
    noisy = (ref + 0.1).clamp(0, 1)
    assert 15 < psnr(noisy, ref) < 25 and ssim(noisy, ref) < 0.999
    assert abs(psnr(torch.full_like(ref, 0.5), torch.full_like(ref, 0.6)) - 20.0) < 1e-4
    frozen = ref[:, :1].expand_as(ref)
    assert motion_ratio(frozen, ref) == 0.0 and abs(motion_error(frozen, ref) - 1.0) < 1e-9
    assert motion_ratio(ref, ref) == 1.0 and motion_error(ref, ref) == 0.0


def _summary(family: str, knob: float, speed: float, quality: float, tag: str = "") -> Summary:
    return Summary(f"{family} {knob}", family, tag, knob, "{}", 1, 0.0, speed, speed, speed, quality, 0.9, 1.0, 0.1,
                   None, None)


def test_matched_comparison_interpolates_on_the_frontier():
    assert interpolate([(1.0, 10.0), (2.0, 20.0)], 1.5) == 15.0 and interpolate([(1.0, 10.0)], 3.0) is None
    # (2.0, 30) is dominated by (2.5, 32): it must not shape the curve
    assert frontier([(1.5, 40.0), (2.0, 30.0), (2.5, 32.0), (3.0, 25.0)]) == [(1.5, 40.0), (2.5, 32.0), (3.0, 25.0)]
    curve = [_summary("easycache", t, s, q) for t, s, q in ((0.1, 1.5, 40.0), (0.2, 2.5, 32.0), (0.3, 3.0, 25.0))]
    m = matched(_summary("semcache", 1.0, 2.0, 36.0, "default"), curve)
    assert abs(m["psnr_at_matched_speedup"] - 36.0) < 1e-9  # halfway between 40 and 32
    assert abs(m["speedup_at_matched_psnr"] - 2.0) < 1e-9
    assert matched(_summary("semcache", 1.0, 5.0, 50.0), curve)["psnr_at_matched_speedup"] is None


@pytest.fixture(scope="module")
def proxy(comfy):
    from harness.env import PROXY_CHECKPOINT, load_model

    assert PROXY_CHECKPOINT.stat().st_size <= 25 * 2**20
    return load_model(PROXY_CHECKPOINT)


def test_committed_proxy_checkpoint_is_detected_as_wan21_t2v(proxy):
    from safetensors import safe_open

    from harness.env import PROXY_CHECKPOINT

    dm = proxy.get_model_object("diffusion_model")
    assert type(proxy.model.model_config).__name__ == "WAN21_T2V"
    assert len(dm.blocks) >= 16 and dm.dim % 128 == 0 and dm.text_embedding[0].in_features == 4096
    with safe_open(str(PROXY_CHECKPOINT), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}


def test_sampling_harness_semcache_skips_and_easycache_fp32_bug(proxy, pack):
    """Real sampler, real block counts; EasyCache without the input copy corrupts fp32 Wan T2V output."""
    from harness.methods import UNCACHED, easycache, semcache
    from harness.prompts import PROMPTS
    from harness.runner import SamplingSetup, row, run_method

    steps = 16
    setup = SamplingSetup(steps=steps, cfg=6.0, frames=3)
    ref = run_method(proxy, pack, UNCACHED, PROMPTS[0], setup)
    eager = semcache("", threshold_scale=1.0)  # few steps: a high threshold, so that some are reused
    sem = run_method(proxy, pack, eager, PROMPTS[0], setup)
    fair = run_method(proxy, pack, easycache(0.2), PROMPTS[0], setup)
    buggy = run_method(proxy, pack, easycache(0.2, copy_input=False), PROMPTS[0], setup)
    assert ref.work.skipped_steps == 0 and len(ref.work.per_step) == steps
    for result in (sem, fair, buggy):
        assert 0 < result.work.skipped_steps < steps and result.work.total < ref.work.total
    assert sem.stats is not None and sem.stats.skipped == sem.work.skipped_steps  # stats agree with real blocks
    r = row(eager, PROMPTS[0], sem, ref, setup)
    assert r["work_speedup"] == ref.work.total / sem.work.total > 1.0 and r["psnr"] < 99.0
    assert (row(easycache(0.2), PROMPTS[0], fair, ref, setup)["psnr"]
            > row(easycache(0.2), PROMPTS[0], buggy, ref, setup)["psnr"] + 10)


def test_benchmark_defaults_are_the_nodes_defaults_and_labels_are_unique(pack):
    """A row tagged "default" must be what a user gets from the node without touching a widget."""
    from importlib import import_module

    from harness import suites
    from harness.peers import DEFAULTS as PEER_DEFAULTS
    from harness.peers import KNOBS

    config = import_module(f"{pack.__name__}.semcache_core.config").SemCacheConfig()
    tmm = import_module(f"{pack.__name__}.semcache_core.tmm").TMMConfig()
    assert suites.DEFAULT_SCALE == config.threshold_scale and suites.DEFAULT_TMM_REUSE == tmm.reuse_ratio
    for family in ("teacache", "magcache", "fbcache"):  # the peers' own defaults, one place
        assert suites.DEFAULTS[family] == PEER_DEFAULTS[family][KNOBS[family]]
    plans = [suites.Plan(), suites.Plan(sweep_points=2), suites.Plan(sweep_points=3, extras=False)]
    for methods in [suites.for_schedule(suites.MAIN_SCHEDULE, p) for p in plans] + [suites.quick()]:
        labels = [m.label for m in methods]
        assert len(labels) == len(set(labels)), labels
        defaults = {m.family for m in methods if m.tag == "default"}
        assert defaults >= {"semcache", "easycache", "lazycache", "teacache", "magcache", "fbcache"}
    chained = [m for m in suites.for_schedule((20, "euler")) if m.family == "semcache+tmm"]
    assert {m.knob for m in chained} == set(suites.SWEEPS["semcache+tmm"])
    assert not [m for m in suites.for_schedule((20, "euler")) if m.tag not in ("", "default")]  # extras: main only


def test_sweep_thinning_keeps_the_default_and_spreads_the_rest():
    from harness.suites import parse_schedules, thin

    pts = (0.05, 0.1, 0.2, 0.25, 0.35, 0.6, 1.0)
    assert thin(pts, None, 0.2) == list(pts) and thin(pts, 10, 0.2) == list(pts)
    assert thin(pts, 3, 0.2) == [0.05, 0.2, 1.0]  # middle point 0.25 gives way to the default
    assert thin(pts, 1, 0.2) == [0.2] and thin(pts, 2, None) == [0.05, 1.0]
    assert parse_schedules("30:uni_pc, 20:euler,50") == [(30, "uni_pc"), (20, "euler"), (50, "uni_pc")]
    assert len(parse_schedules("all")) == 6


def _fake(method: str, family: str, steps: int, sampler: str, psnr: float, work: int, tag: str | None = None,
          knob: float = 0.2, prompt: str = "p", motion: str = "static") -> dict:
    return {"method": method, "family": family, "tag": ("default" if family != "uncached" else "") if tag is None
            else tag, "steps": str(steps), "sampler": sampler, "prompt": prompt, "motion_class": motion,
            "block_work": str(work), "ref_block_work": "100", "cpu_s": "1", "ref_cpu_s": "2", "wall_s": "1",
            "ref_wall_s": "2", "skipped_steps": "0", "psnr": str(psnr), "ssim": "0.9", "motion_ratio": "1",
            "motion_error": "0", "settings": "{}", "knob": str(knob), "ref_motion_energy": "0.01", "held_out": "0",
            "seed": "1"}


def test_schedule_table_groups_by_steps_and_sampler():
    from harness.report import schedule_table

    rows = [_fake("semcache 0.2 [default]", "semcache", 30, "uni_pc", 35.0, 50),
            _fake("semcache 0.2 [default]", "semcache", 20, "euler", 31.0, 25)]
    lines = schedule_table(rows)
    assert lines[2] == "| 20 steps euler | 4.00x, 31.0 dB, 1.00 |"
    assert lines[3] == "| 30 steps uni_pc | 2.00x, 35.0 dB, 1.00 |"


def test_report_matches_peers_and_oracle_at_semcache_psnr_and_flags_points_above_the_oracle():
    from harness.aggregate import schedule_summaries
    from harness.report import above_oracle, markdown, matched_table

    rows = [_fake("semcache 0.2 [default]", "semcache", 30, "uni_pc", 36.0, 50)]
    rows += [_fake(f"oracle {k}", "oracle", 30, "uni_pc", q, w, "", k) for k, q, w in ((0.1, 40.0, 50), (0.3, 32.0, 25))]
    rows += [_fake(f"teacache {k}", "teacache", 30, "uni_pc", q, w, "default" if k == 0.15 else "", k)
             for k, q, w in ((0.05, 38.0, 80), (0.15, 34.0, 40))]
    rows += [_fake("fbcache 0.1 [default]", "fbcache", 30, "uni_pc", 39.0, 40)]  # 2.5x at 39 dB: above the oracle
    per = schedule_summaries(rows)
    table = matched_table(per)
    # oracle: 40 dB at 2x, 32 dB at 4x -> 36 dB at 3x; teacache: 38 dB at 1.25x, 34 dB at 2.5x -> 36 dB at 1.875x
    assert table[2] == ("| 30 steps uni_pc | 2.00x, 36.00 dB | – | – | 1.88x | – | – (one point, 39.0 dB) | 3.00x "
                        "| **0.67** |")
    flagged = above_oracle(per)
    assert len([f for f in flagged if f.startswith("- ")]) == 1 and "fbcache 0.1 [default]" in flagged[0]
    assert "(+1.00 dB)" in flagged[0]  # the oracle gives 38 dB at 2.5x
    assert "SemCache vs every peer and the oracle" in markdown(rows, ["# t"])


def test_readme_quotes_the_committed_benchmark_tables():
    """The README's benchmark tables are the committed run's, not numbers typed by hand."""
    from harness.readme import SECTIONS, block, section

    readme = (BENCH.parent / "README.md").read_text()
    results = (BENCH / "results" / "benchmark.md").read_text()
    quoted = {name: block(readme, name) for name in SECTIONS}
    assert quoted["defaults"] is not None, "README lost its <!-- bench:defaults --> block"
    for name, body in quoted.items():
        if body is not None:
            assert body == section(results, SECTIONS[name]), f"README block {name} differs from benchmark.md"


def test_prompt_subsets_stay_balanced_and_finished_rows_are_found_again():
    import run_benchmark as rb

    assert [p.motion_class for p in rb.pick_prompts(4, False)] == ["static", "dynamic"] * 2
    assert len(rb.pick_prompts(None, False)) == 8 and len(rb.pick_prompts(None, True)) == 10
    fresh = {"method": "teacache 0.15 [default]", "prompt": "p", "seed": 101, "steps": 30, "sampler": "euler"}
    assert rb.row_key(fresh) == rb.row_key({k: str(v) for k, v in fresh.items()})  # as read back from the CSV
