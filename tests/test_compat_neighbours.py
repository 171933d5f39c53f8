"""The nodes users put around SemCache (issue 14): LoRA, context windows, SLG, low-precision weights.

Each is ComfyUI 0.3.75's own node or loader on a tiny Wan; skipping is checked by counting real
block executions; "exact" means bit-identical to the same graph without SemCache.
"""

from __future__ import annotations

import pytest
import torch

from sampling import BlockCounter, latent, sample
from test_exactness import patched, stats

LAT = (1, 16, 3, 8, 8)
STEPS = 12
EAGER = dict(threshold_scale=2.0, start_percent=0.0, min_steps=4)


def n_blocks(model) -> int:
    return len(model.get_model_object("diffusion_model").blocks)


def core_node(node_cls, model, **inputs):
    """A core (V3) node's output MODEL, every input the test does not set taken from the node's
    own schema default: the call fits the node's argument list on 0.3.75 and on newer ComfyUI
    (v0.33's WanContextWindowsManual added freenoise and more)."""
    values = {}
    for spec in node_cls.define_schema().inputs:
        if spec.id == "model":
            continue
        if spec.id in inputs:
            values[spec.id] = inputs.pop(spec.id)
        elif getattr(spec, "default", None) is not None:
            values[spec.id] = spec.default
        elif getattr(spec, "options", None):
            values[spec.id] = spec.options[0]
        elif not getattr(spec, "optional", False):
            raise AssertionError(f"{node_cls.__name__}.{spec.id}: no default")
    assert not inputs, f"{node_cls.__name__} has no inputs {sorted(inputs)}"
    return node_cls.execute(model, **values)[0]


def counted(model, lat=LAT, steps=STEPS, **kwargs):
    with BlockCounter(model) as counter:
        out = sample(model, latent(lat), steps=steps, callback=counter.callback, **kwargs)
    return out, counter


# -- LoRA through the core loader, before SemCache ----------------------------------------------
@pytest.fixture(scope="module")
def lora_model(comfy, wan_models, tmp_path_factory):
    """Core `LoraLoaderModelOnly` with a rank-4 LoRA on every self-attention q/o of the tiny Wan."""
    import folder_paths
    import nodes
    from safetensors.torch import save_file

    base = wan_models["t2v"]
    generator = torch.Generator().manual_seed(7)
    lora = {}
    for i in range(n_blocks(base)):
        for proj in ("q", "o"):
            key = f"diffusion_model.blocks.{i}.self_attn.{proj}"
            lora[f"{key}.lora_up.weight"] = torch.randn(128, 4, generator=generator) * 0.2
            lora[f"{key}.lora_down.weight"] = torch.randn(4, 128, generator=generator) * 0.2
    folder = tmp_path_factory.mktemp("loras")
    save_file(lora, str(folder / "tiny_wan_lora.safetensors"))
    folder_paths.add_model_folder_path("loras", str(folder))
    return nodes.LoraLoaderModelOnly().load_lora_model_only(base, "tiny_wan_lora.safetensors", 1.0)[0]


def test_lora_before_semcache_is_exact_and_skips(pack, wan_models, lora_model):
    with_lora = sample(lora_model, latent(LAT), steps=STEPS)
    assert not torch.equal(with_lora, sample(wan_models["t2v"], latent(LAT), steps=STEPS))  # the LoRA acts
    exact = sample(patched(pack, lora_model, threshold_scale=0.0), latent(LAT), steps=STEPS)
    assert torch.equal(exact, with_lora)  # the LoRA patch applied once, nothing else changed
    model = patched(pack, lora_model, **EAGER)
    out, counter = counted(model)
    assert torch.isfinite(out).all() and stats(model).skipped > 0
    assert counter.per_step.count(0) == stats(model).skipped


# -- core context windows (WanContextWindowsManual) ---------------------------------------------
WINDOW_LAT = (1, 16, 5, 8, 8)  # 5 latent frames; windows of 3 (pixel 9) overlapping by 2 (0.3.75) or 1 (v0.33)


def windowed(model):
    from comfy_extras.nodes_context_windows import WanContextWindowsManualNode

    return core_node(WanContextWindowsManualNode, model, context_length=9, context_overlap=5,
                     context_schedule="standard_static", context_stride=1, closed_loop=False, fuse_method="pyramid")


def test_context_windows_with_semcache(pack, wan_models):
    base = windowed(wan_models["t2v"])
    reference, ref_counter = counted(base, lat=WINDOW_LAT)
    exact, _ = counted(windowed(patched(pack, wan_models["t2v"], threshold_scale=0.0)), lat=WINDOW_LAT)
    assert torch.equal(exact, reference)
    windows = ref_counter.per_step[0] // n_blocks(base)
    # windows really ran, each on part of the 5 frames (3 frames on 0.3.75; v0.33 lays them out differently)
    assert windows > 1 and all(t < WINDOW_LAT[2] * 16 for t in ref_counter.tokens), sorted(set(ref_counter.tokens))
    assert 3 * 16 in ref_counter.tokens
    model = windowed(patched(pack, wan_models["t2v"], **EAGER))
    out, counter = counted(model, lat=WINDOW_LAT)
    assert torch.isfinite(out).all()
    assert sum(counter.per_step) < sum(ref_counter.per_step)  # some windows' steps skipped for real
    assert all(n % n_blocks(base) == 0 for n in counter.per_step)  # whole stacks: run or skipped


def test_context_windows_with_tmm(pack, wan_models):
    from semcache_pack.semcache_core.comfy_glue import patch_tmm
    from semcache_pack.semcache_core.tmm import TMMConfig

    model = windowed(patch_tmm(wan_models["t2v"], TMMConfig(reuse_ratio=0.5, start_percent=0.0)))
    out, counter = counted(model, lat=WINDOW_LAT)
    assert torch.isfinite(out).all()
    assert stats(model).partial > 0 and stats(model).tmm_disabled_reason is None
    assert min(counter.tokens) < 3 * 16  # some window evaluations ran on fewer frames' tokens


# -- core SkipLayerGuidanceDiT on Wan ------------------------------------------------------------
def test_skip_layer_guidance_pass_runs_uncached_main_passes_stay_cached(pack, wan_models, caplog):
    from comfy_extras.nodes_slg import SkipLayerGuidanceDiT

    model = core_node(SkipLayerGuidanceDiT, patched(pack, wan_models["t2v"], **EAGER), scale=3.0, start_percent=0.0,
                      end_percent=1.0, double_layers="2, 3", single_layers="")
    n = n_blocks(model)
    with caplog.at_level("INFO", logger="SemCache"):
        out, counter = counted(model)
    run = stats(model)
    assert torch.isfinite(out).all() and run.skipped > 0
    for record, blocks in zip(run.records, counter.per_step, strict=True):
        main = 0 if record.decision == "skipped" else n  # cond+uncond in one batched call
        assert blocks == main + (n - 2), (record, blocks)  # + SLG's pass, uncached, layers 2 and 3 out
    slot_warnings = [w for w in run.warnings if "held by another node" in w]
    assert len(slot_warnings) == 1  # once per run, not per step
    lines = [r.getMessage() for r in caplog.records if "held by another node" in r.getMessage()]
    assert len(lines) == 1


# -- weight dtypes through ComfyUI's manual cast -------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float8_e4m3fn"])
def test_low_precision_weights(pack, wan_paths, dtype):
    import comfy.model_management
    import comfy.sd

    weights = getattr(torch, dtype)
    base = comfy.sd.load_diffusion_model(str(wan_paths["t2v"]), model_options={"dtype": weights})
    comfy.model_management.load_models_gpu([base])
    assert base.model.get_dtype() == weights
    reference = sample(base, latent(LAT), steps=STEPS)
    assert torch.equal(sample(patched(pack, base, threshold_scale=0.0), latent(LAT), steps=STEPS), reference)
    model = patched(pack, base, **EAGER)
    out, counter = counted(model)
    assert torch.isfinite(out).all() and stats(model).skipped > 0
    assert counter.per_step.count(0) == stats(model).skipped
    assert all(n in (0, n_blocks(base)) for n in counter.per_step)
