"""LeaderActor: the leader's theta, A, A^-1 and version in one actor, and the driver-side proxy.

The actor wraps `stackray.game.Leader` (the one implementation). `commit()` returns the window's
`LeaderSnapshot`; called with `.remote()` its ObjectRef is the snapshot in the object store, which the
proxy hands to the FollowerActors as is, so theta and A^-1 travel to the followers without a copy
through the driver.

Restarts. Ray restarts a killed LeaderActor (max_restarts) with a fresh, empty leader, so every call
carries the version the driver expects; a mismatch raises `StaleLeaderError` and the proxy restores
the state it last synchronised (every checkpoint) plus the updates sent since (a redo log), then
retries. A fresh actor at version 0 when 0 is expected is already right: versions count updates.
"""

from __future__ import annotations

import numpy as np
import ray
from ray.exceptions import RayActorError

from stackray.errors import ray_get
from stackray.game.leader import Leader, LeaderSnapshot


class StaleLeaderError(RuntimeError):
    """The actor's state is not the version the driver expects (it was restarted)."""


@ray.remote(num_cpus=0)
class LeaderActor:
    def __init__(self, dim: int, lam: float, prior_index: int) -> None:
        self.leader = Leader(dim, lam=lam, prior_index=prior_index)

    def _check(self, version: int) -> None:
        if self.leader.version != version:
            raise StaleLeaderError(f"LeaderActor: at version {self.leader.version}, the driver expects {version}")

    def commit(self, version: int) -> LeaderSnapshot:
        self._check(version)
        return self.leader.commit()

    def update(self, version: int, Z: np.ndarray) -> int:
        self._check(version)
        self.leader.update(Z)
        return self.leader.version

    def state_dict(self, version: int) -> dict[str, np.ndarray]:
        self._check(version)
        return self.leader.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> int:
        self.leader.load_state_dict(state)
        return self.leader.version


class LeaderProxy:
    """What `Game` calls as its leader (commit, update, state_dict, theta, pairs_seen), backed by an actor."""

    def __init__(self, actor, dim: int, lam: float, prior_index: int) -> None:
        self.actor = actor
        self._base = Leader(dim, lam=lam, prior_index=prior_index).state_dict()  # last synchronised state
        self._redo: list[np.ndarray] = []  # updates sent since _base
        self.version = 0
        self.last_ref = None  # ObjectRef of the last committed snapshot
        self._snapshot: LeaderSnapshot | None = None

    def _call(self, method: str, *args):
        """Call the actor; after a restart, restore the synchronised state, replay the redo log, retry once."""
        for attempt in (0, 1):
            try:
                ref = getattr(self.actor, method).remote(self.version, *args)
                return ref, ray_get(ref)
            except (StaleLeaderError, RayActorError):
                if attempt:
                    raise
                self._restore()

    def _restore(self) -> None:
        version = ray_get(self.actor.load_state_dict.remote(self._base))
        for Z in self._redo:
            version = ray_get(self.actor.update.remote(version, Z))
        if version != self.version:
            raise RuntimeError(f"LeaderActor: restored to version {version}, expected {self.version}")

    def commit(self) -> LeaderSnapshot:
        self.last_ref, self._snapshot = self._call("commit")
        return self._snapshot

    def ref_for(self, snapshot: LeaderSnapshot):
        """The object-store ref of `snapshot` when it is the last commit (followers read it from there)."""
        return self.last_ref if snapshot is self._snapshot and self.last_ref is not None else snapshot

    def update(self, Z: np.ndarray) -> None:
        Z = np.asarray(Z, dtype=np.float64)
        if Z.shape[0] == 0:
            return  # the in-process leader ignores an empty block too (no version bump)
        _, self.version = self._call("update", Z)
        self._redo.append(Z)
        self._snapshot = None

    def state_dict(self) -> dict[str, np.ndarray]:
        _, state = self._call("state_dict")
        self._base, self._redo = state, []
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.version = ray_get(self.actor.load_state_dict.remote(state))
        self._base, self._redo, self._snapshot = state, [], None

    @property
    def theta(self) -> np.ndarray:
        return np.array(self.state_dict()["theta"])

    @property
    def pairs_seen(self) -> int:
        return int(self.state_dict()["meta"][2])
