"""Cache Stats: report and timeline of the latest run of a SemCache-patched model."""

from __future__ import annotations

from comfy_api.latest import io


class SemCacheStats(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemCacheStats",
            display_name="Cache Stats",
            category="advanced/model",
            description=(
                "Shows what SemCache did in the latest run of the connected model (Wan 2.1 / 2.2, "
                "HunyuanVideo 1.0 / 1.5): which steps were computed or reused, and the estimated speedup. "
                "Place it after the sampler; the latent passes through unchanged."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The model coming out of SemCache Patch Model."),
                io.Latent.Input("latent", tooltip="The sampler's output, so this runs after sampling."),
            ],
            outputs=[
                io.Latent.Output("latent_out", display_name="latent", tooltip="The same latent, unchanged (connect to VAE Decode)."),
                io.String.Output("report", display_name="report", tooltip="The run report as text."),
                io.Image.Output("plot", display_name="plot", tooltip="Timeline: estimated error vs threshold, computed/skipped steps."),
            ],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, model, latent) -> float:
        return float("nan")  # stats change with every run: never serve a cached result

    @classmethod
    def execute(cls, model: io.Model.Type, latent: io.Latent.Type) -> io.NodeOutput:
        from ..semcache_core.comfy_glue import holder_of, latest_stats
        from ..semcache_core.plot import render_timeline

        if holder_of(model) is None:
            report = "Cache Stats: this model is not patched by SemCache Patch Model."
            stats = None
        else:
            stats = latest_stats(model)
            report = stats.report() if stats else (
                "Cache Stats: the patched model has not run yet (connect this node after the sampler)."
            )
        plot = render_timeline(stats, report.splitlines()[0])
        # "text" is what core nodes use for text previews; "semcache_stats" feeds the web timeline.
        shown = {"text": (report,), "semcache_stats": (stats.to_dict() if stats else None,)}
        return io.NodeOutput(latent, report, plot, ui=shown)
