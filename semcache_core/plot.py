"""Timeline image for the Cache Stats node: E_t against the threshold, computed vs skipped.

Drawn with Pillow (which ComfyUI ships) so the pack needs no plotting library. Colours and legend
words are the web timeline's (`web/semcache_stats.js`, COLORS and its legend), so the picture
and the node read the same; tests/test_plot_colors.py holds the two together.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from .stats import RunStats

WIDTH, HEIGHT, MARGIN = 768, 320, 48
# the web timeline's COLORS (web/semcache_stats.js), same keys; p_s and reused frames are drawn only here
PALETTE = {
    "computed": "#4f8ff7",
    "partial": "#f2b63c",
    "skipped": "#3fb950",
    "error": "#f5f5f5",
    "threshold": "#ff5f5f",
    "check": "#39c5cf",
    "background": "#16191d",
    "grid": "#2c3138",
    "label": "#aab2bd",
    "score": "#b48ee6",
    "reused": "#4a515b",
    "text": "#d6dbe1",
}


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


COMPUTED, PARTIAL, SKIPPED = _rgb(PALETTE["computed"]), _rgb(PALETTE["partial"]), _rgb(PALETTE["skipped"])
CHECK = _rgb(PALETTE["check"])  # error check: the true error, measured on a computed step after reuse
ERROR, THRESH, SCORE, REUSED = _rgb(PALETTE["error"]), _rgb(PALETTE["threshold"]), _rgb(PALETTE["score"]), _rgb(PALETTE["reused"])
BACKGROUND, GRID, LABEL, TEXT = _rgb(PALETTE["background"]), _rgb(PALETTE["grid"]), _rgb(PALETTE["label"]), _rgb(PALETTE["text"])
# (palette key, words): the web legend's items in its order, then what only the picture shows
LEGEND = [
    ("computed", "computed"),
    ("partial", "partial"),
    ("skipped", "skipped"),
    ("error", "E_t"),
    ("threshold", "tau (threshold)"),
    ("check", "measured error"),
    ("score", "p_s (prompt score)"),
]
MAP_TOP, MAP_ROW, MAP_MAX_ROWS = HEIGHT, 6, 48


def _scale(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return max(max(finite, default=1.0), 1e-6) * 1.1


def render_timeline(stats: RunStats | None, message: str = "") -> torch.Tensor:
    """IMAGE tensor (1, H, W, 3) in [0, 1]."""
    frames = max((r.frames_total or 0 for r in stats.records), default=0) if stats else 0
    map_rows = min(frames, MAP_MAX_ROWS) if stats and any(r.frames_reused for r in stats.records) else 0
    height = HEIGHT + (map_rows * MAP_ROW + 24 if map_rows else 0)
    img = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    if stats is None or not stats.records:
        draw.text((MARGIN, HEIGHT // 2), message or "SemCache: no run recorded yet", fill=TEXT)
        return _to_tensor(img)
    records = stats.records
    n = len(records)
    top = _scale([r.error for r in records] + [r.threshold for r in records] + [r.p_s for r in records]
                 + [r.check_measured for r in records])
    x0, x1, y0, y1 = MARGIN, WIDTH - MARGIN // 2, HEIGHT - MARGIN, MARGIN // 2 + 16

    def px(i: int) -> float:
        return x0 + (x1 - x0) * (i + 0.5) / n

    def py(v: float) -> float:
        return y0 - (y0 - y1) * min(max(v, 0.0), top) / top

    draw.line([(x0, y0), (x1, y0)], fill=GRID)
    draw.line([(x0, y0), (x0, y1)], fill=GRID)
    draw.text((4, y1 - 4), f"{top:.2f}", fill=LABEL)
    draw.text((4, y0 - 8), "0", fill=LABEL)
    for attr, colour in (("threshold", THRESH), ("p_s", SCORE), ("error", ERROR)):
        points = [(px(i), py(getattr(r, attr))) for i, r in enumerate(records) if getattr(r, attr) is not None]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for p in points:
            draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=colour)
    for i, r in enumerate(records):  # error check: a diamond at the measured error
        if r.check_measured is not None and np.isfinite(r.check_measured):
            x, y = px(i), py(r.check_measured)
            draw.polygon([(x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y)], outline=CHECK, fill=BACKGROUND, width=2)
    marks = {"computed": COMPUTED, "partial": PARTIAL, "skipped": SKIPPED}
    for i, r in enumerate(records):
        draw.rectangle([px(i) - 3, y0 + 6, px(i) + 3, y0 + 18], fill=marks[r.decision])
    if map_rows:
        _draw_frame_map(draw, records, map_rows, px, n)
    draw.text((x0, 4), f"{stats.family}: computed {stats.computed}, skipped {stats.skipped} of {n}", fill=TEXT)
    lx = x0
    for key, label in LEGEND:
        draw.rectangle([lx, 22, lx + 8, 30], fill=_rgb(PALETTE[key]))
        draw.text((lx + 11, 20), label, fill=LABEL)
        lx += 22 + int(draw.textlength(label))
    draw.text((x0, y0 + 22), "step ->", fill=LABEL)
    return _to_tensor(img)


def _draw_frame_map(draw: ImageDraw.ImageDraw, records: list, rows: int, px, n: int) -> None:
    """TMM frame map: one row per latent frame, one column per step (computed / reused / skipped)."""
    half = max(1.0, (WIDTH - MARGIN * 1.5) / n / 2 - 0.5)
    draw.text((4, MAP_TOP + 2), "frame map (rows = latent frames; blue = computed, grey = reused, green = step skipped)",
              fill=LABEL)
    for i, r in enumerate(records):
        frame_map = r.frame_map()
        for f in range(min(rows, len(frame_map))):
            colour = {"#": COMPUTED, ".": REUSED, "-": SKIPPED}[frame_map[f]]
            y = MAP_TOP + 18 + f * MAP_ROW
            draw.rectangle([px(i) - half, y, px(i) + half, y + MAP_ROW - 2], fill=colour)


def _to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)
