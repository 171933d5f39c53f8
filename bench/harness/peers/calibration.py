"""Calibration of the calibrated peers on the proxy, as their authors calibrate on a real model.

TeaCache fits a degree-4 polynomial from the relative L1 change of its indicator (block 0's
modulated input) to the relative L1 change of the model output between consecutive steps,
over uncached runs of several calibration prompts. MagCache records its magnitude ratio curve
(mean over tokens of ‖R_t‖₂/‖R_{t−1}‖₂ of the block-stack residual) from one uncached run of
one prompt. The calibration prompts are disjoint from every benchmark prompt (a test checks).
Results are cached in a JSON file keyed by the checkpoint's hash and the latent shape, so a
resumed benchmark run reuses them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from proxy.world import Clip

from ..prompts import BenchPrompt
from .engine import Policy, RunLog, Step, apply_peer, latest_log, rel_l1
from .teacache import modulated_input

VERSION = 1
CALIBRATION_PROMPTS = [
    BenchPrompt(Clip("red", "person", "strolling", "to the right", "in a coffee shop", None), 201),
    BenchPrompt(Clip("blue", "cube", "resting", None, "on the grassland", None), 202),
    BenchPrompt(Clip("orange", "car", "racing", "to the left", "in the desert", None), 203),
    BenchPrompt(Clip("yellow", "ball", "bouncing", None, "in a storm", None), 204),
]
MAGCACHE_SCHEDULE = (50, "uni_pc")  # the authors calibrate Wan at its default 50 steps
TEACACHE_SCHEDULES = ((50, "uni_pc"), (20, "euler"))  # small and large step sizes: no extrapolation


class RecorderPolicy(Policy):
    """Never reuses; records each step's indicator change, residual magnitude ratio, output change."""

    stage = "before"

    def __init__(self) -> None:
        self.prev_mod: torch.Tensor | None = None
        self.prev_res: torch.Tensor | None = None
        self.prev_out: torch.Tensor | None = None
        self.current: dict = {}

    def decide_before(self, step: Step, can_reuse: bool, x: torch.Tensor, args: dict, model: Any) -> bool:
        mod = modulated_input(model.blocks[0], x, args["vec"]).float()
        self.current = {"step": step.index, "total": step.total}
        if self.prev_mod is not None:
            self.current["mod_rel"] = rel_l1(mod, self.prev_mod)
        self.prev_mod = mod
        return False

    def computed(self, step: Step, x: torch.Tensor, out: torch.Tensor) -> None:
        res = (out - x).float()
        if self.prev_res is not None:
            self.current["mag_ratio"] = float((res.norm(dim=-1) / self.prev_res.norm(dim=-1).clamp_min(1e-12)).mean())
        self.prev_res = res

    def observe_output(self, step: Step, output: torch.Tensor, log: RunLog) -> None:
        out = output.float()
        if self.prev_out is not None:
            self.current["out_rel"] = rel_l1(out, self.prev_out)
        self.prev_out = out
        log.observations.append(self.current)


@dataclass
class Calibration:
    teacache_coefficients: list[float]  # numpy.polyfit order, highest power first
    magcache_ratios: list[float]  # one per step of the calibration schedule (first = 1)
    key: str = ""
    info: dict = field(default_factory=dict)


def record(model: Any, prompt: BenchPrompt, setup: Any) -> list[dict]:
    """One uncached run with the recorder: its per-step observations."""
    from ..runner import sample

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


def calibrate(model: Any, setup: Any, n_prompts: int = 3) -> Calibration:
    """Run the calibration prompts uncached and fit both peers' calibrations."""
    xs, ys = [], []
    ratios: list[float] = []
    for i, prompt in enumerate(CALIBRATION_PROMPTS[:n_prompts]):
        for steps, sampler in TEACACHE_SCHEDULES:
            obs = record(model, prompt, replace(setup, steps=steps, sampler=sampler))
            pairs = [(o["mod_rel"], o["out_rel"]) for o in obs if "mod_rel" in o and "out_rel" in o]
            xs += [p[0] for p in pairs]
            ys += [p[1] for p in pairs]
            if i == 0 and (steps, sampler) == MAGCACHE_SCHEDULE:
                ratios = [1.0] + [o.get("mag_ratio", 1.0) for o in obs[1:]]
    if not ratios:
        obs = record(model, CALIBRATION_PROMPTS[0], replace(setup, steps=MAGCACHE_SCHEDULE[0],
                                                            sampler=MAGCACHE_SCHEDULE[1]))
        ratios = [1.0] + [o.get("mag_ratio", 1.0) for o in obs[1:]]
    coefficients, r2 = fit_polynomial(xs, ys)
    info = {"teacache_pairs": len(xs), "teacache_r2": r2, "teacache_prompts": n_prompts,
            "teacache_schedules": [list(s) for s in TEACACHE_SCHEDULES], "magcache_schedule": list(MAGCACHE_SCHEDULE),
            "magcache_prompt": CALIBRATION_PROMPTS[0].text,
            "teacache_x_range": [min(xs), max(xs)] if xs else None}
    return Calibration(coefficients, ratios, info=info)


def cache_key(checkpoint: Path, setup: Any, n_prompts: int) -> str:
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    return f"v{VERSION}-{digest}-{setup.frames}x{setup.height}x{setup.width}-cfg{setup.cfg}-n{n_prompts}"


def load_or_calibrate(path: Path, checkpoint: Path, model: Any, setup: Any, n_prompts: int = 3) -> Calibration:
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
