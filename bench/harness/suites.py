"""Which configurations a benchmark run measures.

FULL: threshold sweeps of SemCache, EasyCache and LazyCache (each including its node default),
plus SemCache ablations at its default threshold for the open design choices of DESIGN §4
(threshold direction, error model, tanh scale, start, skip cap, norm subsampling), and EasyCache
at its default without the input copy of fairness.py (documents its fp32 in-place bug).
QUICK: each method at its node default plus one more SemCache point, on two prompts.
"""

from __future__ import annotations

from .methods import UNCACHED, Method, easycache, lazycache, semcache

SEMCACHE_SCALES = (0.25, 0.5, 1.0, 1.5, 2.5)
EASYCACHE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)
LAZYCACHE_THRESHOLDS = (0.1, 0.2, 0.4)
DEFAULT_SCALE = 1.0  # SemCachePatchModel's default threshold_scale
DEFAULT_REUSE = 0.2  # EasyCache / LazyCache node default reuse_threshold


def _tagged(knob: float, default: float) -> str:
    return "default" if knob == default else ""


def full() -> list[Method]:
    methods = [UNCACHED]
    methods += [semcache(_tagged(s, DEFAULT_SCALE), threshold_scale=s) for s in SEMCACHE_SCALES]
    methods += [easycache(t, _tagged(t, DEFAULT_REUSE)) for t in EASYCACHE_THRESHOLDS]
    methods += [lazycache(t, _tagged(t, DEFAULT_REUSE)) for t in LAZYCACHE_THRESHOLDS]
    methods += [
        semcache("mode=paper", threshold_scale=DEFAULT_SCALE, threshold_mode="paper"),
        semcache("error=paper", threshold_scale=DEFAULT_SCALE, error_model="paper"),
        semcache("tanh=0.25", threshold_scale=DEFAULT_SCALE, tanh_scale=0.25),
        semcache("start=0.2", threshold_scale=DEFAULT_SCALE, start_percent=0.2),
        semcache("max_skip=2", threshold_scale=DEFAULT_SCALE, max_skip_steps=2),
        semcache("stride=1", threshold_scale=DEFAULT_SCALE, norm_stride=1),
        easycache(DEFAULT_REUSE, "no input copy: fp32 bug", copy_input=False),
    ]
    return methods


def quick() -> list[Method]:
    return [
        UNCACHED,
        semcache("default", threshold_scale=DEFAULT_SCALE),
        semcache("", threshold_scale=0.5),
        easycache(DEFAULT_REUSE, "default"),
        lazycache(DEFAULT_REUSE, "default"),
    ]
