"""Run one (method, prompt) sample through ComfyUI's real sampler and measure it.

`comfy.sample.sample` with the patched MODEL is the KSampler path; the proxy's text encoder
gives the conditioning, the proxy codec turns the output LATENT into RGB for the metrics.
Times: wall clock and this process's CPU time (with one torch thread, CPU time is what the
sample cost even when other jobs share the machine; wall time also counts their interference).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from statistics import mean, median
from typing import Any

import torch

from proxy.comfy_nodes.proxy_codec import raw_to_rgb
from proxy.comfy_nodes.proxy_text import encode

from .metrics import fidelity, motion_energy
from .prompts import NEGATIVE, BenchPrompt
from .error_fields import error_check_fields
from .work import BlockWork


@dataclass(frozen=True)
class SamplingSetup:
    """The KSampler settings of ComfyUI's Wan 2.1 T2V workflow, on the proxy's latent size."""

    steps: int = 30
    cfg: float = 6.0
    sampler: str = "uni_pc"
    scheduler: str = "simple"
    frames: int = 9
    height: int = 8
    width: int = 8

    def latent(self) -> torch.Tensor:
        return torch.zeros(1, 16, self.frames, self.height, self.width)


@dataclass
class Sample:
    video: torch.Tensor  # (3, T, H, W) RGB in [0, 1]
    walls: list[float]  # one per repeat (the output is the same every time: same seed)
    cpus: list[float]
    work: BlockWork
    stats: Any  # SemCache RunStats or None
    reused: float | None = None  # a peer's reused steps (First Block Cache's still run block 0; half = one stream)
    decisions: str | None = None  # a peer's per-step decisions ("." reused, "C" computed, "h" one stream reused)

    @property
    def wall(self) -> float:
        return median(self.walls)

    @property
    def cpu(self) -> float:
        return median(self.cpus)

    def add_timing(self, other: Sample) -> None:
        """Another repeat of the same sample: only its times are kept."""
        self.walls += other.walls
        self.cpus += other.cpus


def sample(model: Any, prompt: BenchPrompt, setup: SamplingSetup, encoder: Any = None) -> Sample:
    """`encoder`: the proxy's prompt encoder (default: proxy_text.encode; `env.text_encoder(path)` for v6)."""
    import comfy.sample

    encoder = encoder or encode
    lat = setup.latent()
    noise = comfy.sample.prepare_noise(lat, prompt.seed)
    positive = [[encoder(prompt.text), {}]]
    negative = [[encoder(NEGATIVE), {}]]
    with torch.inference_mode(), BlockWork(model) as work:  # ComfyUI executes nodes in inference mode
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = comfy.sample.sample(
            model, noise, setup.steps, setup.cfg, setup.sampler, setup.scheduler, positive, negative, lat,
            seed=prompt.seed, disable_pbar=True, callback=work.callback,
        )
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        video = raw_to_rgb(out)[0]
    return Sample(video, [wall], [cpu], work, None)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return mean(kept) if kept else None


def row(method: Any, prompt: BenchPrompt, result: Sample, ref: Sample, setup: SamplingSetup) -> dict[str, Any]:
    """One CSV row: the method, the prompt, speed (vs the same prompt uncached; times are medians
    over the repeats) and fidelity."""
    out: dict[str, Any] = {
        "method": method.label,
        "family": method.family,
        "tag": method.tag,
        "knob": method.knob,
        "settings": json.dumps(method.settings, sort_keys=True),
        "prompt": prompt.text,
        "motion_class": prompt.motion_class,
        "seed": prompt.seed,
        "held_out": int(prompt.held_out),
        "sampler": setup.sampler,
        "scheduler": setup.scheduler,
        "repeats": len(result.walls),
        "steps": len(result.work.per_step),
        "skipped_steps": result.reused if result.reused is not None else result.work.skipped_steps,
        "pattern": result.work.step_pattern(),
        "decisions": getattr(result, "decisions", None) or "",
        "n_blocks": getattr(result.work, "n_blocks", ""),
        "block_work": result.work.total,
        "ref_block_work": ref.work.total,
        "ref_wall_s": ref.wall,
        "ref_cpu_s": ref.cpu,
        "work_speedup": ref.work.total / max(result.work.total, 1),
        "wall_s": result.wall,
        "cpu_s": result.cpu,
        "wall_speedup": ref.wall / result.wall,
        "cpu_speedup": ref.cpu / result.cpu,
        "ref_motion_energy": motion_energy(ref.video),
        **fidelity(result.video, ref.video),
    }
    stats = result.stats
    if stats is not None:
        scored = [r for r in stats.records if r.p_s is not None]
        out.update(
            semcache_estimated_speedup=stats.estimated_speedup,
            p_s_mean=_mean([r.p_s for r in scored]),
            m_norm_mean=_mean([r.m_norm for r in scored]),
            d_norm_mean=_mean([r.d_norm for r in scored]),
            tau_mean=_mean([r.threshold for r in stats.records]),
            **error_check_fields(stats),
        )
    return out
