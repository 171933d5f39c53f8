"""See torchvision/__init__.py: every attribute fails loudly when used."""
from torchvision import _Unavailable


def __getattr__(attr: str) -> _Unavailable:
    return _Unavailable(f"torchvision.transforms.functional.{attr}")
