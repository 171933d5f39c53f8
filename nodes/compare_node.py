"""Compare Videos: two IMAGE batches (reference, candidate) -> report, difference video, numbers on the node."""

from __future__ import annotations

from comfy_api.latest import io

from ..semcache_core.compare import DEFAULT_AMPLIFY


class SemCacheCompare(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemCacheCompare",
            display_name="Compare Videos",
            category="advanced/model",
            description=(
                "Measures how close a cached video is to the uncached one: run the same seed with SemCache "
                "bypassed and with SemCache on (Wan 2.1 / 2.2, HunyuanVideo 1.0 / 1.5), decode both, and connect "
                "them here. Reports PSNR, SSIM, motion ratio and motion error, and makes a difference video."
            ),
            inputs=[
                io.Image.Input(
                    "reference", tooltip="The uncached video (VAE Decode of the run with SemCache bypassed)."
                ),
                io.Image.Input("candidate", tooltip="The cached video (VAE Decode of the same seed with SemCache on)."),
                io.Float.Input(
                    "amplify",
                    default=DEFAULT_AMPLIFY,
                    min=1.0,
                    max=100.0,
                    step=0.5,
                    tooltip="How much the difference video brightens the differences (|candidate - reference| "
                    "times this). Only the picture changes, not the numbers.",
                ),
            ],
            outputs=[
                io.String.Output(
                    "report",
                    display_name="report",
                    tooltip="PSNR, SSIM, motion ratio, motion error and per-frame PSNR as text.",
                ),
                io.Image.Output(
                    "difference",
                    display_name="difference",
                    tooltip="The amplified difference video; connect it to Preview Image or a video save node.",
                ),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(
        cls, reference: io.Image.Type, candidate: io.Image.Type, amplify: float = DEFAULT_AMPLIFY
    ) -> io.NodeOutput:
        from ..semcache_core.compare import compare, difference_video

        result = compare(reference, candidate)  # raises a clear ValueError on mismatched frames / sizes
        report = result.report(amplify)
        shown = {"text": (report,), "semcache_compare": (result.to_dict(),)}
        return io.NodeOutput(report, difference_video(reference, candidate, amplify), ui=shown)
