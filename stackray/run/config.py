"""RunConfig: one validated dataclass for a `stackray run` YAML file.

Why a strict schema: a run is expensive (a model, labels that cost money), so a typo such as
`game: {bta: 0.1}` must stop the run before anything starts, with the file and the key named,
instead of silently running with the default. Every section is a frozen dataclass; unknown keys and
bad values raise `ConfigError` (a ValueError) naming `FILE: section.key`.

A config file looks like this (every key is optional except `data.pool`)::

    name: demo
    data:     {pool: openbookqa:train, pool_limit: 700, eval: openbookqa:test, eval_limit: 300}
    scoring:  {backend: transformers, format: cloze, d_h: 64}
    game:     {beta: 0.1, c: 1.0, lam: 1.0, window: 32}      # stackray.game.GameConfig minus strategy
    strategies: [llf, random, full, zero_shot]
    oracle:   {kind: gold}                                   # or human (a file queue, `stackray label`)
    ray:      {num_followers: 1, prefetch: 2}
    run:      {eval_every: 2}
    serve:    {level: 0.1}
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from stackray.game import STRATEGIES, GameConfig


class ConfigError(ValueError):
    """A run config that cannot be run: the message names the file and the key."""


@dataclass(frozen=True)
class DataSection:
    """pool: the stream the game plays (a data spec: `name:split`, a .jsonl path or hf:...);
    eval: the held-out split the metrics are measured on (None: no held-out metrics), or, for a set
    with a single split (MedQA), `holdout`: the last N items of the shuffled pool are held out instead.
    The pool is shuffled with `seed` (bundled files are not i.i.d. in file order)."""

    pool: str = ""
    pool_limit: int | None = None
    eval: str | None = None
    eval_limit: int | None = None
    holdout: int | None = None
    subjects: list[str] | None = None
    seed: int = 0
    shuffle: bool = True


@dataclass(frozen=True)
class ScoringSection:
    """The scoring fleet. `chunk` items go to a ScorerActor per call (and are one feature-cache entry);
    `threads` per scorer (None: the node's CPUs divided among the scorers)."""

    backend: str = "transformers"
    model: str | None = None
    adapter: str | None = None
    format: str = "cloze"
    d_h: int = 64
    dtype: str = "float32"
    batch_size: int = 16
    num_scorers: int = 1
    threads: int | None = None
    chunk: int = 32
    cache_dir: str | None = None


@dataclass(frozen=True)
class OracleSection:
    """gold: the data set's answers (simulation); human: requests.jsonl / answers.jsonl in the run
    directory, answered with `stackray label RUN_DIR`; each label waits up to `timeout` seconds."""

    kind: str = "gold"
    timeout: float = 3600.0
    poll: float = 0.5


@dataclass(frozen=True)
class RaySection:
    """address: None connects to RAY_ADDRESS when set (as under `ray job submit`), else starts an
    embedded local Ray with `num_cpus` CPUs (None: all), no dashboard and a small object store."""

    address: str | None = None
    num_cpus: int | None = None
    object_store_mb: int = 256
    num_followers: int = 1
    prefetch: int = 2
    max_restarts: int = 3


@dataclass(frozen=True)
class RunSection:
    """eval_every: windows between held-out evaluations (and the final window always)."""

    eval_every: int = 2
    progress: bool = True


@dataclass(frozen=True)
class ServeSection:
    """The never-worse-than-the-start rule (stackray.run.serving): the learned head replaces the
    zero-shot prior only when a one-sided sign test on the paid rounds rejects "no better" at `level`."""

    level: float = 0.1


@dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    data: DataSection = field(default_factory=DataSection)
    scoring: ScoringSection = field(default_factory=ScoringSection)
    game: dict = field(default_factory=dict)  # GameConfig fields except `strategy`
    strategies: tuple[str, ...] = ("llf",)
    oracle: OracleSection = field(default_factory=OracleSection)
    ray: RaySection = field(default_factory=RaySection)
    run: RunSection = field(default_factory=RunSection)
    serve: ServeSection = field(default_factory=ServeSection)
    source: str = field(default="<dict>", compare=False)

    def game_config(self, strategy: str) -> GameConfig:
        return GameConfig(strategy=strategy, **self.game)

    @property
    def window(self) -> int:
        return self.game_config(self.strategies[0]).window

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("source")
        out["strategies"] = list(self.strategies)
        return out


SECTIONS = {"data": DataSection, "scoring": ScoringSection, "oracle": OracleSection, "ray": RaySection,
            "run": RunSection, "serve": ServeSection}
_GAME_KEYS = tuple(f.name for f in fields(GameConfig) if f.name != "strategy")


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return config_from_dict(raw if raw is not None else {}, source=str(path))


def config_from_dict(raw: Any, source: str = "<dict>") -> RunConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    top = {f.name for f in fields(RunConfig)} - {"source"}
    _no_unknown(raw, top, source, "")
    kw: dict[str, Any] = {"source": source}
    if "name" in raw:
        kw["name"] = _check_type(raw["name"], str, source, "name")
        if not kw["name"] or "/" in kw["name"]:
            raise ConfigError(f"{source}: name: must be a non-empty string without '/', got {kw['name']!r}")
    for key, cls in SECTIONS.items():
        kw[key] = _section(cls, raw.get(key), source, key)
    kw["game"] = _game(raw.get("game"), source)
    kw["strategies"] = _strategies(raw.get("strategies", ["llf"]), source)
    config = RunConfig(**kw)
    _check_values(config, source)
    return config


def _no_unknown(raw: dict, known: set[str] | tuple[str, ...], source: str, prefix: str) -> None:
    unknown = sorted(set(map(str, raw)) - set(known))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"{source}: unknown key {where}{unknown[0]} (valid keys{' of ' + prefix if prefix else ''}: "
                          f"{', '.join(sorted(known))})")


def _check_type(value: Any, types: type | tuple, source: str, key: str) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"{source}: {key}: expected {_names(types)}, got {value!r}")
    if not isinstance(value, types):
        raise ConfigError(f"{source}: {key}: expected {_names(types)}, got {value!r}")
    return value


def _names(types: type | tuple) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


def _section(cls: type, raw: Any, source: str, name: str):
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {name}: expected a mapping, got {raw!r}")
    _no_unknown(raw, [f.name for f in fields(cls)], source, name)
    values = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        value, key = raw[f.name], f"{name}.{f.name}"
        hint = str(f.type)
        optional = "None" in hint
        if value is None:
            if not optional:
                raise ConfigError(f"{source}: {key}: may not be null")
        elif hint.startswith("list"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
                raise ConfigError(f"{source}: {key}: expected a non-empty list of strings, got {value!r}")
        else:
            base = hint.split(" |")[0]
            value = _check_type(value, _TYPES[base], source, key)
            if base == "float":
                value = float(value)
        values[f.name] = value
    return cls(**values)


def _game(raw: Any, source: str) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: game: expected a mapping, got {raw!r}")
    if "strategy" in raw:
        raise ConfigError(f"{source}: game.strategy: list strategies at the top level (strategies: [llf, ...])")
    _no_unknown(raw, _GAME_KEYS, source, "game")
    try:
        GameConfig(**raw)
    except (TypeError, ValueError) as exc:
        field_name = str(exc).split(":")[0].replace("GameConfig.", "game.")
        raise ConfigError(f"{source}: {field_name}: {str(exc).split(':', 1)[-1].strip()}") from exc
    return dict(raw)


def _strategies(raw: Any, source: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: strategies: expected a non-empty list, got {raw!r}")
    for s in raw:
        if s not in STRATEGIES:
            raise ConfigError(f"{source}: strategies: {s!r} is not one of {', '.join(STRATEGIES)}")
    if len(set(raw)) != len(raw):
        raise ConfigError(f"{source}: strategies: {raw} lists a strategy twice")
    return tuple(raw)


def _positive(value: Any, source: str, key: str, low: int = 1) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{source}: {key}: must be >= {low}, got {value}")


def _check_values(c: RunConfig, source: str) -> None:
    from stackray.scoring import BACKENDS, FORMATS

    if not c.data.pool:
        raise ConfigError(f"{source}: data.pool: required (a data spec such as openbookqa:train)")
    for key, value in (("data.pool_limit", c.data.pool_limit), ("data.eval_limit", c.data.eval_limit),
                       ("scoring.d_h", c.scoring.d_h), ("scoring.batch_size", c.scoring.batch_size),
                       ("scoring.num_scorers", c.scoring.num_scorers), ("scoring.threads", c.scoring.threads),
                       ("scoring.chunk", c.scoring.chunk), ("ray.num_cpus", c.ray.num_cpus),
                       ("ray.object_store_mb", c.ray.object_store_mb), ("ray.num_followers", c.ray.num_followers),
                       ("ray.prefetch", c.ray.prefetch), ("run.eval_every", c.run.eval_every)):
        _positive(value, source, key)
    _positive(c.ray.max_restarts, source, "ray.max_restarts", 0)
    _positive(c.data.holdout, source, "data.holdout")
    if c.data.holdout is not None and c.data.eval is not None:
        raise ConfigError(f"{source}: data.holdout: give either data.eval or data.holdout, not both")
    if c.scoring.backend not in BACKENDS:
        raise ConfigError(f"{source}: scoring.backend: {c.scoring.backend!r} is not one of {', '.join(BACKENDS)}")
    if c.scoring.format not in FORMATS:
        raise ConfigError(f"{source}: scoring.format: {c.scoring.format!r} is not one of {', '.join(FORMATS)}")
    if c.oracle.kind not in ("gold", "human"):
        raise ConfigError(f"{source}: oracle.kind: {c.oracle.kind!r} is not one of gold, human")
    for key in ("timeout", "poll"):
        value = getattr(c.oracle, key)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{source}: oracle.{key}: must be a finite number of seconds > 0, got {value}")
    if c.oracle.kind == "human" and len(c.strategies) != 1:
        raise ConfigError(f"{source}: strategies: a human-oracle run plays exactly one strategy, got {list(c.strategies)}")
    if not 0.0 < c.serve.level < 1.0:
        raise ConfigError(f"{source}: serve.level: must be in (0, 1), got {c.serve.level}")
