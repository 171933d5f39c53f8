"""The methods under test and how each one patches a MODEL, exactly as its ComfyUI node does.

SemCache goes through the pack's `patch_model` (what SemCachePatchModel.execute calls);
EasyCache and LazyCache through ComfyUI's own node classes (`comfy_extras.nodes_easycache`),
so the benchmark runs their real code, not a re-implementation. TeaCache, MagCache, First
Block Cache, the greedy and constrained oracles and schedule replays are `peers/` (written from
their authors' algorithms, on public hook points). This is the top of the harness's layering:
it imports `peers` and `runner`, neither imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from importlib import import_module

from . import peers
from .fairness import with_input_copy
from .prompts import BenchPrompt
from .runner import Sample, SamplingSetup, sample

SHORT = {"magcache_K": "K"}  # label names of peer settings
# Families the pack's own nodes run (semcache-forecast_N: SemCache Patch Model with reuse_mode forecast_N)
PACK_FAMILIES = ("semcache", "tmm", "semcache+tmm", "semcache-forecast_1", "semcache-forecast_2")
PEER_FAMILIES = (*peers.FAMILIES, "replay")
# The nodes' own defaults (SemCachePatchModel inputs; EasyCache/LazyCache node inputs).
EASYCACHE_DEFAULTS = {"reuse_threshold": 0.2, "start_percent": 0.15, "end_percent": 0.95}


@dataclass(frozen=True)
class Method:
    """One configuration: a family ("uncached", "semcache", "easycache", "lazycache", "tmm",
    "semcache+tmm", a peer: "teacache", "magcache", "fbcache", a reference: "greedy-oracle",
    "constrained-oracle", or "replay" of a skip pattern) + settings."""

    family: str
    settings: dict = field(default_factory=dict, hash=False)
    tag: str = ""  # short extra label, e.g. "default" or the ablated setting
    copy_input: bool = True  # see fairness.py; False reproduces EasyCache's fp32 in-place bug

    @property
    def label(self) -> str:
        if self.family == "uncached":
            return "uncached"
        if self.family == "semcache+tmm":
            extra = f" [{self.tag}]" if self.tag else ""
            return f"semcache {self.settings['threshold_scale']:g} + tmm {self.settings['reuse_ratio']:g}{extra}"
        if self.family == "replay":
            return f"replay {self.settings['pattern']}"
        knob = self.knob
        extra = f" [{self.tag}]" if self.tag else ""
        if self.family in peers.FAMILIES:  # a second knob swept along (MagCache's K) shows in the label
            extra = "".join(f" {SHORT.get(k, k)}={v:g}" if isinstance(v, (int, float)) else f" {SHORT.get(k, k)}={v}"
                            for k, v in sorted(self.settings.items())
                            if k not in (peers.KNOBS[self.family], "mode")) + extra
        return f"{self.family} {knob:g}{extra}" if knob is not None else f"{self.family}{extra}"

    @property
    def knob(self) -> float | None:
        """The method's main speed/quality knob (threshold_scale, reuse_threshold or reuse_ratio;
        reuse_ratio for SemCache+TMM, whose curve varies TMM at a fixed threshold_scale)."""
        keys = ("reuse_ratio",) if self.family == "semcache+tmm" else (
            "threshold_scale", "reuse_threshold", "reuse_ratio", *peers.KNOBS.values())
        for key in keys:
            if key in self.settings:
                return self.settings[key]
        return None

    def apply(self, model: Any, pack: Any) -> Any:
        """A patched clone of `model` (the input is never modified)."""
        if self.copy_input:
            model = with_input_copy(model)
        if self.family == "uncached":
            return model
        if self.family in PACK_FAMILIES:
            return self._apply_pack(model, pack)
        if self.family in PEER_FAMILIES:
            return peers.apply(model, self.family, self.settings)
        from comfy_extras.nodes_easycache import EasyCacheNode, LazyCacheNode

        node = {"easycache": EasyCacheNode, "lazycache": LazyCacheNode}[self.family]
        merged = {**EASYCACHE_DEFAULTS, **self.settings}
        return node.execute(model, verbose=False, **merged).result[0]

    def _apply_pack(self, model: Any, pack: Any) -> Any:
        """TMM Frame Selector then SemCache Patch Model, as the two nodes chain in a workflow."""
        glue = import_module(f"{pack.__name__}.semcache_core.comfy_glue")
        tmm_settings = {TMM_KEYS[k]: v for k, v in self.settings.items() if k in TMM_KEYS}
        psa_settings = {k: v for k, v in self.settings.items() if k not in TMM_KEYS}
        if "tmm" in self.family:
            tmm = import_module(f"{pack.__name__}.semcache_core.tmm")
            model = glue.patch_tmm(model, tmm.TMMConfig(**tmm_settings))
        if "semcache" in self.family:
            config = import_module(f"{pack.__name__}.semcache_core.config")
            model = glue.patch_model(model, config.SemCacheConfig(**psa_settings))
        return model


# Method settings that belong to the TMM Frame Selector node (bench name -> TMMConfig field).
TMM_KEYS = {"reuse_ratio": "reuse_ratio", "max_frame_staleness": "max_frame_staleness",
            "motion_source": "motion_source", "tmm_start_percent": "start_percent"}


def semcache(tag: str = "", **settings: Any) -> Method:
    return Method("semcache", dict(settings), tag)


def semcache_forecast(family: str, threshold_scale: float, tag: str = "") -> Method:
    """SemCache Patch Model with reuse_mode forecast_1 / forecast_2 (family "semcache-forecast_N")."""
    return Method(family, {"threshold_scale": threshold_scale, "reuse_mode": family.split("-", 1)[1]}, tag)


def easycache(reuse_threshold: float, tag: str = "", copy_input: bool = True) -> Method:
    return Method("easycache", {"reuse_threshold": reuse_threshold}, tag, copy_input)


def lazycache(reuse_threshold: float, tag: str = "") -> Method:
    return Method("lazycache", {"reuse_threshold": reuse_threshold}, tag)


UNCACHED = Method("uncached")


def tmm(reuse_ratio: float, tag: str = "", **settings: Any) -> Method:
    """TMM Frame Selector alone (settings: max_frame_staleness, motion_source, tmm_start_percent)."""
    return Method("tmm", {"reuse_ratio": reuse_ratio, **settings}, tag)


def semcache_tmm(threshold_scale: float, reuse_ratio: float, tag: str = "", **settings: Any) -> Method:
    """TMM Frame Selector chained with SemCache Patch Model (settings: the TMM ones of `tmm`)."""
    return Method("semcache+tmm", {"threshold_scale": threshold_scale, "reuse_ratio": reuse_ratio, **settings}, tag)


def peer(family: str, knob: float, tag: str = "", **settings: Any) -> Method:
    """A peer of `peers.FAMILIES` at its knob value (other settings: the peer's own defaults)."""
    return Method(family, {peers.KNOBS[family]: knob, **settings}, tag)


def replay(pattern: str) -> Method:
    """Whole-step residual reuse exactly where `pattern` has "." (the search bound's building block)."""
    return Method("replay", {"pattern": pattern})


def run_method(model: Any, pack: Any, method: Method, prompt: BenchPrompt, setup: SamplingSetup) -> Sample:
    """`method` applied to `model` (with the input copy of fairness.py unless it opts out), sampled."""
    patched = method.apply(model, pack)
    result = sample(patched, prompt, setup)
    if method.family in PACK_FAMILIES:
        result.stats = import_module(f"{pack.__name__}.semcache_core.comfy_glue").latest_stats(patched)
    if method.family in PEER_FAMILIES:
        log = peers.latest_log(patched)
        if log is not None:
            result.reused = log.pattern.count(".") + 0.5 * log.pattern.count("h")
            result.decisions = log.pattern
    return result
