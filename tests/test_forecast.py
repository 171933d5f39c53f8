"""reuse_mode (semcache_core/forecast.py): forecast the block-stack residual instead of reusing it.

- pure units: the polynomial weights, schedule positions, the history, the cache and the ledger,
  the Eq. 8 forecast gain, the config;
- the real sampler on tiny models: `reuse` is the default path bit for bit, threshold 0 is
  bit-identical to the unpatched model in every mode, and on every skipped step the head gets
  exactly `stack_in + forecast`, the forecast computed here by hand (Newton's divided differences
  in float64) from the residuals the model's own modules gave at the computed steps, per CFG
  stream (ForecastProbe: hooks on the model's modules only, never on SemCache's objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from sampling import BlockCounter, cond, latent, sample
from test_exactness import CASES, patched, run_case, stats
from test_hunyuan import hunyuan  # noqa: F401  (pytest fixture)
from test_memory import wan256  # noqa: F401  (pytest fixture)
from test_hunyuan import run as run_hv

MODES = ("reuse", "forecast_1", "forecast_2")
EAGER = dict(threshold_scale=5.0, start_percent=0.0, min_steps=1, max_skip_steps=2)


def core():
    from semcache_pack.semcache_core import error, forecast, memory

    return forecast, memory, error


# -- pure units ---------------------------------------------------------------------------------
def test_weights_reproduce_polynomials_of_their_order(pack):
    forecast, _, _ = core()
    xs = [0.0, 1.0, 3.0]
    for coeffs in ((2.0, -1.5, 0.0), (0.5, 0.25, -0.75)):
        p = lambda x: coeffs[0] + coeffs[1] * x + coeffs[2] * x * x  # noqa: E731
        w = forecast.lagrange_weights(xs, 5.0)
        assert abs(sum(wi * p(x) for wi, x in zip(w, xs)) - p(5.0)) < 1e-9
    w = forecast.lagrange_weights([2.0, 3.0], 5.0)  # a line through 2 points: R3 + 2 (R3 - R2)
    assert w == pytest.approx([-2.0, 3.0])


def test_extrapolate_drops_order_with_short_history_and_sums_in_fp32(pack):
    forecast, _, _ = core()
    a, b, c = (torch.full((1, 4, 2), v) for v in (1.0, 2.0, 4.0))
    assert torch.equal(forecast.extrapolate([(0.0, a)], 3.0, 2), a)  # one point: reuse
    assert torch.allclose(forecast.extrapolate([(0.0, a), (1.0, b)], 3.0, 2), torch.full_like(a, 4.0))
    # quadratic through (0,1), (1,2), (2,4): 1 + x/2 + x^2/2 -> 7 at 3
    assert torch.allclose(forecast.extrapolate([(0.0, a), (1.0, b), (2.0, c)], 3.0, 2), torch.full_like(a, 7.0))
    assert torch.allclose(forecast.extrapolate([(0.0, a), (1.0, b), (2.0, c)], 3.0, 1), torch.full_like(a, 6.0))
    half = forecast.extrapolate([(0.0, a.half()), (1.0, b.half())], 3.0, 1)
    assert half.dtype == torch.float16 and torch.equal(half, torch.full_like(half, 4.0))
    assert torch.equal(forecast.extrapolate([(0.0, a), (1.0, b)], 3.0, 0), b)


def test_schedule_position_and_history(pack):
    forecast, _, _ = core()
    schedule = [1.0, 0.8, 0.5, 0.2]
    assert [forecast.schedule_position(schedule, s) for s in schedule] == [0.0, 1.0, 2.0, 3.0]
    assert forecast.schedule_position(schedule, 0.65) == pytest.approx(1.5)
    assert forecast.schedule_position(schedule, 2.0) == 0.0 and forecast.schedule_position(schedule, 0.1) == 3.0
    history: list = []
    for pos, v in ((0.0, 1), (1.0, 2), (1.0, 3), (2.0, 4), (3.0, 5)):
        forecast.push(history, pos, v, 3)
    assert history == [(1.0, 3), (2.0, 4), (3.0, 5)]  # the same position twice keeps the later one
    assert [forecast.mode_order(m) for m in MODES] == [0, 1, 2]
    with pytest.raises(ValueError):
        forecast.mode_order("forecast_3")


def test_config_validates_reuse_mode(pack):
    from semcache_pack.semcache_core.config import SemCacheConfig

    assert SemCacheConfig().reuse_mode == "reuse"
    with pytest.raises(ValueError, match="reuse_mode"):
        SemCacheConfig(reuse_mode="taylor")


@pytest.mark.parametrize("order", [0, 1, 2])
def test_cache_keeps_order_plus_one_residuals_and_the_ledger_counts_them(pack, order):
    _, memory, _ = core()
    ledger = memory.MemoryLedger()
    cache = memory.ResidualCache(ledger, torch.device("cpu"), order)
    r = [torch.full((1, 6, 4), float(v)) for v in (1, 3, 7, 12)]
    for pos, t in enumerate(r):
        cache.put(("s", 0), t, float(pos))
    one = r[0].numel() * 4
    assert ledger.by_kind()["residuals"] == (order + 1) * one
    got = cache.get(("s", 0), r[0], 4.0)
    expected = {0: 12.0, 1: 17.0, 2: 18.0}[order]  # line through (2,7),(3,12); parabola through (1,3),(2,7),(3,12)
    assert torch.allclose(got, torch.full_like(got, expected))
    assert torch.equal(cache.get(("s", 0), r[0]), r[3])  # no position: the latest, as stored
    assert cache.get(("s", 0), torch.zeros(1, 5, 4), 4.0) is None  # another shape: nothing
    cache.put(("s", 0), torch.ones(1, 5, 4), 5.0)  # a new shape drops the old history
    assert ledger.by_kind()["residuals"] == 5 * 4 * 4


def test_forecast_gain_enters_eq8_only_when_forecasting(pack):
    _, _, error = core()
    ins = [torch.full((1, 8, 2), v) for v in (1.0, 2.0, 3.0)]
    outs = [i + torch.full_like(i, r) for i, r in zip(ins, (1.0, 2.0, 4.0))]  # residuals 1, 2, 4
    plain, forecast = error.ErrorAccumulator("input_scaled"), error.ErrorAccumulator("input_scaled", order=1)
    for pos, (i, o) in enumerate(zip(ins, outs)):
        plain.record_computed(i, o, float(pos))
        forecast.record_computed(i, o, float(pos))
    # at position 2 the line through residuals 1 and 2 predicts 3: miss |4-3| = 1, reuse miss |4-2| = 2
    assert forecast.gain == pytest.approx(0.5) and plain.gain == 1.0
    nxt = torch.full((1, 8, 2), 3.5)
    e_plain, delta = plain.candidate(nxt)
    e_forecast, _ = forecast.candidate(nxt)
    assert e_forecast == pytest.approx(0.5 * e_plain) and e_plain == plain.rho * plain.k * delta
    assert len(forecast.samples) == 3 + 2 and len(plain.samples) == 3  # kept residual samples: counted
    # the gain is the larger of the latest two: a perfect forecast (residual 6 on the line 2, 4) keeps 0.5
    forecast.record_computed(torch.full((1, 8, 2), 4.0), torch.full((1, 8, 2), 10.0), 3.0)
    assert forecast.gains == [pytest.approx(0.5), 0.0] and forecast.gain == pytest.approx(0.5)
    forecast.record_computed(torch.full((1, 8, 2), 5.0), torch.full((1, 8, 2), 13.0), 4.0)  # 8 on the line: 0
    assert forecast.gain == 0.0


# -- the real sampler ---------------------------------------------------------------------------
def with_mode(pack, model, mode: str | None, **settings):
    """Through the node itself, as a saved workflow runs it (mode None: the input left out)."""
    from semcache_pack.nodes import SemCachePatchModel

    args = dict(threshold_scale=0.2, start_percent=0.1, end_percent=1.0, max_skip_steps=4, probe_layers=15,
                alpha=-1.0, beta=-1.0, tanh_scale=1.0, error_model="input_scaled", cache_device="model_device")
    args.update(settings)
    if mode is not None:
        args["reuse_mode"] = mode
    return SemCachePatchModel.execute(model, **args).result[0]


def test_reuse_mode_reuse_is_the_default_path_bit_for_bit(pack, wan_models):
    outs = {}
    for mode in (None, "reuse"):
        model = with_mode(pack, wan_models["t2v"], mode, **EAGER)
        outs[mode] = run_case(wan_models, CASES["t2v_batched_cfg"], model=model)
        run = stats(model)
        assert run.skipped >= 3 and run.settings["reuse_mode"] == "reuse" and " by " not in run.summary_line()
    assert torch.equal(outs[None], outs["reuse"])


@pytest.mark.parametrize("mode", MODES[1:])
@pytest.mark.parametrize("case_name", ["t2v_batched_cfg", "t2v_separate_calls"])
def test_threshold_zero_is_bit_identical_in_every_mode(pack, wan_models, mode, case_name):
    case = CASES[case_name]
    base = run_case(wan_models, case)
    model = patched(pack, wan_models[case["model"]], threshold_scale=0.0, reuse_mode=mode)
    assert torch.equal(run_case(wan_models, case, model=model), base)
    assert stats(model).skipped == 0


@dataclass
class ForecastProbe:
    """Per (stream, row): the residuals the model's own modules gave at computed evaluations
    (head input - patch embedding output) with their step position in `sample_sigmas`; at every
    skipped evaluation, the head input must be stack_in + the forecast of order `order` from them."""

    patcher: object
    order: int
    atol: float = 1e-5
    history: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    full_order: int = 0  # skipped checks whose forecast had order + 1 residuals
    max_error: float = 0.0
    leader: object = "unset"  # the first stream seen leads (its rows are the ones the error check samples)
    checks: dict = field(default_factory=dict)  # (stream, position) -> true forecast error, stride-4 tokens
    _skipped_last: dict = field(default_factory=dict)
    _call: dict | None = None
    _handles: list = field(default_factory=list)

    def __enter__(self) -> "ForecastProbe":
        dm = self.patcher.get_model_object("diffusion_model")
        self._handles = [
            dm.register_forward_pre_hook(self._on_call, with_kwargs=True),
            dm.patch_embedding.register_forward_hook(self._on_embed),
            dm.blocks[0].register_forward_pre_hook(self._on_first_block),
            dm.head.register_forward_pre_hook(self._on_head),
        ]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()

    def _on_call(self, module, args, kwargs) -> None:
        options = kwargs.get("transformer_options") or {}
        sigma = float(options["sigmas"].flatten()[0])
        schedule = [float(s) for s in options["sample_sigmas"].flatten()[:-1]]
        position = min(range(len(schedule)), key=lambda i: abs(schedule[i] - sigma))
        assert abs(schedule[position] - sigma) < 1e-6 * max(sigma, 1.0), "euler evaluates schedule sigmas only"
        self._call = dict(streams=list(options.get("uuids") or [None]), position=float(position), ran=False)
        if self.leader == "unset":
            self.leader = self._call["streams"][0]

    def _on_embed(self, module, inputs, output) -> None:
        if self._call is not None and "stack_in" not in self._call:
            self._call["stack_in"] = output.flatten(2).transpose(1, 2).detach().double().clone()

    def _on_first_block(self, module, inputs) -> None:
        if self._call is not None:
            self._call["ran"] = True

    def _on_head(self, module, inputs) -> None:
        call, self._call = self._call, None
        head_in, stack_in = inputs[0].detach().double(), call["stack_in"]
        rows = stack_in.shape[0] // len(call["streams"])
        for j, stream in enumerate(call["streams"]):
            for r in range(rows):
                row, key = j * rows + r, (stream, r)
                hist = self.history.setdefault(key, [])
                if call["ran"]:
                    fresh = head_in[row] - stack_in[row]
                    if self._skipped_last.get(key):  # what the error check must measure here
                        applied = newton(hist[-(self.order + 1):], call["position"])
                        f, a = fresh[::4], applied[::4]  # E_t's token sample (stride 4, under the budget)
                        self.checks[(stream, call["position"])] = ((f - a).abs().mean() / f.abs().mean()).item()
                    self._skipped_last[key] = False
                    hist.append((call["position"], fresh))
                    continue
                self._skipped_last[key] = True
                points = hist[-(self.order + 1):]
                expected = stack_in[row] + newton(points, call["position"])
                self.full_order += len(points) == self.order + 1
                self.skipped += 1
                err = (head_in[row] - expected).abs().max().item()
                scale = expected.abs().max().item()
                self.max_error = max(self.max_error, err / scale)
                if err > self.atol * scale:
                    self.errors.append(f"stream {j} row {r} at {call['position']}: off by {err:.3g}")


def newton(points: list, x: float) -> torch.Tensor:
    """Newton's divided-difference polynomial through `points` [(x_i, R_i)], evaluated at x."""
    xs = [p for p, _ in points]
    table = [t for _, t in points]
    out, prod = table[-1], 1.0
    level = table
    for k in range(1, len(points)):
        level = [(level[i + 1] - level[i]) / (xs[i + k] - xs[i]) for i in range(len(level) - 1)]
        prod = prod * (x - xs[len(xs) - k])
        out = out + level[-1] * prod
    return out


@pytest.mark.parametrize("mode", MODES[1:])
@pytest.mark.parametrize("case_name", ["t2v_batched_cfg", "t2v_separate_calls", "t2v_batch2"])
def test_skipped_steps_apply_the_hand_computed_forecast_per_stream(pack, wan_models, mode, case_name):
    case = CASES[case_name]
    order = MODES.index(mode)
    model = patched(pack, wan_models[case["model"]], reuse_mode=mode, **EAGER)
    with ForecastProbe(model, order) as probe, BlockCounter(model) as counter:
        run_case(wan_models, case, model=model, callback=counter.callback)
    assert probe.errors == [], probe.errors[:5]
    streams = 2 * case.get("batch", 1)
    assert probe.skipped >= 3 * streams and probe.full_order >= streams, (probe.skipped, probe.full_order)
    run = stats(model)
    assert run.skipped >= 3 and f"reuse_mode={mode}" in run.report()
    assert f"skipped {run.skipped} by {mode} (estimated" in run.summary_line()
    assert sum(1 for n in counter.per_step if n == 0) == run.skipped  # skips are real: no block ran


@pytest.mark.parametrize("mode", MODES[1:])
def test_error_check_measures_the_forecast_error(pack, wan_models, mode):
    """On a computed step after skips, the report's measured error is the fresh residual against the
    forecast a skip would have applied there (computed here by hand), not against plain reuse."""
    model = patched(pack, wan_models["t2v"], reuse_mode=mode, **EAGER)
    with ForecastProbe(model, MODES.index(mode)) as probe:
        run_case(wan_models, CASES["t2v_batched_cfg"], model=model)
    checked = [r for r in stats(model).records if r.check_measured is not None]
    assert len(checked) >= 2
    for r in checked:
        expected = probe.checks[(probe.leader, float(r.step))]
        assert r.check_measured == pytest.approx(expected, rel=1e-4), (r.step, r.check_measured, expected)


def test_probe_catches_reuse_where_a_forecast_is_expected(pack, wan_models):
    """The check can fail: a plain-reuse run does not pass as a first-order forecast."""
    model = patched(pack, wan_models["t2v"], reuse_mode="reuse", **EAGER)
    with ForecastProbe(model, 1) as probe:
        run_case(wan_models, CASES["t2v_batched_cfg"], model=model)
    assert probe.skipped > 0 and probe.errors


def test_forecast_memory_is_one_more_residual_per_order_and_cpu_holds_it(pack, wan_models):
    held = {}
    for mode in MODES:
        model = patched(pack, wan_models["t2v"], reuse_mode=mode, cache_device="cpu", **EAGER)
        run_case(wan_models, CASES["t2v_batched_cfg"], model=model)
        run = stats(model)
        assert run.skipped >= 3
        held[mode] = run.cache_bytes_by_kind["residuals"]
    one = held["reuse"]
    assert one > 0 and held["forecast_1"] == 2 * one and held["forecast_2"] == 3 * one, held


@pytest.mark.parametrize("mode", MODES[1:])
def test_forecast_with_tmm_target_and_error_check(pack, wan_models, mode):
    """TMM chaining, target_speedup and the error check keep working with a forecast."""
    from test_tmm import setup_case, with_tmm

    base, lat, kwargs = setup_case(wan_models, "t2v")
    model = with_tmm(patched(pack, base, reuse_mode=mode, target_speedup=2.0, start_percent=0.0, min_steps=1),
                     reuse_ratio=0.4, max_frame_staleness=2, start_percent=0.0)
    out = sample(model, lat, steps=16, **kwargs)
    run = stats(model)
    assert torch.isfinite(out).all() and run.skipped > 0 and run.partial > 0
    checks = [r for r in run.records if r.check_measured is not None]
    assert checks and all(r.check_measured >= 0 for r in checks)
    assert run.target_speedup == 2.0


@pytest.mark.parametrize("mode", MODES[1:])
def test_forecast_on_hunyuan(pack, hunyuan, mode):  # noqa: F811
    model = hunyuan["hv15"]
    base = run_hv(model, "hv15")
    assert torch.equal(run_hv(patched(pack, model, threshold_scale=0.0, reuse_mode=mode), "hv15"), base)
    fast = patched(pack, model, threshold_scale=5.0, reuse_mode=mode)
    assert torch.isfinite(run_hv(fast, "hv15", steps=20)).all() and stats(fast).skipped > 0


def test_split_sampler_calls_start_fresh(pack, wan_models):
    """KSamplerAdvanced-style halves: each call forecasts from its own residuals only."""
    model = patched(pack, wan_models["t2v"], reuse_mode="forecast_2", **EAGER)
    lat = latent((1, 16, 3, 8, 8))
    first = sample(model, lat, steps=12, start_step=0, last_step=6, force_full_denoise=False, positive=cond(1))
    second = sample(model, first, steps=12, start_step=6, last_step=12, disable_noise=True, positive=cond(1))
    assert torch.isfinite(second).all() and stats(model).finished


_UNCACHED_BYTES: dict = {}


@pytest.mark.parametrize("mode", MODES[1:])
def test_reported_cache_is_what_a_forecast_holds(pack, wan256, mode):  # noqa: F811
    """From outside (live tensor bytes at every step minus the uncached run's, tests/test_memory.py):
    the report's peak, with the extra residuals and samples of forecasting, is what is held."""
    from test_memory import BIG, SETTINGS, residual_bytes, sampled_bytes

    if "base" not in _UNCACHED_BYTES:  # this module's own uncached run: test_memory's baseline was
        _UNCACHED_BYTES["base"] = sampled_bytes(wan256, BIG, False)  # taken beside other live tensors
    base = _UNCACHED_BYTES["base"]
    model = patched(pack, wan256, reuse_mode=mode, **SETTINGS)
    measured = max(c - b for c, b in zip(sampled_bytes(model, BIG, False), base))
    run = stats(model)
    assert run.skipped >= 1 and run.cache_bytes_by_kind["residuals"] == (MODES.index(mode) + 1) * residual_bytes(BIG)
    assert abs(run.cache_bytes - measured) <= 0.10 * measured, (run.cache_bytes, measured, run.cache_bytes_by_kind)
