"""Hugging Face hub multiple-choice sets, mapped onto the stackray schema.

Only useful where the hub is reachable (never at run time on the project's offline machines);
``hf:`` also accepts a local folder or a saved dataset that ``datasets.load_dataset`` can read.
The mapping covers the common layouts and says clearly when a row fits none of them:

- question: ``question`` | ``question_stem`` (OpenBookQA) | ``goal`` (PIQA) | ``ctx`` (HellaSwag)
- options: ``options`` or ``choices`` as a list, a ``{"text": [...], "label": [...]}`` dict (ARC,
  OpenBookQA) or a letter-keyed dict (MedQA); ``endings`` (HellaSwag); ``sol1``/``sol2`` (PIQA)
- answer: an int index, or a label/letter resolved against the option labels, from ``answer`` |
  ``answerKey`` | ``answer_idx`` | ``label``; missing or ``-1`` (hidden test labels) means None.

The mapped record then goes through the same validator as a JSONL line
(`stackray.data.jsonl.record_to_item`), so the checks are the same. trust_remote_code stays off.
"""

from __future__ import annotations

from typing import Any

from stackray.data.items import MCItem
from stackray.data.jsonl import DataError, record_to_item
from stackray.data.registry import Spec

LETTERS = "ABCDEFGHIJ"
_QUESTION_KEYS = ("question", "question_stem", "goal", "ctx")
_ANSWER_KEYS = ("answer", "answerKey", "answer_idx", "label")


def _options_and_labels(row: dict[str, Any], where: tuple[str, int]) -> tuple[list[Any], list[str]]:
    for key in ("options", "choices", "endings"):
        if key not in row:
            continue
        value = row[key]
        if isinstance(value, list):
            return value, list(LETTERS[: len(value)])
        if isinstance(value, dict) and "text" in value:
            labels = value.get("label") or list(LETTERS[: len(value["text"])])
            return list(value["text"]), [str(x) for x in labels]
        if isinstance(value, dict):
            labels = sorted(value)
            return [value[k] for k in labels], labels
        raise DataError(where[0], where[1], key, f"cannot read options from a {type(value).__name__}")
    if "sol1" in row and "sol2" in row:
        return [row["sol1"], row["sol2"]], ["0", "1"]
    raise DataError(where[0], where[1], "options", f"no options field found among {sorted(row)} (tried options, choices, endings, sol1/sol2)")


def _answer_index(row: dict[str, Any], labels: list[str], where: tuple[str, int]) -> int | None:
    for key in _ANSWER_KEYS:
        if key not in row:
            continue
        value = row[key]
        if value is None or value == -1 or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value in labels:
                return labels.index(value)
            if value.strip().lstrip("-").isdigit():
                return int(value)
        raise DataError(where[0], where[1], key, f"cannot map answer {value!r} onto option labels {labels}")
    return None


def map_row(row: dict[str, Any], *, source: str, index: int, default_subject: str) -> MCItem:
    """Map one hub row (``index`` 0-based) to an `MCItem`; DataError names source, row and field."""
    where = (source, index + 1)
    question = next((row[k] for k in _QUESTION_KEYS if k in row), None)
    if question is None:
        raise DataError(where[0], where[1], "question", f"no question field found among {sorted(row)} (tried {', '.join(_QUESTION_KEYS)})")
    options, labels = _options_and_labels(row, where)
    record = {
        "id": str(row["id"]) if row.get("id") not in (None, "") else f"{source}/{index}",
        "subject": str(row.get("subject") or default_subject),
        "question": question,
        "options": options,
        "answer": _answer_index(row, labels, where),
    }
    return record_to_item(record, path=source, line=index + 1)


def load_hub_items(spec: Spec) -> list[MCItem]:
    """Load a hub dataset (``hf:`` spec) and map every row; a dataset with several splits needs one named."""
    from datasets import DatasetDict, load_dataset  # heavy import, only for hub specs

    ds = load_dataset(spec.name, spec.config, split=spec.split)
    split = spec.split
    if isinstance(ds, DatasetDict):
        if len(ds) != 1:
            raise ValueError(f"{spec.text!r}: dataset has splits {sorted(ds)}; name one, e.g. hf:{spec.name}:{sorted(ds)[0]}")
        split, ds = next(iter(ds.items()))
    source = f"hf:{spec.name}" + (f":{spec.config}" if spec.config else "") + f":{split}"
    default_subject = spec.name.rsplit("/", 1)[-1]
    items = [map_row(row, source=source, index=i, default_subject=default_subject) for i, row in enumerate(ds)]
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id in first:
            raise DataError(source, i + 1, "id", f"duplicate id {item.id!r} (first seen on row {first[item.id] + 1})")
        first[item.id] = i
    return items
