"""Mutation check: does the test suite notice a wrong cache? (Not run in CI: it runs the suite once
per mutation.)

Each mutation is one deliberate breakage of the pack, applied to a temporary copy of this
repository (tracked and untracked-but-not-ignored files; .venv, .comfyui and .cache are symlinked
to this checkout's). Every edit is located by an anchored source line that must occur exactly once;
if an anchor is missing (someone changed that code), the check stops and says which, instead of
silently testing an unbroken pack. Then the tests run against the copy, and a table shows which
tests caught each mutation. Exit status 1 if any mutation went uncaught (or an anchor is missing).

  .venv/bin/python scripts/mutation_check.py                       # the full suite, every mutation
  .venv/bin/python scripts/mutation_check.py --tests tests/test_reuse_exact.py tests/test_limits.py
  .venv/bin/python scripts/mutation_check.py --only zero_residual --pytest-args "-k 'not fresh'"

A baseline run of the unmutated copy comes first (unless --no-baseline): tests that already fail
there are not counted as catching anything.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINKED = (".venv", ".comfyui", ".cache")


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    path: str
    anchor: str  # one whole source line (stripped) that must occur exactly once
    replacement: str  # replaces the anchor's text on that line (indentation kept)


MUTATIONS = [
    Mutation(
        "zero_residual", "a skipped step reuses a zero residual (returns the block-stack input)",
        "semcache_core/state.py",
        "hidden = x + self.cached_residual_batch(x)",
        "hidden = x + 0 * self.cached_residual_batch(x)",
    ),
    Mutation(
        "other_stream", "a stream reuses another CFG stream's residual",
        "semcache_core/state.py",
        "r = self.run.residual(stream, self.window, self.chunk(x, j))",
        "r = self.run.residual(next((s for s, _ in self.run.residuals._residuals if s != stream), stream), "
        "self.window, self.chunk(x, j))",
    ),
    Mutation(
        "no_release", "run.release() is skipped at the end of a sampler call",
        "semcache_core/comfy_glue.py",
        "run.release()",
        "pass  # run.release()",
    ),
    Mutation(
        "ignore_max_skip_steps", "max_skip_steps is never enforced",
        "semcache_core/error.py",
        "if consecutive_skips >= self.max_skip_steps:",
        "if False:",
    ),
    Mutation(
        "ignore_end_percent", "end_percent is never enforced",
        "semcache_core/error.py",
        "if sigma <= self.sigma_end:",
        "if False:",
    ),
    Mutation(
        "tmm_stale_token", "a TMM-pruned step keeps a stale (reused) token in a computed frame",
        "semcache_core/state.py",
        "residual[:, self.token_index] = hidden - stack_in[:, self.token_index]",
        "residual[:, self.token_index[:-1]] = (hidden - stack_in[:, self.token_index])[:, :-1]",
    ),
    Mutation(
        "probe_hooks_left", "the temporary probe hooks are never removed",
        "semcache_core/comfy_glue.py",
        "handle.remove()",
        "pass  # handle.remove()",
    ),
]


class AnchorError(RuntimeError):
    pass


def copy_repo(dest: Path) -> None:
    """Tracked + untracked-but-not-ignored files, and symlinks to the shared environment."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if not src.exists() or src.is_dir():
            continue  # deleted in the work tree, or a submodule
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    for name in LINKED:
        if (REPO / name).exists():
            (dest / name).symlink_to((REPO / name).resolve(), target_is_directory=True)


def apply(mutation: Mutation, root: Path) -> None:
    path = root / mutation.path
    lines = path.read_text().split("\n")
    hits = [i for i, line in enumerate(lines) if line.strip() == mutation.anchor]
    if len(hits) != 1:
        raise AnchorError(
            f"mutation {mutation.name}: anchor line {mutation.anchor!r} found {len(hits)} times in "
            f"{mutation.path} (expected exactly once): the code changed, update the mutation"
        )
    line = lines[hits[0]]
    lines[hits[0]] = line[: len(line) - len(line.lstrip())] + mutation.replacement
    path.write_text("\n".join(lines))


def run_tests(root: Path, tests: list[str], pytest_args: list[str], label: str) -> tuple[set[str], int, float]:
    """(failed or errored test ids, tests run, seconds) of one pytest run in `root`."""
    report = root / f"junit_{label}.xml"
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               MKL_NUM_THREADS=os.environ.get("MKL_NUM_THREADS", "1"))
    cmd = [str(root / ".venv" / "bin" / "python"), "-m", "pytest", "-c", "tests/pytest.ini", "-q",
           "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args, *tests]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if not report.exists():
        raise RuntimeError(f"pytest wrote no report ({label}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    failed, total = set(), 0
    for case in ET.parse(report).getroot().iter("testcase"):
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            module = case.get("classname", "").rsplit(".", 1)[-1]
            failed.add(f"{module}::{case.get('name')}")
    return failed, total, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", nargs="+", default=["tests"], help="test paths (default: the full suite)")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, one shell-quoted string")
    parser.add_argument("--only", nargs="+", choices=[m.name for m in MUTATIONS], help="run these mutations only")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of the unmutated copy")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = parser.parse_args()
    mutations = [m for m in MUTATIONS if not args.only or m.name in args.only]
    pytest_args = shlex.split(args.pytest_args)

    # every anchor must be present before anything runs
    with tempfile.TemporaryDirectory(prefix="semcache_anchor_") as scratch:
        for m in mutations:
            target = Path(scratch) / m.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / m.path, target)
        try:
            for m in mutations:
                apply(m, Path(scratch))
                shutil.copy2(REPO / m.path, Path(scratch) / m.path)
        except AnchorError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 2

    def in_copy(label: str, mutation: Mutation | None) -> tuple[set[str], int, float]:
        root = Path(tempfile.mkdtemp(prefix=f"semcache_mut_{label}_"))
        try:
            copy_repo(root)
            if mutation is not None:
                apply(mutation, root)
            return run_tests(root, args.tests, pytest_args, label)
        finally:
            if args.keep:
                print(f"  kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)

    broken: set[str] = set()
    if not args.no_baseline:
        broken, total, seconds = in_copy("baseline", None)
        print(f"baseline: {total} tests, {len(broken)} failing, {seconds:.0f} s", flush=True)
        for test in sorted(broken):
            print(f"  already failing (not counted): {test}")
    rows = []
    for m in mutations:
        failed, total, seconds = in_copy(m.name, m)
        caught = sorted(failed - broken)
        rows.append((m, caught, total, seconds))
        print(f"{m.name}: {len(caught)} of {total} tests caught it ({seconds:.0f} s)", flush=True)

    print()
    print("| mutation | what it breaks | caught by |")
    print("|---|---|---|")
    for m, caught, total, _ in rows:
        print(f"| {m.name} | {m.what} | {'<br>'.join(caught) if caught else '**NOT CAUGHT**'} |")
    uncaught = [m.name for m, caught, _, _ in rows if not caught]
    print()
    print("every mutation caught" if not uncaught else f"NOT CAUGHT: {', '.join(uncaught)}")
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main())
