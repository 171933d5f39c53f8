"""Which engine code a result came from (the engine changes while benchmarks are run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def engine_version() -> str:
    """`<commit>` of the repo, plus "+ uncommitted engine changes" when semcache_core/ is dirty."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "semcache_core", "nodes")
    return commit + (" + uncommitted engine changes" if dirty else "")


def checksum(path: Path) -> str:
    """SHA-256 of a file (the proxy checkpoint a run used)."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
