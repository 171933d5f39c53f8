"""Progress bars with an ETA for the long bench commands (benchmark, proxy training, fidelity,
real-scale timing), quiet where nobody watches.

A thin wrapper around tqdm (already in ComfyUI's requirements), so every script shows the same
kind of bar and follows the same rule for when to be quiet:

- `SEMCACHE_PROGRESS=1` forces bars on, `SEMCACHE_PROGRESS=0` forces them off;
- otherwise they are off in CI (`CI` set to anything but "", "0" or "false") and when the output
  stream is not a terminal (logs, pipes, pytest capture), and on in an interactive terminal;
- `disable=True` / `quiet=True` from the caller (e.g. a `--quiet` flag) always wins.

Usage::

    from harness.progress import progress
    for prompt in progress(prompts, desc="benchmark", unit="prompt"):
        ...
    with progress(total=steps, desc="train", unit="step") as bar:
        bar.update(1); bar.set_postfix(loss=f"{loss:.4f}")

A disabled bar is a real tqdm object with `disable=True`: `update`, `set_postfix`, `write`
and the context manager still work and print nothing (`write` goes to the stream, as print).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
_OFF = {"", "0", "false", "no", "off"}
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"


def enabled(stream: IO[str] | None = None) -> bool:
    """Whether bars should show on `stream` (stderr by default), per the rules above."""
    forced = os.environ.get("SEMCACHE_PROGRESS")
    if forced is not None and forced.strip() != "":
        return forced.strip().lower() not in _OFF
    if os.environ.get("CI", "").strip().lower() not in _OFF:
        return False
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool | None = None,
    quiet: bool = False,
    file: IO[str] | None = None,
    leave: bool = True,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar (elapsed, ETA, rate) that is silent in CI / off a terminal / when `quiet`.

    `disable=None` applies the rules of `enabled()`; True/False overrides them. Extra keyword
    arguments go to tqdm (e.g. `initial`, `postfix`, `mininterval`).
    """
    stream = file if file is not None else sys.stderr
    off = quiet or (not enabled(stream) if disable is None else disable)
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    kwargs.setdefault("bar_format", BAR_FORMAT if total else None)
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=off, file=stream, leave=leave, **kwargs)


def note(message: str, bar: tqdm | None = None) -> None:
    """Print a log line without breaking a running bar (plain print when there is none or it is off)."""
    if bar is not None and not bar.disable:
        bar.write(message)
    else:
        print(message, flush=True)
