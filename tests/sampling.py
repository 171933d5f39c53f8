"""Helpers to run the real ComfyUI sampler and count real block executions per step."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def text(seed: int, length: int = 512, batch: int = 1) -> torch.Tensor:
    """A UMT5-shaped text embedding (what CLIPTextEncode gives Wan)."""
    return torch.randn(batch, length, 4096, generator=torch.Generator().manual_seed(seed))


def cond(seed: int, length: int = 512, **extra) -> list:
    return [[text(seed, length), dict(extra)]]


def latent(shape: tuple[int, ...], seed: int | None = None) -> torch.Tensor:
    if seed is None:
        return torch.zeros(shape)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def sample(
    model,
    lat: torch.Tensor,
    steps: int = 12,
    cfg: float = 5.0,
    positive: list | None = None,
    negative: list | None = None,
    sampler: str = "euler",
    scheduler: str = "simple",
    seed: int = 0,
    callback=None,
    **kwargs,
) -> torch.Tensor:
    import comfy.sample

    noise = comfy.sample.prepare_noise(lat, seed)
    if kwargs.get("disable_noise"):
        noise = torch.zeros_like(lat)
    return comfy.sample.sample(
        model, noise, steps, cfg, sampler, scheduler,
        positive if positive is not None else cond(1),
        negative if negative is not None else cond(2),
        lat, seed=seed, disable_pbar=True, callback=callback, **kwargs,
    )


@dataclass
class BlockCounter:
    """Forward hooks on every real block; `per_step` splits the count at sampler callbacks."""

    model: object
    calls: int = 0
    rows: int = 0
    tokens: list[int] = field(default_factory=list)
    per_step: list[int] = field(default_factory=list)
    step_tokens: list[list[int]] = field(default_factory=list)  # tokens each block call got, per step
    _mark: int = 0
    _handles: list = field(default_factory=list)

    def __enter__(self) -> "BlockCounter":
        model = self.model.get_model_object("diffusion_model")
        blocks = list(model.blocks) if hasattr(model, "blocks") else [*model.double_blocks, *model.single_blocks]
        for block in blocks:
            self._handles.append(block.register_forward_hook(self._hook, with_kwargs=True))
        self.n_blocks = len(blocks)
        return self

    def _hook(self, module, args, kwargs, output) -> None:
        # Wan passes the hidden states positionally; HunyuanVideo double blocks by keyword (img=).
        x = args[0] if args else kwargs.get("img", kwargs.get("x"))
        self.calls += 1
        self.rows += x.shape[0]
        self.tokens.append(x.shape[1])

    def callback(self, step, x0, x, total_steps) -> None:
        self.per_step.append(self.calls - self._mark)
        self.step_tokens.append(self.tokens[self._mark : self.calls])
        self._mark = self.calls

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()


@dataclass
class EvaluationCounter:
    """Real block executions per model evaluation (a pre-hook on the diffusion model opens one),
    for samplers that evaluate the model more than once per step."""

    model: object
    per_evaluation: list[int] = field(default_factory=list)
    _handles: list = field(default_factory=list)

    def __enter__(self) -> "EvaluationCounter":
        dm = self.model.get_model_object("diffusion_model")
        blocks = list(dm.blocks) if hasattr(dm, "blocks") else [*dm.double_blocks, *dm.single_blocks]
        self.n_blocks = len(blocks)
        self._handles.append(dm.register_forward_pre_hook(lambda m, a: self.per_evaluation.append(0)))
        for block in blocks:
            self._handles.append(block.register_forward_hook(self._count))
        return self

    def _count(self, module, args, output) -> None:
        self.per_evaluation[-1] += 1

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
