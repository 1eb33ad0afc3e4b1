import numpy as np
import pytest

from stackray.game import GameConfig, Leader, play
from stackray.game.leader import replay_leader
from stackray.game.synthetic import SyntheticTask


def test_sherman_morrison_matches_inverse_after_1000_updates():
    rng = np.random.default_rng(0)
    d = 20
    leader = Leader(d, lam=1.0)
    for _ in range(1000):
        leader.update(rng.normal(size=(1, d)))
    np.testing.assert_allclose(leader.A_inv, np.linalg.inv(leader.A), atol=1e-8, rtol=0)
    np.testing.assert_allclose(leader.theta, np.linalg.solve(leader.A, leader.b), atol=1e-8)


@pytest.mark.parametrize("block", [3, 40])  # Woodbury path (4m < d) and the re-inverse path
def test_block_updates_match_direct_ridge(block):
    rng = np.random.default_rng(1)
    d, lam = 30, 2.0
    leader = Leader(d, lam=lam, prior_index=2)
    Z_all, w_all = [], []
    for _ in range(25):
        Z = rng.normal(size=(block, d))
        w = rng.uniform(0.5, 2.0, size=block)
        leader.update(Z, w)
        Z_all.append(Z)
        w_all.append(w)
    Z, w = np.concatenate(Z_all), np.concatenate(w_all)
    theta0 = np.eye(d)[2]
    A = lam * np.eye(d) + (Z.T * w) @ Z
    np.testing.assert_allclose(leader.A_inv, np.linalg.inv(A), atol=1e-8, rtol=0)
    np.testing.assert_allclose(leader.theta, np.linalg.solve(A, lam * theta0 + Z.T @ w), atol=1e-8)


def test_snapshot_is_immutable_and_versioned():
    leader = Leader(5)
    snap = leader.commit()
    assert snap.version == 0 and snap.theta[0] == 1.0 and snap.theta[1:].sum() == 0
    before = snap.A_inv.copy()
    leader.update(np.ones((1, 5)))
    assert leader.commit().version == 1
    np.testing.assert_array_equal(snap.A_inv, before)  # the committed snapshot did not move
    with pytest.raises(ValueError):
        snap.theta[0] = 3.0


def test_state_dict_round_trip():
    rng = np.random.default_rng(2)
    leader = Leader(8, lam=0.5)
    leader.update(rng.normal(size=(4, 8)))
    clone = Leader(8, lam=0.5)
    clone.load_state_dict({k: v.copy() for k, v in leader.state_dict().items()})
    clone.update(np.ones((1, 8)))
    leader.update(np.ones((1, 8)))
    np.testing.assert_array_equal(clone.theta, leader.theta)
    assert clone.version == leader.version == 2


def test_non_positive_weight_rejected():
    with pytest.raises(ValueError, match="weights"):
        Leader(3).update(np.ones((1, 3)), weights=[0.0])


def test_per_column_ridge_matches_direct_solve():
    rng = np.random.default_rng(7)
    ridge = np.array([1.0, 1.0, 50.0, 50.0, 50.0])
    leader = Leader(5, lam=ridge, prior_index=0)
    Z = rng.normal(size=(12, 5))
    leader.update(Z[:2])
    leader.update(Z[2:])
    theta0 = np.eye(5)[0]
    expected = np.linalg.solve(np.diag(ridge) + Z.T @ Z, ridge * theta0 + Z.sum(axis=0))
    np.testing.assert_allclose(leader.theta, expected, atol=1e-10)
    np.testing.assert_allclose(leader.A_inv, np.linalg.inv(leader.A), atol=1e-10)


@pytest.mark.parametrize("strategy, beta", [("llf", 0.1), ("random", 0.2), ("passive", 0.15)])
def test_replaying_the_paid_blocks_gives_the_games_head(strategy, beta):
    """replay_leader on a game's paid rounds (grouped by the window they were paid in, pending rounds
    included) reproduces the theta the game ended with: the guard judges the head that is served."""
    stream = SyntheticTask(12, 4, feature_noise=0.3, seed=5).sample(600, seed=6)
    config = GameConfig(strategy=strategy, beta=beta, window=32, lam=3.0, negatives=2, seed=1)
    res = play(stream.phi, lambda t: int(stream.gold[t]), config, mask=stream.mask)
    paid = np.nonzero(res.queried)[0]
    assert len(np.unique(res.paid_at[paid])) > 2  # several blocks, so their order matters
    leader = replay_leader(stream.phi[paid], stream.mask[paid], stream.gold[paid], res.paid_at[paid], config)
    np.testing.assert_allclose(leader.theta, res.theta, rtol=0, atol=1e-9)
    one_block = replay_leader(stream.phi[paid], stream.mask[paid], stream.gold[paid], np.zeros(len(paid)), config)
    assert np.abs(one_block.theta - res.theta).max() > 1e-6  # a different replay is a different head
