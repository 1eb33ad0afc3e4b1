"""On-disk feature cache: a sweep of a hundred trials must not run the LM a hundred times.

An entry is two files under the cache root, named by its key:

- ``<key>.npy``: the float32 [N, K, d] features (plain .npy, read with allow_pickle=False);
- ``<key>.json``: metadata (feature names, the full key material, item ids, shapes, timings).

The key is sha256 of a JSON document holding everything the features depend on: the scorer's
`spec` (weights' content hash, adapter's content hash, backend, dtype, d_h, seed, format, k-shot
examples' hash, prompt/feature versions), the data key (e.g. `data_file_hash(spec)`, optional) and
the items' content hash (`stackray.data.items_hash`, which covers ids, order, texts and answers).
Computing the key never loads the model: the scorer fingerprints weight *files*.

Writes are atomic (`stackray.io.atomic_write`: temp file + os.replace) and the .json is written last,
so it marks a complete entry: a killed writer leaves at worst an orphan .npy, never a half entry that
reads as a hit. They are not fsynced: an entry lost to a power cut is recomputed, not a loss.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from stackray.data.items import MCItem
from stackray.data.loaders import items_hash
from stackray.io import atomic_write, atomic_write_text

ENV_VAR = "STACKRAY_CACHE"
_CACHE_FORMAT = 1


class FeatureResult(NamedTuple):
    """Features with their column names, where they live on disk and whether they were cached."""

    phi: np.ndarray
    names: list[str]
    path: Path
    hit: bool


def default_cache_root() -> Path:
    """``$STACKRAY_CACHE`` if set, else ``~/.cache/stackray/features``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stackray" / "features"


class FeatureCache:
    """A folder of cached feature arrays keyed by scorer spec + data + items."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()

    def key_material(
        self, scorer, items: Sequence[MCItem], fmt: str, *, shots: Sequence[MCItem] = (), data_key: str | None = None
    ) -> dict[str, Any]:
        return {
            "cache_format": _CACHE_FORMAT,
            "scorer": scorer.spec(fmt, shots),
            "data_key": data_key,
            "items": items_hash(items),
            "num_items": len(items),
        }

    @staticmethod
    def key_of(material: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json"

    def load(self, key: str, items: Sequence[MCItem]) -> FeatureResult | None:
        """The cached entry for ``key`` if complete and consistent with ``items``, else None."""
        npy, meta_path = self.paths(key)
        if not (meta_path.is_file() and npy.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"feature cache metadata {meta_path} is not valid JSON: {exc}") from exc
        phi = np.load(npy, allow_pickle=False)
        if phi.shape != tuple(meta.get("shape", ())) or phi.shape[0] != len(items) or meta.get("ids") != [it.id for it in items]:
            raise ValueError(
                f"feature cache entry {npy} does not match its metadata or the items "
                f"(shape {phi.shape} vs {meta.get('shape')}, {len(items)} items); delete it to recompute"
            )
        return FeatureResult(phi, list(meta["names"]), npy, True)

    def store(self, key: str, phi: np.ndarray, names: list[str], items: Sequence[MCItem], meta: dict[str, Any]) -> Path:
        """Write an entry atomically (array first, metadata last) and return the array's path."""
        self.root.mkdir(parents=True, exist_ok=True)
        npy, meta_path = self.paths(key)
        phi = np.ascontiguousarray(phi, dtype=np.float32)
        atomic_write(npy, lambda fh: np.save(fh, phi, allow_pickle=False), durable=False)
        doc = {**meta, "names": list(names), "shape": list(phi.shape), "ids": [it.id for it in items]}
        atomic_write_text(meta_path, json.dumps(doc, indent=1), durable=False)
        return npy

    def get_or_compute(
        self,
        scorer,
        items: Sequence[MCItem],
        fmt: str = "cloze",
        *,
        shots: Sequence[MCItem] = (),
        data_key: str | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> FeatureResult:
        """Cached features of ``items``; on a miss, featurise with ``scorer`` and store them.

        A hit neither loads the model nor touches the LM (the scorer's `load_count` stays 0).
        """
        items = list(items)
        if not items:
            raise ValueError("cached_features needs at least one item, got an empty list")
        material = self.key_material(scorer, items, fmt, shots=shots, data_key=data_key)
        key = self.key_of(material)
        found = self.load(key, items)
        if found is not None:
            return found
        start = time.perf_counter()
        phi = scorer.featurize(items, fmt, shots=shots, batch_size=batch_size, progress=progress)
        seconds = time.perf_counter() - start
        names = scorer.feature_names
        meta = {"key": key, "material": material, "seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        path = self.store(key, phi, names, items, meta)
        return FeatureResult(phi, names, path, False)


def cached_features(
    scorer,
    items: Sequence[MCItem],
    fmt: str = "cloze",
    *,
    cache_dir: str | os.PathLike | None = None,
    shots: Sequence[MCItem] = (),
    data_key: str | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> FeatureResult:
    """`FeatureCache(cache_dir).get_or_compute(...)`: (phi, names, path, hit)."""
    return FeatureCache(cache_dir).get_or_compute(
        scorer, items, fmt, shots=shots, data_key=data_key, batch_size=batch_size, progress=progress
    )
