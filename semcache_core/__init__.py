"""SemCache engine: prompt-semantic step caching for video DiTs.

Everything here imports torch only; `comfy_glue` is the single module that talks to ComfyUI,
and it imports comfy lazily so the pack still loads if ComfyUI internals move.
"""

from .config import SemCacheConfig

__all__ = ["SemCacheConfig"]
