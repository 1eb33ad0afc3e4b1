"""Where data lives: the bundled sets by name, the data folder, and parsing of a data spec.

A spec is one of
- ``name:split`` for a bundled set (``mmlu:validation``), read from the data folder;
- a path to a ``.jsonl`` file in the stackray schema (``stackray.data.jsonl``);
- ``hf:<dataset id>[:<config>][:<split>]`` for a Hugging Face hub dataset (``stackray.data.hub``).

The data folder is, in order: the ``root`` argument, the ``STACKRAY_DATA`` environment variable,
or the ``data/`` folder at the top of the repository (next to the ``stackray`` package). The
bundled files are copies of public releases; data/README.md gives their provenance and licences.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "STACKRAY_DATA"

# name -> split -> number of records (the documented counts in data/README.md; tests check them).
NAMED_SETS: dict[str, dict[str, int]] = {
    "mmlu": {"validation": 1531, "test": 14042, "dev": 285},
    "medqa": {"test": 1273},
    "arc_easy": {"train": 2251, "validation": 570, "test": 2376},
    "arc_challenge": {"train": 1119, "validation": 299, "test": 1172},
    "openbookqa": {"train": 4957, "validation": 500, "test": 500},
    "piqa": {"validation": 1838},
}


@dataclass(frozen=True)
class Spec:
    """A parsed data spec. ``kind`` is "named", "file" or "hf"."""

    kind: str
    text: str
    name: str = ""  # named: the set; hf: the dataset id
    split: str | None = None
    config: str | None = None  # hf only
    path: Path | None = None  # named and file: the JSONL file


def data_root(root: str | Path | None = None) -> Path:
    """The folder holding the bundled sets (see the module docstring for the search order)."""
    if root is not None:
        chosen, how = Path(root), "the root argument"
    elif os.environ.get(ENV_VAR):
        chosen, how = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        chosen, how = Path(__file__).resolve().parents[2] / "data", "the repository's data/ folder"
    if not chosen.is_dir():
        raise FileNotFoundError(f"data folder {chosen} (from {how}) does not exist; pass root= or set ${ENV_VAR}")
    return chosen


def _valid_specs() -> str:
    return ", ".join(f"{name}:{'|'.join(splits)}" for name, splits in NAMED_SETS.items())


def parse_spec(spec: str | Path, *, root: str | Path | None = None) -> Spec:
    """Parse a spec and, for named sets and files, resolve its path (which must exist)."""
    if isinstance(spec, Path):
        spec = str(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"data spec must be a non-empty string, got {spec!r}")
    if spec.startswith("hf:"):
        parts = spec[3:].split(":")
        if not parts[0] or len(parts) > 3 or any(not p for p in parts):
            raise ValueError(f"bad hub spec {spec!r}: expected hf:<dataset id>[:<config>][:<split>]")
        config = parts[1] if len(parts) == 3 else None
        split = parts[-1] if len(parts) >= 2 else None
        return Spec(kind="hf", text=spec, name=parts[0], split=split, config=config)
    as_path = Path(spec).expanduser()
    if spec.endswith(".jsonl") or as_path.is_file():
        if not as_path.is_file():
            raise FileNotFoundError(f"{as_path}: no such data file")
        return Spec(kind="file", text=spec, path=as_path)
    name, sep, split = spec.partition(":")
    if name not in NAMED_SETS:
        raise ValueError(
            f"unknown data set {name!r} in spec {spec!r}; bundled sets: {_valid_specs()} "
            "(or a path to a .jsonl file, or hf:<dataset id>[:<split>])"
        )
    if not sep or split not in NAMED_SETS[name]:
        got = f"split {split!r}" if sep else "no split"
        raise ValueError(f"{got} for data set {name!r}; valid splits: {', '.join(NAMED_SETS[name])} (e.g. {name}:{next(iter(NAMED_SETS[name]))})")
    path = data_root(root) / name / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the file for {spec!r} is missing from the data folder")
    return Spec(kind="named", text=spec, name=name, split=split, path=path)


def resolve_path(spec: str | Path, *, root: str | Path | None = None) -> Path:
    """The local JSONL file behind a named set or a file spec (hub specs have none: ValueError)."""
    parsed = parse_spec(spec, root=root)
    if parsed.path is None:
        raise ValueError(f"{spec!r} is a hub dataset: it has no local data file")
    return parsed.path
