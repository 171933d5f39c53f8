"""The benchmark's target-mode rows, tables and plot (bench/harness/target.py) on synthetic rows."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from harness import suites, target  # noqa: E402


def _row(label: str, tag: str, knob, speed: float, psnr: float, steps=30, sampler="uni_pc", ratio=None, family="semcache"):
    row = {"method": label, "family": family, "tag": tag, "knob": "" if knob is None else knob, "settings": "{}",
           "steps": steps, "sampler": sampler, "skipped_steps": 0, "block_work": 100.0, "ref_block_work": 100.0 * speed,
           "cpu_s": 1.0, "ref_cpu_s": speed, "wall_s": 1.0, "ref_wall_s": speed, "psnr": psnr, "ssim": 0.9,
           "motion_ratio": 1.0, "motion_error": 0.1, "work_speedup": speed}
    if ratio is not None:
        row["check_ratio_median"] = ratio
    return row


def test_every_schedule_gets_the_target_and_self_calibrated_rows():
    methods = suites.target_suite()
    tags = [m.tag for m in methods]
    assert [m.settings["target_speedup"] for m in methods if "target_speedup" in m.settings] == [1.5, 2.0, 2.5, 3.0]
    assert tags.count("self_calibrated") == len(target.SELF_CALIBRATED_SCALES)
    assert len({m.label for m in methods}) == len(methods), "labels key the rows: they must differ"
    assert all(m.tag not in ("", "default") for m in methods), "tagged: off the fixed sweep's curve"


def test_tables_and_plot(tmp_path):
    rows = [
        _row("semcache 0.1", "", 0.1, 1.5, 40.0, ratio=0.5), _row("semcache 0.2", "default", 0.2, 2.0, 36.0, ratio=0.4),
        _row("semcache 0.6", "", 0.6, 3.0, 30.0, ratio=0.3),
        _row("semcache [target 2]", "target 2", None, 2.05, 35.5), _row("semcache [target 2]", "target 2", None, 1.7, 35.0),
        _row("semcache 0.2 [self_calibrated]", "self_calibrated", 0.2, 2.5, 34.0, ratio=1.0),
    ]  # fmt: skip
    lines, totals = target.achieved_table(rows)
    assert totals["within"] == 1 and totals["samples"] == 2
    body = [line for line in lines if line.startswith("| 30 uni_pc | 2 |")]
    assert len(body) == 1 and "| 1/2 |" in body[0]
    section = target.markdown_section(rows)
    assert "## Target mode and the error check" in section and "| 30 uni_pc | 0.40 (0.30-0.50) | 3 | 1.00" in section
    assert "self_calibrated vs the fixed sweep at equal compute speedup: mean +1.00 dB" in section
    assert target.plot(rows, tmp_path / "t.png").is_file()
    assert target.markdown_section([r for r in rows if not r["tag"].startswith("target")]) == ""


def test_error_check_fields():
    records = [SimpleNamespace(check_measured=0.1, check_estimated=0.2), SimpleNamespace(check_measured=None,
               check_estimated=None), SimpleNamespace(check_measured=0.3, check_estimated=0.1)]
    fields = target.error_check_fields(SimpleNamespace(records=records))
    assert fields == pytest.approx({"checks": 2, "check_ratio_median": 1.75, "check_ratio_min": 0.5, "check_ratio_max": 3.0})
    assert target.error_check_fields(SimpleNamespace(records=[])) == {"checks": 0}


def test_same_prompt_cost_compares_each_sample_with_its_own_prompts_sweep():
    def on(prompt, row):
        return {**row, "prompt": prompt, "seed": 1}

    rows = [  # prompt a: easy (fast at every scale), prompt b: hard
        on("a", _row("semcache 0.1", "", 0.1, 2.0, 40.0)), on("a", _row("semcache 0.2", "default", 0.2, 3.0, 34.0)),
        on("b", _row("semcache 0.1", "", 0.1, 1.2, 44.0)), on("b", _row("semcache 0.2", "default", 0.2, 2.0, 30.0)),
        on("a", _row("semcache [target 2]", "target 2", None, 2.5, 36.0)),  # a's sweep at 2.5: 37.0
        on("b", _row("semcache [target 2]", "target 2", None, 1.6, 38.0)),  # b's sweep at 1.6: 37.0
        on("c", _row("semcache [target 2]", "target 2", None, 2.0, 30.0)),  # no sweep for c: left out
    ]  # fmt: skip
    costs = target.same_prompt_costs(rows)
    assert sorted(costs.values()) == pytest.approx([-1.0, 1.0])
    _, totals = target.achieved_table(rows)
    assert totals["same_prompt_cost_db"] == pytest.approx(0.0) and totals["same_prompt_samples"] == 2


def _on(prompt, row):
    return {**row, "prompt": prompt, "seed": 1}


def test_next_exact_scale_bisects_between_the_sweep_points_that_bracket_each_target_speed():
    key = ((30, "uni_pc"), "a", "1")
    rows = [_on("a", _row("semcache 0.1", "", 0.1, 1.4, 45.0)), _on("a", _row("semcache 0.4", "", 0.4, 2.6, 33.0)),
            _on("a", _row("semcache [target 2]", "target 2", None, 2.0, 38.0))]
    assert target.next_exact_scale(rows, key) == pytest.approx(0.2)  # geometric mean of 0.1 and 0.4, 3 digits
    rows.append(_on("a", _row("semcache 0.2 [exact speed]", "exact speed", 0.2, 1.8, 40.0)))
    assert target.next_exact_scale(rows, key) == pytest.approx(0.283)  # now between 0.2 (1.8x) and 0.4 (2.6x)
    rows.append(_on("a", _row("semcache 0.283 [exact speed]", "exact speed", 0.283, 2.0, 37.0)))
    assert target.next_exact_scale(rows, key) is None, "matched exactly: nothing more to run"
    # a speed outside the sweep widens it (x2 / x0.5, within EXACT_SCALE_RANGE)
    assert target.next_exact_scale([*rows[:2], _on("a", _row("t", "target 3", None, 3.0, 30.0))], key) == 0.8
    assert target.next_exact_scale([*rows[:2], _on("a", _row("t", "target 1.2", None, 1.2, 50.0))], key) == 0.05
    top = [_on("a", _row("s", "", 16.0, 2.6, 33.0)), _on("a", _row("t", "target 3", None, 3.0, 30.0))]
    assert target.next_exact_scale(top, key) is None
    # a narrow bracket, another prompt's rows: nothing to run
    narrow = [_on("a", _row("s", "", 0.1, 1.4, 45.0)), _on("a", _row("s", "", 0.102, 1.6, 44.0)),
              _on("a", _row("t", "target 1.5", None, 1.5, 44.0))]
    assert target.next_exact_scale(narrow, key) is None
    assert target.next_exact_scale(rows[:3], ((30, "uni_pc"), "b", "1")) is None
    capped = rows[:3] + [_on("a", _row(f"e{i}", "exact speed", 5.0 + i, 9.0, 1.0)) for i in range(target.EXACT_MAX_RUNS)]
    assert target.next_exact_scale(capped, key) is None, "at most EXACT_MAX_RUNS runs per prompt and schedule"


def test_exact_speed_cost_uses_fixed_runs_at_the_same_speed_else_the_nearest_on_each_side():
    rows = [
        _on("a", _row("semcache 0.1", "", 0.1, 1.4, 45.0)), _on("a", _row("semcache 0.4", "", 0.4, 2.6, 33.0)),
        _on("a", _row("semcache 0.2 [exact speed]", "exact speed", 0.2, 2.0, 37.0)),
        _on("a", _row("semcache 0.21 [exact speed]", "exact speed", 0.21, 2.0, 39.0)),  # same speed: mean 38
        _on("a", _row("semcache [target 2]", "target 2", None, 2.0, 37.5)),  # 38 - 37.5 = +0.5
        _on("a", _row("semcache [target 2.5]", "target 2.5", None, 2.3, 36.0)),  # between 2.0 (38) and 2.6 (33): 35.5
        _on("b", _row("semcache [target 2]", "target 2", None, 2.0, 30.0)),  # no fixed runs on b: left out
        _on("a", _row("semcache 0.3 [self_calibrated]", "self_calibrated", 0.3, 2.3, 50.0)),  # not the fixed rule
    ]  # fmt: skip
    costs = target.exact_speed_costs(rows)
    assert sorted(costs.values()) == pytest.approx([-0.5, 0.5])
    _, totals = target.achieved_table(rows)
    assert totals["exact_cost_db"] == pytest.approx(0.0) and totals["exact_samples"] == 2
    assert totals["exact_points_within_half_db"] == 2 and totals["exact_points_clearly_above_half_db"] == 0
    assert target.standard_error([1.0, 3.0]) == pytest.approx(1.0) and target.standard_error([2.0]) == 0.0
    far = rows + [_on(p, _row("s", "", 0.1, 1.4, 45.0)) for p in "cd"] + [_on(p, _row("s", "", 0.4, 2.6, 33.0)) for p in "cd"]
    far += [_on("c", _row("t", "target 2.5", None, 2.0, 37.0)), _on("d", _row("t", "target 2.5", None, 2.0, 37.2))]
    _, totals = target.achieved_table(far)  # 2.5: costs -0.5, 2.0, 1.8 on a, c, d: mean 1.1, SE 0.8
    assert totals["exact_points_clearly_above_half_db"] == 0
    far += [_on("e", _row("s", "", 0.1, 1.4, 45.0)), _on("e", _row("s", "", 0.4, 2.6, 33.0)),
            _on("e", _row("t", "target 2.5", None, 2.0, 37.1))]
    _, totals = target.achieved_table([r for r in far if not (r["prompt"] == "a" and r["tag"] == "target 2.5")])
    assert totals["exact_points_clearly_above_half_db"] == 1  # 2.0, 1.8, 1.9: SE 0.06
    # the exact-speed runs stay off the sweep curves the other tables interpolate on
    assert all(s.tag in ("", "default") for s in target.fixed_curve(target.schedule_summaries(rows)[(30, "uni_pc")]))


def test_exact_speed_rows_are_no_configuration_of_their_own_in_the_report_or_plot(tmp_path, monkeypatch):
    """Each exact-speed threshold runs on the prompts that needed it, so its mean covers other
    prompts than the sweep's: it must not show up as a row of the extras table or a plot point."""
    from harness import plots
    from harness.report import markdown

    rows = [_on("a", _row("semcache 0.1", "", 0.1, 1.4, 45.0)), _on("a", _row("semcache 0.2", "default", 0.2, 2.0, 37.0)),
            _on("a", _row("semcache 0.15 [exact speed]", "exact speed", 0.15, 1.7, 40.0)),
            _on("a", _row("semcache [target 2]", "target 2", None, 2.0, 37.5))]
    for r in rows:
        r.update(split="evaluation", motion_class="static", held_out=0, ref_motion_energy=0.01)
    text = markdown(rows, ["# t"])
    assert "[target 2]" in text and "[exact speed]" not in text.split("## Target mode")[0]
    drawn = []
    monkeypatch.setattr(plots, "_shown", lambda v, metric: drawn.append(v) or v)
    plots.pareto(target.schedule_summaries(rows), tmp_path / "p.png", main=(30, "uni_pc"))
    assert 40.0 not in drawn and 37.5 in drawn
