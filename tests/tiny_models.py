"""Tiny Wan checkpoints built with ComfyUI's own classes, saved in its key format.

Loaded back through comfy.sd.load_diffusion_model (the "Load Diffusion Model" path), so model
detection, model_base and sampling are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import torch

# name -> WanModel kwargs. dim must be a multiple of 128 and text_dim 4096 (0.3.75 detection).
WAN_VARIANTS = {
    "t2v": dict(model_type="t2v", in_dim=16, out_dim=16),
    "i2v": dict(model_type="i2v", in_dim=36, out_dim=16),
    "ti2v5b": dict(model_type="t2v", in_dim=48, out_dim=48),
    "flf": dict(model_type="i2v", in_dim=36, out_dim=16, flf_pos_embed_token_number=514),
    "fun": dict(model_type="t2v", in_dim=48, out_dim=16),  # Fun-Control 2.1: 16 + 32 control ch
    "a14b_i2v": dict(model_type="t2v", in_dim=36, out_dim=16),  # Wan 2.2 I2V-A14B: no img_emb
    "camera": dict(model_class="CameraWanModel", model_type="camera", in_dim=32, out_dim=16),
    # VACE: hint blocks after every 2nd main block; context = 16 latent*2 + 64 mask channels
    "vace": dict(model_class="VaceWanModel", in_dim=16, out_dim=16, vace_layers=3, vace_in_dim=96),
}
NUM_LAYERS = 6
WEIGHT_SCALE = 0.05
# Built on demand (tests/test_between_blocks.py), not by the session fixture: HuMo's audio
# projection and Animate's face encoders have a fixed size of about 40M parameters.
WAN_EXTRA_VARIANTS = {
    # S2V: audio injected after blocks 0 and 4 (ComfyUI's default inject layers); with 5 blocks
    # the last injection follows the last block
    "s2v": dict(model_class="WanModel_S2V", in_dim=16, out_dim=16, num_layers=5),
    # Animate: face adapter fuser after every 5th block (0 with 5 blocks); I2V-style 36 channels
    "animate": dict(model_class="AnimateWanModel", in_dim=36, out_dim=16, num_layers=5),
    "humo": dict(model_class="HumoWanModel", in_dim=16, out_dim=16, num_layers=4),
}


def build_wan(variant: str, path: Path, num_layers: int = NUM_LAYERS, seed: int = 0) -> Path:
    import comfy.ldm.wan.model
    import comfy.ldm.wan.model_animate
    import comfy.ops

    if path.exists():
        return path
    kwargs = dict({**WAN_VARIANTS, **WAN_EXTRA_VARIANTS}[variant])
    class_name = kwargs.pop("model_class", "WanModel")
    module = comfy.ldm.wan.model_animate if class_name == "AnimateWanModel" else comfy.ldm.wan.model
    model_class = getattr(module, class_name)
    num_layers = kwargs.pop("num_layers", num_layers)
    torch.manual_seed(seed)
    model = model_class(
        dim=128, ffn_dim=256, num_heads=1, num_layers=num_layers, text_dim=4096,
        operations=comfy.ops.disable_weight_init, **kwargs,
    )
    return save_random_weights(
        model, path, seed,
        ones=lambda key, v: "norm" in key and key.endswith("weight"),
        zeros=lambda key, v: "norm" in key and key.endswith("bias"),
    )


def save_random_weights(model: torch.nn.Module, path: Path, seed: int, ones, zeros=lambda key, v: False) -> Path:
    """Seeded small random weights in ComfyUI's key format; norm scales at 1 so signals survive."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if ones(key, value):
            state[key] = torch.ones(value.shape)
        elif zeros(key, value):
            state[key] = torch.zeros(value.shape)
        else:
            state[key] = (torch.randn(value.shape, generator=generator) * WEIGHT_SCALE).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def load(path: Path):
    import comfy.model_management
    import comfy.sd

    patcher = comfy.sd.load_diffusion_model(str(path))
    comfy.model_management.load_models_gpu([patcher])
    return patcher


HUNYUAN_VARIANTS = {
    # HunyuanVideo 1.0 T2V: vector_in (CLIP-L pooled) present, or it is detected as HunyuanImage 2.1
    "hv10": dict(in_channels=16, out_channels=16, vec_in_dim=768, context_in_dim=64, patch_size=[1, 2, 2],
                 guidance_embed=True, use_cond_type_embedding=False, vision_in_dim=None, depth_single_blocks=2,
                 axes_dim=[16, 56, 56]),
    # HunyuanVideo 1.5: 32 latent + 32 image + 1 mask channels, SigLIP vision_in, no single blocks
    "hv15": dict(in_channels=65, out_channels=32, vec_in_dim=None, context_in_dim=64, patch_size=[1, 1, 1],
                 guidance_embed=False, use_cond_type_embedding=True, vision_in_dim=1152, depth_single_blocks=0,
                 axes_dim=[16, 56, 56]),
    # HunyuanImage 2.1 shares the class with 2-D patches: an image model SemCache does not support
    "image21": dict(in_channels=64, out_channels=64, vec_in_dim=None, context_in_dim=64, patch_size=[1, 1],
                    guidance_embed=False, use_cond_type_embedding=False, vision_in_dim=None, depth_single_blocks=1,
                    axes_dim=[64, 64]),
}


def build_hunyuan(variant: str, path: Path, depth: int = 3, seed: int = 0) -> Path:
    """A tiny HunyuanVideo-class checkpoint built with ComfyUI's own class and key names."""
    import dataclasses

    import comfy.ops
    from comfy.ldm.hunyuan_video.model import HunyuanVideo, HunyuanVideoParams

    if path.exists():
        return path
    params = dict(
        hidden_size=128, mlp_ratio=4.0, num_heads=1, depth=depth, theta=256, qkv_bias=True, byt5=False,
        meanflow=False, meanflow_sum=HUNYUAN_VARIANTS[variant]["vision_in_dim"] is not None,
        **HUNYUAN_VARIANTS[variant],
    )
    fields = {f.name for f in dataclasses.fields(HunyuanVideoParams)}  # newer ComfyUI adds fields
    torch.manual_seed(seed)
    model = HunyuanVideo(operations=comfy.ops.disable_weight_init, **{k: v for k, v in params.items() if k in fields})
    return save_random_weights(
        model, path, seed,
        ones=lambda key, v: ("norm" in key or key.endswith(".scale")) and not key.endswith("bias") and v.ndim == 1,
    )


def build_wan_vae(path: Path, dim: int = 8, seed: int = 0) -> Path:
    """A tiny Wan 2.1 VAE (ComfyUI's WanVAE, the channel width `dim` is read back from the weights),
    for graphs with core nodes that encode images, e.g. WanVaceToVideo's control video."""
    from comfy.ldm.wan.vae import WanVAE

    if path.exists():
        return path
    torch.manual_seed(seed)
    model = WanVAE(dim=dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                   temperal_downsample=[False, True, True])
    return save_random_weights(model, path, seed, ones=lambda key, v: key.endswith("gamma"))
