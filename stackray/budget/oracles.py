"""Oracles: who reveals the gold candidate of a round the strategy pays for.

One protocol, `oracle(round) -> int`, so the game never knows whether gold comes from the data set
(`GoldOracle`, simulation) or from people (`FileQueueOracle`). Neither is called directly by the
game in a real run: both sit behind `LedgerDoor`, which records every paid label before returning it.

The human queue is two JSON-lines files in the run directory, so annotators need nothing but a
terminal (`stackray label RUN_DIR`) or a text editor, and both sides survive crashes:

- `requests.jsonl`, written only by the oracle: `{"round", "item", "question", "options"}`, one line
  per round ever asked, never twice, even across restarts (it is re-read on open);
- `answers.jsonl`, written by annotators (`append_answer`, locked and fsynced):
  `{"round": t, "answer": k}` plus optional `"item"` (checked when present) and `"time"`.

A bad answer line RAISES a `stackray.data.DataError` (a ValueError) naming answers.jsonl, the line and
the field, instead of being skipped: a skipped answer would leave the run waiting for a label the
annotator believes given, and an answer that is out of range, for another item, or contradicting an
earlier one is a mistake a person must look at. Only an unterminated last line is passed over (an
annotator may be writing it).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

from stackray.budget.fields import At, by_round, int_field, str_field
from stackray.data.items import MCItem
from stackray.io import AppendFile, Closing, DataError, Scan, TornLineWarning, read_bytes, scan_objects, torn_notice

REQUESTS_FILE = "requests.jsonl"
ANSWERS_FILE = "answers.jsonl"


@runtime_checkable
class Oracle(Protocol):
    """Reveals the gold candidate index of round `round` (called only for rounds that are paid for)."""

    def __call__(self, round: int) -> int: ...


def _check_round(round: object, n: int, at: At) -> int:
    if isinstance(round, bool) or not isinstance(round, int) or not 0 <= round < n:
        raise DataError(*at, "round", f"round {round!r} is not in [0, {n})")
    return round


class GoldOracle:
    """Data-set gold for simulations: round t -> answers[t]. `calls` counts every question asked."""

    def __init__(self, answers: Sequence[int]) -> None:
        checked = []
        for t, a in enumerate(answers):
            if isinstance(a, bool) or not hasattr(a, "__index__") or int(a) < 0:
                raise ValueError(f"GoldOracle: answers[{t}] = {a!r} is not a candidate index (an int >= 0)")
            checked.append(int(a))
        self.answers = checked
        self.calls = 0

    @classmethod
    def from_items(cls, items: Sequence[MCItem]) -> "GoldOracle":
        """Gold of labelled items, in round order; an item without gold is an error, not a guess."""
        answers = []
        for t, item in enumerate(items):
            if item.answer is None:
                raise ValueError(f"GoldOracle: item {item.id!r} (round {t}) has no gold answer")
            answers.append(item.answer)
        return cls(answers)

    def __call__(self, round: int) -> int:
        _check_round(round, len(self.answers), ("GoldOracle", None))
        self.calls += 1
        return self.answers[round]


@dataclass(frozen=True)
class LabelRequest:
    """One question put to the annotators (a line of requests.jsonl)."""

    round: int
    item: str
    question: str
    options: tuple[str, ...]

    def to_json(self) -> dict:
        return {"round": self.round, "item": self.item, "question": self.question, "options": list(self.options)}


class LabelTimeoutError(TimeoutError):
    """No annotator answered a round in time. The request stays queued: answer it, then resume."""


class AlreadyAnsweredError(DataError):
    """An answer for this round is already in answers.jsonl (another annotator was quicker)."""


def _request_from(obj: dict, at: At) -> LabelRequest:
    options = obj.get("options")
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
        raise DataError(*at, "options", f"must be a list of at least 2 strings, got {options!r}")
    return LabelRequest(
        round=int_field(obj, "round", at),
        item=str_field(obj, "item", at),
        question=str_field(obj, "question", at),
        options=tuple(options),
    )


def _parse_requests(path: Path, data: bytes) -> tuple[dict[int, LabelRequest], dict[int, int], Scan]:
    """round -> request and round -> line, in file order, plus the scan (torn tail etc.)."""
    scan = scan_objects(path, data)
    found = by_round(path, scan.objects, _request_from, "requested")
    return {r: req for r, (_, req) in found.items()}, {r: n for r, (n, _) in found.items()}, scan


# Given a round of an answer line and the line's position, (item id, number of options) of that round,
# or None when the round is unknown to the reader (then only `answer >= 0` can be checked); may raise.
RoundInfo = Callable[[int, At], "tuple[str, int] | None"]


def _parse_answers(path: Path, data: bytes, info: RoundInfo) -> dict[int, tuple[int, int]]:
    """round -> (answer, line) of every complete answer line; a bad line raises naming line and field."""
    scan = scan_objects(path, data)
    answers: dict[int, tuple[int, int]] = {}
    for lineno, obj in scan.objects:
        at = (path, lineno)
        round = int_field(obj, "round", at)
        known = info(round, at)
        k = None if known is None else known[1]
        answer = int_field(obj, "answer", at, below=k)
        if known is not None and "item" in obj and obj["item"] != known[0]:
            raise DataError(*at, "item", f"{obj['item']!r}, but round {round} is item {known[0]!r}")
        if round in answers:
            first, first_line = answers[round]
            if first != answer:
                raise DataError(
                    *at, "answer",
                    f"{answer} contradicts the answer {first} to round {round} on line {first_line}; "
                    "delete one of the two lines",
                )
            continue
        answers[round] = (answer, lineno)
    return answers


def read_requests(run_dir: str | Path) -> list[LabelRequest]:
    """Every request of a run directory, in the order asked (read-only; a tail being written is skipped)."""
    requests, _, _ = _parse_requests(Path(run_dir) / REQUESTS_FILE, read_bytes(Path(run_dir) / REQUESTS_FILE))
    return list(requests.values())


def _info_from_requests(requests: dict[int, LabelRequest]) -> RoundInfo:
    def info(round: int, at: At) -> tuple[str, int] | None:
        req = requests.get(round)
        return None if req is None else (req.item, len(req.options))

    return info


def pending_requests(run_dir: str | Path) -> list[LabelRequest]:
    """Requests that no answer line answers yet, oldest first (non-blocking)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    requests, _, _ = _parse_requests(run_dir / REQUESTS_FILE, read_bytes(run_dir / REQUESTS_FILE))
    answers = _parse_answers(run_dir / ANSWERS_FILE, read_bytes(run_dir / ANSWERS_FILE), _info_from_requests(requests))
    return [req for r, req in requests.items() if r not in answers]


def append_answer(run_dir: str | Path, round: int, answer: int) -> None:
    """Answer a requested round: checked against its request, appended under a lock and fsynced.

    Raises AlreadyAnsweredError when the round has an answer already (answers are never overwritten:
    the first one may already have been paid for and used).
    """
    run_dir = Path(run_dir)
    requests, _, _ = _parse_requests(run_dir / REQUESTS_FILE, read_bytes(run_dir / REQUESTS_FILE))
    req = requests.get(round) if isinstance(round, int) else None
    if req is None:
        raise DataError(run_dir / REQUESTS_FILE, None, "round", f"round {round!r} was never requested")
    int_field({"answer": answer}, "answer", (f"round {round} (item {req.item!r})", None), below=len(req.options))
    path = run_dir / ANSWERS_FILE
    with AppendFile(path, blocking=True) as f:  # one annotator at a time; waits for the others
        scan = scan_objects(path, f.read_all())
        if scan.torn is not None:  # we hold the lock, so no one is writing it: an annotator crashed
            warnings.warn(torn_notice(path, scan.torn, "removed; that answer was never recorded, give it again"),
                          TornLineWarning, stacklevel=2)
        f.repair_tail(scan)  # also ends a hand-written last line that lacks its newline
        answers = _parse_answers(path, f.read_all(), _info_from_requests(requests))
        if round in answers:
            raise AlreadyAnsweredError(path, answers[round][1], "round", f"round {round} is already answered")
        f.append({"round": round, "answer": answer, "item": req.item, "time": time.time()})


class FileQueueOracle(Closing):
    """Human annotators behind files: asking round t queues a request once and waits for its answer.

    One live process owns a run's request queue (an exclusive lock on requests.jsonl). On open the
    queue is re-read, so a restarted run never asks the same question twice and picks up answers
    given while it was down. `timeout` (seconds) bounds each wait; `poll` is the re-read interval.
    """

    def __init__(self, run_dir: str | Path, items: Sequence[MCItem], timeout: float = 3600.0, poll: float = 0.5) -> None:
        for name, value in (("timeout", timeout), ("poll", poll)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
                raise ValueError(f"FileQueueOracle: {name} must be a finite number of seconds > 0, got {value!r}")
        for t, item in enumerate(items):
            if not isinstance(item, MCItem):
                raise ValueError(f"FileQueueOracle: items[{t}] is a {type(item).__name__}, expected MCItem")
        self.run_dir = Path(run_dir)
        self.items = list(items)
        self.timeout = float(timeout)
        self.poll = float(poll)
        self.requests_path = self.run_dir / REQUESTS_FILE
        self.answers_path = self.run_dir / ANSWERS_FILE
        self._file = AppendFile(self.requests_path)
        try:
            requests, lines, scan = _parse_requests(self.requests_path, self._file.read_all())
            for r, req in requests.items():
                at = (self.requests_path, lines[r])
                _check_round(r, len(self.items), at)
                if req.item != self.items[r].id:
                    raise DataError(
                        *at, "item",
                        f"round {r} was asked for item {req.item!r}, but this run's round {r} is item "
                        f"{self.items[r].id!r}: the run directory belongs to another data order",
                    )
            if scan.torn is not None:
                warnings.warn(torn_notice(self.requests_path, scan.torn, "removed; that round is requested again "
                                          "when asked"), TornLineWarning, stacklevel=2)
            self._file.repair_tail(scan)
        except BaseException:
            self._file.close()
            raise
        self._requests = requests
        self._answers: dict[int, tuple[int, int]] = {}
        self._answers_key: tuple[int, int, int] | None = None

    def _info(self, round: int, at: At) -> tuple[str, int]:
        item = self.items[_check_round(round, len(self.items), at)]
        return item.id, item.num_options

    def _refresh(self) -> None:
        """Re-read answers.jsonl when it changed (stat before read, so no change slips by)."""
        try:
            st = os.stat(self.answers_path)
        except FileNotFoundError:
            return
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key == self._answers_key:
            return
        self._answers = _parse_answers(self.answers_path, read_bytes(self.answers_path), self._info)
        self._answers_key = key

    def request(self, round: int) -> None:
        """Queue the question of `round` for the annotators, unless it is queued already (non-blocking)."""
        _check_round(round, len(self.items), ("FileQueueOracle", None))
        if round in self._requests:
            return
        item = self.items[round]
        req = LabelRequest(round=round, item=item.id, question=item.question, options=item.options)
        self._file.append(req.to_json())
        self._requests[round] = req

    def answer_of(self, round: int) -> int | None:
        """The annotators' answer to `round` if there is one yet (non-blocking)."""
        _check_round(round, len(self.items), ("FileQueueOracle", None))
        self._refresh()
        found = self._answers.get(round)
        return None if found is None else found[0]

    def pending(self) -> list[LabelRequest]:
        """Requests asked but not answered yet, oldest first (non-blocking)."""
        self._refresh()
        return [req for r, req in self._requests.items() if r not in self._answers]

    def __call__(self, round: int) -> int:
        self.request(round)
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self.answer_of(round)
            if answer is not None:
                return answer
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabelTimeoutError(
                    f"{self.answers_path}: no answer to round {round} (item {self.items[round].id!r}) within "
                    f"{self.timeout:g} s; answer it with `stackray label {self.run_dir}`, then resume the run"
                )
            time.sleep(min(self.poll, left))

    def close(self) -> None:
        """Release the request queue (another process may then own it)."""
        self._file.close()
