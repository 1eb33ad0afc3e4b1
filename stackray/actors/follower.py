"""FollowerActor: best responses, margins and widths for a shard of a window.

`FollowerActor` is a plain class wrapping `stackray.game.follower.assess` (the one implementation);
the role table (stackray.run.roles) makes it a Ray actor. It is stateless, so Ray's own task retries
(max_restarts + max_task_retries) make a killed follower invisible to the game.

`FollowerPool` is the `assess_window(snapshot, phi, mask)` that `Game` calls (the `AssessWindow` of
stackray.game.roles): it gives each of N followers a contiguous shard of rows (a call per shard,
never per round) and concatenates their answers in row order. Every per-round quantity depends on
its own row only, so the concatenation is the whole window's assessment.

What travels: the leader's snapshot goes to the followers as the ObjectRef the leader's commit
returned (stackray.actors.leader.RemoteSnapshot), so the followers start as soon as the commit is
done, without the driver in between. A window's features are put into the object store once, for
every shard and, through `share`, for every strategy of a run that assesses the same window.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import ray

from stackray.errors import ray_get
from stackray.game.config import GameConfig
from stackray.game.follower import WindowAssessment, assess
from stackray.game.leader import LeaderSnapshot


class FollowerActor:
    def __init__(self, config: GameConfig) -> None:
        self.alpha, self.c, self.tau = config.alpha, config.c, config.tau

    def assess(self, snapshot: LeaderSnapshot, phi: np.ndarray, mask: np.ndarray, start: int, stop: int) -> WindowAssessment:
        """Assess rows [start, stop) of a window (phi, mask arrive zero-copy from the object store)."""
        return assess(snapshot, phi[start:stop], mask[start:stop], alpha=self.alpha, c=self.c, tau=self.tau)


class FollowerPool:
    """`assess_window` for `Game`, spread over FollowerActors (handles)."""

    def __init__(self, actors: list) -> None:
        if not actors:
            raise ValueError("FollowerPool: needs at least one FollowerActor")
        self.actors = actors
        self._shared: tuple | None = None  # (phi, phi_ref, mask_ref) of the window in `share`

    def share(self, phi: np.ndarray, mask: np.ndarray) -> None:
        """Put the window (phi, mask) into the object store once; calls with this same `phi` object use it.
        The caller must not change `phi` in place while it is shared."""
        self._shared = (phi, ray.put(phi), ray.put(mask))

    def __call__(self, snapshot, phi: np.ndarray, mask: np.ndarray) -> WindowAssessment:
        shards = [(a, b) for a, b in _bounds(len(phi), len(self.actors)) if b > a]
        if self._shared is not None and self._shared[0] is phi:
            phi, mask = self._shared[1:]
        elif len(shards) > 1:
            phi, mask = ray.put(phi), ray.put(mask)
        refs = self._submit(snapshot, phi, mask, shards)
        resolve = getattr(snapshot, "resolve", None)  # a RemoteSnapshot: the game reads it next anyway
        if resolve is not None and resolve():  # its commit was redone after a leader restart
            _read_failed(refs)
            refs = self._submit(snapshot, phi, mask, shards)
        parts = ray_get(refs)
        if len(parts) == 1:
            return parts[0]
        return WindowAssessment(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                                   for f in fields(WindowAssessment)})

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self._shared = None

    def _submit(self, snapshot, phi, mask, shards: list[tuple[int, int]]) -> list:
        snap = getattr(snapshot, "ref", snapshot)  # the object-store copy when there is one
        return [actor.assess.remote(snap, phi, mask, a, b) for actor, (a, b) in zip(self.actors, shards)]


def _read_failed(refs: list) -> None:
    """Read the results of calls whose snapshot argument was lost (so no failed result is left unread)."""
    for ref in refs:
        try:
            ray.get(ref)
        except Exception:  # noqa: BLE001  expected: the lost commit's error
            pass


def _bounds(n: int, k: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, k + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))
