"""Eq. 8 accumulator and the sigma-based limits (no ComfyUI)."""

from __future__ import annotations

import pytest
import torch

from semcache_core.config import SemCacheConfig
from semcache_core.error import ErrorAccumulator, ScheduleLimits


def test_rho_and_k_from_two_computed_steps():
    acc = ErrorAccumulator("input_scaled")
    i1, o1 = torch.tensor([1.0, 1.0]), torch.tensor([2.0, 3.0])  # |O-I|1 = 3 (mean 1.5)
    i2, o2 = torch.tensor([2.0, 1.0]), torch.tensor([4.0, 3.0])  # |O-I|1 = 4 (mean 2.0)
    acc.record_computed(i1, o1)
    assert not acc.ready
    acc.record_computed(i2, o2)
    assert acc.rho == pytest.approx(2.0 / 1.5)  # ||O_c - I_c|| / ||O_p - I_p||
    assert acc.k == pytest.approx((2.0 / 2) / (1.0 / 2))  # ||O_c - O_p|| / ||I_c - I_p|| = 2/1
    assert acc.error == 0.0


def test_accumulates_with_input_delta_and_resets_on_compute():
    acc = ErrorAccumulator("input_scaled")
    acc.record_computed(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 3.0]))
    acc.record_computed(torch.tensor([2.0, 2.0]), torch.tensor([4.0, 4.0]))
    rho, k = acc.rho, acc.k  # rho = 2/1.5, k = 1.5/1
    i3 = torch.tensor([3.0, 2.0])  # delta = mean|i3-i2| / mean|i2| = 0.5/2
    e, delta = acc.candidate(i3)
    assert delta == pytest.approx(0.25) and e == pytest.approx(rho * k * 0.25)
    acc.accept_skip(e, i3)
    i4 = torch.tensor([3.0, 3.0])  # delta vs the skipped input i3: 0.5/2.5
    e2, delta2 = acc.candidate(i4)
    assert delta2 == pytest.approx(0.2) and e2 == pytest.approx(e + rho * k * 0.2)
    acc.record_computed(i4, torch.tensor([5.0, 5.0]))
    assert acc.error == 0.0


def test_paper_error_model_uses_unit_delta():
    acc = ErrorAccumulator("paper")
    acc.record_computed(torch.tensor([1.0]), torch.tensor([2.0]))
    acc.record_computed(torch.tensor([2.0]), torch.tensor([4.0]))
    e, delta = acc.candidate(torch.tensor([100.0]))
    assert delta == 1.0 and e == pytest.approx(acc.rho * acc.k)  # Eq. 8 literally: 2 * 2


def test_limits_reasons_in_order():
    limits = ScheduleLimits(sigma_start=0.9, sigma_end=0.1, last_sigma=0.05, max_skip_steps=2, warmup_evaluations=2)
    assert limits.forced_reason(0.5, evaluation=1, consecutive_skips=0) == "warmup"
    assert limits.forced_reason(0.95, evaluation=5, consecutive_skips=0) == "before_start"
    assert limits.forced_reason(0.1, evaluation=5, consecutive_skips=0) == "after_end"
    assert limits.forced_reason(0.5, evaluation=5, consecutive_skips=2) == "max_skip_steps"
    assert limits.forced_reason(0.5, evaluation=5, consecutive_skips=1) is None
    no_end = ScheduleLimits(0.9, 0.0, 0.05, 2, 2)
    assert no_end.forced_reason(0.05, evaluation=5, consecutive_skips=0) == "last_step"


@pytest.mark.parametrize(
    "bad",
    [
        dict(threshold_scale=-1),
        dict(start_percent=0.8, end_percent=0.5),
        dict(error_model="nope"),
        dict(cache_device="gpu7"),
        dict(tanh_scale=0),
        dict(probe_layers=0),
    ],
)
def test_config_rejects_bad_input_with_a_clear_message(bad):
    with pytest.raises(ValueError, match="SemCache"):
        SemCacheConfig(**bad)


def test_family_weights_default():
    assert SemCacheConfig().weights(0.2, 0.8) == (0.2, 0.8)
    assert SemCacheConfig(alpha=0.5).weights(0.2, 0.8) == (0.5, 0.8)
