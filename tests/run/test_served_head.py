"""Never worse than the start: the learned head is served only on significant out-of-sample evidence."""

import math

import numpy as np
import pytest

from stackray.run.served_head import choose_head, sign_test


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


def test_no_labels_keeps_the_prior():
    empty = np.zeros(0, dtype=np.int64)
    choice = choose_head(empty, empty, empty, level=0.1)
    assert choice.head == "prior" and choice.p_value is None and "no labels" in choice.reason


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="same length"):
        choose_head(np.zeros(3), np.zeros(2), np.zeros(3), level=0.1)
