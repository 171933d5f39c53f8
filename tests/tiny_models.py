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
}
NUM_LAYERS = 6
WEIGHT_SCALE = 0.05


def build_wan(variant: str, path: Path, num_layers: int = NUM_LAYERS, seed: int = 0) -> Path:
    from comfy.ldm.wan.model import WanModel
    import comfy.ops
    from safetensors.torch import save_file

    if path.exists():
        return path
    kwargs = WAN_VARIANTS[variant]
    torch.manual_seed(seed)
    model = WanModel(
        dim=128, ffn_dim=256, num_heads=1, num_layers=num_layers, text_dim=4096,
        operations=comfy.ops.disable_weight_init, **kwargs,
    )
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if "norm" in key and key.endswith("weight"):
            state[key] = torch.ones(value.shape)
        elif "norm" in key and key.endswith("bias"):
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
