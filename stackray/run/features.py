"""Features for a run: cache hits read on the driver, misses featurised by ScorerActors ahead of the game.

The pool and the eval split are cut into fixed chunks of `scoring.chunk` items (one ScorerActor call
and one feature-cache entry each; chunk boundaries do not depend on the game's window, so changing
the window keeps the cache). The driver first looks every chunk up in the cache: a hit is read from
disk and no scorer is started for it; when every chunk hits, no ScorerActor and no model is ever
started. Misses are sent to the scorer pool (chunk i to scorer i mod N) no further ahead than
`prefetch` windows of the game, so the fleet featurises window k+1.. while the game plays window k.

A chunk whose scorer died is retried by Ray on the restarted replica (max_task_retries); when the
replica is gone for good (restarts exhausted), the chunk is resubmitted to a fresh ScorerActor.

A split may be read in another order than it is stored (`orders`: a run playing the pool in a seeded
order, data.order): chunks stay those of the stored order, so every order of the same pool shares
one set of cache entries, and a window waits only for the chunks that hold its rows.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Sequence

import numpy as np
import ray
from ray.exceptions import RayActorError

from stackray.actors.scorer import ScorerSpec
from stackray.data import option_mask
from stackray.data.items import MCItem
from stackray.errors import ray_get
from stackray.run import roles
from stackray.run.config import RaySection, ScoringSection


class FeatureSource:
    """Features of named item lists ("pool", "eval"), chunk by chunk, as float64 [N, K, d] + mask."""

    def __init__(self, scoring: ScoringSection, ray_cfg: RaySection, splits: dict[str, Sequence[MCItem]],
                 orders: dict[str, np.ndarray] | None = None) -> None:
        """`splits` in their stored (selected) order, the order the cache is chunked in; `orders[name]`:
        the permutation a split is read in (row r of `rows`/`take` is stored row orders[name][r])."""
        from stackray.scoring import FeatureCache

        self.cfg = scoring
        self.max_restarts = ray_cfg.max_restarts
        self.spec = scorer_spec(scoring)
        self.keyer = self.spec.load()  # keys the cache; never loads weights
        self.names = self.keyer.feature_names
        self.cache = FeatureCache(scoring.cache_dir)
        self.items = {name: list(items) for name, items in splits.items()}
        self.masks = {name: option_mask(items) for name, items in self.items.items()}
        self.phi = {name: np.zeros(m.shape + (len(self.names),)) for name, m in self.masks.items()}
        self.chunks: dict[str, list[tuple[int, int]]] = {
            name: [(a, min(a + scoring.chunk, len(items))) for a in range(0, len(items), scoring.chunk)]
            for name, items in self.items.items()}
        self.loaded = {name: np.zeros(len(c), dtype=bool) for name, c in self.chunks.items()}
        self.keys = {name: [self._key(self.items[name][a:b]) for a, b in c] for name, c in self.chunks.items()}
        self.order = {name: np.arange(len(items)) for name, items in self.items.items()}
        for name, perm in (orders or {}).items():
            if sorted(perm) != list(range(len(self.items[name]))):
                raise ValueError(f"FeatureSource: the order of {name!r} is not a permutation of its {len(self.items[name])} rows")
            self.order[name] = np.asarray(perm, dtype=np.int64)
        self.in_flight: dict[tuple[str, int], object] = {}
        self.actors: list = []
        self.hits = 0
        self.misses = 0
        self.resubmitted = 0

    def switch_adapter(self, adapter: str | None) -> None:
        """Score with `adapter` from now on (a LoRA phase's result): every feature is recomputed or read
        from the cache under keys that include the adapter's content hash, so none of the previous
        model's features is reused. Chunks in flight are waited for first (they are the old model's)."""
        for name, i in list(self.in_flight):
            try:
                ray_get(self.in_flight.pop((name, i)))
            except RayActorError:
                pass  # a dead replica's chunk was the old model's anyway
        self.spec = replace(self.spec, adapter=adapter)
        self.keyer.set_adapter(adapter)
        self.keys = {name: [self._key(self.items[name][a:b]) for a, b in c] for name, c in self.chunks.items()}
        for name in self.items:
            self.loaded[name][:] = False
            self.phi[name][:] = 0.0

    def _key(self, items: Sequence[MCItem]) -> str:
        return self.cache.key_of(self.cache.key_material(self.keyer, items, self.cfg.format))

    # ---- scheduling -----------------------------------------------------------------------------
    def prefetch(self, name: str, stop_row: int) -> None:
        """Make sure every chunk holding one of the first `stop_row` rows (in read order) is loaded or in flight."""
        for i in self._chunks_of(name, self.order[name][:stop_row]):
            if not self.loaded[name][i] and (name, i) not in self.in_flight:
                self._start(name, i)

    def _chunks_of(self, name: str, stored_rows: np.ndarray) -> list[int]:
        """Indices of the chunks holding `stored_rows`, in the order those rows are first read."""
        return list(dict.fromkeys((np.asarray(stored_rows) // self.cfg.chunk).tolist()))

    def _start(self, name: str, i: int) -> None:
        a, b = self.chunks[name][i]
        found = self.cache.load(self.keys[name][i], self.items[name][a:b])
        if found is not None:
            self.hits += 1
            self._place(name, i, found.phi)
            return
        self.in_flight[(name, i)] = self._actor(self.misses).featurize.remote(self.items[name][a:b], self.spec.adapter)
        self.misses += 1

    def _actor(self, n: int):
        if not self.actors:
            self.actors = [self._new_scorer() for _ in range(self.cfg.num_scorers)]
        return self.actors[n % len(self.actors)]

    def _new_scorer(self):
        return roles.start("scorer", self.spec, max_restarts=self.max_restarts, resources=roles.scorer_resources(self.spec))

    def _place(self, name: str, i: int, phi: np.ndarray) -> None:
        a, b = self.chunks[name][i]
        if phi.shape[0] != b - a or phi.shape[2] != len(self.names):
            raise ValueError(f"features of {name} rows {a}:{b}: got shape {phi.shape}, expected "
                             f"({b - a}, <=K, {len(self.names)})")
        self.phi[name][a:b, : phi.shape[1]] = phi
        self.loaded[name][i] = True

    def _collect(self, name: str, i: int) -> None:
        ref = self.in_flight.pop((name, i))
        try:
            phi = ray_get(ref)
        except RayActorError:  # the replica is gone for good: a fresh one takes the chunk
            self.resubmitted += 1
            a, b = self.chunks[name][i]
            dead = next((j for j, act in enumerate(self.actors) if _is_dead(act)), 0)
            self.actors[dead] = self._new_scorer()
            phi = ray_get(self.actors[dead].featurize.remote(self.items[name][a:b], self.spec.adapter))
        key = self.keys[name][i]
        if not self.cache.paths(key)[1].is_file():  # the scorer may run on another node: keep a copy here
            a, b = self.chunks[name][i]
            material = self.cache.key_material(self.keyer, self.items[name][a:b], self.cfg.format)
            self.cache.store(key, phi, self.names, self.items[name][a:b], {"key": key, "material": material})
        self._place(name, i, phi)

    # ---- access -----------------------------------------------------------------------------------
    def rows(self, name: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(phi [stop-start, K, d] float64, mask) of rows [start, stop) in read order, waiting for their chunks."""
        return self.take(name, np.arange(start, min(stop, len(self.items[name]))))

    def take(self, name: str, rounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features of arbitrary rows in read order (a window, or the gate's pending rounds)."""
        stored = self.order[name][np.asarray(rounds, dtype=np.int64)]
        for i in self._chunks_of(name, stored):
            if self.loaded[name][i]:
                continue
            if (name, i) not in self.in_flight:
                self._start(name, i)
            if not self.loaded[name][i]:
                self._collect(name, i)
        return self.phi[name][stored], self.masks[name][stored]

    def all(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.rows(name, 0, len(self.items[name]))

    def scorer_info(self) -> list[dict]:
        return ray_get([a.info.remote() for a in self.actors]) if self.actors else []

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def _is_dead(actor) -> bool:
    try:
        ray.get(actor.info.remote(), timeout=5)
        return False
    except Exception:
        return True


def node_cpus() -> int:
    """CPUs Ray gives the driver's node (the scorers' threads are sized to a node, not the cluster)."""
    here = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node.get("NodeID") == here and node.get("Alive"):
            return max(1, int(node.get("Resources", {}).get("CPU", 1)))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def scorer_spec(cfg: ScoringSection) -> ScorerSpec:
    """The replicas' spec; a transformers replica gets `threads` (default: the node's CPUs split among the scorers)."""
    threads = (cfg.threads or max(1, node_cpus() // cfg.num_scorers)) if cfg.backend == "transformers" else None
    return ScorerSpec(backend=cfg.backend, model=cfg.model, adapter=cfg.adapter, d_h=cfg.d_h, dtype=cfg.dtype,
                      batch_size=cfg.batch_size, fmt=cfg.format, cache_dir=cfg.cache_dir, threads=threads)
