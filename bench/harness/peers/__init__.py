"""Peers SemCache is compared with, written from their papers' published algorithms, and the
oracle (the limit of residual reuse). Benchmark code only, not part of the pack.

All run on `engine.py`, which uses the same public hook points as the pack (OUTER_SAMPLE and
DIFFUSION_MODEL wrappers, `patches_replace["dit"]` block slots). EasyCache and LazyCache are
ComfyUI's own nodes (`harness.methods`).
"""

from __future__ import annotations

from typing import Any

from . import calibration, fbcache, magcache, oracle, teacache
from .engine import apply_peer, latest_log

FAMILIES = ("teacache", "magcache", "fbcache", "oracle")
KNOBS = {"teacache": "rel_l1_thresh", "magcache": "magcache_thresh", "fbcache": "residual_diff_threshold",
         "oracle": "oracle_thresh"}
DEFAULTS = {"teacache": teacache.DEFAULTS, "magcache": magcache.DEFAULTS, "fbcache": fbcache.DEFAULTS,
            "oracle": oracle.DEFAULTS}


def make_policy(family: str, settings: dict, cal: calibration.Calibration | None = None):
    """A factory of fresh policies (one per sampler call) for `family` at `settings`."""
    merged = {**DEFAULTS[family], **settings}
    if family in ("teacache", "magcache"):
        cal = cal or calibration.ACTIVE
        if cal is None:
            raise RuntimeError(f"{family} needs a calibration: peers.calibration.use(...) first")
    if family == "teacache":
        return lambda: teacache.TeaCachePolicy(cal.teacache_coefficients, **merged)
    if family == "magcache":
        return lambda: magcache.MagCachePolicy(cal.magcache_ratios, **merged)
    if family == "fbcache":
        return lambda: fbcache.FirstBlockCachePolicy(**merged)
    if family == "oracle":
        return lambda: oracle.OraclePolicy(**merged)
    raise KeyError(family)


def apply(model: Any, family: str, settings: dict, cal: calibration.Calibration | None = None) -> Any:
    """A clone of `model` patched with peer `family` at `settings`."""
    return apply_peer(model, make_policy(family, settings, cal))


__all__ = ["FAMILIES", "KNOBS", "DEFAULTS", "apply", "make_policy", "latest_log"]
