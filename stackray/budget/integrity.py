"""Ledger integrity: a hash chain over the lines, and the ledger checked against what a checkpoint paid.

Why: labels are money, and a ledger that lost, gained or changed a line silently would make a resumed
run re-buy labels (a cut) or learn from answers nobody gave (an edit). Two checks catch every such
change without trusting the file:

- Each line carries `"h": sha256(h of the line before + canonical JSON of the line without "h")`, the
  first line chaining from GENESIS. An edited, deleted, inserted or moved line breaks the chain at the
  first line whose stored hash no longer matches. Ledgers written before the chain existed have lines
  without "h"; they still open, the chain is computed through them, and the first hashed line appended
  after them covers them from then on (a legacy ledger is upgraded by appending, never rewritten).
- A cut at a line boundary leaves a valid chain, so the ledger is also checked against the checkpoint
  a resume starts from (`Paid`): every round the checkpoint counts as paid must be in the ledger, the
  ledger must hold at least that many lines, and those rounds must cost what the checkpoint spent.
  The ledger may be AHEAD of the checkpoint (labels paid in the window a crash interrupted): those are
  answered from the ledger when the window is replayed.

A mismatch raises `LedgerIntegrityError` naming the file and the first bad line, and nothing is
rewritten: the user decides (restore a backup, or start a new run), not the opener.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from stackray.io import DataError, RawLine

HASH_FIELD = "h"
GENESIS = "0" * 64


class LedgerIntegrityError(DataError):
    """The ledger disagrees with its own hash chain or with the checkpoint: it is refused, not repaired."""


class LegacyLedgerWarning(UserWarning):
    """The ledger has lines without a hash (written before hash chaining); they are checked less."""


def chain_hash(prev: str, obj: dict) -> str:
    """The chain hash of a ledger line: sha256 of the previous hash and the line's canonical JSON."""
    body = {k: v for k, v in obj.items() if k != HASH_FIELD}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Chain:
    """The result of walking a ledger's chain: the hash to chain the next line from, and how many
    lines at the end carry no hash of their own and are covered by none (legacy lines)."""

    head: str
    unhashed: int

    def legacy_notice(self, path: str | Path) -> str | None:
        if not self.unhashed:
            return None
        return (f"{path}: the last {self.unhashed} line(s) carry no hash (a ledger written before hash chaining); "
                "they are checked against the checkpoint only, and the lines appended from now on chain over them")


def check_chain(path: str | Path, objects: Sequence[tuple[int, dict]]) -> Chain:
    """Walk the chain over (line number, object) pairs; the first line that breaks it raises."""
    prev, unhashed, hashed_before = GENESIS, 0, False
    for lineno, obj in objects:
        h = chain_hash(prev, obj)
        stored = obj.get(HASH_FIELD)
        if stored is None:
            if hashed_before:
                raise LedgerIntegrityError(path, lineno, HASH_FIELD, "missing, but the lines before it are hash-chained: "
                                           "this line was added or edited by hand")
            unhashed += 1
        elif stored != h:
            raise LedgerIntegrityError(path, lineno, HASH_FIELD, "does not chain from the line before it: this line, "
                                       "or one before it, was edited, removed or moved")
        else:
            hashed_before, unhashed = True, 0
        prev = h
    return Chain(prev, unhashed)


@dataclass(frozen=True)
class Paid:
    """What a checkpoint counts as paid for one strategy's ledger: the rounds and their total cost."""

    rounds: frozenset[int]
    spent: float
    source: str  # the checkpoint, for messages

    @property
    def labels(self) -> int:
        return len(self.rounds)


def check_paid(path: str | Path, entries: Sequence[tuple[int, object]], torn: RawLine | None, paid: Paid) -> None:
    """Raise LedgerIntegrityError unless the ledger holds every label `paid` counts, at its cost.

    `entries` are (line number, LedgerEntry) of the complete lines; `torn` is an unterminated last
    chunk, if any: when the checkpoint needs more lines than the complete ones, that chunk held a label
    the game already used, so it is named and NOT cut.
    """
    if len(entries) < paid.labels:
        lineno = entries[-1][0] + 1 if entries else 1
        if torn is not None:
            raise LedgerIntegrityError(path, torn.lineno, None, f"torn, but {paid.source} counts {paid.labels} paid "
                                       f"labels and only {len(entries)} lines are complete: the torn line held a label "
                                       "the game used, so it is not cut; restore the ledger from a backup")
        raise LedgerIntegrityError(path, lineno, None, f"missing: {paid.source} counts {paid.labels} paid labels but "
                                   f"the ledger holds {len(entries)}; it was cut or lines were deleted")
    by_round = {e.round: (n, e) for n, e in entries}
    missing = sorted(paid.rounds - by_round.keys())
    if missing:
        raise LedgerIntegrityError(path, None, "round", f"round {missing[0]} is paid for per {paid.source} but is not "
                                   f"in the ledger ({len(missing)} such rounds)")
    spent = math.fsum(by_round[t][1].cost for t in paid.rounds)
    if not math.isclose(spent, paid.spent, rel_tol=1e-9, abs_tol=1e-9):
        raise LedgerIntegrityError(path, None, "cost", f"the rounds {paid.source} counts cost {spent:g} in the ledger "
                                   f"but {paid.spent:g} in the checkpoint")
