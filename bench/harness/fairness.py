"""A copy of the diffusion model's input, so EasyCache runs as it does in ordinary GPU use.

ComfyUI 0.3.75's EasyCache adds the cached difference into its input tensor *in place* on a
skipped step and returns that tensor. For Wan T2V in fp32 (CPU, or an fp32 GPU run)
`BaseModel._apply_model` passes the very tensor it later uses as `x` in
`calculate_denoised(sigma, model_output, x)`, so the in-place add corrupts every skipped step's
denoised estimate. In fp16/bf16 the `xc.to(dtype)` cast makes a fresh tensor and the bug never
shows. This outermost DIFFUSION_MODEL wrapper gives the model a fresh copy, as that cast would;
it is applied to every configuration (uncached included), costs one small copy per evaluation,
and changes nothing in any method's algorithm. `Method(copy_input=False)` measures the bug.
"""

from __future__ import annotations

from typing import Any

KEY = "semcache_bench_copy_input"


def _copy_input(executor: Any, *args: Any, **kwargs: Any) -> Any:
    return executor(args[0].clone(), *args[1:], **kwargs)


def with_input_copy(model: Any) -> Any:
    """A clone of `model` whose diffusion model always receives a private copy of its input."""
    import comfy.patcher_extension as pe

    patched = model.clone()
    patched.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, KEY, _copy_input)
    return patched
