"""The proxy Wan 2.1 T2V model: ComfyUI's own WanModel at a size a CPU can train and sample.

Shape rules come from ComfyUI 0.3.75's Wan detection: dim a multiple of 128 (num_heads is
detected as dim // 128), text_dim 4096 (forced), 16 blocks so PSA's 15 probe layers spread
over shallow/middle/deep as on the real model. Saved with ComfyUI's key names in fp16, so
`comfy.sd.load_diffusion_model` (the UNETLoader path) detects it as WAN21_T2V.

Training uses an exact shortcut for the 512-token zero-padded context: all padding rows embed
to the same key/value, so attending to N pads equals attending to fewer pad copies whose logits
carry a log(N / copies) bias. `short_context` + `padded_attention_override` implement it
through ComfyUI's public `optimized_attention_override`, cutting most of the training cost;
tests check it matches the full 512-token forward.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .comfy_nodes.proxy_text import TEXT_LEN

CONFIG = dict(
    model_type="t2v", in_dim=16, out_dim=16, dim=128, ffn_dim=256, num_heads=1, num_layers=16,
    text_dim=4096, freq_dim=256, eps=1e-6,
)


def build(config: dict | None = None, seed: int = 0) -> torch.nn.Module:
    """A freshly initialised WanModel (Wan's own init: xavier linears, zero output head)."""
    import comfy.ldm.wan.model
    import comfy.ops

    torch.manual_seed(seed)
    model = comfy.ldm.wan.model.WanModel(operations=comfy.ops.disable_weight_init, **(config or CONFIG))
    gen = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("modulation"):
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            elif "norm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            elif name.startswith(("text_embedding", "time_embedding")):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif name == "head.head.weight":
                p.zero_()
            else:  # xavier-uniform on the flattened weight, as Wan's init_weights does
                fan_out, fan_in = p.shape[0], p[0].numel()
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    return model


SMOOTH_PERIODS = 3.0  # timestep features may oscillate at most this often over the whole 0..1000 range


def keep_time_embedding_smooth(model: torch.nn.Module) -> torch.Tensor:
    """Zero, and keep at zero, the time embedding's inputs that oscillate faster than SMOOTH_PERIODS
    over the schedule.

    Wan embeds the timestep with sinusoids of periods down to 2*pi timestep units, so an untrained
    weight on them makes the prediction jump pseudo-randomly from one sampling step to the next.
    The real Wan learned to be smooth in t over a huge training run (its MagCache curve is smooth);
    a small proxy cannot, so it is built unable to see those frequencies. Returns the column mask.
    """
    linear = model.time_embedding[0]
    half = model.freq_dim // 2
    omega = torch.pow(10000.0, -torch.arange(half, dtype=torch.float32) / half)
    keep = (omega * 1000.0 <= 2 * math.pi * SMOOTH_PERIODS).float().repeat(2)  # cos half, sin half
    with torch.no_grad():
        linear.weight.mul_(keep.to(linear.weight))
    linear.weight.register_hook(lambda grad: grad * keep.to(grad))
    return keep


def short_context(contexts: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 512, D) zero-padded contexts -> (B, L, D) with L = max length + 1, and the logit bias.

    Row b keeps its `lengths[b]` real tokens; its remaining L - lengths[b] slots are zero pads
    whose attention logits get log((512 - lengths[b]) / (L - lengths[b])), so the softmax mass of
    the pads equals that of all 512 - lengths[b] pads in the full context.
    """
    width = max(lengths) + 1
    short = contexts[:, :width].clone()
    bias = torch.zeros(contexts.shape[0], width)
    for b, n in enumerate(lengths):
        short[b, n:] = 0.0
        bias[b, n:] = math.log((TEXT_LEN - n) / (width - n))
    return short, bias


def padded_attention_override(bias: torch.Tensor):
    """An `optimized_attention_override` for training: SDPA everywhere, `bias` on cross-attention."""

    def override(func, q, k, v, heads, mask=None, *args, **kwargs):
        if mask is not None or args or kwargs.get("skip_reshape") or kwargs.get("skip_output_reshape"):
            return func(q, k, v, heads, *args, mask=mask, **kwargs)  # not a Wan call shape we know
        b, lq, inner = q.shape
        d = inner // heads
        qh, kh, vh = (t.view(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
        cross = k.shape[1] == bias.shape[1] and lq != k.shape[1]
        attn_bias = bias.to(q).view(b, 1, 1, -1) if cross else None  # self-attention: plain SDPA
        out = torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, attn_mask=attn_bias)
        return out.transpose(1, 2).reshape(b, lq, inner)

    return override


def save_fp16(model: torch.nn.Module, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """ComfyUI key names, fp16 tensors (the committed checkpoint format)."""
    from safetensors.torch import save_file

    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")  # readers never see a half-written checkpoint
    save_file(state, str(partial), metadata=metadata)
    partial.replace(path)
    return path
