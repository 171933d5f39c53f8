"""The markdown report: tables per configuration, defaults, the frontier comparison with every peer,
the bounds (greedy and constrained oracles, which are not limits, and the search bound, which is
one of the schedules searched), prompt classes, per schedule; all on the evaluation prompts, and
SemCache's tuning sweep on the tuning prompts."""

from __future__ import annotations

from typing import Any

from . import bound
from .aggregate import (
    CLASSES,
    COMPARISON_ONLY_TAGS,
    Summary,
    by_class,
    by_config,
    evaluation_rows,
    matched,
    nearest_psnr,
    projected_speedup,
    psnr_at_speedup,
    schedule_of,
    schedule_summaries,
    speedup_at_psnr,
    sweep,
    tuning_rows,
)

PEERS = ("easycache", "lazycache", "teacache", "teacache-ret", "magcache", "fbcache", "taylorseer-lite")
REUSE_MODES = (("reuse", "semcache"), ("forecast_1", "semcache-forecast_1"), ("forecast_2", "semcache-forecast_2"))
ORACLES = ("greedy-oracle", "constrained-oracle")
ABOVE_MARGIN_DB = 0.3  # a whole-step point must beat the search bound by more than this to be a defect
HIDDEN = ("uncached", "replay")  # not configurations of their own in the tables


def _n(v: float | None, fmt: str = ".2f") -> str:
    return "–" if v is None else format(v, fmt)


def config_table(summaries: list[Summary]) -> list[str]:
    lines = [
        "| configuration | skipped steps | compute speedup | CPU-time speedup | wall speedup | PSNR dB | SSIM "
        "| motion ratio | motion error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        if s.family in HIDDEN:
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
    for other in (*PEERS, *ORACLES):
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
    """Every node default, SemCache's untagged sweep points, and each oracle's point nearest
    SemCache default's PSNR (the oracles have no default: that point stands in for it)."""
    picked = [s for s in summaries if s.family not in HIDDEN and (
        s.tag == "default" or (s.family == "semcache" and not s.tag))]
    sem = _default(summaries, "semcache")
    stand_ins = [nearest_psnr(sweep(summaries, o), sem.psnr) for o in ORACLES] if sem else []
    return picked + [s for s in stand_ins if s]


def class_table(rows: list[dict[str, Any]], summaries: list[Summary],
                main: tuple[int, str] = (30, "uni_pc")) -> list[str]:
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
        label = s.label + (" (nearest SemCache default's PSNR)" if s.family in ORACLES else "")
        lines.append(f"| {label} | {speed} | {ratio} | {psnr} | {p_s} | {tau} |")
    sem = _default(summaries, "semcache")
    front = bound.frontier([r for r in rows if schedule_of(r) == main])
    point = bound.nearest(front, sem.psnr) if sem else None
    if point is not None:
        prompts = {r["prompt"]: r["motion_class"] for r in rows}
        speeds = {c: point.class_speedup(prompts, main[0], c) for c in CLASSES}
        speed = " / ".join(f"{v:.2f}x" if v else "–" for v in speeds.values())
        st, dy = speeds["static"], speeds["dynamic"]
        ratio = f"{st / dy:.2f}" if st and dy else "–"
        per_class = {c: [pk[1] for p, pk in point.picks.items() if prompts.get(p) == c] for c in CLASSES}
        psnr = " / ".join(f"{sum(v) / len(v):.1f}" if v else "–" for v in per_class.values())
        lines.append(f"| search bound at {point.speedup:.2f}x, {point.psnr:.2f} dB (nearest SemCache default's "
                     f"PSNR) | {speed} | {ratio} | {psnr} | – | – |")
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
    defaults = [s for s in summaries if s.tag == "default" and s.family not in HIDDEN]
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


def _both_ways(curve: list[Summary], sem: Summary) -> str:
    if not curve:
        return "–"
    at_psnr = speedup_at_psnr(curve, sem.psnr)
    at_speed = psnr_at_speedup(curve, sem.work_speedup)
    if at_psnr is None and at_speed is None:
        lo, hi = min(c.work_speedup for c in curve), max(c.work_speedup for c in curve)
        return f"– ({lo:.2f}–{hi:.2f}x, {min(c.psnr for c in curve):.1f}–{min(max(c.psnr for c in curve), 99):.1f} dB)"
    left = f"{at_psnr:.2f}x" if at_psnr is not None else "–"
    right = f"{at_speed:.1f} dB" if at_speed is not None else "–"
    return f"{left} / {right}"


def matched_table(per_schedule: dict[tuple[int, str], list[Summary]],
                  rows: list[dict[str, Any]] | None = None) -> list[str]:
    """Per schedule, along the frontiers: each peer's and oracle's compute speedup at SemCache
    default's PSNR and its PSNR at SemCache default's speedup; the search bound's, and SemCache's
    speedup as a fraction of the bound's at equal PSNR."""
    names = (*PEERS, *ORACLES)
    lines = ["| schedule | SemCache default: speedup, PSNR | " + " | ".join(names)
             + " | search bound | SemCache ÷ bound |", "|---|---|" + "---:|" * (len(names) + 2)]
    for (steps, sampler), summaries in per_schedule.items():
        sem = _default(summaries, "semcache")
        if sem is None:
            continue
        cells = [_both_ways(sweep(summaries, family), sem) for family in names]
        front = bound.frontier([r for r in rows or [] if schedule_of(r) == (steps, sampler)])
        b_speed, b_psnr = bound.speedup_at(front, sem.psnr), bound.psnr_at(front, sem.work_speedup)
        cells.append(f"{_n(b_speed)}x / {_n(b_psnr, '.1f')} dB" if front else "–")
        fraction = f"**{sem.work_speedup / b_speed:.2f}**" if b_speed else "–"
        lines.append(f"| {steps} steps {sampler} | {sem.work_speedup:.2f}x, {sem.psnr:.2f} dB | "
                     + " | ".join(cells) + f" | {fraction} |")
    lines += ["", "Each cell: the method's compute speedup where its sweep's Pareto frontier (compute speedup vs PSNR, "
              "linear between points) reaches SemCache default's PSNR / its PSNR at SemCache default's speedup; \"–\": "
              "outside the sweep's range (shown). The greedy and constrained oracles are references, not limits; the "
              "search bound is the best of the whole-step schedules searched (see *The search bound*)."]
    return lines


def bound_section(rows: list[dict[str, Any]], per_schedule: dict[tuple[int, str], list[Summary]]) -> list[str]:
    """The search bound per schedule: its frontier and any method point above it."""
    out = ["The bound: per prompt and number of computed steps, the best final-clip PSNR of any whole-step "
           "schedule that was run (every whole-step method's own samples and the replays of their logged patterns "
           "with plain residual reuse), allocated over the prompts by an exact knapsack (`harness/bound.py`). A "
           f"whole-step method point more than {ABOVE_MARGIN_DB} dB above it is a defect of the bound.", ""]
    for (steps, sampler), summaries in per_schedule.items():
        mine = [r for r in rows if schedule_of(r) == (steps, sampler)]
        front = bound.frontier(mine)
        if not front:
            continue
        replays = len({r["method"] for r in mine if r["family"] == "replay"})
        out += [f"### {steps} steps {sampler}", "",
                f"{len(front)} frontier points from {len({r['method'] for r in mine if bound.whole_step(r)})} "
                f"whole-step configurations ({replays} of them replays):", "",
                "| bound speedup | mean PSNR | computed steps (all prompts) | sources |", "|---:|---:|---:|---|"]
        for p in front:
            sources = sorted({pk[2].split(" [")[0].split(" ")[0] for pk in p.picks.values()})
            out.append(f"| {p.speedup:.2f}x | {p.psnr:.2f} | {p.computed} | {', '.join(sources)} |")
        defects, others = [], []
        for s in summaries:
            if s.family in HIDDEN or s.family in bound.FORECASTING:  # set against the forecast bound below
                continue
            at = bound.psnr_at(front, s.work_speedup)
            if at is None or s.psnr <= at + ABOVE_MARGIN_DB:
                continue
            whole = all(bound.whole_step(r) for r in mine if r["method"] == s.label)
            line = (f"- **{s.label}** {s.work_speedup:.2f}x at {s.psnr:.2f} dB, the bound gives {at:.2f} dB there "
                    f"(+{s.psnr - at:.2f} dB)")
            (defects if whole else others).append(line + ("." if whole else ": not a whole-step method (it "
                                                          "recomputes part of each step), outside what the bound covers."))
        out += [""] + (["**Defects of the bound** (whole-step points above it):"] + defects if defects else
                       [f"No whole-step method's mean point lies more than {ABOVE_MARGIN_DB} dB above the bound."])
        out += others
        fore = bound.forecast_frontier(mine)
        if fore:
            out += ["", "Forecast bound (SemCache forecast_1 / forecast_2 and TaylorSeer-Lite rows only, the same "
                    "knapsack; not counted in the bound above): "
                    + ", ".join(f"{p.speedup:.2f}x at {p.psnr:.2f} dB" for p in fore) + "."]
            above = [s for s in summaries if s.family in bound.FORECASTING
                     and (at := bound.psnr_at(front, s.work_speedup)) is not None and s.psnr > at + ABOVE_MARGIN_DB]
            out += [f"- {s.label} {s.work_speedup:.2f}x at {s.psnr:.2f} dB: above the reuse bound "
                    f"({bound.psnr_at(front, s.work_speedup):.2f} dB), what forecasting buys over the best reuse "
                    "schedule found." for s in above]
        out.append("")
    return out


def forecast_table(per_schedule: dict[tuple[int, str], list[Summary]], rows: list[dict[str, Any]]) -> list[str]:
    """Per schedule, at two PSNR levels (SemCache default's, and its fastest sweep point's): the compute
    speedup of reuse / forecast_1 / forecast_2 (SemCache's sweeps), TaylorSeer-Lite, the best other
    peer, and the reuse and forecast bounds, each along its frontier."""
    others = [p for p in PEERS if p != "taylorseer-lite"]
    lines = ["| schedule | PSNR level | " + " | ".join(f"SemCache {m}" for m, _ in REUSE_MODES)
             + " | TaylorSeer-Lite | best other peer | reuse bound | forecast bound |",
             "|---|---|" + "---:|" * (len(REUSE_MODES) + 4)]
    for (steps, sampler), summaries in per_schedule.items():
        sem = _default(summaries, "semcache")
        reuse = sweep(summaries, "semcache")
        if sem is None or not reuse:
            continue
        fastest = max(reuse, key=lambda s: (s.work_speedup, s.psnr))  # on its frontier
        mine = [r for r in rows if schedule_of(r) == (steps, sampler)]
        fronts = (bound.frontier(mine), bound.forecast_frontier(mine))
        for name, level in (("SemCache default", sem.psnr), (f"SemCache {fastest.knob:g}", fastest.psnr)):
            cells = [_n(speedup_at_psnr(sweep(summaries, fam), level)) for _, fam in REUSE_MODES]
            cells.append(_n(speedup_at_psnr(sweep(summaries, "taylorseer-lite"), level)))
            best = max(((speedup_at_psnr(sweep(summaries, p), level), p) for p in others),
                       key=lambda t: t[0] or 0.0, default=(None, ""))
            cells.append(f"{best[0]:.2f} ({best[1]})" if best[0] else "–")
            cells += [_n(bound.speedup_at(f, level)) if f else "–" for f in fronts]
            lines.append(f"| {steps} steps {sampler} | {name}: {level:.2f} dB | " + " | ".join(cells) + " |")
    lines += ["", "Compute speedup where each sweep's Pareto frontier reaches the PSNR level (\"–\": outside its "
              "range). The forecast bound is the best forecasting schedules found (`harness/bound.py`)."]
    return lines


def split_table(rows: list[dict[str, Any]], per_schedule: dict[tuple[int, str], list[Summary]],
                main: tuple[int, str]) -> list[str]:
    """Static / dynamic compute speedup of every node default beside the bound's at the same PSNR."""
    summaries = per_schedule.get(main) or []
    mine = [r for r in rows if schedule_of(r) == main]
    front = bound.frontier(mine)
    prompts = {r["prompt"]: r["motion_class"] for r in mine}
    lines = ["| configuration | speedup static / dynamic | PSNR | search bound at that PSNR: speedup static / dynamic |",
             "|---|---|---:|---|"]
    for s in summaries:
        if s.tag != "default" or s.family in HIDDEN:
            continue
        split = by_class(mine, s.label)
        own = " / ".join(f"{split[c].work_speedup:.2f}x" if c in split else "–" for c in ("static", "dynamic"))
        point = bound.nearest(front, s.psnr)
        if point is None:
            lines.append(f"| {s.label} | {own} | {s.psnr:.2f} | – |")
            continue
        theirs = " / ".join(_n(point.class_speedup(prompts, main[0], c)) + "x" for c in ("static", "dynamic"))
        lines.append(f"| {s.label} | {own} | {s.psnr:.2f} | {theirs} ({point.speedup:.2f}x, {point.psnr:.2f} dB) |")
    return lines


def fbcache_projection(rows: list[dict[str, Any]], per_schedule: dict[tuple[int, str], list[Summary]]) -> list[str]:
    """First Block Cache's speedup on the proxy and projected to Wan 1.3B's 30 blocks."""
    lines = ["| schedule | configuration | compute speedup (proxy) | projected to 30 blocks | PSNR |",
             "|---|---|---:|---:|---:|"]
    for (steps, sampler), summaries in per_schedule.items():
        for s in sweep(summaries, "fbcache"):
            mine = [r for r in rows if r["method"] == s.label and schedule_of(r) == (steps, sampler)]
            lines.append(f"| {steps} {sampler} | {s.label} | {s.work_speedup:.2f}x | "
                         f"{_n(projected_speedup(mine))}x | {s.psnr:.2f} |")
    return lines


def tuning_section(rows: list[dict[str, Any]], main: tuple[int, str]) -> list[str]:
    """SemCache's sweep and ablations on the tuning prompts: the evidence its defaults rest on."""
    mine = [r for r in tuning_rows(rows) if schedule_of(r) == main]
    if not mine:
        return ["(no tuning rows in this run)"]
    prompts = list(dict.fromkeys(f"{r['prompt']} ({r['motion_class']})" for r in mine))
    return [f"{main[0]} steps {main[1]}; tuning prompts: " + "; ".join(prompts) + ".", ""] + config_table(by_config(mine))


def calibration_section(info: dict | None) -> list[str]:
    if not info:
        return ["(no calibration in this run)"]
    out = []
    for mode, what in (("e", "`e` (upstream's default Wan signal)"), ("e0", "`e0` (ret mode, from step 5)")):
        if f"teacache_{mode}_r2" in info:
            out.append(f"- TeaCache, signal {what}: degree-4 polynomial from {info[f'teacache_{mode}_pairs']} step pairs "
                       f"(both CFG streams) of {info.get('teacache_prompts')} calibration prompts at "
                       f"{', '.join(f'{n} {s}' for n, s in info.get('teacache_schedules', []))}: **R² "
                       f"{info[f'teacache_{mode}_r2']:.3f}**; clamped at 0 when applied.")
    if "magcache_vs_real_pearson" in info:
        out.append(f"- MagCache ratio curve (cond, {' '.join(map(str, info.get('magcache_schedule', [])))}): Pearson "
                   f"correlation with the published real Wan 2.1 T2V 1.3B curve {info['magcache_vs_real_pearson']:.3f}.")
    out.append("- `calibration.png`: TeaCache's predicted vs actual output change per mode; the proxy's MagCache "
               "ratios beside the published real-Wan curve.")
    return out


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


def markdown(rows: list[dict[str, Any]], header: list[str], main: tuple[int, str] = (30, "uni_pc"),
             calibration: dict | None = None) -> str:
    everything = rows
    rows = evaluation_rows(rows)
    per_schedule = schedule_summaries(rows)
    main_rows = [r for r in rows if schedule_of(r) == main]
    summaries = per_schedule.get(main) or by_config(main_rows)
    defaults = [s for s in summaries if s.tag == "default" and s.family not in HIDDEN]
    extras = [s for s in summaries if s.tag not in ("", "default", *COMPARISON_ONLY_TAGS) and s.family not in HIDDEN]
    parts = list(header)
    parts += ["", "## Each method at its node default", "",
              f"{main[0]} steps {main[1]}, evaluation prompts; each peer at its authors' recommended Wan 2.1 T2V 1.3B "
              "setting; the oracles have no default (see their sweeps).", ""] + config_table(defaults)
    parts += ["", "## SemCache vs every peer along the frontiers, and the bounds", ""]
    parts += matched_table(per_schedule, rows)
    parts += ["", f"On {main[0]} steps {main[1]}, both ways:", ""]
    parts += matched_lines(summaries) or ["(needs the threshold sweeps)"]
    parts += ["", "## The search bound", ""] + bound_section(rows, per_schedule)
    parts += ["## Reuse or forecast: SemCache's reuse_mode beside TaylorSeer-Lite", ""]
    parts += forecast_table(per_schedule, rows) + [""]
    parts += ["## Static vs dynamic speedup of each default beside the bound's", ""]
    parts += split_table(rows, per_schedule, main)
    parts += ["", "## Does SemCache + TMM move the frontier?", ""] + tmm_frontier(per_schedule)
    parts += ["", "## Static vs dynamic prompts", "",
              f"{main[0]} steps {main[1]}. The oracle rows show how much adaptivity the model allows: their skips "
              "follow the true error alone.", ""] + class_table(main_rows, summaries, main)
    parts += [""] + adaptivity_verdict(main_rows, summaries) + [""] + reference_motion(main_rows)
    parts += [""] + premise_check(main_rows, summaries)
    parts += ["", "Per prompt, each method at its node default:", ""] + per_prompt_table(main_rows, summaries)
    if len(per_schedule) > 1:
        parts += ["", "## Node defaults on other schedules (20 / 30 / 50 steps, euler and uni_pc)", "",
                  "Each cell: compute speedup, PSNR, motion ratio; means over the same prompts.", ""]
        parts += schedule_table(rows)
    parts += ["", "## Calibration of TeaCache and MagCache on the proxy", ""] + calibration_section(calibration)
    parts += ["", "## First Block Cache projected to a 30-block model", "",
              "Block 0 always runs; the proxy has fewer blocks than Wan 1.3B's 30, so its share of a reused step is "
              "larger here. Projection from the per-step decisions.", ""] + fbcache_projection(rows, per_schedule)
    tmm_rows = [s for s in summaries if s.family in ("tmm", "semcache+tmm")]
    if tmm_rows:
        parts += ["", "## TMM Frame Selector: alone and chained with SemCache", ""] + config_table(tmm_rows)
    parts += ["", "## All threshold sweep points, per schedule (the Pareto curves of `pareto.png`)"]
    for (steps, sampler), ss in per_schedule.items():
        points = [s for s in ss if s.tag in ("", "default") and s.family not in HIDDEN]
        parts += ["", f"### {steps} steps {sampler}", ""] + config_table(points)
    if extras:
        parts += ["", "## Extras on the evaluation prompts", ""] + config_table(extras)
    parts += ["", "## Tuning set: SemCache's sweep and ablations", ""] + tuning_section(everything, main)
    return "\n".join(parts) + "\n"
