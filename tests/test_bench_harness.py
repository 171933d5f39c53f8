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
    from harness.methods import run_method
    from harness.runner import SamplingSetup, row

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
    for family in ("teacache", "teacache-ret", "magcache", "fbcache"):  # the peers' own defaults, one place
        assert suites.DEFAULTS[family] == PEER_DEFAULTS[family][KNOBS[family]]
    # each peer's default row is its authors' recommended Wan 2.1 T2V 1.3B setting
    assert (PEER_DEFAULTS["teacache"]["rel_l1_thresh"], PEER_DEFAULTS["teacache-ret"]["rel_l1_thresh"]) == (0.08, 0.15)
    assert PEER_DEFAULTS["teacache-ret"]["mode"] == "e0" and PEER_DEFAULTS["fbcache"] == {"residual_diff_threshold": 0.03}
    assert {k: PEER_DEFAULTS["magcache"][k] for k in ("magcache_thresh", "magcache_K", "retention_ratio")} == {
        "magcache_thresh": 0.12, "magcache_K": 4, "retention_ratio": 0.2}
    mag = [m for m in suites.for_schedule(suites.MAIN_SCHEDULE) if m.family == "magcache"]
    assert {(m.knob, m.settings["magcache_K"]) for m in mag} == {(t, k) for t in suites.SWEEPS["magcache"]
                                                                for k in (2, 4, 6)}
    assert [m.label for m in mag if m.tag == "default"] == ["magcache 0.12 K=4 [default]"]
    assert min(suites.SWEEPS["fbcache"]) == 0.02
    plans = [suites.Plan(), suites.Plan(sweep_points=2), suites.Plan(sweep_points=3, extras=False)]
    for methods in [suites.for_schedule(suites.MAIN_SCHEDULE, p) for p in plans] + [suites.quick()]:
        labels = [m.label for m in methods]
        assert len(labels) == len(set(labels)), labels
        defaults = {m.family for m in methods if m.tag == "default"}
        assert defaults >= {"semcache", "easycache", "lazycache", "teacache", "magcache", "fbcache"}
    chained = [m for m in suites.for_schedule((20, "euler")) if m.family == "semcache+tmm"]
    assert {m.knob for m in chained} == set(suites.SWEEPS["semcache+tmm"])
    assert not [m for m in suites.for_schedule((20, "euler")) if m.tag not in ("", "default")]  # extras: main only
    tuning = suites.tuning()
    assert {m.family for m in tuning} == {"uncached", "semcache"} and len({m.label for m in tuning}) == len(tuning)
    # thinned off the main schedule, except SemCache's sweep: the target-mode rows are compared with all of it
    thinned = suites.for_schedule((20, "euler"), suites.Plan(other_points=2))
    assert {m.knob for m in thinned if m.family == "semcache"} == set(suites.SWEEPS["semcache"])
    assert len([m for m in thinned if m.family == "easycache"]) == 2


def test_sweep_thinning_keeps_the_default_and_spreads_the_rest():
    from harness.suites import parse_schedules, thin

    pts = (0.05, 0.1, 0.2, 0.25, 0.35, 0.6, 1.0)
    assert thin(pts, None, 0.2) == list(pts) and thin(pts, 10, 0.2) == list(pts)
    assert thin(pts, 3, 0.2) == [0.05, 0.2, 1.0]  # middle point 0.25 gives way to the default
    assert thin(pts, 1, 0.2) == [0.2] and thin(pts, 2, None) == [0.05, 1.0]
    assert parse_schedules("30:uni_pc, 20:euler,50") == [(30, "uni_pc"), (20, "euler"), (50, "uni_pc")]
    assert len(parse_schedules("all")) == 6 and parse_schedules("all")[0] == (30, "uni_pc")  # main first


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


def test_report_compares_frontiers_both_ways_and_against_the_search_bound():
    from harness.aggregate import schedule_summaries
    from harness.report import bound_section, markdown, matched_table

    def whole(method, family, psnr, computed, prompt, tag=None, knob=0.2):
        r = _fake(method, family, 30, "uni_pc", psnr, computed * 10, tag, knob, prompt)
        r["ref_block_work"] = "40"
        r["pattern"] = "C" * computed + "." * (4 - computed)
        return r

    rows = []
    for prompt in ("p", "q"):
        rows += [whole("uncached", "uncached", 99.0, 4, prompt)]
        rows += [whole("semcache 0.2 [default]", "semcache", 36.0, 2, prompt)]  # 2x at 36 dB
        rows += [whole(f"greedy-oracle {k}", "greedy-oracle", q, c, prompt, "", k)
                 for k, q, c in ((0.1, 40.0, 3), (0.3, 30.0, 1))]
        rows += [whole(f"teacache {k}", "teacache", q, c, prompt, "default" if k == 0.08 else "", k)
                 for k, q, c in ((0.03, 38.0, 3), (0.08, 34.0, 2))]
    fb = [_fake("fbcache 0.03 [default]", "fbcache", 30, "uni_pc", 45.0, 20, None, 0.03, p) for p in ("p", "q")]
    for r in fb:
        r.update(ref_block_work="40", pattern="CCpp")
    rows += fb
    per = schedule_summaries(rows)
    table = matched_table(per, rows)
    # teacache frontier: 38 dB at 1.33x, 34 dB at 2x -> SemCache's 36 dB at 1.67x; at 2x it gives 34 dB.
    # greedy oracle: 40 dB at 1.33x, 30 dB at 4x -> 36 dB at 2.4x; at 2x 37.5 dB.
    # search bound (knapsack over the two prompts' whole-step options: 4 computed 99 dB, 3: 40, 2: 36, 1: 30):
    # 64.5 dB at 1.6x (4 + 1 computed), 36 dB at 2x (2 + 2), 33 dB at 2.67x -> 36 dB at 2x exactly
    cells = [c.strip() for c in table[2].split("|")[1:-1]]
    assert cells[0] == "30 steps uni_pc" and cells[1] == "2.00x, 36.00 dB"
    assert cells[4] == "1.67x / 34.0 dB" and cells[9] == "2.40x / 37.5 dB"  # 8: TaylorSeer-Lite (no rows)
    assert cells[11] == "2.00x / 36.0 dB" and cells[12] == "**1.00**"
    section = "\n".join(bound_section(rows, per))
    assert "No whole-step method's mean point lies more than 0.3 dB above the bound." in section
    assert "fbcache 0.03 [default]" in section and "not a whole-step method" in section  # flagged, not a defect
    text = markdown(rows, ["# t"])
    assert "SemCache vs every peer along the frontiers, and the bounds" in text and "greedy-oracle" in text


def test_forecast_families_are_selectable_sweeps(pack, wan_models):
    from harness import bound, suites

    plan = suites.Plan(families=("semcache-forecast_1", "semcache-forecast_2", "taylorseer-lite"))
    methods = suites.sweeps(plan)[1:]
    assert set(bound.FORECASTING) == {m.family for m in methods}
    assert {m.settings.get("reuse_mode") for m in methods} == {"forecast_1", "forecast_2", None}
    assert [m.knob for m in methods if m.family == "taylorseer-lite"] == list(suites.SWEEPS["taylorseer-lite"])
    assert not [m for m in methods if m.tag == "default" and m.family != "taylorseer-lite"]  # no node default
    assert "semcache-forecast_1 0.2" in {m.label for m in methods} and "taylorseer-lite 5 [default]" in {
        m.label for m in methods}
    from importlib import import_module

    glue = import_module(f"{pack.__name__}.semcache_core.comfy_glue")
    model = next(m for m in methods if m.family == "semcache-forecast_2").apply(wan_models["t2v"], pack)
    from sampling import latent, sample

    sample(model, latent((1, 16, 3, 8, 8)), steps=12)
    assert glue.latest_stats(model).settings["reuse_mode"] == "forecast_2"


def test_forecast_rows_stand_against_their_own_bound():
    """Forecasting rows neither raise the reuse bound nor count as its defects; they get their own frontier
    and the reuse-vs-forecast table."""
    from harness import bound
    from harness.aggregate import schedule_summaries
    from harness.report import bound_section, forecast_table

    def whole(method, family, psnr, computed, prompt, tag="", knob=0.2):
        r = _fake(method, family, 30, "uni_pc", psnr, computed * 10, tag, knob, prompt)
        r.update(ref_block_work="40", pattern="C" * computed + "." * (4 - computed))
        return r

    rows = []
    for prompt in ("p", "q"):
        rows += [whole("uncached", "uncached", 99.0, 4, prompt)]
        rows += [whole("semcache 0.2 [default]", "semcache", 36.0, 2, prompt, "default"),
                 whole("semcache 0.6", "semcache", 30.0, 1, prompt, "", 0.6)]
        rows += [whole(f"semcache-forecast_1 {k}", "semcache-forecast_1", q, c, prompt, "", k)
                 for k, q, c in ((0.2, 38.0, 2), (0.6, 33.0, 1))]
        rows += [whole(f"taylorseer-lite {k}", "taylorseer-lite", q, c, prompt, "", k)
                 for k, q, c in ((2, 37.0, 2), (4, 31.0, 1))]
    reuse, fore = bound.frontier(rows), bound.forecast_frontier(rows)
    assert max(p.psnr for p in reuse if p.speedup == 2.0) == 36.0  # forecast rows (38 dB at 2x) left out
    assert [(round(p.speedup, 2), p.psnr) for p in fore] == [(2.0, 38.0), (2.67, 35.5), (4.0, 33.0)]
    assert not bound.replay_patterns(rows, "p", 30, "uni_pc")  # their patterns are not reuse schedules either
    per = schedule_summaries(rows)
    section = "\n".join(bound_section(rows, per))
    assert "No whole-step method's mean point lies more than 0.3 dB above the bound." in section
    assert "Forecast bound" in section and "semcache-forecast_1 0.2 2.00x at 38.00 dB: above the reuse bound" in section
    table = forecast_table(per, rows)
    cells = [c.strip() for c in table[2].split("|")[1:-1]]  # at SemCache default's 36 dB
    # reuse: 2x; forecast_1: 38 dB at 2x, 33 dB at 4x -> 36 dB at 2.8x; TaylorSeer: 37 at 2x, 31 at 4x -> 2.33x
    assert cells[1] == "SemCache default: 36.00 dB" and cells[2:5] == ["2.00", "2.80", "–"]
    assert cells[5] == "2.33" and cells[7] == "2.00" and cells[8] == "2.53"  # bounds: reuse, forecast (knapsack)


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


def test_harness_layering_runs_one_way():
    """runner and calibration sit below the peers, the method table above them: no import circle."""
    import ast

    def imports(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                found |= {node.module or ""} | {f"{node.module}.{a.name}" if node.module else a.name for a in node.names}
        return found

    harness = BENCH / "harness"
    below = {"runner": imports(harness / "runner.py"), "calibration": imports(harness / "peers" / "calibration.py"),
             "engine": imports(harness / "peers" / "engine.py")}
    for name, found in below.items():
        assert not {m for m in found if m.split(".")[0] in ("methods", "suites", "peers")}, (name, found)
    assert "peers" in imports(harness / "methods.py") and "runner" in imports(harness / "methods.py")
