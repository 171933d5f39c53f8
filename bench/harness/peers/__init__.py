"""Peers SemCache is compared with, as their authors ship them for Wan, and the reference
policies that know the truth (greedy and constrained oracles) or replay a schedule. Benchmark
code only, not part of the pack.

All run on `engine.py`, which uses the same public hook points as the pack (OUTER_SAMPLE and
DIFFUSION_MODEL wrappers, `patches_replace["dit"]` block slots). EasyCache and LazyCache are
ComfyUI's own nodes (`harness.methods`). Layering: engine → policies → calibration (uses
`harness.runner`) → this table; `harness.methods` sits above it.
"""

from __future__ import annotations

from typing import Any

from . import calibration, fbcache, magcache, oracle, taylorseer, teacache
from .engine import apply_peer, latest_log

FAMILIES = ("teacache", "teacache-ret", "magcache", "fbcache", "greedy-oracle", "constrained-oracle", "taylorseer-lite")
ORACLES = ("greedy-oracle", "constrained-oracle")
KNOBS = {"teacache": "rel_l1_thresh", "teacache-ret": "rel_l1_thresh", "magcache": "magcache_thresh", "fbcache": "residual_diff_threshold",
         "taylorseer-lite": "fresh_threshold", "greedy-oracle": "oracle_thresh", "constrained-oracle": "oracle_thresh"}
DEFAULTS = {"teacache": teacache.DEFAULTS, "teacache-ret": teacache.RET_DEFAULTS, "magcache": magcache.DEFAULTS, "fbcache": fbcache.DEFAULTS,
            "taylorseer-lite": taylorseer.DEFAULTS, "greedy-oracle": oracle.DEFAULTS, "constrained-oracle": dict(oracle.SEMCACHE_FORCED), "replay": {}}


def make_policy(family: str, settings: dict, cal: calibration.Calibration | None = None):
    """A factory of fresh policies (one per sampler call) for `family` at `settings`."""
    merged = {**DEFAULTS[family], **settings}
    if family in ("teacache", "teacache-ret", "magcache"):
        cal = cal or calibration.ACTIVE
        if cal is None:
            raise RuntimeError(f"{family} needs a calibration: peers.calibration.use(...) first")
    if family in ("teacache", "teacache-ret"):
        return lambda: teacache.TeaCachePolicy(cal.teacache_coefficients, **merged)
    if family == "magcache":
        return lambda: magcache.MagCachePolicy(cal.magcache_ratios, **merged)
    if family == "fbcache":
        return lambda: fbcache.FirstBlockCachePolicy(**merged)
    if family == "taylorseer-lite":
        return lambda: taylorseer.TaylorSeerLitePolicy(**merged)
    if family == "greedy-oracle":
        return lambda: oracle.GreedyOraclePolicy(**merged)
    if family == "constrained-oracle":
        return lambda: oracle.ConstrainedOraclePolicy(**merged)
    if family == "replay":
        return lambda: oracle.ReplayPolicy(**merged)
    raise KeyError(family)


def apply(model: Any, family: str, settings: dict, cal: calibration.Calibration | None = None) -> Any:
    """A clone of `model` patched with peer `family` at `settings`."""
    return apply_peer(model, make_policy(family, settings, cal))


__all__ = ["FAMILIES", "ORACLES", "KNOBS", "DEFAULTS", "apply", "make_policy", "latest_log"]
