"""The data a run config names, checked when the config is loaded: before Ray starts, before a run directory.

Why at load time: a misspelt split, a missing file, a pool that overlaps the eval split or eval items
without gold answers are config errors. Found here they cost a second and leave nothing behind; found
by the driver they cost Ray's start-up and leave an empty run directory. Bundled sets and JSONL files
are read here (cheap); `hf:` specs are only parsed, and fetched by `RunConfig.items()` when the run
is created (still before its directory exists).

Relative paths are the config file's business: `resolve_path` makes them absolute against the
config's folder, so a config runs the same from any working directory and the copy stored in the run
directory (config.yaml) names the very files the run read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackray.data import DataError, MCItem, NAMED_SETS, load_items, parse_spec, select_items
from stackray.run.config_io import ConfigError

HUB_SYNTAX = "hf:<dataset id>[:<config>][:<split>]"


def resolve_path(value: str, base: Path) -> str:
    """`value` (~ expanded) made absolute against `base` when relative."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def is_path_spec(spec: str) -> bool:
    """A data spec that names a file (not `name:split`, not `hf:...`)."""
    return not spec.startswith("hf:") and (spec.endswith(".jsonl") or "/" in spec or spec.startswith(("~", ".")))


def resolve_spec(spec: str, base: Path) -> str:
    return resolve_path(spec, base) if is_path_spec(spec) else spec


def check_spec(spec: str) -> None:
    """Raise ValueError saying what is wrong with a spec (without fetching anything)."""
    if spec.startswith("hf:"):
        parse_spec(spec)  # syntax only: the hub is never contacted at load time
        return
    if is_path_spec(spec):
        if not Path(spec).is_file():
            raise ValueError(f"no such data file {spec}")
        return
    name, sep, split = spec.partition(":")
    if name not in NAMED_SETS:
        raise ValueError(f"no data set {name!r} (have: {', '.join(NAMED_SETS)}; or a .jsonl file, or {HUB_SYNTAX})")
    have = ", ".join(NAMED_SETS[name])
    if not sep:
        raise ValueError(f"{spec!r} names no split (have: {have}; e.g. {name}:{next(iter(NAMED_SETS[name]))})")
    if split not in NAMED_SETS[name]:
        raise ValueError(f"no split {split!r} in {name} (have: {have})")


def check_specs(data: Any, source: str) -> bool:
    """Check every spec of a data section; True when all are local (so loading them now is cheap)."""
    specs = {"data.pool": data.pool, "data.eval": data.eval}
    for key, spec in specs.items():
        if spec is None:
            continue
        try:
            check_spec(spec)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None
    return not any(s is not None and s.startswith("hf:") for s in specs.values())


def _select(data: Any, key: str, spec: str, limit: int | None, shuffle: bool, source: str) -> list[MCItem]:
    try:
        items = load_items(spec)
    except (DataError, ValueError, OSError) as exc:  # DataError names the file, line and field
        raise ConfigError(f"{source}: {key}: {exc}") from None
    try:
        return select_items(items, subjects=data.subjects, limit=limit, seed=data.seed, shuffle=shuffle)
    except ValueError as exc:  # the limit and seed are validated ints: only the subjects can be wrong
        raise ConfigError(f"{source}: data.subjects: {exc} (in {spec})") from None


def load_run_items(data: Any, oracle_kind: str, source: str) -> tuple[list[MCItem], list[MCItem]]:
    """(pool, eval) of a data section, selected and checked; ConfigError names the file and the key."""
    check_specs(data, source)
    pool = _select(data, "data.pool", data.pool, data.pool_limit, data.shuffle, source)
    evals = _select(data, "data.eval", data.eval, data.eval_limit, False, source) if data.eval else []
    if data.holdout is not None:
        if data.holdout >= len(pool):
            raise ConfigError(f"{source}: data.holdout: holding out {data.holdout} items leaves no pool "
                              f"(the pool has {len(pool)})")
        pool, evals = pool[: -data.holdout], pool[-data.holdout:]
    if not pool:
        raise ConfigError(f"{source}: data.pool: selects no items from {data.pool}")
    overlap = {it.id for it in pool} & {it.id for it in evals}
    if overlap:
        raise ConfigError(f"{source}: data.eval: shares {len(overlap)} items with data.pool (e.g. {sorted(overlap)[0]!r}); "
                          "held-out accuracy needs disjoint splits")
    no_gold = next((it.id for it in evals if it.answer is None), None)
    if no_gold is not None:
        raise ConfigError(f"{source}: data.eval: item {no_gold!r} has no gold answer; every eval item needs one")
    no_gold = next((it.id for it in pool if it.answer is None), None)
    if oracle_kind == "gold" and no_gold is not None:
        raise ConfigError(f"{source}: oracle.kind: gold needs gold answers, and pool item {no_gold!r} has none "
                          "(use oracle: {kind: human})")
    return pool, evals
