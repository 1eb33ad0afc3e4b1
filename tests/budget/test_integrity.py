"""Ledger integrity: the hash chain catches an edit, a deletion, a reordering or a garbage line; the
checkpoint's paid record catches a cut and a deleted ledger; every refusal leaves the file untouched;
only a torn last line the checkpoint does not count is cut; legacy ledgers open with a notice."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from stackray.budget import LabelLedger, LedgerIntegrityError, LegacyLedgerWarning, Paid, TornLineWarning, read_ledger


def write_ledger(path: Path, n: int = 5) -> list[bytes]:
    """A hash-chained ledger of rounds 0, 2, 4, ... (one label each); its lines with their newlines."""
    with LabelLedger(path) as ledger:
        for k in range(n):
            ledger.record(2 * k, f"q{2 * k}", k % 3)
    return path.read_bytes().splitlines(keepends=True)


def paid(n: int) -> Paid:
    """What a checkpoint that counted the first n labels of `write_ledger` records."""
    return Paid(frozenset(2 * k for k in range(n)), float(n), "checkpoints/ckpt-000001.json")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


def edit(line: bytes, **changes) -> bytes:
    obj = json.loads(line)
    obj.update(changes)
    return (json.dumps(obj) + "\n").encode()


def _unhashed(line: bytes, **changes) -> bytes:
    obj = {k: v for k, v in json.loads(line).items() if k != "h"}
    return (json.dumps({**obj, **changes}) + "\n").encode()


def _cases(lines: list[bytes]) -> dict[str, tuple[bytes, int | None]]:
    """Damaged ledgers and the first bad line each must be reported at (None: the whole file)."""
    return {
        "edited answer": (b"".join(lines[:2] + [edit(lines[2], answer=0)] + lines[3:]), 3),
        "deleted middle line": (b"".join(lines[:1] + lines[2:]), 2),
        "reordered pair": (b"".join(lines[:1] + [lines[2], lines[1]] + lines[3:]), 2),
        "garbage middle line": (b"".join(lines[:2] + [b"#$%garbage\n"] + lines[3:]), 3),
        "cut at a line boundary": (b"".join(lines[:3]), 4),
        "cut mid-line": (b"".join(lines[:3]) + lines[3][:20], 4),
        "unhashed line inserted": (b"".join(lines[:2] + [_unhashed(lines[2], round=9)] + lines[2:]), 3),
    }


CASES = ["edited answer", "deleted middle line", "reordered pair", "garbage middle line", "cut at a line boundary",
         "cut mid-line", "unhashed line inserted"]


@pytest.mark.parametrize("case", CASES)
def test_damaged_ledger_is_refused_naming_its_first_bad_line_and_left_byte_identical(path: Path, case: str) -> None:
    cases = _cases(write_ledger(path))
    assert list(cases) == CASES
    data, bad_line = cases[case]
    path.write_bytes(data)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}:{bad_line}: ") as info:
        LabelLedger(path, paid=paid(5))
    assert "\n" not in str(info.value)  # one line
    assert path.read_bytes() == data
    LabelLedger(path.parent / "other.jsonl").close()  # the refusal released the lock


def test_a_deleted_ledger_is_refused_and_not_recreated(path: Path) -> None:
    with pytest.raises(LedgerIntegrityError, match=r"missing, but checkpoints/ckpt-000001.json counts 3 paid labels"):
        LabelLedger(path, paid=paid(3))
    assert not path.exists()
    LabelLedger(path, paid=paid(0)).close()  # a checkpoint that paid nothing needs no ledger yet


def test_a_ledger_ahead_of_the_checkpoint_is_fine_and_a_wrong_spend_is_not(path: Path) -> None:
    write_ledger(path)
    LabelLedger(path, paid=paid(3)).close()  # labels paid in the window a crash interrupted
    with pytest.raises(LedgerIntegrityError, match="'cost': the rounds .* cost 3 in the ledger but 2.5 in the checkpoint"):
        LabelLedger(path, paid=Paid(frozenset({0, 2, 4}), 2.5, "ckpt"))
    with pytest.raises(LedgerIntegrityError, match="round 1 is paid for per ckpt but is not in the ledger"):
        LabelLedger(path, paid=Paid(frozenset({0, 1}), 2.0, "ckpt"))


def test_a_torn_last_line_the_checkpoint_does_not_count_is_cut_with_a_notice(path: Path) -> None:
    lines = write_ledger(path)
    path.write_bytes(b"".join(lines) + b'{"round": 10, "item": "q1')
    with pytest.warns(TornLineWarning, match=rf"{re.escape(str(path))}:6: torn last line"):
        ledger = LabelLedger(path, paid=paid(5))
    with ledger:
        assert len(ledger) == 5 and ledger.notices and "torn last line" in ledger.notices[0]
        ledger.record(10, "q10", 1)  # chains on from the last intact line
    assert [e.round for e in read_ledger(path)] == [0, 2, 4, 6, 8, 10]


def test_a_torn_last_line_the_checkpoint_counts_is_not_cut(path: Path) -> None:
    lines = write_ledger(path)
    data = b"".join(lines[:4]) + lines[4][:-10]
    path.write_bytes(data)
    with pytest.raises(LedgerIntegrityError, match=r":5: torn, but .* counts 5 paid labels .* not cut"):
        LabelLedger(path, paid=paid(5))
    assert path.read_bytes() == data


def legacy(lines: list[bytes]) -> bytes:
    """The same lines as a ledger written before hash chaining (no "h")."""
    out = []
    for line in lines:
        obj = json.loads(line)
        del obj["h"]
        out.append((json.dumps(obj) + "\n").encode())
    return b"".join(out)


def test_a_legacy_ledger_opens_with_a_notice_and_is_upgraded_by_appending_only(path: Path) -> None:
    data = legacy(write_ledger(path))
    path.write_bytes(data)
    with pytest.warns(LegacyLedgerWarning, match="the last 5 line.* carry no hash"):
        ledger = LabelLedger(path, paid=paid(5))
    with ledger:
        ledger.record(10, "q10", 0)
    assert path.read_bytes().startswith(data)  # never rewritten
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the hashed line covers the legacy ones now: no notice again
        assert len(read_ledger(path)) == 6
    damaged = path.read_bytes().replace(b'"answer": 1', b'"answer": 2', 1)
    path.write_bytes(damaged)
    with pytest.raises(LedgerIntegrityError, match=":6: field 'h': does not chain"):
        LabelLedger(path)  # an edit of a legacy line is caught by the hashed line after it
    assert path.read_bytes() == damaged


def test_a_legacy_ledger_is_still_checked_against_the_checkpoint(path: Path) -> None:
    path.write_bytes(legacy(write_ledger(path)[:3]))
    with pytest.raises(LedgerIntegrityError, match=":4: missing: .* counts 5 paid labels but the ledger holds 3"):
        LabelLedger(path, paid=paid(5))
