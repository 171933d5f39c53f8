"""Wan 2.1 / 2.2 (ComfyUI `WanModel` and subclasses)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..between_blocks import BetweenBlockWork, Gate, SkippableLookup, SkippableModuleList
from .base import ModelAdapter, ProbePoint

# Variants that add work between blocks that SemCache does not gate (newer ComfyUI only):
# replacing the block stack by a cached residual would apply that work twice, so step caching
# stays off for them. VACE, S2V and Animate are gated (`between_block_work`).
_BETWEEN_BLOCK_WORK = {
    "WanDancerModel": "WanDancer injects music between blocks, outside the block slots (not verified cached yet)",
}
# Classes whose video tokens are exactly T*H/2*W/2 in frame-major order with per-token inputs
# that follow the tokens (RoPE rows, per-frame modulation): frame pruning is safe for them.
_TMM_CLASSES = {"WanModel", "CameraWanModel"}
_VARIANT_LABELS = {
    "VaceWanModel": "Wan VACE",
    "WanModel_S2V": "Wan 2.2 S2V",
    "AnimateWanModel": "Wan 2.2 Animate",
    "HumoWanModel": "Wan HuMo",
    "CameraWanModel": "Wan Camera",
}


class WanAdapter(ModelAdapter):
    family = "wan"
    default_alpha = 0.2
    default_beta = 0.8
    blocks_mutate_input = False

    def __init__(self, diffusion_model):
        super().__init__(diffusion_model)
        self._work: BetweenBlockWork | None = None
        self._work_found = False

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
            return _VARIANT_LABELS.get(name, f"Wan ({name})")
        label = "Wan 2.2 TI2V-5B" if getattr(self.model, "out_dim", 16) == 48 else "Wan"
        return f"{label} {str(getattr(self.model, 'model_type', 't2v')).upper()}"

    def caching_blocker(self) -> str | None:
        for name in self.class_names(self.model):
            if name in _BETWEEN_BLOCK_WORK:
                return _BETWEEN_BLOCK_WORK[name]
        return None

    def evaluation_blocker(self, args: tuple, kwargs: dict) -> str | None:
        options = args[-1] if args and isinstance(args[-1], dict) else kwargs.get("transformer_options")
        patches = options.get("patches", {}) if isinstance(options, dict) else {}
        if isinstance(patches, dict) and patches.get("double_block"):
            # newer ComfyUI calls these after every block, outside the block slots
            return "a post-block patch (patches['double_block']) adds into the blocks' outputs outside the block slots"
        return None

    def between_block_work(self, skipping: Callable[[], bool]) -> BetweenBlockWork | None:
        if not self._work_found:  # built once per adapter (one run, one model): the gates stay the same objects
            self._work, self._work_found = self._find_between_block_work(skipping), True
        return self._work

    def _find_between_block_work(self, skipping: Callable[[], bool]) -> BetweenBlockWork | None:
        """The gates of the variants whose forward runs work after some blocks (0.3.75 to v0.33).

        Each gate is the attribute the forward consults right before that work, so a skipped step
        calls none of it: VACE `vace_layers_mapping.get(i)` (then the hint blocks and
        `x += c_skip * strength`), S2V `audio_injector.injected_block_id.get(i)` (then the audio
        cross-attention and the in-place add), Animate `face_adapter.fuser_blocks[i // 5]`.
        """
        model, names, n_blocks = self.model, self.class_names(self.model), len(self.model.blocks)
        if "VaceWanModel" in names and isinstance(getattr(model, "vace_layers_mapping", None), dict):
            mapping = model.vace_layers_mapping
            after = sorted(i for i in mapping if i < n_blocks)
            return BetweenBlockWork(
                label="VACE hint blocks",
                modules=tuple(model.vace_blocks),
                stack_end=model.head,
                gates=(Gate(model, "vace_layers_mapping", SkippableLookup(mapping, skipping)),),
                reused=f"block stack + {len(model.vace_blocks)} VACE hint blocks (added after blocks "
                       f"{_listed(after)}, every context at its strength)",
            )
        injector = getattr(model, "audio_injector", None)
        if "WanModel_S2V" in names and isinstance(getattr(injector, "injected_block_id", None), dict):
            after = sorted(i for i in injector.injected_block_id if i < n_blocks)
            work = [*injector.injector, *injector.injector_pre_norm_feat,
                    *getattr(injector, "injector_adain_layers", ())]
            return BetweenBlockWork(
                label="S2V audio injector",
                modules=tuple(work),
                stack_end=model.head,
                gates=(Gate(injector, "injected_block_id", SkippableLookup(injector.injected_block_id, skipping)),),
                reused=f"block stack + audio injected after blocks {_listed(after)}",
            )
        adapter = getattr(model, "face_adapter", None)
        if "AnimateWanModel" in names and isinstance(getattr(adapter, "fuser_blocks", None), torch.nn.ModuleList):
            after = list(range(0, n_blocks, 5))
            return BetweenBlockWork(
                label="Animate face adapter",
                modules=tuple(adapter.fuser_blocks),
                stack_end=model.head,
                gates=(Gate(adapter, "fuser_blocks", SkippableModuleList(adapter.fuser_blocks, skipping)),),
                reused=f"block stack + face features fused after blocks {_listed(after)} (when a face video is given)",
            )
        return None

    def reused_work(self) -> str:
        work = self._work
        return work.reused if work is not None else super().reused_work()

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


def _listed(blocks: list[int]) -> str:
    return ", ".join(str(i) for i in blocks) or "none"
