"""The proxy model's pieces: text encoder, codec, world, the exact short-context training trick."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from proxy.comfy_nodes import NODE_CLASS_MAPPINGS  # noqa: E402
from proxy.comfy_nodes.proxy_codec import latent_to_rgb, rgb_to_latent  # noqa: E402
from proxy.comfy_nodes.proxy_text import TEXT_DIM, TEXT_LEN, encode, token_count, word_vector  # noqa: E402
from proxy.data import FRAMES, LATENT_H, LATENT_W, make_batch, posterior_velocity  # noqa: E402
from proxy_fidelity import objects  # noqa: E402
from proxy.world import ACTIONS, COLORS, DIRECTIONS, PANS, SCENES, SUBJECTS, Clip, is_held_out, random_clip, render  # noqa: E402


def test_text_encoder_is_umt5_shaped_zero_padded_and_frozen():
    emb = encode("A red ball, resting in the desert!")
    assert emb.shape == (1, TEXT_LEN, TEXT_DIM) and emb.dtype == torch.float32
    n = token_count("A red ball, resting in the desert!")
    assert n == 8  # 7 words + EOS
    assert emb[0, n:].abs().sum() == 0 and (emb[0, :n].abs().sum(-1) > 0).all()
    assert torch.equal(emb, encode("a red ball resting in the desert"))  # case and punctuation ignored
    assert not torch.equal(encode("a red ball"), encode("a blue ball"))
    # Frozen: the committed checkpoint was trained on exactly these vectors.
    assert torch.allclose(word_vector("horse")[:3], torch.tensor([-1.1935, -1.0773, -0.6364]), atol=1e-4)


def test_codec_round_trip_is_exact():
    rgb = torch.rand(2, 3, 5, 16, 12, generator=torch.Generator().manual_seed(0))
    lat = rgb_to_latent(rgb)
    assert lat.shape == (2, 16, 5, 8, 6)
    assert torch.allclose(latent_to_rgb(lat), rgb, atol=1e-6)


def test_world_motion_follows_the_prompt():
    gen = torch.Generator().manual_seed(0)
    still = Clip("red", "ball", "resting", None, "in the desert", None)
    fast = Clip("red", "ball", "racing", "to the right", "in the desert", None)
    energy = [float((render(c, FRAMES, 2 * LATENT_H, 2 * LATENT_W, gen).diff(dim=1) ** 2).mean()) for c in (still, fast)]
    assert energy[0] < 1e-8 < energy[1]
    assert (still.motion_class, fast.motion_class) == ("static", "dynamic")
    clips = [random_clip(random.Random(3)) for _ in range(2)]
    assert clips[0] == clips[1]  # seeded


def test_held_out_combinations_never_reach_training_but_the_benchmark_uses_them():
    from harness.prompts import PROMPTS

    rng = random.Random(0)
    training = [random_clip(rng) for _ in range(3000)]
    assert not any(is_held_out(c) for c in training)
    assert sum(c.second is not None for c in training) > 300  # the two-object form is trained
    assert Clip("purple", "horse", "resting", None, "in the desert", None).prompt == "a purple horse resting in the desert"
    assert is_held_out(Clip("red", "ball", "resting", None, "in the desert", None, ("green", "car")))  # either object
    held = [p for p in PROMPTS if p.held_out]
    assert {p.motion_class for p in held} == {"static", "dynamic"}
    assert sum(p.motion_class == "static" for p in PROMPTS) == sum(p.motion_class == "dynamic" for p in PROMPTS)
    two_objects = Clip("red", "ball", "spinning fast", None, "in the desert", None, ("blue", "cube"))
    assert two_objects.prompt == "a red ball and a blue cube spinning fast in the desert"
    energy = float((render(two_objects, 9, 16, 16, torch.Generator().manual_seed(0)).diff(dim=1) ** 2).mean())
    assert energy > 1e-3


def test_every_training_word_has_its_own_vector():
    words = {"a", "and"}
    for table in (COLORS, SUBJECTS, ACTIONS, SCENES, DIRECTIONS, PANS):
        for phrase in table:
            words.update(phrase.split())
    vectors = torch.stack([word_vector(w) for w in sorted(words)])
    assert torch.linalg.matrix_rank(vectors) == len(words)


def test_short_context_training_forward_equals_the_full_512_token_forward(comfy):
    from proxy import model as proxy_model

    cfg = dict(proxy_model.CONFIG, num_layers=2)
    model = proxy_model.build(cfg, seed=1)
    torch.nn.init.normal_(model.head.head.weight, std=0.05)  # the real init zeroes the head
    prompts = ["a red ball resting in the desert", "", "a brown horse galloping to the left on the grassland"]
    full = torch.cat([encode(p) for p in prompts])
    x = torch.randn(3, 16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([900.0, 400.0, 30.0])
    with torch.no_grad():
        reference = model(x, t, full)
        short, bias = proxy_model.short_context(full, [token_count(p) for p in prompts])
        options = {"optimized_attention_override": proxy_model.padded_attention_override(bias)}
        fast = model(x, t, short, transformer_options=options)
    assert short.shape[1] < 32
    assert torch.allclose(fast, reference, atol=1e-5), float((fast - reference).abs().max())


def test_proxy_nodes_encode_and_decode(comfy):
    (cond,) = NODE_CLASS_MAPPINGS["SemCacheProxyTextEncode"]().encode("a cat sleeping")
    assert torch.equal(cond[0][0], encode("a cat sleeping")) and cond[0][1] == {}
    import comfy.latent_formats

    rgb = torch.rand(1, 3, 4, 16, 16)
    raw = comfy.latent_formats.Wan21().process_out(rgb_to_latent(rgb))
    (images,) = NODE_CLASS_MAPPINGS["SemCacheProxyDecode"]().decode({"samples": raw})
    assert images.shape == (4, 16, 16, 3)
    assert torch.allclose(images[2], rgb[0, :, 2].permute(1, 2, 0), atol=1e-5)


def test_v5_world_shows_what_the_words_say_at_token_scale():
    """Every object spans >= 2x2 Wan tokens, every fast one moves >= half a token per frame, and
    the colour tracker the fidelity check uses sees the ground truth on rendered clips."""
    gen = torch.Generator().manual_seed(1)
    h, w = 2 * LATENT_H, 2 * LATENT_W
    assert FRAMES >= 13 and (LATENT_H // 2) * (LATENT_W // 2) >= 64
    for subject in SUBJECTS:
        clip = Clip("red", subject, "resting", None, "in the snow", None)
        alpha = (render(clip, 1, h, w, gen)[0, 0] > 0.6).float()  # red channel: the object only
        rows, cols = alpha.any(1).nonzero(), alpha.any(0).nonzero()
        assert int(rows.max() - rows.min() + 1) >= 8 and int(cols.max() - cols.min() + 1) >= 8, subject
    for action, spec in ACTIONS.items():
        if spec[0] != "dynamic":
            continue
        clip = Clip("red", "ball", action, None if len(spec) > 3 else "to the right", "in the snow", None)
        t = objects.track(render(clip, FRAMES, h, w, gen), COLORS["red"])
        assert t.visible == 1.0 and t.speed() >= 0.5, (action, t.speed())
    for direction, unit in DIRECTIONS.items():
        moving = objects.track(render(Clip("blue", "cat", "running", direction, "in the desert", None), FRAMES, h, w, gen),
                               COLORS["blue"])
        assert objects.moves_as_named(moving, unit), direction
        assert not objects.moves_as_named(moving, (-unit[0], -unit[1]))
        assert not objects.stays_put(moving)
    still = objects.track(render(Clip("blue", "cat", "sleeping", None, "in the desert", None), FRAMES, h, w, gen),
                          COLORS["blue"])
    assert objects.stays_put(still) and still.speed() < 1e-3
    assert not objects.moves_as_named(still, (1.0, 0.0))


def test_posterior_target_is_flow_matching_at_low_noise_and_the_bank_mean_at_full_noise():
    import random

    batch = make_batch(random.Random(0), torch.Generator().manual_seed(0), 2, uncond_prob=0.5, bank=4, frames=3,
                       height=8, width=8)
    assert batch.bank.shape == (2, 4, 16, 3, 8, 8) and torch.equal(batch.bank[:, 0], batch.latents)
    noise = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(1))
    low = torch.full((2,), 0.02)
    x_t = (1 - 0.02) * batch.latents + 0.02 * noise
    assert torch.allclose(posterior_velocity(x_t, low, batch.bank), noise - batch.latents, atol=1e-4)
    full = torch.ones(2)
    expected = noise - batch.bank.mean(1)  # at s = 1 every bank member is equally likely
    assert torch.allclose(posterior_velocity(noise, full, batch.bank), expected, atol=1e-5)


def test_time_embedding_stays_blind_to_fast_oscillating_timestep_features(comfy):
    from proxy import model as proxy_model

    model = proxy_model.build(dict(proxy_model.CONFIG, num_layers=1), seed=0)
    keep = proxy_model.keep_time_embedding_smooth(model)
    weight = model.time_embedding[0].weight
    assert 0 < int(keep.sum()) < keep.numel() and torch.all(weight[:, keep == 0] == 0)
    x = torch.randn(1, 16, 1, 4, 4)
    out = model(x, torch.tensor([500.0]), torch.randn(1, 8, 4096))
    (out.square().mean() + weight.sum()).backward()
    assert torch.all(weight.grad[:, keep == 0] == 0) and weight.grad[:, keep == 1].abs().sum() > 0
    # the kept features change slowly: at most SMOOTH_PERIODS periods over the timestep range
    half = model.freq_dim // 2
    omega = torch.pow(10000.0, -torch.arange(half, dtype=torch.float32) / half).repeat(2)
    assert float((omega * keep).max()) * 1000 <= 2 * 3.1416 * proxy_model.SMOOTH_PERIODS


def test_proxy_v5_checkpoint_is_a_wan21_t2v_with_its_latent_shape(comfy):
    from safetensors import safe_open

    from harness.env import PROXY_V5_CHECKPOINT, latent_shape, load_model

    assert PROXY_V5_CHECKPOINT.stat().st_size <= 25 * 2**20
    assert latent_shape(PROXY_V5_CHECKPOINT) == (FRAMES, LATENT_H, LATENT_W)
    with safe_open(str(PROXY_V5_CHECKPOINT), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    patcher = load_model(PROXY_V5_CHECKPOINT)
    dm = patcher.get_model_object("diffusion_model")
    assert type(patcher.model.model_config).__name__ == "WAN21_T2V" and len(dm.blocks) >= 16
    keep = (dm.time_embedding[0].weight.abs().sum(0) > 0).float()  # trained blind to fast timestep features
    assert 0 < int(keep.sum()) < keep.numel()
