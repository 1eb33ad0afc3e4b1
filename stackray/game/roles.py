"""The three roles `Game` is played with, as Protocols: the leader, the gate and the window assessment.

`Game` (stackray.game.play) is the one implementation of a window's order of play. It does not care
whether a role lives in this process (`Leader`, a `Gate`, `assess`) or in a Ray actor behind a
driver-side proxy (stackray.actors: `LeaderProxy`, `CoordinatorGate`, `FollowerPool`); both kinds
satisfy these Protocols, and tests/game/test_roles.py checks that they do. The order of play is
written down in docs/game.md.

They are `runtime_checkable`, so `isinstance(x, LeaderRole)` checks that the methods and attributes
exist (not their signatures; the test compares those too).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from stackray.game.follower import Confidence, WindowAssessment


@runtime_checkable
class Snapshot(Protocol):
    """What the leader commits to for one window (a `LeaderSnapshot`, or one still in Ray's object store)."""

    @property
    def theta(self) -> np.ndarray: ...

    @property
    def A_inv(self) -> np.ndarray: ...

    @property
    def version(self) -> int: ...


@runtime_checkable
class LeaderRole(Protocol):
    """theta and A^-1: committed once per window, updated with the window's supervised pairs."""

    @property
    def theta(self) -> np.ndarray: ...

    @property
    def pairs_seen(self) -> int: ...

    def commit(self) -> Snapshot:
        """The snapshot every round of the next window is played against."""

    def learn(self, phi: np.ndarray, mask: np.ndarray, gold: np.ndarray, k: int) -> None:
        """Learn from a window's labelled rows (their hardest negatives under the committed theta): a new version."""

    def update(self, Z: np.ndarray) -> None:
        """Learn from the pairs Z [m, d] (m = 0: no change)."""

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


@runtime_checkable
class GateRole(Protocol):
    """Which rounds are paid for, within the budget; its state is JSON-able (checkpoints)."""

    @property
    def budget(self) -> float: ...

    @property
    def spent(self) -> float: ...

    def pending_rounds(self) -> np.ndarray:
        """Rounds of earlier windows to re-assess under the new snapshot."""

    def audit_rounds(self) -> np.ndarray | None:
        """Paid rounds drawn without looking at the model (None: every paid round)."""

    def select(self, rounds: np.ndarray, window: WindowAssessment, pending: np.ndarray,
               pending_window: Confidence | None, rounds_played: int) -> np.ndarray:
        """The rounds to pay for now, in the order the oracle is asked."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@runtime_checkable
class AssessWindow(Protocol):
    """The follower's side of a window: prediction, best response, margin and width of every round, and the
    confidence of the pending rounds' played pairs `pending_z` [p, d] (None when nothing is pending)."""

    def __call__(self, snapshot: Snapshot, phi: np.ndarray, mask: np.ndarray,
                 pending_z: np.ndarray | None) -> tuple[WindowAssessment, Confidence | None]: ...
