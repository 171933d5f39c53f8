"""Eq. 3-7 and probe-layer selection against hand-computed values (no ComfyUI)."""

from __future__ import annotations

import math

import pytest
import torch

from semcache_core.psa import ProbeAccumulator, select_probe_layers, semantic_score, skip_threshold


@pytest.mark.parametrize(
    ("layers", "count", "expected"),
    [
        # thirds [0,10) [10,20) [20,30); 5 per third at slice centres floor((j+.5)*10/5)
        (30, 15, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29]),
        # thirds [0,3) [3,6) [6,9): 2,2,2 -> floor((j+.5)*3/2) = 0, 2
        (9, 6, [0, 2, 3, 5, 6, 8]),
        # thirds [0,13) [13,27) [27,40): counts 2,2,1
        (40, 5, [3, 9, 16, 23, 33]),
        (6, 15, [0, 1, 2, 3, 4, 5]),  # more asked than exist: all
        (30, 1, [5]),  # one probe sits in the middle of the shallow third
    ],
)
def test_probe_layers_hand_computed(layers, count, expected):
    assert select_probe_layers(layers, count) == expected


def test_semantic_score_hand_computed():
    z_in = torch.tensor([[3.0, 4.0]])  # |z_in| = 5
    z_out = torch.tensor([[0.0, 10.0]])  # |z_out| = 10, <z_in, z_out> = 40
    s = semantic_score(z_in, z_out, alpha=0.2, beta=0.8, tanh_scale=2.0)
    m_raw = (10 - 5) / (5 + 1e-8)  # Eq. 3
    m_norm = math.tanh(m_raw / 2.0)  # Eq. 4
    cos = 40 / (5 * 10)  # Eq. 5 = 0.8
    d_norm = (1 - cos) / 2  # Eq. 6 = 0.1
    assert s.m_raw == pytest.approx(m_raw)
    assert s.m_norm == pytest.approx(m_norm)
    assert s.cos == pytest.approx(cos)
    assert s.d_norm == pytest.approx(d_norm)
    assert s.p_s == pytest.approx(0.2 * m_norm + 0.8 * d_norm)  # Eq. 7


def test_opposite_direction_gives_max_direction_term():
    z = torch.tensor([[1.0, -2.0, 0.5]])
    s = semantic_score(z, -z, alpha=0.0, beta=1.0, tanh_scale=1.0)
    assert s.m_raw == pytest.approx(0.0, abs=1e-6) and s.d_norm == pytest.approx(1.0)


def test_probe_accumulator_averages_layers_before_scoring():
    acc = ProbeAccumulator(token_stride=1)
    a_in, a_out = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 2.0]]])
    b_in, b_out = torch.tensor([[[3.0, 0.0]]]), torch.tensor([[[0.0, 4.0]]])
    acc.add(a_in, a_out)
    acc.add(b_in, b_out)
    got = acc.score(0.5, 0.5, 1.0)
    want = semantic_score((a_in + b_in) / 2, (a_out + b_out) / 2, 0.5, 0.5, 1.0)
    assert got == want
    assert ProbeAccumulator(1).score(0.5, 0.5, 1.0) is None


def test_probe_accumulator_token_stride():
    acc = ProbeAccumulator(token_stride=2)
    z_in = torch.arange(12.0).reshape(1, 6, 2)
    acc.add(z_in, z_in * 2)
    assert acc.sum_in.shape == (1, 3, 2) and torch.equal(acc.sum_in, z_in[:, ::2])


def test_threshold_direction():
    # inverse: more prompt-driven change -> lower threshold -> less skipping
    assert skip_threshold(0.2, 1.0, "inverse") > skip_threshold(0.6, 1.0, "inverse")
    assert skip_threshold(0.25, 2.0, "inverse") == pytest.approx(1.5)
    assert skip_threshold(0.25, 2.0, "paper") == pytest.approx(0.5)
    assert skip_threshold(1.2, 1.0, "inverse") == 0.0  # never negative
    assert skip_threshold(0.5, 0.0, "inverse") == 0.0
