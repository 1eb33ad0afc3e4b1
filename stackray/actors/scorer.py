"""ScorerActor: one model replica that featurises chunks of items, through the feature cache.

One actor holds one scorer (`stackray.scoring.load_scorer`, the model loaded lazily on the first
miss) and is given whole chunks of items per call. Each chunk is one feature-cache entry, so a chunk
that another run already computed is read from disk without loading the model. `ScorerActor` is a
plain class; the role table (stackray.run.roles) makes it a Ray actor and gives it its resources.

Resources: on CPUs a scorer asks Ray for `threads` CPUs and runs torch with that many threads (the
node's CPUs split among the scorers: with 2 cores, one scorer with 2 threads); with the vLLM backend
it asks for one GPU. The actor is stateless apart from its model, so Ray's task retries
(max_restarts + max_task_retries) rerun a killed scorer's chunk on the restarted replica, and the
same items on the same model give the same features.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from stackray.data.items import MCItem


@dataclass(frozen=True)
class ScorerSpec:
    """Which model featurises how: the one value every replica (and the driver's cache keyer) is built from.

    threads: torch threads of a transformers replica (None: the backend's default, and for vLLM).
    """

    backend: str
    model: str | None
    adapter: str | None
    d_h: int
    dtype: str
    batch_size: int
    fmt: str
    cache_dir: str | None
    threads: int | None = None

    def load(self):
        """The scorer (weights load on its first `featurize`, so the driver can use it to key the cache)."""
        from stackray.scoring import load_scorer

        kwargs = {"backend": self.backend, "model": self.model, "adapter": self.adapter, "d_h": self.d_h,
                  "dtype": self.dtype, "batch_size": self.batch_size}
        if self.threads is not None:
            kwargs["num_threads"] = self.threads
        return load_scorer(**kwargs)


class ScorerActor:
    def __init__(self, spec: ScorerSpec) -> None:
        from stackray.scoring import FeatureCache

        self.spec = spec
        self.scorer = spec.load()
        self.cache = FeatureCache(spec.cache_dir)
        self.chunks_done = 0

    def featurize(self, items: Sequence[MCItem], adapter: str | None = None) -> np.ndarray:
        """float32 [n, K_chunk, d] features of one chunk (cached on disk under the chunk's key), scored
        with `adapter` (None: the base). Naming the adapter in every call makes a switch hot (the loaded
        replica swaps it in place, no restart) and restart-safe (a restarted replica, built from the
        original spec, switches on its first call)."""
        if adapter != self.scorer.adapter:
            self.scorer.set_adapter(adapter)
        result = self.cache.get_or_compute(self.scorer, items, self.spec.fmt)
        self.chunks_done += 1
        return result.phi

    def info(self) -> dict:
        return {"pid": os.getpid(), "loads": self.scorer.load_count, "chunks": self.chunks_done}
