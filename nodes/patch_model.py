"""SemCache Patch Model: MODEL in, patched clone out (the input model is left untouched)."""

from __future__ import annotations

from comfy_api.latest import io

from ..semcache_core.config import CACHE_DEVICES, ERROR_MODELS, REUSE_MODES, THRESHOLD_MODES, SemCacheConfig


class SemCachePatchModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemCachePatchModel",
            display_name="SemCache Patch Model",
            category="advanced/model",
            description=(
                "Speeds up Wan 2.1 / 2.2 and HunyuanVideo 1.0 / 1.5 video sampling by reusing the "
                "transformer's work on steps where the picture barely changes. Put it between the model "
                "loader and the sampler."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The video model to speed up (Wan 2.1 / 2.2, HunyuanVideo 1.0 / 1.5)."),
                io.Float.Input(
                    "threshold_scale", default=0.2, min=0.0, max=10.0, step=0.01,
                    tooltip="How eagerly steps are reused. Higher = faster but less faithful; "
                    "0 = never reuse (output identical to no cache).",
                ),
                io.Float.Input(
                    "start_percent", default=0.1, min=0.0, max=1.0, step=0.01,
                    tooltip="Every step before this point of the denoising is always computed "
                    "(the early steps shape the whole video).",
                ),
                io.Float.Input(
                    "end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                    tooltip="Every step after this point of the denoising is always computed.",
                ),
                io.Int.Input(
                    "max_skip_steps", default=4, min=0, max=100,
                    tooltip="Never reuse more than this many steps in a row.",
                ),
                io.Int.Input(
                    "probe_layers", default=15, min=1, max=100,
                    tooltip="How many transformer layers are watched to judge how strongly the "
                    "prompt drives change (spread over shallow, middle and deep layers).",
                ),
                io.Float.Input(
                    "alpha", default=-1.0, min=-1.0, max=10.0, step=0.01,
                    tooltip="Weight of the 'how much stronger' part of the prompt score. "
                    "-1 = the paper's value for the model (Wan: 0.2, HunyuanVideo: 0.4).",
                ),
                io.Float.Input(
                    "beta", default=-1.0, min=-1.0, max=10.0, step=0.01,
                    tooltip="Weight of the 'how different in direction' part of the prompt score. "
                    "-1 = the paper's value for the model (Wan: 0.8, HunyuanVideo: 0.6).",
                ),
                io.Float.Input(
                    "tanh_scale", default=1.0, min=0.01, max=100.0, step=0.01,
                    tooltip="Softness of the magnitude part of the prompt score; larger = gentler.",
                ),
                io.Combo.Input(
                    "error_model", options=list(ERROR_MODELS), default="input_scaled",
                    tooltip="How the error of reusing a step is estimated. input_scaled: also weigh "
                    "how much the input changed since the last step (recommended). paper: the "
                    "paper's formula taken literally. self_calibrated: input_scaled, scaled during the run "
                    "by how far the estimate was off on the steps it could check.",
                ),
                io.Combo.Input(
                    "cache_device", options=list(CACHE_DEVICES), default="model_device",
                    tooltip="Where the reused results are kept. cpu saves GPU memory at a small "
                    "speed cost.",
                ),
                io.Combo.Input(
                    "threshold_mode", options=list(THRESHOLD_MODES), default="inverse",
                    tooltip="inverse: prompts asking for more motion get less reuse (recommended). "
                    "paper: the paper's literal reading, where they get more.",
                ),
                io.Int.Input(
                    "min_steps", default=10, min=1, max=1000,
                    tooltip="Sampler runs with fewer steps than this (few-step / distilled models) "
                    "run without caching.",
                ),
                io.Float.Input(
                    "target_speedup", default=0.0, min=0.0, max=20.0, step=0.05, optional=True,
                    tooltip="Ask for a speed instead of a threshold: 2 = half the transformer work. The "
                    "threshold is then set during the run (threshold_scale is not used) and reuse still goes "
                    "to the steps with the lowest estimated error. 0 = off. If the step limits do not allow "
                    "that much, the run goes as fast as they allow and the report says so.",
                ),
                io.Combo.Input(
                    "reuse_mode", options=list(REUSE_MODES), default="reuse", optional=True,
                    tooltip="What a skipped step uses. reuse: the transformer's change from the last computed "
                    "step, as is (the paper). forecast_1 / forecast_2: that change extrapolated to this step "
                    "from the last 2 / 3 computed steps (a straight line / a parabola), like TaylorSeer. "
                    "Forecasting keeps 1 / 2 more cached results per prompt branch.",
                ),
            ],
            outputs=[io.Model.Output(tooltip="The model with SemCache; connect it to the sampler.")],
        )

    @classmethod
    def execute(
        cls,
        model: io.Model.Type,
        threshold_scale: float,
        start_percent: float,
        end_percent: float,
        max_skip_steps: int,
        probe_layers: int,
        alpha: float,
        beta: float,
        tanh_scale: float,
        error_model: str,
        cache_device: str,
        threshold_mode: str = "inverse",
        min_steps: int = 10,
        target_speedup: float = 0.0,
        reuse_mode: str = "reuse",
    ) -> io.NodeOutput:
        from ..semcache_core.comfy_glue import patch_model

        config = SemCacheConfig(
            threshold_scale=threshold_scale,
            start_percent=start_percent,
            end_percent=end_percent,
            max_skip_steps=max_skip_steps,
            probe_layers=probe_layers,
            alpha=alpha,
            beta=beta,
            tanh_scale=tanh_scale,
            error_model=error_model,
            cache_device=cache_device,
            threshold_mode=threshold_mode,
            min_steps=min_steps,
            target_speedup=target_speedup,
            reuse_mode=reuse_mode,
        )
        return io.NodeOutput(patch_model(model, config))
