"""The budget is never exceeded and the oracle is asked only for paid rounds, once each."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stackray.game import STRATEGIES, GameConfig, play
from stackray.game.config import RANKS


class CountingOracle:
    def __init__(self, gold):
        self.gold = gold
        self.calls = []

    def __call__(self, t):
        self.calls.append(t)
        return int(self.gold[t])


@settings(max_examples=60, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    beta=st.floats(0.01, 1.0),
    T=st.integers(1, 300),
    window=st.integers(1, 70),
    slack=st.integers(0, 5),
    max_wait=st.integers(0, 3),
    K=st.integers(2, 5),
    mixed=st.booleans(),
    seed=st.integers(0, 1000),
    rank=st.sampled_from(RANKS),
    audit=st.sampled_from([0.0, 0.3]),
)
def test_labels_within_budget_and_pace(strategy, beta, T, window, slack, max_wait, K, mixed, seed, rank, audit):
    rng = np.random.default_rng(seed)
    d = 6
    phi = rng.normal(size=(T, K, d))
    mask = np.ones((T, K), dtype=bool)
    if mixed:
        counts = rng.integers(2, K + 1, size=T)
        mask = np.arange(K)[None, :] < counts[:, None]
    gold = np.array([rng.choice(np.nonzero(m)[0]) for m in mask])
    oracle = CountingOracle(gold)
    config = GameConfig(strategy=strategy, beta=beta, window=window, slack=slack, max_wait=max_wait, seed=seed, rank=rank,
                        audit=audit)
    result = play(phi, oracle, config, mask=mask)

    # the oracle was asked exactly for the queried rounds, never twice
    assert len(oracle.calls) == len(set(oracle.calls))
    assert sorted(oracle.calls) == np.nonzero(result.queried)[0].tolist()
    assert result.labels_used == len(oracle.calls)
    assert not (result.audited & ~result.queried).any()  # audit rounds are paid rounds
    # predictions are always real candidates
    assert mask[np.arange(T), result.predictions].all()
    assert mask[np.arange(T), result.alternatives].all()
    assert (result.alternatives != result.predictions).all()

    B = math.floor(beta * T)
    if strategy == "full":
        assert result.queried.all()
        return
    assert result.labels_used <= B
    if strategy == "zero_shot":
        assert result.labels_used == 0
    if strategy == "passive":
        assert np.nonzero(result.queried)[0].tolist() == list(range(B))
        return
    for n in list(range(window, T, window)) + [T]:  # every prefix that ends a window
        paid_by_n = int(((result.paid_at >= 0) & (result.paid_at <= n)).sum())
        assert paid_by_n <= min(B, math.ceil(beta * n) + slack)


def test_costs_count_budget_in_cost_units():
    rng = np.random.default_rng(0)
    T = 400
    phi = rng.normal(size=(T, 4, 5))
    costs = rng.choice([0.5, 1.0, 3.0], size=T)
    gold = rng.integers(0, 4, size=T)
    for strategy in ("llf", "random", "margin", "entropy", "passive"):
        result = play(phi, lambda t: int(gold[t]), GameConfig(strategy=strategy, beta=0.2), costs=costs)
        assert costs[result.queried].sum() == result.cost_used <= math.floor(0.2 * T)
        assert result.cost_used > 0


def test_llf_only_labels_uncertain_rounds():
    rng = np.random.default_rng(3)
    phi = rng.normal(size=(500, 4, 6))
    gold = rng.integers(0, 4, size=500)
    result = play(phi, lambda t: int(gold[t]), GameConfig(strategy="llf", beta=0.3, max_wait=0))
    assert result.labels_used > 0
    # with max_wait=0 a label is bought in the round's own window, so the round was uncertain when played
    assert result.uncertain[result.queried].all()
