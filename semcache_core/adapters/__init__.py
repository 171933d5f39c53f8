"""Per-family knowledge: where the blocks, the probe modules and the video tokens are.

An adapter is chosen from the diffusion model's class; nothing outside this package knows a
model family by name.
"""

from __future__ import annotations

from .base import ModelAdapter, ProbePoint, UnsupportedModelError
from .hunyuan_video import HunyuanVideoAdapter
from .wan import WanAdapter

ADAPTERS: tuple[type[ModelAdapter], ...] = (WanAdapter, HunyuanVideoAdapter)
SUPPORTED_FAMILIES = "Wan 2.1 / Wan 2.2 (WanModel and its variants), HunyuanVideo 1.0 / 1.5"


def detect_adapter(diffusion_model: object, model_label: str | None = None) -> ModelAdapter:
    """The adapter bound to this diffusion model, or a clear error naming its class.

    `model_label` is the host's name for the model type (ComfyUI: the model_base class).
    """
    for adapter_cls in ADAPTERS:
        if adapter_cls.matches(diffusion_model):
            return adapter_cls(diffusion_model)
    cls = type(diffusion_model)
    label = f"{model_label} (diffusion model class {cls.__module__}.{cls.__qualname__})" if model_label else (
        f"the model class {cls.__module__}.{cls.__qualname__}"
    )
    raise UnsupportedModelError(f"SemCache does not support {label}. Supported families: {SUPPORTED_FAMILIES}.")


__all__ = ["ModelAdapter", "ProbePoint", "UnsupportedModelError", "detect_adapter", "SUPPORTED_FAMILIES"]
