"""ScorerActor: one model replica that featurises chunks of items, through the feature cache.

One actor holds one scorer (`stackray.scoring.load_scorer`, the model loaded lazily on the first
miss) and is given whole chunks of items per call. Each chunk is one feature-cache entry, so a chunk
that another run already computed is read from disk without loading the model.

Resources: on CPUs a scorer asks Ray for `threads` CPUs and runs torch with that many threads (the
node's CPUs split among the scorers: with 2 cores, one scorer with 2 threads); with the vLLM backend
it asks for one GPU. The actor is stateless apart from its model, so Ray's task retries
(max_restarts + max_task_retries) rerun a killed scorer's chunk on the restarted replica, and the
same items on the same model give the same features.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import ray

from stackray.data.items import MCItem


class ScorerActor:
    def __init__(self, scorer_kwargs: dict[str, Any], fmt: str, cache_dir: str | None, data_key: str | None) -> None:
        from stackray.scoring import FeatureCache, load_scorer

        self.scorer = load_scorer(**scorer_kwargs)
        self.fmt = fmt
        self.cache = FeatureCache(cache_dir)
        self.data_key = data_key
        self.chunks_done = 0

    def featurize(self, items: Sequence[MCItem]) -> np.ndarray:
        """float32 [n, K_chunk, d] features of one chunk (cached on disk under the chunk's key)."""
        result = self.cache.get_or_compute(self.scorer, items, self.fmt, data_key=self.data_key)
        self.chunks_done += 1
        return result.phi

    def info(self) -> dict:
        return {"pid": os.getpid(), "loads": self.scorer.load_count, "chunks": self.chunks_done}


def scorer_actor(backend: str, threads: int, max_restarts: int):
    """The ScorerActor class with its resources: one GPU for vLLM, `threads` CPUs otherwise."""
    resources = {"num_gpus": 1, "num_cpus": 1} if backend == "vllm" else {"num_cpus": threads}
    return ray.remote(max_restarts=max_restarts, max_task_retries=max_restarts, **resources)(ScorerActor)
