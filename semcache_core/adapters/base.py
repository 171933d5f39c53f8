"""The contract every model-family adapter fulfils."""

from __future__ import annotations

from typing import Any

import torch


class UnsupportedModelError(TypeError):
    """Raised at patch time for a model SemCache cannot cache."""


class ModelAdapter:
    """Where a family keeps its blocks and probe modules, and how its block slots look."""

    family: str = ""
    default_alpha: float = 0.0
    default_beta: float = 0.0
    # Blocks that write into their input tensor need the stack input cloned before use.
    blocks_mutate_input: bool = False

    @classmethod
    def class_names(cls, model: object) -> set[str]:
        return {k.__name__ for k in type(model).__mro__}

    @classmethod
    def matches(cls, diffusion_model: object) -> bool:
        raise NotImplementedError

    def block_keys(self, diffusion_model: Any) -> list[tuple[str, int]]:
        """patches_replace["dit"] keys of the block stack, in execution order."""
        raise NotImplementedError

    def probe_modules(self, diffusion_model: Any, layers: list[int]) -> list[torch.nn.Module]:
        """Modules whose forward input/output are Z_in/Z_out for PSA (DESIGN §4.2)."""
        raise NotImplementedError

    def variant(self, diffusion_model: Any) -> str:
        """Short human label, e.g. 'Wan T2V'."""
        return self.family

    def caching_blocker(self, diffusion_model: Any) -> str | None:
        """Why step caching would be wrong for this variant, or None if it is safe."""
        return None

    def stack_input(self, args: dict) -> torch.Tensor:
        return args["img"]

    def skipped_output(self, args: dict, hidden: torch.Tensor) -> dict:
        """Block output when the whole stack is replaced by input + cached residual."""
        return {"img": hidden}

    def passthrough(self, args: dict) -> dict:
        """Output of a block that is skipped (identity)."""
        return {"img": args["img"]}

    def stack_output(self, out: dict) -> torch.Tensor:
        return out["img"]

    # -- TMM (token-pruned execution); DESIGN §4.4 ------------------------------------------
    def tmm_blocker(self, diffusion_model: Any) -> str | None:
        """Why frame-pruned execution would be wrong for this variant, or None if it is safe."""
        return "this model family has no frame-pruned execution yet"

    def latent_frames(self, diffusion_model: Any, x: torch.Tensor) -> torch.Tensor:
        """The (B, C, T, H, W) video latent inside the model input (extra channels dropped)."""
        raise NotImplementedError

    def tokens_per_frame(self, diffusion_model: Any, x: torch.Tensor) -> int:
        raise NotImplementedError

    def gather_frames(self, args: dict, index: torch.Tensor, frames: list[int], total_frames: int) -> dict:
        """Block args restricted to the tokens (and per-token/per-frame inputs) of `frames`."""
        raise NotImplementedError
