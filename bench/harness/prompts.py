"""The benchmark prompts: static, neutral and dynamic scenes of the proxy world, one seed each.

Built from `proxy.world.Clip`, so each prompt's motion class is the world's ground truth, not a
label we chose afterwards. Every word is in the training vocabulary; a quarter of the prompts
are combinations held out of training (`proxy.world.HELD_OUT`), a quarter have two objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.world import Clip, is_held_out


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

    @property
    def held_out(self) -> bool:
        return is_held_out(self.clip)


PROMPTS = [
    BenchPrompt(Clip("white", "person", "reading", None, "in a coffee shop", None), 101),
    BenchPrompt(Clip("black", "cat", "sleeping", None, "in a library", None), 103),
    BenchPrompt(Clip("purple", "horse", "standing still", None, "on the grassland", None), 109),  # held out
    BenchPrompt(Clip("green", "ball", "sitting", None, "in the snow", None, ("red", "cube")), 110),  # two objects
    BenchPrompt(Clip("brown", "horse", "galloping", "to the left", "on the grassland", None), 106),
    BenchPrompt(Clip("yellow", "bird", "flying fast", "upward", "by the ocean", "while the camera pans left"), 108),
    BenchPrompt(Clip("white", "cat", "racing across", "to the right", "at night", None), 111),  # held out
    BenchPrompt(Clip("red", "ball", "spinning fast", None, "in the desert", None, ("blue", "cube")), 112),  # two objects
]
NEUTRAL_PROMPTS = [  # part of every full run since benchmark v2 session 9 (`--no-neutral` leaves them out)
    BenchPrompt(Clip("green", "ball", "rolling slowly", "to the right", "on the grassland", None), 104),
    BenchPrompt(Clip("purple", "person", "walking", "to the left", "in the snow", None), 105),
]
QUICK_PROMPTS = [PROMPTS[0], PROMPTS[4]]  # one static, one dynamic
# The tuning set: SemCache's defaults are chosen on these (its sweep and ablations run on them);
# every table is measured on PROMPTS (+ NEUTRAL_PROMPTS), the evaluation set. Disjoint from both
# it and the peers' calibration prompts (a test checks).
TUNING_PROMPTS = [
    BenchPrompt(Clip("orange", "cube", "waiting", None, "in the desert", None), 301),
    BenchPrompt(Clip("white", "ball", "bouncing quickly", "to the left", "in a storm", None), 302),
    BenchPrompt(Clip("blue", "person", "sitting", None, "in a library", None), 303),
    BenchPrompt(Clip("black", "bird", "jumping", "to the right", "on the grassland", None), 304),
]
NEGATIVE = ""  # the proxy learned the empty prompt as its unconditional branch
