"""Proxy v6 pieces (bench/proxy/v6): world with moving surface texture, order-aware text
encoding, codec with a material plane, adaLN-Zero init, resumable budgeted training."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from proxy.comfy_nodes.proxy_codec import latent_to_rgb, rgb_to_latent  # noqa: E402
from proxy.comfy_nodes.proxy_text import TEXT_DIM, TEXT_LEN, token_count  # noqa: E402
from proxy.v6 import text  # noqa: E402
from proxy.v6.codec import planes_to_latent  # noqa: E402
from proxy.v6.data import FRAMES, make_batch  # noqa: E402
from proxy.v6.world import COLORS, DIRECTIONS, Clip, WorldOptions, render, render_planes  # noqa: E402
from proxy_fidelity import objects  # noqa: E402

H = W = 32


def test_v6_text_encoding_keeps_the_interface_and_knows_which_colour_goes_with_which_object():
    emb = text.encode("A red ball and a blue cube, resting in the snow!")
    n = token_count("a red ball and a blue cube resting in the snow")
    assert emb.shape == (1, TEXT_LEN, TEXT_DIM) and emb.dtype == torch.float32
    assert emb[0, n:].abs().sum() == 0 and (emb[0, :n].abs().sum(-1) > 0).all()
    swapped = text.encode("a blue ball and a red cube resting in the snow")
    assert not torch.allclose(emb, swapped, atol=1e-3)
    assert not torch.allclose(emb.sort(dim=1).values, swapped.sort(dim=1).values, atol=1e-3)  # not a bag of rows
    from proxy import model as proxy_model

    prompts = ["a red ball resting in the desert", ""]
    full = torch.cat([text.encode(p) for p in prompts])
    reference = proxy_model.short_context(full, [token_count(p) for p in prompts])
    short = text.short_context(prompts)
    assert torch.equal(short[0], reference[0]) and torch.equal(short[1], reference[1])
    # frozen: checkpoints are trained on exactly these rows
    assert torch.allclose(text.encode("horse")[0, 0, :3], torch.tensor([-0.0244, -0.3926, -1.4104]), atol=1e-3)


def test_v6_codec_puts_the_material_plane_in_the_spare_channels_and_decodes_rgb_unchanged():
    planes = torch.rand(2, 4, 3, 8, 6, generator=torch.Generator().manual_seed(0))
    lat = planes_to_latent(planes)
    assert lat.shape == (2, 16, 3, 4, 3)
    assert torch.allclose(latent_to_rgb(lat), planes[:, :3], atol=1e-6)
    assert torch.allclose(planes_to_latent(planes[:, :3]), rgb_to_latent(planes[:, :3]), atol=1e-6)
    assert not torch.allclose(lat, rgb_to_latent(planes[:, :3]), atol=1e-3)


def test_v6_texture_is_seeded_unnamed_and_static_clips_stay_exactly_static():
    still = Clip("red", "cube", "resting", None, "in the desert", None)
    a = render_planes(still, FRAMES, H, W, torch.Generator().manual_seed(0))
    b = render_planes(still, FRAMES, H, W, torch.Generator().manual_seed(0))
    c = render_planes(still, FRAMES, H, W, torch.Generator().manual_seed(1))
    flat = render_planes(still, FRAMES, H, W, torch.Generator().manual_seed(0), WorldOptions(texture=False))
    assert torch.equal(a, b) and not torch.allclose(a, c, atol=1e-2)
    assert float(a.diff(dim=1).abs().max()) == 0.0  # texture everywhere, and not a pixel moves
    detail = (a - flat)[:3]
    assert 0.02 < float(detail.std()) < 0.2  # texture of intermediate strength
    assert float(a[3].std()) > 0.05  # the material plane carries texture too


def test_v6_texture_moves_with_its_surface():
    """The background's texture slides with the camera pan, exactly as the background does."""
    clip = Clip("red", "cube", "resting", None, "in the desert", "while the camera pans left")
    # a vanishing object, so only the background is seen; PANS: 1.5 px per frame, 6 px after 4 frames
    video = render_planes(clip, 5, H, W, torch.Generator().manual_seed(0), WorldOptions(object_scale=0.01))
    assert torch.allclose(video[:, 4, :, 6:], video[:, 0, :, : W - 6], atol=1e-4)  # background coordinate x - 1.5 t
    assert not torch.allclose(video[:, 4], video[:, 0], atol=1e-2)


def test_v6_clips_move_as_their_prompts_say():
    gen = torch.Generator().manual_seed(2)
    for scale in (1.0, 1.4):
        options = WorldOptions(object_scale=scale)
        for direction, unit in DIRECTIONS.items():
            for action in ("walking", "running", "galloping"):
                clip = Clip("blue", "cat", action, direction, "in the desert", None)
                t = objects.track(render(clip, FRAMES, H, W, gen, options), COLORS["blue"])
                assert objects.moves_as_named(t, unit), (scale, direction, action, t.net())
                assert t.net()[0] * unit[0] + t.net()[1] * unit[1] >= 1.0
        still = objects.track(render(Clip("blue", "cat", "sleeping", None, "in the desert", None), FRAMES, H, W, gen,
                                     options), COLORS["blue"])
        assert objects.stays_put(still) and still.speed() < 1e-3


def test_v6_batches_of_any_frame_count():
    batch = make_batch(random.Random(0), torch.Generator().manual_seed(0), 3, frames=1)
    assert batch.latents.shape == (3, 16, 1, 16, 16) and batch.context.shape[0] == 3
    batch = make_batch(random.Random(0), torch.Generator().manual_seed(0), 2, frames=5, bank=3)
    assert batch.bank.shape == (2, 3, 16, 5, 16, 16) and torch.equal(batch.bank[:, 0], batch.latents)


def test_adaln_zero_blocks_start_as_the_identity_and_still_learn(comfy):
    from proxy.v6.model import build_v6, sample_gflop

    model = build_v6("adaln_zero", seed=0)
    seen = []
    for block in model.blocks:
        block.register_forward_hook(lambda m, args, out: seen.append(torch.equal(out, args[0])))
    x = torch.randn(1, 16, 1, 4, 4)
    out = model(x, torch.tensor([500.0]), torch.randn(1, 6, 4096))
    assert len(seen) == len(model.blocks) and all(seen) and float(out.detach().abs().max()) == 0.0
    out = model(x, torch.tensor([500.0]), torch.randn(1, 6, 4096))
    (out - x).square().mean().backward()
    assert model.head.head.weight.grad.abs().sum() > 0
    assert sample_gflop(13) > 20 * sample_gflop(1)  # a 1-frame sample is > 20x cheaper


def test_v6_training_is_budgeted_resumable_and_saves_a_loadable_wan21_t2v(comfy, tmp_path):
    from proxy.v6 import train

    args = ["--budget-gflop", "6", "--curriculum", "1:0.5,2:0.5", "--batch", "1:2,2:1", "--out", str(tmp_path),
            "--warmup", "1", "--save-every", "2"]
    assert train.main(args + ["--max-minutes", "1e-9"]) == 0  # stops after one step, saving its state
    assert train.main(args + ["--resume"]) == 0
    log = (tmp_path / "train_log.txt").read_text()
    assert "# resumed from train_state.safetensors at step 1" in log and "# done:" in log
    from harness.env import PROXY_CHECKPOINT, latent_shape, load_model, text_encoder
    from proxy.comfy_nodes import proxy_text

    ckpt = tmp_path / "semcache_proxy_wan.safetensors"
    assert latent_shape(ckpt) == (13, 16, 16)
    assert text_encoder(ckpt) is text.encode and text_encoder(PROXY_CHECKPOINT) is proxy_text.encode
    patcher = load_model(ckpt)
    assert type(patcher.model.model_config).__name__ == "WAN21_T2V"


def test_v6_compact_resume_continues_on_a_new_machine(comfy, tmp_path):
    """Without train_state.safetensors (a new session's machine), --resume continues from the
    committed resume_state + checkpoint: same step, weights within fp16 rounding, RNG as saved."""
    from proxy.v6 import train
    from proxy.v6.model import build_v6
    from proxy.v6.resume import load_compact

    args = ["--budget-gflop", "6", "--curriculum", "1:0.5,2:0.5", "--batch", "1:2,2:1", "--out", str(tmp_path),
            "--warmup", "1", "--save-every", "2"]
    assert train.main(args + ["--max-minutes", "1e-9"]) == 0
    exact = {k: v.clone() for k, v in _state_weights(tmp_path / train.STATE).items()}
    (tmp_path / train.STATE).unlink()
    model, ema = build_v6("adaln_zero", seed=1), build_v6("adaln_zero", seed=1)
    rng, gen = random.Random(5), torch.Generator().manual_seed(5)
    step, losses, _ = load_compact(tmp_path / "resume_state.safetensors", tmp_path / train.CHECKPOINT, model, ema,
                                   rng, gen)
    assert step == 1 and len(losses) == 1
    for name, value in model.state_dict().items():
        assert torch.allclose(value, exact[name], rtol=1e-3, atol=1e-4), name
    assert train.main(args + ["--resume"]) == 0
    log = (tmp_path / "train_log.txt").read_text()
    assert "# resumed from resume_state.safetensors" in log and "# done:" in log


def test_v6_extension_appends_phases_that_later_resumes_keep(comfy, tmp_path):
    """--extend-gflop appends phases after the finished plan; a later --resume rebuilds the
    same plan from settings.json (it does not extend again), and a first call cannot extend."""
    import json

    from proxy.v6 import train
    from proxy.v6.model import sample_gflop

    args = ["--budget-gflop", "6", "--curriculum", "1:1", "--batch", "1:2", "--out", str(tmp_path),
            "--warmup", "1", "--save-every", "2"]
    with pytest.raises(SystemExit, match="needs --resume"):
        train.main(args + ["--extend-gflop", "3"])
    assert train.main(args) == 0
    steps = round(6 / (3 * sample_gflop(1) * 2))
    extra = round(4 / (3 * sample_gflop(2) * 1))
    extend = ["--extend-gflop", "4", "--extend-curriculum", "2:1", "--extend-batch", "2:1"]
    assert train.main(args + ["--resume", "--max-minutes", "1e-9"] + extend) == 0  # one step of the extension
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["extensions"] == [{"gflop": 4.0, "curriculum": "2:1", "batch": "2:1"}]
    assert train.main(args + ["--resume"]) == 0
    assert json.loads((tmp_path / "settings.json").read_text())["extensions"] == saved["extensions"]
    log = (tmp_path / "train_log.txt").read_text()
    assert f"(2, 1, {extra})]; {steps + extra} steps" in log
    done = [line for line in log.splitlines() if line.startswith("# done:")]
    assert done[-1].startswith(f"# done: {steps + extra} steps, {2 * steps + extra} samples"), done


def _state_weights(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k[6:]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}
