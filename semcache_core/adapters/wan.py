"""Wan 2.1 / 2.2 (ComfyUI `WanModel` and subclasses)."""

from __future__ import annotations

from typing import Any

import torch

from .base import ModelAdapter

# Variants that add work between blocks, outside the block slots: replacing the block stack
# by a cached residual would apply that work twice (VACE hints, S2V audio injector, Animate
# face adapter), so step caching stays off for them.
_BETWEEN_BLOCK_WORK = {
    "VaceWanModel": "VACE adds its hint blocks between the main blocks, outside the block slots",
    "WanModel_S2V": "S2V injects audio between blocks, in place, outside the block slots",
    "AnimateWanModel": "Animate fuses face features between blocks, outside the block slots",
}


class WanAdapter(ModelAdapter):
    family = "wan"
    default_alpha = 0.2
    default_beta = 0.8
    blocks_mutate_input = False

    @classmethod
    def matches(cls, diffusion_model: object) -> bool:
        return "WanModel" in cls.class_names(diffusion_model)

    def block_keys(self, diffusion_model: Any) -> list[tuple[str, int]]:
        return [("double_block", i) for i in range(len(diffusion_model.blocks))]

    def probe_modules(self, diffusion_model: Any, layers: list[int]) -> list[torch.nn.Module]:
        # cross_attn receives norm3(x) as its first positional input and returns the
        # (ungated) cross-attention output: Z_in and Z_out of DESIGN §4.2.
        return [diffusion_model.blocks[i].cross_attn for i in layers]

    def variant(self, diffusion_model: Any) -> str:
        name = type(diffusion_model).__name__
        if name != "WanModel":
            return f"Wan ({name})"
        model_type = getattr(diffusion_model, "model_type", "t2v")
        out_dim = getattr(diffusion_model, "out_dim", 16)
        label = "Wan 2.2 TI2V-5B" if out_dim == 48 else "Wan"
        return f"{label} {str(model_type).upper()}"

    def caching_blocker(self, diffusion_model: Any) -> str | None:
        for name in self.class_names(diffusion_model):
            if name in _BETWEEN_BLOCK_WORK:
                return _BETWEEN_BLOCK_WORK[name]
        return None
