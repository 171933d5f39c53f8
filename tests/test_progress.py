"""bench/harness/progress.py: a bar with an ETA on a terminal, silent in CI and off a terminal."""

from __future__ import annotations

import io
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from harness.progress import enabled, progress  # noqa: E402


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_shows_eta_on_a_terminal(monkeypatch):
    monkeypatch.delenv("SEMCACHE_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    out = _Tty()
    assert enabled(out)
    assert list(progress(range(3), desc="bench", unit="run", file=out, mininterval=0)) == [0, 1, 2]
    text = out.getvalue()
    assert "bench" in text and "3/3 run" in text and "<00:00" in text  # elapsed<remaining: the ETA


def test_quiet_in_ci_off_a_terminal_and_on_request(monkeypatch):
    monkeypatch.delenv("SEMCACHE_PROGRESS", raising=False)
    monkeypatch.setenv("CI", "1")
    for stream in (_Tty(), io.StringIO()):
        with progress(total=4, desc="train", file=stream) as bar:
            bar.update(4)
            bar.set_postfix(loss="0.1")
        assert stream.getvalue() == ""
    monkeypatch.setenv("CI", "0")
    assert not enabled(io.StringIO()) and enabled(_Tty())  # a pipe / log file gets no bar
    quiet = _Tty()
    list(progress(range(2), file=quiet, quiet=True))
    assert quiet.getvalue() == ""
    monkeypatch.setenv("SEMCACHE_PROGRESS", "1")  # forced on, even in CI and into a log
    monkeypatch.setenv("CI", "true")
    forced = io.StringIO()
    list(progress(range(2), desc="fidelity", file=forced, mininterval=0))
    assert "fidelity" in forced.getvalue() and "2/2" in forced.getvalue()
