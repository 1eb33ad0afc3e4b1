"""A run directory checked before a driver plays it, and offline by `stackray verify` / `stackray label`.

Why on the driver, before any actor starts: the budget coordinators (Ray actors) own the ledgers
while a run plays, but only the driver knows the checkpoint a resume starts from, and only the
driver's terminal is the user's (an actor's warning lands in a worker log). So the driver
(`open_run_dir`) takes the run lock, loads the newest intact checkpoint, and opens every strategy's
ledger once against what that checkpoint paid: a damaged ledger refuses the resume with one line
naming the file and the first bad line, and nothing is rewritten; a torn last line the checkpoint does
not count is cut and said so. Then it closes the ledgers for the coordinators to open.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from stackray.budget import (
    LEDGER_FILE,
    LabelLedger,
    LegacyLedgerWarning,
    Paid,
    TornLineWarning,
    inspect_ledger,
    pending_requests,
)
from stackray.budget.oracles import REQUESTS_FILE
from stackray.io import AppendFile, DataError, when_unlocked
from stackray.run.layout import Checkpoint, checkpoint_problems, load_checkpoint, lock_run_dir, strategy_dir

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
LOCK_WAIT_S = 30.0  # how long a ledger held by a Ray worker (a killed run's coordinator on its way out) is waited for


def paid_from(checkpoint: Checkpoint, strategy: str) -> Paid:
    """What `checkpoint` counts as paid for `strategy`: the rounds with a paid_at, and the gate's spend."""
    try:
        paid_at = checkpoint.arrays[f"{strategy}/record.paid_at"]
        gate = checkpoint.meta["games"][strategy]["gate"]
        labels, spent = int(gate["labels"]), float(gate["spent"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{checkpoint.path}: holds no paid record for strategy {strategy!r} ({exc!r})") from None
    rounds = frozenset(int(t) for t in np.flatnonzero(np.asarray(paid_at) >= 0))
    if len(rounds) != labels:
        raise ValueError(f"{checkpoint.path}: strategy {strategy!r} counts {labels} labels but marks {len(rounds)} "
                         "rounds paid; the checkpoint contradicts itself")
    return Paid(rounds, spent, str(checkpoint.path))


def ledger_paths(run_dir: Path, strategies: tuple[str, ...]) -> dict[str, Path]:
    return {s: strategy_dir(run_dir, s, strategies) / LEDGER_FILE for s in strategies}


@dataclass
class OpenedRun:
    """A run directory a driver holds: its lock, the checkpoint to resume from, what the user was told."""

    lock: AppendFile
    checkpoint: Checkpoint | None
    notices: list[str] = field(default_factory=list)

    def report(self) -> dict:
        """For summary.json: the checkpoint resumed from and every notice (repairs included)."""
        return {"resumed_from": None if self.checkpoint is None else self.checkpoint.name, "notices": self.notices}

    def close(self) -> None:
        self.lock.close()


def open_run_dir(run_dir: Path, strategies: tuple[str, ...], *, resume: bool, out: TextIO | None = None) -> OpenedRun:
    """Lock the run directory, load the checkpoint (on resume) and check every ledger against it.

    Raises FileLockedError (another run plays it) or a LedgerIntegrityError / ValueError naming the
    bad file and line; prints each notice (a checkpoint fallen back from, a torn line cut, a ledger
    without hashes) as one line on `out` (stderr by default) and keeps them in `notices`.
    """
    lock = lock_run_dir(run_dir)
    try:
        checkpoint = load_checkpoint(run_dir) if resume else None
        notices = [] if checkpoint is None else [f"{p}; resuming from the intact {checkpoint.name} instead"
                                                 for p in checkpoint.skipped]
        for s, path in ledger_paths(run_dir, strategies).items():
            paid = None if checkpoint is None else paid_from(checkpoint, s)
            if path.exists() or (paid is not None and paid.labels):
                notices += _check_ledger(path, paid)
            if (path.parent / REQUESTS_FILE).exists():
                pending_requests(path.parent)  # a bad request or answer line: said here, not in an actor
    except BaseException:
        lock.close()
        raise
    for notice in notices:
        print(f"stackray: {notice}", file=out or sys.stderr, flush=True)
    return OpenedRun(lock, checkpoint, notices)


def _check_ledger(path: Path, paid: Paid | None) -> list[str]:
    """Open a ledger once against `paid` (repairing only a torn line the checkpoint does not count),
    waiting a little for a lock held by a Ray worker: after a driver is killed, Ray ends its budget
    coordinators asynchronously. Any other holder is refused at once."""
    def open_checked() -> list[str]:
        with warnings.catch_warnings():  # the notices are printed by the caller, once, on the terminal
            warnings.simplefilter("ignore", TornLineWarning)
            warnings.simplefilter("ignore", LegacyLedgerWarning)
            with LabelLedger(path, paid=paid) as ledger:
                return ledger.notices

    return when_unlocked(open_checked, LOCK_WAIT_S, waitable=lambda exc: not exc.holder or "ray::" in exc.holder)


# ---- offline checks --------------------------------------------------------------------------------

@dataclass
class Findings:
    """What `verify_run` found: problems (something is wrong) and notes (worth knowing, not wrong)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_root(path: Path) -> Path | None:
    """The run directory `path` belongs to (itself, or its parent for a strategy's folder), or None."""
    for candidate in (path, path.parent):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def verify_run(path: str | Path) -> Findings:
    """Check a run directory offline, without taking any lock or changing anything: its config, its
    checkpoints, every ledger (hash chain, and against the newest intact checkpoint), request queues
    and the summary. A folder outside a run (a bare label queue) gets its ledger and queue checked."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run directory")
    found = Findings()
    root = run_root(path)
    if root is None:
        _check_folder(path, None, found)
        return found
    orders = _orders(root)
    if orders > 1:  # data.orders: N complete runs in order-<k> (stackray.run.orders); check each of them
        for k in range(orders):
            sub = root / f"order-{k}"
            if not sub.is_dir():
                found.notes.append(f"{sub}: not started yet")
                continue
            part = verify_run(sub)
            found.notes += part.notes
            found.problems += part.problems
        return found
    strategies = _strategies(root, found)
    found.problems += checkpoint_problems(root)
    try:
        checkpoint = load_checkpoint(root)
    except ValueError:
        checkpoint = None  # each damaged checkpoint is reported above
    counts = {}
    for s, ledger in ledger_paths(root, strategies).items():
        try:
            paid = None if checkpoint is None else paid_from(checkpoint, s)
        except ValueError as exc:
            found.problems.append(str(exc))
            paid = None
        counts[s] = _check_folder(ledger.parent, paid, found)
    _check_summary(root, counts, found)
    return found


def _orders(root: Path) -> int:
    from stackray.run.config import load_config

    try:
        return load_config(root / CONFIG_FILE).data.orders
    except ValueError:  # reported by _strategies with the file and key
        return 1


def _strategies(root: Path, found: Findings) -> tuple[str, ...]:
    from stackray.run.config import load_config

    try:
        return tuple(load_config(root / CONFIG_FILE).strategies)
    except ValueError as exc:
        found.problems.append(str(exc).splitlines()[0])
        return ()


def _check_folder(folder: Path, paid: Paid | None, found: Findings) -> tuple[int, float] | None:
    """Check a folder's ledger (and label queue); (labels, spent) of an intact ledger, else None."""
    if (folder / REQUESTS_FILE).exists():
        try:
            pending_requests(folder)
        except DataError as exc:
            found.problems.append(str(exc))
    ledger = folder / LEDGER_FILE
    if not ledger.exists() and not (paid is not None and paid.labels):
        return None
    try:
        scan = inspect_ledger(ledger, paid=paid)
    except DataError as exc:
        found.problems.append(str(exc))
        return None
    found.notes += [text for _, text in scan.notices(ledger, "it is cut when the run resumes")]
    entries = [e for _, e in scan.entries]
    return len(entries), math.fsum(e.cost for e in entries)


def _check_summary(root: Path, counts: dict[str, tuple[int, float] | None], found: Findings) -> None:
    """A finished run's summary must report exactly the labels its ledgers hold."""
    path = root / SUMMARY_FILE
    if not path.exists():
        return
    try:
        rows = {r["strategy"]: r for r in json.loads(path.read_text())["rows"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        found.problems.append(f"{path}: cannot be read as a run summary ({exc!r})")
        return
    for s, count in counts.items():
        row = rows.get(s)
        if row is None:
            found.problems.append(f"{path}: no row for strategy {s!r}")
            continue
        if count is None:  # the ledger itself is reported already
            continue
        labels, spent = count
        if row.get("labels_used") != labels or not math.isclose(float(row.get("cost_used") or 0.0), spent, abs_tol=1e-9):
            found.problems.append(f"{path}: strategy {s!r} reports {row.get('labels_used')} labels costing "
                                  f"{row.get('cost_used')}, but its ledger holds {labels} costing {spent:g}")
