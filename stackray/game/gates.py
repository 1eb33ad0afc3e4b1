"""Gates decide which rounds of a window are paid for. One class per strategy, one budget rule.

Every gate spends from the same budget B = floor(beta T) (in cost units; a unit cost per label by
default) and, except `passive` (the first B rounds by definition) and `full` (every round: the
full-information reference), never lets the cumulative spend after n rounds exceed the paced
allowance min(B, ceil(beta n) + slack). The allowance is checked at window ends, which is where
labels are bought.

LLF (Largest-Latency-First) pays for the *uncertain* rounds with the largest confidence width first
(width / cost with heterogeneous costs). Uncertain rounds that did not fit wait in a pending queue
for up to `max_wait` further windows and are re-ranked against the newest leader, where they may
have become certain (and are dropped) or compete with the new window's rounds.

Audit labels (`GameConfig.audit`). A gate that chooses rounds by the model (llf, margin, entropy) pays for
the rounds where the model is unsure, so its paid rounds are no sample of the stream: a head that is
worse overall can look better on them (measured: ARC-Challenge, docs/game.md). With `audit` = a, such a
gate first spends a share a of its paced allowance on rounds drawn uniformly from the window, spread
evenly over the stream; they train the head like any label, and they are the one unbiased sample the
served-head guard can check a head on (stackray.run.served_head). The `uniform` gates (random,
passive on a shuffled pool, full) pay only for such rounds already.

A gate's state is plain ints, floats and lists so that it checkpoints to JSON.
"""

from __future__ import annotations

import numpy as np

from stackray.game.config import GameConfig
from stackray.game.follower import Confidence, WindowAssessment


class Gate:
    """Budget bookkeeping shared by all strategies; subclasses only rank rounds."""

    paced = True
    uniform = False  # True: every paid round is chosen without looking at the model (all are audit rounds)

    def __init__(self, config: GameConfig, total_rounds: int, costs: np.ndarray) -> None:
        self.config = config
        self.costs = costs
        self.budget = config.budget(total_rounds)
        self.spent = 0.0
        self.labels = 0
        self.audited: list[int] = []  # audit rounds paid for, in order
        self.audit_rng = np.random.default_rng([config.seed, 0xA0D1])

    def allowance(self, rounds_played: int) -> float:
        cap = min(self.budget, self.config.pace(rounds_played)) if self.paced else self.budget
        return cap - self.spent

    def pending_rounds(self) -> np.ndarray:
        """Rounds from earlier windows that want to be re-assessed under the new leader."""
        return np.zeros(0, dtype=np.int64)

    def select(self, rounds: np.ndarray, window: WindowAssessment, pending: np.ndarray,
               pending_window: Confidence | None, rounds_played: int) -> np.ndarray:
        """Return the rounds to pay for now, in the order the oracle should be asked."""
        audit = self._audit(rounds, rounds_played)
        ranked = self.rank(rounds, window, pending, pending_window)
        return np.concatenate([audit, self._take(ranked[~np.isin(ranked, audit)], self.allowance(rounds_played))])

    def audit_rounds(self) -> np.ndarray | None:
        """The paid rounds drawn without looking at the model; None: every paid round (a `uniform` gate)."""
        return None if self.uniform else np.asarray(self.audited, dtype=np.int64)

    def _audit(self, rounds: np.ndarray, rounds_played: int) -> np.ndarray:
        """Pay for this window's audit draws: enough uniform rounds that audit labels keep up with the share
        `audit` of the paced allowance (so they are spread over the whole stream)."""
        if self.uniform or self.config.audit <= 0 or not len(rounds):
            return np.zeros(0, dtype=np.int64)
        cap = min(self.budget, self.config.pace(rounds_played)) if self.paced else self.budget
        due = int(np.floor(self.config.audit * cap + 1e-9)) - len(self.audited)
        if due <= 0:
            return np.zeros(0, dtype=np.int64)
        drawn = self.audit_rng.permutation(rounds)
        chosen = self._take(drawn, min(self.allowance(rounds_played), float(np.sum(self.costs[drawn[:due]]))))
        self.audited += chosen.tolist()
        return chosen

    def rank(self, rounds, window, pending, pending_window) -> np.ndarray:
        raise NotImplementedError

    def _take(self, ranked: np.ndarray, allowance: float) -> np.ndarray:
        """Greedy fill in rank order; an item that does not fit is skipped, a cheaper later one may fit."""
        chosen = []
        for t in ranked:
            cost = float(self.costs[t])
            if cost <= allowance + 1e-12:
                chosen.append(int(t))
                allowance -= cost
                self.spent += cost
                self.labels += 1
        return np.asarray(chosen, dtype=np.int64)

    def state_dict(self) -> dict:
        state = {"spent": self.spent, "labels": self.labels}
        if self.config.audit > 0:  # absent otherwise: checkpoints of runs without audit labels are unchanged
            state.update(audited=list(self.audited), audit_rng=self.audit_rng.bit_generator.state)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.spent, self.labels = float(state["spent"]), int(state["labels"])
        if "audited" in state:
            self.audited = [int(t) for t in state["audited"]]
            self.audit_rng.bit_generator.state = state["audit_rng"]


class LLFGate(Gate):
    def __init__(self, config, total_rounds, costs) -> None:
        super().__init__(config, total_rounds, costs)
        self.pending: dict[int, int] = {}  # round -> windows waited so far

    def pending_rounds(self) -> np.ndarray:
        return np.fromiter(self.pending, dtype=np.int64, count=len(self.pending))

    def select(self, rounds, window, pending, pending_window, rounds_played):
        audit = self._audit(rounds, rounds_played)
        keep = window.uncertain & ~np.isin(rounds, audit)
        cand = [rounds[keep]]
        score = [self.latency(window, keep)]
        if pending.size:
            still = pending_window.uncertain
            cand.append(pending[still])
            score.append(self.latency(pending_window, still))
        cand_rounds = np.concatenate(cand).astype(np.int64)
        latency = np.concatenate(score) / self.costs[cand_rounds]
        ranked = cand_rounds[np.argsort(-latency, kind="stable")]
        chosen = np.concatenate([audit, self._take(ranked, self.allowance(rounds_played))])
        # Uncertain rounds that did not fit wait; rounds that waited max_wait windows, were paid for,
        # or became certain under the new leader leave the queue.
        waited = {int(t): self.pending.get(int(t), -1) + 1 for t in cand_rounds}
        paid = set(chosen.tolist())
        self.pending = {t: age for t, age in waited.items() if t not in paid and age < self.config.max_wait}
        return chosen

    def latency(self, conf: Confidence | WindowAssessment, keep: np.ndarray) -> np.ndarray:
        """How much a label of each kept round is worth before its cost (larger first), per `config.rank`.

        `width`: w, the confidence width. `gap`: c w - m, how far the confidence interval of the played
        pair crosses zero, so a wide round the leader already separates by a large margin ranks below
        a narrower one it cannot decide. `ratio`: w / m, the same ordering made scale-free.
        """
        width, margin = conf.width[keep], conf.margin[keep]
        if self.config.rank == "gap":
            return self.config.c * width - margin
        if self.config.rank == "ratio":
            return width / np.maximum(margin, 1e-12)
        return width

    def state_dict(self) -> dict:
        return {**super().state_dict(), "pending": [[t, a] for t, a in sorted(self.pending.items())]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.pending = {int(t): int(a) for t, a in state["pending"]}


class RandomGate(Gate):
    """Uniformly random rounds of the window, as many as the allowance pays for.

    The baseline LLF is judged against at *equal labels*: drawing each round with probability beta
    spent about 61 of a 70-label budget on the demo (shortfalls are never made up, excesses are cut),
    which handicapped random by the labels it did not buy."""

    uniform = True

    def __init__(self, config, total_rounds, costs) -> None:
        super().__init__(config, total_rounds, costs)
        self.rng = np.random.default_rng(config.seed)

    def rank(self, rounds, window, pending, pending_window):
        return self.rng.permutation(rounds)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.rng.bit_generator.state = state["rng"]


class MarginGate(Gate):
    """Smallest normalised margin m / ||z||_2 first."""

    def rank(self, rounds, window, pending, pending_window):
        return rounds[np.argsort(window.normalised_margin, kind="stable")]


class EntropyGate(Gate):
    """Highest entropy of softmax(theta^T phi) over the valid candidates first."""

    def rank(self, rounds, window, pending, pending_window):
        return rounds[np.argsort(-window.entropy, kind="stable")]


class PassiveGate(Gate):
    """The first B rounds (in cost units), whatever their confidence (a uniform sample of a shuffled pool)."""

    paced = False
    uniform = True

    def rank(self, rounds, window, pending, pending_window):
        return rounds


class ZeroShotGate(Gate):
    uniform = True  # pays for nothing, so for no round chosen by the model either (and draws no audit labels)

    def rank(self, rounds, window, pending, pending_window):
        return rounds[:0]


class FullGate(Gate):
    """STACKSL: every round labelled; the budget is every round's cost."""

    paced = False
    uniform = True

    def __init__(self, config, total_rounds, costs) -> None:
        super().__init__(config, total_rounds, costs)
        self.budget = float(np.sum(costs))

    def rank(self, rounds, window, pending, pending_window):
        return rounds


GATES = {
    "llf": LLFGate,
    "random": RandomGate,
    "margin": MarginGate,
    "entropy": EntropyGate,
    "passive": PassiveGate,
    "zero_shot": ZeroShotGate,
    "full": FullGate,
}


def make_gate(config: GameConfig, total_rounds: int, costs: np.ndarray | None = None) -> Gate:
    if costs is None:
        costs = np.ones(total_rounds)
    return GATES[config.strategy](config, total_rounds, costs)
