"""`load_items`: one entry point from a data spec to a list of validated `MCItem`s.

Selection is done here, once, so every consumer (scorer, game, evaluation) sees the same rows:

- ``subjects`` keeps items whose ``subject`` is listed (applied first);
- ``limit`` keeps a seeded subsample of that many items. The choice ranks items by
  sha256(seed, id) and keeps the smallest ranks. Why a hash and not an RNG draw: the result does
  not depend on numpy's sampling algorithm or on the file's row order, and for a fixed seed a
  smaller limit is a subset of a larger one (limit=100 is inside limit=200), so features cached
  for a large sample serve every smaller one.
- The chosen items keep their file order, unless ``shuffle=True``, which orders them by the same
  seeded rank (a seeded permutation). File order is not i.i.d. for every set: MMLU is sorted by
  subject, MedQA by step, so a stream for the online game should be shuffled (here or by the game).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackray.data.items import MCItem
from stackray.data.jsonl import read_jsonl
from stackray.io import file_sha256
from stackray.data.registry import NAMED_SETS, parse_spec

_MAX_LISTED = 12


def load_items(
    spec: str | Path,
    *,
    subjects: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    shuffle: bool = False,
    root: str | Path | None = None,
) -> list[MCItem]:
    """Load the items of ``spec`` (``name:split``, a .jsonl path, or ``hf:<id>[:<config>][:<split>]``).

    Bad rows raise `stackray.data.jsonl.DataError` naming file, line and field; an unknown set,
    split or subject raises ValueError listing valid ones; a missing file raises FileNotFoundError.
    ``limit`` larger than the (filtered) set returns all of it. See the module docstring for how
    the subsample and its order are chosen.
    """
    parsed = parse_spec(spec, root=root)
    if parsed.kind == "hf":
        from stackray.data.hub import load_hub_items

        items = load_hub_items(parsed)
    else:
        assert parsed.path is not None
        items = read_jsonl(parsed.path)
    return select_items(items, subjects=subjects, limit=limit, seed=seed, shuffle=shuffle)


def _rank(seed: int, item_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{item_id}".encode()).digest()


def select_items(
    items: Sequence[MCItem],
    *,
    subjects: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    shuffle: bool = False,
) -> list[MCItem]:
    """Filter by subject, then take a seeded subsample (the rules are in the module docstring)."""
    chosen = list(items)
    if subjects is not None:
        wanted = [subjects] if isinstance(subjects, str) else list(subjects)
        if not wanted:
            raise ValueError("subjects is empty: pass None for all subjects, or name at least one")
        valid = sorted({it.subject for it in chosen})
        unknown = [s for s in wanted if s not in set(valid)]
        if unknown:
            shown = ", ".join(valid[:_MAX_LISTED]) + (", ..." if len(valid) > _MAX_LISTED else "")
            raise ValueError(f"unknown subject(s) {unknown}; valid subjects ({len(valid)} in all): {shown}")
        keep = set(wanted)
        chosen = [it for it in chosen if it.subject in keep]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int or None, got {limit!r}")
        if limit < len(chosen):
            ranks = sorted(range(len(chosen)), key=lambda i: _rank(seed, chosen[i].id))
            chosen = [chosen[i] for i in sorted(ranks[:limit])]
    if shuffle:
        chosen.sort(key=lambda it: _rank(seed, it.id))
    return chosen


def data_file_hash(spec_or_path: str | Path, *, root: str | Path | None = None) -> str:
    """sha256 (hex) of the data behind a spec, for feature-cache keys.

    For a named set or a file it is the hash of the file's bytes (the bundled ones are listed in
    data/README.md). A hub set has no local file: its hash is `items_hash` of its loaded items.
    """
    parsed = parse_spec(spec_or_path, root=root)
    if parsed.path is None:
        return items_hash(load_items(spec_or_path, root=root))
    return file_sha256(parsed.path)


def items_hash(items: Sequence[MCItem]) -> str:
    """sha256 (hex) of a list of items' content (id, subject, question, options, answer) in order.

    Use it to key anything computed from a selection (subjects/limit) rather than a whole file.
    """
    digest = hashlib.sha256()
    for it in items:
        row = [it.id, it.subject, it.question, list(it.options), it.answer]
        digest.update(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def describe(spec: str | Path, *, root: str | Path | None = None) -> dict[str, Any]:
    """A JSON-ready summary of a data source: where it is, its hash, sizes, option counts."""
    parsed = parse_spec(spec, root=root)
    items = load_items(spec, root=root)
    summary: dict[str, Any] = {
        "spec": str(spec),
        "kind": parsed.kind,
        "path": str(parsed.path) if parsed.path else None,
        "sha256": data_file_hash(spec, root=root) if parsed.path else items_hash(items),
        "items": len(items),
        "with_answer": sum(it.answer is not None for it in items),
        "subjects": len({it.subject for it in items}),
        "options": dict(sorted(Counter(it.num_options for it in items).items())),
    }
    if parsed.kind == "named" and parsed.split is not None:
        summary["documented_items"] = NAMED_SETS[parsed.name][parsed.split]
    return summary


def as_hf_dataset(items: Sequence[MCItem]):  # -> datasets.Dataset (lazy import keeps this module light)
    """The items as a `datasets.Dataset` with explicit features, for Ray Data or the trainer.

    Built from already validated items, so Arrow's type inference never has to guess.
    """
    from datasets import Dataset, Features, Sequence as HFSequence, Value

    features = Features(
        {
            "id": Value("string"),
            "subject": Value("string"),
            "question": Value("string"),
            "options": HFSequence(Value("string")),
            "answer": Value("int64"),
        }
    )
    rows = {
        "id": [it.id for it in items],
        "subject": [it.subject for it in items],
        "question": [it.question for it in items],
        "options": [list(it.options) for it in items],
        "answer": [it.answer for it in items],
    }
    return Dataset.from_dict(rows, features=features)
