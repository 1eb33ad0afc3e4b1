"""BudgetCoordinator: the gate, the ledger and the oracle in one actor, the only door to labels.

`select` ranks a window (and the pending queue) with the strategy's gate, pays for the chosen rounds
through a `LedgerDoor` (each label fsynced into the ledger before it is returned) and only then returns
the rounds with their answers. The game never sees gold any other way. `BudgetCoordinator` is a plain
class; the role table (stackray.run.roles) makes it a Ray actor pinned to the driver's node.
`CoordinatorGate` is what `Game` calls as its gate (the `GateRole` of stackray.game.roles).

Why the gate state travels with every call: the coordinator may be killed and restarted by Ray at any
instant (max_restarts, max_task_retries). What it must not lose is on disk (the ledger) or in the
driver's checkpoint (the gate's JSON state as of the last window). Each `select` therefore gets the
gate state the driver last committed and returns the new one, so a call retried on a restarted
coordinator selects exactly the same rounds, and the ledger answers the ones already paid: no label is
paid twice, none is lost. The restarted actor reopens the ledger (its lock died with the old process).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from stackray.budget import FileQueueOracle, GoldOracle, LabelLedger, LedgerDoor
from stackray.data.items import MCItem
from stackray.errors import ray_get
from stackray.io import when_unlocked
from stackray.game.config import GameConfig
from stackray.game.follower import Confidence, WindowAssessment
from stackray.game.gates import make_gate

LOCK_WAIT_S = 30.0


@dataclass(frozen=True)
class GoldOracleSpec:
    """Simulation: round t's answer is answers[t] (the data set's gold)."""

    answers: tuple[int | None, ...]

    def open(self, folder: Path) -> GoldOracle:
        return GoldOracle(list(self.answers))


@dataclass(frozen=True)
class HumanOracleSpec:
    """Annotators: requests.jsonl / answers.jsonl in `folder` (`stackray label`), each label waiting up to
    `timeout` s, polled every `poll` s. It carries the items' texts, which annotators are shown."""

    items: tuple[MCItem, ...]
    timeout: float
    poll: float

    def open(self, folder: Path) -> FileQueueOracle:
        return when_unlocked(lambda: FileQueueOracle(folder, list(self.items), timeout=self.timeout, poll=self.poll), LOCK_WAIT_S)


OracleSpec = GoldOracleSpec | HumanOracleSpec


class SelectRequest(NamedTuple):
    """A `select` call's arguments as one object. Ray serialises every argument of a call on its own, and
    on this machine each costs about 0.2 ms more than the same values in one (docs/benchmarks.md)."""

    state: dict  # the gate state the driver last committed
    rounds: np.ndarray
    window: WindowAssessment
    pending: np.ndarray
    pending_window: Confidence | None
    rounds_played: int


class BudgetCoordinator:
    """item_ids: round t's item id; `folder` holds ledger.jsonl (and the human oracle's files). Small
    constructor arguments stay inline in the actor's creation task, so a restart never depends on the
    object store."""

    def __init__(self, config: GameConfig, folder: str, item_ids: Sequence[str], oracle: OracleSpec, costs=None) -> None:
        self.config = config
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        T = len(item_ids)
        self.costs = None if costs is None else np.asarray(costs, dtype=np.float64)
        self.gate = make_gate(self.config, T, self.costs)
        self.inner = oracle.open(self.folder)
        self.ledger = when_unlocked(lambda: LabelLedger(self.folder / "ledger.jsonl"), LOCK_WAIT_S)
        self.door = LedgerDoor(self.ledger, self.inner, list(item_ids),
                               costs=None if costs is None else list(self.costs), budget=self.gate.budget)

    def select(self, request: SelectRequest) -> tuple[np.ndarray, np.ndarray, dict]:
        """(chosen rounds, their paid answers, the gate state after) given the gate state before."""
        self.gate.load_state_dict(request.state)
        chosen = self.gate.select(*request[1:])
        answers = np.array([self.door(int(t)) for t in chosen], dtype=np.int64)
        return chosen, answers, self.gate.state_dict()

    def ledger_size(self) -> tuple[int, float]:
        """(labels in the ledger, cost spent): what has been paid, restarts included."""
        return len(self.ledger), self.ledger.spent

    def paid_by_this_process(self) -> int:
        """Labels this incarnation bought from the inner oracle (not replayed from the ledger)."""
        return self.door.asked

    def close(self) -> None:
        self.ledger.close()
        if isinstance(self.inner, FileQueueOracle):
            self.inner.close()


class CoordinatorGate:
    """What `Game` calls as its gate, backed by a BudgetCoordinator; `oracle` serves the answers the
    last `select` paid for (the Game asks exactly those rounds, once each)."""

    def __init__(self, actor, config: GameConfig, total_rounds: int, costs=None) -> None:
        self.actor = actor
        self.mirror = make_gate(config, total_rounds, costs)  # the gate state as of the last window
        self.answers: dict[int, int] = {}

    @property
    def budget(self) -> float:
        return self.mirror.budget

    @property
    def spent(self) -> float:
        return self.mirror.spent

    def pending_rounds(self) -> np.ndarray:
        return self.mirror.pending_rounds()

    def audit_rounds(self) -> np.ndarray | None:
        return self.mirror.audit_rounds()

    def select(self, rounds, window, pending, pending_window, rounds_played) -> np.ndarray:
        # ray_get hands back the actor's own exception (a label timeout, a bad answer): plain to the user.
        chosen, answers, state = ray_get(self.actor.select.remote(SelectRequest(
            self.mirror.state_dict(), rounds, window, pending, pending_window, rounds_played)))
        self.mirror.load_state_dict(state)
        self.answers = dict(zip(chosen.tolist(), answers.tolist()))
        return chosen

    def oracle(self, t: int) -> int:
        if t not in self.answers:
            raise ValueError(f"round {t} was not paid for by the BudgetCoordinator; the game may not ask it")
        return self.answers[t]

    def state_dict(self) -> dict:
        return self.mirror.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.mirror.load_state_dict(state)
