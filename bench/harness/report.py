"""The markdown report: tables per configuration, defaults, matched comparisons, prompt classes."""

from __future__ import annotations

from typing import Any

from .aggregate import CLASSES, Summary, by_class, by_config, matched, sweep


def _n(v: float | None, fmt: str = ".2f") -> str:
    return "–" if v is None else format(v, fmt)


def config_table(summaries: list[Summary]) -> list[str]:
    lines = [
        "| configuration | skipped steps | compute speedup | CPU-time speedup | wall speedup | PSNR dB | SSIM "
        "| motion ratio | motion error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        if s.family == "uncached":
            continue
        lines.append(
            f"| {s.label} | {s.skipped:.1f} | {s.work_speedup:.2f}x | {s.cpu_speedup:.2f}x | {s.wall_speedup:.2f}x "
            f"| {s.psnr:.2f} | {s.ssim:.4f} | {s.motion_ratio:.3f} | {s.motion_error:.3f} |"
        )
    return lines


def _default(summaries: list[Summary], family: str) -> Summary | None:
    return next((s for s in summaries if s.family == family and s.tag == "default"), None)


def matched_lines(summaries: list[Summary], speed_key: str = "work_speedup") -> list[str]:
    sem = _default(summaries, "semcache")
    if sem is None:
        return []
    lines = []
    for other in ("easycache", "lazycache"):
        curve = sweep(summaries, other)
        if len(curve) < 2:
            continue
        m = matched(sem, curve, speed_key)
        at_psnr = m["speedup_at_matched_psnr"]
        at_speed = m["psnr_at_matched_speedup"]
        lo, hi = m["psnr_range"]
        s_lo, s_hi = m["speed_range"]
        lines.append(
            f"- vs **{other}** (its sweep's Pareto frontier): at SemCache default's PSNR ({sem.psnr:.2f} dB) "
            + (f"{other} reaches **{at_psnr:.2f}x** (SemCache {getattr(sem, speed_key):.2f}x)"
               if at_psnr is not None else f"{other} has no point (its frontier spans {lo:.2f}–{hi:.2f} dB)")
            + f"; at SemCache default's speedup ({getattr(sem, speed_key):.2f}x) "
            + (f"{other} gives **{at_speed:.2f} dB** (SemCache {sem.psnr:.2f} dB)."
               if at_speed is not None else f"{other} has no point (its frontier spans {s_lo:.2f}–{s_hi:.2f}x).")
        )
    return lines


def class_table(rows: list[dict[str, Any]], summaries: list[Summary]) -> list[str]:
    lines = [
        "| configuration | compute speedup static / neutral / dynamic | PSNR static / neutral / dynamic "
        "| mean p_s static / dynamic | mean τ static / dynamic |",
        "|---|---|---|---|---|",
    ]
    for s in summaries:
        if s.family == "uncached" or (s.tag != "default" and s.tag != "mode=paper"):
            continue
        split = by_class(rows, s.label)
        speed = " / ".join(f"{split[c].work_speedup:.2f}x" if c in split else "–" for c in CLASSES)
        psnr = " / ".join(f"{split[c].psnr:.1f}" if c in split else "–" for c in CLASSES)
        p_s = " / ".join(_n(split[c].p_s, ".3f") if c in split else "–" for c in ("static", "dynamic"))
        tau = " / ".join(_n(split[c].tau, ".3f") if c in split else "–" for c in ("static", "dynamic"))
        lines.append(f"| {s.label} | {speed} | {psnr} | {p_s} | {tau} |")
    return lines


def adaptivity_verdict(rows: list[dict[str, Any]], summaries: list[Summary]) -> list[str]:
    """Does SemCache at its default skip more on static prompts than on dynamic ones, and why?"""
    out = []
    for s in summaries:
        if s.family != "semcache" or s.tag not in ("default", "mode=paper"):
            continue
        split = by_class(rows, s.label)
        if "static" not in split or "dynamic" not in split:
            continue
        st, dy = split["static"], split["dynamic"]
        more_skips = st.work_speedup > dy.work_speedup
        tau_adapts = st.tau is not None and dy.tau is not None and st.tau > dy.tau
        out.append(
            f"- **{s.label}**: static {st.work_speedup:.2f}x vs dynamic {dy.work_speedup:.2f}x compute speedup "
            f"(PSNR {st.psnr:.2f} vs {dy.psnr:.2f} dB); threshold τ static {_n(st.tau, '.3f')} vs dynamic "
            f"{_n(dy.tau, '.3f')}. More skipping on static prompts: **{'yes' if more_skips else 'no'}**; "
            f"prompt-derived threshold higher for static prompts: **{'yes' if tau_adapts else 'no'}**."
        )
    return out


def per_prompt_table(rows: list[dict[str, Any]], summaries: list[Summary]) -> list[str]:
    """Each prompt under every node default: skipped steps, PSNR (and SemCache's p_s)."""
    defaults = [s for s in summaries if s.tag == "default"]
    head = "| prompt | class | " + " | ".join(f"{s.label}: skipped, PSNR" for s in defaults) + " | SemCache p_s |"
    lines = [head, "|---|---|" + "---|" * len(defaults) + "---:|"]
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    for prompt in prompts:
        mine = {r["method"]: r for r in rows if r["prompt"] == prompt}
        cells = []
        p_s = None
        for s in defaults:
            r = mine.get(s.label)
            cells.append(f"{r['skipped_steps']}, {min(float(r['psnr']), 99):.1f}" if r else "–")
            if r and s.family == "semcache" and r.get("p_s_mean") not in (None, ""):
                p_s = float(r["p_s_mean"])
        cls = next(iter(mine.values()))["motion_class"]
        lines.append(f"| {prompt} | {cls} | " + " | ".join(cells) + f" | {_n(p_s, '.3f')} |")
    return lines


def reference_motion(rows: list[dict[str, Any]]) -> list[str]:
    """Sanity check of the proxy: uncached motion energy per prompt class."""
    seen: dict[str, dict[str, float]] = {}
    for r in rows:
        seen.setdefault(r["motion_class"], {})[r["prompt"]] = float(r["ref_motion_energy"])
    parts = []
    for cls in CLASSES:
        if cls in seen:
            vals = list(seen[cls].values())
            parts.append(f"{cls} {sum(vals) / len(vals):.5f} (n={len(vals)})")
    return ["Uncached frame-difference energy by prompt class: " + ", ".join(parts) + "."]


def markdown(rows: list[dict[str, Any]], header: list[str]) -> str:
    summaries = by_config(rows)
    defaults = [s for s in summaries if s.tag == "default"]
    ablations = [s for s in summaries if s.tag not in ("", "default")]
    sweeps = [s for s in summaries if s.tag in ("", "default") and s.family != "uncached"]
    parts = list(header)
    parts += ["", "## Each method at its node default", ""] + config_table(defaults)
    parts += ["", "## SemCache vs EasyCache / LazyCache at matched quality and matched speed", ""]
    parts += matched_lines(summaries) or ["(needs the full run's threshold sweeps)"]
    parts += ["", "## Static vs dynamic prompts", ""] + class_table(rows, summaries)
    parts += [""] + adaptivity_verdict(rows, summaries) + [""] + reference_motion(rows)
    parts += ["", "Per prompt, each method at its node default:", ""] + per_prompt_table(rows, summaries)
    parts += ["", "## All threshold sweep points", ""] + config_table(sweeps)
    if ablations:
        parts += ["", "## Ablations (SemCache at its default threshold_scale, one setting changed) and extras", ""]
        parts += config_table(ablations)
    return "\n".join(parts) + "\n"
