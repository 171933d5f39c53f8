"""Per-family knowledge: where the blocks, the probe modules and the video tokens are.

An adapter is chosen once at patch time from the diffusion model's class; nothing outside
this package knows a model family by name.
"""

from __future__ import annotations

from .base import ModelAdapter, UnsupportedModelError
from .wan import WanAdapter

ADAPTERS: tuple[type[ModelAdapter], ...] = (WanAdapter,)
SUPPORTED_FAMILIES = "Wan 2.1 / Wan 2.2 (WanModel and its variants)"


def detect_adapter(diffusion_model: object) -> ModelAdapter:
    """The adapter for this diffusion model, or a clear error naming its class."""
    for adapter_cls in ADAPTERS:
        if adapter_cls.matches(diffusion_model):
            return adapter_cls()
    cls = type(diffusion_model)
    raise UnsupportedModelError(
        f"SemCache does not support the model class {cls.__module__}.{cls.__qualname__}. "
        f"Supported families: {SUPPORTED_FAMILIES}."
    )


__all__ = ["ModelAdapter", "UnsupportedModelError", "detect_adapter", "SUPPORTED_FAMILIES"]
