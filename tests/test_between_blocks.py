"""Wan variants that work between blocks run cached (issue 20): VACE, S2V, Animate; HuMo, Camera.

Every model is a tiny checkpoint built with ComfyUI's own class and loaded through its loader.
From outside the pack (hooks on the model's own modules, never our stats):
- threshold_scale = 0 is bit-identical to the unpatched model;
- on a skipped step no block and no between-block module (VACE hint block, S2V audio
  injection, Animate face fuser) runs, on a computed step they all do;
- a skipped step's head input is the block-stack input plus the residual of the last computed
  step measured at the head, i.e. the between-block contribution is applied once: applying it
  again, or measuring the residual after the last block instead, fails this check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from sampling import BlockCounter, cond, latent, sample
from test_exactness import patched, stats

STEPS = 10
LAT = (1, 16, 3, 8, 8)  # 3 latent frames of 4x4 tokens
EAGER = dict(threshold_scale=50.0, start_percent=0.0, min_steps=4)


def seeded(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# -- per variant: how to condition it, and which of its modules run between blocks --------------
def vace_conds(reference: bool = False):
    """Two VACE contexts (control video latents + masks) at strengths 0.6 and 1.4, as two chained
    WanVaceToVideo nodes give; `reference`: a reference image latent prepended as frame 0."""
    frames = LAT[2] + (1 if reference else 0)
    shape = (1, 32, frames, *LAT[3:])
    extra = dict(
        vace_frames=[seeded(shape, 41), seeded(shape, 42)],
        vace_mask=[torch.ones(1, 64, *shape[2:]), (seeded((1, 64, *shape[2:]), 43) > 0).float()],
        vace_strength=[0.6, 1.4],
    )
    return cond(1, **extra), cond(2, **extra)


def s2v_conds():
    """Audio features (25 wav2vec layers x 1024, 4 per latent frame) on the positive, silence on
    the negative (WanSoundImageToVideo), plus a reference image latent (appended tokens)."""
    audio = seeded((1, 25, 1024, 4 * LAT[2]), 51)
    reference = [seeded((1, 16, 1, *LAT[3:]), 52)]
    return (cond(1, audio_embed=audio, reference_latents=reference),
            cond(2, audio_embed=audio * 0.0, reference_latents=reference))


def animate_conds():
    """A face video (WanAnimateToVideo's face_video_pixels, values in [-1, 1])."""
    face = seeded((1, 3, 5, 16, 16), 61).clamp(-1, 1)
    return cond(1, face_video_pixels=face), cond(2, face_video_pixels=face)


def humo_conds():
    audio = seeded((1, LAT[2], 8, 5, 1280), 71)
    return cond(1, audio_embed=audio), cond(2, audio_embed=audio * 0.0)


def camera_conds():
    """Camera (Plücker) embedding as WanCameraEmbedding gives it: 24 ch, 8x the latent size."""
    camera = seeded((1, 24, LAT[2], 8 * LAT[3], 8 * LAT[4]), 81)
    image = latent(LAT, seed=82)
    return (cond(1, camera_conditions=camera, concat_latent_image=image),
            cond(2, camera_conditions=camera, concat_latent_image=image))


def vace_work(dm):
    return list(dm.vace_blocks)


def s2v_work(dm):
    return [*dm.audio_injector.injector, *dm.audio_injector.injector_adain_layers]


def animate_work(dm):
    return list(dm.face_adapter.fuser_blocks)


@dataclass
class Variant:
    checkpoint: str
    conds: object
    work: object = None  # the between-block modules, taken from the model in the test
    class_name: str = ""
    label: str = ""
    lat: tuple[int, ...] = LAT


VARIANTS = {
    "vace": Variant("vace", vace_conds, vace_work, "VaceWanModel", "Wan VACE"),
    # WanVaceToVideo with a reference image: one more latent frame, trimmed after sampling
    "vace_reference": Variant("vace", lambda: vace_conds(reference=True), vace_work, "VaceWanModel", "Wan VACE",
                              lat=(1, 16, LAT[2] + 1, *LAT[3:])),
    "s2v": Variant("s2v", s2v_conds, s2v_work, "WanModel_S2V", "Wan 2.2 S2V"),
    "animate": Variant("animate", animate_conds, animate_work, "AnimateWanModel", "Wan 2.2 Animate"),
    "humo": Variant("humo", humo_conds, None, "HumoWanModel", "Wan HuMo"),
    "camera": Variant("camera", camera_conds, None, "CameraWanModel", "Wan Camera"),
}
BETWEEN = [name for name, v in VARIANTS.items() if v.work is not None]


class MotionFeatures(torch.nn.Module):
    """Stand-in for Animate's face *motion* encoder (a StyleGAN encoder fixed at 512x512 faces,
    about 14 s per face frame on this CPU): 512 motion features per face frame from a fixed
    projection of the pooled pixels. Put in with ComfyUI's object patch on the unpatched and the
    patched model alike; the face encoder, the fuser blocks and all between-block work are the
    model's own."""

    def __init__(self):
        super().__init__()
        self.register_buffer("proj", seeded((3 * 16, 512), 62) * 0.5)

    def get_motion(self, img: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(img, 4).flatten(1)  # (frames, 3*4*4)
        return pooled.to(self.proj.dtype) @ self.proj


@pytest.fixture(scope="module")
def variant_models(comfy, ckpt_dir):
    from tiny_models import build_wan, load

    models = {}
    for name in ("vace", "s2v", "animate", "humo", "camera"):
        model = load(build_wan(name, ckpt_dir / f"tiny_wan_{name}.safetensors"))
        if name == "animate":
            model = model.clone()
            model.add_object_patch("diffusion_model.motion_encoder", MotionFeatures())
        models[name] = model
    return models


def run(model, variant: Variant, steps: int = STEPS, callback=None):
    positive, negative = variant.conds()
    return sample(model, latent(variant.lat), steps=steps, positive=positive, negative=negative, callback=callback)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_threshold_zero_is_bit_identical(pack, variant_models, name):
    variant = VARIANTS[name]
    base_model = variant_models[variant.checkpoint]
    assert type(base_model.get_model_object("diffusion_model")).__name__ == variant.class_name
    base = run(base_model, variant)
    model = patched(pack, base_model, threshold_scale=0.0)
    with BlockCounter(model) as counter:
        out = run(model, variant, callback=counter.callback)
    assert torch.equal(out, base), f"{name}: max diff {(out - base).abs().max().item()}"
    result = stats(model)
    assert result.disabled_reason is None and result.skipped == 0 and len(result.records) == STEPS
    assert all(n == counter.n_blocks for n in counter.per_step)


# -- what runs on a skipped step, and what it outputs ---------------------------------------------
@dataclass
class EvalLog:
    """One model evaluation seen from the model's own modules."""

    stack_in: torch.Tensor | None = None  # patch embedding of the noisy latent, as tokens
    head_in: torch.Tensor | None = None
    blocks: int = 0
    between: int = 0


@dataclass
class ModelSpy:
    """Forward hooks on the patch embedding, every block, the between-block modules and the head."""

    model: object
    work: list
    evals: list[EvalLog] = field(default_factory=list)
    handles: list = field(default_factory=list)

    def __enter__(self) -> "ModelSpy":
        dm = self.model.get_model_object("diffusion_model")
        self.handles = [
            dm.patch_embedding.register_forward_hook(self._embedded),
            dm.head.register_forward_pre_hook(self._head),
            *(b.register_forward_hook(self._block) for b in dm.blocks),
            *(m.register_forward_hook(self._between) for m in self.work),
        ]
        return self

    def _current(self) -> EvalLog:
        if not self.evals or self.evals[-1].head_in is not None:
            self.evals.append(EvalLog())
        return self.evals[-1]

    def _embedded(self, module, args, output) -> None:
        log = self._current()
        if log.stack_in is None:  # S2V embeds its reference latent with the same module: keep the first
            log.stack_in = output.flatten(2).transpose(1, 2).detach().clone()

    def _block(self, module, args, output) -> None:
        self._current().blocks += 1

    def _between(self, module, args, output) -> None:
        self._current().between += 1

    def _head(self, module, args) -> None:
        self._current().head_in = args[0].detach().clone()

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()


def expected_head_input(skipped: EvalLog, computed: EvalLog) -> torch.Tensor:
    """x_skip + (head_in_c - x_c): what the head must get on a skipped step. Tokens beyond the
    video (S2V's reference tokens) are the same in every step, so their input difference is 0."""
    delta = torch.zeros_like(computed.head_in)
    n = skipped.stack_in.shape[1]
    delta[:, :n] = skipped.stack_in.to(delta.dtype) - computed.stack_in.to(delta.dtype)
    return computed.head_in + delta


@pytest.mark.parametrize("name", BETWEEN)
def test_skipped_steps_run_nothing_between_blocks_and_reuse_it_once(pack, variant_models, name):
    variant = VARIANTS[name]
    base_model = variant_models[variant.checkpoint]
    dm = base_model.get_model_object("diffusion_model")
    n_blocks, work = len(dm.blocks), variant.work(dm)
    model = patched(pack, base_model, **EAGER)
    with ModelSpy(model, work) as spy:
        out = run(model, variant)
    result = stats(model)
    assert torch.isfinite(out).all()
    assert result.disabled_reason is None and result.skipped > 0, result.summary_line()
    assert len(spy.evals) == STEPS == len(result.records)  # cond and uncond in one batched call
    # the between-block modules really work on computed steps, with this input
    computed = [e for e in spy.evals if e.blocks]
    assert all(e.blocks == n_blocks and e.between > 0 for e in computed), [(e.blocks, e.between) for e in spy.evals]
    skipped = [e for e in spy.evals if not e.blocks]
    assert len(skipped) == result.skipped and all(e.between == 0 for e in skipped)
    # a skipped step's head input: its stack input + the last computed step's residual, taken at
    # the head (it contains every between-block contribution, the one after the last block too)
    assert mismatches(spy) == 0
    # the Cache Stats report names the variant and what a skipped step reuses
    report = result.report()
    assert result.family == variant.label and variant.label in report
    assert "reused residual: block stack + " in report


def mismatches(spy: ModelSpy) -> int:
    """Skipped steps whose head input is not stack input + last computed residual."""
    last, bad = None, 0
    for e in spy.evals:
        if e.blocks:
            last = e
        elif not torch.allclose(e.head_in, expected_head_input(e, last), rtol=1e-5, atol=1e-5):
            bad += 1
    return bad


@pytest.mark.parametrize("name,breakage", [("vace", "gates_open"), ("animate", "gates_open"),
                                           ("s2v", "residual_after_last_block")])
def test_the_reuse_check_catches_a_broken_pack(pack, variant_models, monkeypatch, name, breakage):
    """The check above can fail. `gates_open`: the between-block work also runs on skipped steps
    (VACE hints, Animate fuser added on top of a residual that already holds them: applied
    twice). `residual_after_last_block`: the residual taken at the last block, as for plain Wan,
    misses S2V's audio injection after that block."""
    from semcache_pack.semcache_core import between_blocks, comfy_glue

    if breakage == "gates_open":
        monkeypatch.setattr(between_blocks, "_skipping", lambda predicate: False)
    else:
        monkeypatch.setattr(comfy_glue, "_gate_between_block_work",
                            lambda begun, work: begun.gates.extend(between_blocks.swap_in(work.gates)))
    variant = VARIANTS[name]
    base_model = variant_models[variant.checkpoint]
    model = patched(pack, base_model, **EAGER)
    with ModelSpy(model, variant.work(base_model.get_model_object("diffusion_model"))) as spy:
        run(model, variant)
    assert stats(model).skipped > 0
    assert mismatches(spy) > 0


@pytest.mark.parametrize("name", ["humo", "camera"])
def test_humo_and_camera_skip_for_real_and_reuse_exactly(pack, variant_models, name):
    variant = VARIANTS[name]
    base_model = variant_models[variant.checkpoint]
    n_blocks = len(base_model.get_model_object("diffusion_model").blocks)
    model = patched(pack, base_model, **EAGER)
    with ModelSpy(model, []) as spy:
        out = run(model, variant)
    result = stats(model)
    assert torch.isfinite(out).all() and result.disabled_reason is None and result.skipped > 0
    assert [e.blocks for e in spy.evals] == [0 if r.decision == "skipped" else n_blocks for r in result.records]
    assert mismatches(spy) == 0
    assert result.family == variant.label


def test_gates_are_gone_after_the_run(pack, variant_models):
    """Nothing stays on the model: the original lookup tables and module lists are back."""
    originals = {}
    for name in ("vace", "s2v", "animate"):
        dm = variant_models[name].get_model_object("diffusion_model")
        originals[name] = (dm.vace_layers_mapping if name == "vace" else
                           dm.audio_injector.injected_block_id if name == "s2v" else dm.face_adapter.fuser_blocks)
    for name in ("vace", "s2v", "animate"):
        variant = VARIANTS[name]
        model = patched(pack, variant_models[name], **EAGER)
        run(model, variant, steps=6)
        dm = variant_models[name].get_model_object("diffusion_model")
        now = (dm.vace_layers_mapping if name == "vace" else
               dm.audio_injector.injected_block_id if name == "s2v" else dm.face_adapter.fuser_blocks)
        assert now is originals[name] and type(now) in (dict, torch.nn.ModuleList)
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in dm.modules())


def test_a_post_block_patch_runs_uncached_with_a_warning(pack, wan_models):
    """Newer ComfyUI (v0.29+) calls `patches["double_block"]` after every Wan block, outside the
    block slots: such evaluations run uncached (a reused residual would skip or repeat the patch)."""
    calls = []

    def post_block(args: dict) -> dict:
        calls.append(args["block_index"])
        return {**args, "img": args["img"] * 1.01}

    base = wan_models["t2v"].clone()
    base.set_model_patch(post_block, "double_block")
    reference = sample(base, latent(LAT), steps=STEPS)
    model = patched(pack, base, **EAGER)
    calls.clear()
    with BlockCounter(model) as counter:
        out = sample(model, latent(LAT), steps=STEPS, callback=counter.callback)
    result = stats(model)
    assert torch.equal(out, reference)
    assert all(n == counter.n_blocks for n in counter.per_step)
    assert result.skipped == 0 and any("patches['double_block']" in w for w in result.warnings), result.warnings
