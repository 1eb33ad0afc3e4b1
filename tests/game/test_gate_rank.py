"""How LLF orders its uncertain rounds (`GameConfig.rank`): the widest first, or the least decided first."""

import numpy as np
import pytest

from stackray.game import GameConfig
from stackray.game.follower import Confidence
from stackray.game.gates import make_gate

# Three uncertain rounds (margin < c * width at c = 1): round 0 is the widest but the leader already
# separates it by a large margin; round 1 is narrower and undecided; round 2 is narrow and decided.
WINDOW = Confidence(margin=np.array([9.0, 0.1, 0.5]), width=np.array([10.0, 2.0, 0.6]), uncertain=np.ones(3, dtype=bool))


def _first_paid(rank: str) -> int:
    # beta = 1/3 of 3 rounds: exactly one label in the first window, so the gate's top choice shows
    gate = make_gate(GameConfig(strategy="llf", beta=1 / 3, rank=rank), total_rounds=3)
    chosen = gate.select(np.arange(3), WINDOW, np.zeros(0, dtype=np.int64), None, rounds_played=3)
    assert chosen.size == 1
    return int(chosen[0])


def test_width_pays_for_the_widest_round_even_when_it_is_nearly_decided():
    assert _first_paid("width") == 0


@pytest.mark.parametrize("rank", ["gap", "ratio"])
def test_gap_and_ratio_pay_for_the_least_decided_round(rank):
    assert _first_paid(rank) == 1


def test_rank_applies_to_pending_rounds_too():
    # one round in the window, two pending ones re-assessed under the new leader: all compete on one scale
    gate = make_gate(GameConfig(strategy="llf", beta=1 / 3, rank="gap"), total_rounds=3)
    window = Confidence(margin=WINDOW.margin[:1], width=WINDOW.width[:1], uncertain=WINDOW.uncertain[:1])
    pending = Confidence(margin=WINDOW.margin[1:], width=WINDOW.width[1:], uncertain=WINDOW.uncertain[1:])
    chosen = gate.select(np.array([2]), window, np.array([0, 1]), pending, rounds_played=3)
    assert chosen.tolist() == [0]  # pending round 0 carries the undecided pair (margin 0.1, width 2)
