"""Import-only stand-in for torchaudio, for running the tests against newer ComfyUI checkouts.

ComfyUI >= v0.20 imports torchaudio unconditionally on the comfy.sd path (LTX audio VAE), and
PyPI has no torchaudio wheel for the CPU torch 2.13.0 used here. SemCache's tests touch no
audio model; anything that really uses torchaudio fails loudly. Installed by
scripts/setup_env.sh only when COMFYUI_DIR points at another ComfyUI and torchaudio is missing.
"""

__version__ = "0.0.0+semcache-shim"


class _Unavailable:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> "_Unavailable":
        return _Unavailable(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} needs the real torchaudio, which this test environment does not have.")

    def __mro_entries__(self, bases):  # usable as a base class at import time; fails when called
        return (object,)


def __getattr__(attr: str) -> _Unavailable:
    return _Unavailable(f"torchaudio.{attr}")
