"""FollowerActor: best responses, margins and widths for a shard of a window.

`FollowerActor` is a plain class wrapping `stackray.game.follower.assess_window` (the one implementation);
the role table (stackray.run.roles) makes it a Ray actor. It is stateless, so Ray's own task retries
(max_restarts + max_task_retries) make a killed follower invisible to the game.

`FollowerPool` is the `assess_window(snapshot, phi, mask, pending_z)` that `Game` calls (the
`AssessWindow` of stackray.game.roles): it gives each of up to N followers a contiguous shard of the
window's rows and of the pending pairs (a call per shard, never per round) and concatenates their
answers in row order. Every per-round quantity depends on its own row only, so the concatenation is
the whole window's assessment. A window is split only as far as each shard's work outweighs a Ray
call (`shards_for`): the demo's 32-row windows go to one follower, 1024 rows at d = 600 to all.

What travels: the leader's snapshot goes to the followers as the ObjectRef the leader's commit
returned (stackray.actors.leader.RemoteSnapshot), so the followers start as soon as the commit is
done, without the driver in between, and the driver never fetches it: the pending rounds' confidence
is the followers' work and the labelled pairs are the leader's (`Leader.learn`). Only a failed call
makes the driver look at the snapshot, to tell a restarted leader (its commit is redone and the
window assessed again) from any other error. A window's features are put into the object store once, for
every shard and, through `share`, for every strategy of a run that assesses the same window.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import ray

from stackray.errors import ray_get
from stackray.game.config import GameConfig
from stackray.game.follower import Confidence, WindowAssessment, assess_window
from stackray.game.leader import LeaderSnapshot


class FollowerActor:
    def __init__(self, config: GameConfig) -> None:
        self.alpha, self.c, self.tau = config.alpha, config.c, config.tau

    def assess(self, snapshot: LeaderSnapshot, phi: np.ndarray, mask: np.ndarray, start: int, stop: int,
               pending_z: np.ndarray | None = None) -> tuple[WindowAssessment, Confidence | None]:
        """Assess rows [start, stop) of a window (phi, mask arrive zero-copy from the object store) and the
        pending pairs of this shard."""
        return assess_window(snapshot, phi[start:stop], mask[start:stop], pending_z, alpha=self.alpha, c=self.c, tau=self.tau)


class FollowerPool:
    """`assess_window` for `Game`, spread over FollowerActors (handles)."""

    def __init__(self, actors: list, min_shard_flops: float | None = None) -> None:
        if not actors:
            raise ValueError("FollowerPool: needs at least one FollowerActor")
        self.actors = actors
        self.min_shard_flops = MIN_SHARD_FLOPS if min_shard_flops is None else min_shard_flops
        self._shared: tuple | None = None  # (phi, phi_ref, mask_ref) of the window in `share`

    def share(self, phi: np.ndarray, mask: np.ndarray) -> None:
        """Put the window (phi, mask) into the object store once; calls with this same `phi` object use it.
        The caller must not change `phi` in place while it is shared."""
        self._shared = (phi, ray.put(phi), ray.put(mask))

    def __call__(self, snapshot, phi: np.ndarray, mask: np.ndarray, pending_z: np.ndarray | None) -> tuple[WindowAssessment, Confidence | None]:
        n_pending = 0 if pending_z is None else len(pending_z)
        n_shards = min(len(phi), shards_for(len(phi) + n_pending, phi.shape[1], phi.shape[2], len(self.actors),
                                              self.min_shard_flops))
        rows = _bounds(len(phi), n_shards)
        pend = [None] * n_shards if pending_z is None else [pending_z[a:b] for a, b in _bounds(len(pending_z), n_shards)]
        if self._shared is not None and self._shared[0] is phi:
            phi, mask = self._shared[1:]
        elif n_shards > 1:
            phi, mask = ray.put(phi), ray.put(mask)
        try:
            parts = ray_get(self._submit(snapshot, phi, mask, rows, pend))
        except Exception as exc:
            # The snapshot's commit (or the leader hosting the assessment) may have died with a restarted
            # leader: the proxy restores it and the window is assessed again; any other failure is the caller's.
            recover = getattr(snapshot, "recover", None)
            if recover is None or not recover(exc):
                raise
            parts = ray_get(self._submit(snapshot, phi, mask, rows, pend))
        confirmed = getattr(snapshot, "confirmed", None)
        if confirmed is not None:
            confirmed()  # the followers read it: every leader update up to it has run
        windows = [w for w, _ in parts]
        window = windows[0] if len(windows) == 1 else WindowAssessment(
            **{f.name: np.concatenate([getattr(w, f.name) for w in windows]) for f in fields(WindowAssessment)})
        if pending_z is None:
            return window, None
        confs = [c for _, c in parts if c is not None]
        return window, Confidence(*(np.concatenate([getattr(c, f.name) for c in confs]) for f in fields(Confidence)))

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self._shared = None

    def _submit(self, snapshot, phi, mask, rows: list[tuple[int, int]], pending: list) -> list:
        if len(rows) == 1 and hasattr(snapshot, "assess_in_leader"):
            ref = snapshot.assess_in_leader(phi, mask, *rows[0], pending[0])  # one shard: where the snapshot is
            if ref is not None:
                return [ref]
        snap = getattr(snapshot, "ref", snapshot)  # the object-store copy when there is one
        return [actor.assess.remote(snap, phi, mask, a, b, z) for actor, (a, b), z in zip(self.actors, rows, pending)]


# A shard is worth a Ray call when its rows cost far more than the call (about 1 ms of CPU on both sides):
# ~2 K d^2 flops per row (the widths), and at least this many per shard. The demo's window (32 rows,
# K = 4, d = 68) is one shard; a production window (1024 rows, d = 600) is one per follower.
MIN_SHARD_FLOPS = 5e7


def shards_for(rows: int, K: int, d: int, followers: int, min_shard_flops: float = MIN_SHARD_FLOPS) -> int:
    """How many followers a window of `rows` rounds is spread over (at least 1, at most one per row)."""
    flops = rows * 2 * K * d * d
    by_work = followers if min_shard_flops <= 0 else int(flops // min_shard_flops)
    return max(1, min(followers, rows, by_work))


def _bounds(n: int, k: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, k + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))
