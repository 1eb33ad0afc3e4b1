import numpy as np
import pytest

from stackray.game import GameConfig, play, predict


def gold_oracle(gold):
    return lambda t: int(gold[t])


def test_zero_shot_predictions_are_argmax_of_prior_feature():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(300, 5, 7))
    mask = np.arange(5)[None, :] < rng.integers(2, 6, size=300)[:, None]
    gold = np.zeros(300, dtype=int)
    for prior_index in (0, 3):
        result = play(phi, gold_oracle(gold), GameConfig(strategy="zero_shot", prior_index=prior_index), mask=mask)
        expected = np.where(mask, phi[:, :, prior_index], -np.inf).argmax(axis=1)
        np.testing.assert_array_equal(result.predictions, expected)
        assert result.labels_used == 0
        np.testing.assert_array_equal(result.theta, np.eye(7)[prior_index])
        np.testing.assert_array_equal(predict(result.theta, phi, mask), expected)


def test_padded_candidates_are_never_chosen_even_when_they_score_best():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(200, 4, 3))
    phi[:, 3, :] = 100.0  # a padded slot with a huge score
    mask = np.ones((200, 4), dtype=bool)
    mask[:, 3] = False
    gold = rng.integers(0, 3, size=200)
    result = play(phi, gold_oracle(gold), GameConfig(strategy="full"), mask=mask)
    assert (result.predictions != 3).all() and (result.alternatives != 3).all()
    assert (predict(result.theta, phi, mask) != 3).all()


def test_learning_from_full_labels_recovers_the_answer_feature():
    rng = np.random.default_rng(2)
    T, K = 600, 4
    phi = rng.normal(size=(T, K, 4))
    gold = rng.integers(0, K, size=T)
    phi[np.arange(T), gold, 2] += 3.0  # feature 2 marks the gold answer
    result = play(phi, gold_oracle(gold), GameConfig(strategy="full", window=32))
    assert (predict(result.theta, phi, None) == gold).mean() > 0.9
    assert np.argmax(np.abs(result.theta)) == 2


def test_play_is_deterministic():
    rng = np.random.default_rng(4)
    phi = rng.normal(size=(300, 4, 5))
    gold = rng.integers(0, 4, size=300)
    for strategy in ("llf", "random"):
        a = play(phi, gold_oracle(gold), GameConfig(strategy=strategy, seed=7))
        b = play(phi, gold_oracle(gold), GameConfig(strategy=strategy, seed=7))
        np.testing.assert_array_equal(a.theta, b.theta)
        np.testing.assert_array_equal(a.queried, b.queried)


@pytest.mark.parametrize("kwargs, field", [
    (dict(beta=0.0), "beta"), (dict(beta=1.5), "beta"), (dict(beta=float("nan")), "beta"),
    (dict(c=-1.0), "c"), (dict(tau=-0.1), "tau"), (dict(alpha=-2.0), "alpha"),
    (dict(lam=0.0), "lam"), (dict(lam=-1.0), "lam"), (dict(window=0), "window"),
    (dict(max_wait=-1), "max_wait"), (dict(slack=-1), "slack"), (dict(strategy="greedy"), "strategy"),
    (dict(window=2.5), "window"), (dict(negatives=0), "negatives"), (dict(rank="widest"), "rank"),
    (dict(lam_tail=-1.0), "lam_tail"), (dict(tail_from=-1), "tail_from"),
])
def test_invalid_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"GameConfig\.{field}\b"):
        GameConfig(**kwargs)


def test_invalid_inputs_name_the_problem():
    ok = np.zeros((5, 3, 4))
    oracle = gold_oracle(np.zeros(5, dtype=int))
    cfg = GameConfig()
    with pytest.raises(ValueError, match=r"phi.*\[T, K, d\]"):
        play(np.zeros((5, 3)), oracle, cfg)
    with pytest.raises(ValueError, match=r"K = 1"):
        play(np.zeros((5, 1, 4)), oracle, cfg)
    bad = ok.copy()
    bad[2, 1, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf at context 2, candidate 1, feature 3"):
        play(bad, oracle, cfg)
    bad[2, 1, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        predict(np.zeros(4), bad)
    with pytest.raises(ValueError, match=r"mask: shape"):
        play(ok, oracle, cfg, mask=np.ones((5, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"mask: context 0 has fewer than 2"):
        play(ok, oracle, cfg, mask=np.array([[True, False, False]] + [[True] * 3] * 4))
    with pytest.raises(ValueError, match=r"theta: shape"):
        predict(np.zeros(3), ok)
    with pytest.raises(ValueError, match=r"prior_index"):
        play(ok, oracle, GameConfig(prior_index=4))
    with pytest.raises(ValueError, match=r"costs"):
        play(ok, oracle, cfg, costs=np.zeros(5))


def test_oracle_answers_are_checked():
    phi = np.random.default_rng(0).normal(size=(10, 3, 4))
    mask = np.ones((10, 3), dtype=bool)
    mask[:, 2] = False
    with pytest.raises(ValueError, match=r"oracle: round 0 answered 2"):
        play(phi, lambda t: 2, GameConfig(strategy="full"), mask=mask)
    with pytest.raises(ValueError, match=r"expected an int"):
        play(phi, lambda t: "A", GameConfig(strategy="full"))


def test_nan_in_padding_is_ignored():
    rng = np.random.default_rng(5)
    phi = rng.normal(size=(50, 3, 4))
    mask = np.ones((50, 3), dtype=bool)
    mask[:, 2] = False
    phi[:, 2] = np.nan
    result = play(phi, lambda t: 0, GameConfig(strategy="full"), mask=mask)
    assert np.all(np.isfinite(result.theta))


def test_game_state_round_trip_continues_identically():
    """Stop after some windows, restore into a fresh Game, and finish: same result as one run."""
    import json

    from stackray.game import Game

    rng = np.random.default_rng(6)
    T, W = 700, 50
    phi = rng.normal(size=(T, 4, 6))
    gold = rng.integers(0, 4, size=T)
    oracle = gold_oracle(gold)
    for strategy, audit in (("llf", 0.0), ("random", 0.0), ("llf", 0.3)):
        cfg = GameConfig(strategy=strategy, beta=0.2, window=W, seed=3, audit=audit)

        def features_of(rounds):
            return phi[rounds], np.ones((len(rounds), 4), dtype=bool)

        whole = play(phi, oracle, cfg)
        first = Game(cfg, T, 6)
        for start in range(0, 300, W):
            first.step(phi[start:start + W], np.ones((W, 4), dtype=bool), oracle, features_of)
        arrays, meta = first.state_dict()
        second = Game(cfg, T, 6)
        second.load_state_dict({k: v.copy() for k, v in arrays.items()}, json.loads(json.dumps(meta)))
        for start in range(300, T, W):
            second.step(phi[start:start + W], np.ones((min(W, T - start), 4), dtype=bool), oracle, features_of)
        resumed = second.result()
        np.testing.assert_array_equal(resumed.theta, whole.theta)
        np.testing.assert_array_equal(resumed.paid_at, whole.paid_at)
        np.testing.assert_array_equal(resumed.predictions, whole.predictions)
        np.testing.assert_array_equal(resumed.audited, whole.audited)


def test_a_stronger_ridge_on_the_tail_is_the_same_game_as_shrunk_tail_features():
    """lam_tail = s^2 lam on columns >= tail_from plays exactly as lam everywhere on those columns divided by s."""
    rng = np.random.default_rng(11)
    phi = rng.normal(size=(256, 4, 6))
    gold = rng.integers(0, 4, size=256)
    s = 3.0
    shrunk = phi.copy()
    shrunk[:, :, 2:] /= s
    a = play(phi, gold_oracle(gold), GameConfig(strategy="llf", lam=2.0, lam_tail=2.0 * s * s, tail_from=2, window=32))
    b = play(shrunk, gold_oracle(gold), GameConfig(strategy="llf", lam=2.0, window=32))
    np.testing.assert_array_equal(a.queried, b.queried)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_allclose(a.theta[2:] * s, b.theta[2:], atol=1e-9)
    np.testing.assert_allclose(a.theta[:2], b.theta[:2], atol=1e-9)
    # and the tail ridge does change the game (it is not ignored)
    c = play(phi, gold_oracle(gold), GameConfig(strategy="llf", lam=2.0, window=32))
    assert not np.allclose(a.theta, c.theta)
