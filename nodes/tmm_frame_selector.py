"""TMM Frame Selector: MODEL in, clone out that computes only the frames that move."""

from __future__ import annotations

from comfy_api.latest import io

from ..semcache_core.tmm import MOTION_SOURCES, TMMConfig


class TMMFrameSelector(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="TMMFrameSelector",
            display_name="TMM Frame Selector",
            category="advanced/model",
            description=(
                "Speeds up Wan 2.1 / 2.2 and HunyuanVideo 1.0 / 1.5 video sampling by recomputing only "
                "the frames that move: on each computed step the calmest frames reuse their last result. "
                "Works alone or chained with SemCache Patch Model (either order)."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The video model (Wan 2.1 / 2.2, HunyuanVideo 1.0 / 1.5), optionally already patched by SemCache."),
                io.Float.Input(
                    "reuse_ratio", default=0.2, min=0.0, max=0.9, step=0.01,
                    tooltip="Share of latent frames that reuse their last result on each computed step, "
                    "calmest first. 0 = off. The paper's r (share of frames computed) is 1 - reuse_ratio.",
                ),
                io.Int.Input(
                    "max_frame_staleness", default=2, min=1, max=20,
                    tooltip="A frame is recomputed after reusing its result this many computed steps in a row.",
                ),
                io.Combo.Input(
                    "motion_source", options=list(MOTION_SOURCES), default="noisy_latent",
                    tooltip="What motion is measured on: the current noisy latent, or the clean video "
                    "the model predicted at the previous step.",
                ),
                io.Float.Input(
                    "start_percent", default=0.1, min=0.0, max=1.0, step=0.01,
                    tooltip="Before this point of the denoising every frame is computed.",
                ),
            ],
            outputs=[io.Model.Output(tooltip="The model with TMM; connect it to the sampler or to SemCache.")],
        )

    @classmethod
    def execute(
        cls,
        model: io.Model.Type,
        reuse_ratio: float,
        max_frame_staleness: int,
        motion_source: str,
        start_percent: float,
    ) -> io.NodeOutput:
        from ..semcache_core.comfy_glue import patch_tmm

        config = TMMConfig(
            reuse_ratio=reuse_ratio,
            max_frame_staleness=max_frame_staleness,
            motion_source=motion_source,
            start_percent=start_percent,
        )
        return io.NodeOutput(patch_tmm(model, config))
