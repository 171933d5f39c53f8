"""Eq. 9-10 and frame bookkeeping against hand-computed values (no ComfyUI)."""

from __future__ import annotations

import pytest
import torch

from semcache_core.tmm import (
    FrameStaleness,
    TMMConfig,
    frame_token_index,
    motion_scores,
    reuse_threshold,
    select_reused_frames,
)


def latent_from_frames(frames: list[list[float]]) -> torch.Tensor:
    """(1, C=len(frame), T, 1, 1) latent with the given per-frame vectors."""
    return torch.tensor(frames).T.reshape(1, len(frames[0]), len(frames), 1, 1)


def test_motion_scores_hand_computed():
    lat = latent_from_frames([[3.0, 4.0], [3.0, 4.0], [0.0, 5.0], [0.0, -5.0]])
    s = motion_scores(lat)
    # f1: identical -> 0; f2: |(-3,1)| = sqrt(10) over 5 + 5; f3: |(0,-10)| = 10 over 5 + 5
    assert s.tolist() == pytest.approx([0.0, 10**0.5 / 10, 1.0], abs=1e-6)


def test_motion_scores_use_all_batch_rows():
    a = latent_from_frames([[1.0], [2.0]])
    b = latent_from_frames([[0.0], [0.0]])
    s = motion_scores(torch.cat([a, b]))
    assert s.tolist() == pytest.approx([1.0 / 3.0])  # |2-1| / (|2| + |1|), row b adds nothing


def test_eq10_percentile_threshold():
    scores = torch.tensor([0.1, 0.4, 0.2, 0.8, 0.3])
    # reuse 0.25 -> paper r = 0.75 -> P_25 of {0.1,0.2,0.3,0.4,0.8} = 0.2 (linear, index 1.0)
    assert reuse_threshold(scores, 0.25) == pytest.approx(0.2)
    assert reuse_threshold(scores, 0.5) == pytest.approx(0.3)


def test_selection_takes_lowest_motion_and_never_frame_zero():
    scores = torch.tensor([0.1, 0.4, 0.2, 0.8, 0.3])  # frames 1..5
    fresh = [0] * 6
    assert select_reused_frames(scores, 0.5, fresh, 2) == [1, 3]  # below P_50 = 0.3
    assert select_reused_frames(scores, 0.0, fresh, 2) == []
    stale = [0, 2, 0, 0, 0, 0]  # frame 1 reused twice in a row already
    assert select_reused_frames(scores, 0.5, stale, 2) == [3]


def test_frame_token_index_is_frame_major():
    assert frame_token_index([0, 2], 3).tolist() == [0, 1, 2, 6, 7, 8]


def test_staleness_counts_consecutive_reuse():
    st = FrameStaleness(4)
    st.update([1, 2])
    st.update([2])
    assert st.counts == [0, 0, 2, 0]
    st.update([])
    assert st.counts == [0, 0, 0, 0]


@pytest.mark.parametrize("bad", [dict(reuse_ratio=1.0), dict(max_frame_staleness=0), dict(motion_source="x")])
def test_tmm_config_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="TMM"):
        TMMConfig(**bad)
