"""The bounded token sample and the byte ledger (no ComfyUI)."""

from __future__ import annotations

import torch

from semcache_core.error import ErrorAccumulator
from semcache_core.memory import MemoryLedger, token_sample, tensor_bytes
from semcache_core.psa import ProbeAccumulator


def test_sample_is_every_stride_th_token_while_it_fits_the_budget():
    t = torch.randn(2, 40, 8)
    s = token_sample(t, stride=4, budget=10)
    assert torch.equal(s, t[:, ::4]) and s.untyped_storage().data_ptr() != t.untyped_storage().data_ptr()
    s[:] = 0
    assert t.abs().sum() > 0  # a copy, never a view of the model's tensor


def test_sample_above_the_budget_is_a_fixed_evenly_spread_subset_in_the_input_dtype():
    t = torch.randn(1, 1000, 8).to(torch.bfloat16)
    s = token_sample(t, stride=4, budget=100)
    assert s.shape == (1, 100, 8) and s.dtype == torch.bfloat16
    assert torch.equal(s, t[:, ::10])  # 1000 tokens, 100 kept: every 10th
    assert torch.equal(token_sample(t, 4, 100), s)  # deterministic
    odd = token_sample(torch.arange(1001.0).view(1, 1001, 1), 4, 100)
    gaps = odd.flatten().diff()
    assert gaps.min() >= 10 and gaps.max() <= 11  # evenly spread, whatever the length


def test_sample_memory_stops_growing_with_tokens():
    sizes = [tensor_bytes([token_sample(torch.zeros(1, n, 16), 4, 192)]) for n in (2304, 9216, 75600)]
    assert sizes == [192 * 16 * 4] * 3


def test_bf16_samples_give_the_estimates_of_fp32_copies():
    """Norms are taken in fp32: keeping the samples in the model's dtype changes no decision."""
    gen = torch.Generator().manual_seed(0)
    steps = [(torch.randn(1, 64, 32, generator=gen), torch.randn(1, 64, 32, generator=gen)) for _ in range(3)]
    low, full = ErrorAccumulator("input_scaled"), ErrorAccumulator("input_scaled")
    for i, o in steps[:2]:
        low.record_computed(i.bfloat16(), o.bfloat16())
        full.record_computed(i.bfloat16().float(), o.bfloat16().float())
    assert (low.rho, low.k) == (full.rho, full.k)
    assert low.candidate(steps[2][0].bfloat16()) == full.candidate(steps[2][0].bfloat16().float())


def test_probe_sums_keep_the_budget():
    acc = ProbeAccumulator(4, 16)
    acc.add(torch.randn(1, 1000, 8), torch.randn(1, 1000, 8))
    acc.add(torch.randn(1, 1000, 8), torch.randn(1, 1000, 8))
    assert acc.sum_in.shape == (1, 16, 8) and acc.sum_in.dtype == torch.float32 and acc.layers == 2


def test_ledger_counts_aliases_once_and_keeps_the_peak_by_kind():
    ledger = MemoryLedger()
    a, b = torch.zeros(100), torch.zeros(50)
    ledger.hold("residuals", "s1", a)
    ledger.hold("error_samples", "w", b, b, None)  # prev_input is last_in: one storage
    assert ledger.peak == 600 and ledger.peak_by_kind["error_samples"] == 200
    ledger.hold("probe", 1, torch.zeros(25))
    ledger.drop("probe", 1)
    ledger.hold("error_samples", "w", b)
    assert ledger.peak == 700 and ledger.peak_by_kind == {"residuals": 400, "error_samples": 200, "probe": 100, "tmm": 0}
    assert ledger.by_kind()["probe"] == 0
