"""The two nodes as ComfyUI sees them: fixed ids and input names, stats output and plot."""

from __future__ import annotations

import pytest
import torch

from sampling import latent, sample

PATCH_INPUTS = [
    "model", "threshold_scale", "start_percent", "end_percent", "max_skip_steps", "probe_layers",
    "alpha", "beta", "tanh_scale", "error_model", "cache_device", "threshold_mode", "min_steps", "target_speedup",
    "reuse_mode",
]


def schema(node):
    s = node.define_schema()
    return s, [i.id for i in s.inputs], [o.display_name or o.id for o in s.outputs]


def test_node_ids_and_input_names_are_the_released_ones(pack):
    from semcache_pack.nodes import SemCachePatchModel, SemCacheStats

    s, inputs, _ = schema(SemCachePatchModel)
    assert (s.node_id, s.display_name) == ("SemCachePatchModel", "SemCache Patch Model")
    assert inputs == PATCH_INPUTS
    assert all(i.tooltip for i in s.inputs)
    s, inputs, outputs = schema(SemCacheStats)
    assert (s.node_id, s.display_name) == ("SemCacheStats", "Cache Stats")
    assert inputs == ["model", "latent"] and outputs == ["latent", "report", "plot"]


def patch_with_node(model, **overrides):
    from semcache_pack.nodes import SemCachePatchModel

    settings = dict(
        threshold_scale=1.0, start_percent=0.1, end_percent=1.0, max_skip_steps=4, probe_layers=15,
        alpha=-1.0, beta=-1.0, tanh_scale=1.0, error_model="input_scaled", cache_device="model_device",
    )
    settings.update(overrides)
    return SemCachePatchModel.execute(model, **settings)[0]


def skipped_marks(plot: torch.Tensor) -> int:
    """Count the red 'skipped' marks drawn in the timeline's marker row."""
    from semcache_pack.semcache_core import plot as plot_module

    row = (plot[0, plot_module.HEIGHT - plot_module.MARGIN + 12] * 255).round().to(torch.int64)
    red = torch.tensor(plot_module.SKIPPED)
    is_red = (row == red).all(dim=1).tolist()
    return sum(1 for i, v in enumerate(is_red) if v and (i == 0 or not is_red[i - 1]))


def test_stats_node_before_and_after_a_run(pack, wan_models):
    from semcache_pack.nodes import SemCacheStats

    model = patch_with_node(wan_models["t2v"], threshold_scale=2.0)
    lat = {"samples": latent((1, 16, 3, 8, 8))}
    out = SemCacheStats.execute(model, lat)
    assert out[0] is lat and "has not run yet" in out[1]
    assert out.ui["text"][0] == out[1] and out.ui["semcache_stats"][0] is None

    samples = sample(model, latent((1, 16, 3, 8, 8)), steps=30)
    out = SemCacheStats.execute(model, {"samples": samples})
    passed, report, plot = out[0], out[1], out[2]
    assert torch.equal(passed["samples"], samples)
    from semcache_pack.semcache_core.comfy_glue import latest_stats

    run = latest_stats(model)
    assert report.splitlines()[0] == run.summary_line()
    assert f"computed {run.computed}, skipped {run.skipped}" in report
    assert len([line for line in report.splitlines()[1:] if " skipped " in line]) == run.skipped
    assert plot.ndim == 4 and plot.shape[0] == 1 and plot.shape[-1] == 3
    assert 0.0 <= plot.min() and plot.max() <= 1.0
    assert run.skipped > 0 and skipped_marks(plot) == run.skipped
    shown = out.ui["semcache_stats"][0]
    assert [s["decision"] for s in shown["steps"]] == [r.decision for r in run.records]
    assert (shown["computed"], shown["skipped"]) == (run.computed, run.skipped)
    import json

    json.dumps(out.ui)  # the UI payload must be JSON-serialisable for the websocket


def test_stats_node_on_an_unpatched_model(pack, wan_models):
    from semcache_pack.nodes import SemCacheStats

    out = SemCacheStats.execute(wan_models["t2v"], {"samples": latent((1, 16, 3, 8, 8))})
    assert "not patched by SemCache" in out[1]


def test_stats_follow_the_model_through_later_clones(pack, wan_models):
    """A LoRA or other patch after SemCache clones the MODEL; stats must still reach the node."""
    from semcache_pack.nodes import SemCacheStats

    model = patch_with_node(wan_models["t2v"], threshold_scale=2.0)
    later = model.clone()
    sample(later, latent((1, 16, 3, 8, 8)), steps=30)
    assert "skipped" in SemCacheStats.execute(model, {"samples": latent((1, 16, 3, 8, 8))})[1]


def test_bad_settings_fail_at_patch_time(pack, wan_models):
    import pytest

    with pytest.raises(ValueError, match="start_percent"):
        patch_with_node(wan_models["t2v"], start_percent=0.9, end_percent=0.2)


DECISION_BASE = dict(threshold_scale=0.3, start_percent=0.0, max_skip_steps=100)
_patterns: dict = {}


def computed_pattern(model, **overrides) -> str:
    """The node's decisions, step by step, from real block executions: '#' computed, '.' skipped."""
    from sampling import BlockCounter

    key = tuple(sorted(overrides.items()))
    if key not in _patterns:
        patched = patch_with_node(model, **DECISION_BASE, **overrides)
        with BlockCounter(patched) as counter:
            sample(patched, latent((1, 16, 3, 8, 8)), steps=16, callback=counter.callback)
        _patterns[key] = "".join("#" if n else "." for n in counter.per_step)
    return _patterns[key]


@pytest.mark.parametrize("setting", [dict(error_model="paper"), dict(threshold_mode="paper"),
                                     dict(tanh_scale=100.0), dict(probe_layers=1)], ids=lambda s: next(iter(s)))
def test_advanced_inputs_change_decisions_through_the_node(pack, wan_models, setting):
    default = computed_pattern(wan_models["t2v"])
    changed = computed_pattern(wan_models["t2v"], **setting)
    assert "." in default and changed != default, (default, changed)
