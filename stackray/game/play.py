"""LLF-STACKSL, top to bottom: the whole game over T rounds, played in windows of W contexts.

For each window:
  1. the leader commits (theta, A^-1) for the window;
  2. it predicts y_hat = argmax_y theta^T phi(x, y) for every round (recorded before any label of
     the round is known);
  3. the follower best-responds with the optimistic alternative y' and the round's margin, width
     and uncertainty are computed (stackray.game.follower.assess);
  4. pending rounds of earlier windows are re-ranked under the new leader (the margin and width of
     the pair they were played with), in the same call as step 3 (stackray.game.follower.assess_window);
  5. the gate picks the rounds to pay for within the paced allowance, and the oracle is asked for
     exactly those, once each;
  6. the follower answers each revealed label with its hardest negatives, and the leader takes the
     window's pairs in one block update (both in `Leader.learn`, which holds the theta they are ranked by).
Unlabelled rounds change nothing. Windows are the unit of work because the scoring fleet works in
batches and a block update of A^-1 is far cheaper than W rank-one updates.

`Game` holds the state between windows (so a Ray driver or a resumed run steps it window by
window); `play` is the in-process loop over a whole feature array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from stackray.game.config import GameConfig
from stackray.game.follower import assess_window as _assess
from stackray.game.follower import masked_scores
from stackray.game.gates import make_gate
from stackray.game.leader import Leader
from stackray.game.roles import AssessWindow, GateRole, LeaderRole

Oracle = Callable[[int], int]


@dataclass
class GameResult:
    predictions: np.ndarray  # int [T]: the leader's choice before any label of round t
    queried: np.ndarray  # bool [T]: whether round t's label was paid for
    labels_used: int
    theta: np.ndarray  # float [d]: the final policy
    alternatives: np.ndarray  # int [T]: the follower's best response when round t was played
    margins: np.ndarray  # float [T]
    widths: np.ndarray  # float [T]
    uncertain: np.ndarray  # bool [T]
    paid_at: np.ndarray  # int [T]: rounds played when the label was bought (-1: never)
    cost_used: float
    budget: float
    pairs: int  # supervised pairs the leader learned from
    audited: np.ndarray  # bool [T]: paid rounds drawn without looking at the model (GameConfig.audit; all paid
    # rounds of a uniform gate such as random): the served-head guard's unbiased evidence


class Game:
    """The game's state between windows: leader, gate and the per-round record.

    The leader, the gate and the window assessment are injectable so that the Ray layer can put each
    role in its own actor (a proxy with the same methods) while this class stays the one
    implementation of the round's order of play. Their methods are the Protocols `LeaderRole`,
    `GateRole` and `AssessWindow` of stackray.game.roles; None means the in-process role.
    """

    def __init__(self, config: GameConfig, total_rounds: int, dim: int, costs: np.ndarray | None = None, *,
                 leader: LeaderRole | None = None, gate: GateRole | None = None,
                 assess_window: AssessWindow | None = None) -> None:
        self.config = config
        self.T = total_rounds
        self.leader = leader if leader is not None else Leader(dim, lam=config.ridge(dim), prior_index=config.prior_index)
        self.gate = gate if gate is not None else make_gate(config, total_rounds, costs)
        self.assess_window = assess_window or (
            lambda snap, phi, mask, pending_z: _assess(snap, phi, mask, pending_z, alpha=config.alpha, c=config.c, tau=config.tau))
        self.played = 0
        self.predictions = np.full(total_rounds, -1, dtype=np.int64)
        self.alternatives = np.full(total_rounds, -1, dtype=np.int64)
        self.margins = np.zeros(total_rounds)
        self.widths = np.zeros(total_rounds)
        self.uncertain = np.zeros(total_rounds, dtype=bool)
        self.paid_at = np.full(total_rounds, -1, dtype=np.int64)

    def step(self, phi_window: np.ndarray, mask_window: np.ndarray, oracle: Oracle,
             features_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Play the next window (its rounds follow the ones played so far); return the rounds paid for.

        `features_of(rounds)` returns (phi, mask) of earlier rounds, for re-assessing pending ones.
        """
        cfg = self.config
        rounds = np.arange(self.played, self.played + len(phi_window))
        pending = self.gate.pending_rounds()
        pending_z = None
        if pending.size:
            pending_phi, _ = features_of(pending)
            rows = np.arange(len(pending))
            pending_z = pending_phi[rows, self.predictions[pending]] - pending_phi[rows, self.alternatives[pending]]
        snapshot = self.leader.commit()
        window, pending_window = self.assess_window(snapshot, phi_window, mask_window, pending_z)
        self.predictions[rounds] = window.prediction
        self.alternatives[rounds] = window.alternative
        self.margins[rounds] = window.margin
        self.widths[rounds] = window.width
        self.uncertain[rounds] = window.uncertain
        self.played = int(rounds[-1]) + 1 if len(rounds) else self.played

        chosen = self.gate.select(rounds, window, pending, pending_window, self.played)
        if chosen.size == 0:
            return chosen

        phi_c, mask_c = _rows_of(chosen, rounds, phi_window, mask_window, features_of)
        gold = np.array([_checked_answer(oracle(int(t)), mask_c[i], int(t)) for i, t in enumerate(chosen)])
        self.paid_at[chosen] = self.played
        self.leader.learn(phi_c, mask_c, gold, cfg.negatives)
        return chosen

    RECORD = ("predictions", "alternatives", "margins", "widths", "uncertain", "paid_at")

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """(arrays for safetensors, JSON-able metadata): everything needed to continue bit-identically."""
        arrays = {f"record.{k}": getattr(self, k) for k in self.RECORD}
        arrays.update({f"leader.{k}": v for k, v in self.leader.state_dict().items()})
        meta = {"played": self.played, "total_rounds": self.T, "config": self.config.to_dict(),
                "gate": self.gate.state_dict()}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        if meta["config"] != self.config.to_dict() or meta["total_rounds"] != self.T:
            raise ValueError("checkpoint: it was written by a game with a different config or length")
        for k in self.RECORD:
            setattr(self, k, np.array(arrays[f"record.{k}"]).astype(getattr(self, k).dtype))
        self.leader.load_state_dict({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("leader.")})
        self.gate.load_state_dict(meta["gate"])
        self.played = int(meta["played"])

    def result(self) -> GameResult:
        queried = self.paid_at >= 0
        audit = self.gate.audit_rounds()
        audited = queried.copy() if audit is None else np.isin(np.arange(self.T), audit)
        return GameResult(
            predictions=self.predictions.copy(), queried=queried, labels_used=int(queried.sum()),
            theta=self.leader.theta.copy(), alternatives=self.alternatives.copy(), margins=self.margins.copy(),
            widths=self.widths.copy(), uncertain=self.uncertain.copy(), paid_at=self.paid_at.copy(),
            cost_used=self.gate.spent, budget=self.gate.budget,
            pairs=self.leader.pairs_seen, audited=audited,
        )


def play(phi, oracle: Oracle, config: GameConfig, mask=None, costs=None,
         progress: Callable[[int], None] | None = None) -> GameResult:
    """Play the whole game over phi [T, K, d] (rounds in arrival order).

    `oracle(t)` reveals round t's gold candidate index; it is called only for rounds the strategy
    pays for, at most once each. `mask` [T, K] marks real candidates (padding is never predicted,
    never an alternative, never a label). `costs` [T] are optional per-item label costs.
    `progress(rounds_played)` is called after every window.
    """
    if not isinstance(config, GameConfig):
        raise ValueError(f"config: expected a GameConfig, got {type(config).__name__}")
    if not callable(oracle):
        raise ValueError("oracle: must be callable as oracle(t) -> int")
    phi, mask = check_features(phi, mask)
    T, _, d = phi.shape
    costs = _check_costs(costs, T)
    game = Game(config, T, d, costs)

    def features_of(rounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return phi[rounds].astype(np.float64, copy=False), mask[rounds]

    for start in range(0, T, config.window):
        stop = min(T, start + config.window)
        game.step(phi[start:stop].astype(np.float64, copy=False), mask[start:stop], oracle, features_of)
        if progress is not None:
            progress(stop)
    return game.result()


def predict(theta, phi_eval, mask=None) -> np.ndarray:
    """argmax_y theta^T phi(x, y) over the valid candidates of each context: int [N]."""
    phi_eval, mask = check_features(phi_eval, mask, name="phi_eval")
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (phi_eval.shape[2],):
        raise ValueError(f"theta: shape {theta.shape} does not match feature dimension {phi_eval.shape[2]}")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta: contains NaN or inf")
    return masked_scores(theta, phi_eval.astype(np.float64), mask).argmax(axis=1)


def check_features(phi, mask, name: str = "phi") -> tuple[np.ndarray, np.ndarray]:
    """Validate a feature array [N, K, d] and its validity mask [N, K] (None: all valid)."""
    phi = np.asarray(phi)
    if phi.ndim != 3:
        raise ValueError(f"{name}: expected a float array [T, K, d], got shape {phi.shape}")
    if not np.issubdtype(phi.dtype, np.floating) and not np.issubdtype(phi.dtype, np.integer):
        raise ValueError(f"{name}: expected floats, got dtype {phi.dtype}")
    N, K, d = phi.shape
    if K < 2:
        raise ValueError(f"{name}: K = {K} candidates per context; the game needs K >= 2")
    if d < 1 or N < 1:
        raise ValueError(f"{name}: empty array of shape {phi.shape}")
    if mask is None:
        mask = np.ones((N, K), dtype=bool)
    else:
        mask = np.asarray(mask)
        if mask.shape != (N, K):
            raise ValueError(f"mask: shape {mask.shape} does not match {name}'s [T, K] = {(N, K)}")
        if mask.dtype != bool:
            raise ValueError(f"mask: expected a bool array, got dtype {mask.dtype}")
        too_few = np.nonzero(mask.sum(axis=1) < 2)[0]
        if too_few.size:
            raise ValueError(f"mask: context {int(too_few[0])} has fewer than 2 valid candidates (K >= 2 needed)")
    bad = ~np.isfinite(phi) & mask[:, :, None]
    if bad.any():
        t, k, j = (int(v[0]) for v in np.nonzero(bad))
        raise ValueError(f"{name}: NaN or inf at context {t}, candidate {k}, feature {j}")
    if not np.all(np.isfinite(phi)):
        phi = np.where(mask[:, :, None], phi, 0.0)  # padding may hold anything; it is never read
    return phi, mask


def _check_costs(costs, T: int) -> np.ndarray | None:
    if costs is None:
        return None
    costs = np.asarray(costs, dtype=np.float64)
    if costs.shape != (T,):
        raise ValueError(f"costs: expected shape ({T},), got {costs.shape}")
    if not np.all(np.isfinite(costs)) or np.any(costs <= 0):
        raise ValueError("costs: every label cost must be finite and > 0")
    return costs


def _rows_of(chosen, rounds, phi_window, mask_window, features_of):
    """Features of the chosen rounds, from this window where they are in it, else from features_of."""
    in_window = (chosen >= rounds[0]) & (chosen <= rounds[-1])
    if in_window.all():
        idx = chosen - rounds[0]
        return phi_window[idx], mask_window[idx]
    phi_old, mask_old = features_of(chosen[~in_window])
    phi_c = np.empty((len(chosen),) + phi_window.shape[1:])
    mask_c = np.empty((len(chosen), mask_window.shape[1]), dtype=bool)
    phi_c[in_window], mask_c[in_window] = phi_window[chosen[in_window] - rounds[0]], mask_window[chosen[in_window] - rounds[0]]
    phi_c[~in_window], mask_c[~in_window] = phi_old, mask_old
    return phi_c, mask_c


def _checked_answer(answer, valid: np.ndarray, t: int) -> int:
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer)):
        raise ValueError(f"oracle: round {t} answered {answer!r}, expected an int candidate index")
    answer = int(answer)
    if not 0 <= answer < len(valid) or not valid[answer]:
        raise ValueError(f"oracle: round {t} answered {answer}, which is not a valid candidate of that round")
    return answer
