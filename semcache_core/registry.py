"""Stats of the latest run of each patched model, looked up by the Cache Stats node.

Keyed by a string the patch node stores in its holder, so it survives ModelPatcher.clone()
whether clone deep-copies the holder (0.3.75) or shares it (newer). Bounded: old entries go.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .stats import RunStats

_MAX_ENTRIES = 32
_lock = threading.Lock()
_latest: OrderedDict[str, RunStats] = OrderedDict()


def publish(key: str, stats: RunStats) -> None:
    with _lock:
        _latest[key] = stats
        _latest.move_to_end(key)
        while len(_latest) > _MAX_ENTRIES:
            _latest.popitem(last=False)


def latest(key: str) -> RunStats | None:
    with _lock:
        return _latest.get(key)
