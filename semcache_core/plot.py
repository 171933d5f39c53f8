"""Timeline image for the Cache Stats node: E_t against the threshold, computed vs skipped.

Drawn with Pillow (which ComfyUI ships) so the pack needs no plotting library.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from .stats import RunStats

WIDTH, HEIGHT, MARGIN = 768, 320, 48
COMPUTED, SKIPPED, ERROR, THRESH, SCORE = (40, 150, 60), (220, 60, 50), (30, 90, 200), (240, 150, 20), (140, 70, 180)
PARTIAL, REUSED = (120, 200, 120), (225, 225, 225)
MAP_TOP, MAP_ROW, MAP_MAX_ROWS = HEIGHT, 6, 48


def _scale(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return max(max(finite, default=1.0), 1e-6) * 1.1


def render_timeline(stats: RunStats | None, message: str = "") -> torch.Tensor:
    """IMAGE tensor (1, H, W, 3) in [0, 1]."""
    frames = max((r.frames_total or 0 for r in stats.records), default=0) if stats else 0
    map_rows = min(frames, MAP_MAX_ROWS) if stats and any(r.frames_reused for r in stats.records) else 0
    height = HEIGHT + (map_rows * MAP_ROW + 24 if map_rows else 0)
    img = Image.new("RGB", (WIDTH, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if stats is None or not stats.records:
        draw.text((MARGIN, HEIGHT // 2), message or "SemCache: no run recorded yet", fill=(0, 0, 0))
        return _to_tensor(img)
    records = stats.records
    n = len(records)
    top = _scale([r.error for r in records] + [r.threshold for r in records] + [r.p_s for r in records])
    x0, x1, y0, y1 = MARGIN, WIDTH - MARGIN // 2, HEIGHT - MARGIN, MARGIN // 2 + 16

    def px(i: int) -> float:
        return x0 + (x1 - x0) * (i + 0.5) / n

    def py(v: float) -> float:
        return y0 - (y0 - y1) * min(max(v, 0.0), top) / top

    draw.line([(x0, y0), (x1, y0)], fill=(0, 0, 0))
    draw.line([(x0, y0), (x0, y1)], fill=(0, 0, 0))
    draw.text((4, y1 - 4), f"{top:.2f}", fill=(0, 0, 0))
    draw.text((4, y0 - 8), "0", fill=(0, 0, 0))
    for attr, colour in (("threshold", THRESH), ("p_s", SCORE), ("error", ERROR)):
        points = [(px(i), py(getattr(r, attr))) for i, r in enumerate(records) if getattr(r, attr) is not None]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for p in points:
            draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=colour)
    marks = {"computed": COMPUTED, "partial": PARTIAL, "skipped": SKIPPED}
    for i, r in enumerate(records):
        draw.rectangle([px(i) - 3, y0 + 6, px(i) + 3, y0 + 18], fill=marks[r.decision])
    if map_rows:
        _draw_frame_map(draw, records, map_rows, px, n)
    draw.text((x0, 4), f"{stats.family}: computed {stats.computed}, skipped {stats.skipped} of {n}", fill=(0, 0, 0))
    legend = [("E_t", ERROR), ("tau", THRESH), ("p_s", SCORE), ("computed", COMPUTED), ("partial", PARTIAL),
              ("skipped", SKIPPED)]
    lx = x0 + 290
    for label, colour in legend:
        draw.rectangle([lx, 6, lx + 8, 14], fill=colour)
        draw.text((lx + 11, 4), label, fill=(0, 0, 0))
        lx += 16 + 7 * len(label)
    draw.text((x0, y0 + 22), "step ->", fill=(0, 0, 0))
    return _to_tensor(img)


def _draw_frame_map(draw: ImageDraw.ImageDraw, records: list, rows: int, px, n: int) -> None:
    """TMM frame map: one row per latent frame, one column per step (computed / reused / skipped)."""
    half = max(1.0, (WIDTH - MARGIN * 1.5) / n / 2 - 0.5)
    draw.text((4, MAP_TOP + 2), "frame map (rows = latent frames, grey = reused, red = step skipped)", fill=(0, 0, 0))
    for i, r in enumerate(records):
        frame_map = r.frame_map()
        for f in range(min(rows, len(frame_map))):
            colour = {"#": COMPUTED, ".": REUSED, "-": SKIPPED}[frame_map[f]]
            y = MAP_TOP + 18 + f * MAP_ROW
            draw.rectangle([px(i) - half, y, px(i) + half, y + MAP_ROW - 2], fill=colour)


def _to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)
