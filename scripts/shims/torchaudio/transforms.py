"""See torchaudio/__init__.py: every attribute fails loudly when used."""
from torchaudio import _Unavailable


def __getattr__(attr: str) -> _Unavailable:
    return _Unavailable(f"torchaudio.transforms.{attr}")
