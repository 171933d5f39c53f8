"""Compare Videos (SemCacheCompare): hand-computed metrics, clear errors, one metric implementation,
and a real same-seed A/B through ComfyUI's sampler on a tiny Wan."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch

from semcache_core import compare as compare_module
from semcache_core import metrics

REPO = Path(__file__).resolve().parents[1]


def frames(*values: float, size: int = 8) -> torch.Tensor:
    """An IMAGE batch (T, H, W, 3): frame t is the constant values[t]."""
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, size, size, 3).contiguous()


def test_psnr_ssim_motion_match_hand_computed_values():
    ref = frames(0.5, 0.5)
    cand = frames(0.6, 0.51)  # frame errors 0.1 and 0.01: MSE 0.01 and 0.0001
    result = compare_module.compare(ref, cand)
    assert result.psnr_frames == pytest.approx([20.0, 40.0], abs=1e-4)  # 10 log10(1/0.01), 10 log10(1/0.0001)
    assert (result.psnr_min, result.psnr_min_frame, result.psnr_mean) == (pytest.approx(20.0, abs=1e-4), 0,
                                                                        pytest.approx(30.0, abs=1e-4))  # fmt: skip
    assert result.psnr == pytest.approx(22.96709, abs=1e-4)  # clip MSE (0.01 + 0.0001) / 2 = 0.00505
    # constant frames: no variance, SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1); mean over the two frames
    s0 = (2 * 0.5 * 0.6 + 1e-4) / (0.25 + 0.36 + 1e-4)
    s1 = (2 * 0.5 * 0.51 + 1e-4) / (0.25 + 0.2601 + 1e-4)
    assert result.ssim == pytest.approx((s0 + s1) / 2, abs=1e-5)
    # reference moves 0 -> 0.2 -> 0.4, candidate 0 -> 0.1 -> 0.2: energy 0.01 vs 0.04, error |0.1-0.2|/0.2
    moving = compare_module.compare(frames(0.0, 0.2, 0.4), frames(0.0, 0.1, 0.2))
    assert moving.motion_ratio == pytest.approx(0.25, abs=1e-6)
    assert moving.motion_error == pytest.approx(0.5, abs=1e-6)
    report = result.report(4.0)
    assert "PSNR 22.97 dB" in report and "min 20.00 dB (frame 0), mean 30.00 dB" in report
    assert f"SSIM {(s0 + s1) / 2:.4f}" in report


def test_identical_one_frame_and_tiny_inputs():
    same = compare_module.compare(frames(0.3, 0.7), frames(0.3, 0.7))
    assert math.isinf(same.psnr) and same.motion_ratio == pytest.approx(1.0) and same.motion_error == 0.0
    assert "inf dB (identical)" in same.report()
    payload = same.to_dict()
    assert payload["identical"] and payload["psnr"] is None
    json.dumps(payload, allow_nan=False)  # the UI message must be strict JSON
    single = compare_module.compare(frames(0.5, size=4), frames(0.6, size=4))
    assert single.ssim is None and single.motion_ratio is None and "n/a (one frame)" in single.report()


def test_difference_video_and_clear_errors():
    diff = compare_module.difference_video(frames(0.5, 0.5), frames(0.6, 0.2), amplify=4.0)
    assert diff.shape == (2, 8, 8, 3)
    assert torch.allclose(diff[0], torch.full((8, 8, 3), 0.4)) and torch.equal(diff[1], torch.ones(8, 8, 3))
    with pytest.raises(ValueError, match="reference has 2 frames and the candidate 3"):
        compare_module.compare(frames(0.5, 0.5), frames(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"reference frames are 8x8 and the candidate frames 16x16"):
        compare_module.compare(frames(0.5, 0.5), frames(0.5, 0.5, size=16))
    with pytest.raises(ValueError, match="channels"):
        compare_module.compare(frames(0.5), frames(0.5)[..., :1])


def test_metrics_live_once_and_bench_imports_them():
    """No second copy in bench/: its metrics module is the engine's, function for function."""
    bench = str(REPO / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from harness import metrics as bench_metrics

    engine = (REPO / "semcache_core" / "metrics.py").resolve()
    for name in ("psnr", "ssim", "motion_ratio", "motion_error", "motion_energy", "frame_diffs", "fidelity"):
        code = getattr(bench_metrics, name).__code__
        assert Path(code.co_filename).resolve() == engine and code.co_code == getattr(metrics, name).__code__.co_code
    defined = [
        f"{path.relative_to(REPO)}: {m.group(1)}"
        for path in (REPO / "bench").rglob("*.py")
        for m in re.finditer(r"^def (psnr|ssim|motion_ratio|motion_error|motion_energy)\b", path.read_text(), re.M)
    ]
    assert not defined, defined
    source = (REPO / "semcache_core" / "metrics.py").read_text()
    assert set(re.findall(r"^(?:import|from) (\S+)", source, re.M)) == {"__future__", "math", "torch"}


def test_node_schema_and_a_same_seed_ab_through_comfy(pack, tmp_path):
    """Uncached and cached (threshold high) runs of one seed, 'decoded', compared by the node."""
    from semcache_pack.nodes import SemCacheCompare, SemCachePatchModel
    from tiny_models import build_wan, load

    from sampling import latent, sample

    schema = SemCacheCompare.define_schema()
    assert (schema.node_id, schema.display_name, schema.category) == ("SemCacheCompare", "Compare Videos",
                                                                      "advanced/model")  # fmt: skip
    assert [i.id for i in schema.inputs] == ["reference", "candidate", "amplify"]
    assert [o.display_name for o in schema.outputs] == ["report", "difference"]
    assert "HunyuanVideo" in schema.description and all(i.tooltip for i in schema.inputs)

    model = load(build_wan("t2v", tmp_path / "tiny_wan_t2v.safetensors"))
    settings = dict(start_percent=0.1, end_percent=1.0, max_skip_steps=4, probe_layers=15, alpha=-1.0, beta=-1.0,
                    tanh_scale=1.0, error_model="input_scaled", cache_device="model_device")  # fmt: skip

    def decode(samples: torch.Tensor) -> torch.Tensor:  # latent (1, 16, T, H, W) -> IMAGE (T, H, W, 3)
        return torch.sigmoid(samples[0, :3]).permute(1, 2, 3, 0).contiguous()

    lat = latent((1, 16, 3, 8, 8))
    reference = decode(sample(model, lat, steps=12, seed=7))
    exact = decode(sample(SemCachePatchModel.execute(model, threshold_scale=0.0, **settings)[0], lat, steps=12, seed=7))
    cached = decode(sample(SemCachePatchModel.execute(model, threshold_scale=5.0, **settings)[0], lat, steps=12, seed=7))

    out = SemCacheCompare.execute(reference, exact, 4.0)
    assert "inf dB (identical)" in out[0] and torch.equal(out[1], torch.zeros_like(reference))
    out = SemCacheCompare.execute(reference, cached, 4.0)
    report, difference = out[0], out[1]
    mse = float(((cached.double() - reference.double()) ** 2).mean())
    assert 0 < mse and f"PSNR {10 * math.log10(1 / mse):.2f} dB" in report
    assert torch.allclose(difference, ((cached - reference).abs() * 4).clamp(0, 1))
    assert out.ui["text"][0] == report and out.ui["semcache_compare"][0]["frames"] == 3
    json.dumps(out.ui, allow_nan=False)
