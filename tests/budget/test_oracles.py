"""GoldOracle and the human file queue (FileQueueOracle, append_answer, pending_requests)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from stackray.budget import (
    ANSWERS_FILE,
    REQUESTS_FILE,
    AlreadyAnsweredError,
    FileLockedError,
    FileQueueOracle,
    GoldOracle,
    LabelTimeoutError,
    Oracle,
    TornLineWarning,
    append_answer,
    pending_requests,
    read_requests,
)
from stackray.data import DataError, MCItem

ITEMS = [
    MCItem("a", "Capital of France?", ("Rome", "Paris", "Oslo"), answer=1),
    MCItem("b", "2 + 2?", ("3", "4"), answer=1),
    MCItem("c", "Largest planet?", ("Mars", "Venus", "Jupiter", "Earth"), answer=2),
]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def esc(path: Path) -> str:
    return re.escape(str(path))


# ---- GoldOracle ----------------------------------------------------------------------------------


def test_gold_oracle_answers_and_counts_calls() -> None:
    gold = GoldOracle.from_items(ITEMS)
    assert isinstance(gold, Oracle)
    assert [gold(2), gold(0), gold(2)] == [2, 1, 2]
    assert gold.calls == 3
    with pytest.raises(ValueError, match=r"round 3 is not in \[0, 3\)"):
        gold(3)
    assert gold.calls == 3


def test_gold_oracle_rejects_missing_or_bad_gold() -> None:
    with pytest.raises(ValueError, match="item 'u' .* has no gold"):
        GoldOracle.from_items([ITEMS[0], MCItem("u", "?", ("x", "y"))])
    with pytest.raises(ValueError, match=r"answers\[1\] = -1"):
        GoldOracle([0, -1])
    with pytest.raises(ValueError, match=r"answers\[0\] = 'A'"):
        GoldOracle(["A"])


# ---- FileQueueOracle -----------------------------------------------------------------------------


def answer_later(run_dir: Path, round: int, answer: int, delay: float = 0.05) -> threading.Thread:
    def work() -> None:
        time.sleep(delay)
        append_answer(run_dir, round, answer)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_request_is_queued_once_and_the_answer_returned(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS, timeout=10, poll=0.005) as oracle:
        assert isinstance(oracle, Oracle)
        thread = answer_later(tmp_path, 2, 3)
        assert oracle(2) == 3
        thread.join()
        assert lines(tmp_path / REQUESTS_FILE) == [
            {"round": 2, "item": "c", "question": "Largest planet?", "options": ["Mars", "Venus", "Jupiter", "Earth"]}
        ]
        assert oracle(2) == 3  # asked again: no second request line
        assert len(lines(tmp_path / REQUESTS_FILE)) == 1
        oracle.request(0)
        oracle.request(0)
        assert [r.round for r in oracle.pending()] == [0]
        assert [r.round for r in pending_requests(tmp_path)] == [0]
        assert oracle.answer_of(0) is None
    answers = lines(tmp_path / ANSWERS_FILE)
    assert [(a["round"], a["answer"], a["item"]) for a in answers] == [(2, 3, "c")]


def test_no_answer_within_the_timeout_raises(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS, timeout=0.05, poll=0.01) as oracle:
        start = time.monotonic()
        with pytest.raises(LabelTimeoutError, match=r"no answer to round 1 \(item 'b'\) within 0.05 s") as info:
            oracle(1)
        assert time.monotonic() - start >= 0.05
        assert isinstance(info.value, TimeoutError) and ANSWERS_FILE in str(info.value)
        assert [r.round for r in oracle.pending()] == [1]


def test_restart_keeps_the_pending_request_and_finds_an_answer_given_while_down(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS, timeout=0.02, poll=0.005) as oracle:
        with pytest.raises(LabelTimeoutError):
            oracle(0)
    assert [r.round for r in pending_requests(tmp_path)] == [0]
    append_answer(tmp_path, 0, 1)  # the annotator answers while the run is down
    assert pending_requests(tmp_path) == []
    with FileQueueOracle(tmp_path, ITEMS, timeout=0.02, poll=0.005) as oracle:
        assert oracle.pending() == []
        assert oracle(0) == 1
    assert [r["round"] for r in lines(tmp_path / REQUESTS_FILE)] == [0]


def test_one_queue_owner_and_the_same_data_order(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS) as oracle:
        with pytest.raises(FileLockedError):
            FileQueueOracle(tmp_path, ITEMS)
        oracle.request(1)
    swapped = [ITEMS[0], ITEMS[2], ITEMS[1]]
    with pytest.raises(ValueError, match=rf"{esc(tmp_path / REQUESTS_FILE)}:1: field 'item': round 1 was asked for item 'b'.*item 'c'"):
        FileQueueOracle(tmp_path, swapped)
    with pytest.raises(ValueError, match=r"round 1 is not in \[0, 1\)"):
        FileQueueOracle(tmp_path, ITEMS[:1])


def test_torn_request_line_is_cut_and_the_round_asked_again_once(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS) as oracle:
        oracle.request(0)
    with open(tmp_path / REQUESTS_FILE, "a") as f:
        f.write('{"round": 1, "item": "b", "ques')
    assert [r.round for r in read_requests(tmp_path)] == [0]  # readers skip a tail being written
    with pytest.warns(TornLineWarning, match=rf"{esc(tmp_path / REQUESTS_FILE)}:2: torn last line"):
        oracle = FileQueueOracle(tmp_path, ITEMS)
    with oracle:
        oracle.request(1)
        oracle.request(1)
    assert [r["round"] for r in lines(tmp_path / REQUESTS_FILE)] == [0, 1]


@pytest.mark.parametrize(
    ("answer_line", "field", "problem"),
    [
        ({"round": 0, "answer": 3}, "answer", r"3 is out of range \(>= 0, < 3\)"),
        ({"round": 0, "answer": "B"}, "answer", "must be an integer"),
        ({"round": 0}, "answer", "missing"),
        ({"answer": 1}, "round", "missing"),
        ({"round": 7, "answer": 0}, "round", r"round 7 is not in \[0, 3\)"),
        ({"round": 0, "answer": 1, "item": "b"}, "item", "'b', but round 0 is item 'a'"),
        ({"round": 1, "answer": 0}, "answer", "0 contradicts the answer 1 to round 1 on line 1"),
        ("round 0 answer B", None, "invalid JSON"),
        ("[0, 1]", None, "not a JSON object"),
    ],
)
def test_bad_answer_lines_raise_naming_file_line_and_field(tmp_path: Path, answer_line, field, problem) -> None:
    text = answer_line if isinstance(answer_line, str) else json.dumps(answer_line)
    (tmp_path / ANSWERS_FILE).write_text('{"round": 1, "answer": 1}\n' + text + "\n")
    with FileQueueOracle(tmp_path, ITEMS, timeout=1, poll=0.005) as oracle:
        with pytest.raises(DataError, match=problem) as info:
            oracle(0)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.path, err.line, err.field) == (str(tmp_path / ANSWERS_FILE), 2, field)
    assert str(err).startswith(f"{tmp_path / ANSWERS_FILE}:2: ")


def test_an_answer_line_still_being_written_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / ANSWERS_FILE
    path.write_text('{"round": 1, "answer": 1}\n{"round": 0, "ans')
    with FileQueueOracle(tmp_path, ITEMS, timeout=5, poll=0.005) as oracle:
        assert oracle.answer_of(0) is None and oracle.answer_of(1) == 1

        def finish() -> None:
            time.sleep(0.05)
            with open(path, "a") as f:
                f.write('wer": 2}\n')

        threading.Thread(target=finish, daemon=True).start()
        assert oracle(0) == 2


def test_append_answer_checks_the_request_and_never_overwrites(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS) as oracle:
        oracle.request(1)
        with pytest.raises(ValueError, match="round 0 was never requested"):
            append_answer(tmp_path, 0, 1)
        with pytest.raises(ValueError, match=r"item 'b'.*field 'answer': 2 is out of range"):
            append_answer(tmp_path, 1, 2)
        append_answer(tmp_path, 1, 0)
        with pytest.raises(AlreadyAnsweredError, match=rf"{esc(tmp_path / ANSWERS_FILE)}:1: field 'round': round 1 is already answered"):
            append_answer(tmp_path, 1, 1)
        assert oracle.answer_of(1) == 0
    assert [(a["round"], a["answer"]) for a in lines(tmp_path / ANSWERS_FILE)] == [(1, 0)]


def test_append_answer_repairs_a_crashed_annotators_torn_line(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS) as oracle:
        oracle.request(0)
        oracle.request(2)
        (tmp_path / ANSWERS_FILE).write_text('{"round": 0, "answer": 1}\n{"round": 2, "an')
        with pytest.warns(TornLineWarning, match=rf"{esc(tmp_path / ANSWERS_FILE)}:2: torn last line"):
            append_answer(tmp_path, 2, 3)
        assert [(a["round"], a["answer"]) for a in lines(tmp_path / ANSWERS_FILE)] == [(0, 1), (2, 3)]
        assert oracle.answer_of(2) == 3 and oracle.pending() == []


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timeout"):
        FileQueueOracle(tmp_path, ITEMS, timeout=0)
    with pytest.raises(ValueError, match="poll"):
        FileQueueOracle(tmp_path, ITEMS, poll=float("nan"))
    with pytest.raises(ValueError, match=r"items\[0\] is a dict"):
        FileQueueOracle(tmp_path, [{"id": "a"}])
    with pytest.raises(FileNotFoundError):
        pending_requests(tmp_path / "missing")
