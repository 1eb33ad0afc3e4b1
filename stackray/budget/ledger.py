"""The label ledger: an append-only, fsynced record of every label paid for, and the door to the oracle.

Labels are money. The ledger (`ledger.jsonl` in a run directory, one line per paid label:
`{"round", "item", "answer", "cost", "time"}`) is written and fsynced BEFORE a label is returned
to anyone, so a process killed at any instant has on disk every label it ever handed out. A run is
resumed by replaying it deterministically from scratch through a `LedgerDoor` on the same ledger:
rounds already in the ledger are answered from it and only new rounds reach the real oracle.

What a crash can and cannot cost (the exact guarantee):

- A label that was returned is in the ledger and is never asked again.
- A write cut short leaves a torn last line (no newline, not valid JSON); it is dropped with a warning
  on reopen. Its label was never returned (the fsync comes before the return), so dropping it loses
  nothing that was used. A resume checks that first (`Paid`): a torn line the checkpoint counts is
  never cut. Every other damage (a cut, an edit, a deleted or moved line) is refused, see
  `stackray.budget.integrity`.
- The one label in flight at the crash (the oracle answered, the ledger line not yet durable) is
  asked again after the restart. For the human queue (`FileQueueOracle`) that costs nothing: the
  request and the annotator's answer are themselves durable files, so the restarted oracle finds
  the answer already there and no annotator sees the question twice. Only a non-durable inner
  oracle (one that forgets) can be asked twice, once per crash, and then for a label nobody used.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

from stackray.budget.fields import At, by_round, int_field, str_field
from stackray.budget.integrity import (
    HASH_FIELD,
    Chain,
    LedgerIntegrityError,
    LegacyLedgerWarning,
    Paid,
    chain_hash,
    check_chain,
    check_paid,
)
from stackray.budget.oracles import Oracle
from stackray.io import AppendFile, Closing, DataError, Scan, TornLineWarning, read_bytes, scan_objects, torn_notice

LEDGER_FILE = "ledger.jsonl"
TORN_CONSEQUENCE = "its label was never returned (the ledger is fsynced first), so that round is asked again"


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


@dataclass(frozen=True)
class LedgerScan:
    """A ledger read whole and checked: its entries with line numbers, the file scan and the chain."""

    entries: list[tuple[int, LedgerEntry]]
    scan: Scan
    chain: Chain

    def notices(self, path: Path, torn_action: str) -> list[tuple[type[Warning], str]]:
        """What the user should hear about this ledger: a torn last line, lines without a hash."""
        found: list[tuple[type[Warning], str]] = []
        if self.scan.torn is not None:
            found.append((TornLineWarning, torn_notice(path, self.scan.torn, f"{torn_action}; {TORN_CONSEQUENCE}")))
        legacy = self.chain.legacy_notice(path)
        if legacy:
            found.append((LegacyLedgerWarning, legacy))
        return found


def inspect_ledger(path: str | Path, data: bytes | None = None, paid: Paid | None = None) -> LedgerScan:
    """Parse and check a ledger's bytes (read from `path` when None) without changing anything.

    Only the final unterminated line may be torn; a malformed line anywhere before it, a duplicate
    round, a broken hash chain, or (given `paid`, from the checkpoint a resume starts from) a label the
    checkpoint counts that the ledger lacks raises, naming the file and the first bad line.
    """
    path = Path(path)
    if data is None:
        if paid is not None and paid.labels and not path.exists():
            raise LedgerIntegrityError(path, None, None, f"missing, but {paid.source} counts {paid.labels} paid labels; "
                                       "the ledger was deleted: restore it from a backup")
        data = read_bytes(path)
    scan = scan_objects(path, data)
    entries = list(by_round(path, scan.objects, _entry_from, "recorded").values())
    chain = check_chain(path, scan.objects)
    if paid is not None:
        check_paid(path, entries, scan.torn, paid)
    return LedgerScan(entries, scan, chain)


def _warn(notices: list[tuple[type[Warning], str]]) -> list[str]:
    """Warn each notice (pointing at the caller's caller, who opened the ledger); return their texts."""
    for category, text in notices:
        warnings.warn(text, category, stacklevel=3)
    return [text for _, text in notices]


def read_ledger(path: str | Path) -> list[LedgerEntry]:
    """The entries of a ledger, read-only and without taking its lock (for reports and evaluation).

    A torn last line is warned about and ignored here, not cut: only the owner repairs the file. Lines
    without a hash are not: their one notice belongs to whoever opens the ledger to continue it.
    """
    path = Path(path)
    found = inspect_ledger(path)
    _warn([n for n in found.notices(path, "ignored") if n[0] is TornLineWarning])
    return [e for _, e in found.entries]


class LabelLedger(Closing):
    """The run's append-only file of paid labels; one live owner at a time (an exclusive lock).

    Opening it checks every line (`inspect_ledger`, against `paid` when a resume gives the checkpoint's
    count), and only then cuts a torn last line away and completes a last line that only lacks its
    newline; `notices` says what was found and done (a torn line cut, lines without a hash). On any
    problem it raises and the file is left exactly as it was. `record` returns once the line is fsynced.
    """

    def __init__(self, path: str | Path, *, paid: Paid | None = None) -> None:
        self.path = Path(path)
        if paid is not None and paid.labels and not self.path.exists():
            inspect_ledger(self.path, paid=paid)  # raises: a deleted ledger is not silently recreated
        self._file = AppendFile(self.path)
        try:
            found = inspect_ledger(self.path, self._file.read_all(), paid)
            self.notices = _warn(found.notices(self.path, "removed"))
            self._file.repair_tail(found.scan)
        except BaseException:
            self._file.close()
            raise
        self._entries: dict[int, LedgerEntry] = {e.round: e for _, e in found.entries}
        self._lines: dict[int, int] = {e.round: n for n, e in found.entries}
        self._next_line = (found.entries[-1][0] if found.entries else 0) + 1
        self._head = found.chain.head
        self._spent = math.fsum(e.cost for e in self._entries.values())

    @property
    def head(self) -> str:
        """The chain hash of the last line (what the next line chains from)."""
        return self._head

    def get(self, round: int) -> int | None:
        """The paid answer of `round`, or None when that round was never paid for."""
        entry = self._entries.get(round)
        return None if entry is None else entry.answer

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
        line = asdict(entry)
        line[HASH_FIELD] = chain_hash(self._head, line)
        try:
            self._file.append(line)
        except OSError:
            # After a failed write or fsync the file's state is unknown: refuse further use until the
            # ledger is reopened, which re-reads (and if needed repairs) what actually reached the disk.
            self._file.close()
            raise
        self._entries[round] = entry
        self._lines[round] = self._next_line
        self._next_line += 1
        self._head = line[HASH_FIELD]
        self._spent += cost
        return entry

    def close(self) -> None:
        """Release the file and its lock (another process may then open the ledger)."""
        self._file.close()


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
