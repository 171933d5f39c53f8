"""Wan 2.1 / 2.2 (ComfyUI `WanModel` and subclasses)."""

from __future__ import annotations

import math

import torch

from .base import ModelAdapter, ProbePoint

# Variants that add work between blocks, outside the block slots: replacing the block stack
# by a cached residual would apply that work twice (VACE hints, S2V audio injector, Animate
# face adapter), so step caching stays off for them.
_BETWEEN_BLOCK_WORK = {
    "VaceWanModel": "VACE adds its hint blocks between the main blocks, outside the block slots",
    "WanModel_S2V": "S2V injects audio between blocks, in place, outside the block slots",
    "AnimateWanModel": "Animate fuses face features between blocks, outside the block slots",
}
# Classes whose video tokens are exactly T*H/2*W/2 in frame-major order with per-token inputs
# that follow the tokens (RoPE rows, per-frame modulation): frame pruning is safe for them.
_TMM_CLASSES = {"WanModel", "CameraWanModel"}


class WanAdapter(ModelAdapter):
    family = "wan"
    default_alpha = 0.2
    default_beta = 0.8
    blocks_mutate_input = False

    @classmethod
    def matches(cls, diffusion_model: object) -> bool:
        return "WanModel" in cls.class_names(diffusion_model)

    def block_keys(self) -> list[tuple[str, int]]:
        return [("double_block", i) for i in range(len(self.model.blocks))]

    def probe_points(self, positions: list[int]) -> list[ProbePoint]:
        # cross_attn receives norm3(x) as its first input and returns the (ungated)
        # cross-attention output: Z_in and Z_out of DESIGN §4.2.
        return [ProbePoint(self.model.blocks[i].cross_attn, self.model.blocks[i].cross_attn) for i in positions]

    def variant(self) -> str:
        name = type(self.model).__name__
        if name != "WanModel":
            return f"Wan ({name})"
        label = "Wan 2.2 TI2V-5B" if getattr(self.model, "out_dim", 16) == 48 else "Wan"
        return f"{label} {str(getattr(self.model, 'model_type', 't2v')).upper()}"

    def caching_blocker(self) -> str | None:
        for name in self.class_names(self.model):
            if name in _BETWEEN_BLOCK_WORK:
                return _BETWEEN_BLOCK_WORK[name]
        return None

    def tmm_blocker(self) -> str | None:
        name = type(self.model).__name__
        if name not in _TMM_CLASSES:
            return f"{name} adds tokens or per-token inputs beyond the video frames (TMM needs T*H/2*W/2 tokens)"
        if tuple(getattr(self.model, "patch_size", (1, 2, 2)))[0] != 1:
            return "temporal patch size is not 1, so tokens are not per latent frame"
        return None

    def latent_frames(self, x: torch.Tensor) -> torch.Tensor:
        # I2V/Fun inputs carry image/control channels after the latent: keep the latent only.
        return x[:, : self.model.out_dim]

    def tokens_per_frame(self, latent: torch.Tensor) -> int:
        _, ph, pw = self.model.patch_size
        return math.ceil(latent.shape[-2] / ph) * math.ceil(latent.shape[-1] / pw)

    def gather_frames(self, args: dict, index: torch.Tensor, frames: list[int], total_frames: int) -> dict:
        sub = dict(args)
        sub["img"] = args["img"][:, index]
        pe = args.get("pe")
        if isinstance(pe, torch.Tensor):
            sub["pe"] = pe[:, index]  # (1, L, 1, d/2, 2, 2): one RoPE row per token
        vec = args.get("vec")
        if isinstance(vec, torch.Tensor) and vec.ndim == 4 and vec.shape[1] > 1:
            if vec.shape[1] != total_frames:
                raise ValueError(f"per-frame modulation has {vec.shape[1]} rows for {total_frames} frames")
            # Wan 2.2 TI2V-5B: one modulation row per latent frame, expanded per token in the block
            sub["vec"] = vec[:, torch.tensor(frames, device=vec.device)]
        return sub
