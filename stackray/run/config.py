"""RunConfig: a `stackray run` YAML file as frozen, strict pydantic models, validated whole before anything starts.

Why strict: a run is expensive (a model, labels that cost money), so a typo such as `game: {bta: 0.1}`
or `progress: 1` must stop the run before Ray starts, with the file and the key named, instead of
silently running with a default or a coerced value. Unknown keys, wrong types, bad values, duplicate
YAML keys and bad data specs all raise `ConfigError` (a ValueError) naming `FILE: section.key`, one
line per problem. The data the config names is loaded and checked here too (stackray.run.config_data).

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

Adding a section is a class and a line::

    class TuneSection(Section):
        \"\"\"What it is for.\"\"\"
        trials: PositiveInt = 8

    class RunConfig(Section):
        ...
        tune: TuneSection = TuneSection()

The `game:` section is generated from GameConfig's own fields (stackray.game.config.knobs), so its
keys, types, defaults and docs have one source; GameConfig's own checks judge its values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      ValidationInfo, create_model, model_validator)
from pydantic_core import PydanticCustomError

from stackray.data import MCItem
from stackray.game import STRATEGIES, GameConfig
from stackray.game.config import knobs
from stackray.run.config_data import check_specs, load_run_items, resolve_path, resolve_spec
from stackray.run.config_io import ConfigError, error_lines, read_yaml
from stackray.scoring import BACKENDS, FORMATS
from stackray.train.settings import LoraSettings

__all__ = ["ConfigError", "RunConfig", "Section", "config_from_dict", "load_config"]


class Section(BaseModel):
    """A config section: unknown keys are errors, types are not coerced, values cannot change after loading."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _base(info: ValidationInfo) -> Path:
    """The folder relative paths are resolved against: the config file's (the working directory for a dict)."""
    return Path((info.context or {}).get("base") or Path.cwd())


def _local_path(value: str, info: ValidationInfo) -> str:
    return resolve_path(value, _base(info))


def _data_spec(value: str, info: ValidationInfo) -> str:
    return resolve_spec(value, _base(info))


def _model_ref(value: str, info: ValidationInfo) -> str:
    """A model is a hub id unless it reads as a path or exists next to the config (as resolve_model decides)."""
    base = _base(info)
    looks_local = value.startswith((".", "/", "~")) or (base / value).exists()
    return resolve_path(value, base) if looks_local else value


def _as_tuple(value: Any) -> Any:
    """YAML has lists, frozen models want tuples; a single string is a list of one."""
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


PositiveInt = Annotated[int, Field(ge=1)]
LocalPath = Annotated[str, AfterValidator(_local_path)]
DataSpec = Annotated[str, Field(min_length=1), AfterValidator(_data_spec)]
StrList = Annotated[tuple[str, ...], BeforeValidator(_as_tuple), Field(min_length=1)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _config_error(field: str, why: str) -> PydanticCustomError:
    """A cross-field error reported at `field` of the section that raised it."""
    return PydanticCustomError("config", "{why}", {"field": field, "why": why})


class DataSection(Section):
    """pool: the stream the game plays; eval: the held-out split the metrics are measured on (None: no
    held-out metrics), or, for a set with a single split (MedQA), `holdout`: the last N items of the
    shuffled pool are held out instead. The pool is shuffled with `seed` (bundled files are not
    i.i.d. in file order). A relative .jsonl path is relative to the config file.

    order: the game plays the selected pool in this seeded order (0: as selected). The same items in
    another order: features are cached per chunk of the selected pool, so every order reuses them.
    orders: play orders 0..orders-1 one after another, each a whole run in RUN_DIR/order-<k>, and
    report mean and 95% CI over them (stackray.run.orders); a gold-oracle run only."""

    pool: DataSpec = Field(description="a data spec such as openbookqa:train, a .jsonl file or hf:<id>[:<split>]")
    pool_limit: PositiveInt | None = None
    eval: DataSpec | None = None
    eval_limit: PositiveInt | None = None
    holdout: PositiveInt | None = None
    subjects: StrList | None = None
    seed: int = 0
    shuffle: bool = True
    order: Annotated[int, Field(ge=0)] = 0
    orders: PositiveInt = 1

    @model_validator(mode="after")
    def _one_held_out_set(self) -> "DataSection":
        if self.holdout is not None and self.eval is not None:
            raise _config_error("holdout", "give either data.eval or data.holdout, not both")
        if self.eval_limit is not None and self.eval is None:
            raise _config_error("eval_limit", "limits data.eval, which is not set")
        if self.orders > 1 and self.order != 0:
            raise _config_error("order", "is set per order when data.orders > 1 (orders 0..orders-1 are played)")
        return self


class ScoringSection(Section):
    """The scoring fleet. `chunk` items go to a ScorerActor per call (and are one feature-cache entry);
    `threads` per scorer (None: the node's CPUs divided among the scorers). model: None (the bundled
    SmolLM2), a hub id or a local path; local paths, `adapter` and `cache_dir` are relative to the config file."""

    backend: Literal[tuple(BACKENDS)] = "transformers"  # type: ignore[valid-type]
    model: Annotated[str, AfterValidator(_model_ref)] | None = None
    adapter: LocalPath | None = None
    format: Literal[FORMATS] = "cloze"  # type: ignore[valid-type]
    d_h: PositiveInt = 64
    dtype: str = "float32"
    batch_size: PositiveInt = 16
    num_scorers: PositiveInt = 1
    threads: PositiveInt | None = None
    chunk: PositiveInt = 32
    cache_dir: LocalPath | None = None


class OracleSection(Section):
    """gold: the data set's answers (simulation); human: requests.jsonl / answers.jsonl in the run
    directory, answered with `stackray label RUN_DIR`; each label waits up to `timeout` seconds."""

    kind: Literal["gold", "human"] = "gold"
    timeout: Seconds = 3600.0
    poll: Seconds = 0.5


class RaySection(Section):
    """address: None connects to RAY_ADDRESS when set (as under `ray job submit`), else starts an
    embedded local Ray with `num_cpus` CPUs (None: all), no dashboard and a small object store."""

    address: str | None = None
    num_cpus: PositiveInt | None = None
    object_store_mb: PositiveInt = 256
    num_followers: PositiveInt = 1
    prefetch: PositiveInt = 2
    max_restarts: Annotated[int, Field(ge=0)] = 3


class RunSection(Section):
    """eval_every: windows between held-out evaluations (and the final window always)."""

    eval_every: PositiveInt = 2
    progress: bool = True


class ServeSection(Section):
    """The never-worse-than-the-start rule (stackray.run.served_head): the learned head replaces the
    zero-shot prior only when a one-sided sign test on the paid rounds (each predicted by the game's head
    replayed without it) rejects "no better" at `level`."""

    level: Annotated[float, Field(gt=0, lt=1)] = 0.1


class LoraSection(LoraSettings):
    """LoRA phases on the paid labels (stackray.train.settings documents each key); off by default."""


def _judged_by_game_config(value: Any, info: ValidationInfo) -> Any:
    """GameConfig's own check of one field (the others at their defaults), reported at `game.<field>`."""
    try:
        GameConfig(**{info.field_name: value})
    except ValueError as exc:
        raise PydanticCustomError("game_config", "{why}", {"why": str(exc).removeprefix(f"GameConfig.{info.field_name}: ")})
    return value


GameSection: type[Section] = create_model(  # type: ignore[call-overload]
    "GameSection", __base__=Section, __doc__="GameConfig's fields except `strategy` (chosen per strategy played).",
    **{f.name: (Annotated[hint, AfterValidator(_judged_by_game_config)], Field(f.default, description=f.metadata["doc"]))
       for f, hint in knobs()})


def _run_name(value: str) -> str:
    if not value or "/" in value:
        raise ValueError(f"must be a non-empty string without '/', got {value!r}")
    return value


def _distinct(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        raise ValueError(f"{list(value)} lists a strategy twice")
    return value


Strategies = Annotated[tuple[Literal[STRATEGIES], ...], BeforeValidator(_as_tuple), Field(min_length=1),  # type: ignore[valid-type]
                       AfterValidator(_distinct)]


class RunConfig(Section):
    """A whole run: its sections, the file it came from (`source`) and, once checked, its data (`items()`)."""

    name: Annotated[str, AfterValidator(_run_name)] = "run"
    data: DataSection = Field(default_factory=dict, validate_default=True)  # type: ignore[arg-type]
    scoring: ScoringSection = ScoringSection()
    game: GameSection = GameSection()  # type: ignore[valid-type]
    strategies: Strategies = ("llf",)
    oracle: OracleSection = OracleSection()
    ray: RaySection = RaySection()
    run: RunSection = RunSection()
    serve: ServeSection = ServeSection()
    lora: LoraSection = LoraSection()

    _source: str = PrivateAttr("<dict>")
    _items: tuple[list[MCItem], list[MCItem]] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _human_plays_one(self) -> "RunConfig":
        if self.oracle.kind == "human" and len(self.strategies) != 1:
            raise _config_error("strategies", f"a human-oracle run plays exactly one strategy, got {list(self.strategies)}")
        if self.oracle.kind == "human" and self.data.orders > 1:
            raise _config_error("data.orders", "replays the pool with gold answers; a human-oracle run plays one order "
                                "(each order would pay for its labels again)")
        if self.lora.enabled and len(self.strategies) != 1:  # one adapter: trained on one strategy's labels
            raise _config_error("strategies", f"a run with lora.enabled plays exactly one strategy, got {list(self.strategies)}")
        if self.lora.enabled and self.scoring.backend != "transformers":
            raise _config_error("lora", "lora.enabled needs scoring.backend transformers (its scorers hot-reload adapters)")
        if self.lora.enabled and self.scoring.adapter is not None:
            raise _config_error("lora", "lora.enabled trains its own adapter on the base; remove scoring.adapter")
        return self

    @property
    def source(self) -> str:
        """The config file this came from ("<dict>" for one built in code); errors name it."""
        return self._source

    @property
    def window(self) -> int:
        return self.game.window

    def game_config(self, strategy: str) -> GameConfig:
        return GameConfig(strategy=strategy, **self.game.model_dump())

    def items(self) -> tuple[list[MCItem], list[MCItem]]:
        """(pool, eval), selected and checked. Local data was loaded with the config; hub data is fetched
        on the first call (never at load time). ConfigError names the file and the key."""
        if self._items is None:
            self._items = load_run_items(self.data, self.oracle.kind, self.source)
        return self._items

    def to_dict(self) -> dict:
        """Plain YAML-ready values (every key, defaults included): what a run directory's config.yaml holds."""
        return self.model_dump(mode="json")

    def __eq__(self, other: object) -> bool:  # the source file and loaded items are not part of a config's value
        return isinstance(other, RunConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))


def load_config(path: str | Path) -> RunConfig:
    """Read, validate and check the data of a YAML run config; every error names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    return config_from_dict(read_yaml(path), source=str(path), base=path.resolve().parent)


def config_from_dict(raw: Any, source: str = "<dict>", base: str | Path | None = None) -> RunConfig:
    """Validate a config given as a mapping; relative paths are resolved against `base` (default: cwd)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        config = RunConfig.model_validate(raw, context={"base": Path(base) if base is not None else Path.cwd()})
    except ValidationError as exc:
        raise ConfigError(error_lines(exc, RunConfig, source)) from None
    config._source = source
    if check_specs(config.data, source):  # all data local: load and check it now (hub data: at run creation)
        config.items()
    return config
