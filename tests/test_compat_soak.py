"""A long-running server: 25 queued runs in a row, one interrupted through /interrupt (issue 14, P8).

Prompts, latent sizes and step counts change from run to run (five configurations, in a cycle);
one of them is a Wan VACE run (two chained core WanVaceToVideo nodes: two control videos at
strengths 0.7 and 1.3, with a reference image), cached with its hint blocks (issue 20).
After every cycle a test-only node in the same server process measures live tensor bytes (every
tensor storage reachable by the garbage collector, counted once), the process RSS and whatever
SemCache could have left behind (run or evaluation objects alive, hooks or run state on the
loaded model). Nothing may grow after the first cycle, the interrupted run leaves nothing
behind, and a configuration gives the same latent before and after the interrupt.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import torch

from server_harness import ComfyServer, output_files, parse_summary, prepare_base_dir, wan_t2v_graph

# (seed, steps, width, height, pixel frames[, "vace"]): a new prompt, size and step count every run
CONFIGS = [(11, 12, 64, 64, 9), (12, 16, 96, 64, 9), (15, 12, 64, 64, 9, "vace"), (13, 10, 64, 64, 13),
           (14, 14, 64, 96, 5)]
VACE_CKPT, TINY_VAE = "tiny_wan_vace.safetensors", "tiny_wan_vae.safetensors"
CYCLES = 5
INTERRUPT_AFTER_CYCLE = 2  # run 11 of 20 is the interrupted one (it replaces the cycle's last run)
PROBE_NODE = '''"""Test-only node (tests/test_compat_soak.py): memory and SemCache leftovers of this process."""

import gc
import json
import os

RUN_STATE_TYPES = {"RunState", "Evaluation", "WindowController", "ErrorAccumulator", "DecisionBoard", "_Begun"}


class SemCacheTestMemory:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "tag": ("INT", {"default": 0, "min": 0, "max": 10**6})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "measure"
    CATEGORY = "_for_testing"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")

    def measure(self, model, tag):
        import torch

        gc.collect()
        storages = {}
        leftovers = []
        for obj in gc.get_objects():
            try:
                if isinstance(obj, torch.Tensor) and obj.device.type != "meta":
                    storage = obj.untyped_storage()
                    storages[storage.data_ptr()] = storage.nbytes()
                elif type(obj).__name__ in RUN_STATE_TYPES and "semcache_core" in type(obj).__module__:
                    leftovers.append(type(obj).__name__)
            except Exception:
                pass
        import comfy.model_management

        # `model` is the loaded model the SemCache node took as its input: it must carry nothing of
        # ours, nor may any model ComfyUI keeps loaded
        models = [model.get_model_object("diffusion_model")]
        models += [m.model.get_model_object("diffusion_model") for m in comfy.model_management.current_loaded_models
                   if m.model is not None and hasattr(m.model, "get_model_object")]
        for diffusion_model in {id(m): m for m in models}.values():
            for name, module in diffusion_model.named_modules():
                if module._forward_hooks or module._forward_pre_hooks:
                    leftovers.append("hook on " + name)
                # SemCache's between-block gates (or anything else of its) left on the model
                if "semcache" in type(module).__module__ or any(
                    "semcache" in type(value).__module__ for value in vars(module).values()
                ):
                    leftovers.append("SemCache object on " + (name or type(diffusion_model).__name__))
        for kind, by_key in model.wrappers.items():
            if "semcache" in by_key:
                leftovers.append(kind + " wrapper on the input model")
        options = model.model_options.get("transformer_options", {})
        for key in ("semcache", "semcache_run"):
            if key in options:
                leftovers.append(key + " on the input model")
        for key, slot in options.get("patches_replace", {}).get("dit", {}).items():
            if "semcache" in type(slot).__module__:
                leftovers.append("block slot %s on the input model" % (key,))
        try:  # hand freed heap back to the OS first, so RSS shows live memory, not glibc's free lists
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        report = {"tensor_bytes": sum(storages.values()), "rss": rss, "leftovers": leftovers}
        return {"ui": {"text": [json.dumps(report)]}}


NODE_CLASS_MAPPINGS = {"SemCacheTestMemory": SemCacheTestMemory}
'''


def run_graph(config: tuple, tag: str) -> dict:
    seed, steps, width, height, length = config[:5]
    graph = wan_t2v_graph(seed=seed, steps=steps, width=width, height=height, length=length, prefix=f"soak/{tag}")
    if config[5:] == ("vace",):
        graph = vace_graph(graph, width, height, length)
    return graph


def vace_graph(graph: dict, width: int, height: int, length: int) -> dict:
    """The same graph on the tiny VACE model: two chained core WanVaceToVideo nodes (control videos
    at strengths 0.7 and 1.3, one reference image) give the conditioning and the latent; the
    reference frame is trimmed after Cache Stats, as in ComfyUI's VACE workflows."""
    graph["1"]["inputs"]["unet_name"] = VACE_CKPT
    size = {"width": width, "height": height}
    graph.update({
        "20": {"class_type": "VAELoader", "inputs": {"vae_name": TINY_VAE}},
        "21": {"class_type": "EmptyImage", "inputs": {**size, "batch_size": length, "color": 0x3366CC}},
        "22": {"class_type": "EmptyImage", "inputs": {**size, "batch_size": length, "color": 0xCC9933}},
        "23": {"class_type": "EmptyImage", "inputs": {**size, "batch_size": 1, "color": 0x22AA44}},
        "24": {"class_type": "WanVaceToVideo", "inputs": {
            "positive": ["3", 0], "negative": ["4", 0], "vae": ["20", 0], **size, "length": length,
            "batch_size": 1, "strength": 0.7, "control_video": ["21", 0], "reference_image": ["23", 0]}},
        "25": {"class_type": "WanVaceToVideo", "inputs": {
            "positive": ["24", 0], "negative": ["24", 1], "vae": ["20", 0], **size, "length": length,
            "batch_size": 1, "strength": 1.3, "control_video": ["22", 0], "reference_image": ["23", 0]}},
        "26": {"class_type": "TrimVideoLatent", "inputs": {"samples": ["6", 0], "trim_amount": ["25", 3]}},
    })  # fmt: skip
    graph["5"]["inputs"].update(positive=["25", 0], negative=["25", 1], latent_image=["25", 2])
    graph["7"]["inputs"]["samples"] = ["26", 0]
    return graph


def measure(server: ComfyServer, tag: int) -> dict:
    graph = {
        "1": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "tiny_wan_t2v.safetensors", "weight_dtype": "default"},
        },
        "90": {"class_type": "SemCacheTestMemory", "inputs": {"model": ["1", 0], "tag": tag}},
    }
    entry, _ = server.run(graph)
    return json.loads(entry["outputs"]["90"]["text"][0])


def latent_of(server: ComfyServer, entry: dict) -> torch.Tensor:
    from safetensors.torch import load_file

    (path,) = output_files(server, entry, "7", "latents")
    return load_file(str(path))["latent_tensor"]


@pytest.fixture(scope="module")
def soak_server(tmp_path_factory):
    from tiny_models import build_wan, build_wan_vae

    base = prepare_base_dir(tmp_path_factory.mktemp("soak_base"))
    (base / "custom_nodes" / "semcache_soak_probe.py").write_text(PROBE_NODE)
    build_wan("vace", base / "models" / "diffusion_models" / VACE_CKPT)
    build_wan_vae(base / "models" / "vae" / TINY_VAE)
    server = ComfyServer(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()


INTERRUPTED_STEPS = 400
PROGRESS_RE = re.compile(rf"\b(\d+)/{INTERRUPTED_STEPS} \[")  # the sampler's progress bar in the log


def sampler_step_in_log(server: ComfyServer, since: int) -> int:
    """The latest step of the 400-step sampler's progress bar logged after byte `since`, or -1."""
    steps = [int(m) for m in PROGRESS_RE.findall(server.log_text()[since:])]
    return max(steps, default=-1)


def interrupt_mid_sampling(server: ComfyServer) -> tuple[dict, str]:
    """Queue a long run and POST /interrupt once its sampler has logged a few steps (so the interrupt
    lands inside the sampler, far from its end); its history entry and the log written meanwhile."""
    since = len(server.log_text())
    prompt_id = server.queue(run_graph((99, INTERRUPTED_STEPS, 64, 64, 9), "interrupted"))
    deadline = time.monotonic() + 120
    while sampler_step_in_log(server, since) < 3:
        assert time.monotonic() < deadline, "the sampler never logged progress\n" + server.log_tail()
        time.sleep(0.05)
    server.post("/interrupt", {})
    entry = server.wait(prompt_id)
    return entry, server.log_text()[since:]


def test_twenty_runs_with_an_interrupt_leave_nothing_and_do_not_grow(soak_server):
    server = soak_server
    memory, latents, vace_latents, vace_runs, interrupted = [], {}, {}, [], None
    for cycle in range(CYCLES):
        for k, config in enumerate(CONFIGS):
            if cycle == INTERRUPT_AFTER_CYCLE and k == len(CONFIGS) - 1:
                interrupted = interrupt_mid_sampling(server)
                continue
            entry, _ = server.run(run_graph(config, f"c{cycle}k{k}"))
            if k == 0:
                latents[cycle] = latent_of(server, entry)
            if config[5:] == ("vace",):
                vace_latents[cycle] = latent_of(server, entry)
                vace_runs.append(parse_summary(entry["outputs"]["6"]["text"][0]))
        memory.append(measure(server, cycle))
    print("soak memory per cycle:", [(m["tensor_bytes"], m["rss"]) for m in memory])

    interrupted, interrupted_log = interrupted
    status = interrupted["status"]
    assert status["status_str"] == "error"
    stopped = [m[1] for m in status["messages"] if m[0] == "execution_interrupted"]
    assert stopped and stopped[0]["node_id"] == "5", status  # inside the KSampler node
    # and inside the sampler loop: SemCache's run of it recorded some, not all, steps and ended early
    (summary,) = [line for line in interrupted_log.splitlines() if "steps " in line and "ended early" in line]
    steps_done = int(re.search(r"steps (\d+):", summary).group(1))
    assert 3 <= steps_done < INTERRUPTED_STEPS and "Interrupt" in summary, summary
    assert all(m["leftovers"] == [] for m in memory), memory
    # the same inputs give the same output before and after the interrupt
    assert torch.equal(latents[0], latents[CYCLES - 1]) and torch.equal(latents[1], latents[CYCLES - 1])
    # the VACE runs: cached (steps skipped, named as VACE), the same latent every cycle
    assert len(vace_runs) == CYCLES and all(r["family"] == "Wan VACE" and r["skipped"] > 0 for r in vace_runs), vace_runs
    assert vace_latents[0].shape[2] == 3 and all(torch.equal(vace_latents[0], v) for v in vace_latents.values())
    # no growth after the first cycle: tensor bytes exactly, RSS within allocator noise
    # (v0.33 holds fewer bytes after the interrupted cycle: no outputs of that run are cached)
    assert all(m["tensor_bytes"] <= memory[1]["tensor_bytes"] for m in memory[1:]), memory
    assert memory[-1]["tensor_bytes"] == memory[1]["tensor_bytes"], memory
    # (a leak grows every cycle, so the lower of the last two cycles shows it; a one-off allocator
    # spike in one cycle does not count)
    assert min(m["rss"] for m in memory[-2:]) - memory[1]["rss"] < 32 * 2**20, memory
