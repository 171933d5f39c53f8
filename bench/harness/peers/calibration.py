"""Calibration of the calibrated peers on the proxy, as their authors calibrate on real Wan.

- TeaCache: a degree-4 polynomial from the relative L1 change of its signal (`e`, or `e0` in
  ret mode) to the relative L1 change of the model output between consecutive steps, fitted by
  least squares over uncached runs of many prompts at every step of each calibration schedule
  (mode "e0" from its first non-retention step on, the steps its rule reads), both CFG streams,
  as TeaCache's authors fit theirs. Reported with its R² and the data (`teacache_points`) for a
  predicted-vs-actual plot.
- MagCache: the magnitude ratio curve (mean over tokens of ‖R_t‖₂/‖R_{t−1}‖₂ of the block-stack
  residual) per stream from one uncached run of one prompt at 50 steps, interleaved (cond,
  uncond) per step with 1.0 at step 0, the layout of the authors' Wan curves; both entries hold
  the streams' mean (see `magcache_curve`), the per-stream curves are kept in `info`.
The calibration prompts are disjoint from every benchmark prompt (a test checks). Results are
cached in a JSON file keyed by the checkpoint's hash and the settings, so a resumed run reuses them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from proxy.world import Clip

from ..prompts import BenchPrompt
from ..runner import sample
from .engine import Evaluation, Policy, RunLog, apply_peer, latest_log, rel_l1
from .teacache import RET_STEPS

VERSION = 3
CALIBRATION_PROMPTS = [
    BenchPrompt(Clip("red", "person", "strolling", "to the right", "in a coffee shop", None), 201),
    BenchPrompt(Clip("blue", "cube", "resting", None, "on the grassland", None), 202),
    BenchPrompt(Clip("orange", "car", "racing", "to the left", "in the desert", None), 203),
    BenchPrompt(Clip("yellow", "ball", "bouncing", None, "in a storm", None), 204),
    BenchPrompt(Clip("green", "bird", "floating", "upward", "by the ocean", None), 205),
    BenchPrompt(Clip("black", "horse", "standing still", None, "in the snow", None), 206),
    BenchPrompt(Clip("white", "car", "racing", "to the right", "at night", None), 207),
    BenchPrompt(Clip("purple", "cube", "spinning fast", None, "in a library", None), 208),
]
MAGCACHE_SCHEDULE = (50, "uni_pc")  # the authors calibrate Wan at its default 50 steps
TEACACHE_SCHEDULES = ((50, "uni_pc"), (30, "uni_pc"), (20, "euler"))  # small and large steps: no extrapolation
KINDS = {0: "cond", 1: "uncond"}


class RecorderPolicy(Policy):
    """Never reuses; per step and stream kind: signal changes, residual magnitude ratio, output change."""

    stage = "before"

    def __init__(self) -> None:
        self.prev: dict[tuple[str, Hashable], torch.Tensor] = {}
        self.current: dict = {}

    def _change(self, name: str, kind: Hashable, value: torch.Tensor) -> float | None:
        previous = self.prev.get((name, kind))
        self.prev[(name, kind)] = value.detach().float().clone()
        return rel_l1(value, previous) if previous is not None else None

    def decide(self, ev: Evaluation, can_reuse: list[bool], **signals: Any) -> list[bool]:
        x = signals["x"]
        e, e0 = ev.chunks(ev.time_embedding(x.dtype)), ev.chunks(signals["vec"])
        self.current = {"step": ev.step.index, "total": ev.step.total}
        for j, kind in enumerate(ev.kinds):
            name = KINDS.get(kind, str(kind))
            for signal, value in (("e", e[j]), ("e0", e0[j])):
                change = self._change(signal, kind, value)
                if change is not None:
                    self.current[f"{signal}_rel_{name}"] = change
        return [False] * len(can_reuse)

    def computed(self, ev: Evaluation, x: torch.Tensor, out: torch.Tensor) -> None:
        res = (out - x).float()
        for j, kind in enumerate(ev.kinds):
            r = ev.chunk(res, j)
            previous = self.prev.get(("res", kind))
            if previous is not None:
                ratio = float((r.norm(dim=-1) / previous.norm(dim=-1).clamp_min(1e-12)).mean())
                self.current[f"mag_ratio_{KINDS.get(kind, kind)}"] = ratio
            self.prev[("res", kind)] = r.clone()

    def observe_output(self, ev: Evaluation, output: torch.Tensor, log: RunLog) -> None:
        for j, kind in enumerate(ev.kinds):
            change = self._change("out", kind, ev.chunk(output, j))
            if change is not None:
                self.current[f"out_rel_{KINDS.get(kind, kind)}"] = change
        log.observations.append(self.current)


@dataclass
class Calibration:
    teacache_coefficients: dict[str, list[float]]  # mode -> numpy.polyfit order, highest power first
    magcache_ratios: list[float]  # interleaved (cond, uncond) per step of the calibration schedule
    key: str = ""
    info: dict = field(default_factory=dict)


def record(model: Any, prompt: BenchPrompt, setup: Any) -> list[dict]:
    """One uncached run with the recorder: its per-step observations."""
    patched = apply_peer(model, RecorderPolicy)
    sample(patched, prompt, setup)
    return latest_log(patched).observations


def fit_polynomial(x: list[float], y: list[float], degree: int = 4) -> tuple[list[float], float]:
    """Least-squares polynomial y(x) (numpy.polyfit order) and its R²."""
    import numpy as np

    coefficients = np.polyfit(np.asarray(x), np.asarray(y), degree)
    predicted = np.polyval(coefficients, np.asarray(x))
    total = float(np.sum((np.asarray(y) - np.mean(y)) ** 2)) or 1.0
    return [float(c) for c in coefficients], 1.0 - float(np.sum((np.asarray(y) - predicted) ** 2)) / total


def teacache_pairs(observations: list[dict], mode: str) -> list[tuple[float, float]]:
    """(signal change, output change) for every step the rule of `mode` reads, both streams."""
    pairs = []
    for o in observations:
        if o["step"] < RET_STEPS[mode]:
            continue
        for kind in KINDS.values():
            x, y = o.get(f"{mode}_rel_{kind}"), o.get(f"out_rel_{kind}")
            if x is not None and y is not None:
                pairs.append((x, y))
    return pairs


def magcache_curve(observations: list[dict], per_stream: bool = False) -> list[float]:
    """Interleaved (cond, uncond) ratios, 1.0 at step 0 (and where a stream is missing).

    By default both entries of a step hold the mean of the two streams' ratios. On real Wan the
    authors' published cond and uncond curves agree to ~0.001, so the ComfyUI node's batched
    rule (each stream's state, reuse if *any* stream may) keeps the streams in step. The proxy's
    streams differ by a few percent per step; with separate curves the two states fall out of
    phase, one of them always "may reuse", and the node never computes again (measured: 24 reused
    steps in a row at 0.12 / K 4). The mean keeps the shipped rule doing what it does on Wan.
    """
    curve = []
    for o in observations:
        cond = o.get("mag_ratio_cond", 1.0)
        uncond = o.get("mag_ratio_uncond", cond)
        curve += [cond, uncond] if per_stream else [(cond + uncond) / 2] * 2
    return curve


def calibrate(model: Any, setup: Any, n_prompts: int = 6) -> Calibration:
    """Run the calibration prompts uncached and fit both peers' calibrations."""
    points: dict[str, list[tuple[float, float]]] = {"e": [], "e0": []}
    ratios: list[float] = []
    info: dict = {}
    for i, prompt in enumerate(CALIBRATION_PROMPTS[:n_prompts]):
        for steps, sampler in TEACACHE_SCHEDULES:
            obs = record(model, prompt, replace(setup, steps=steps, sampler=sampler))
            for mode in points:
                points[mode] += teacache_pairs(obs, mode)
            if i == 0 and (steps, sampler) == MAGCACHE_SCHEDULE:
                ratios = magcache_curve(obs)
                info["magcache_ratios_per_stream"] = magcache_curve(obs, per_stream=True)
    if not ratios:
        ratios = magcache_curve(record(model, CALIBRATION_PROMPTS[0], replace(
            setup, steps=MAGCACHE_SCHEDULE[0], sampler=MAGCACHE_SCHEDULE[1])))
    coefficients = {}
    for mode, pts in points.items():
        coefficients[mode], r2 = fit_polynomial([p[0] for p in pts], [p[1] for p in pts])
        info[f"teacache_{mode}_r2"] = r2
        info[f"teacache_{mode}_pairs"] = len(pts)
        info[f"teacache_{mode}_points"] = [[round(a, 7), round(b, 7)] for a, b in pts]
    info.update(teacache_prompts=n_prompts, teacache_schedules=[list(s) for s in TEACACHE_SCHEDULES],
                magcache_schedule=list(MAGCACHE_SCHEDULE), magcache_prompt=CALIBRATION_PROMPTS[0].text,
                calibration_prompts=[p.text for p in CALIBRATION_PROMPTS[:n_prompts]])
    return Calibration(coefficients, ratios, info=info)


def cache_key(checkpoint: Path, setup: Any, n_prompts: int) -> str:
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    return f"v{VERSION}-{digest}-{setup.frames}x{setup.height}x{setup.width}-cfg{setup.cfg}-n{n_prompts}"


def load_or_calibrate(path: Path, checkpoint: Path, model: Any, setup: Any, n_prompts: int = 6) -> Calibration:
    """The cached calibration in `path` if it matches this checkpoint and latent, else a new one."""
    key = cache_key(checkpoint, setup, n_prompts)
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("key") == key:
            return Calibration(**data)
    calibration = calibrate(model, setup, n_prompts)
    calibration.key = key
    path.write_text(json.dumps(asdict(calibration), indent=1))
    return calibration


ACTIVE: Calibration | None = None


def use(calibration: Calibration | None) -> None:
    """The calibration that TeaCache / MagCache methods apply with (set once per benchmark run)."""
    global ACTIVE
    ACTIVE = calibration
