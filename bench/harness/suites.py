"""Which configurations a benchmark run measures.

FULL (30 steps uni_pc, ComfyUI's Wan 2.1 T2V template settings): threshold sweeps of SemCache,
EasyCache and LazyCache (each including its node default); SemCache ablations (one setting
changed at its default threshold_scale, where the error threshold rather than the skip cap
decides) for the open design choices of DESIGN §4 (threshold direction, error model, tanh scale,
start, skip cap, norm subsampling); EasyCache at its default without the input copy of
fairness.py (documents its fp32 in-place bug); the TMM Frame Selector alone and chained with
SemCache at several reuse ratios and both motion sources.
SCHEDULES: every method at its node default on 20, 30 and 50 steps with euler and uni_pc.
QUICK: each method at its node default plus one more SemCache point, on two prompts.
"""

from __future__ import annotations

from .methods import UNCACHED, Method, easycache, lazycache, semcache, semcache_tmm, tmm

SEMCACHE_SCALES = (0.05, 0.1, 0.2, 0.25, 0.35, 0.6, 1.0)
EASYCACHE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)
LAZYCACHE_THRESHOLDS = (0.1, 0.2, 0.4)
TMM_RATIOS = (0.1, 0.2, 0.3, 0.5)
TMM_WITH_PSA_RATIOS = (0.1, 0.2, 0.3)
DEFAULT_SCALE = 0.2  # SemCachePatchModel's default threshold_scale
DEFAULT_REUSE = 0.2  # EasyCache / LazyCache node default reuse_threshold
DEFAULT_TMM_REUSE = 0.2  # TMM Frame Selector's default reuse_ratio
MAIN_SCHEDULE = (30, "uni_pc")
SCHEDULES = ((20, "euler"), (20, "uni_pc"), (30, "euler"), (30, "uni_pc"), (50, "euler"), (50, "uni_pc"))


def _tagged(knob: float, default: float) -> str:
    return "default" if knob == default else ""


def defaults() -> list[Method]:
    """Every method at its node default (what a user gets without touching a widget)."""
    return [
        semcache("default", threshold_scale=DEFAULT_SCALE),
        easycache(DEFAULT_REUSE, "default"),
        lazycache(DEFAULT_REUSE, "default"),
        tmm(DEFAULT_TMM_REUSE, "default"),
        semcache_tmm(DEFAULT_SCALE, DEFAULT_TMM_REUSE, "default"),
    ]


def full() -> list[Method]:
    methods = [UNCACHED]
    methods += [semcache(_tagged(s, DEFAULT_SCALE), threshold_scale=s) for s in SEMCACHE_SCALES]
    methods += [easycache(t, _tagged(t, DEFAULT_REUSE)) for t in EASYCACHE_THRESHOLDS]
    methods += [lazycache(t, _tagged(t, DEFAULT_REUSE)) for t in LAZYCACHE_THRESHOLDS]
    base = DEFAULT_SCALE
    methods += [
        semcache("mode=paper", threshold_scale=base, threshold_mode="paper"),
        semcache("error=paper", threshold_scale=base, error_model="paper"),
        semcache("tanh=0.25", threshold_scale=base, tanh_scale=0.25),
        semcache("tanh=4", threshold_scale=base, tanh_scale=4.0),
        semcache("start=0.2", threshold_scale=base, start_percent=0.2),
        semcache("start=0.05", threshold_scale=base, start_percent=0.05),
        semcache("max_skip=2", threshold_scale=base, max_skip_steps=2),
        semcache("max_skip=8", threshold_scale=base, max_skip_steps=8),
        semcache("stride=1", threshold_scale=base, norm_stride=1),
        easycache(DEFAULT_REUSE, "no input copy: fp32 bug", copy_input=False),
    ]
    methods += [tmm(r, _tagged(r, DEFAULT_TMM_REUSE)) for r in TMM_RATIOS]
    methods += [tmm(r, "predicted_clean", motion_source="predicted_clean") for r in (0.2, 0.5)]
    methods += [semcache_tmm(base, r, _tagged(r, DEFAULT_TMM_REUSE)) for r in TMM_WITH_PSA_RATIOS]
    methods += [semcache_tmm(base, DEFAULT_TMM_REUSE, "predicted_clean", motion_source="predicted_clean")]
    return methods


def schedules() -> list[Method]:
    return [UNCACHED] + defaults()


def quick() -> list[Method]:
    return [
        UNCACHED,
        semcache("default", threshold_scale=DEFAULT_SCALE),
        semcache("", threshold_scale=0.35),
        easycache(DEFAULT_REUSE, "default"),
        lazycache(DEFAULT_REUSE, "default"),
    ]
