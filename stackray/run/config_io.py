"""Reading a run config file strictly, and turning validation errors into `FILE: dotted.key: problem` lines.

Why a strict reader: PyYAML keeps the last of two equal keys without a word, so a config that sets
`beta` twice runs with whichever came last. Here a duplicate key, a file that is not UTF-8, and YAML
that is not a mapping each stop the load with the file (and, where there is one, the line) named.

Why reword pydantic's errors: its messages ("Input should be a valid integer") name neither the
file nor the key the way a user writes it; a config error should read like `c.yaml: game.beta: must
be in (0, 1], got 2.0`, one line per problem, every problem at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import BaseModel, ValidationError

from stackray.io import atomic_write_text


class ConfigError(ValueError):
    """A run config that cannot be run: the message names the file and the key."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden by design
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise ConfigError(f"{self.name}: line {line}: duplicate key {key!r} (first set on line {seen[key]})")
            except TypeError:  # an unhashable key: let PyYAML say what is wrong with it
                break
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict:
    """The top-level mapping of a YAML file (empty file: {}); ConfigError names the file and line."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "save the config as UTF-8") from None
    loader = _StrictLoader(text)
    loader.name = str(path)  # marks (and so error messages) name the file, not "<unicode string>"
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    return raw


def settle_config(folder: Path, name: str, load: Callable[[Path], Any], config: Any, resume: bool, *,
                  what: str, command: str, header: str | None = None, prepare: Callable[[], Any] | None = None) -> Any:
    """The config a run or sweep directory plays. On resume the one stored in FOLDER/NAME (a config given must
    equal it); for a new directory `config`, written there (atomic, fsynced) under a header naming
    `command --resume FOLDER` (and starting with `header`, default "the config of this WHAT"), after `prepare()` (e.g. the data checks), so a bad config leaves nothing
    behind; a folder that already holds one is refused. `what` names the directory's kind ("run", "sweep")."""
    saved = folder / name
    if resume:
        if not saved.is_file():
            raise FileNotFoundError(f"{saved}: not a {what} directory (no {name}); nothing to resume")
        stored = load(saved)
        if config is not None and config.to_dict() != stored.to_dict():
            raise ValueError(f"{config.source}: differs from {saved}, the config the {what} was started with; "
                             f"resume without a config or with the same one")
        return stored
    if config is None:
        raise ValueError(f"a new {what} needs a config (or {command} --resume DIR)")
    if saved.exists():
        raise ValueError(f"{folder}: already holds a {what}; resume it with: {command} --resume {folder}")
    if prepare is not None:
        prepare()
    folder.mkdir(parents=True, exist_ok=True)
    first = f"# {header or 'the config of this ' + what}; resume it with: {command} --resume {folder}\n"
    atomic_write_text(saved, first + yaml.safe_dump(config.to_dict(), sort_keys=False))
    return config


# error type -> what the key expected, for type errors ("scoring.d_h: expected int, got 'many'")
_EXPECTED = {"int_type": "int", "float_type": "float", "bool_type": "bool", "string_type": "str",
             "model_type": "a mapping", "dict_type": "a mapping", "list_type": "a list", "tuple_type": "a list"}
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
# a hint for unknown keys that people do write
_HINTS = {"game.strategy": "list strategies at the top level: strategies: [llf, ...]"}


def dotted(loc: tuple) -> str:
    """('data', 'pool_limit') -> data.pool_limit; ('strategies', 1) -> strategies[1]."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The section model reached from `model` through the nested model fields named by `loc`."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _problem(err: dict) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {'null' if value is None else repr(value)}"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return f"must be {_BOUNDS[kind]} {bound}, got {value!r}"
    if kind == "literal_error":
        return f"{value!r} is not one of {ctx['expected'].replace(' or ', ', ')}"
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def error_lines(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """Every error of a validation as one `SOURCE: key: problem` line (ConfigError's message)."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"]) + ((err["ctx"]["field"],) if "field" in (err.get("ctx") or {}) else ())
        key = dotted(loc)
        if err["type"] == "extra_forbidden":
            parent = dotted(loc[:-1])
            section = _model_at(model, loc[:-1])
            valid = ", ".join(sorted(section.model_fields) if section else [])
            hint = f"; {_HINTS[key]}" if key in _HINTS else ""
            lines.append(f"{source}: unknown key {key} (valid keys{' of ' + parent if parent else ''}: {valid}){hint}")
        elif err["type"] == "missing":
            section = _model_at(model, loc[:-1])
            field = section.model_fields.get(loc[-1]) if section else None
            description = field.description if field is not None else None
            lines.append(f"{source}: {key}: required" + (f" ({description})" if description else ""))
        else:
            lines.append(f"{source}: {key or '(top level)'}: {_problem(err)}")
    return "\n".join(lines)

