"""A sweep's tasks as plain arrays: each pool split into a stream and a validation split, plus the test split.

Why arrays: a trial must never run the LM. The driver featurises every task once, before the sweep,
through the run's own machinery (stackray.run.features: cache hits read from disk, misses featurised
by ScorerActors and cached), and the trials receive only these frozen numpy arrays, sent to the
object store once by `tune.with_parameters`.

The validation split is `validation.size` items of the pool drawn with `validation.seed`; the stream
is the rest, in pool order (each trial seed plays its own permutation of it). The test split is the
task's `data.eval` (or `data.holdout`), read only for the configs the sweep chooses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackray.data import MCItem, gold_array
from stackray.run.config_data import load_run_items
from stackray.run.config_io import ConfigError
from stackray.tune.config import SweepConfig


@dataclass(frozen=True)
class Split:
    """Features [N, K, d], validity mask [N, K] and gold answers [N] of one split."""

    phi: np.ndarray
    mask: np.ndarray
    gold: np.ndarray

    def __post_init__(self) -> None:
        for a in (self.phi, self.mask, self.gold):
            a.setflags(write=False)  # shared by every trial: nobody may change them

    def __len__(self) -> int:
        return int(self.gold.shape[0])

    def take(self, rows: np.ndarray) -> "Split":
        return Split(self.phi[rows], self.mask[rows], self.gold[rows])


@dataclass(frozen=True)
class TaskArrays:
    name: str
    stream: Split
    val: Split
    test: Split | None


@dataclass(frozen=True)
class TaskItems:
    """A task's pool and test items as a run config selects them, and which pool items are held out."""

    name: str
    pool: list[MCItem]
    test: list[MCItem]
    held_out: np.ndarray  # bool [len(pool)]: the validation split


def load_task_items(config: SweepConfig) -> list[TaskItems]:
    """Every task's items and its validation split, before Ray starts; ConfigError names the key."""
    out = []
    for i, task in enumerate(config.tasks or ()):
        try:
            pool, test = load_run_items(task.data, "gold", config.source)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(f"{config.source}: data.", f"{config.source}: tasks[{i}].data.", 1)) from None
        size = config.validation.size
        if size >= len(pool) - 1:
            raise ConfigError(f"{config.source}: validation.size: holding out {size} items leaves too small a stream "
                              f"(tasks[{i}] ({task.name}) has a pool of {len(pool)})")
        held = np.zeros(len(pool), dtype=bool)
        held[np.random.default_rng(config.validation.seed).permutation(len(pool))[:size]] = True
        out.append(TaskItems(task.name, list(pool), list(test), held))
    return out


def featurise(config: SweepConfig, tasks: list[TaskItems]) -> tuple[list[TaskArrays], list[str]]:
    """The features of every split (Ray must be up: cache misses go to ScorerActors), and the column names.

    The pool and the test split are featurised exactly as `stackray run` does (same chunks, so the same
    cache entries: a run of a chosen config reads what the sweep read) and only then split."""
    from stackray.run.features import FeatureSource

    arrays, names = [], []
    for task in tasks:
        splits = {"pool": task.pool, **({"test": task.test} if task.test else {})}
        source = FeatureSource(config.scoring, config.ray, splits)
        try:
            pool = _split(*source.all("pool"), task.pool)
            test = _split(*source.all("test"), task.test) if task.test else None
        finally:
            source.close()
        names = source.names
        arrays.append(TaskArrays(task.name, pool.take(~task.held_out), pool.take(task.held_out), test))
    return arrays, names


def _split(phi: np.ndarray, mask: np.ndarray, items: list[MCItem]) -> Split:
    return Split(np.array(phi, dtype=np.float64), np.array(mask, dtype=bool), gold_array(items))
