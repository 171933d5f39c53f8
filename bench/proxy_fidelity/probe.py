"""Record the block stack's residual R = x_after_last_block - x_before_first_block per stream.

Through ComfyUI's public block-replacement slots on the first and the last Wan block (the same
hook points the pack uses), so the numbers come from the real sampler's own evaluations.
`transformer_options["cond_or_uncond"]` says which batch rows are the conditional stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ResidualTrace:
    """Per model evaluation (in sampler order): sigma and each stream's residual (tokens, dim)."""

    sigmas: list[float] = field(default_factory=list)
    cond: list[torch.Tensor] = field(default_factory=list)
    uncond: list[torch.Tensor] = field(default_factory=list)
    _pending: dict[str, Any] = field(default_factory=dict)

    def first_block(self, args: dict, extra: dict) -> dict:
        self._pending = {"x_in": args["img"].detach().float().clone(), "options": args.get("transformer_options", {})}
        return extra["original_block"](args)

    def last_block(self, args: dict, extra: dict) -> dict:
        out = extra["original_block"](args)
        x_in, options = self._pending["x_in"], self._pending["options"]
        residual = out["img"].detach().float() - x_in
        streams = options.get("cond_or_uncond", [0])
        rows = residual.shape[0] // max(len(streams), 1)
        for chunk, kind in enumerate(streams):
            target = self.cond if kind == 0 else self.uncond
            target.append(residual[chunk * rows].clone())  # batch 1 per stream in the fidelity runs
        sigmas = options.get("sigmas")
        self.sigmas.append(float(sigmas.flatten()[0]) if sigmas is not None else float("nan"))
        return out


def with_residual_trace(model: Any) -> tuple[Any, ResidualTrace]:
    """A clone of the ModelPatcher whose first and last blocks record into a fresh trace."""
    trace = ResidualTrace()
    patched = model.clone()
    last = len(patched.get_model_object("diffusion_model").blocks) - 1
    patched.set_model_patch_replace(trace.first_block, "dit", "double_block", 0)
    patched.set_model_patch_replace(trace.last_block, "dit", "double_block", last)
    return patched, trace
