"""Is the named object where the prompt says? Colour centroids of a decoded proxy clip.

A pixel belongs to the object by how close it is to the named colour (weight 1 at the colour,
0 at COLOR_RADIUS away, in RGB); the weighted centroid is tracked per frame, in Wan tokens
(one token = 4x4 pixels of the proxy's clips: patch 1x2x2 over 2x2-pixel latent cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

COLOR_RADIUS = 0.22
PIXELS_PER_TOKEN = 4
MIN_MASS = 6.0  # pixels' worth of colour weight for an object to count as visible in a frame


@dataclass(frozen=True)
class Track:
    centroids: list[tuple[float, float] | None]  # (x, y) in tokens per frame; None where not visible

    @property
    def visible(self) -> float:
        return sum(c is not None for c in self.centroids) / len(self.centroids)

    def net(self) -> tuple[float, float]:
        seen = [c for c in self.centroids if c is not None]
        return (seen[-1][0] - seen[0][0], seen[-1][1] - seen[0][1]) if len(seen) > 1 else (0.0, 0.0)

    def speed(self) -> float:
        """Mean centroid displacement per frame (tokens), over consecutive visible frames."""
        steps = [((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5
                 for a, b in zip(self.centroids, self.centroids[1:]) if a is not None and b is not None]
        return sum(steps) / len(steps) if steps else float("nan")


def track(video: torch.Tensor, rgb: tuple[float, float, float]) -> Track:
    """Centroids of the pixels near colour `rgb` in each frame of a (3, T, H, W) clip."""
    color = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1, 1)
    dist = (video.float() - color).norm(dim=0)  # (T, H, W)
    weight = (1.0 - dist / COLOR_RADIUS).clamp_min(0.0)
    _, h, w = weight.shape
    ys = (torch.arange(h, dtype=torch.float32) + 0.5).view(1, h, 1) / PIXELS_PER_TOKEN
    xs = (torch.arange(w, dtype=torch.float32) + 0.5).view(1, 1, w) / PIXELS_PER_TOKEN
    mass = weight.sum(dim=(1, 2))
    cx = (weight * xs).sum(dim=(1, 2)) / mass.clamp_min(1e-9)
    cy = (weight * ys).sum(dim=(1, 2)) / mass.clamp_min(1e-9)
    return Track([(float(x), float(y)) if float(m) >= MIN_MASS else None for x, y, m in zip(cx, cy, mass)])


def moves_as_named(t: Track, direction: tuple[float, float], min_tokens: float = 1.0) -> bool:
    """Net displacement along the named direction of at least `min_tokens`, more than across it,
    with the object visible in at least 80 % of the frames."""
    dx, dy = t.net()
    along = dx * direction[0] + dy * direction[1]
    across = abs(dx * direction[1] - dy * direction[0])
    return t.visible >= 0.8 and along >= min_tokens and along > across


def stays_put(t: Track, max_speed: float = 0.1) -> bool:
    """Visible in at least 80 % of the frames and moving less than `max_speed` tokens per frame."""
    return t.visible >= 0.8 and t.speed() < max_speed
