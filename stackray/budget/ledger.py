"""The label ledger: an append-only, fsynced record of every label paid for, and the door to the oracle.

Labels are money. The ledger (`ledger.jsonl` in a run directory, one line per paid label:
`{"round", "item", "answer", "cost", "time"}`) is written and fsynced BEFORE a label is returned
to anyone, so a process killed at any instant has on disk every label it ever handed out. A run is
resumed by replaying it deterministically from scratch through a `LedgerDoor` on the same ledger:
rounds already in the ledger are answered from it and only new rounds reach the real oracle.

What a crash can and cannot cost (the exact guarantee):

- A label that was returned is in the ledger and is never asked again.
- A write cut short leaves a torn last line; it is dropped with a warning on reopen. Its label was
  never returned (the fsync comes before the return), so dropping it loses nothing that was used.
- The one label in flight at the crash (the oracle answered, the ledger line not yet durable) is
  asked again after the restart. For the human queue (`FileQueueOracle`) that costs nothing: the
  request and the annotator's answer are themselves durable files, so the restarted oracle finds
  the answer already there and no annotator sees the question twice. Only a non-durable inner
  oracle (one that forgets) can be asked twice, once per crash, and then for a label nobody used.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

from stackray.budget.jsonl import (
    AppendFile,
    At,
    RawLine,
    Scan,
    TornLineWarning,
    int_field,
    read_bytes,
    scan_objects,
    str_field,
    warn_torn,
)
from stackray.budget.oracles import Oracle
from stackray.data.jsonl import DataError

LEDGER_FILE = "ledger.jsonl"


class BudgetExceededError(RuntimeError):
    """A new label would take the spend past the hard budget: a bug in the gate, never paid for."""


@dataclass(frozen=True)
class LedgerEntry:
    """One paid label: which round, which item, the revealed answer, what it cost and when."""

    round: int
    item: str
    answer: int
    cost: float
    time: float


def check_cost(cost: object, at: At) -> float:
    """A label cost as a finite float > 0 (the game's cost units), or a DataError saying where."""
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        raise DataError(*at, "cost", f"must be a number, got {cost!r}")
    cost = float(cost)
    if not math.isfinite(cost) or cost <= 0:
        raise DataError(*at, "cost", f"{cost} must be finite and > 0")
    return cost


def _entry_from(obj: dict, at: At) -> LedgerEntry:
    stamp = obj.get("time")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
        raise DataError(*at, "time", f"must be a finite number of unix seconds, got {stamp!r}")
    return LedgerEntry(
        round=int_field(obj, "round", at),
        item=str_field(obj, "item", at),
        answer=int_field(obj, "answer", at),
        cost=check_cost(obj.get("cost"), at),
        time=float(stamp),
    )


def _parse(path: Path, data: bytes) -> tuple[list[tuple[int, LedgerEntry]], Scan]:
    """Entries with their line numbers, and the scan (torn tail, missing newline, line count).

    Only the final line may be torn; a malformed line anywhere before it raises, because it may hold
    a label that was paid for and used.
    """
    scan = scan_objects(path, data)
    entries: list[tuple[int, LedgerEntry]] = []
    seen: dict[int, int] = {}
    for lineno, obj in scan.objects:
        entry = _entry_from(obj, (path, lineno))
        if entry.round in seen:
            raise DataError(path, lineno, "round", f"round {entry.round} is already recorded on line {seen[entry.round]}")
        seen[entry.round] = lineno
        entries.append((lineno, entry))
    return entries, scan


def _warn_torn(path: Path, torn: RawLine, action: str) -> None:
    warn_torn(
        path, torn, f"{action}; its label was never returned (the ledger is fsynced first), so that round is asked again",
        stacklevel=4,
    )


def read_ledger(path: str | Path) -> list[LedgerEntry]:
    """The entries of a ledger, read-only and without taking its lock (for reports and evaluation).

    A torn last line is warned about and ignored here, not cut: only the owner repairs the file.
    """
    path = Path(path)
    entries, scan = _parse(path, read_bytes(path))
    if scan.torn is not None:
        _warn_torn(path, scan.torn, "ignored")
    return [e for _, e in entries]


class LabelLedger:
    """The run's append-only file of paid labels; one live owner at a time (an exclusive lock).

    Opening it reads every existing line, cuts a torn last line away (with a warning) and completes
    a last line that only lacks its newline. `record` returns only once the line is fsynced.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = AppendFile(self.path)
        try:
            entries, scan = _parse(self.path, self._file.read_all())
            if scan.torn is not None:
                _warn_torn(self.path, scan.torn, "removed")
                self._file.truncate(scan.torn.offset)
            elif scan.missing_newline:
                self._file.append_raw(b"\n")
        except BaseException:
            self._file.close()
            raise
        self._entries: dict[int, LedgerEntry] = {e.round: e for _, e in entries}
        self._lines: dict[int, int] = {e.round: n for n, e in entries}
        self._next_line = scan.n_lines + 1
        self._spent = math.fsum(e.cost for e in self._entries.values())

    @classmethod
    def in_run_dir(cls, run_dir: str | Path) -> "LabelLedger":
        """The ledger of a run directory (`RUN_DIR/ledger.jsonl`)."""
        return cls(Path(run_dir) / LEDGER_FILE)

    def get(self, round: int) -> int | None:
        """The paid answer of `round`, or None when that round was never paid for."""
        entry = self._entries.get(round)
        return None if entry is None else entry.answer

    def entry(self, round: int) -> LedgerEntry | None:
        return self._entries.get(round)

    def line_of(self, round: int) -> int | None:
        """The ledger line (1-based) that holds `round`, for error messages."""
        return self._lines.get(round)

    def __contains__(self, round: object) -> bool:
        return round in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self.entries())

    @property
    def spent(self) -> float:
        """Total cost of the labels paid so far (cost units; 1.0 per label by default)."""
        return self._spent

    def entries(self) -> list[LedgerEntry]:
        """Every paid label in the order it was paid."""
        return list(self._entries.values())

    def record(self, round: int, item: str, answer: int, cost: float = 1.0) -> LedgerEntry:
        """Append one paid label; it is on disk (fsynced) when this returns. A round is paid once."""
        at = (f"{self.path} (record)", None)
        obj = {"round": round, "item": item, "answer": answer}
        int_field(obj, "round", at)
        str_field(obj, "item", at)
        int_field(obj, "answer", at)
        cost = check_cost(cost, at)
        if round in self._entries:
            raise DataError(
                *at, "round", f"round {round} is already paid for (line {self._lines[round]}); a label is recorded once"
            )
        entry = LedgerEntry(round=round, item=item, answer=answer, cost=cost, time=time.time())
        try:
            self._file.append(asdict(entry))
        except OSError:
            # After a failed write or fsync the file's state is unknown: refuse further use until the
            # ledger is reopened, which re-reads (and if needed repairs) what actually reached the disk.
            self._file.close()
            raise
        self._entries[round] = entry
        self._lines[round] = self._next_line
        self._next_line += 1
        self._spent += cost
        return entry

    def close(self) -> None:
        """Release the file and its lock (another process may then open the ledger)."""
        self._file.close()

    def __enter__(self) -> "LabelLedger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LedgerDoor:
    """The only way to the oracle: `door(t)` answers from the ledger, or pays once and records first.

    This is the callable the game gets as `oracle(t) -> int`. `item_ids[t]` names round t's item
    (checked against the ledger, so a ledger from a different data order is refused instead of
    answering the wrong questions), `costs[t]` its price (1.0 each by default) and `budget` the hard
    cap in cost units: the gate paces spending, the door makes overspending impossible.
    """

    def __init__(
        self,
        ledger: LabelLedger,
        oracle: Oracle,
        item_ids: Sequence[str],
        costs: Sequence[float] | None = None,
        budget: float | None = None,
    ) -> None:
        if not callable(oracle):
            raise ValueError("LedgerDoor: oracle must be callable as oracle(round) -> int")
        self.ledger = ledger
        self.oracle = oracle
        self.item_ids = [str_field({"item": i}, "item", (f"LedgerDoor: item_ids[{t}]", None)) for t, i in enumerate(item_ids)]
        n = len(self.item_ids)
        if costs is None:
            self.costs = [1.0] * n
        else:
            if len(costs) != n:
                raise ValueError(f"LedgerDoor: costs has {len(costs)} entries for {n} rounds")
            self.costs = [check_cost(c, (f"LedgerDoor: costs[{t}]", None)) for t, c in enumerate(costs)]
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0:
                raise ValueError(f"LedgerDoor: budget must be a number >= 0, got {budget!r}")
            budget = float(budget)
        self.budget = budget
        for entry in ledger.entries():
            line = ledger.line_of(entry.round)
            if entry.round >= n:
                raise DataError(ledger.path, line, "round", f"round {entry.round} is beyond this run's {n} rounds")
            if entry.item != self.item_ids[entry.round]:
                raise DataError(
                    ledger.path, line, "item",
                    f"round {entry.round} was paid for item {entry.item!r}, but this run's round "
                    f"{entry.round} is item {self.item_ids[entry.round]!r}: the ledger belongs to another data order",
                )
        if budget is not None and ledger.spent > budget + 1e-9:
            raise ValueError(f"{ledger.path}: already spent {ledger.spent:g}, more than the budget {budget:g}")
        self.asked = 0  # inner-oracle calls made through this door (labels paid by this process)
        self.replayed = 0  # answers served from the ledger

    def __call__(self, round: int) -> int:
        if isinstance(round, bool) or not isinstance(round, int) or not 0 <= round < len(self.item_ids):
            raise ValueError(f"LedgerDoor: round {round!r} is not in [0, {len(self.item_ids)})")
        paid = self.ledger.get(round)
        if paid is not None:
            self.replayed += 1
            return paid
        cost = self.costs[round]
        if self.budget is not None and self.ledger.spent + cost > self.budget + 1e-9:
            raise BudgetExceededError(
                f"{self.ledger.path}: round {round} costs {cost:g} but only "
                f"{self.budget - self.ledger.spent:g} of the budget {self.budget:g} is left"
            )
        answer = self.oracle(round)
        if isinstance(answer, bool) or not hasattr(answer, "__index__"):
            raise ValueError(f"LedgerDoor: the oracle answered round {round} with {answer!r}, not an int")
        answer = int(answer)
        self.asked += 1
        self.ledger.record(round, self.item_ids[round], answer, cost)
        return answer
