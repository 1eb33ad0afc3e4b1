"""Never worse than the start: which head a run serves, the learned theta or the zero-shot prior theta0.

A learned head can be worse than the LM it started from (measured: PIQA with SmolLM2 features), so the
run replaces the prior only when the labels it paid for give evidence that learning helped.

The evidence is out-of-sample and comes only from labels the run already paid for. For every paid
round, `cross_fitted_predictions` predicts its answer with the leader's ridge refitted in closed form
on all the OTHER paid rounds (leave one round out); on the same rounds the prior's choice is
argmax_y phi(x, y)[prior]. Rounds where the two agree say nothing; on the others count
    wins   = learned right, prior wrong,      losses = prior right, learned wrong,
and test H0 "learning is no better than the prior" with a one-sided sign test (exact binomial,
p = P(X >= wins | n = wins + losses, 1/2)). The learned head is served when p <= `level`.

Why cross-fitted and not the game's own pre-label forecasts (which `choose_head` also accepts): the
early forecasts come from a theta that had seen almost no labels, so they measure the head at the
start of the run, not the one served; on OpenBookQA, where the final head gains 14-17 points on a
dev split, that test kept the prior in most runs (docs/game.md, "The guard"). A held-out refit on n - 1 of n
labels is nearly the served head and still never sees the answer it is scored on. Its blind spot is
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


def cross_fitted_predictions(phi: np.ndarray, mask: np.ndarray, answers: np.ndarray, *, lam: float | np.ndarray,
                             prior_index: int) -> np.ndarray:
    """Each paid round's prediction by a ridge head fitted on all the OTHER paid rounds (int [n]).

    The head is the game's leader in closed form: theta = A^-1 b with A = Lam + sum z z^T and
    b = Lam e_prior + sum z (Lam = diag of `lam`, GameConfig.ridge) over the pairs z = phi(y*) - phi(y)
    of every valid rival y. Leaving round i out removes its K - 1 pairs Z_i, a low-rank downdate:
        A_-i^-1 = A^-1 + U S^-1 U^T,  U = A^-1 Z_i^T,  S = I - Z_i U      (Woodbury)
    so all n held-out heads cost O(n K d^2) after one inverse, not n inverses. Every prediction is out of
    sample, and unlike the game's pre-label forecasts it comes from a head trained on n - 1 of the n
    labels, nearly the served head.
    """
    phi, mask, answers = np.asarray(phi, dtype=np.float64), np.asarray(mask, dtype=bool), np.asarray(answers, dtype=np.int64)
    n, K, d = phi.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rival = mask & (np.arange(K)[None, :] != answers[:, None])
    Z = np.where(rival[:, :, None], phi[np.arange(n), answers][:, None, :] - phi, 0.0)  # [n, K, d]; 0 rows add nothing
    ridge = np.broadcast_to(np.asarray(lam, dtype=np.float64), (d,))  # one strength, or one per column
    b = Z.sum(axis=(0, 1))
    b[prior_index] += ridge[prior_index]
    A_inv = np.linalg.inv(np.diag(ridge) + np.einsum("nkd,nke->de", Z, Z))
    b_out = b[None, :] - Z.sum(axis=1)  # [n, d]: b without round i's pairs
    U = Z @ A_inv  # [n, K, d] (rows of U^T; A^-1 is symmetric)
    S = np.eye(K)[None] - np.einsum("nkd,njd->nkj", Z, U)
    correction = np.linalg.solve(S, np.einsum("nkd,nd->nk", U, b_out)[:, :, None])[:, :, 0]
    theta = b_out @ A_inv + np.einsum("nkd,nk->nd", U, correction)  # [n, d]: the head without round i
    return np.where(mask, np.einsum("nkd,nd->nk", phi, theta), -np.inf).argmax(axis=1)


def guard(phi: np.ndarray, mask: np.ndarray, rounds: np.ndarray, answers: np.ndarray, config, level: float,
          prior: np.ndarray | None = None, audited: np.ndarray | None = None) -> HeadChoice:
    """The run's choice of head from what it paid for: the paid `rounds` of the stream phi [T, K, d] and their
    `answers`, judged by the cross-fitted ridge of the game's `config` (a GameConfig) against the prior.
    `prior`: the start's predictions on `rounds` when they do not come from `phi` (after LoRA phases phi
    are the adapted model's features, and the start is the base model's zero-shot choice). `audited` (bool,
    one per paid round): which were drawn uniformly (GameResult.audited); None: not known."""
    rounds = np.asarray(rounds, dtype=np.int64)
    phi_paid, mask_paid = phi[rounds], mask[rounds]
    if prior is None:
        prior = np.where(mask_paid, phi_paid[:, :, config.prior_index], -np.inf).argmax(axis=1)
    held_out = cross_fitted_predictions(phi_paid, mask_paid, answers, lam=config.ridge(phi.shape[2]),
                                        prior_index=config.prior_index)
    return choose_head(held_out, prior, answers, level, "cross-fitted ridge predictions", audited)


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
