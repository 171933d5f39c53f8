"""The v6 world: v5's vocabulary and grammar, with unnamed surface texture and motion that
does what the prompt says over the whole clip.

Differences from `proxy.world` (v5), each for a measured reason (bench/proxy/v6/experiments.md):
- **Surface texture.** Every surface carries seeded, unnamed texture: a sum of random plane
  waves (random direction, frequency and phase, per clip) in the surface's own coordinates, so
  it moves with the object or with the panning background and static clips stay exactly static.
  Real VAE latents are rich in detail of intermediate variance; a smooth world has none, which
  is why v5's MagCache curve rises at the end (proxy_research.md §4; checked by `spectrum.py`).
- **A material plane.** Beside RGB, `render_planes` returns a fourth "material" plane (texture
  plus an object/background level, moving with its surface); the v6 codec puts it into the 4
  latent channels v5 left at zero, so no latent channel is an exactly-known constant.
  `proxy_codec.latent_to_rgb` drops those channels, so decoding is unchanged.
- **Motion fits the clip.** A directional object starts at the edge it moves away from and its
  speed is capped so that it crosses at most the free room in INFERENCE_FRAMES frames: it never
  bounces back off a wall, so its net displacement is the named direction.
- **Switches** for the recipe experiments: texture on/off, object scale, fixed horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..world import (  # noqa: F401  (re-exported: the vocabulary is v5's, unchanged)
    ACTIONS,
    COLORS,
    DIRECTIONS,
    HELD_OUT,
    MIN_HALF_EXTENT,
    MOTION_CLASSES,
    ORBIT_SPEED,
    PANS,
    SCENES,
    SUBJECTS,
    Clip,
    is_held_out,
    random_clip,
)

INFERENCE_FRAMES = 13  # latent frames at inference; the motion rule is defined over this length
EDGE_SOFTNESS = 3.5


@dataclass(frozen=True)
class WorldOptions:
    """Switches of the world (defaults: the v6 world)."""

    texture: bool = True
    texture_std: tuple[float, float] = (0.05, 0.10)  # pixel std of the texture, drawn per clip
    material: bool = True  # fill the 4 spare latent channels with the material plane
    object_scale: float = 1.4  # x MIN_HALF_EXTENT (1.0 = v5's objects, >= 2.3 tokens across; 1.4: >= 3.2)
    fixed_horizon: bool = False
    grain: float = 0.0  # pixel std of per-frame i.i.d. grain (sensor noise); 0 = static clips exactly static
    material_grain: float = 0.0  # the same, in the material plane only (invisible in RGB)


def _texture(gen: torch.Generator, xs: torch.Tensor, ys: torch.Tensor, std: float, waves: int = 24,
             kmin: float = 0.05, kmax: float = 0.5) -> torch.Tensor:
    """A seeded random-plane-wave field evaluated at coordinates (xs, ys) (broadcastable), with
    pixel std `std`; frequencies uniform in [kmin, kmax] cycles per pixel (up to Nyquist)."""
    k = kmin + (kmax - kmin) * torch.rand(waves, generator=gen)
    theta = 2 * math.pi * torch.rand(waves, generator=gen)
    phase = 2 * math.pi * torch.rand(waves, generator=gen)
    kx, ky = 2 * math.pi * k * torch.cos(theta), 2 * math.pi * k * torch.sin(theta)
    shape = (waves,) + (1,) * max(xs.dim(), ys.dim())
    arg = kx.view(shape) * xs.unsqueeze(0) + ky.view(shape) * ys.unsqueeze(0) + phase.view(shape)
    return torch.cos(arg).sum(0) * (std * math.sqrt(2.0 / waves))


def render_planes(clip: Clip, frames: int, height: int, width: int, gen: torch.Generator,
                  options: WorldOptions = WorldOptions()) -> torch.Tensor:
    """(4, T, H, W) in [0, 1]: RGB and the material plane; unnamed details come from `gen`."""

    def u(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=gen))

    t = torch.arange(frames, dtype=torch.float32).view(frames, 1, 1)
    yy = (torch.arange(height, dtype=torch.float32) + 0.5).view(1, height, 1)
    xx = (torch.arange(width, dtype=torch.float32) + 0.5).view(1, 1, width)
    sky, ground, kind = SCENES[clip.scene]
    pan = PANS.get(clip.pan, 0.0)
    horizon = (0.5 if options.fixed_horizon else u(0.4, 0.6)) * height
    gx = xx + pan * t  # background coordinates: the background slides against the camera
    ground_w = torch.sigmoid((yy - horizon) * 0.8)
    base = [s * (1 - ground_w) + g * ground_w for s, g in zip(sky, ground)]
    phase = u(0, 2 * math.pi)
    if kind == "waves":
        detail = 0.10 * torch.sin(0.45 * gx - 0.6 * t + phase + 0.5 * yy) * ground_w
    elif kind == "stripes":
        detail = 0.07 * torch.sin(0.55 * gx + phase) * (1 - ground_w)
    elif kind == "stars":
        detail = torch.zeros(frames, height, width)
        for _ in range(6):
            sx, sy = u(0, 2 * width), u(0, horizon)
            dx = torch.remainder(gx - sx + width, 2 * width) - width
            detail = detail + 0.5 * torch.exp(-(dx**2 + (yy - sy) ** 2) / 2.0)
        detail = detail * (1 - ground_w)
    else:
        detail = 0.03 * torch.sin(0.3 * gx + 0.25 * yy + phase)
    gain = torch.ones(frames, 1, 1)
    if kind == "flicker":
        gain = 1.0 + 0.35 * (torch.rand(frames, 1, 1, generator=gen) > 0.6).float()
    planes = [b + detail for b in base]
    material = 0.35 + 0.0 * gx + 0.0 * yy
    if options.texture:
        std = u(*options.texture_std)
        lum = _texture(gen, gx, yy, std)
        tint = [_texture(gen, gx, yy, 0.35 * std) for _ in range(3)]
        planes = [p + lum + c for p, c in zip(planes, tint)]
        material = material + _texture(gen, gx, yy, 1.5 * std)
    planes = [p * gain for p in planes] + [material.expand(frames, height, width)]
    frame = torch.stack([p.expand(frames, height, width) for p in planes])

    objects = [(clip.color, clip.subject)] + ([clip.second] if clip.second else [])
    for index, (color, subject) in enumerate(objects):
        alpha, obj = _draw_object(clip, color, subject, index, t, xx, yy, height, width, u, gen, options)
        frame = frame * (1 - alpha) + obj * alpha
    if options.grain:
        frame = frame + options.grain * torch.randn(frame.shape, generator=gen)
    if options.material_grain:
        frame[3] += options.material_grain * torch.randn(frame[3].shape, generator=gen)
    return frame.clamp(0.0, 1.0)


def render(clip: Clip, frames: int, height: int, width: int, gen: torch.Generator,
           options: WorldOptions = WorldOptions()) -> torch.Tensor:
    """(3, T, H, W) RGB in [0, 1] (v5's signature)."""
    return render_planes(clip, frames, height, width, gen, options)[:3]


def _draw_object(clip: Clip, color_name: str, subject: str, index: int, t: torch.Tensor, xx: torch.Tensor,
                 yy: torch.Tensor, height: int, width: int, u, gen: torch.Generator,
                 options: WorldOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, 4-plane colour) of one object doing the clip's action."""
    speed, bounce = ACTIONS[clip.action][1:3]
    orbit = ACTIONS[clip.action][3] if len(ACTIONS[clip.action]) > 3 else 0.0
    speed *= u(0.92, 1.08)
    angle = u(0, 2 * math.pi)
    dx, dy = DIRECTIONS.get(clip.direction, (math.cos(angle), math.sin(angle)))
    rx, ry, outline = SUBJECTS[subject]
    size = MIN_HALF_EXTENT * options.object_scale * u(1.0, 1.12)
    hw, hh = rx * size, ry * size
    margin = 0.5
    if clip.second:  # two objects share the frame: keep them a bit smaller
        hw, hh = hw * 0.8, hh * 0.8
    room_x, room_y = max(width - 2 * hw - 2 * margin, 0.0), max(height - 2 * hh - 2 * margin, 0.0)
    if clip.direction is None:
        x0, y0 = width / 2 + u(-3, 3), height / 2 + u(-3, 3)
        travel = min(room_x, room_y) / 2
    else:
        travel = room_x if abs(dx) > 0.5 else room_y
        x0 = width - hw - margin if dx < -0.5 else hw + margin if dx > 0.5 else width / 2 + u(-3, 3)
        y0 = height - hh - margin if dy < -0.5 else hh + margin if dy > 0.5 else height / 2 + u(-3, 3)
    speed = min(speed, travel / (INFERENCE_FRAMES - 1))  # cross the free room at most once
    if clip.second:
        y0 = height * (0.3 if index == 0 else 0.7) + u(-1.5, 1.5)
        x0 = x0 + u(-2, 2)
    cx = (x0 + dx * speed * t).clamp(hw, width - hw)
    cy = (y0 + dy * speed * t).clamp(hh, height - hh)
    if bounce:
        cy = cy - bounce * torch.abs(torch.sin(t * u(0.45, 0.6) + u(0, math.pi)))
    if orbit:
        phase = u(0, 2 * math.pi)
        cx = cx + orbit * torch.cos(ORBIT_SPEED * t + phase)
        cy = cy + orbit * torch.sin(ORBIT_SPEED * t + phase)
    ox, oy = (xx - cx) / hw, (yy - cy) / hh
    dist = torch.maximum(ox.abs(), oy.abs()) if outline == "box" else torch.sqrt(ox**2 + oy**2)
    alpha = torch.sigmoid((1.0 - dist) * EDGE_SOFTNESS * 2.0)
    shade = 1.0 - 0.12 * oy.clamp(-1, 1)
    color = [min(max(c + u(-0.04, 0.04), 0.0), 1.0) for c in COLORS[color_name]]
    planes = [c * shade for c in color]
    material = 0.75 + 0.0 * ox
    if options.texture:  # texture in the object's own coordinates: it moves with the object
        std = u(*options.texture_std)
        lx, ly = xx - cx, yy - cy
        lum = _texture(gen, lx, ly, std)
        planes = [p + lum for p in planes]
        material = material + _texture(gen, lx, ly, 1.5 * std)
    return alpha, torch.stack(torch.broadcast_tensors(*planes, material, alpha))[:4]
