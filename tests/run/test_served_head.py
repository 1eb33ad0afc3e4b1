"""Never worse than the start: the learned head is served only on significant out-of-sample evidence."""

import math

import numpy as np
import pytest

from stackray.game import GameConfig
from stackray.game.leader import replay_leader
from stackray.run.served_head import MAX_FOLDS, choose_head, guard, held_out_predictions, sign_test


def test_sign_test_exact_values():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 0) == pytest.approx(1 / 32)
    assert sign_test(3, 3) == pytest.approx(sum(math.comb(6, k) for k in range(3, 7)) / 64)
    assert sign_test(0, 4) == 1.0


def _case(wins: int, losses: int, ties: int):
    answers = np.zeros(wins + losses + ties, dtype=np.int64)
    learned = np.r_[np.zeros(wins), np.ones(losses), np.zeros(ties)].astype(np.int64)
    prior = np.r_[np.ones(wins), np.zeros(losses), np.zeros(ties)].astype(np.int64)
    return learned, prior, answers


def test_learned_head_needs_significant_wins():
    choice = choose_head(*_case(9, 1, 20), level=0.1)
    assert choice.head == "learned" and (choice.wins, choice.losses) == (9, 1)
    assert choose_head(*_case(4, 2, 20), level=0.1).head == "prior"  # more wins, but not significant
    assert choose_head(*_case(1, 9, 0), level=0.1).head == "prior"  # worse than the prior


def test_audit_rounds_can_veto_a_gain_that_only_the_selected_rounds_show():
    learned, prior, answers = _case(12, 2, 20)  # significant on all paid rounds (p < 0.01)
    audited = np.zeros(len(answers), dtype=bool)
    audited[[12, 13, 20]] = True  # the audit rounds: both losses and a tie
    choice = choose_head(learned, prior, answers, level=0.1, audited=audited)
    assert choice.head == "prior" and (choice.audit_rounds, choice.audit_wins, choice.audit_losses) == (3, 0, 2)
    assert "audit rounds" in choice.reason
    audited[[0, 1]] = True  # two audit wins more: no longer contradicted
    choice = choose_head(learned, prior, answers, level=0.1, audited=audited)
    assert choice.head == "learned" and "won 2 and lost 2" in choice.reason
    # every paid round uniform (the random gate): the audit adds nothing to the sign test
    assert choose_head(learned, prior, answers, level=0.1, audited=np.ones(len(answers), bool)).head == "learned"
    with pytest.raises(ValueError, match="one flag per paid round"):
        choose_head(learned, prior, answers, level=0.1, audited=audited[:3])


def test_no_labels_keeps_the_prior():
    empty = np.zeros(0, dtype=np.int64)
    choice = choose_head(empty, empty, empty, level=0.1)
    assert choice.head == "prior" and choice.p_value is None and "no labels" in choice.reason


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="same length"):
        choose_head(np.zeros(3), np.zeros(2), np.zeros(3), level=0.1)


CONFIG = GameConfig(strategy="random", beta=0.5, lam=1.0, negatives=3)


def _task(n, rng, signal=True):
    """Column 0 (the prior) is noise; column 1 marks the answer when `signal`, else answers are random.
    Paid in blocks of 8 rounds (`paid_at`), as a game with windows would."""
    phi = rng.normal(size=(n, 4, 3))
    mask = np.ones((n, 4), dtype=bool)
    mask[: n // 3, 3] = False  # some rounds have 3 options
    answers = np.array([rng.integers(0, m.sum()) for m in mask])
    if signal:
        phi[np.arange(n), answers, 1] += 2.0
    return phi, mask, answers, np.arange(n) // 8


@pytest.mark.parametrize("n", [12, 45])
def test_each_prediction_is_the_games_head_replayed_without_its_fold(n):
    rng = np.random.default_rng(0)
    phi, mask, answers, paid_at = _task(n, rng)
    got = held_out_predictions(phi, mask, answers, paid_at, CONFIG)
    k = min(n, MAX_FOLDS)  # 12: leave one out; 45: 20 folds of 2-3 rounds
    for i in range(n):
        keep = np.arange(n) % k != i % k
        theta = replay_leader(phi[keep], mask[keep], answers[keep], paid_at[keep], CONFIG).theta
        assert got[i] == np.where(mask[i], phi[i] @ theta, -np.inf).argmax()


def test_a_round_does_not_predict_itself():
    # a round whose features repeat another's, with a contradicting answer: in-sample it could be fitted,
    # held out it is predicted from the rest, which say the opposite
    rng = np.random.default_rng(1)
    phi, mask, answers, paid_at = _task(40, rng)
    phi[0], mask[0] = phi[1], mask[1]
    answers[0] = (answers[1] + 1) % 3
    pred = held_out_predictions(phi, mask, answers, paid_at, CONFIG)
    assert pred[0] == answers[1] != answers[0]


def test_held_out_evidence_serves_a_head_that_learns_and_keeps_the_prior_otherwise():
    rng = np.random.default_rng(2)
    phi, mask, answers, paid_at = _task(60, rng)
    choice = guard(phi, mask, np.arange(60), answers, paid_at, CONFIG, level=0.05)
    assert choice.head == "learned" and "held-out replays" in choice.reason
    # random answers: nothing to learn; over many draws the guard switches at most about `level` of the time
    switches = 0
    for seed in range(40):
        phi, mask, answers, paid_at = _task(60, np.random.default_rng(100 + seed), signal=False)
        switches += guard(phi, mask, np.arange(60), answers, paid_at, CONFIG, level=0.05).head == "learned"
    assert switches <= 6


def test_empty_input():
    rng = np.random.default_rng(3)
    phi, mask, answers, paid_at = _task(10, rng)
    assert held_out_predictions(phi[:0], mask[:0], answers[:0], paid_at[:0], CONFIG).shape == (0,)
