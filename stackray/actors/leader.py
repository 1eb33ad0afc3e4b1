"""LeaderActor: the leader's theta, A, A^-1 and version in one actor, and the driver-side proxy.

`LeaderActor` is a plain class wrapping `stackray.game.Leader` (the one implementation); the role
table (stackray.run.roles) makes it a Ray actor. `LeaderProxy` is what `Game` calls as its leader
(the `LeaderRole` of stackray.game.roles).

Few round trips. The actor's `learn` (and `update`) returns the snapshot the next window plays against, so one
call both learns and commits. The proxy holds a window's update back until the next call to the
actor, which carries it: the read of the state that a run's checkpoint makes after every window
(`state_dict(version, first)`), else the next window's assessment when the leader's hosted follower
makes it (`HostedAssess.first`); one call per window where there were two. Followers given the
snapshot's ObjectRef (a split window) get it after the update is sent on its own, without waiting.
`commit` returns a `RemoteSnapshot` at once: its ObjectRef goes to the followers as is (the snapshot
is written into the object store once, by the actor, and never travels through the driver), and
theta / A^-1 are fetched into the driver only when the game first reads them (zero-copy).

Restarts. Ray restarts a killed LeaderActor (max_restarts) with a fresh, empty leader, so every call
carries the version the driver expects; a mismatch raises `StaleLeaderError` and the proxy restores
the state it last synchronised (every checkpoint) plus the updates sent since (a redo log), then
retries. A fresh actor at version 0 when 0 is expected is already right: versions count updates. An
update that was lost with the old process is therefore never lost for good: the next versioned call
(commit or state_dict) notices and replays it.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import ray
from ray.exceptions import ActorUnavailableError, RayActorError

from stackray.actors.follower import FollowerActor
from stackray.errors import ray_get
from stackray.game.config import GameConfig
from stackray.game.leader import Leader, LeaderSnapshot

RESTART_WAIT_S = 60.0


class StaleLeaderError(RuntimeError):
    """The actor's state is not the version the driver expects (it was restarted)."""


RESTARTED = (StaleLeaderError, RayActorError)


class HostedAssess(NamedTuple):
    """`LeaderActor.assess`'s small arguments as one object (why: stackray.actors.budget_coordinator.SelectRequest)."""

    version: int  # the commit the window is assessed on
    start: int
    stop: int
    pending_z: np.ndarray | None
    first: tuple[str, tuple] | None  # the update (method, arguments) from version - 1 to it, applied before


class LeaderActor:
    """`follower`: the game config of a FollowerActor this actor hosts (None: none). A window small enough for
    one follower shard is assessed here, on the commit the actor already holds: the snapshot never travels,
    and the previous window's update arrives with it (`HostedAssess.first`), one call instead of two
    (stackray.actors.follower.FollowerPool decides)."""

    def __init__(self, dim: int, lam: "float | np.ndarray", prior_index: int, follower: GameConfig | None = None) -> None:
        self.leader = Leader(dim, lam=lam, prior_index=prior_index)
        self.follower = None if follower is None else FollowerActor(follower)

    def _check(self, version: int) -> None:
        if self.leader.version != version:
            raise StaleLeaderError(f"LeaderActor: at version {self.leader.version}, the driver expects {version}")

    def _catch_up(self, version: int, first: tuple[str, tuple] | None) -> None:
        """Apply `first`, the update (method, arguments) from version - 1, when there is one; then be at `version`."""
        if first is not None:
            self._check(version - 1)
            method, args = first
            getattr(self.leader, method)(*args)
        self._check(version)

    def commit(self, version: int) -> LeaderSnapshot:
        self._check(version)
        return self.leader.commit()

    def update(self, version: int, Z: np.ndarray) -> LeaderSnapshot:
        """Learn from the pairs Z; the new snapshot (the next window's commit)."""
        self._check(version)
        self.leader.update(Z)
        return self.leader.commit()

    def learn(self, version: int, phi: np.ndarray, mask: np.ndarray, gold: np.ndarray, k: int) -> LeaderSnapshot:
        """Learn from a window's labelled rows (`Leader.learn`); the new snapshot (the next window's commit)."""
        self._check(version)
        self.leader.learn(phi, mask, gold, k)
        return self.leader.commit()

    def assess(self, phi: np.ndarray, mask: np.ndarray, call: HostedAssess):
        """The hosted follower's `assess` of rows [call.start, call.stop) on this leader's commit of
        `call.version`, after the update `call.first` when there is one."""
        self._catch_up(call.version, call.first)
        if self.follower is None:
            raise RuntimeError("LeaderActor: started without a follower to host (follower=None)")
        return self.follower.assess(self.leader.commit(), phi, mask, call.start, call.stop, call.pending_z)

    def state_dict(self, version: int, first: tuple[str, tuple] | None = None) -> dict[str, np.ndarray]:
        """The leader's state at `version`, after the update `first` when there is one (a run's checkpoint reads
        it every window, right after the window's update)."""
        self._catch_up(version, first)
        return self.leader.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> int:
        self.leader.load_state_dict(state)
        return self.leader.version


class RemoteSnapshot:
    """A committed `LeaderSnapshot` that lives in Ray's object store (the `Snapshot` of stackray.game.roles).

    `ref` is what followers are given; `theta` and `A_inv` fetch the snapshot on first use (zero-copy,
    read-only, like the in-process snapshot). A commit lost to a restarted actor is redone then.
    """

    def __init__(self, proxy: LeaderProxy, ref, version: int) -> None:
        self._ref = ref  # None: the update that makes this commit is held back, or was sent inside an assess
        self.version = version
        self._proxy = proxy
        self._value: LeaderSnapshot | None = None

    def assess_in_leader(self, phi, mask, start: int, stop: int, pending_z):
        """Submit a follower's work on this snapshot to the leader actor that holds it; None where that actor
        hosts no follower."""
        if not self._proxy.hosts_follower:
            return None
        call = HostedAssess(self.version, start, stop, pending_z, self._proxy._take_held(self))
        return self._proxy.actor.assess.remote(phi, mask, call)

    @property
    def ref(self):
        """The ObjectRef of this commit (sending the held-back update, or a commit, when there is none yet)."""
        if self._ref is None:
            if not self._proxy._flush(self):
                self._ref = self._proxy.actor.commit.remote(self.version)
        return self._ref

    def recover(self, error: BaseException) -> bool:
        """After a failed call on this snapshot: True when the leader was restarted and is restored now (its
        commit redone), so the call may be sent again; False for any other error."""
        if isinstance(error, RESTARTED) and self is self._proxy._snapshot:
            self._proxy._restore()
            return True
        return self.resolve()

    def confirmed(self) -> None:
        """Followers read this snapshot: every update sent before it has run (none is left to check)."""
        if self is self._proxy._snapshot:
            self._proxy._sent.clear()

    def resolve(self) -> bool:
        """Fetch the snapshot. True when its commit had to be redone: work sent with the old `ref` is void."""
        if self._value is not None:
            return False
        self._value, redone = self._proxy._fetch(self)
        return redone

    @property
    def theta(self) -> np.ndarray:
        self.resolve()
        return self._value.theta

    @property
    def A_inv(self) -> np.ndarray:
        self.resolve()
        return self._value.A_inv


class LeaderProxy:
    """What `Game` calls as its leader (commit, learn, update, state_dict, theta, pairs_seen), backed by an actor."""

    def __init__(self, actor, dim: int, lam: "float | np.ndarray", prior_index: int, hosts_follower: bool = False) -> None:
        self.actor = actor
        self.hosts_follower = hosts_follower  # the actor was started with a follower (LeaderActor.assess)
        self._base = Leader(dim, lam=lam, prior_index=prior_index).state_dict()  # last synchronised state
        self._redo: list[tuple[str, tuple]] = []  # (method, arguments) of the updates sent since _base
        self._sent: list = []  # refs of superseded updates, unread, not yet confirmed by a later call
        self._held: tuple[str, tuple] | None = None  # the last update (method, arguments), not sent yet
        self.version = 0  # the version the actor is at once every update sent (or held back) has run
        self._snapshot: RemoteSnapshot | None = None  # the commit of `version`, once sent

    # ---- the LeaderRole ---------------------------------------------------------------------------
    def commit(self) -> RemoteSnapshot:
        """The snapshot of the current version; no round trip (an unchanged leader reuses its last one)."""
        if self._snapshot is None:
            self._snapshot = RemoteSnapshot(self, self.actor.commit.remote(self.version), self.version)
        return self._snapshot

    def update(self, Z: np.ndarray) -> None:
        Z = np.asarray(Z, dtype=np.float64)
        if Z.shape[0] == 0:
            return  # the in-process leader ignores an empty block too (no version bump)
        self._send("update", (Z,))

    def learn(self, phi: np.ndarray, mask: np.ndarray, gold: np.ndarray, k: int) -> None:
        self._send("learn", (phi, mask, np.asarray(gold), int(k)))

    def _send(self, method: str, args: tuple) -> None:
        """Hold an update back for the next call to the actor (`_flush`, `_take_held`); its result is the
        next window's commit."""
        self._flush(self._snapshot)  # two updates in a row: the first one goes now
        if self._snapshot is not None and self._snapshot._ref is not None and self._snapshot._value is None:
            self._sent.append(self._snapshot._ref)
        self._redo.append((method, args))
        self.version += 1
        self._held = (method, args)
        self._snapshot = RemoteSnapshot(self, None, self.version)

    def _flush(self, snapshot: RemoteSnapshot | None) -> bool:
        """Send the held-back update on its own, without waiting, when it makes `snapshot`; whether it did."""
        update = self._take_held(snapshot)
        if update is None:
            return False
        method, args = update
        snapshot._ref = getattr(self.actor, method).remote(self.version - 1, *args)
        return True

    def _take_held(self, snapshot: RemoteSnapshot | None):
        """The held-back update when it is the one that makes `snapshot` (it is sent by the caller); else None."""
        if self._held is None or snapshot is not self._snapshot:
            return None
        update, self._held = self._held, None
        return update

    def state_dict(self) -> dict[str, np.ndarray]:
        state = self._read_state()
        self._base, self._redo = state, []
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self._settle()
        self._held = None  # replaced by `state`, like the redo log
        self.version = self._when_available("load_state_dict", state)
        self._base, self._redo, self._snapshot = state, [], None

    @property
    def theta(self) -> np.ndarray:
        return np.array(self.state_dict()["theta"])

    @property
    def pairs_seen(self) -> int:
        return int(self.state_dict()["meta"][2])

    # ---- restarts -----------------------------------------------------------------------------------
    def _read_state(self) -> dict[str, np.ndarray]:
        """The actor's state, the held-back update applied in the same call; after a restart, restore the
        synchronised state, replay the redo log (the held update included), retry once."""
        first = self._take_held(self._snapshot)
        for attempt in (0, 1):
            try:
                value = ray_get(self.actor.state_dict.remote(self.version, first))
                self._sent.clear()  # the actor is at `version`: every update sent has run
                return value
            except RESTARTED:
                if attempt:
                    raise
                self._restore()
                first = None

    def _fetch(self, snapshot: RemoteSnapshot) -> tuple[LeaderSnapshot, bool]:
        """(the snapshot's value, whether its commit was redone after a restart)."""
        try:
            value = ray_get(snapshot.ref)
            self._sent.clear()
            return value, False
        except RESTARTED:
            if snapshot is not self._snapshot:
                raise RuntimeError(f"LeaderActor: the commit of version {snapshot.version} was lost and the leader "
                                   f"has moved on to version {self.version}") from None
            self._restore()  # commits this snapshot again
            return ray_get(snapshot.ref), True

    def _restore(self) -> None:
        """Reload the synchronised state, replay the redo log, and send the unread commit again."""
        self._settle()
        self._held = None  # it is the redo log's last entry
        version = self._when_available("load_state_dict", self._base)
        for method, args in self._redo:
            version = self._when_available(method, version, *args).version
        if version != self.version:
            raise RuntimeError(f"LeaderActor: restored to version {version}, expected {self.version}")
        snapshot = self._snapshot
        if snapshot is not None and snapshot._value is None:
            _discard([snapshot._ref] if snapshot._ref is not None else [])
            snapshot._ref = self.actor.commit.remote(self.version)

    def _when_available(self, method: str, *args, wait: float = RESTART_WAIT_S):
        """Call the actor, waiting while Ray restarts it (calls to a restarting actor fail at once)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return ray_get(getattr(self.actor, method).remote(*args))
            except ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _settle(self) -> None:
        """Read the updates sent without waiting (they may have died with the old process; the redo log
        has them), so that no failed result is left unread."""
        _discard(self._sent)
        self._sent.clear()


def _discard(refs: list) -> None:
    for ref in refs:
        try:
            ray.get(ref)
        except RESTARTED:
            pass
