"""The benchmark's peers (TeaCache, MagCache, First Block Cache) and the oracle.

On a tiny Wan through ComfyUI's real sampler: bit-identical to uncached at threshold 0,
skipping verified by counting real block executions; and each decision rule on a known
synthetic sequence, so a broken rule fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from sampling import BlockCounter, latent, sample

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from harness.peers.engine import Step  # noqa: E402
from harness.peers.fbcache import FirstBlockCachePolicy  # noqa: E402
from harness.peers.magcache import MagCachePolicy, ratio_index  # noqa: E402
from harness.peers.oracle import OraclePolicy  # noqa: E402
from harness.peers.teacache import TeaCachePolicy  # noqa: E402

STEPS = 12
LAT = (1, 16, 3, 8, 8)


def steps(n: int) -> list[Step]:
    return [Step(i, n, 1.0 - i / n) for i in range(n)]


# -- decision rules on synthetic sequences ------------------------------------------------------
def test_teacache_rule_accumulates_the_rescaled_change_and_resets_on_compute():
    policy = TeaCachePolicy([2.0, 0.0], rel_l1_thresh=0.5, start_percent=0.0)  # rescale(x) = 2x
    values = [1.0, 1.1, 1.21, 1.331, 1.4641, 1.61051, 1.61051 * 1.3, 2.5]  # relative change 0.1 each, then 0.3
    got = [policy.decide_indicator(s, True, torch.full((4,), v)) for s, v in zip(steps(len(values)), values)]
    # first step computes; 0.2, 0.4 reuse; 0.6 >= 0.5 computes and resets; 0.2, 0.4 reuse; 0.4 + 0.6 computes;
    # the last step computes
    assert got == [False, True, True, False, True, True, False, False]
    late = TeaCachePolicy([1.0, 0.0], rel_l1_thresh=10.0, start_percent=0.5)
    got = [late.decide_indicator(s, True, torch.full((4,), 1.0 + i)) for i, s in enumerate(steps(6))]
    assert got == [False, False, False, True, True, False]  # before start_percent, and the last step, compute
    off = TeaCachePolicy([0.0, -1.0], rel_l1_thresh=0.0, start_percent=0.0)  # negative rescale: still off at 0
    assert not any(off.decide_indicator(s, True, torch.full((4,), 1.0 + i)) for i, s in enumerate(steps(5)))


def test_magcache_rule_multiplies_ratios_caps_at_k_and_keeps_retention_steps():
    ratios = [1.0, 1.0, 0.98, 0.98, 0.98, 0.85, 0.98, 0.98, 0.98, 0.98]
    policy = MagCachePolicy(ratios, magcache_thresh=0.1, magcache_K=2, retention_ratio=0.2)
    got = [policy.decide_step(s, True) for s in steps(10)]
    # steps 0-1 retained; step 2: err .02 reuse; 3: ratio .9604, err .0596 reuse; 4: steps 3 > K computes;
    # 5: ratio .85 err .15 computes; 6: .02 reuse; 7: .0596 reuse; 8: K computes; 9: .02 reuse
    assert got == [False, False, True, True, False, False, True, True, False, True]
    assert [ratio_index(i, 20, 50) for i in (0, 1, 10, 19)] == [0, 2, 25, 49]
    assert [ratio_index(i, 50, 50) for i in (0, 49)] == [0, 49]
    zero = MagCachePolicy([1.0] * 10, magcache_thresh=0.0)
    assert not any(zero.decide_step(s, True) for s in steps(10))


def test_first_block_cache_compares_with_the_last_computed_steps_residual():
    policy = FirstBlockCachePolicy(residual_diff_threshold=0.1)
    residuals = [1.0, 1.05, 1.08, 1.12, 1.13, 1.5]
    got = [policy.decide_residual(s, True, torch.full((4,), r)) for s, r in zip(steps(6), residuals)]
    # vs stored 1.0: .05 and .08 reuse, .12 computes (stores 1.12); 1.13 vs 1.12 reuses; 1.5 computes.
    # Comparing with the previous step instead (1.08 -> 1.12 = .037) would reuse step 3.
    assert got == [False, True, True, False, True, False]
    capped = FirstBlockCachePolicy(residual_diff_threshold=0.1, max_consecutive_cache_hits=1)
    got = [capped.decide_residual(s, True, torch.full((4,), 1.0)) for s in steps(5)]
    assert got == [False, True, False, True, False]


def test_oracle_rule_accumulates_the_true_error():
    policy = OraclePolicy(oracle_thresh=0.25)
    errors = [None, 0.1, 0.1, 0.1, 0.3, 0.05, 0.0]
    got = [policy.decide_error(s, e is not None, e) for s, e in zip(steps(7), errors)]
    # no cache; .1 and .2 reuse; .3 computes (reset); .3 alone computes; .05, .05 reuse
    assert got == [False, True, True, False, False, True, True]
    zero = OraclePolicy(oracle_thresh=0.0)
    assert not any(zero.decide_error(s, True, 0.0) for s in steps(4))


# -- the peers on a tiny Wan through the real sampler -------------------------------------------
@pytest.fixture(scope="module")
def tiny(comfy, ckpt_dir):
    from tiny_models import build_wan, load

    return load(build_wan("t2v", ckpt_dir / "tiny_wan_t2v.safetensors"))


@pytest.fixture(scope="module")
def calibration():
    from harness.peers.calibration import Calibration

    # rescale(x) = x; magnitude ratios 1: every MagCache candidate step has zero error
    return Calibration(teacache_coefficients=[1.0, 0.0], magcache_ratios=[1.0] * 50)


EAGER = {"teacache": 100.0, "magcache": 0.5, "fbcache": 100.0, "oracle": 100.0}


@pytest.mark.parametrize("family", ["teacache", "magcache", "fbcache", "oracle"])
def test_peer_at_threshold_zero_is_bit_identical_to_uncached(tiny, calibration, family):
    from harness import peers

    model = peers.apply(tiny, family, {peers.KNOBS[family]: 0.0}, calibration)
    base = sample(tiny, latent(LAT), steps=STEPS)
    with BlockCounter(model) as counter:
        out = sample(model, latent(LAT), steps=STEPS, callback=counter.callback)
    assert torch.equal(out, base)
    assert counter.per_step == [counter.n_blocks] * STEPS  # cond+uncond batched: one call per step
    assert peers.latest_log(model).pattern == "C" * STEPS


@pytest.mark.parametrize("family", ["teacache", "magcache", "fbcache"])
def test_peer_skips_real_blocks(tiny, calibration, family):
    from harness import peers

    model = peers.apply(tiny, family, {peers.KNOBS[family]: EAGER[family]}, calibration)
    with BlockCounter(model) as counter:
        out = sample(model, latent(LAT), steps=STEPS, callback=counter.callback)
    pattern = peers.latest_log(model).pattern
    reused_blocks = 1 if family == "fbcache" else 0  # First Block Cache always runs block 0
    assert [n == reused_blocks for n in counter.per_step] == [c == "." for c in pattern]
    assert all(n in (reused_blocks, counter.n_blocks) for n in counter.per_step)
    assert 0 < pattern.count(".") < STEPS
    if family == "magcache":
        assert pattern == "CC..C..C..C."  # retention int(0.2 * 12) = 2 steps, then K = 2 reuses per compute
    assert torch.isfinite(out).all() and not torch.equal(out, sample(tiny, latent(LAT), steps=STEPS))


def test_oracle_runs_the_truth_but_books_reused_steps_as_no_work(tiny, pack):
    from harness import peers
    from harness.work import BlockWork

    model = peers.apply(tiny, "oracle", {"oracle_thresh": 0.3})
    with BlockCounter(model) as counter, BlockWork(model) as work:
        def both(*a):
            counter.callback(*a)
            work.callback(*a)

        out = sample(model, latent(LAT), steps=STEPS, callback=both)
    log = peers.latest_log(model)
    assert counter.per_step == [counter.n_blocks] * STEPS  # the whole stack really ran every step
    assert [w == 0 for w in work.per_step] == [c == "." for c in log.pattern]  # ... off the books when reused
    assert 0 < log.pattern.count(".") < STEPS
    reused = [v for (_, skip, v) in log.decisions if skip]
    assert all(0 <= v < 0.3 for v in reused)  # the accumulated true error stayed under the threshold
    assert not torch.equal(out, sample(tiny, latent(LAT), steps=STEPS))


def test_calibration_prompts_are_disjoint_and_the_fit_recovers_a_polynomial():
    from harness.peers.calibration import CALIBRATION_PROMPTS, fit_polynomial
    from harness.prompts import NEUTRAL_PROMPTS, PROMPTS

    bench = {p.text for p in PROMPTS + NEUTRAL_PROMPTS}
    assert not bench & {p.text for p in CALIBRATION_PROMPTS}
    xs = [i / 20 for i in range(1, 20)]
    coefficients, r2 = fit_polynomial(xs, [3 * x**4 - x**2 + 0.5 * x + 0.01 for x in xs])
    assert coefficients == pytest.approx([3.0, 0.0, -1.0, 0.5, 0.01], abs=1e-6) and r2 == pytest.approx(1.0)


def test_latent_shape_comes_from_checkpoint_metadata(tmp_path):
    from safetensors.torch import save_file

    from harness.env import DEFAULT_LATENT, LATENT_SHAPE_KEY, latent_shape

    new, old, bad = tmp_path / "new.safetensors", tmp_path / "old.safetensors", tmp_path / "bad.safetensors"
    save_file({"w": torch.zeros(1)}, str(new), metadata={LATENT_SHAPE_KEY: "16,13,16,16"})
    save_file({"w": torch.zeros(1)}, str(old))
    save_file({"w": torch.zeros(1)}, str(bad), metadata={LATENT_SHAPE_KEY: "13,16,16"})
    assert latent_shape(new) == (13, 16, 16) and latent_shape(old) == DEFAULT_LATENT == (9, 8, 8)
    with pytest.raises(ValueError):
        latent_shape(bad)
