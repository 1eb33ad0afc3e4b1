"""LabelLedger and LedgerDoor: durable, exactly-once labels, and loud errors on anything doubtful."""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from pathlib import Path

import pytest

from stackray.budget import (
    BudgetExceededError,
    FileLockedError,
    GoldOracle,
    LabelLedger,
    LedgerDoor,
    TornLineWarning,
    read_ledger,
)

# Lines written here by hand carry no hash, like a ledger from before hash chaining; that path and its
# notice are tested in test_integrity.py.
pytestmark = pytest.mark.filterwarnings("ignore::stackray.budget.LegacyLedgerWarning")


def line(round: int, item: str = "x", answer: int = 0, cost: float = 1.0) -> str:
    return json.dumps({"round": round, "item": item, "answer": answer, "cost": cost, "time": 1.0}) + "\n"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "ledger.jsonl"


def test_record_then_reopen_round_trips(path: Path) -> None:
    before = time.time()
    with LabelLedger(path) as ledger:
        ledger.record(4, "q4", 2)
        ledger.record(0, "q0", 1, cost=2.5)
        assert len(ledger) == 2 and ledger.spent == 3.5
    with LabelLedger(path) as ledger:
        assert [(e.round, e.item, e.answer, e.cost) for e in ledger.entries()] == [(4, "q4", 2, 1.0), (0, "q0", 1, 2.5)]
        assert ledger.get(4) == 2 and ledger.get(0) == 1 and ledger.get(1) is None
        assert 4 in ledger and 1 not in ledger and len(ledger) == 2
        assert ledger.spent == 3.5
        assert all(before <= e.time <= time.time() for e in ledger.entries())
        ledger.record(1, "q1", 0)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert set(json.loads(lines[0])) == {"round", "item", "answer", "cost", "time", "h"}


def test_recording_a_round_twice_raises_even_after_reopen(path: Path) -> None:
    with LabelLedger(path) as ledger:
        ledger.record(3, "q3", 1)
        with pytest.raises(ValueError, match="round 3 is already paid for"):
            ledger.record(3, "q3", 1)
    with LabelLedger(path) as ledger:
        with pytest.raises(ValueError, match=r"line 1"):
            ledger.record(3, "q3", 0)
        assert len(ledger) == 1
    assert path.read_text().count("\n") == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"round": -1}, "round"),
        ({"round": True}, "round"),
        ({"answer": -2}, "answer"),
        ({"answer": 1.0}, "answer"),
        ({"item": 7}, "item"),
        ({"cost": 0.0}, "cost"),
        ({"cost": math.nan}, "cost"),
    ],
)
def test_record_rejects_bad_values_naming_the_field(path: Path, kwargs: dict, field: str) -> None:
    args = {"round": 0, "item": "q0", "answer": 1, "cost": 1.0} | kwargs
    with LabelLedger(path) as ledger:
        with pytest.raises(ValueError, match=f"'{field}'"):
            ledger.record(**args)
        assert len(ledger) == 0
    assert path.read_bytes() == b""


@pytest.mark.parametrize("torn", ['{"round": 2, "item": "q', "\x00\x00\x00"])
def test_torn_last_line_is_cut_with_a_warning_and_earlier_lines_kept(path: Path, torn: str) -> None:
    path.parent.mkdir()
    good = line(0, "q0", 1) + line(1, "q1", 3)
    path.write_text(good + torn)
    with pytest.warns(TornLineWarning, match=rf"{re.escape(str(path))}:3: torn last line"):
        ledger = LabelLedger(path)
    with ledger:
        assert [e.round for e in ledger.entries()] == [0, 1]
        assert path.read_text() == good
        ledger.record(2, "q2", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean now: no second warning
        assert [e.round for e in read_ledger(path)] == [0, 1, 2]


def test_a_garbage_last_line_that_ends_in_a_newline_is_corruption_not_a_torn_write(path: Path) -> None:
    path.parent.mkdir()
    data = line(0) + '{"round": 2, "it\n'  # a crash leaves no newline after a partial line
    path.write_text(data)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2: invalid JSON"):
        LabelLedger(path)
    assert path.read_text() == data


def test_complete_last_line_missing_its_newline_is_kept(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(line(0) + line(1).rstrip("\n"))
    with LabelLedger(path) as ledger:
        assert len(ledger) == 2
        ledger.record(2, "x", 1)
    assert [e.round for e in read_ledger(path)] == [0, 1, 2]


def test_corrupt_middle_line_raises_naming_file_and_line_and_leaves_the_file_alone(path: Path) -> None:
    path.parent.mkdir()
    data = line(0) + '{"round": 1, "ite\n' + line(2)
    path.write_text(data)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2: invalid JSON.*only a file's last line"):
        LabelLedger(path)
    assert path.read_text() == data
    LabelLedger(path.parent / "other.jsonl").close()  # the failed open released its lock
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2"):
        read_ledger(path)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"round": 1, "item": "x", "answer": "B", "cost": 1.0, "time": 1.0}, "answer"),
        ({"round": 1, "item": "x", "cost": 1.0, "time": 1.0}, "answer"),
        ({"round": 1, "item": "x", "answer": 0, "cost": -1, "time": 1.0}, "cost"),
        ({"round": "1", "item": "x", "answer": 0, "cost": 1.0, "time": 1.0}, "round"),
        ({"round": 1, "item": "x", "answer": 0, "cost": 1.0}, "time"),
    ],
)
def test_bad_field_raises_naming_line_and_field(path: Path, bad: dict, field: str) -> None:
    path.parent.mkdir()
    path.write_text(line(0) + json.dumps(bad) + "\n")  # valid JSON, so not torn: an error even as last line
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2: .*'{field}'"):
        LabelLedger(path)


def test_duplicate_round_in_file_raises_naming_both_lines(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(line(5) + line(6) + line(5, answer=1))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:3: field 'round': round 5 is already recorded on line 1"):
        LabelLedger(path)


def test_one_owner_at_a_time(path: Path) -> None:
    first = LabelLedger(path)
    with pytest.raises(FileLockedError, match="another live process"):
        LabelLedger(path)
    first.record(0, "x", 0)
    assert [e.round for e in read_ledger(path)] == [0]  # readers need no lock
    first.close()
    with LabelLedger(path) as again:
        assert len(again) == 1


def test_read_ledger_reports_but_does_not_cut_a_torn_line(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(line(0) + '{"rou')
    with pytest.warns(TornLineWarning, match="ignored"):
        assert [e.round for e in read_ledger(path)] == [0]
    assert path.read_text().endswith('{"rou')


# ---- LedgerDoor -------------------------------------------------------------------------------

IDS = [f"q{t}" for t in range(10)]
GOLD = [t % 4 for t in range(10)]


def test_door_pays_once_and_a_replay_from_scratch_pays_nothing(path: Path) -> None:
    gold = GoldOracle(GOLD)
    with LabelLedger(path) as ledger:
        door = LedgerDoor(ledger, gold, IDS)
        assert [door(t) for t in (1, 5, 7)] == [1, 1, 3]
        assert door(5) == 1  # asked again in the same process: served from the ledger
        assert gold.calls == 3 and door.asked == 3 and door.replayed == 1
    replay = GoldOracle(GOLD)
    with LabelLedger(path) as ledger:
        door = LedgerDoor(ledger, replay, IDS)
        assert [door(t) for t in (1, 5, 7, 9)] == [1, 1, 3, 1]
        assert replay.calls == 1 and door.replayed == 3  # only round 9 is new
    assert [(e.round, e.item, e.answer) for e in read_ledger(path)] == [(1, "q1", 1), (5, "q5", 1), (7, "q7", 3), (9, "q9", 1)]


def test_door_refuses_a_ledger_from_another_data_order(path: Path) -> None:
    with LabelLedger(path) as ledger:
        LedgerDoor(ledger, GoldOracle(GOLD), IDS)(2)
    with LabelLedger(path) as ledger:
        with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:1: field 'item': round 2 was paid for item 'q2'.*item 'z2'"):
            LedgerDoor(ledger, GoldOracle(GOLD), [f"z{t}" for t in range(10)])
        with pytest.raises(ValueError, match="beyond this run's 2 rounds"):
            LedgerDoor(ledger, GoldOracle(GOLD), IDS[:2])


def test_door_budget_is_a_hard_cap_in_cost_units(path: Path) -> None:
    gold = GoldOracle(GOLD)
    costs = [1.0, 2.0, 0.5] + [1.0] * 7
    with LabelLedger(path) as ledger:
        door = LedgerDoor(ledger, gold, IDS, costs=costs, budget=3.0)
        door(1)
        door(0)
        with pytest.raises(BudgetExceededError, match="round 2 costs 0.5 but only 0 of the budget 3 is left"):
            door(2)
        assert gold.calls == 2 and ledger.spent == 3.0 and len(ledger) == 2
        assert door(1) == 1  # already paid rounds are still served
        assert [e.cost for e in ledger.entries()] == [2.0, 1.0]
    with LabelLedger(path) as ledger:
        with pytest.raises(ValueError, match="already spent 3, more than the budget 2"):
            LedgerDoor(ledger, gold, IDS, costs=costs, budget=2.0)


def test_door_rejects_bad_rounds_bad_answers_and_bad_arguments(path: Path) -> None:
    with LabelLedger(path) as ledger:
        door = LedgerDoor(ledger, lambda t: "B", IDS)
        with pytest.raises(ValueError, match="answered round 3 with 'B'"):
            door(3)
        with pytest.raises(ValueError, match=r"round 10 is not in \[0, 10\)"):
            door(10)
        assert len(ledger) == 0
        with pytest.raises(ValueError, match="costs has 3 entries for 10 rounds"):
            LedgerDoor(ledger, GoldOracle(GOLD), IDS, costs=[1.0] * 3)
        with pytest.raises(ValueError, match=r"costs\[1\]"):
            LedgerDoor(ledger, GoldOracle(GOLD), IDS, costs=[1.0, 0.0] + [1.0] * 8)
        with pytest.raises(ValueError, match="callable"):
            LedgerDoor(ledger, None, IDS)
    assert path.read_bytes() == b""
