"""Builds the example workflows in workflows/ (ComfyUI's UI format) from the short specs below.

    .venv/bin/python tests/browser/build_workflows.py            # rewrite workflows/*.json
    .venv/bin/python tests/browser/build_workflows.py --check    # exit 1 if a file would change

Widget order and every value a spec does not set (SemCache's and TMM's defaults included) come
from the `/object_info` of a headless ComfyUI started for the purpose, with the pack and the
proxy model's nodes installed, so a retuned default lands in the workflows on the next build.
The results are checked by tests/test_workflows.py (structure) and tests/test_browser_ui.py
(loaded into the real frontend, converted to a prompt by it, validated by the server).

Model files are named as in ComfyUI's official example workflows, with the same download links
(node `properties.models`, which the frontend's missing-models dialog offers).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
WORKFLOWS = REPO / "workflows"

WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}

_WAN21 = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
_WAN22 = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files"
_HV10 = "https://huggingface.co/Comfy-Org/HunyuanVideo_repackaged/resolve/main/split_files"
_HV15 = "https://huggingface.co/Comfy-Org/HunyuanVideo_1.5_repackaged/resolve/main/split_files"
MODEL_URLS = {  # file name -> (folder under models/, download link), as in the official templates
    "wan2.1_t2v_1.3B_fp16.safetensors": (
        "diffusion_models",
        f"{_WAN21}/diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors",
    ),
    "umt5_xxl_fp8_e4m3fn_scaled.safetensors": (
        "text_encoders",
        f"{_WAN21}/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    ),
    "wan_2.1_vae.safetensors": ("vae", f"{_WAN21}/vae/wan_2.1_vae.safetensors"),
    "wan2.1_vace_1.3B_fp16.safetensors": (
        "diffusion_models",
        f"{_WAN21}/diffusion_models/wan2.1_vace_1.3B_fp16.safetensors",
    ),
    "wan2.2_vae.safetensors": ("vae", f"{_WAN22}/vae/wan2.2_vae.safetensors"),
    "wan2.2_ti2v_5B_fp16.safetensors": (
        "diffusion_models",
        f"{_WAN22}/diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
    ),
    "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors": (
        "diffusion_models",
        f"{_WAN22}/diffusion_models/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
    ),
    "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors": (
        "diffusion_models",
        f"{_WAN22}/diffusion_models/wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
    ),
    "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors": (
        "diffusion_models",
        f"{_WAN22}/diffusion_models/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
    ),
    "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors": (
        "diffusion_models",
        f"{_WAN22}/diffusion_models/wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
    ),
    "hunyuan_video_t2v_720p_bf16.safetensors": (
        "diffusion_models",
        f"{_HV10}/diffusion_models/hunyuan_video_t2v_720p_bf16.safetensors",
    ),
    "clip_l.safetensors": (
        "text_encoders",
        "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/clip_l.safetensors",
    ),
    "llava_llama3_fp8_scaled.safetensors": (
        "text_encoders",
        f"{_HV10}/text_encoders/llava_llama3_fp8_scaled.safetensors",
    ),
    "hunyuan_video_vae_bf16.safetensors": ("vae", f"{_HV10}/vae/hunyuan_video_vae_bf16.safetensors"),
    "qwen_2.5_vl_7b_fp8_scaled.safetensors": (
        "text_encoders",
        f"{_HV15}/text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors",
    ),
    "byt5_small_glyphxl_fp16.safetensors": (
        "text_encoders",
        f"{_HV15}/text_encoders/byt5_small_glyphxl_fp16.safetensors",
    ),
    "hunyuanvideo1.5_720p_t2v_fp16.safetensors": (
        "diffusion_models",
        f"{_HV15}/diffusion_models/hunyuanvideo1.5_720p_t2v_fp16.safetensors",
    ),
    "hunyuanvideo15_vae_fp16.safetensors": ("vae", f"{_HV15}/vae/hunyuanvideo15_vae_fp16.safetensors"),
}
# inputs whose values are file names on the user's machine (not in the test server's lists)
FILE_INPUTS = {"unet_name", "clip_name", "clip_name1", "clip_name2", "vae_name", "ckpt_name", "image"}

NEGATIVE_WAN = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)  # Wan's recommended negative prompt (from its official workflows)


@dataclass
class N:
    """One node: id, type, position; `values` sets widgets by input name (others: defaults)."""

    id: int
    type: str
    pos: tuple[float, float]
    values: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    mode: int = 0  # 4 = bypassed
    size: tuple[float, float] | None = None
    color: str | None = None
    bgcolor: str | None = None
    text: str | None = None  # MarkdownNote / Note


@dataclass
class W:
    name: str
    description: str
    nodes: list[N]
    links: list[tuple[int, int, int, str]]  # (origin id, origin slot, target id, target input name)
    groups: list[tuple[str, list[int]]] = field(default_factory=list)  # (title, ids of the nodes it frames)
    view: tuple[float, float, float] = (0.75, 40.0, 40.0)  # scale, offset x, offset y


TITLE_HEIGHT, GROUP_TITLE_HEIGHT = 30, 34  # LiteGraph: a node's title sits above its pos
SEMCACHE_COLOR = ("#223", "#335")  # title and body color of the SemCache nodes in every workflow


def semcache(node_id: int, pos, title: str | None = None, **values) -> N:
    return N(
        node_id, "SemCachePatchModel", pos, values, title=title, color=SEMCACHE_COLOR[0], bgcolor=SEMCACHE_COLOR[1]
    )


def tmm(node_id: int, pos, **values) -> N:
    return N(node_id, "TMMFrameSelector", pos, values, color=SEMCACHE_COLOR[0], bgcolor=SEMCACHE_COLOR[1])


def stats(node_id: int, pos, title: str | None = None) -> N:
    return N(
        node_id, "SemCacheStats", pos, title=title, size=(560, 440), color=SEMCACHE_COLOR[0], bgcolor=SEMCACHE_COLOR[1]
    )


def note(node_id: int, pos, text: str, size=(400, 300)) -> N:
    return N(node_id, "MarkdownNote", pos, text=text, size=size, color="#432", bgcolor="#653")


def _wan_t2v(name: str, with_tmm: bool, target: float = 0.0) -> W:
    nodes = [
        N(1, "UNETLoader", (0, 0), {"unet_name": "wan2.1_t2v_1.3B_fp16.safetensors"}),
        N(2, "ModelSamplingSD3", (0, 140), {"shift": 8}),
        N(5, "CLIPLoader", (0, 250), {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"}),
        N(10, "VAELoader", (0, 410), {"vae_name": "wan_2.1_vae.safetensors"}),
        N(
            6,
            "CLIPTextEncode",
            (380, 0),
            {
                "text": (
                    "A red fox trotting through fresh snow in a pine forest at sunrise, soft light, the camera slowly "
                    "tracks alongside."
                )
            },
            title="CLIP Text Encode (Positive Prompt)",
            color="#232",
            bgcolor="#353",
        ),
        N(
            7,
            "CLIPTextEncode",
            (380, 230),
            {"text": NEGATIVE_WAN},
            title="CLIP Text Encode (Negative Prompt)",
            color="#322",
            bgcolor="#533",
        ),
        N(8, "EmptyHunyuanLatentVideo", (380, 450), {"width": 832, "height": 480, "length": 81, "batch_size": 1}),
        semcache(3, (820, 0), **({"target_speedup": target} if target else {})),
        N(
            4,
            "KSampler",
            (1200, 0),
            {"seed": 42, "steps": 30, "cfg": 6, "sampler_name": "uni_pc", "scheduler": "simple"},
        ),
        stats(9, (1560, 0)),
        N(11, "VAEDecode", (2160, 0)),
        N(12, "SaveAnimatedWEBP", (2160, 110), {"filename_prefix": name, "fps": 16}, size=(320, 330)),
    ]
    model_out = 3
    links = [(1, 0, 2, "model"), (2, 0, 3, "model")]
    if with_tmm:
        nodes.append(tmm(15, (820, 420)))
        links.append((3, 0, 15, "model"))
        model_out = 15
    links += [
        (model_out, 0, 4, "model"), (model_out, 0, 9, "model"),
        (5, 0, 6, "clip"), (5, 0, 7, "clip"),
        (6, 0, 4, "positive"), (7, 0, 4, "negative"), (8, 0, 4, "latent_image"),
        (4, 0, 9, "latent"), (9, 0, 11, "samples"), (10, 0, 11, "vae"), (11, 0, 12, "images"),
    ]  # fmt: skip
    tmm_text = (
        (
            "\n\n**TMM Frame Selector** (after SemCache Patch Model): on computed steps, the calmest latent "
            "frames reuse their last result (`reuse_ratio`); Cache Stats shows these steps as *partial*."
        )
        if with_tmm
        else ""
    )
    target_text = (
        (
            f"\n\n**Target mode:** `target_speedup` {target:g} asks for {target:g}x less transformer work; the "
            "threshold is set during the run (`threshold_scale` is not used) and reuse still goes to the steps "
            "with the lowest estimated error. Prefer it on a new model, step count or sampler, to compare "
            "settings at equal speed, or to fit a time budget; prefer `threshold_scale` (target 0) once you know "
            "the value that looks right. Cache Stats shows the target against what was achieved."
        )
        if target
        else ""
    )
    nodes.append(
        note(
            14,
            (820, 640 if with_tmm else 420),
            (
                "## SemCache: Wan 2.1 T2V 1.3B\n\n"
                "Model files (ComfyUI `models/` folders):\n"
                "- `diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors`\n"
                "- `text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors`\n"
                "- `vae/wan_2.1_vae.safetensors`\n\n"
                "**SemCache Patch Model** reuses the transformer's work on steps where it would barely change. "
                "`threshold_scale` 0 = output identical to no cache; higher = faster. "
                "**Cache Stats** passes the latent through and shows which steps were computed or skipped." + tmm_text
                + target_text
            ),
            size=(340, 360 if with_tmm else (420 if target else 300)),
        )
    )
    return W(
        name,
        "Wan 2.1 text-to-video 1.3B with SemCache" + (" and TMM" if with_tmm else "")
        + (f", target speedup {target:g}x" if target else ""),
        nodes,
        links,
        groups=[("SemCache", [3, 15] if with_tmm else [3])],
    )


def compare(node_id: int, pos, **values) -> N:
    return N(node_id, "SemCacheCompare", pos, values, size=(380, 330), color=SEMCACHE_COLOR[0], bgcolor=SEMCACHE_COLOR[1])


def _wan_t2v_compare() -> W:
    """Same seed with and without SemCache, both decoded, compared by Compare Videos."""
    name = "semcache_wan_t2v_compare"
    base = _wan_t2v(name, with_tmm=False)
    nodes = [n for n in base.nodes if n.type != "MarkdownNote"]
    for n in nodes:
        if n.id == 4:
            n.title = "KSampler (SemCache)"
        if n.id == 12:
            n.values = {"filename_prefix": f"{name}_semcache", "fps": 16}
            n.pos = (2520, 0)
        if n.id == 11:
            n.title = "VAE Decode (SemCache)"
    sampler = next(n for n in nodes if n.id == 4)
    nodes += [
        N(13, "KSampler", (1200, 520), dict(sampler.values), title="KSampler (uncached reference, same seed)"),
        N(14, "VAEDecode", (2160, 520), title="VAE Decode (uncached)"),
        N(17, "SaveAnimatedWEBP", (2520, 420), {"filename_prefix": f"{name}_uncached", "fps": 16}, size=(320, 330)),
        compare(15, (2160, 660)),
        N(16, "PreviewImage", (2160, 1040), title="Difference (amplified)", size=(380, 330)),
        note(
            18,
            (820, 420),
            (
                "## SemCache: same-seed A/B\n\n"
                "The same prompt and seed run twice: once through **SemCache Patch Model** (top) and once on the "
                "plain model (bottom, the reference). **Compare Videos** reports PSNR, SSIM, motion ratio and motion "
                "error of the SemCache video against the reference, per-frame PSNR, and an amplified difference "
                "video. The timings of the two KSamplers are in the console.\n\n"
                "Model files:\n"
                "- `diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors`\n"
                "- `text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors`\n"
                "- `vae/wan_2.1_vae.safetensors`"
            ),
            size=(340, 330),
        ),
    ]
    links = list(base.links) + [
        (2, 0, 13, "model"), (6, 0, 13, "positive"), (7, 0, 13, "negative"), (8, 0, 13, "latent_image"),
        (13, 0, 14, "samples"), (10, 0, 14, "vae"), (14, 0, 17, "images"),
        (14, 0, 15, "reference"), (11, 0, 15, "candidate"), (15, 1, 16, "images"),
    ]  # fmt: skip
    return W(
        name,
        "Wan 2.1 text-to-video 1.3B, the same seed with and without SemCache, compared (PSNR, SSIM, motion)",
        nodes,
        links,
        groups=[("SemCache", [3])],
    )


def _wan22_5b() -> W:
    name = "semcache_wan22_ti2v_5b"
    nodes = [
        N(1, "UNETLoader", (0, 0), {"unet_name": "wan2.2_ti2v_5B_fp16.safetensors"}),
        N(2, "ModelSamplingSD3", (0, 140), {"shift": 8}),
        N(5, "CLIPLoader", (0, 250), {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"}),
        N(10, "VAELoader", (0, 410), {"vae_name": "wan2.2_vae.safetensors"}),
        N(
            15,
            "LoadImage",
            (0, 530),
            {"image": "example.png"},
            title="Start image (Ctrl+B to enable: image-to-video)",
            mode=4,
            size=(340, 330),
        ),
        N(
            6,
            "CLIPTextEncode",
            (380, 0),
            {
                "text": (
                    "Low contrast. In a retro 1970s-style subway station, a street musician plays guitar in dim colors "
                    "and rough textures. Commuters hurry by, and a small crowd gathers to listen. The camera slowly "
                    "moves right."
                )
            },
            title="CLIP Text Encode (Positive Prompt)",
            color="#232",
            bgcolor="#353",
        ),
        N(
            7,
            "CLIPTextEncode",
            (380, 230),
            {"text": NEGATIVE_WAN},
            title="CLIP Text Encode (Negative Prompt)",
            color="#322",
            bgcolor="#533",
        ),
        N(8, "Wan22ImageToVideoLatent", (380, 450), {"width": 1280, "height": 704, "length": 121, "batch_size": 1}),
        semcache(3, (820, 0)),
        N(
            4,
            "KSampler",
            (1200, 0),
            {"seed": 42, "steps": 20, "cfg": 5, "sampler_name": "uni_pc", "scheduler": "simple"},
        ),
        stats(9, (1560, 0)),
        N(11, "VAEDecode", (2160, 0)),
        N(12, "CreateVideo", (2160, 110), {"fps": 24}),
        N(13, "SaveVideo", (2160, 240), {"filename_prefix": f"video/{name}"}),
        note(
            14,
            (820, 420),
            (
                "## SemCache: Wan 2.2 TI2V 5B\n\n"
                "Model files:\n"
                "- `diffusion_models/wan2.2_ti2v_5B_fp16.safetensors`\n"
                "- `text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors`\n"
                "- `vae/wan2.2_vae.safetensors`\n\n"
                "Text-to-video as loaded. For image-to-video, enable the *Start image* node (select it, Ctrl+B) and "
                "pick an image.\n\nSemCache works on the 5B model's per-frame timesteps as on Wan 2.1."
            ),
            size=(340, 320),
        ),
    ]
    links = [
        (1, 0, 2, "model"), (2, 0, 3, "model"), (3, 0, 4, "model"), (3, 0, 9, "model"),
        (5, 0, 6, "clip"), (5, 0, 7, "clip"), (10, 0, 8, "vae"), (15, 0, 8, "start_image"),
        (6, 0, 4, "positive"), (7, 0, 4, "negative"), (8, 0, 4, "latent_image"),
        (4, 0, 9, "latent"), (9, 0, 11, "samples"), (10, 0, 11, "vae"), (11, 0, 12, "images"), (12, 0, 13, "video"),
    ]  # fmt: skip
    return W(name, "Wan 2.2 TI2V 5B (text or image to video) with SemCache", nodes, links, groups=[("SemCache", [3])])


def _wan22_14b(i2v: bool) -> W:
    kind = "i2v" if i2v else "t2v"
    name = f"semcache_wan22_14b_{kind}"
    prompt = (
        (
            "The white dragon warrior stands still, eyes full of determination and strength. The camera slowly "
            "moves closer or circles around the warrior, highlighting the powerful presence and heroic spirit."
        )
        if i2v
        else (
            "A paper boat drifts down a rain-filled street gutter at dusk, neon signs reflecting in the ripples, "
            "the camera follows at water level."
        )
    )
    nodes = [
        N(
            1,
            "UNETLoader",
            (0, 0),
            {"unet_name": f"wan2.2_{kind}_high_noise_14B_fp8_scaled.safetensors"},
            title="Load Diffusion Model (high noise)",
        ),
        N(
            2,
            "UNETLoader",
            (0, 140),
            {"unet_name": f"wan2.2_{kind}_low_noise_14B_fp8_scaled.safetensors"},
            title="Load Diffusion Model (low noise)",
        ),
        N(3, "CLIPLoader", (0, 280), {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"}),
        N(4, "VAELoader", (0, 440), {"vae_name": "wan_2.1_vae.safetensors"}),
        N(
            5,
            "CLIPTextEncode",
            (380, 0),
            {"text": prompt},
            title="CLIP Text Encode (Positive Prompt)",
            color="#232",
            bgcolor="#353",
        ),
        N(
            6,
            "CLIPTextEncode",
            (380, 230),
            {"text": NEGATIVE_WAN},
            title="CLIP Text Encode (Negative Prompt)",
            color="#322",
            bgcolor="#533",
        ),
        N(7, "ModelSamplingSD3", (820, 0), {"shift": 8}, title="ModelSamplingSD3 (high noise)"),
        N(8, "ModelSamplingSD3", (820, 600), {"shift": 8}, title="ModelSamplingSD3 (low noise)"),
        semcache(9, (820, 110), title="SemCache Patch Model (high noise)"),
        semcache(10, (820, 710), title="SemCache Patch Model (low noise)"),
        N(
            11,
            "KSamplerAdvanced",
            (1200, 0),
            {
                "add_noise": "enable",
                "noise_seed": 42,
                "steps": 20,
                "cfg": 3.5,
                "sampler_name": "euler",
                "scheduler": "simple",
                "start_at_step": 0,
                "end_at_step": 10,
                "return_with_leftover_noise": "enable",
            },
            title="KSampler (high noise: steps 0-10)",
        ),
        stats(12, (1560, 0), title="Cache Stats (high noise)"),
        N(
            13,
            "KSamplerAdvanced",
            (1200, 600),
            {
                "add_noise": "disable",
                "noise_seed": 0,
                "steps": 20,
                "cfg": 3.5,
                "sampler_name": "euler",
                "scheduler": "simple",
                "start_at_step": 10,
                "end_at_step": 10000,
                "return_with_leftover_noise": "disable",
            },
            title="KSampler (low noise: steps 10-20)",
        ),
        stats(14, (1560, 600), title="Cache Stats (low noise)"),
        N(15, "VAEDecode", (2160, 600)),
        N(16, "CreateVideo", (2160, 710), {"fps": 16}),
        N(17, "SaveVideo", (2160, 840), {"filename_prefix": f"video/{name}"}),
    ]
    links = [
        (1, 0, 7, "model"), (2, 0, 8, "model"), (7, 0, 9, "model"), (8, 0, 10, "model"),
        (3, 0, 5, "clip"), (3, 0, 6, "clip"),
        (9, 0, 11, "model"), (9, 0, 12, "model"), (11, 0, 12, "latent"),
        (10, 0, 13, "model"), (12, 0, 13, "latent_image"), (10, 0, 14, "model"), (13, 0, 14, "latent"),
        (14, 0, 15, "samples"), (4, 0, 15, "vae"), (15, 0, 16, "images"), (16, 0, 17, "video"),
    ]  # fmt: skip
    needs = [
        f"`diffusion_models/wan2.2_{kind}_high_noise_14B_fp8_scaled.safetensors`",
        f"`diffusion_models/wan2.2_{kind}_low_noise_14B_fp8_scaled.safetensors`",
        "`text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors`",
        "`vae/wan_2.1_vae.safetensors`",
    ]
    if i2v:
        nodes += [
            N(18, "LoadImage", (0, 560), {"image": "example.png"}, title="Start image", size=(340, 330)),
            N(19, "WanImageToVideo", (380, 460), {"width": 640, "height": 640, "length": 81, "batch_size": 1}),
        ]
        links += [
            (5, 0, 19, "positive"), (6, 0, 19, "negative"), (4, 0, 19, "vae"), (18, 0, 19, "start_image"),
            (19, 0, 11, "positive"), (19, 1, 11, "negative"), (19, 2, 11, "latent_image"),
            (19, 0, 13, "positive"), (19, 1, 13, "negative"),
        ]  # fmt: skip
    else:
        nodes.append(
            N(18, "EmptyHunyuanLatentVideo", (380, 460), {"width": 640, "height": 640, "length": 81, "batch_size": 1})
        )
        links += [
            (5, 0, 11, "positive"), (6, 0, 11, "negative"), (18, 0, 11, "latent_image"),
            (5, 0, 13, "positive"), (6, 0, 13, "negative"),
        ]  # fmt: skip
    what = "image-to-video" if i2v else "text-to-video"
    nodes.append(
        note(
            20,
            (2160, 0),
            (
                f"## SemCache: Wan 2.2 A14B {what}\n\n"
                "Two experts, two samplers: the high-noise model runs steps 0-10, the low-noise model steps 10-20. "
                "Each expert gets its own **SemCache Patch Model** and its own **Cache Stats** (they keep separate "
                "caches; the limits follow the sigma schedule, so they hold across the split).\n\n"
                "Model files:\n"
                + "".join(f"- {n}\n" for n in needs)
                + ("\nPick a start image in *Start image*.\n" if i2v else "")
                + "\nFew-step distilled LoRAs (e.g. lightx2v 4 steps) run uncached: schedules shorter than `min_steps` "
                "are left alone."
            ),
            size=(400, 440),
        )
    )
    return W(
        name,
        f"Wan 2.2 A14B {what} (two experts) with SemCache",
        nodes,
        links,
        groups=[("SemCache (high noise)", [7, 9]), ("SemCache (low noise)", [8, 10])],
    )


def _wan_vace() -> W:
    """Wan 2.1 VACE 1.3B driven by a control video (depth, pose, edges...) through WanVaceToVideo."""
    name = "semcache_wan_vace"
    nodes = [
        N(1, "UNETLoader", (0, 0), {"unet_name": "wan2.1_vace_1.3B_fp16.safetensors"}),
        N(2, "ModelSamplingSD3", (0, 140), {"shift": 8}),
        N(5, "CLIPLoader", (0, 250), {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"}),
        N(10, "VAELoader", (0, 410), {"vae_name": "wan_2.1_vae.safetensors"}),
        N(15, "LoadVideo", (0, 530), {"file": "control_video.mp4"}, title="Control video (depth, pose or edges)",
          size=(340, 400)),
        N(16, "GetVideoComponents", (0, 960)),
        N(
            6,
            "CLIPTextEncode",
            (380, 0),
            {
                "text": (
                    "A dancer in a flowing red dress spins on a wooden stage under warm spotlights, dust glittering "
                    "in the light, the camera holds steady."
                )
            },
            title="CLIP Text Encode (Positive Prompt)",
            color="#232",
            bgcolor="#353",
        ),
        N(
            7,
            "CLIPTextEncode",
            (380, 230),
            {"text": NEGATIVE_WAN},
            title="CLIP Text Encode (Negative Prompt)",
            color="#322",
            bgcolor="#533",
        ),
        N(8, "WanVaceToVideo", (380, 450), {"width": 832, "height": 480, "length": 81, "batch_size": 1,
                                            "strength": 1.0}),
        semcache(3, (820, 0)),
        N(
            4,
            "KSampler",
            (1200, 0),
            {"seed": 42, "steps": 30, "cfg": 6, "sampler_name": "uni_pc", "scheduler": "simple"},
        ),
        stats(9, (1560, 0)),
        N(11, "VAEDecode", (2160, 0)),
        N(12, "CreateVideo", (2160, 110), {"fps": 16}),
        N(13, "SaveVideo", (2160, 240), {"filename_prefix": f"video/{name}"}),
        note(
            14,
            (820, 420),
            (
                "## SemCache: Wan 2.1 VACE 1.3B\n\n"
                "Model files:\n"
                "- `diffusion_models/wan2.1_vace_1.3B_fp16.safetensors`\n"
                "- `text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors`\n"
                "- `vae/wan_2.1_vae.safetensors`\n\n"
                "Pick a control video (a depth, pose or edge video, 81 frames at 832x480 works best) in *Control "
                "video*. VACE runs its hint blocks between the transformer blocks; on a skipped step SemCache "
                "reuses them with the rest of the block stack, and Cache Stats says so. With a reference image on "
                "Wan Vace To Video, add *Trim Video Latent* after Cache Stats (trim_latent)."
            ),
            size=(340, 340),
        ),
    ]
    links = [
        (1, 0, 2, "model"), (2, 0, 3, "model"), (3, 0, 4, "model"), (3, 0, 9, "model"),
        (5, 0, 6, "clip"), (5, 0, 7, "clip"), (15, 0, 16, "video"),
        (6, 0, 8, "positive"), (7, 0, 8, "negative"), (10, 0, 8, "vae"), (16, 0, 8, "control_video"),
        (8, 0, 4, "positive"), (8, 1, 4, "negative"), (8, 2, 4, "latent_image"),
        (4, 0, 9, "latent"), (9, 0, 11, "samples"), (10, 0, 11, "vae"), (11, 0, 12, "images"), (12, 0, 13, "video"),
    ]  # fmt: skip
    return W(name, "Wan 2.1 VACE 1.3B (control video to video) with SemCache", nodes, links,
             groups=[("SemCache", [3])])


def _hunyuan_v10() -> W:
    name = "semcache_hunyuan_video_t2v"
    nodes = [
        N(1, "UNETLoader", (0, 0), {"unet_name": "hunyuan_video_t2v_720p_bf16.safetensors"}),
        N(
            2,
            "DualCLIPLoader",
            (0, 140),
            {
                "clip_name1": "clip_l.safetensors",
                "clip_name2": "llava_llama3_fp8_scaled.safetensors",
                "type": "hunyuan_video",
            },
        ),
        N(3, "VAELoader", (0, 330), {"vae_name": "hunyuan_video_vae_bf16.safetensors"}),
        N(
            4,
            "CLIPTextEncode",
            (380, 0),
            {
                "text": (
                    "A cat walks on the grass, realistic style, the camera follows at ground level, warm afternoon light."
                )
            },
            title="CLIP Text Encode (Positive Prompt)",
            color="#232",
            bgcolor="#353",
        ),
        N(5, "FluxGuidance", (380, 230), {"guidance": 6}),
        N(6, "EmptyHunyuanLatentVideo", (380, 350), {"width": 848, "height": 480, "length": 73, "batch_size": 1}),
        N(7, "ModelSamplingSD3", (820, 0), {"shift": 7}),
        semcache(8, (820, 110)),
        N(9, "BasicGuider", (1200, 0)),
        N(10, "BasicScheduler", (1200, 110), {"scheduler": "simple", "steps": 20, "denoise": 1}),
        N(11, "KSamplerSelect", (1200, 280), {"sampler_name": "euler"}),
        N(12, "RandomNoise", (1200, 400), {"noise_seed": 42}),
        N(13, "SamplerCustomAdvanced", (1200, 540)),
        stats(14, (1560, 0)),
        N(
            15,
            "VAEDecodeTiled",
            (2160, 0),
            {"tile_size": 256, "overlap": 64, "temporal_size": 64, "temporal_overlap": 8},
        ),
        N(16, "CreateVideo", (2160, 180), {"fps": 24}),
        N(17, "SaveVideo", (2160, 300), {"filename_prefix": f"video/{name}"}),
        note(
            18,
            (820, 540),
            (
                "## SemCache: HunyuanVideo 1.0 T2V 720p\n\n"
                "Model files:\n"
                "- `diffusion_models/hunyuan_video_t2v_720p_bf16.safetensors`\n"
                "- `text_encoders/clip_l.safetensors`, `text_encoders/llava_llama3_fp8_scaled.safetensors`\n"
                "- `vae/hunyuan_video_vae_bf16.safetensors`\n\n"
                "HunyuanVideo has no cross-attention: SemCache scores the prompt from the image stream of the "
                "joint attention (paper weights alpha 0.4, beta 0.6 when `alpha`/`beta` are -1)."
            ),
            size=(340, 300),
        ),
    ]
    links = [
        (1, 0, 7, "model"), (7, 0, 8, "model"), (8, 0, 9, "model"), (7, 0, 10, "model"), (8, 0, 14, "model"),
        (2, 0, 4, "clip"), (4, 0, 5, "conditioning"), (5, 0, 9, "conditioning"),
        (12, 0, 13, "noise"), (9, 0, 13, "guider"), (11, 0, 13, "sampler"), (10, 0, 13, "sigmas"),
        (6, 0, 13, "latent_image"), (13, 0, 14, "latent"),
        (14, 0, 15, "samples"), (3, 0, 15, "vae"), (15, 0, 16, "images"), (16, 0, 17, "video"),
    ]  # fmt: skip
    return W(name, "HunyuanVideo 1.0 text-to-video 720p with SemCache", nodes, links, groups=[("SemCache", [7, 8])])


def _hunyuan_v15() -> W:
    name = "semcache_hunyuan_video_15_t2v"
    nodes = [
        N(1, "UNETLoader", (0, 0), {"unet_name": "hunyuanvideo1.5_720p_t2v_fp16.safetensors"}),
        N(
            2,
            "DualCLIPLoader",
            (0, 140),
            {
                "clip_name1": "qwen_2.5_vl_7b_fp8_scaled.safetensors",
                "clip_name2": "byt5_small_glyphxl_fp16.safetensors",
                "type": "hunyuan_video_15",
            },
        ),
        N(3, "VAELoader", (0, 330), {"vae_name": "hunyuanvideo15_vae_fp16.safetensors"}),
        N(
            4,
            "CLIPTextEncode",
            (380, 0),
            {
                "text": (
                    "A paper airplane released from the top of a skyscraper glides through urban canyons and over "
                    "busy streets; the camera follows its flight."
                )
            },
            title="CLIP Text Encode (Positive Prompt)",
            color="#232",
            bgcolor="#353",
        ),
        N(
            5,
            "CLIPTextEncode",
            (380, 230),
            {"text": ""},
            title="CLIP Text Encode (Negative Prompt)",
            color="#322",
            bgcolor="#533",
        ),
        N(6, "EmptyHunyuanVideo15Latent", (380, 480), {"width": 1280, "height": 720, "length": 121, "batch_size": 1}),
        N(7, "ModelSamplingSD3", (820, 0), {"shift": 7}),
        semcache(8, (820, 110)),
        N(9, "CFGGuider", (1200, 0), {"cfg": 6}),
        N(10, "BasicScheduler", (1200, 160), {"scheduler": "simple", "steps": 20, "denoise": 1}),
        N(11, "KSamplerSelect", (1200, 330), {"sampler_name": "euler"}),
        N(12, "RandomNoise", (1200, 450), {"noise_seed": 42}),
        N(13, "SamplerCustomAdvanced", (1200, 590)),
        stats(14, (1560, 0)),
        N(15, "VAEDecode", (2160, 0)),
        N(16, "CreateVideo", (2160, 110), {"fps": 24}),
        N(17, "SaveVideo", (2160, 240), {"filename_prefix": f"video/{name}"}),
        note(
            18,
            (820, 540),
            (
                "## SemCache: HunyuanVideo 1.5 T2V 720p\n\n"
                "Model files:\n"
                "- `diffusion_models/hunyuanvideo1.5_720p_t2v_fp16.safetensors`\n"
                "- `text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors`, "
                "`text_encoders/byt5_small_glyphxl_fp16.safetensors`\n"
                "- `vae/hunyuanvideo15_vae_fp16.safetensors`\n\n"
                "Use SemCache instead of the EasyCache node of ComfyUI's own HunyuanVideo 1.5 template, not both."
            ),
            size=(340, 300),
        ),
    ]
    links = [
        (1, 0, 7, "model"), (7, 0, 8, "model"), (8, 0, 9, "model"), (7, 0, 10, "model"), (8, 0, 14, "model"),
        (2, 0, 4, "clip"), (2, 0, 5, "clip"), (4, 0, 9, "positive"), (5, 0, 9, "negative"),
        (12, 0, 13, "noise"), (9, 0, 13, "guider"), (11, 0, 13, "sampler"), (10, 0, 13, "sigmas"),
        (6, 0, 13, "latent_image"), (13, 0, 14, "latent"),
        (14, 0, 15, "samples"), (3, 0, 15, "vae"), (15, 0, 16, "images"), (16, 0, 17, "video"),
    ]  # fmt: skip
    return W(name, "HunyuanVideo 1.5 text-to-video 720p with SemCache", nodes, links, groups=[("SemCache", [7, 8])])


PROXY_DEMO = "semcache_proxy_wan_demo"
PROXY_PROMPT = "a brown horse galloping to the left on the grassland"


def _proxy_demo() -> W:
    nodes = [
        N(1, "UNETLoader", (0, 0), {"unet_name": "semcache_proxy_wan.safetensors"}),
        N(
            2,
            "SemCacheProxyTextEncode",
            (0, 140),
            {"text": PROXY_PROMPT},
            title="Proxy Text Encode (Positive)",
            size=(340, 150),
            color="#232",
            bgcolor="#353",
        ),
        N(
            3,
            "SemCacheProxyTextEncode",
            (0, 320),
            {"text": ""},
            title="Proxy Text Encode (Negative)",
            size=(340, 150),
            color="#322",
            bgcolor="#533",
        ),
        N(4, "EmptyHunyuanLatentVideo", (0, 500), {"width": 64, "height": 64, "length": 33, "batch_size": 1}),
        semcache(5, (380, 0)),
        tmm(6, (380, 420)),
        N(
            7,
            "KSampler",
            (760, 0),
            {"seed": 106, "steps": 30, "cfg": 6, "sampler_name": "uni_pc", "scheduler": "simple"},
        ),
        stats(8, (1120, 0)),
        N(9, "SemCacheProxyDecode", (1720, 0)),
        N(10, "SaveAnimatedWEBP", (1720, 100), {"filename_prefix": "semcache_proxy_demo", "fps": 8}, size=(320, 330)),
        N(11, "PreviewImage", (1120, 600), size=(560, 330)),
        note(
            12,
            (760, 340),
            (
                "## SemCache demo: the proxy Wan model (CPU, seconds)\n\n"
                "A small Wan 2.1-shaped model trained on a procedural video world (`bench/proxy/`), with its own "
                "deterministic text encoder and decoder nodes instead of UMT5 and the VAE. Needs:\n"
                "- `bench/proxy/comfy_nodes` in `custom_nodes/` (e.g. as `semcache_proxy`)\n"
                "- `bench/proxy/semcache_proxy_wan.safetensors` in `models/diffusion_models/`\n\n"
                "It knows prompts made of a color, an object (or two: `a red ball and a blue cube`), an action, "
                "an optional direction and a place, optionally a camera pan, e.g. "
                "`a white person reading in a coffee shop` (static) or "
                "`a brown horse galloping to the left on the grassland` (dynamic). The words are listed in "
                "`bench/proxy/world.py`."
            ),
            size=(340, 330),
        ),
    ]
    links = [
        (1, 0, 5, "model"), (5, 0, 6, "model"), (6, 0, 7, "model"), (6, 0, 8, "model"),
        (2, 0, 7, "positive"), (3, 0, 7, "negative"), (4, 0, 7, "latent_image"),
        (7, 0, 8, "latent"), (8, 0, 9, "samples"), (9, 0, 10, "images"), (8, 2, 11, "images"),
    ]  # fmt: skip
    return W(
        PROXY_DEMO,
        "SemCache + TMM on the CPU-sized proxy Wan model (demo; runs in seconds)",
        nodes,
        links,
        groups=[("SemCache", [5, 6])],
        view=(0.8, 40.0, 40.0),
    )


def specs() -> list[W]:
    return [
        _wan_t2v("semcache_wan_t2v", with_tmm=False),
        _wan_t2v("semcache_wan_t2v_tmm", with_tmm=True),
        _wan_t2v("semcache_wan_t2v_target", with_tmm=False, target=2.0),
        _wan_t2v_compare(),
        _wan22_5b(),
        _wan22_14b(i2v=False),
        _wan22_14b(i2v=True),
        _wan_vace(),
        _hunyuan_v10(),
        _hunyuan_v15(),
        _proxy_demo(),
    ]


# -- building -------------------------------------------------------------------------------------
def widget_inputs(info: dict) -> list[tuple[str, Any, dict]]:
    """(name, kind, options) of the inputs the frontend shows as widgets, in widgets_values order;
    a seed's `control_after_generate` and an image or video upload button are extra values after theirs."""
    widgets = []
    for section in ("required", "optional"):
        for name in info.get("input_order", {}).get(section, []):
            spec = info["input"][section][name]
            kind, options = spec[0], (spec[1] if len(spec) > 1 and spec[1] else {})
            if isinstance(kind, list) or kind in WIDGET_KINDS:
                widgets.append((name, kind, options))
                if options.get("control_after_generate"):
                    widgets.append(("control_after_generate", ["fixed", "increment", "decrement", "randomize"], {}))
                if options.get("image_upload") or options.get("video_upload"):  # LoadVideo: [file, "image"]
                    widgets.append(("upload", "IMAGEUPLOAD", {}))
    return widgets


def socket_inputs(info: dict) -> list[tuple[str, str]]:
    sockets = []
    for section in ("required", "optional"):
        for name in info.get("input_order", {}).get(section, []):
            kind = info["input"][section][name][0]
            if not (isinstance(kind, list) or kind in WIDGET_KINDS):
                sockets.append((name, kind))
    return sockets


def default_value(name: str, kind: Any, options: dict) -> Any:
    if name == "control_after_generate":
        return "fixed"  # same seed, same video: what side-by-side comparisons need
    if name == "upload":
        return "image"
    if "default" in options:
        return options["default"]
    if isinstance(kind, list):
        return kind[0] if kind else None
    if kind == "COMBO":
        return (options.get("options") or [None])[0]
    return {"STRING": "", "BOOLEAN": False, "INT": 0, "FLOAT": 0.0}.get(kind)


def _order(spec: W) -> dict[int, int]:
    """Execution order (topological), as the frontend stores it in `order`."""
    deps = {n.id: set() for n in spec.nodes}
    for origin, _, target, _ in spec.links:
        deps[target].add(origin)
    order, done = {}, set()
    while len(done) < len(deps):
        ready = sorted(i for i, d in deps.items() if i not in done and d <= done)
        if not ready:
            raise ValueError(f"{spec.name}: cycle in links")
        for i in ready:
            order[i] = len(order)
            done.add(i)
    return order


def _size(node: N, widgets: int, sockets: int, outputs: int, multiline: bool) -> list[float]:
    if node.size:
        return [float(node.size[0]), float(node.size[1])]
    height = 30 + 22 * max(sockets, outputs, 0) + 26 * widgets + (110 if multiline else 0)
    return [340.0 if node.pos[0] < 380 else 400.0 if node.type == "CLIPTextEncode" else 320.0, float(max(height, 50))]


def build(spec: W, object_info: dict) -> dict:
    nodes_by_id = {n.id: n for n in spec.nodes}
    if len(nodes_by_id) != len(spec.nodes):
        raise ValueError(f"{spec.name}: duplicate node ids")
    order = _order(spec)
    links, outputs_links, inputs_link = [], {}, {}
    for link_id, (origin, slot, target, input_name) in enumerate(spec.links, start=1):
        origin_type = object_info[nodes_by_id[origin].type]["output"][slot]
        target_sockets = dict(socket_inputs(object_info[nodes_by_id[target].type]))
        if input_name not in target_sockets:
            raise ValueError(f"{spec.name}: {nodes_by_id[target].type} has no socket input {input_name!r}")
        if (target, input_name) in inputs_link:
            raise ValueError(f"{spec.name}: {nodes_by_id[target].type}.{input_name} linked twice")
        link_type = target_sockets[input_name]
        if origin_type != link_type and "*" not in (origin_type, link_type):
            raise ValueError(
                f"{spec.name}: link {origin}:{slot} ({origin_type}) -> {target}.{input_name} ({link_type})"
            )
        links.append([link_id, origin, slot, target, None, origin_type])  # target slot filled below
        outputs_links.setdefault((origin, slot), []).append(link_id)
        inputs_link[(target, input_name)] = link_id
    link_by_id = {link[0]: link for link in links}

    out_nodes = []
    for node in spec.nodes:
        entry: dict[str, Any] = {"id": node.id, "type": node.type, "pos": [float(node.pos[0]), float(node.pos[1])]}
        if node.type in FRONTEND_ONLY:
            entry.update(
                size=list(node.size or (400, 200)),
                flags={},
                order=order[node.id],
                mode=node.mode,
                inputs=[],
                outputs=[],
                properties={},
                widgets_values=[node.text or ""],
            )
        else:
            info = object_info[node.type]
            widgets = widget_inputs(info)
            unknown = set(node.values) - {name for name, _, _ in widgets}
            if unknown:
                raise ValueError(f"{spec.name}: {node.type} has no widget {sorted(unknown)}")
            values = [
                node.values[name] if name in node.values else default_value(name, kind, options)
                for name, kind, options in widgets
            ]
            inputs = []
            for index, (name, kind) in enumerate(socket_inputs(info)):
                link_id = inputs_link.get((node.id, name))
                if link_id is not None:
                    link_by_id[link_id][4] = index
                inputs.append({"name": name, "type": kind, "link": link_id})
            outputs = []
            for slot, (kind, out_name) in enumerate(zip(info["output"], info["output_name"])):
                outputs.append(
                    {"name": out_name, "type": kind, "links": outputs_links.get((node.id, slot)), "slot_index": slot}
                )
            properties: dict[str, Any] = {"Node name for S&R": node.type}
            models = [
                {"name": v, "url": MODEL_URLS[v][1], "directory": MODEL_URLS[v][0]}
                for v in values
                if isinstance(v, str) and v in MODEL_URLS
            ]
            if models:
                properties["models"] = models
            multiline = any(options.get("multiline") for _, _, options in widgets)
            entry.update(
                size=_size(node, len(widgets), len(inputs), len(outputs), multiline),
                flags={},
                order=order[node.id],
                mode=node.mode,
                inputs=inputs,
                outputs=outputs,
                properties=properties,
                widgets_values=values,
            )
        if node.title:
            entry["title"] = node.title
        if node.color:
            entry["color"], entry["bgcolor"] = node.color, node.bgcolor
        out_nodes.append(entry)

    groups = []
    boxes = {entry["id"]: (*entry["pos"], *entry["size"]) for entry in out_nodes}
    for index, (title, members) in enumerate(spec.groups, start=1):
        x0 = min(boxes[i][0] for i in members) - 15
        y0 = min(boxes[i][1] for i in members) - TITLE_HEIGHT - GROUP_TITLE_HEIGHT - 10
        x1 = max(boxes[i][0] + boxes[i][2] for i in members) + 15
        y1 = max(boxes[i][1] + boxes[i][3] for i in members) + 15
        groups.append(
            {
                "id": index,
                "title": title,
                "bounding": [x0, y0, x1 - x0, y1 - y0],
                "color": "#3f789e",
                "font_size": 24,
                "flags": {},
            }
        )
    scale, ox, oy = spec.view
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"semcache/workflows/{spec.name}")),
        "revision": 0,
        "last_node_id": max(nodes_by_id),
        "last_link_id": len(links),
        "nodes": out_nodes,
        "links": links,
        "groups": groups,
        "config": {},
        "extra": {"ds": {"scale": scale, "offset": [ox, oy]}, "semcache": {"description": spec.description}},
        "version": 0.4,
    }


def dumps(workflow: dict) -> str:
    return json.dumps(workflow, indent=1, ensure_ascii=False) + "\n"


def server_object_info() -> dict:
    """/object_info of a headless ComfyUI with the pack and the proxy nodes (no model needed)."""
    sys.path.insert(0, str(TESTS))
    from server_harness import ComfyServer, install_proxy_nodes, prepare_base_dir

    with tempfile.TemporaryDirectory(prefix="semcache_wf_") as tmp:
        base = prepare_base_dir(Path(tmp), build_model=False)
        install_proxy_nodes(base)
        with ComfyServer(base) as server:
            return server.get("/object_info", timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that would change")
    parser.add_argument("--object-info", type=Path, help="a saved /object_info JSON instead of starting ComfyUI")
    args = parser.parse_args(argv)
    info = json.loads(args.object_info.read_text()) if args.object_info else server_object_info()
    changed = []
    for spec in specs():
        path = WORKFLOWS / f"{spec.name}.json"
        text = dumps(build(spec, info))
        if not path.is_file() or path.read_text() != text:
            changed.append(path.name)
            if not args.check:
                path.write_text(text)
    verb = "would change" if args.check else "written"
    print(f"{verb}: {', '.join(changed) if changed else 'nothing'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
