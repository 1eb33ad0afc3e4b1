"""SweepConfig: a `stackray tune` YAML file as strict, frozen pydantic models, checked whole before Ray starts.

Why the run config's own sections: a sweep chooses a config for `stackray run`, so its tasks' `data:`,
its `scoring:` and its fixed `game:` values are the very models a run config is made of
(stackray.run.config), read by the same strict YAML reader, with errors in the same
`FILE: dotted.key: problem` form. A knob the sweep varies is named in `space:` by its GameConfig field
name, so a misspelt knob (`space: {bta: ...}`) is an unknown key, and each value or bound a space can
produce is judged by GameConfig's own checks (β outside (0, 1] names `space.beta.grid[1]`).

A sweep file looks like this::

    name: obqa
    base: demo_openbookqa.yaml          # optional: its data (the task), scoring and game are the defaults
    tasks:                              # or one or more tasks; each is a run config's data section
      - {name: obqa, data: {pool: openbookqa:train, pool_limit: 700, eval: openbookqa:test, eval_limit: 300}}
    validation: {size: 200, seed: 0}    # held out from each task's pool; the objective is measured on it
    scoring: {format: cloze, d_h: 64}
    game: {lam: 30.0, lam_tail: 120.0}  # fixed values of the knobs not searched
    space:
      beta: {grid: [0.05, 0.1, 0.2]}
      c: {loguniform: [0.1, 2.0]}
      strategy: {choice: [llf, random]}
    search: {kind: random, samples: 8, seed: 0}   # grid | random | optuna
    seeds: 3                            # pool orders per trial
    objective: {metric: val_accuracy, tasks: mean}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, ValidationError, ValidationInfo, model_validator

from stackray.game import GameConfig
from stackray.run.config import (DataSection, GameSection, LocalPath, PositiveInt, RaySection, ScoringSection, Section,
                                 ServeSection, _as_tuple, _config_error, _run_name, load_config)
from stackray.run.config_data import check_specs
from stackray.run.config_io import ConfigError, error_lines, read_yaml

# GameConfig fields a sweep may vary: every knob but the seed, which `seeds:` sets per pool order
SEARCHABLE = tuple(f for f in GameConfig.__dataclass_fields__ if f != "seed")
METRICS = ("val_accuracy", "served_accuracy", "gain_retained")

Value = int | float | str
Values = Annotated[tuple[Value, ...], BeforeValidator(_as_tuple), Field(min_length=1)]
Range = Annotated[tuple[float, float], BeforeValidator(_as_tuple)]
IntRange = Annotated[tuple[int, int], BeforeValidator(_as_tuple)]


def _judged(name: str, value: Any) -> None:
    """GameConfig's own check of one value of knob `name` (the other knobs at their defaults)."""
    try:
        GameConfig(**{name: value})
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix(f"GameConfig.{name}: ")) from None


class Dimension(Section):
    """One knob's values: exactly one of a grid, a choice (drawn), a uniform / log-uniform range or an
    integer range [low, high] (both ends included); or `value`, fixed (the same as setting it in `game:`)."""

    grid: Values | None = None
    choice: Values | None = None
    uniform: Range | None = None
    loguniform: Range | None = None
    randint: IntRange | None = None
    value: Value | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_value(cls, raw: Any) -> Any:
        """`beta: 0.1` fixes a knob; `beta: [0.05, 0.1]` is a grid."""
        if isinstance(raw, dict):
            return raw
        return {"grid": raw} if isinstance(raw, list) else {"value": raw}

    @model_validator(mode="after")
    def _exactly_one(self) -> "Dimension":
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise _config_error(given[-1] if given else "grid", f"give exactly one of grid, choice, uniform, loguniform, "
                                f"randint or value, got {', '.join(given) or 'none'}")
        for kind in ("uniform", "loguniform", "randint"):
            bounds = getattr(self, kind)
            if bounds is not None and not bounds[0] < bounds[1] + (kind == "randint"):
                raise _config_error(kind, f"a range [low, high] needs low {'<=' if kind == 'randint' else '<'} high, "
                                    f"got {list(bounds)}")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise _config_error("loguniform", f"a log-uniform range needs low > 0, got {list(self.loguniform)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)

    def values(self) -> tuple[Value, ...]:
        """Every value a grid, choice or fixed value names; the two ends of a range."""
        found = getattr(self, self.kind)
        return found if isinstance(found, tuple) else (found,)


def _check_space(space: dict[str, Dimension], info: ValidationInfo) -> dict[str, Dimension]:
    """Knob names are GameConfig fields; every value a grid names and both ends of a range pass GameConfig's checks."""
    if not space:
        raise ValueError("must name at least one knob to search")
    for name, dim in space.items():
        if name not in SEARCHABLE:
            raise _config_error(name, f"unknown knob (searchable: {', '.join(SEARCHABLE)})")
        for i, value in enumerate(dim.values()):
            try:
                _judged(name, value)
            except ValueError as exc:
                raise _config_error(f"{name}.{dim.kind}" + ("" if dim.kind == "value" else f"[{i}]"), str(exc)) from None
    return space


class Task(Section):
    """One task: a name (its column in the results) and a run config's data section. `data.eval` is the
    test split, read only for the configs the sweep chooses."""

    name: Annotated[str, AfterValidator(_run_name)]
    data: DataSection


class Validation(Section):
    """The validation split: `size` items held out from each task's pool (seeded), scored for the objective."""

    size: PositiveInt = 100
    seed: int = 0


class Search(Section):
    """grid: every combination once (the space must be grids and fixed values); random: `samples` seeded
    draws (grids are crossed with each draw, as Tune does); optuna: `samples` trials of Optuna's TPE."""

    kind: Literal["grid", "random", "optuna"] = "grid"
    samples: PositiveInt = 8
    seed: int = 0
    max_concurrent: PositiveInt | None = None
    trial_cpus: Annotated[float, Field(gt=0)] = 1.0


class Objective(Section):
    """What the search maximises, per trial: `metric` on the validation split, aggregated over the tasks by
    `tasks` (mean, or min: the worst task). multi (optuna only): minimise labels used as a second objective."""

    metric: Literal[METRICS] = "val_accuracy"  # type: ignore[valid-type]
    tasks: Literal["mean", "min"] = "mean"
    multi: bool = False


class SweepConfig(Section):
    """A whole sweep; `source` names the file it came from."""

    name: Annotated[str, AfterValidator(_run_name)] = "sweep"
    base: LocalPath | None = None
    tasks: Annotated[tuple[Task, ...], BeforeValidator(_as_tuple), Field(min_length=1)] | None = None
    validation: Validation = Validation()
    scoring: ScoringSection = ScoringSection()
    game: GameSection = GameSection()  # type: ignore[valid-type]
    space: Annotated[dict[str, Dimension], AfterValidator(_check_space)]
    search: Search = Search()
    seeds: PositiveInt = 3
    objective: Objective = Objective()
    ray: RaySection = RaySection()
    serve: ServeSection = ServeSection()

    _source: str = PrivateAttr("<dict>")

    @model_validator(mode="after")
    def _consistent(self) -> "SweepConfig":
        if self.base is None and self.tasks is None:
            raise _config_error("tasks", "required: give tasks (a list of {name, data}), or a base run config")
        names = [t.name for t in self.tasks or ()]
        if len(set(names)) != len(names):
            raise _config_error("tasks", f"task names must differ, got {names}")
        if self.search.kind == "grid":
            drawn = next((n for n, d in self.space.items() if d.kind not in ("grid", "value")), None)
            if drawn is not None:
                raise _config_error("search.kind", f"grid needs grids only, but space.{drawn} is a "
                                    f"{self.space[drawn].kind} (use search.kind: random or optuna)")
        if self.search.kind == "optuna":
            grid = next((n for n, d in self.space.items() if d.kind == "grid"), None)
            if grid is not None:
                raise _config_error("search.kind", f"Optuna cannot search a grid (space.{grid}); write choice: [...] instead")
        if self.objective.multi and self.search.kind != "optuna":
            raise _config_error("objective.multi", ": true (labels as a second objective) needs search.kind: optuna")
        return self

    @property
    def source(self) -> str:
        return self._source

    def to_dict(self) -> dict:
        """Every key, paths absolute; without `base`, whose task, scoring and game are filled in already
        (so a stored sweep resumes even when the base run config has moved)."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"base"})


def _with_base(raw: dict, source: str, base_dir: Path) -> dict:
    """The base run config's data (as the one task), scoring and game filled in where the sweep has none."""
    if not isinstance(raw.get("base"), str):
        return raw
    base = load_config(Path(raw["base"]).expanduser() if Path(raw["base"]).is_absolute() else base_dir / raw["base"])
    filled = dict(raw)
    filled.setdefault("tasks", [{"name": base.name, "data": base.data.model_dump(mode="json")}])
    filled.setdefault("scoring", base.scoring.model_dump(mode="json"))
    filled.setdefault("game", base.game.model_dump(mode="json"))
    return filled


def sweep_from_dict(raw: Any, source: str = "<dict>", base: str | Path | None = None) -> SweepConfig:
    """Validate a sweep given as a mapping; relative paths are resolved against `base` (default: cwd).
    Every problem is one `SOURCE: dotted.key: problem` line of the ConfigError; local data is loaded and checked."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    base_dir = Path(base) if base is not None else Path.cwd()
    try:
        raw = _with_base(raw, source, base_dir)
    except (ConfigError, FileNotFoundError) as exc:
        raise ConfigError(f"{source}: base: {exc}") from None
    try:
        config = SweepConfig.model_validate(raw, context={"base": base_dir})
    except ValidationError as exc:
        raise ConfigError(error_lines(exc, SweepConfig, source)) from None
    config._source = source
    for i, task in enumerate(config.tasks or ()):
        try:
            check_specs(task.data, source)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(f"{source}: data.", f"{source}: tasks[{i}].data.", 1)) from None
    return config


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; every error names the file and the dotted key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such sweep file")
    return sweep_from_dict(read_yaml(path), source=str(path), base=path.resolve().parent)
