"""Which configurations a benchmark run measures.

FULL: threshold sweeps of SemCache, EasyCache and LazyCache (each including its node default),
plus SemCache ablations (one setting changed at threshold_scale ABLATION_SCALE, where the error
threshold rather than the skip cap decides) for the open design choices of DESIGN §4
(threshold direction, error model, tanh scale, start, skip cap, norm subsampling), and EasyCache
at its default without the input copy of fairness.py (documents its fp32 in-place bug); and the
pack's TMM Frame Selector at its default, alone and chained with SemCache.
QUICK: each method at its node default plus one more SemCache point, on two prompts.
"""

from __future__ import annotations

from .methods import UNCACHED, Method, easycache, lazycache, semcache, semcache_tmm, tmm

SEMCACHE_SCALES = (0.05, 0.1, 0.2, 0.35, 0.6, 1.0)
EASYCACHE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)
LAZYCACHE_THRESHOLDS = (0.1, 0.2, 0.4)
DEFAULT_SCALE = 1.0  # SemCachePatchModel's default threshold_scale
ABLATION_SCALE = 0.2  # where the error threshold, not the max_skip_steps cap, decides the skips
DEFAULT_REUSE = 0.2  # EasyCache / LazyCache node default reuse_threshold
DEFAULT_TMM_REUSE = 0.2  # TMM Frame Selector's default reuse_ratio


def _tagged(knob: float, default: float) -> str:
    return "default" if knob == default else ""


def full() -> list[Method]:
    methods = [UNCACHED]
    methods += [semcache(_tagged(s, DEFAULT_SCALE), threshold_scale=s) for s in SEMCACHE_SCALES]
    methods += [easycache(t, _tagged(t, DEFAULT_REUSE)) for t in EASYCACHE_THRESHOLDS]
    methods += [lazycache(t, _tagged(t, DEFAULT_REUSE)) for t in LAZYCACHE_THRESHOLDS]
    methods += [
        semcache("mode=paper", threshold_scale=ABLATION_SCALE, threshold_mode="paper"),
        semcache("error=paper", threshold_scale=ABLATION_SCALE, error_model="paper"),
        semcache("tanh=0.25", threshold_scale=ABLATION_SCALE, tanh_scale=0.25),
        semcache("start=0.2", threshold_scale=ABLATION_SCALE, start_percent=0.2),
        semcache("stride=1", threshold_scale=ABLATION_SCALE, norm_stride=1),
        easycache(DEFAULT_REUSE, "no input copy: fp32 bug", copy_input=False),
        tmm(DEFAULT_TMM_REUSE, "default"),
        semcache_tmm(DEFAULT_SCALE, DEFAULT_TMM_REUSE, "default"),
    ]
    return methods


def quick() -> list[Method]:
    return [
        UNCACHED,
        semcache("default", threshold_scale=DEFAULT_SCALE),
        semcache("", threshold_scale=ABLATION_SCALE),
        easycache(DEFAULT_REUSE, "default"),
        lazycache(DEFAULT_REUSE, "default"),
    ]
