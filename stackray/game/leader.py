"""The leader: a ridge regression of the pairwise margin to 1, anchored at the prior theta0.

    A     = Lam + sum_s w_s z_s z_s^T          (Lam = lam I, or diag(ridge) with one ridge per column)
    theta = A^-1 (Lam theta0 + sum_s w_s z_s)

theta0 = e_prior puts weight 1 on the LM's length-normalised log-likelihood, so before any label
the leader *is* the zero-shot model. A^-1 is kept current, never recomputed per round:

- one pair: Sherman-Morrison, O(d^2);
- m pairs with 4m < d: a blocked Woodbury update, O(m d^2);
- larger blocks: A is kept exactly (A += Z^T W Z, O(m d^2)) and re-inverted once for the block,
  O(d^3), which is then cheaper than Woodbury's ~4 m d^2 and also wipes accumulated rounding.

Snapshots are immutable: updates rebind A^-1 and theta to new arrays instead of writing in place,
so a snapshot handed to followers (or to Ray's object store) never changes under them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackray.game.follower import supervised_pairs


@dataclass(frozen=True)
class LeaderSnapshot:
    """What the leader commits to for one window: theta, A^-1 and a version number."""

    theta: np.ndarray
    A_inv: np.ndarray
    version: int


class Leader:
    def __init__(self, dim: int, lam: float | np.ndarray = 1.0, prior_index: int = 0) -> None:
        """`lam`: one ridge strength, or one per feature column ([dim], GameConfig.ridge)."""
        if not 0 <= prior_index < dim:
            raise ValueError(f"GameConfig.prior_index: {prior_index} is out of range for feature dimension {dim}")
        ridge = np.broadcast_to(np.asarray(lam, dtype=np.float64), (dim,))
        self.dim = dim
        self.lam = float(ridge[prior_index])
        self.theta0 = np.zeros(dim)
        self.theta0[prior_index] = 1.0
        self.A = np.diag(ridge)
        self.A_inv = np.diag(1.0 / ridge)
        self.b = ridge * self.theta0
        self.theta = self.theta0.copy()
        self.version = 0
        self.pairs_seen = 0

    def commit(self) -> LeaderSnapshot:
        theta, A_inv = self.theta.view(), self.A_inv.view()
        theta.flags.writeable = False
        A_inv.flags.writeable = False
        return LeaderSnapshot(theta=theta, A_inv=A_inv, version=self.version)

    def learn(self, phi: np.ndarray, mask: np.ndarray, gold: np.ndarray, k: int) -> None:
        """Learn from a window's revealed labels: the follower's hardest negatives (at most k per round) under
        the theta the window was played with, as one block update. Always a new version, even when no round
        yields a pair, so that a caller that does not see theta (the Ray driver) knows the version it sent.

        Why the pairs are made here and not by the caller: the leader holds theta, so a leader in its own
        actor needs only the labelled rows, and the driver never has to fetch theta during a game."""
        version = self.version
        self.update(supervised_pairs(self.theta, phi, mask, gold, k))
        self.version = version + 1

    def update(self, Z: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add labelled pairs z (rows of Z, [m, d]) with weights w (default 1), target margin 1."""
        Z = np.asarray(Z, dtype=np.float64).reshape(-1, self.dim)
        m = Z.shape[0]
        if m == 0:
            return
        w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64).reshape(m)
        if np.any(w <= 0):
            raise ValueError("Leader.update: weights must be > 0")
        self.A += (Z.T * w) @ Z
        if m == 1:
            u = self.A_inv @ Z[0]
            self.A_inv = self.A_inv - np.outer(u, u) * (w[0] / (1.0 + w[0] * (Z[0] @ u)))
        elif 4 * m < self.dim:
            U = self.A_inv @ Z.T  # [d, m]
            S = np.diag(1.0 / w) + Z @ U  # [m, m]
            self.A_inv = self.A_inv - U @ np.linalg.solve(S, U.T)
            self.A_inv = 0.5 * (self.A_inv + self.A_inv.T)
        else:
            self.A_inv = np.linalg.inv(self.A)
            self.A_inv = 0.5 * (self.A_inv + self.A_inv.T)
        self.b = self.b + Z.T @ w
        self.theta = self.A_inv @ self.b
        self.pairs_seen += m
        self.version += 1

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays only (safetensors-ready). A^-1 is stored, not recomputed, so a resumed run is bit-identical."""
        return {
            "A": self.A,
            "A_inv": self.A_inv,
            "b": self.b,
            "theta": self.theta,
            "theta0": self.theta0,
            "meta": np.array([self.lam, self.version, self.pairs_seen], dtype=np.float64),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for key in ("A", "A_inv", "b", "theta", "theta0"):
            value = np.array(state[key], dtype=np.float64)
            if value.shape[0] != self.dim:
                raise ValueError(f"Leader state: {key} has dimension {value.shape[0]}, expected {self.dim}")
            setattr(self, key, value)
        lam, version, pairs = state["meta"]
        self.lam, self.version, self.pairs_seen = float(lam), int(version), int(pairs)


def replay_leader(phi: np.ndarray, mask: np.ndarray, gold: np.ndarray, paid_at: np.ndarray, config) -> Leader:
    """The leader a game would have learned from these labelled rounds alone: their blocks (rounds with the
    same `paid_at`, the window they were paid in) replayed in paid order, each block's pairs chosen under the
    theta of the blocks before it, exactly as `Game.step` had the leader `learn` them.

    Why replay and not one ridge on all pairs: the game's theta depends on which rivals each block made
    pairs of, under the theta of its time (hardest, margin-violating only). A head refitted any other way is
    a different head: the served-head guard must judge the head it serves (stackray.run.served_head), and a
    LoRA phase re-derives this same head on the adapted model's features (stackray.run.lora_phases)."""
    dim = phi.shape[2]
    leader = Leader(dim, lam=config.ridge(dim), prior_index=config.prior_index)
    gold, paid_at = np.asarray(gold), np.asarray(paid_at)
    for when in np.unique(paid_at):
        block = paid_at == when
        leader.learn(phi[block], mask[block], gold[block], config.negatives)
    return leader
