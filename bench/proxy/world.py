"""A tiny procedural video world the proxy Wan model is trained on.

A clip is one coloured object (ball, cube, horse, ...), or two, doing something (resting,
walking, galloping, spinning fast, ...) in a scene (grassland, coffee shop, ocean, storm, ...),
optionally with a camera pan; some combinations are held out of training (HELD_OUT). The
prompt names all of it, so the text decides how much the clip moves: static prompts give still
clips, dynamic prompts fast motion, moving backgrounds or flicker. That is exactly the
property SemCache's prompt-aware threshold is meant to exploit, with a ground truth we control.
Rendering is plain torch on small frames, fast enough to make every training batch on the fly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

COLORS = {
    "red": (0.90, 0.15, 0.10), "green": (0.15, 0.80, 0.20), "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.90, 0.15), "white": (0.95, 0.95, 0.95), "black": (0.08, 0.08, 0.08),
    "purple": (0.60, 0.20, 0.80), "orange": (1.00, 0.55, 0.10), "brown": (0.50, 0.30, 0.15),
}
# Sizes are in pixels of the rendered clip; one latent pixel is 2x2 pixels and one Wan token
# (patch 1x2x2) is 4x4 pixels, so every object below spans at least 2x2 tokens.
MIN_HALF_EXTENT = 4.6  # the smaller half-extent of every object, in pixels (>= 2 tokens across)
# subject -> (half-width, half-height) relative to the smaller one, and the outline ("round" or "box")
SUBJECTS = {
    "ball": (1.0, 1.0, "round"), "cube": (1.0, 1.0, "box"), "horse": (1.35, 1.0, "round"),
    "person": (1.0, 1.45, "round"), "car": (1.45, 1.0, "box"), "bird": (1.3, 1.0, "round"),
    "cat": (1.2, 1.0, "round"),
}
# action -> (motion class, speed in pixels per frame, bounce amplitude in pixels[, orbit radius in pixels]).
# Dynamic speeds are at least half a token (2 px) per frame, neutral ones about a quarter.
ACTIONS = {
    "resting": ("static", 0.0, 0.0), "sitting": ("static", 0.0, 0.0), "sleeping": ("static", 0.0, 0.0),
    "reading": ("static", 0.0, 0.0), "standing still": ("static", 0.0, 0.0), "waiting": ("static", 0.0, 0.0),
    "walking": ("neutral", 1.0, 0.0), "drifting": ("neutral", 0.8, 0.0), "rolling slowly": ("neutral", 0.9, 0.0),
    "strolling": ("neutral", 1.1, 0.0), "floating": ("neutral", 0.7, 1.0),
    "running": ("dynamic", 2.5, 0.0), "galloping": ("dynamic", 2.5, 1.5), "racing": ("dynamic", 2.6, 0.0),
    "flying fast": ("dynamic", 2.5, 0.8), "jumping": ("dynamic", 2.2, 5.0), "bouncing": ("dynamic", 2.3, 4.0),
    "bouncing quickly": ("dynamic", 2.5, 5.0), "racing across": ("dynamic", 2.7, 0.0),
    "spinning fast": ("dynamic", 0.0, 0.0, 4.5),
}
ORBIT_SPEED = 0.9  # radians per frame for actions with an orbit ("spinning fast"): ~4 px per frame
DIRECTIONS = {"to the left": (-1.0, 0.0), "to the right": (1.0, 0.0), "upward": (0.0, -1.0), "downward": (0.0, 1.0)}
# scene -> (sky rgb, ground rgb, texture) ; texture in {"none", "waves", "stripes", "stars", "flicker"}.
# Scene colours keep their distance from the object colours, so a named object stands out.
SCENES = {
    "on the grassland": ((0.55, 0.75, 0.95), (0.32, 0.52, 0.22), "none"),
    "in the desert": ((0.90, 0.85, 0.70), (0.80, 0.68, 0.45), "none"),
    "in a coffee shop": ((0.45, 0.32, 0.24), (0.32, 0.22, 0.16), "none"),
    "in a library": ((0.55, 0.42, 0.30), (0.42, 0.30, 0.20), "stripes"),
    "at night": ((0.05, 0.07, 0.22), (0.10, 0.12, 0.18), "stars"),
    "in the snow": ((0.78, 0.82, 0.88), (0.88, 0.88, 0.90), "none"),
    "by the ocean": ((0.62, 0.80, 0.92), (0.12, 0.38, 0.62), "waves"),
    "in a storm": ((0.32, 0.34, 0.40), (0.22, 0.24, 0.27), "flicker"),
}
PANS = {"while the camera pans left": -1.5, "while the camera pans right": 1.5}  # background pixels per frame
MOTION_CLASSES = ("static", "neutral", "dynamic")
MULTI_OBJECT_SHARE = 0.2  # training clips with a second object ("a red ball and a blue cube ...")
# Combinations never shown in training (random_clip rejects them); the benchmark prompts use some
# to check that caching quality holds on prompts the model composes rather than remembers.
HELD_OUT = {
    ("subject", "action"): {("cube", "galloping"), ("cat", "racing across"), ("horse", "sleeping")},
    ("subject", "scene"): {("car", "in a library"), ("bird", "in the desert"), ("person", "by the ocean")},
    ("color", "subject"): {("purple", "horse"), ("green", "car")},
}


@dataclass(frozen=True)
class Clip:
    """Everything that decides one clip; the prompt says some of it, a seed the rest."""

    color: str
    subject: str
    action: str
    direction: str | None
    scene: str
    pan: str | None
    second: tuple[str, str] | None = None  # (color, subject) of a second object doing the same

    @property
    def prompt(self) -> str:
        parts = ["a", self.color, self.subject]
        if self.second:
            parts += ["and", "a", *self.second]
        parts.append(self.action)
        if self.direction:
            parts.append(self.direction)
        parts.append(self.scene)
        if self.pan:
            parts.append(self.pan)
        return " ".join(parts)

    @property
    def motion_class(self) -> str:
        """static / neutral / dynamic, from the action, the scene and the camera."""
        level = MOTION_CLASSES.index(ACTIONS[self.action][0])
        if self.pan:
            level = 2
        elif SCENES[self.scene][2] in ("waves", "flicker"):  # a moving background adds a level
            level = min(level + 1, 2)
        return MOTION_CLASSES[level]


def is_held_out(clip: Clip) -> bool:
    """True when the clip contains a combination kept out of training (either object counts)."""
    objects = [(clip.color, clip.subject)] + ([clip.second] if clip.second else [])
    for color, subject in objects:
        slots = {"color": color, "subject": subject, "action": clip.action, "scene": clip.scene}
        if any((slots[a], slots[b]) in pairs for (a, b), pairs in HELD_OUT.items()):
            return True
    return False


def random_clip(rng: random.Random) -> Clip:
    """A training description: motion class uniform, then every slot uniform inside it; never held out."""
    while True:
        motion = rng.choice(MOTION_CLASSES)
        action = rng.choice([a for a, v in ACTIONS.items() if v[0] == motion])
        orbit = len(ACTIONS[action]) > 3
        direction = rng.choice(list(DIRECTIONS)) if motion != "static" and not orbit and rng.random() < 0.7 else None
        pan = rng.choice(list(PANS)) if rng.random() < 0.2 else None
        second = (rng.choice(list(COLORS)), rng.choice(list(SUBJECTS))) if rng.random() < MULTI_OBJECT_SHARE else None
        clip = Clip(rng.choice(list(COLORS)), rng.choice(list(SUBJECTS)), action, direction,
                    rng.choice(list(SCENES)), pan, second)
        if not is_held_out(clip):
            return clip


def _reflect(p: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Positions bouncing between lo and hi (a triangle wave)."""
    span = hi - lo
    q = torch.remainder(p - lo, 2 * span)
    return lo + torch.where(q > span, 2 * span - q, q)


EDGE_SOFTNESS = 3.5  # larger = harder object edges; soft edges are easier to learn and to sample


def render(clip: Clip, frames: int, height: int, width: int, gen: torch.Generator) -> torch.Tensor:
    """(3, T, H, W) RGB in [0, 1]; unnamed details (position, size, phases) come from `gen`.

    Backgrounds are smooth (gradients, soft waves and stars, a soft stripe pattern) so that the
    only sharp-ish structure in a clip is what the prompt names.
    """

    def u(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=gen))

    t = torch.arange(frames, dtype=torch.float32).view(frames, 1, 1)
    yy = (torch.arange(height, dtype=torch.float32) + 0.5).view(1, height, 1)
    xx = (torch.arange(width, dtype=torch.float32) + 0.5).view(1, 1, width)
    sky, ground, texture = SCENES[clip.scene]
    pan = PANS.get(clip.pan, 0.0)
    horizon = u(0.4, 0.6) * height
    gx = xx + pan * t  # the background slides against the camera
    ground_w = torch.sigmoid((yy - horizon) * 0.8)
    base = [s * (1 - ground_w) + g * ground_w for s, g in zip(sky, ground)]
    phase = u(0, 2 * math.pi)
    if texture == "waves":
        detail = 0.10 * torch.sin(0.45 * gx - 0.6 * t + phase + 0.5 * yy) * ground_w
    elif texture == "stripes":
        detail = 0.07 * torch.sin(0.55 * gx + phase) * (1 - ground_w)
    elif texture == "stars":
        detail = torch.zeros(frames, height, width)
        for _ in range(6):  # a few soft stars in the sky, moving with the background
            sx, sy = u(0, 2 * width), u(0, horizon)
            dx = torch.remainder(gx - sx + width, 2 * width) - width
            detail = detail + 0.5 * torch.exp(-(dx**2 + (yy - sy) ** 2) / 2.0)
        detail = detail * (1 - ground_w)
    else:
        detail = 0.03 * torch.sin(0.3 * gx + 0.25 * yy + phase)
    gain = torch.ones(frames, 1, 1)
    if texture == "flicker":  # lightning: some frames are brighter, at random
        gain = 1.0 + 0.35 * (torch.rand(frames, 1, 1, generator=gen) > 0.6).float()
    bg = torch.stack([(b + detail) * gain for b in base])

    frame = bg
    objects = [(clip.color, clip.subject)] + ([clip.second] if clip.second else [])
    for index, (color, subject) in enumerate(objects):
        alpha, obj = _draw_object(clip, color, subject, index, t, xx, yy, height, width, u)
        frame = frame * (1 - alpha) + obj * alpha
    return frame.clamp(0.0, 1.0)


def _draw_object(clip: Clip, color_name: str, subject: str, index: int, t: torch.Tensor, xx: torch.Tensor,
                 yy: torch.Tensor, height: int, width: int, u) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, rgb) of one object doing the clip's action; its unnamed details come from `u`."""
    speed, bounce = ACTIONS[clip.action][1:3]
    orbit = ACTIONS[clip.action][3] if len(ACTIONS[clip.action]) > 3 else 0.0
    speed *= u(0.92, 1.08)
    angle = u(0, 2 * math.pi)
    dx, dy = DIRECTIONS.get(clip.direction, (math.cos(angle), math.sin(angle)))
    rx, ry, outline = SUBJECTS[subject]
    size = MIN_HALF_EXTENT * u(1.0, 1.12)
    hw, hh = rx * size, ry * size
    margin = 0.5
    # Start where the named motion has room: at the edge opposite the direction of travel.
    if clip.direction is None:
        x0, y0 = width / 2 + u(-3, 3), height / 2 + u(-3, 3)
    else:
        x0 = width - hw - margin if dx < -0.5 else hw + margin if dx > 0.5 else width / 2 + u(-3, 3)
        y0 = height - hh - margin if dy < -0.5 else hh + margin if dy > 0.5 else height / 2 + u(-3, 3)
    if clip.second:  # two objects: one in the upper half, one in the lower half
        y0 = height * (0.3 if index == 0 else 0.7) + u(-1.5, 1.5)
        x0 = x0 + u(-3, 3)
    cx = _reflect(x0 + dx * speed * t, hw, width - hw)
    cy = _reflect(y0 + dy * speed * t, hh, height - hh)
    if bounce:
        cy = cy - bounce * torch.abs(torch.sin(t * u(0.45, 0.6) + u(0, math.pi)))
    if orbit:
        phase = u(0, 2 * math.pi)
        cx = cx + orbit * torch.cos(ORBIT_SPEED * t + phase)
        cy = cy + orbit * torch.sin(ORBIT_SPEED * t + phase)
    ox, oy = (xx - cx) / hw, (yy - cy) / hh
    dist = torch.maximum(ox.abs(), oy.abs()) if outline == "box" else torch.sqrt(ox**2 + oy**2)
    alpha = torch.sigmoid((1.0 - dist) * EDGE_SOFTNESS * 2.0)
    shade = 1.0 - 0.12 * oy.clamp(-1, 1)  # lit from above
    color = [min(max(c + u(-0.04, 0.04), 0.0), 1.0) for c in COLORS[color_name]]
    return alpha, torch.stack([c * shade for c in color])
