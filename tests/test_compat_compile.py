"""torch.compile with SemCache: our code is never traced, the blocks stay compiled (issue 14, P7).

Compiled through ComfyUI's own `comfy_api.torch_helpers.set_torch_compile_wrapper` (what core
`TorchCompileModel` calls; `keys=` is what KJNodes' "compile transformer blocks only" passes),
with a counting backend instead of inductor: dynamo's tracing, guards and recompiles are the
same for every backend, and the count is exact. Inductor timings are in bench/compile_timing.py.
"""

from __future__ import annotations

import logging

import pytest
import torch

from sampling import BlockCounter, cond, latent, sample
from test_exactness import patched, stats

LAT = (1, 16, 3, 8, 8)
RUNS = ((10, 21), (12, 22), (14, 23))  # (steps, prompt seed): new prompt and step count every run
SETTINGS = dict(threshold_scale=1.0, min_steps=4)
PACKAGE_DIR = "semcache_core"


class GraphCounter:
    """A torch.compile backend that keeps every graph dynamo hands it and runs it as is."""

    def __init__(self) -> None:
        self.graphs: list[torch.fx.GraphModule] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list) -> object:
        self.graphs.append(gm)
        return gm.forward

    def traced_our_code(self) -> list[str]:
        """Graph ops whose user stack passes through SemCache: dynamo traced us."""
        found = []
        for gm in self.graphs:
            for node in gm.graph.nodes:
                trace = str(node.meta.get("stack_trace") or "")
                if PACKAGE_DIR in trace:
                    found.append(trace.strip().splitlines()[-2] if "\n" in trace else trace)
                    break
        return found


class DynamoWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def dynamo():
    import torch._dynamo

    torch._dynamo.reset()
    handler = DynamoWarnings()
    logger = logging.getLogger("torch._dynamo")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        torch._dynamo.reset()


def compiled(model, backend: GraphCounter, blocks: bool = False):
    from comfy_api.torch_helpers import set_torch_compile_wrapper

    m = model.clone()
    n = len(m.get_model_object("diffusion_model").blocks)
    keys = [f"diffusion_model.blocks.{i}" for i in range(n)] if blocks else None
    set_torch_compile_wrapper(m, backend=backend, keys=keys)
    return m


def run_all(model, backend: GraphCounter | None = None) -> tuple[list, list[int]]:
    """The RUNS on `model`: (output, real blocks per step, skipped steps) each, and graphs so far."""
    results, graphs = [], []
    for steps, seed in RUNS:
        with BlockCounter(model) as counter:
            out = sample(model, latent(LAT), steps=steps, positive=cond(seed), callback=counter.callback)
        results.append((out, counter.per_step, stats(model).skipped))
        graphs.append(len(backend.graphs) if backend else 0)
    return results, graphs


@pytest.mark.parametrize("placement", ["compile_before", "compile_after", "compile_blocks"])
def test_compiled_semcache_matches_eager_without_tracing_us(pack, wan_models, dynamo, placement):
    base = wan_models["t2v"]
    reference, _ = run_all(patched(pack, base, **SETTINGS))  # eager + SemCache

    backend = GraphCounter()
    if placement == "compile_after":
        model = compiled(patched(pack, base, **SETTINGS), backend)
    else:
        model = patched(pack, compiled(base, backend, blocks=placement == "compile_blocks"), **SETTINGS)
    results, counts = run_all(model, backend)

    assert backend.graphs, "nothing was compiled: the test does not test compile"
    assert backend.traced_our_code() == [], "dynamo traced SemCache's code"
    hits = [m for m in dynamo.messages if "recompile_limit" in m or "cache_size_limit" in m]
    assert hits == [], hits
    # new prompt and a longer schedule: no new graph (steps and sigmas are not baked into guards)
    assert counts[2] == counts[1], f"graphs per run: {counts}"
    for (out, per_step, skipped), (ref_out, ref_per_step, ref_skipped) in zip(results, reference, strict=True):
        n = len(base.get_model_object("diffusion_model").blocks)
        assert skipped > 0 and per_step.count(0) == skipped  # skipping is real under compile
        assert per_step == ref_per_step and skipped == ref_skipped  # the same decisions as eager
        assert all(c in (0, n) for c in per_step)
        torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
