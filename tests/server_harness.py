"""A real headless ComfyUI server with the pack installed, for end-to-end tests and the demo.

`prepare_base_dir()` lays out a ComfyUI base directory (`--base-directory`):
  custom_nodes/semcache             -> symlink to this repository (installed like a user would)
  custom_nodes/semcache_test_nodes.py  test-only node: random CONDITIONING from a seed (there is
                                    no text encoder checkpoint); never part of the pack
  models/diffusion_models/<tiny Wan T2V checkpoint>
  frontend/index.html               minimal --front-end-root (the real frontend is not installed)
`ComfyServer.start()` runs `main.py --cpu` on a free 127.0.0.1 port and waits for /system_stats;
every wait is bounded and `stop()` ends the process it started (SIGTERM, then SIGKILL).
Only the standard library talks HTTP, so the harness needs nothing beyond ComfyUI's own deps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from comfy_env import COMFY_DIR, REPO

PACK_DIR_NAME = "semcache"
TINY_T2V_NAME = "tiny_wan_t2v.safetensors"
START_TIMEOUT_S = 60.0
PROMPT_TIMEOUT_S = 120.0

# The input names of SemCachePatchModel are a contract (saved workflows depend on them).
PATCH_MODEL_INPUTS = (
    "model",
    "threshold_scale",
    "start_percent",
    "end_percent",
    "max_skip_steps",
    "probe_layers",
    "alpha",
    "beta",
    "tanh_scale",
    "error_model",
    "cache_device",
    "threshold_mode",
    "min_steps",
    "target_speedup",
    "reuse_mode",
)

SUMMARY_RE = re.compile(
    r"SemCache \[(?P<family>[^\]]+)\] steps (?P<steps>\d+): computed (?P<computed>\d+)"
    r"(?: \((?P<partial>\d+) partial\))?, skipped (?P<skipped>\d+)"
)

TEST_NODES_SOURCE = '''"""Test-only ComfyUI nodes written by tests/server_harness.py (not part of the SemCache pack)."""

import torch


class SemCacheTestConditioning:
    """Random Wan-shaped text conditioning from a seed: stands in for a text encoder in tests."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1}),
                "tokens": ("INT", {"default": 512, "min": 1, "max": 4096}),
                "dim": ("INT", {"default": 4096, "min": 1, "max": 16384}),
            }
        }

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "_for_testing"

    def make(self, seed, tokens=512, dim=4096):
        generator = torch.Generator().manual_seed(seed)
        return ([[torch.randn(1, tokens, dim, generator=generator), {}]],)


_BLOCK_COUNTS = []  # real block executions per model evaluation, since the last SemCacheTestBlockCounter
_BLOCK_HOOKS = []


class SemCacheTestBlockCounter:
    """Puts forward hooks on the model's own blocks (not SemCache's): counts real block executions
    per evaluation until SemCacheTestBlockReport reads and removes them. Passes the model through."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "install"
    CATEGORY = "_for_testing"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")

    def install(self, model):
        for handle in _BLOCK_HOOKS:
            handle.remove()
        _BLOCK_HOOKS.clear()
        _BLOCK_COUNTS.clear()
        dm = model.get_model_object("diffusion_model")
        blocks = list(dm.blocks) if hasattr(dm, "blocks") else [*dm.double_blocks, *dm.single_blocks]

        def opened(module, args):
            _BLOCK_COUNTS.append(0)

        def ran(module, args, output):
            _BLOCK_COUNTS[-1] += 1

        _BLOCK_HOOKS.append(dm.register_forward_pre_hook(opened))
        _BLOCK_HOOKS.extend(block.register_forward_hook(ran) for block in blocks)
        return (model,)


class SemCacheTestBlockReport:
    """Reports the counts (JSON: blocks, per_evaluation) once the sampler's LATENT exists; removes the hooks."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"latent": ("LATENT",), "model": ("MODEL",)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "report"
    CATEGORY = "_for_testing"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")

    def report(self, latent, model):
        import json

        dm = model.get_model_object("diffusion_model")
        blocks = len(dm.blocks) if hasattr(dm, "blocks") else len(dm.double_blocks) + len(dm.single_blocks)
        for handle in _BLOCK_HOOKS:
            handle.remove()
        _BLOCK_HOOKS.clear()
        counts = list(_BLOCK_COUNTS)
        return {"ui": {"text": [json.dumps({"blocks": blocks, "per_evaluation": counts})]}}


NODE_CLASS_MAPPINGS = {
    "SemCacheTestConditioning": SemCacheTestConditioning,
    "SemCacheTestBlockCounter": SemCacheTestBlockCounter,
    "SemCacheTestBlockReport": SemCacheTestBlockReport,
}
NODE_DISPLAY_NAME_MAPPINGS = {"SemCacheTestConditioning": "SemCache Test Conditioning"}
'''

FRONTEND_INDEX = "<!doctype html><title>ComfyUI (headless test)</title><p>headless test server</p>\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_base_dir(base: Path, build_model: bool = True) -> Path:
    """Create (or refresh) a ComfyUI base directory with the pack, the test nodes and a tiny Wan."""
    base = Path(base)
    custom_nodes = base / "custom_nodes"
    custom_nodes.mkdir(parents=True, exist_ok=True)
    link = custom_nodes / PACK_DIR_NAME
    if link.is_symlink() or link.exists():
        if not (link.is_symlink() and link.resolve() == REPO):
            raise RuntimeError(f"{link} exists and is not a symlink to {REPO}")
    else:
        link.symlink_to(REPO, target_is_directory=True)
    (custom_nodes / "semcache_test_nodes.py").write_text(TEST_NODES_SOURCE)
    frontend = base / "frontend"
    frontend.mkdir(exist_ok=True)
    (frontend / "index.html").write_text(FRONTEND_INDEX)
    models = base / "models" / "diffusion_models"
    models.mkdir(parents=True, exist_ok=True)
    if build_model:
        from comfy_env import bootstrap

        bootstrap()
        from tiny_models import build_wan

        build_wan("t2v", models / TINY_T2V_NAME)
    return base


PROXY_NODES_DIR_NAME = "semcache_proxy"
PROXY_CHECKPOINT_NAME = "semcache_proxy_wan.safetensors"


def install_proxy_nodes(base: Path) -> Path:
    """Put the proxy model's nodes (bench/proxy/comfy_nodes: text encoder and decoder) into
    `base`/custom_nodes as `semcache_proxy` (a symlink), as the proxy demo workflow needs them."""
    source = REPO / "bench" / "proxy" / "comfy_nodes"
    if not (source / "__init__.py").is_file():
        raise RuntimeError(f"no proxy nodes at {source}")
    link = Path(base) / "custom_nodes" / PROXY_NODES_DIR_NAME
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() and not link.exists():
        link.symlink_to(source, target_is_directory=True)
    return link


def write_user_settings(base: Path, settings: dict) -> Path:
    """Frontend settings of the default user (`user/default/comfy.settings.json`), merged."""
    path = Path(base) / "user" / "default" / "comfy.settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(settings)
    path.write_text(json.dumps(current, indent=2))
    return path


class ServerError(RuntimeError):
    pass


class ComfyServer:
    """One `python main.py` process; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        base: Path,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        threads: int | None = 1,
        front_end_root: Path | None = None,
    ):
        """`threads`: torch/OpenMP threads of the server (None = torch's default). 1 by default: the
        tiny models gain nothing from more, and with other torch processes busy on a 2-core machine
        OpenMP oversubscription made a 30-step run 7-30x slower (17-42 s instead of 2.6 s).
        `front_end_root`: a real frontend's static folder (tests/browser/driver.py finds them) instead of the
        minimal headless page, for browser tests."""
        self.base = Path(base)
        self.front_end_root = Path(front_end_root).resolve() if front_end_root else self.base / "frontend"
        self.port = port or free_port()
        self.extra_args = tuple(extra_args)
        self.threads = threads
        self.log_path = self.base / "server.log"
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self.client_id = uuid.uuid4().hex

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "main.py", "--cpu",
            "--listen", "127.0.0.1", "--port", str(self.port),
            "--base-directory", str(self.base),
            "--front-end-root", str(self.front_end_root),
            "--database-url", "sqlite:///:memory:",
            "--disable-auto-launch",
            *self.extra_args,
        ]  # fmt: skip

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT_S) -> ComfyServer:
        if self.proc is not None:
            raise ServerError("server already started")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PYTHONPATH", None)  # ComfyUI's own folder must own the top-level `nodes` module
        if self.threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(), cwd=COMFY_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"ComfyUI exited with code {self.proc.returncode} during start\n{self.log_tail()}")
            try:
                self.get("/system_stats", timeout=2.0)
                break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"ComfyUI did not answer /system_stats within {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.25)
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        return proc.returncode

    def __enter__(self) -> ComfyServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- HTTP ----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, payload: Any = None, timeout: float = 10.0) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            raise ServerError(f"{method} {path} -> HTTP {err.code}: {err.read().decode(errors='replace')}") from err
        return json.loads(body) if body else None

    def get(self, path: str, timeout: float = 10.0) -> Any:
        return self._request("GET", path, timeout=timeout)

    def post(self, path: str, payload: Any, timeout: float = 10.0) -> Any:
        return self._request("POST", path, payload, timeout=timeout)

    # -- prompts -------------------------------------------------------------------------------
    def queue(self, graph: dict) -> str:
        answer = self.post("/prompt", {"prompt": graph, "client_id": self.client_id})
        if answer.get("node_errors"):
            raise ServerError(f"prompt rejected: {answer['node_errors']}")
        return answer["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = PROMPT_TIMEOUT_S) -> dict:
        """The /history entry of a finished prompt (whatever its status)."""
        deadline = time.monotonic() + timeout
        quote = urllib.parse.quote(prompt_id)
        while True:
            entry = self.get(f"/history/{quote}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(f"ComfyUI died while running {prompt_id}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                try:
                    self.post("/interrupt", {})
                except (OSError, ServerError):
                    pass
                raise ServerError(f"prompt {prompt_id} did not finish within {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.1)

    def run(self, graph: dict, timeout: float = PROMPT_TIMEOUT_S) -> tuple[dict, float]:
        """Queue `graph`, wait for it, raise on failure; returns (history entry, wall seconds)."""
        started = time.monotonic()
        prompt_id = self.queue(graph)
        entry = self.wait(prompt_id, timeout)
        seconds = time.monotonic() - started
        status = entry["status"]
        if status.get("status_str") != "success":
            errors = [m for m in status.get("messages", []) if m[0] == "execution_error"]
            raise ServerError(f"prompt {prompt_id} failed: {errors or status}\n{self.log_tail()}")
        return entry, seconds

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "--- ComfyUI log (tail) ---\n" + "\n".join(self.log_text().splitlines()[-lines:])


def wan_t2v_graph(
    ckpt_name: str = TINY_T2V_NAME,
    seed: int = 0,
    steps: int = 30,
    cfg: float = 5.0,
    semcache: dict | None = None,
    cached: bool = True,
    width: int = 64,
    height: int = 64,
    length: int = 9,
    prefix: str = "semcache_test",
    save_plot: bool = False,
) -> dict:
    """API-format graph: UNETLoader -> [SemCachePatchModel] -> KSampler -> [SemCacheStats] -> SaveLatent.

    Node ids are stable ("1" loader, "2" patch, "5" sampler, "6" stats, "7" save) so tests can
    find their outputs. `semcache` overrides SemCachePatchModel inputs; `cached=False` leaves
    the patch and stats nodes out (the same graph, uncached).
    """
    graph: dict[str, dict] = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": ckpt_name, "weight_dtype": "default"}},
        "3": {"class_type": "SemCacheTestConditioning", "inputs": {"seed": seed + 1, "tokens": 512, "dim": 4096}},
        "4": {"class_type": "SemCacheTestConditioning", "inputs": {"seed": seed + 2, "tokens": 512, "dim": 4096}},
        "8": {
            "class_type": "EmptyHunyuanLatentVideo",
            "inputs": {"width": width, "height": height, "length": length, "batch_size": 1},
        },
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["2", 0] if cached else ["1", 0],
                "seed": seed,
                "steps": steps,
                "cfg": cfg,
                "sampler_name": "euler",
                "scheduler": "simple",
                "positive": ["3", 0],
                "negative": ["4", 0],
                "latent_image": ["8", 0],
                "denoise": 1.0,
            },
        },
        "7": {
            "class_type": "SaveLatent",
            "inputs": {"samples": ["6", 0] if cached else ["5", 0], "filename_prefix": f"{prefix}/latent"},
        },
    }
    if cached:
        inputs = {
            "model": ["1", 0],
            "threshold_scale": 1.0,
            "start_percent": 0.1,
            "end_percent": 1.0,
            "max_skip_steps": 4,
            "probe_layers": 15,
            "alpha": -1.0,
            "beta": -1.0,
            "tanh_scale": 1.0,
            "error_model": "input_scaled",
            "cache_device": "model_device",
            "threshold_mode": "inverse",
            "min_steps": 10,
            "target_speedup": 0.0,
            "reuse_mode": "reuse",
        }
        inputs.update(semcache or {})
        graph["2"] = {"class_type": "SemCachePatchModel", "inputs": inputs}
        graph["6"] = {"class_type": "SemCacheStats", "inputs": {"model": ["2", 0], "latent": ["5", 0]}}
        if save_plot:
            graph["9"] = {
                "class_type": "SaveImage",
                "inputs": {"images": ["6", 2], "filename_prefix": f"{prefix}/plot"},
            }
    return graph


def stats_text(entry: dict, node_id: str = "6") -> str:
    """The report the Cache Stats node sent to the UI (`{"text": [report]}`)."""
    output = entry["outputs"][node_id]
    return output["text"][0]


def parse_summary(line: str) -> dict | None:
    match = SUMMARY_RE.search(line)
    if not match:
        return None
    found = match.groupdict()
    return {k: (v if k == "family" else int(v or 0)) for k, v in found.items()}


def output_files(server: ComfyServer, entry: dict, node_id: str, key: str) -> list[Path]:
    """Files a save node reported in the history (`latents` for SaveLatent, `images` for SaveImage)."""
    files = []
    for item in entry["outputs"].get(node_id, {}).get(key, []):
        files.append(server.base / item.get("type", "output") / item.get("subfolder", "") / item["filename"])
    return files


try:  # the pytest fixture; the demo imports this module without needing pytest
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def comfy_server(tmp_path_factory):
        """A started server with the pack and a tiny Wan T2V; stopped (SIGTERM, then SIGKILL) at the end.

        Session-scoped: a module that wants it imports it (`from server_harness import comfy_server`);
        to share one server across modules, import it in conftest.py instead.
        """
        base = prepare_base_dir(tmp_path_factory.mktemp("comfy_base"))
        server = ComfyServer(base)
        try:
            server.start()
            yield server
        finally:
            server.stop()
