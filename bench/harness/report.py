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
        if s.family == "uncached" or not (s.tag in ("default", "mode=paper") or (s.family == "semcache" and not s.tag)):
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
        if s.family != "semcache" or s.tag not in ("", "default", "mode=paper"):
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
        first = next(iter(mine.values()))
        cls = first["motion_class"] + (", held out" if str(first.get("held_out", "0")) == "1" else "")
        lines.append(f"| {prompt} | {cls} | " + " | ".join(cells) + f" | {_n(p_s, '.3f')} |")
    return lines


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = float(rank)
    return ranks


def spearman(x: list[float], y: list[float]) -> float | None:
    """Rank correlation (no tie correction; enough for a handful of prompts)."""
    if len(x) < 3:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else None


def premise_check(rows: list[dict[str, Any]], summaries: list[Summary]) -> list[str]:
    """PSA's premise, tested on what the proxy actually rendered: does p_s track motion?"""
    sem = next((s for s in summaries if s.family == "semcache" and s.tag == "default"), None)
    if sem is None:
        return []
    picked = [r for r in rows if r["method"] == sem.label and r.get("p_s_mean") not in (None, "")]
    motion = [float(r["ref_motion_energy"]) for r in picked]
    p_s = [float(r["p_s_mean"]) for r in picked]
    skipped = [float(r["skipped_steps"]) for r in picked]
    rho_ps, rho_skip = spearman(p_s, motion), spearman(skipped, motion)
    return [
        f"PSA premise on the proxy's own output (per prompt, n={len(picked)}): Spearman correlation of SemCache's "
        f"p_s with the uncached clip's frame-difference energy = {_n(rho_ps)} (the premise needs > 0: more motion, "
        f"higher p_s, lower threshold); of its skipped steps at the default with that energy = {_n(rho_skip)} "
        "(adaptivity needs < 0)."
    ]


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


def schedule_table(schedule_rows: list[dict[str, Any]], main_rows: list[dict[str, Any]]) -> list[str]:
    """Every node default on each schedule (steps x sampler): compute speedup, PSNR, motion ratio."""
    from .aggregate import summarize

    all_rows = schedule_rows + [r for r in main_rows if r["tag"] == "default"]
    schedules = sorted({(int(r["steps"]), r["sampler"]) for r in all_rows})
    labels = list(dict.fromkeys(r["method"] for r in all_rows if r["family"] != "uncached"))
    lines = ["| schedule | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for steps, sampler in schedules:
        cells = []
        for label in labels:
            picked = [r for r in all_rows if r["method"] == label and int(r["steps"]) == steps and r["sampler"] == sampler]
            s = summarize(picked) if picked else None
            cells.append(f"{s.work_speedup:.2f}x, {s.psnr:.1f} dB, {s.motion_ratio:.2f}" if s else "–")
        lines.append(f"| {steps} steps {sampler} | " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[dict[str, Any]], header: list[str], schedule_rows: list[dict[str, Any]] | None = None) -> str:
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
    parts += [""] + premise_check(rows, summaries)
    parts += ["", "Per prompt, each method at its node default:", ""] + per_prompt_table(rows, summaries)
    if schedule_rows:
        parts += ["", "## Node defaults on other schedules (20 / 30 / 50 steps, euler and uni_pc)", "",
                  "Each cell: compute speedup, PSNR, motion ratio; means over the same prompts.", ""]
        parts += schedule_table(schedule_rows, rows)
    tmm_rows = [s for s in summaries if s.family in ("tmm", "semcache+tmm")]
    if tmm_rows:
        parts += ["", "## TMM Frame Selector: alone and chained with SemCache", ""] + config_table(tmm_rows)
    parts += ["", "## All threshold sweep points", ""] + config_table(sweeps)
    if ablations:
        parts += ["", "## Ablations (SemCache at the base point `semcache 0.2`, one setting changed) and extras", ""]
        parts += config_table(ablations)
    return "\n".join(parts) + "\n"
