"""The follower: the most threatening alternative to the leader's choice, and after a label the
supervised hardest negatives. Everything is vectorised over a whole window [n, K, d].

Best response under optimism (docs/game.md, "Order of play in a window", step 3):

    y' = argmax_{y != y_hat, y valid}  theta^T phi(y) + alpha * ||phi(y) - phi(y_hat)||_{A^-1}

The widths ||phi(y) - phi(y_hat)||_{A^-1} of every candidate are the window's unavoidable work
(one [n K, d] x [d, d] product); the confidence of the round reuses the width of y'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the leader makes its pairs with `supervised_pairs`, so it imports this module
    from stackray.game.leader import LeaderSnapshot

NEG_INF = -np.inf


@dataclass
class WindowAssessment:
    """Per-round quantities of a window under one leader snapshot ([n] arrays)."""

    prediction: np.ndarray  # int, the leader's choice y_hat
    alternative: np.ndarray  # int, the follower's best response y'
    margin: np.ndarray  # theta^T (phi(y_hat) - phi(y')) >= 0
    width: np.ndarray  # ||phi(y_hat) - phi(y')||_{A^-1}
    uncertain: np.ndarray  # bool: margin < c * width and width >= tau
    entropy: np.ndarray  # entropy of softmax(theta^T phi) over valid candidates
    normalised_margin: np.ndarray  # margin / ||phi(y_hat) - phi(y')||_2, for the `margin` baseline


@dataclass
class Confidence:
    """Margin, width and uncertainty of fixed pairs z = phi(y_hat) - phi(y') under a snapshot."""

    margin: np.ndarray
    width: np.ndarray
    uncertain: np.ndarray


def confidence(snapshot: LeaderSnapshot, z: np.ndarray, *, c: float, tau: float) -> Confidence:
    """Re-rank already-played rounds under a newer leader: O(d^2) per round, no new best response.

    A pending round's prediction and alternative were fixed when it was played; what the gate needs
    is whether *that* pair is still uncertain under the newest (theta, A^-1), and how wide it is.
    """
    margin = z @ snapshot.theta
    width = np.sqrt(np.maximum(np.einsum("ij,ij->i", z @ snapshot.A_inv, z), 0.0))
    return Confidence(margin, width, (margin < c * width) & (width >= tau))


def masked_scores(theta: np.ndarray, phi: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """theta^T phi(x, y) for every candidate, -inf where the candidate is padding."""
    return np.where(mask, phi @ theta, NEG_INF)


def assess(snapshot: LeaderSnapshot, phi: np.ndarray, mask: np.ndarray, *, alpha: float, c: float, tau: float) -> WindowAssessment:
    """Leader prediction, follower best response and the round's confidence, for a whole window."""
    n, K, d = phi.shape
    rows = np.arange(n)
    scores = masked_scores(snapshot.theta, phi, mask)
    prediction = scores.argmax(axis=1)
    # Widths of the K-1 candidates other than y_hat (its own width is 0): one [n(K-1), d] x [d, d] product.
    j = np.arange(K - 1)[None, :]
    others = np.where(j < prediction[:, None], j, j + 1)  # [n, K-1]
    diff = phi[rows[:, None], others] - phi[rows, prediction][:, None, :]
    flat = diff.reshape(-1, d)
    sq = np.einsum("ij,ij->i", flat @ snapshot.A_inv, flat).reshape(n, K - 1)
    widths = np.zeros((n, K))
    np.put_along_axis(widths, others, np.sqrt(np.maximum(sq, 0.0)), axis=1)
    optimistic = scores + alpha * widths
    optimistic[rows, prediction] = NEG_INF
    optimistic[~mask] = NEG_INF
    alternative = optimistic.argmax(axis=1)
    margin = scores[rows, prediction] - scores[rows, alternative]
    width = widths[rows, alternative]
    uncertain = (margin < c * width) & (width >= tau)
    euclid = np.linalg.norm(phi[rows, prediction] - phi[rows, alternative], axis=1)
    normalised_margin = np.divide(margin, euclid, out=np.zeros_like(margin), where=euclid > 0)
    return WindowAssessment(prediction, alternative, margin, width, uncertain, _entropy(scores), normalised_margin)


def assess_window(snapshot: LeaderSnapshot, phi: np.ndarray, mask: np.ndarray, pending_z: np.ndarray | None, *,
                  alpha: float, c: float, tau: float) -> tuple[WindowAssessment, Confidence | None]:
    """The follower's whole side of a window: `assess` of its rounds and, when rounds of earlier windows are
    pending (their played pairs z [p, d]), their `confidence` under the same snapshot. One call, so that a
    follower in its own actor does both with the snapshot it already holds."""
    window = assess(snapshot, phi, mask, alpha=alpha, c=c, tau=tau)
    pending = None if pending_z is None else confidence(snapshot, pending_z, c=c, tau=tau)
    return window, pending


def _entropy(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(shifted)  # exp(-inf) = 0 for padding
    p /= p.sum(axis=1, keepdims=True)
    logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -(p * logp).sum(axis=1)


def supervised_pairs(theta: np.ndarray, phi: np.ndarray, mask: np.ndarray, gold: np.ndarray, k: int) -> np.ndarray:
    """Pairs z = phi(y*) - phi(y') for the labelled rounds of a window ([n, K, d], gold [n]).

    The follower answers a revealed label with the hardest negatives: valid y' != y* ordered by
    theta^T phi(y') (highest first), keeping only those that violate the unit margin
    (theta^T (phi(y*) - phi(y')) < 1), at most k per round. A round the leader already separates by
    a margin of 1 yields no pair: it is paid for, but it teaches the regression nothing new.
    """
    n = phi.shape[0]
    if n == 0:
        return np.zeros((0, phi.shape[2]))
    rows = np.arange(n)
    scores = masked_scores(theta, phi, mask)
    gold_scores = scores[rows, gold]
    rival = scores.copy()
    rival[rows, gold] = NEG_INF
    order = np.argsort(-rival, axis=1, kind="stable")[:, :k]  # hardest first
    rival_scores = np.take_along_axis(rival, order, axis=1)
    keep = np.isfinite(rival_scores) & (gold_scores[:, None] - rival_scores < 1.0)
    r, j = np.nonzero(keep)
    return phi[r, gold[r]] - phi[r, order[r, j]]
