"""HunyuanVideo 1.0 / 1.5 (ComfyUI `HunyuanVideo`): double- and single-stream blocks.

Facts this relies on (reference/comfy_internals.md §2, §7):
- blocks work in place on their inputs, so the stack input is cloned;
- text reaches the video only through joint attention; the image stream of the attention
  (input of img_attn.qkv, output of img_attn.proj; linear1/linear2 in single blocks) is probed;
- image and text tokens travel together: image first in 0.3.75 (DoubleStreamBlock has
  `flipped_img_txt`), text first from v0.14 on (the attribute is gone);
- RoPE rows and the additive key mask cover the joint sequence in that same order.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

from .base import ModelAdapter, ProbePoint


class HunyuanVideoAdapter(ModelAdapter):
    family = "hunyuan_video"
    default_alpha = 0.4
    default_beta = 0.6
    blocks_mutate_input = True

    def __init__(self, diffusion_model: Any):
        super().__init__(diffusion_model)
        first = diffusion_model.double_blocks[0] if len(diffusion_model.double_blocks) else None
        self.img_first = bool(getattr(first, "flipped_img_txt", False))
        self._signature: inspect.Signature | None = None

    @classmethod
    def matches(cls, diffusion_model: object) -> bool:
        # HunyuanImage 2.1 shares the class but has 2-D patches: it is not a video model.
        return (
            "HunyuanVideo" in cls.class_names(diffusion_model)
            and hasattr(diffusion_model, "double_blocks")
            and len(getattr(diffusion_model, "patch_size", ())) == 3
        )

    def block_keys(self) -> list[tuple[str, int]]:
        m = self.model
        return [("double_block", i) for i in range(len(m.double_blocks))] + [
            ("single_block", i) for i in range(len(m.single_blocks))
        ]

    def probe_points(self, positions: list[int]) -> list[ProbePoint]:
        doubles, singles = self.model.double_blocks, self.model.single_blocks
        points = []
        for p in positions:
            if p < len(doubles):
                attn = doubles[p].img_attn
                points.append(ProbePoint(attn.qkv, attn.proj))
            else:
                block = singles[p - len(doubles)]
                points.append(ProbePoint(block.linear1, block.linear2, joint=True))
        return points

    def variant(self) -> str:
        params = getattr(self.model, "params", None)
        if getattr(params, "vision_in_dim", None):
            return "HunyuanVideo 1.5"
        in_channels = getattr(params, "in_channels", 16)
        return "HunyuanVideo 1.0 I2V" if in_channels in (32, 33) else "HunyuanVideo 1.0 T2V"

    def evaluation_blocker(self, args: tuple, kwargs: dict) -> str | None:
        if self._signature is None:
            self._signature = inspect.signature(self.model._forward)
        try:
            bound = self._signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            return None
        if bound.get("control") is not None:
            return "a ControlNet adds into the blocks' outputs outside the block slots"
        return None

    # -- joint image/text tokens ------------------------------------------------------------
    def text_tokens(self, args: dict) -> int:
        return args["txt"].shape[1]

    def image_part(self, joint: torch.Tensor, n_img: int, n_txt: int) -> torch.Tensor:
        return joint[:, :n_img] if self.img_first else joint[:, n_txt : n_txt + n_img]

    def image_tokens(self, out: dict, block_type: str, n_img: int, n_txt: int) -> torch.Tensor:
        if block_type == "double_block":
            return out["img"]
        return self.image_part(out["img"], n_img, n_txt)

    def with_image_tokens(self, out: dict, block_type: str, hidden: torch.Tensor, n_img: int, n_txt: int) -> dict:
        if block_type == "double_block":
            return {**out, "img": hidden}
        joint = out["img"]
        if self.img_first:
            return {**out, "img": torch.cat((hidden, joint[:, n_img:]), dim=1)}
        return {**out, "img": torch.cat((joint[:, :n_txt], hidden, joint[:, n_txt + n_img :]), dim=1)}

    def passthrough(self, args: dict, block_type: str) -> dict:
        if block_type == "double_block":
            return {"img": args["img"], "txt": args["txt"]}
        return {"img": args["img"]}

    # -- TMM ----------------------------------------------------------------------------------
    def tmm_blocker(self) -> str | None:
        if len(self.model.patch_size) != 3 or self.model.patch_size[0] != 1:
            return "temporal patch size is not 1, so tokens are not per latent frame"
        return None

    def latent_frames(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.model.out_channels]  # 1.5 / I2V inputs carry image and mask channels after it

    def tokens_per_frame(self, latent: torch.Tensor) -> int:
        _, ph, pw = self.model.patch_size
        return math.ceil(latent.shape[-2] / ph) * math.ceil(latent.shape[-1] / pw)

    def gather_frames(self, args: dict, index: torch.Tensor, frames: list[int], total_frames: int) -> dict:
        if args.get("modulation_dims_img") is not None:
            raise ValueError("token-replace I2V modulates the first frame's tokens separately")
        n_img, n_txt = args["img"].shape[1], args["txt"].shape[1]
        text = torch.arange(n_txt, device=index.device)
        joint = torch.cat((index, n_img + text)) if self.img_first else torch.cat((text, n_txt + index))
        sub = dict(args)
        sub["img"] = args["img"][:, index]
        pe = args.get("pe")
        if isinstance(pe, torch.Tensor):
            if pe.shape[2] != n_img + n_txt:
                raise ValueError(f"RoPE covers {pe.shape[2]} tokens, not {n_img} image + {n_txt} text")
            sub["pe"] = pe[:, :, joint]  # (B, 1, L, d/2, 2, 2)
        mask = args.get("attention_mask")
        if isinstance(mask, torch.Tensor):
            if mask.shape[-1] != n_img + n_txt or (mask.ndim >= 2 and mask.shape[-2] not in (1,)):
                raise ValueError(f"attention mask of shape {tuple(mask.shape)} cannot be restricted to frames")
            sub["attention_mask"] = mask[..., joint]
        return sub
