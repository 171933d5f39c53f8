"""The benchmark prompts: static, neutral and dynamic scenes of the proxy world, one seed each.

Built from `proxy.world.Clip`, so each prompt's motion class is the world's ground truth, not a
label we chose afterwards. Every phrase is in the training vocabulary; the exact combinations
are not special-cased in training (they are as likely as any other).
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.world import Clip


@dataclass(frozen=True)
class BenchPrompt:
    clip: Clip
    seed: int

    @property
    def text(self) -> str:
        return self.clip.prompt

    @property
    def motion_class(self) -> str:
        return self.clip.motion_class


PROMPTS = [
    BenchPrompt(Clip("white", "person", "reading", None, "in a coffee shop", None), 101),
    BenchPrompt(Clip("red", "cube", "resting", None, "in the desert", None), 102),
    BenchPrompt(Clip("black", "cat", "sleeping", None, "in a library", None), 103),
    BenchPrompt(Clip("brown", "horse", "galloping", "to the left", "on the grassland", None), 106),
    BenchPrompt(Clip("red", "car", "racing", "to the right", "in a storm", None), 107),
    BenchPrompt(Clip("yellow", "bird", "flying fast", "upward", "by the ocean", "while the camera pans left"), 108),
]
NEUTRAL_PROMPTS = [  # `run_benchmark.py --with-neutral` adds them (two more samples per configuration)
    BenchPrompt(Clip("green", "ball", "rolling slowly", "to the right", "on the grassland", None), 104),
    BenchPrompt(Clip("purple", "person", "walking", "to the left", "in the snow", None), 105),
]
QUICK_PROMPTS = [PROMPTS[0], PROMPTS[3]]  # one static, one dynamic
NEGATIVE = ""  # the proxy learned the empty prompt as its unconditional branch
