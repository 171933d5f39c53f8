"""Model families and variants: unsupported models fail clearly; Wan variants skip for real.

VACE, S2V, Animate, HuMo and Camera with their own inputs: tests/test_between_blocks.py.
"""

from __future__ import annotations

import pytest
import torch

from sampling import BlockCounter, latent, sample
from test_exactness import patched, stats


@pytest.fixture(scope="module")
def image_model(comfy, ckpt_dir):
    """HunyuanImage 2.1: a real ComfyUI model SemCache does not support (an image model)."""
    from tiny_models import build_hunyuan, load

    return load(build_hunyuan("image21", ckpt_dir / "tiny_hunyuan_image21.safetensors"))


def test_unsupported_model_gets_a_clear_error_at_patch_time(pack, image_model):
    from semcache_pack.semcache_core.adapters import UnsupportedModelError

    assert type(image_model.model).__name__ == "HunyuanImage21"
    with pytest.raises(UnsupportedModelError) as info:
        patched(pack, image_model)
    message = str(info.value)
    assert "HunyuanImage21" in message and "comfy.ldm.hunyuan_video.model.HunyuanVideo" in message
    assert "Wan 2.1 / Wan 2.2" in message and "HunyuanVideo 1.0 / 1.5" in message
    assert "semcache" not in image_model.model_options.get("transformer_options", {})


def test_unsupported_model_through_the_node(pack, image_model):
    from semcache_pack.nodes import SemCachePatchModel
    from semcache_pack.semcache_core.adapters import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="HunyuanImage21"):
        SemCachePatchModel.execute(
            image_model, threshold_scale=1.0, start_percent=0.1, end_percent=1.0, max_skip_steps=4,
            probe_layers=15, alpha=-1.0, beta=-1.0, tanh_scale=1.0, error_model="input_scaled",
            cache_device="model_device",
        )


def test_engine_never_imports_comfy_outside_the_glue():
    import ast
    from pathlib import Path

    core = Path(__file__).resolve().parents[1] / "semcache_core"
    offenders = []
    for path in core.rglob("*.py"):
        if path.name == "comfy_glue.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("comfy", "comfy_api", "nodes")]
    assert offenders == []


def clip_vision(tokens: int):
    import comfy.clip_vision

    out = comfy.clip_vision.Output()
    out.penultimate_hidden_states = torch.randn(1, tokens, 1280, generator=torch.Generator().manual_seed(9))
    return out


VARIANT_CONDS = {
    "flf": lambda: dict(concat_latent_image=latent((1, 16, 3, 8, 8), seed=4), clip_vision_output=clip_vision(514)),
    "fun": lambda: dict(concat_latent_image=latent((1, 32, 3, 8, 8), seed=4)),  # control video latents
    "a14b_i2v": lambda: dict(concat_latent_image=latent((1, 16, 3, 8, 8), seed=4)),
    "camera": lambda: dict(concat_latent_image=latent((1, 16, 3, 8, 8), seed=4)),
}


@pytest.mark.parametrize("variant", list(VARIANT_CONDS))
def test_other_wan_variants_are_exact_at_zero_and_skip_for_real(pack, wan_paths, variant):
    from sampling import cond
    from tiny_models import load

    model = load(wan_paths[variant])
    extra = VARIANT_CONDS[variant]()
    kwargs = dict(positive=cond(1, **extra), negative=cond(2, **extra), steps=16)
    base = sample(model, latent((1, 16, 3, 8, 8)), **kwargs)
    assert torch.equal(sample(patched(pack, model, threshold_scale=0.0), latent((1, 16, 3, 8, 8)), **kwargs), base)
    eager = patched(pack, model, threshold_scale=50.0, start_percent=0.0)
    with BlockCounter(eager) as counter:
        out = sample(eager, latent((1, 16, 3, 8, 8)), callback=counter.callback, **kwargs)
    assert torch.isfinite(out).all()
    run = stats(eager)
    assert run.disabled_reason is None and run.skipped > 0
    assert [n > 0 for n in counter.per_step] == [r.decision == "computed" for r in run.records]
