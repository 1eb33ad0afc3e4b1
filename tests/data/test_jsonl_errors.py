"""Every kind of bad row raises DataError naming the file, the 1-based line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackray.data import DataError, MCItem, load_items, read_jsonl

GOOD = {"id": "q0", "subject": "s", "question": "What?", "options": ["a", "b", "c"], "answer": 2}


def write(tmp_path: Path, lines: list[str], name: str = "set.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def good(i: int, **changes) -> str:
    return json.dumps({**GOOD, "id": f"q{i}", **changes})


def bad_record(**changes) -> str:
    record = {**GOOD, "id": "bad", **changes}
    return json.dumps({k: v for k, v in record.items() if v is not _DROP})


_DROP = object()

CASES = [
    # (id, bad line, field named in the error, words in the message)
    ("missing options", bad_record(options=_DROP), "options", "missing"),
    ("missing answer", bad_record(answer=_DROP), "answer", "missing"),
    ("missing id", bad_record(id=_DROP), "id", "missing"),
    ("answer out of range", bad_record(answer=3), "answer", "out of range"),
    ("negative answer", bad_record(answer=-1), "answer", "out of range"),
    ("one option", bad_record(options=["only"], answer=0), "options", "at least 2"),
    ("non-string option", bad_record(options=["a", 7, "c"]), "options[1]", "must be a string"),
    ("empty option", bad_record(options=["a", "", "c"]), "options[1]", "empty"),
    ("options not a list", bad_record(options="a,b"), "options", "list"),
    ("answer is a string", bad_record(answer="2"), "answer", "integer"),
    ("answer is a float", bad_record(answer=1.0), "answer", "integer"),
    ("answer is a bool", bad_record(answer=True), "answer", "integer"),
    ("question not a string", bad_record(question=["What?"]), "question", "must be a string"),
    ("subject not a string", bad_record(subject=3), "subject", "must be a string"),
    ("duplicate id", good(1), "id", "duplicate"),
]


@pytest.mark.parametrize("bad_line, field, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_row_names_file_line_and_field(tmp_path, bad_line, field, words):
    # Bad row on line 4: lines 1-3 are good (one of them blank, which still counts).
    path = write(tmp_path, [good(0), good(1), "", bad_line, good(5)])
    with pytest.raises(DataError) as info:
        load_items(str(path))
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), 4, field)
    message = str(err)
    assert f"{path}:4" in message and f"'{field}'" in message and words in message
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    "bad_line, words",
    [('{"id": "q9", "question": "unterminated', "invalid JSON"), ("[1, 2]", "JSON object"), ("not json", "invalid JSON")],
    ids=["truncated", "array", "text"],
)
def test_broken_line_names_file_and_line(tmp_path, bad_line, words):
    path = write(tmp_path, [good(0), bad_line])
    with pytest.raises(DataError) as info:
        read_jsonl(path)
    assert (info.value.line, info.value.field) == (2, None)
    assert f"{path}:2" in str(info.value) and words in str(info.value)


def test_bad_utf8_names_the_line(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_bytes(good(0).encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"set\.jsonl:2: not valid UTF-8"):
        read_jsonl(path)


def test_empty_file_is_an_error(tmp_path):
    path = write(tmp_path, ["", "  "])
    with pytest.raises(DataError, match="no records"):
        read_jsonl(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_items(str(tmp_path / "nope.jsonl"))


def test_good_file_round_trip(tmp_path):
    # Null answer (an unlabelled pool item), no subject, extra keys kept in meta, strings untouched.
    lines = [
        good(0),
        json.dumps({"id": "p1", "question": "Pool?", "options": ["x ", "y\nz"], "answer": None, "source": "ticket-7"}),
    ]
    items = load_items(str(write(tmp_path, lines)))
    assert items[0] == MCItem(id="q0", question="What?", options=("a", "b", "c"), answer=2, subject="s")
    assert items[1].answer is None and items[1].subject == "" and items[1].options == ("x ", "y\nz")
    assert items[1].meta == {"source": "ticket-7"}
