"""The methods under test and how each one patches a MODEL, exactly as its ComfyUI node does.

SemCache goes through the pack's `patch_model` (what SemCachePatchModel.execute calls);
EasyCache and LazyCache through ComfyUI's own node classes (`comfy_extras.nodes_easycache`),
so the benchmark runs their real code, not a re-implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fairness import with_input_copy

# The nodes' own defaults (SemCachePatchModel inputs; EasyCache/LazyCache node inputs).
EASYCACHE_DEFAULTS = {"reuse_threshold": 0.2, "start_percent": 0.15, "end_percent": 0.95}


@dataclass(frozen=True)
class Method:
    """One configuration: a family ("uncached", "semcache", "easycache", "lazycache") + settings."""

    family: str
    settings: dict = field(default_factory=dict, hash=False)
    tag: str = ""  # short extra label, e.g. "default" or the ablated setting
    copy_input: bool = True  # see fairness.py; False reproduces EasyCache's fp32 in-place bug

    @property
    def label(self) -> str:
        if self.family == "uncached":
            return "uncached"
        knob = self.settings.get("threshold_scale", self.settings.get("reuse_threshold"))
        extra = f" [{self.tag}]" if self.tag else ""
        return f"{self.family} {knob:g}{extra}" if knob is not None else f"{self.family}{extra}"

    @property
    def knob(self) -> float | None:
        """The method's main speed/quality knob (threshold_scale or reuse_threshold)."""
        return self.settings.get("threshold_scale", self.settings.get("reuse_threshold"))

    def apply(self, model: Any, pack: Any) -> Any:
        """A patched clone of `model` (the input is never modified)."""
        if self.copy_input:
            model = with_input_copy(model)
        if self.family == "uncached":
            return model
        if self.family == "semcache":
            from importlib import import_module

            glue = import_module(f"{pack.__name__}.semcache_core.comfy_glue")
            config = import_module(f"{pack.__name__}.semcache_core.config")
            return glue.patch_model(model, config.SemCacheConfig(**self.settings))
        from comfy_extras.nodes_easycache import EasyCacheNode, LazyCacheNode

        node = {"easycache": EasyCacheNode, "lazycache": LazyCacheNode}[self.family]
        merged = {**EASYCACHE_DEFAULTS, **self.settings}
        return node.execute(model, verbose=False, **merged).result[0]


def semcache(tag: str = "", **settings: Any) -> Method:
    return Method("semcache", dict(settings), tag)


def easycache(reuse_threshold: float, tag: str = "", copy_input: bool = True) -> Method:
    return Method("easycache", {"reuse_threshold": reuse_threshold}, tag, copy_input)


def lazycache(reuse_threshold: float, tag: str = "") -> Method:
    return Method("lazycache", {"reuse_threshold": reuse_threshold}, tag)


UNCACHED = Method("uncached")
