"""Audit labels (GameConfig.audit): a share of the budget spent on rounds drawn without looking at the model."""

import math

import numpy as np
import pytest

from stackray.game import GameConfig, play
from stackray.game.synthetic import SyntheticTask


def _stream(seed: int, T: int = 1200, d: int = 12):
    task = SyntheticTask(d, 4, feature_noise=0.1, seed=seed)
    return task.sample(T, seed=seed + 1)


@pytest.mark.parametrize("strategy", ["llf", "margin", "entropy"])
def test_audit_share_of_the_budget_is_spent_evenly_over_the_stream(strategy):
    s = _stream(0)
    T, beta, audit = len(s.gold), 0.1, 0.25
    res = play(s.phi, lambda t: int(s.gold[t]), GameConfig(strategy=strategy, beta=beta, audit=audit, window=32), mask=s.mask)
    audited = np.nonzero(res.audited)[0]
    assert len(audited) == math.floor(audit * math.floor(beta * T))  # the share of B, no more, no less
    assert res.queried[audited].all()
    first_half = int((audited < T // 2).sum())
    assert abs(first_half - len(audited) / 2) <= 3  # paced with the budget, not bought up front


def test_audit_rounds_do_not_depend_on_the_model():
    """Two different streams, the same seed and shape: llf's other labels differ, its audit draws do not."""
    a, b = _stream(0), _stream(7)
    cfg = GameConfig(strategy="llf", beta=0.1, audit=0.3, window=32, seed=5)
    ra = play(a.phi, lambda t: int(a.gold[t]), cfg, mask=a.mask)
    rb = play(b.phi, lambda t: int(b.gold[t]), cfg, mask=b.mask)
    assert not np.array_equal(ra.queried, rb.queried)
    np.testing.assert_array_equal(ra.audited, rb.audited)
    rc = play(a.phi, lambda t: int(a.gold[t]), GameConfig(strategy="llf", beta=0.1, audit=0.3, window=32, seed=6), mask=a.mask)
    assert not np.array_equal(ra.audited, rc.audited)  # the seed draws them


def test_uniform_gates_count_every_paid_round_and_no_audit_means_none():
    s = _stream(1, T=400)
    oracle = lambda t: int(s.gold[t])  # noqa: E731
    for strategy in ("random", "passive", "full"):
        res = play(s.phi, oracle, GameConfig(strategy=strategy, beta=0.1, audit=0.3), mask=s.mask)
        np.testing.assert_array_equal(res.audited, res.queried)
    assert not play(s.phi, oracle, GameConfig(strategy="zero_shot", audit=0.3), mask=s.mask).queried.any()
    assert not play(s.phi, oracle, GameConfig(strategy="llf", beta=0.1), mask=s.mask).audited.any()


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_audit_share_is_checked(bad):
    with pytest.raises(ValueError, match="GameConfig.audit"):
        GameConfig(audit=bad)
