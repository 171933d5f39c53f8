"""What a skipped or frame-pruned evaluation really hands the model's head, watched from outside.

Forward hooks on the model's own modules only (never on SemCache's objects):
- the diffusion model itself: the streams of each call (`uuids` in its transformer_options; a
  call's rows are one chunk per stream) and the latent's shape;
- the patch embedding (Wan `patch_embedding`, HunyuanVideo `img_in`): the block-stack input,
  cloned, since HunyuanVideo's blocks write into their inputs;
- the first block: whether the stack ran, and on how many tokens (and, for TMM, which frames);
- the head (Wan `head`, HunyuanVideo `final_layer`): the block-stack output.

A full computation stores `head_in - stack_in` per (stream, row) — per frame, too. A skipped
evaluation must hand the head `stack_in + that stream's latest residual`; a frame-pruned one
must hand it, for every reused frame, `stack_in + that frame's latest computed residual`, and
for every computed frame what the model's own blocks give on the computed frames' tokens alone
(`recompute_partials`, run after sampling, so that no SemCache hook sees it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class _Call:
    streams: list
    latent_shape: tuple
    stack_in: torch.Tensor | None = None
    block_in: torch.Tensor | None = None
    block_kwargs: dict | None = None


@dataclass
class ReuseProbe:
    """Use as a context manager around one sampler run of `patcher` (a ModelPatcher)."""

    patcher: object
    atol: float = 1e-5
    skipped: int = 0  # skipped evaluations checked (one per stream chunk)
    computed: int = 0
    partial: int = 0
    reused_frames_checked: int = 0
    errors: list[str] = field(default_factory=list)
    partials: list[dict] = field(default_factory=list)  # for recompute_partials
    _residual: dict = field(default_factory=dict)  # (stream, row) -> (tokens, dim)
    _frame_residual: dict = field(default_factory=dict)  # (stream, row, frame) -> (tpf, dim)
    _call: _Call | None = None
    _handles: list = field(default_factory=list)
    max_error: float = 0.0

    def __enter__(self) -> "ReuseProbe":
        dm = self.patcher.get_model_object("diffusion_model")
        self.model = dm
        self.wan = hasattr(dm, "blocks")
        embed = dm.patch_embedding if self.wan else dm.img_in
        first = dm.blocks[0] if self.wan else dm.double_blocks[0]
        head = dm.head if self.wan else dm.final_layer
        self._handles = [
            dm.register_forward_pre_hook(self._on_call, with_kwargs=True),
            embed.register_forward_hook(self._on_embed),
            first.register_forward_pre_hook(self._on_first_block, with_kwargs=True),
            head.register_forward_pre_hook(self._on_head),
        ]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # -- hooks ------------------------------------------------------------------------------
    def _on_call(self, module, args, kwargs) -> None:
        x = args[0] if args else kwargs["x"]
        options = kwargs.get("transformer_options") or {}
        uuids = list(options.get("uuids") or [None])
        self._call = _Call(uuids, tuple(x.shape))

    def _on_embed(self, module, inputs, output) -> None:
        if self._call is None or self._call.stack_in is not None:
            return
        hidden = output.flatten(2).transpose(1, 2) if output.ndim == 5 else output
        self._call.stack_in = hidden.detach().float().clone()

    def _on_first_block(self, module, args, kwargs) -> None:
        if self._call is None:
            return
        x = args[0] if args else kwargs.get("img", kwargs.get("x"))
        self._call.block_in = x.detach().float().clone()
        self._call.block_kwargs = {k: v for k, v in kwargs.items() if k not in ("img", "x", "transformer_options")}

    def _on_head(self, module, inputs) -> None:
        call, self._call = self._call, None
        if call is None or call.stack_in is None:
            return
        head_in = inputs[0].detach().float()
        stack_in = call.stack_in
        rows = stack_in.shape[0] // len(call.streams)
        tokens = stack_in.shape[1]
        frames = call.latent_shape[2]
        tpf = tokens // frames
        if call.block_in is None:
            kind = "skipped"
        elif call.block_in.shape[1] == tokens:
            kind = "computed"
        else:
            kind = "partial"
        computed_frames = self._computed_frames(call, tpf) if kind == "partial" else list(range(frames))
        if kind == "partial":
            self.partial += 1
            self.partials.append(
                dict(stack_in=stack_in, head_in=head_in.clone(), frames=computed_frames, tpf=tpf,
                     latent_shape=call.latent_shape, kwargs=call.block_kwargs)
            )
        elif kind == "computed":
            self.computed += 1
        for j, stream in enumerate(call.streams):
            for r in range(rows):
                row = j * rows + r
                key = (stream, r)
                if kind == "skipped":
                    residual = self._residual.get(key)
                    if residual is None or residual.shape != stack_in[row].shape:
                        self.errors.append(f"skipped evaluation of stream {stream} row {r} with no computed residual")
                        continue
                    self._compare(head_in[row], stack_in[row] + residual, f"skipped, stream {j} row {r}")
                    self.skipped += 1
                    continue
                for f in range(frames):
                    part = slice(f * tpf, (f + 1) * tpf)
                    if f in computed_frames:
                        self._frame_residual[(stream, r, f)] = head_in[row, part] - stack_in[row, part]
                    else:
                        residual = self._frame_residual.get((stream, r, f))
                        if residual is None:
                            self.errors.append(f"frame {f} reused before it was ever computed")
                            continue
                        self._compare(head_in[row, part], stack_in[row, part] + residual,
                                      f"reused frame {f}, stream {j} row {r}")
                        self.reused_frames_checked += 1
                self._residual[key] = torch.cat(
                    [self._frame_residual[(stream, r, f)] for f in range(frames)], dim=0
                ) if (stream, r, frames - 1) in self._frame_residual else head_in[row] - stack_in[row]

    def _computed_frames(self, call: _Call, tpf: int) -> list[int]:
        """Which frames the first block got, matched in order against the block-stack input."""
        frames, k = [], 0
        sub, full = call.block_in, call.stack_in
        for f in range(call.latent_shape[2]):
            if k * tpf < sub.shape[1] and torch.equal(sub[:, k * tpf : (k + 1) * tpf], full[:, f * tpf : (f + 1) * tpf]):
                frames.append(f)
                k += 1
        if k * tpf != sub.shape[1]:
            self.errors.append(f"first block got {sub.shape[1]} tokens that are not whole frames of the input")
        return frames

    def _compare(self, got: torch.Tensor, expected: torch.Tensor, what: str) -> None:
        error = (got - expected).abs().max().item()
        scale = expected.abs().max().item() + 1e-12
        self.max_error = max(self.max_error, error / scale)
        if error > self.atol * scale:
            self.errors.append(f"{what}: head input differs from stack input + latest residual by {error:.3g}")

    # -- after sampling -----------------------------------------------------------------------
    @torch.no_grad()
    def recompute_partials(self) -> float:
        """Largest relative difference between the computed frames of every pruned evaluation and
        the model's own Wan blocks run, without SemCache, on exactly those frames' tokens."""
        dm = self.model
        worst = 0.0
        for p in self.partials:
            _, _, t, h, w = p["latent_shape"]
            tpf = p["tpf"]
            index = torch.cat([torch.arange(f * tpf, (f + 1) * tpf) for f in p["frames"]])
            stack_in = p["stack_in"]
            freqs = dm.rope_encode(t, h, w, device=stack_in.device, dtype=stack_in.dtype)
            x = stack_in[:, index]
            kwargs = dict(p["kwargs"])
            kwargs["freqs"] = freqs[:, index]
            for block in dm.blocks:
                x = block(x, **kwargs)
            expected = p["head_in"][:, index]
            worst = max(worst, ((x - expected).abs().max() / (expected.abs().max() + 1e-12)).item())
        return worst
