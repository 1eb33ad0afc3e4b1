"""Mapping of hub-style rows onto the schema, and `hf:` on a local folder (no network needed)."""

from __future__ import annotations

import json

import pytest

from stackray.data import DataError, load_items
from stackray.data.hub import map_row
from stackray.errors import NoNetworkError


@pytest.mark.parametrize(
    "row, options, answer",
    [
        # MMLU (cais/mmlu): list + int
        ({"question": "q", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 2}, ("a", "b", "c", "d"), 2),
        # ARC with numeric labels: answerKey "2" is the second label
        ({"id": "X", "question": "q", "choices": {"text": ["a", "b", "c"], "label": ["1", "2", "3"]}, "answerKey": "2"}, ("a", "b", "c"), 1),
        # OpenBookQA: question_stem
        ({"id": "7-1", "question_stem": "q", "choices": {"text": ["a", "b", "c", "d"], "label": list("ABCD")}, "answerKey": "D"}, ("a", "b", "c", "d"), 3),
        # MedQA: letter-keyed options, answer_idx
        ({"question": "q", "options": {"B": "b", "A": "a"}, "answer_idx": "B"}, ("a", "b"), 1),
        # PIQA: goal, sol1/sol2, label; a hidden test label (-1) means no gold
        ({"goal": "g", "sol1": "x", "sol2": "y", "label": 1}, ("x", "y"), 1),
        ({"goal": "g", "sol1": "x", "sol2": "y", "label": -1}, ("x", "y"), None),
    ],
    ids=["mmlu", "arc", "openbookqa", "medqa", "piqa", "hidden"],
)
def test_known_layouts_map(row, options, answer):
    item = map_row(row, source="hf:demo:test", index=4, default_subject="demo")
    assert item.options == options and item.answer == answer
    assert item.id == row.get("id", "hf:demo:test/4")
    assert item.subject == row.get("subject", "demo")


@pytest.mark.parametrize(
    "row, field, words",
    [
        ({"text": "q", "choices": ["a", "b"]}, "question", "no question field"),
        ({"question": "q", "candidates": ["a", "b"]}, "options", "no options field"),
        ({"question": "q", "choices": ["a", "b"], "answerKey": "Z"}, "answerKey", "cannot map answer"),
        ({"question": "q", "choices": ["a", "b"], "answer": 5}, "answer", "out of range"),
        ({"question": "q", "choices": ["a"], "answer": 0}, "options", "at least 2"),
    ],
)
def test_unmappable_rows_name_row_and_field(row, field, words):
    with pytest.raises(DataError) as info:
        map_row(row, source="hf:demo:test", index=4, default_subject="demo")
    assert (info.value.path, info.value.line, info.value.field) == ("hf:demo:test", 5, field)
    assert words in str(info.value)


def test_hf_spec_reads_a_local_folder(tmp_path):
    folder = tmp_path / "arcish"
    folder.mkdir()
    rows = [
        {"id": "Q1", "question": "Which?", "choices": {"text": ["a", "b", "c"], "label": ["1", "2", "3"]}, "answerKey": "2"},
        {"id": "Q2", "question": "Other?", "choices": {"text": list("vwxyz"), "label": list("ABCDE")}, "answerKey": "E"},
    ]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    items = load_items(f"hf:{folder}")
    assert [(it.id, it.num_options, it.answer, it.subject) for it in items] == [("Q1", 3, 1, "arcish"), ("Q2", 5, 4, "arcish")]
    assert load_items(f"hf:{folder}:test") == items


def test_hf_spec_without_network_says_so_at_once(monkeypatch):
    # Port 9 on localhost refuses connections: a hub endpoint that cannot be reached.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(NoNetworkError) as info:
        load_items("hf:allenai/openbookqa:main:test")
    message = str(info.value)
    assert "'hf:allenai/openbookqa:main:test'" in message and "no network" in message
    assert "bundled set" in message and "openbookqa:train" in message and ".jsonl" in message
    assert isinstance(info.value, ConnectionError)  # what callers of the hub client already catch
