"""Field checks for the budget's JSON-lines records: a bad value is a DataError naming place and field.

Why not pydantic here: these run on every ledger, request and answer line, including hand-written
answer lines, and the error must name `file:line` and the field exactly as the user will look for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence, TypeVar

from stackray.io import DataError

R = TypeVar("R")

# Where a problem is: (file or context, 1-based line or None).
At = tuple["str | Path", "int | None"]


def int_field(obj: dict, name: str, at: At, *, minimum: int = 0, below: int | None = None) -> int:
    """obj[name] as an int in [minimum, below), or a DataError naming place and field."""
    if name not in obj:
        raise DataError(*at, name, "missing")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(*at, name, f"must be an integer, got {value!r}")
    if value < minimum or (below is not None and value >= below):
        hi = f", < {below}" if below is not None else ""
        raise DataError(*at, name, f"{value} is out of range (>= {minimum}{hi})")
    return value


def str_field(obj: dict, name: str, at: At) -> str:
    """obj[name] as a string, or a DataError naming place and field."""
    if name not in obj:
        raise DataError(*at, name, "missing")
    value = obj[name]
    if not isinstance(value, str):
        raise DataError(*at, name, f"must be a string, got {value!r}")
    return value


def by_round(path: Path, objects: Sequence[tuple[int, dict]], parse: Callable[[dict, At], R], verb: str) -> dict[int, tuple[int, R]]:
    """round -> (line, record) of a file's lines in file order, each parsed by `parse(obj, (path, line))`
    (whose result has a `.round`); a round on two lines raises, naming both (`verb`: "recorded" ...)."""
    found: dict[int, tuple[int, R]] = {}
    for lineno, obj in objects:
        record = parse(obj, (path, lineno))
        first = found.get(record.round)
        if first is not None:
            raise DataError(path, lineno, "round", f"round {record.round} is already {verb} on line {first[0]}")
        found[record.round] = (lineno, record)
    return found
