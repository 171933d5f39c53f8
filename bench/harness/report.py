"""The markdown report: tables per configuration, defaults, matched comparisons, prompt classes,
the oracle (the limit of residual reuse), per schedule."""

from __future__ import annotations

from typing import Any

from .aggregate import (
    CLASSES,
    Summary,
    by_class,
    by_config,
    matched,
    nearest_psnr,
    psnr_at_speedup,
    schedule_of,
    schedule_summaries,
    speedup_at_psnr,
    sweep,
)

PEERS = ("easycache", "lazycache", "teacache", "magcache", "fbcache")
ABOVE_MARGIN_DB = 0.1  # a point must beat the oracle's curve by more than this to be flagged


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
    for other in (*PEERS, "oracle"):
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


def class_rows(summaries: list[Summary]) -> list[Summary]:
    """Every node default, SemCache's untagged sweep points and paper mode, and the oracle point
    nearest SemCache default's PSNR (the oracle has no default: that point stands in for it)."""
    picked = [s for s in summaries if s.family != "uncached" and (
        s.tag in ("default", "mode=paper") or (s.family == "semcache" and not s.tag))]
    sem = _default(summaries, "semcache")
    stand_in = nearest_psnr(sweep(summaries, "oracle"), sem.psnr) if sem else None
    return picked + ([stand_in] if stand_in else [])


def class_table(rows: list[dict[str, Any]], summaries: list[Summary]) -> list[str]:
    lines = [
        "| configuration | compute speedup static / neutral / dynamic | static ÷ dynamic speedup "
        "| PSNR static / neutral / dynamic | mean p_s static / dynamic | mean τ static / dynamic |",
        "|---|---|---:|---|---|---|",
    ]
    for s in class_rows(summaries):
        split = by_class(rows, s.label)
        speed = " / ".join(f"{split[c].work_speedup:.2f}x" if c in split else "–" for c in CLASSES)
        ratio = (f"{split['static'].work_speedup / split['dynamic'].work_speedup:.2f}"
                 if "static" in split and "dynamic" in split else "–")
        psnr = " / ".join(f"{split[c].psnr:.1f}" if c in split else "–" for c in CLASSES)
        p_s = " / ".join(_n(split[c].p_s, ".3f") if c in split else "–" for c in ("static", "dynamic"))
        tau = " / ".join(_n(split[c].tau, ".3f") if c in split else "–" for c in ("static", "dynamic"))
        label = s.label + (" (nearest SemCache default's PSNR)" if s.family == "oracle" else "")
        lines.append(f"| {label} | {speed} | {ratio} | {psnr} | {p_s} | {tau} |")
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


def schedule_table(rows: list[dict[str, Any]]) -> list[str]:
    """Every node default on each schedule (steps x sampler): compute speedup, PSNR, motion ratio."""
    from .aggregate import summarize

    picked = [r for r in rows if r["tag"] == "default"]
    schedules = sorted({schedule_of(r) for r in picked})
    labels = list(dict.fromkeys(r["method"] for r in picked))
    lines = ["| schedule | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for steps, sampler in schedules:
        cells = []
        for label in labels:
            mine = [r for r in picked if r["method"] == label and schedule_of(r) == (steps, sampler)]
            s = summarize(mine) if mine else None
            cells.append(f"{s.work_speedup:.2f}x, {s.psnr:.1f} dB, {s.motion_ratio:.2f}" if s else "–")
        lines.append(f"| {steps} steps {sampler} | " + " | ".join(cells) + " |")
    return lines


def matched_table(per_schedule: dict[tuple[int, str], list[Summary]]) -> list[str]:
    """Per schedule: each peer's and the oracle's compute speedup at SemCache default's PSNR (on
    its sweep's Pareto frontier), and SemCache's speedup as a fraction of the oracle's."""
    lines = ["| schedule | SemCache default: speedup, PSNR | " + " | ".join(PEERS) + " | oracle | SemCache ÷ oracle |",
             "|---|---|" + "---:|" * (len(PEERS) + 2)]
    for (steps, sampler), summaries in per_schedule.items():
        sem = _default(summaries, "semcache")
        if sem is None:
            continue
        cells = []
        for family in (*PEERS, "oracle"):
            curve = sweep(summaries, family)
            at = speedup_at_psnr(curve, sem.psnr) if len(curve) >= 1 else None
            if at is not None:
                cells.append(f"{at:.2f}x")
            elif curve:
                lo, hi = min(c.psnr for c in curve), min(max(c.psnr for c in curve), 99.0)
                cells.append(f"– ({lo:.1f}–{hi:.1f} dB)" if len(curve) > 1 else f"– (one point, {lo:.1f} dB)")
            else:
                cells.append("–")
        oracle = speedup_at_psnr(sweep(summaries, "oracle"), sem.psnr)
        fraction = f"**{sem.work_speedup / oracle:.2f}**" if oracle else "–"
        lines.append(f"| {steps} steps {sampler} | {sem.work_speedup:.2f}x, {sem.psnr:.2f} dB | "
                     + " | ".join(cells) + f" | {fraction} |")
    lines += ["", "A cell is the method's speedup where its threshold sweep's Pareto frontier (compute speedup vs "
              "PSNR, linear between points) reaches SemCache default's PSNR; \"–\" with a range: that PSNR lies "
              "outside the sweep's range."]
    return lines


def above_oracle(per_schedule: dict[tuple[int, str], list[Summary]]) -> list[str]:
    """Points of any method above the oracle's curve (higher PSNR at the same compute speedup)."""
    found = []
    for (steps, sampler), summaries in per_schedule.items():
        curve = sweep(summaries, "oracle")
        if len(curve) < 2:
            continue
        for s in summaries:
            if s.family in ("uncached", "oracle"):
                continue
            bound = psnr_at_speedup(curve, s.work_speedup)
            if bound is not None and s.psnr > bound + ABOVE_MARGIN_DB:
                found.append(f"- {steps} steps {sampler}: **{s.label}** {s.work_speedup:.2f}x at {s.psnr:.2f} dB, "
                             f"the oracle's curve gives {bound:.2f} dB there (+{s.psnr - bound:.2f} dB).")
    if not found:
        return [f"No point of any method lies above the oracle's curve by more than {ABOVE_MARGIN_DB} dB "
                "(within the oracle sweep's speedup range)."]
    return found + ["", "What the oracle bounds: rules that replace the *whole* block stack by its cached residual, "
                    "choosing greedily (reuse while the accumulated true error stays small, blind to how an error "
                    "now grows later), with no warm-up or cap. A point above its curve means either the method "
                    "reuses a different approximation (First Block Cache recomputes block 0 and reuses only the "
                    "rest of the stack's residual; TMM recomputes some frames), or its choice of computed steps "
                    "beats the greedy one; not that its error estimate is better than the truth."]


def tmm_frontier(per_schedule: dict[tuple[int, str], list[Summary]]) -> list[str]:
    """Does SemCache + TMM reach PSNR above SemCache's own sweep at the same compute speedup?"""
    out = []
    for (steps, sampler), summaries in per_schedule.items():
        sem = sweep(summaries, "semcache")
        for s in sweep(summaries, "semcache+tmm"):
            bound = psnr_at_speedup(sem, s.work_speedup)
            verdict = ("outside SemCache's sweep range" if bound is None else
                       f"SemCache's curve {bound:.2f} dB: {'above' if s.psnr > bound else 'below'} it by "
                       f"{abs(s.psnr - bound):.2f} dB")
            out.append(f"- {steps} steps {sampler}: {s.label} {s.work_speedup:.2f}x at {s.psnr:.2f} dB; {verdict}.")
    return out or ["(no SemCache + TMM points in this run)"]


def markdown(rows: list[dict[str, Any]], header: list[str], main: tuple[int, str] = (30, "uni_pc")) -> str:
    per_schedule = schedule_summaries(rows)
    main_rows = [r for r in rows if schedule_of(r) == main]
    summaries = per_schedule.get(main) or by_config(main_rows)
    defaults = [s for s in summaries if s.tag == "default"]
    ablations = [s for s in summaries if s.tag not in ("", "default")]
    parts = list(header)
    parts += ["", "## Each method at its node default", "",
              f"{main[0]} steps {main[1]}; the oracle has no default (see its sweep).", ""] + config_table(defaults)
    parts += ["", "## SemCache vs every peer and the oracle at SemCache's default PSNR", ""]
    parts += matched_table(per_schedule)
    parts += ["", f"On {main[0]} steps {main[1]}, both ways:", ""]
    parts += matched_lines(summaries) or ["(needs the threshold sweeps)"]
    parts += ["", "## Points above the oracle's curve", ""] + above_oracle(per_schedule)
    parts += ["", "## Does SemCache + TMM move the frontier?", ""] + tmm_frontier(per_schedule)
    parts += ["", "## Static vs dynamic prompts", "",
              f"{main[0]} steps {main[1]}. The oracle row shows how much adaptivity the model allows: its skips "
              "follow the true error alone.", ""] + class_table(main_rows, summaries)
    parts += [""] + adaptivity_verdict(main_rows, summaries) + [""] + reference_motion(main_rows)
    parts += [""] + premise_check(main_rows, summaries)
    parts += ["", "Per prompt, each method at its node default:", ""] + per_prompt_table(main_rows, summaries)
    if len(per_schedule) > 1:
        parts += ["", "## Node defaults on other schedules (20 / 30 / 50 steps, euler and uni_pc)", "",
                  "Each cell: compute speedup, PSNR, motion ratio; means over the same prompts.", ""]
        parts += schedule_table(rows)
    tmm_rows = [s for s in summaries if s.family in ("tmm", "semcache+tmm")]
    if tmm_rows:
        parts += ["", "## TMM Frame Selector: alone and chained with SemCache", ""] + config_table(tmm_rows)
    parts += ["", "## All threshold sweep points, per schedule (the Pareto curves of `pareto.png`)"]
    for (steps, sampler), ss in per_schedule.items():
        points = [s for s in ss if s.tag in ("", "default") and s.family != "uncached"]
        parts += ["", f"### {steps} steps {sampler}", ""] + config_table(points)
    if ablations:
        parts += ["", "## Ablations (SemCache at the base point `semcache 0.2`, one setting changed) and extras", ""]
        parts += config_table(ablations)
    return "\n".join(parts) + "\n"
