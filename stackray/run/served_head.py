"""Never worse than the start: which head a run serves, the learned theta or the zero-shot prior theta0.

A learned head can be worse than the LM it started from (measured: PIQA with SmolLM2 features), so the
run replaces the prior only when the labels it paid for give evidence that learning helped.

The evidence is out-of-sample and comes only from labels the run already paid for. For every paid
round, `held_out_predictions` predicts its answer with the game's own head learned without it: the
leader replayed on the other paid rounds (leave one out; 20 folds beyond 20 labels), with the blocks and
the hardest-rival pairs the game used. On the same rounds the prior's choice is argmax_y phi(x, y)[prior].
Rounds where the two agree say nothing; on the others count
    wins   = learned right, prior wrong,      losses = prior right, learned wrong,
and test H0 "learning is no better than the prior" with a one-sided sign test (exact binomial,
p = P(X >= wins | n = wins + losses, 1/2)). The learned head is served when p <= `level`.

Why replayed and not a ridge on all pairs in closed form (the guard until 2026-12-07): that is a different
head. The game's leader learns only the hardest, margin-violating rivals of each block under the theta of
its time; a ridge on every rival can differ from it by several points (measured: a `passive` head on
ARC-Easy 0.372 on the stream's unpaid questions, the all-rival ridge on the same 30 labels 0.481). Over the
3,000 heads of the label-efficiency report the two kinds of evidence serve about as often (docs/game.md,
"The guard's level"), but only the replay judges the head that is actually served.

Why held out and not the game's own pre-label forecasts (which `choose_head` also accepts): the
early forecasts come from a theta that had seen almost no labels, so they measure the head at the
start of the run, not the one served; on OpenBookQA, where the final head gains 14-17 points on a
dev split, that test kept the prior in most runs (docs/game.md, "The guard"). A head replayed on n - 1
of n labels is nearly the served head and still never sees the answer it is scored on. Its blind spot is
the gate's selection: LLF pays for uncertain rounds, so the comparison is made on the rounds where
the model was unsure, where the prior is weakest. A head that is worse on the whole stream can still win
there (measured on ARC-Challenge: 3 such heads served, the worst 0.080 below zero-shot; docs/game.md).

Audit rounds close that gap (GameConfig.audit). They were drawn uniformly from the stream, so on them the
learned-vs-prior comparison is unbiased for the whole stream, if small. The learned head is served only
when, in addition to the sign test on all paid rounds, it does not lose to the prior on the audit rounds
(audit wins >= audit losses). For a gate that pays only for uniform rounds (random, passive, full) every
paid round is an audit round and this adds nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stackray.game.leader import replay_leader
from stackray.game.play import predict


@dataclass(frozen=True)
class HeadChoice:
    head: str  # "learned" or "prior"
    reason: str
    paid_rounds: int
    wins: int
    losses: int
    p_value: float | None
    audit_rounds: int | None = None  # the paid rounds drawn uniformly (None: not told which were)
    audit_wins: int | None = None
    audit_losses: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact binomial p-value P(X >= wins), X ~ Bin(wins + losses, 1/2); 1.0 for n = 0."""
    n = wins + losses
    if n == 0:
        return 1.0
    return math.fsum(math.comb(n, k) for k in range(wins, n + 1)) / 2.0**n


MAX_FOLDS = 20  # held-out heads per guard: leave-one-out up to 20 paid rounds, 20 folds beyond


def held_out_predictions(phi: np.ndarray, mask: np.ndarray, answers: np.ndarray, paid_at: np.ndarray, config,
                         folds: int = MAX_FOLDS) -> np.ndarray:
    """Each paid round's prediction by the game's own head learned WITHOUT it (int [n]).

    The paid rounds are dealt into min(n, folds) folds by position (round i into fold i mod k, so each fold
    spans the stream); for each fold the leader is replayed (`replay_leader`: the same blocks, the same
    hardest-rival pairs under the theta of their time) on the other folds' labels and predicts the fold.
    With n <= folds that is leave one round out; beyond, each held-out head still saw 95% of the labels.
    """
    answers, paid_at = np.asarray(answers, dtype=np.int64), np.asarray(paid_at)
    n = len(answers)
    out = np.zeros(n, dtype=np.int64)
    k = min(n, folds)
    fold = np.arange(n) % max(k, 1)
    for f in range(k):
        held = fold == f
        leader = replay_leader(phi[~held], mask[~held], answers[~held], paid_at[~held], config)
        out[held] = predict(leader.theta, phi[held], mask[held])
    return out


def guard(phi: np.ndarray, mask: np.ndarray, rounds: np.ndarray, answers: np.ndarray, paid_at: np.ndarray, config,
          level: float, prior: np.ndarray | None = None, audited: np.ndarray | None = None) -> HeadChoice:
    """The run's choice of head from what it paid for: the paid `rounds` of the stream phi [T, K, d], their
    `answers` and `paid_at` (GameResult.paid_at: the window each was paid in), judged by held-out replays of
    the game's leader (`config`, a GameConfig) against the prior.
    `prior`: the start's predictions on `rounds` when they do not come from `phi` (after LoRA phases phi
    are the adapted model's features, and the start is the base model's zero-shot choice). `audited` (bool,
    one per paid round): which were drawn uniformly (GameResult.audited); None: not known."""
    rounds = np.asarray(rounds, dtype=np.int64)
    phi_paid, mask_paid = phi[rounds], mask[rounds]
    if prior is None:
        prior = np.where(mask_paid, phi_paid[:, :, config.prior_index], -np.inf).argmax(axis=1)
    held_out = held_out_predictions(phi_paid, mask_paid, answers, paid_at, config)
    return choose_head(held_out, prior, answers, level, "held-out replays of the game's head", audited)


def choose_head(predictions: np.ndarray, prior_predictions: np.ndarray, answers: np.ndarray, level: float,
                evidence: str = "pre-label forecasts", audited: np.ndarray | None = None) -> HeadChoice:
    """Decide from out-of-sample predictions of the paid rounds (named by `evidence` in the reason),
    the prior's predictions and the paid answers; with `audited`, the audit rounds must not contradict."""
    predictions, prior_predictions, answers = (np.asarray(a, dtype=np.int64) for a in (predictions, prior_predictions, answers))
    if not predictions.shape == prior_predictions.shape == answers.shape:
        raise ValueError("choose_head: predictions, prior predictions and answers must have the same length")
    n = int(answers.size)
    if n == 0:
        return HeadChoice("prior", "no labels were paid for: nothing shows that a learned head is better", 0, 0, 0, None)
    learned_ok, prior_ok = predictions == answers, prior_predictions == answers
    wins, losses = int(np.sum(learned_ok & ~prior_ok)), int(np.sum(prior_ok & ~learned_ok))
    p = sign_test(wins, losses)
    stats = f"on {n} paid rounds the {evidence} beat the prior {wins} times and lost {losses} (sign test p = {p:.3g})"
    audit: tuple = (None, None, None)
    if audited is not None:
        audited = np.asarray(audited, dtype=bool)
        if audited.shape != answers.shape:
            raise ValueError("choose_head: `audited` must have one flag per paid round")
        a_wins, a_losses = int(np.sum(learned_ok & ~prior_ok & audited)), int(np.sum(prior_ok & ~learned_ok & audited))
        audit = (int(audited.sum()), a_wins, a_losses)
    if not (wins > losses and p <= level):
        return HeadChoice("prior", f"{stats}; not significant at {level:g}, so the zero-shot prior is kept", n, wins, losses, p, *audit)
    if audit[0] is not None and audit[0] < n and audit[1] < audit[2]:
        return HeadChoice("prior", f"{stats} <= {level:g}, but on the {audit[0]} audit rounds (drawn uniformly) it "
                          f"beat the prior {audit[1]} times and lost {audit[2]}: the gain may be the gate's selection, "
                          "so the zero-shot prior is kept", n, wins, losses, p, *audit)
    reason = f"{stats} <= {level:g}"
    if audit[0] is not None and audit[0] < n:
        reason += f"; on the {audit[0]} audit rounds (drawn uniformly) it won {audit[1]} and lost {audit[2]}"
    return HeadChoice("learned", reason, n, wins, losses, p, *audit)
