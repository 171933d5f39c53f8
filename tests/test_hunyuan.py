"""HunyuanVideo 1.0 and 1.5 on the real sampler: exactness, real skipping, TMM token counts."""

from __future__ import annotations

import pytest
import torch

from sampling import BlockCounter, latent, sample
from test_exactness import patched, stats
from test_tmm import with_psa, with_tmm

CHANNELS = {"hv10": 16, "hv15": 32}
PATCH = {"hv10": 2, "hv15": 1}


@pytest.fixture(scope="module")
def hunyuan(comfy, ckpt_dir):
    from tiny_models import build_hunyuan, load

    return {v: load(build_hunyuan(v, ckpt_dir / f"tiny_hunyuan_{v}.safetensors")) for v in CHANNELS}


def conds(variant: str, pos_len: int = 20, neg_len: int = 13, seed: int = 0):
    g = torch.Generator().manual_seed(seed)

    def one(length: int) -> list:
        pooled = torch.randn(1, 768, generator=g) if variant == "hv10" else None  # 1.5 has no vector_in
        return [[torch.randn(1, length, 64, generator=g), {"pooled_output": pooled}]]

    return one(pos_len), one(neg_len)


def run(model, variant, frames=3, size=8, steps=12, pos_len=20, neg_len=13, seed=0, callback=None):
    pos, neg = conds(variant, pos_len, neg_len, seed)
    lat = latent((1, CHANNELS[variant], frames, size, size))
    return sample(model, lat, steps=steps, positive=pos, negative=neg, callback=callback)


@pytest.mark.parametrize("variant", list(CHANNELS))
@pytest.mark.parametrize("neg_len", [13, 20], ids=["separate_calls", "batched"])
def test_bit_identical_with_skipping_and_tmm_disabled(pack, hunyuan, variant, neg_len):
    model = hunyuan[variant]
    base = run(model, variant, neg_len=neg_len)
    off = with_tmm(with_psa(model, threshold_scale=0.0), reuse_ratio=0.0)
    assert torch.equal(run(off, variant, neg_len=neg_len), base)
    assert stats(off).family.startswith("HunyuanVideo 1.")


@pytest.mark.parametrize("variant", list(CHANNELS))
@pytest.mark.parametrize("neg_len", [13, 20], ids=["separate_calls", "batched"])
def test_real_skipping_counted_on_blocks(pack, hunyuan, variant, neg_len):
    model = patched(pack, hunyuan[variant], threshold_scale=5.0)
    with BlockCounter(model) as counter:
        out = run(model, variant, steps=30, neg_len=neg_len, callback=counter.callback)
    assert torch.isfinite(out).all()
    result = stats(model)
    assert result.skipped > 0
    calls = 2 if neg_len != 20 else 1
    for record, n in zip(result.records, counter.per_step, strict=True):
        assert n == (0 if record.decision == "skipped" else counter.n_blocks * calls), (record, n)
    assert result.settings["alpha"] == 0.4 and result.settings["beta"] == 0.6  # paper's HunyuanVideo weights


@pytest.mark.parametrize("variant", list(CHANNELS))
def test_tmm_pruned_steps_get_exactly_the_expected_tokens(pack, hunyuan, variant):
    frames, size = 6, 8
    model = hunyuan[variant]
    tmm = with_tmm(model, reuse_ratio=0.4, start_percent=0.0)
    with BlockCounter(tmm) as counter:
        out = run(tmm, variant, frames=frames, size=size, callback=counter.callback)
    assert torch.isfinite(out).all()
    result = stats(tmm)
    assert result.tmm_disabled_reason is None and result.partial > 0
    per_frame = (size // PATCH[variant]) ** 2
    dm = model.get_model_object("diffusion_model")
    n_double, n_single = len(dm.double_blocks), len(dm.single_blocks)
    for record, tokens in zip(result.records, counter.step_tokens, strict=True):
        kept = record.frames_total - len(record.frames_reused)
        assert record.frame_map()[0] == "#"
        # separate calls (text 20 and 13): per call, doubles see image tokens, singles image + text
        expected = []
        for txt in (20, 13):
            expected += [kept * per_frame] * n_double + [kept * per_frame + txt] * n_single
        assert tokens == expected, (record, tokens)


def test_two_runs_in_a_row_with_other_prompt_lengths_and_sizes(pack, hunyuan):
    model = with_tmm(with_psa(hunyuan["hv10"], threshold_scale=2.0), reuse_ratio=0.3)
    first = run(model, "hv10", frames=4, size=8, steps=20, pos_len=20, neg_len=13)
    second = run(model, "hv10", frames=3, size=12, steps=16, pos_len=31, neg_len=7, seed=1)
    fresh_model = with_tmm(with_psa(hunyuan["hv10"], threshold_scale=2.0), reuse_ratio=0.3)
    assert torch.equal(second, run(fresh_model, "hv10", frames=3, size=12, steps=16, pos_len=31, neg_len=7, seed=1))
    assert torch.equal(first, run(model, "hv10", frames=4, size=8, steps=20, pos_len=20, neg_len=13))


def test_tmm_keeps_the_text_stream_flowing_between_double_blocks(pack, hunyuan):
    """On pruned steps each double block must get the text its predecessor produced.

    Blocks update txt in place, so inputs are captured before the block runs."""
    model = with_tmm(hunyuan["hv10"], reuse_ratio=0.4, start_percent=0.0)
    blocks = model.get_model_object("diffusion_model").double_blocks
    inputs: list[tuple[int, torch.Tensor]] = []
    outputs: list[tuple[int, torch.Tensor]] = []

    def before(index):
        def capture(module, args, kwargs):
            inputs.append((index, kwargs["txt"].clone()))

        return capture

    def after(index):
        def capture(module, args, kwargs, output):
            outputs.append((index, output[1].clone()))

        return capture

    handles = [b.register_forward_pre_hook(before(i), with_kwargs=True) for i, b in enumerate(blocks)]
    handles += [b.register_forward_hook(after(i), with_kwargs=True) for i, b in enumerate(blocks)]
    try:
        run(model, "hv10", frames=6)
    finally:
        for h in handles:
            h.remove()
    assert stats(model).partial > 0
    pairs = [(o, i) for o, i in zip(outputs, inputs[1:]) if i[0] == o[0] + 1]
    assert len(pairs) == len([i for i in inputs if i[0] > 0])
    for (_, txt_out), (_, txt_in) in pairs:
        assert torch.equal(txt_in, txt_out)


def additive_control(double_blocks: int, dim: int):
    """A ControlNet as HunyuanVideo's forward sees one: per-double-block additions to the image
    tokens (`control["input"]`), built on ComfyUI's own ControlBase (there is no HunyuanVideo
    ControlNet checkpoint format in ComfyUI to build a tiny one from)."""
    from comfy.controlnet import ControlBase

    class AdditiveControl(ControlBase):
        def get_control(self, x_noisy, t, cond, batched_number, transformer_options):
            b, _, frames, h, w = x_noisy.shape
            tokens = frames * (h // 2) * (w // 2)
            g = torch.Generator().manual_seed(int(t.flatten()[0].item() * 1000))
            add = torch.randn(b, tokens, dim, generator=g).to(x_noisy) * 0.1
            return {"input": [add] * double_blocks, "output": []}

        def copy(self):
            c = AdditiveControl()
            self.copy_to(c)
            return c

    return AdditiveControl()


def test_controlnet_runs_uncached_with_its_warning(pack, hunyuan):
    model = hunyuan["hv10"]
    dm = model.get_model_object("diffusion_model")
    control = additive_control(len(dm.double_blocks), dm.hidden_size)
    pos, neg = conds("hv10")
    for c in (pos, neg):
        c[0][1]["control"] = control
    lat = latent((1, 16, 3, 8, 8))
    base = sample(model, lat, steps=12, positive=pos, negative=neg)
    assert not torch.equal(base, run(model, "hv10")), "the control really changes the output"
    cached = patched(pack, model, threshold_scale=50.0, start_percent=0.0)
    with BlockCounter(cached) as counter:
        out = sample(cached, lat, steps=12, positive=pos, negative=neg, callback=counter.callback)
    assert torch.equal(out, base)
    assert counter.per_step == [2 * counter.n_blocks] * 12  # two calls (prompt lengths 20, 13) per step
    result = stats(cached)
    assert result.skipped == 0 and any("ControlNet" in w for w in result.warnings), result.warnings
    assert "ControlNet" in result.summary_line()
