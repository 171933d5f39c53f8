"""One place that brings up ComfyUI for the benchmark, so every script measures the same setup.

CPU, a fixed torch thread count (1 by default: on a shared 2-core box more threads thrash), and
PyTorch SDPA attention (`--use-pytorch-cross-attention`, ComfyUI's default on GPUs; on CPU its
default is the much slower sub-quadratic kernel, which would inflate every step equally).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
PROXY_CHECKPOINT = BENCH / "proxy" / "semcache_proxy_wan.safetensors"
# Proxy v5 in training (bench/proxy/v5/README.md): not yet the benchmark's model, see fidelity.md.
PROXY_V5_CHECKPOINT = BENCH / "proxy" / "v5" / "semcache_proxy_wan.safetensors"
LATENT_SHAPE_KEY = "semcache.latent_shape"  # safetensors metadata: "16,F,H,W" (channels, frames, height, width)
DEFAULT_LATENT = (9, 8, 8)  # frames, height, width of proxies saved before the key existed


def latent_shape(path: Path = PROXY_CHECKPOINT) -> tuple[int, int, int]:
    """(frames, height, width) the proxy was trained on: from its metadata, else the old 9x8x8."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        text = (f.metadata() or {}).get(LATENT_SHAPE_KEY)
    if not text:
        return DEFAULT_LATENT
    dims = [int(v) for v in text.replace("x", ",").split(",")]
    if len(dims) != 4 or dims[0] != 16 or min(dims) < 1:
        raise ValueError(f"{path.name}: metadata {LATENT_SHAPE_KEY}={text!r} is not '16,F,H,W'")
    return dims[1], dims[2], dims[3]


TEXT_ENCODER_KEY = "semcache.text_encoder"  # safetensors metadata: "v6" = proxy.v6.text; absent = proxy_text (v4, v5)


def text_encoder(path: Path = PROXY_CHECKPOINT) -> Any:
    """The prompt encoder `encode(prompt) -> (1, 512, 4096)` the proxy was trained with."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        name = (f.metadata() or {}).get(TEXT_ENCODER_KEY)
    if name == "v6":
        from proxy.v6.text import encode
    elif name is None:
        from proxy.comfy_nodes.proxy_text import encode
    else:
        raise ValueError(f"{path.name}: unknown {TEXT_ENCODER_KEY}={name!r}")
    return encode


def setup(threads: int = 1, pytorch_attention: bool = True, cpu: bool = True) -> Any:
    """Bootstrap ComfyUI (CPU unless `cpu=False`) and import the pack; returns the pack module."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    from comfy_env import bootstrap, load_pack

    bootstrap(cpu=cpu)
    import comfy.cli_args

    if "comfy.ldm.modules.attention" not in sys.modules:  # the kernel is chosen at import time
        comfy.cli_args.args.use_pytorch_cross_attention = pytorch_attention
    if threads > 0:
        torch.set_num_threads(threads)
    return load_pack()


def load_model(path: Path = PROXY_CHECKPOINT) -> Any:
    """The checkpoint through the UNETLoader path (`comfy.sd.load_diffusion_model`)."""
    import comfy.model_management
    import comfy.sd

    patcher = comfy.sd.load_diffusion_model(str(path))
    comfy.model_management.load_models_gpu([patcher])
    return patcher
