"""Never worse than the start: which head a run serves, the learned theta or the zero-shot prior theta0.

A learned head can be worse than the LM it started from (measured: PIQA with SmolLM2 features), so the
run replaces the prior only when the labels it paid for give evidence that learning helped.

The evidence is out-of-sample by construction. For every paid round the game recorded its prediction
*before* that round's label was revealed (the leader's choice under the theta committed for the
window; the label arrived later and never influenced it). On the same rounds the prior's choice is
argmax_y phi(x, y)[prior]. Rounds where the two agree say nothing; on the others count
    wins   = learned right, prior wrong,      losses = prior right, learned wrong,
and test H0 "learning is no better than the prior" with a one-sided sign test (exact binomial,
p = P(X >= wins | n = wins + losses, 1/2)). The learned head is served when p <= `level`.

Why this test: it uses only labels the run already paid for (no extra budget, no peeking at unpaid
gold), every prediction it scores is a genuine forecast, and it is conservative: the served head is
the FINAL theta, trained on every label, while the forecasts came from earlier, less-trained thetas.
Its blind spot is the gate's selection: LLF pays for uncertain rounds, so the comparison is made on
the rounds where the model was unsure, the ones a head can actually change.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class HeadChoice:
    head: str  # "learned" or "prior"
    reason: str
    paid_rounds: int
    wins: int
    losses: int
    p_value: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact binomial p-value P(X >= wins), X ~ Bin(wins + losses, 1/2); 1.0 for n = 0."""
    n = wins + losses
    if n == 0:
        return 1.0
    return math.fsum(math.comb(n, k) for k in range(wins, n + 1)) / 2.0**n


def choose_head(predictions: np.ndarray, prior_predictions: np.ndarray, answers: np.ndarray, level: float) -> HeadChoice:
    """Decide from the paid rounds' pre-label predictions, the prior's predictions and the paid answers."""
    predictions, prior_predictions, answers = (np.asarray(a, dtype=np.int64) for a in (predictions, prior_predictions, answers))
    if not predictions.shape == prior_predictions.shape == answers.shape:
        raise ValueError("choose_head: predictions, prior predictions and answers must have the same length")
    n = int(answers.size)
    if n == 0:
        return HeadChoice("prior", "no labels were paid for: nothing shows that a learned head is better", 0, 0, 0, None)
    learned_ok, prior_ok = predictions == answers, prior_predictions == answers
    wins, losses = int(np.sum(learned_ok & ~prior_ok)), int(np.sum(prior_ok & ~learned_ok))
    p = sign_test(wins, losses)
    stats = f"on {n} paid rounds the pre-label forecasts beat the prior {wins} times and lost {losses} (sign test p = {p:.3g})"
    if wins > losses and p <= level:
        return HeadChoice("learned", f"{stats} <= {level:g}", n, wins, losses, p)
    return HeadChoice("prior", f"{stats}; not significant at {level:g}, so the zero-shot prior is kept", n, wins, losses, p)
