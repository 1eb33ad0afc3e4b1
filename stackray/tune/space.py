"""The sweep's `space:` and `search:` as Ray Tune's param_space, search algorithm and number of samples.

One place maps the config's words to Tune's objects, so the CLI, the job and the benchmark search the
same space. Tune's randint excludes its upper end; a sweep's `randint: [low, high]` includes it.
"""

from __future__ import annotations

import itertools
from typing import Any

from ray import tune

from stackray.tune.config import SweepConfig


def param_space(config: SweepConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, dim in config.space.items():
        kind = dim.kind
        if kind == "grid":
            out[name] = tune.grid_search(list(dim.grid))
        elif kind == "choice":
            out[name] = tune.choice(list(dim.choice))
        elif kind == "uniform":
            out[name] = tune.uniform(*dim.uniform)
        elif kind == "loguniform":
            out[name] = tune.loguniform(*dim.loguniform)
        elif kind == "randint":
            out[name] = tune.randint(dim.randint[0], dim.randint[1] + 1)
        else:
            out[name] = dim.value
    return out


def trial_count(config: SweepConfig) -> int:
    """How many trials the sweep runs: the grid's size, times `samples` for random draws (as Tune counts)."""
    grid = 1
    for dim in config.space.values():
        grid *= len(dim.grid) if dim.kind == "grid" else 1
    return grid if config.search.kind == "grid" else grid * config.search.samples


def grid_points(config: SweepConfig) -> list[dict[str, Any]]:
    """Every combination of a grid sweep (fixed values included), in no particular order."""
    names = list(config.space)
    return [dict(zip(names, combo)) for combo in itertools.product(*(config.space[n].values() for n in names))]


def search(config: SweepConfig) -> tuple[Any, int]:
    """(search_alg or None, num_samples) for TuneConfig."""
    s = config.search
    if s.kind == "grid":
        return None, 1
    if s.kind == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=s.seed, max_concurrent=s.max_concurrent or 0), s.samples
    from ray.tune.search.optuna import OptunaSearch  # needs the optuna package (a stackray dependency)

    if config.objective.multi:  # Optuna keeps a multi-objective study; the front is still taken exactly afterwards
        return OptunaSearch(metric=["labels_used", "objective"], mode=["min", "max"], seed=s.seed), s.samples
    return OptunaSearch(metric="objective", mode="max", seed=s.seed), s.samples
