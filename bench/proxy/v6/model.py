"""v6 model pieces: the same WanModel as v5 (`proxy.model.CONFIG`), an adaLN-Zero initialisation,
and the analytic training cost used to compare recipes at equal compute."""

from __future__ import annotations

import torch

from ..model import CONFIG, build


def adaln_zero_(model: torch.nn.Module) -> torch.nn.Module:
    """Make every block start as the identity (DiT's adaLN-Zero, in Wan's parameterisation).

    Wan's block: x += gate_msa * self_attn(...); x += cross_attn(...); x += gate_mlp * ffn(...),
    with (shift, scale, gate) = block.modulation + time_projection(e). Zeroing time_projection's
    linear, every block's modulation, and cross_attn.o (the one ungated branch) makes each block
    the identity and the model's output zero (the head is zero already). Only the initial values
    change: the checkpoint is still a plain ComfyUI WanModel.
    """
    with torch.no_grad():
        model.time_projection[1].weight.zero_()
        model.time_projection[1].bias.zero_()
        for block in model.blocks:
            block.modulation.zero_()
            block.cross_attn.o.weight.zero_()
            block.cross_attn.o.bias.zero_()
        model.head.modulation.zero_()
    return model


def build_v6(init: str = "adaln_zero", seed: int = 0) -> torch.nn.Module:
    """v5's WanModel; init "adaln_zero" (v6) or "wan" (v5's init, `proxy.model.build`)."""
    model = build(seed=seed)
    if init == "adaln_zero":
        adaln_zero_(model)
    elif init != "wan":
        raise ValueError(f"unknown init {init!r}")
    return model


def sample_gflop(frames: int, text_tokens: int = 16, config: dict = CONFIG) -> float:
    """Forward GFLOP of one sample of `frames` latent frames (16x16, 64 tokens per frame):
    linear layers, self-attention (quadratic in tokens), cross-attention, text embedding.
    Training counts 3x (forward + backward). Defines "equal compute" between recipes."""
    d, f, layers = config["dim"], config["ffn_dim"], config["num_layers"]
    n, t = 64 * frames, text_tokens
    per_layer = 2 * n * (4 * d * d + 2 * d * d + 2 * d * f) + 4 * n * n * d + 4 * n * t * d + 2 * t * 2 * d * d
    embed = 2 * n * 64 * d + 2 * t * (config["text_dim"] * d + d * d) + 2 * n * d * 64
    return (layers * per_layer + embed) / 1e9
