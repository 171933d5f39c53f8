"""Side-by-side animated preview of two RGB clips (Pillow only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SCALE = 12  # the proxy's frames are 16x16 pixels
LABEL_H = 18
GAP = 6


def _frame(array: np.ndarray) -> Image.Image:
    """(H, W, 3) float in [0, 1] -> an upscaled (nearest) PIL image."""
    image = Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")
    return image.resize((image.width * SCALE, image.height * SCALE), Image.NEAREST)


def side_by_side_frames(clips: list[np.ndarray], labels: list[str]) -> list[Image.Image]:
    """clips: (T, H, W, 3) arrays in [0, 1], one per panel; returns one labelled image per frame."""
    frames_n = min(len(c) for c in clips)
    h, w = clips[0].shape[1] * SCALE, clips[0].shape[2] * SCALE
    width = len(clips) * w + (len(clips) + 1) * GAP
    height = h + LABEL_H + 2 * GAP
    out = []
    for t in range(frames_n):
        canvas = Image.new("RGB", (width, height), (24, 24, 24))
        draw = ImageDraw.Draw(canvas)
        for i, (clip, label) in enumerate(zip(clips, labels)):
            x = GAP + i * (w + GAP)
            draw.text((x, GAP // 2 + 2), label, fill=(230, 230, 230))
            canvas.paste(_frame(clip[t]), (x, LABEL_H + GAP))
        draw.text((width - 46, GAP // 2 + 2), f"{t + 1}/{frames_n}", fill=(150, 150, 150))
        out.append(canvas)
    return out


def write_animation(frames: list[Image.Image], path: Path, fps: int = 4) -> Path:
    """GIF or animated WEBP (by the suffix), looping forever."""
    duration = int(1000 / fps)
    if path.suffix.lower() == ".webp":
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration, loop=0, lossless=True)
    else:
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration, loop=0, optimize=False)
    return path
