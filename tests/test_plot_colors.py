"""The Cache Stats plot image (semcache_core/plot.py) and the web timeline (web/semcache_stats.js)
use the same colours and legend words, and the plot's marks really are drawn in those colours."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import torch

from semcache_core import plot
from semcache_core.stats import EvalRecord, RunStats

REPO = Path(__file__).resolve().parents[1]
JS = (REPO / "web" / "semcache_stats.js").read_text()


def _web_colors() -> dict[str, str]:
    block = re.search(r"export const COLORS = \{(.*?)\};", JS, re.S).group(1)
    return {k: v.lower() for k, v in re.findall(r"(\w+): \"(#[0-9a-fA-F]{6})\"", block)}


def _web_legend() -> list[tuple[str, str]]:
    return re.findall(r'legendItem\(COLORS\.(\w+), "([^"]+)"', JS)


def test_plot_uses_the_web_colours_and_legend_words():
    web = _web_colors()
    assert {"computed", "partial", "skipped", "error", "threshold", "check", "background"} <= set(web)
    for key, value in web.items():
        assert plot.PALETTE[key].lower() == value, f"{key}: plot {plot.PALETTE[key]}, web {value}"
    legend = _web_legend()
    assert [k for k, _ in legend] == ["computed", "partial", "skipped", "error", "threshold", "check"]
    assert plot.LEGEND[: len(legend)] == legend, (plot.LEGEND, legend)


def test_plot_marks_are_drawn_in_those_colours():
    pattern = "CCCPSSSSCSSPSC"
    records = [
        EvalRecord(sigma=1 - i / 14, step=i, decision={"C": "computed", "P": "partial", "S": "skipped"}[c], reason="-",
                   error=0.01 * i, threshold=0.1, p_s=0.2, frames_total=5,
                   frames_reused=[2] if c == "P" else ([] if c == "C" else None))
        for i, c in enumerate(pattern)
    ]  # fmt: skip
    image = plot.render_timeline(RunStats(family="Wan T2V", total_steps=14, records=records))
    pixels = (image[0] * 255).round().to(torch.int64)
    assert tuple(pixels[2, 2].tolist()) == plot.BACKGROUND
    row = pixels[plot.HEIGHT - plot.MARGIN + 12]
    runs, previous = Counter(), None
    for x in range(row.shape[0]):
        kind = next((k for k in ("computed", "partial", "skipped") if tuple(row[x].tolist()) == plot._rgb(plot.PALETTE[k])),
                    None)  # fmt: skip
        if kind and kind != previous:
            runs[kind] += 1
        previous = kind
    assert runs == Counter({"computed": 5, "partial": 2, "skipped": 7}) == Counter(r.decision for r in records), runs


def test_error_check_marks_are_drawn_where_a_step_was_checked():
    def image(checked: bool) -> torch.Tensor:
        records = [
            EvalRecord(sigma=1 - i / 10, step=i, decision="skipped" if i in (3, 4) else "computed", reason="-",
                       error=0.05, threshold=0.1, p_s=0.2,
                       check_measured=0.08 if checked and i == 5 else None, check_estimated=0.1 if i == 5 else None)
            for i in range(10)
        ]  # fmt: skip
        return plot.render_timeline(RunStats(family="Wan T2V", total_steps=10, records=records))

    check = torch.tensor(plot.CHECK, dtype=torch.int64)
    count = lambda img: int(((img[0] * 255).round().to(torch.int64) == check).all(dim=-1).sum())  # noqa: E731
    assert count(image(True)) > count(image(False)) + 8
