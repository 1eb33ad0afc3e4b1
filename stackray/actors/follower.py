"""FollowerActor: best responses, margins and widths for a shard of a window, and supervised pairs.

The actor is stateless (it wraps `stackray.game.follower.assess`, the one implementation), so Ray's
own task retries (max_restarts + max_task_retries) make a killed follower invisible to the game.
`FollowerPool` is the `assess_window(snapshot, phi, mask)` that `Game` calls: it puts the window in
the object store once, gives each of N followers a contiguous shard of rows (a call per shard, never
per round), and concatenates their answers in row order. Every per-round quantity depends on its own
row only, so the concatenation is the whole window's assessment.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import ray

from stackray.errors import ray_get
from stackray.game.follower import WindowAssessment, assess, supervised_pairs
from stackray.game.leader import LeaderSnapshot


@ray.remote(num_cpus=0)
class FollowerActor:
    def __init__(self, alpha: float, c: float, tau: float) -> None:
        self.alpha, self.c, self.tau = alpha, c, tau

    def assess(self, snapshot: LeaderSnapshot, phi: np.ndarray, mask: np.ndarray, start: int, stop: int) -> WindowAssessment:
        """Assess rows [start, stop) of a window (phi, mask arrive zero-copy from the object store)."""
        return assess(snapshot, phi[start:stop], mask[start:stop], alpha=self.alpha, c=self.c, tau=self.tau)

    def supervised_pairs(self, theta: np.ndarray, phi: np.ndarray, mask: np.ndarray, gold: np.ndarray, k: int) -> np.ndarray:
        return supervised_pairs(theta, phi, mask, gold, k)


class FollowerPool:
    """`assess_window` for `Game`, spread over FollowerActors. `snapshot_ref(snapshot)` gives the
    snapshot's ObjectRef (the leader's commit) so it is not shipped through the driver again."""

    def __init__(self, actors: list, snapshot_ref=None) -> None:
        if not actors:
            raise ValueError("FollowerPool: needs at least one FollowerActor")
        self.actors = actors
        self.snapshot_ref = snapshot_ref or (lambda snap: snap)

    def __call__(self, snapshot: LeaderSnapshot, phi: np.ndarray, mask: np.ndarray) -> WindowAssessment:
        n = len(phi)
        shards = [(a, b) for a, b in _bounds(n, len(self.actors)) if b > a]
        if len(shards) > 1:
            phi, mask = ray.put(phi), ray.put(mask)
        snap = self.snapshot_ref(snapshot)
        refs = [actor.assess.remote(snap, phi, mask, a, b) for actor, (a, b) in zip(self.actors, shards)]
        parts = ray_get(refs)
        if len(parts) == 1:
            return parts[0]
        return WindowAssessment(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                                   for f in fields(WindowAssessment)})


def _bounds(n: int, k: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, k + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))
