"""Import-only stand-in for torchvision in the CPU test environment.

PyPI's torchvision wheels do not load beside the CPU torch 2.13.0 build used here
("operator torchvision::nms does not exist"). ComfyUI 0.3.75 imports torchvision at module
level only for Stable Cascade, Cosmos and ACE audio, none of which SemCache's tests or demo
touch. Anything that really uses torchvision fails loudly instead of silently misbehaving.
Installed by scripts/setup_env.sh only when the real torchvision cannot be imported.
"""

__version__ = "0.0.0+semcache-shim"


class _Unavailable:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> "_Unavailable":
        return _Unavailable(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f"{self._name} needs the real torchvision, which this CPU test environment does not "
            "have (see scripts/shims/torchvision)."
        )


def __getattr__(attr: str) -> _Unavailable:
    return _Unavailable(f"torchvision.{attr}")
