"""Keeps the README's benchmark tables equal to the committed run's `results/benchmark.md`.

The README holds copies of some sections between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
markers; a full benchmark run (or `--report-only`) rewrites them, and a test checks they match.
"""

from __future__ import annotations

import re
from pathlib import Path

# README block name -> the benchmark.md section it copies (heading text; a tuple also accepts the
# heading that results generated before benchmark v2 use, until the committed run is redone)
SECTIONS: dict[str, str | tuple[str, ...]] = {
    "defaults": "Each method at its node default",
    "matched": ("SemCache vs every peer along the frontiers, and the bounds",
                "SemCache vs every peer and the oracle at SemCache's default PSNR",
                "SemCache vs EasyCache / LazyCache at matched quality and matched speed"),
    "schedules": "Node defaults on other schedules (20 / 30 / 50 steps, euler and uni_pc)",
}


def section(markdown: str, heading: str | tuple[str, ...]) -> str:
    """The body of `## heading` in `markdown` (up to the next `## `), stripped."""
    for name in (heading,) if isinstance(heading, str) else heading:
        match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", markdown, flags=re.M | re.S)
        if match is not None:
            return match.group(1).strip()
    raise KeyError(f"benchmark.md has no section {heading!r}")


def block(readme: str, name: str) -> str | None:
    match = re.search(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->", readme, flags=re.S)
    return match.group(1).strip() if match else None


def update_readme(readme_path: Path, benchmark_md: str) -> list[str]:
    """Rewrite every marked block from `benchmark_md`; returns the names of the blocks written."""
    text = readme_path.read_text()
    written = []
    for name, heading in SECTIONS.items():
        if block(text, name) is None:
            continue
        body = section(benchmark_md, heading)
        text = re.sub(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)",
                      lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
        written.append(name)
    readme_path.write_text(text)
    return written
