"""A resume state small enough to commit, so the next session's stage can continue.

The exact state (`train_state.safetensors`: fp32 weights, EMA, AdamW moments, ~62 MB) cannot go
into git (issue 21: at most 16 MB of binaries per stage), and a new session starts on a fresh
machine. The compact state keeps what cannot be rebuilt: the training weights in fp16, the step,
the RNG states and the loss tail; the EMA is the committed fp16 checkpoint itself. AdamW's moments
are not kept: a compact resume starts them afresh and re-warms the learning rate over a few steps
(train.py logs that it did).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

COMPACT = "resume_state.safetensors"


def save_compact(path: Path, model: torch.nn.Module, step: int, losses: list[float], rng: random.Random,
                 gen: torch.Generator, seconds: float) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    tensors["gen_state"] = gen.get_state()
    meta = {"step": str(step), "losses": json.dumps(losses[-50:]), "rng": json.dumps(rng.getstate()),
            "seconds": f"{seconds:.1f}"}
    partial = path.with_suffix(".partial")
    save_file(tensors, str(partial), metadata=meta)
    partial.replace(path)


def load_compact(path: Path, checkpoint: Path, model: torch.nn.Module, ema: torch.nn.Module, rng: random.Random,
                 gen: torch.Generator) -> tuple[int, list[float], float]:
    """Weights from `path`, EMA from the committed `checkpoint`; returns (step, losses, seconds)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        model.load_state_dict({k[6:]: f.get_tensor(k).float() for k in f.keys() if k.startswith("model.")})
        gen.set_state(f.get_tensor("gen_state"))
    with safe_open(str(checkpoint), framework="pt") as f:
        ema.load_state_dict({k: f.get_tensor(k).float() for k in f.keys()})
    version, internal, gauss = json.loads(meta["rng"])
    rng.setstate((version, tuple(internal), gauss))
    return int(meta["step"]), json.loads(meta["losses"]), float(meta["seconds"])
