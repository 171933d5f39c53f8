"""The contract every model-family adapter fulfils.

An adapter is bound to one diffusion model (for one patch or one sampler run) and knows where
its blocks, probe modules and video tokens are. The engine never names a model family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..between_blocks import BetweenBlockWork


class UnsupportedModelError(TypeError):
    """Raised at patch time for a model SemCache cannot cache."""


@dataclass(frozen=True)
class ProbePoint:
    """Z_in is the first input of `in_module`, Z_out the output of `out_module` (DESIGN §4.2).

    `joint`: the tensors hold image and text tokens together; only the image part is scored.
    """

    in_module: torch.nn.Module
    out_module: torch.nn.Module
    joint: bool = False


class ModelAdapter:
    """Where a family keeps its blocks and probe modules, and how its block slots look."""

    family: str = ""
    default_alpha: float = 0.0
    default_beta: float = 0.0
    # Blocks that write into their input tensor need the stack input cloned before use.
    blocks_mutate_input: bool = False

    def __init__(self, diffusion_model: Any):
        self.model = diffusion_model

    @staticmethod
    def class_names(model: object) -> set[str]:
        return {k.__name__ for k in type(model).__mro__}

    @classmethod
    def matches(cls, diffusion_model: object) -> bool:
        raise NotImplementedError

    # -- the block stack -----------------------------------------------------------------------
    def block_keys(self) -> list[tuple[str, int]]:
        """patches_replace["dit"] keys of the block stack, in execution order."""
        raise NotImplementedError

    def probe_points(self, positions: list[int]) -> list[ProbePoint]:
        raise NotImplementedError

    def variant(self) -> str:
        """Short human label, e.g. 'Wan T2V'."""
        return self.family

    def caching_blocker(self) -> str | None:
        """Why step caching would be wrong for this variant, or None if it is safe."""
        return None

    def evaluation_blocker(self, args: tuple, kwargs: dict) -> str | None:
        """Why this one model call must run uncached (e.g. a ControlNet adds between blocks)."""
        return None

    def between_block_work(self, skipping: Callable[[], bool]) -> BetweenBlockWork | None:
        """What this variant runs between blocks, outside the block slots, and its gates
        (`between_blocks.py`); None when the block slots see all the work. `skipping` tells the
        gates whether the current evaluation is a skipped one. Same object on every call."""
        return None

    def reused_work(self) -> str:
        """What a skipped step reuses, for the stats."""
        return f"block stack ({len(self.block_keys())} blocks)"

    def stack_input(self, args: dict) -> torch.Tensor:
        """Image hidden states entering the first block."""
        return args["img"]

    def text_tokens(self, args: dict) -> int:
        """Text tokens travelling with the image tokens through the blocks (joint models)."""
        return 0

    def image_tokens(self, out: dict, block_type: str, n_img: int, n_txt: int) -> torch.Tensor:
        """Image hidden states in a block's output."""
        return out["img"]

    def with_image_tokens(self, out: dict, block_type: str, hidden: torch.Tensor, n_img: int, n_txt: int) -> dict:
        """A block output whose image hidden states are replaced by `hidden`."""
        return {**out, "img": hidden}

    def passthrough(self, args: dict, block_type: str) -> dict:
        """Output of a block that is skipped (identity)."""
        return {"img": args["img"]}

    def image_part(self, joint: torch.Tensor, n_img: int, n_txt: int) -> torch.Tensor:
        """Image rows of a joint image+text tensor (only for joint probe points)."""
        return joint

    # -- TMM (token-pruned execution); DESIGN §4.4 ------------------------------------------
    def tmm_blocker(self) -> str | None:
        """Why frame-pruned execution would be wrong for this variant, or None if it is safe."""
        return "this model family has no frame-pruned execution yet"

    def latent_frames(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, C, T, H, W) video latent inside the model input (extra channels dropped)."""
        raise NotImplementedError

    def tokens_per_frame(self, latent: torch.Tensor) -> int:
        raise NotImplementedError

    def gather_frames(self, args: dict, index: torch.Tensor, frames: list[int], total_frames: int) -> dict:
        """First-block args restricted to the tokens (and per-token/per-frame inputs) of `frames`.

        Every key other than "img"/"txt" in the result is reused for the later blocks.
        Raises ValueError when the inputs cannot be restricted consistently.
        """
        raise NotImplementedError
