"""trials.jsonl: every finished trial of a sweep, fsynced by the driver before its progress line is printed.

Why a journal of our own next to Tune's experiment state: Tune saves that state every few seconds and
writes it in place, so a driver killed at the wrong moment either loses the trials that finished since
the last save or leaves a torn state file, and then `Tuner.restore` starts the experiment over. A
trial is a pure function of its knobs (seeded orders, cached features), so the journal, keyed by the
knobs, makes a resumed sweep report a finished trial from the record instead of playing it again:
nothing finished is lost and nothing is played twice, whatever Tune's state file survived.

The file is appended by one driver at a time (an exclusive lock: a second driver on the same sweep
directory is refused) through stackray.io, which also cuts a torn last line left by a crash.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from stackray.io import AppendFile, scan_objects

JOURNAL_FILE = "trials.jsonl"


def params_key(params: dict) -> str:
    """One string per trial config (knob name -> value), independent of key order."""
    return json.dumps(params, sort_keys=True, default=str)


def _finite(metrics: dict) -> dict:
    """JSON has no NaN (e.g. gain retained when full did no better than zero-shot): None on disk."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


class TrialJournal:
    """The journal of one sweep directory, opened (and locked) by its driver."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.file = AppendFile(Path(sweep_dir) / JOURNAL_FILE)
        scan = scan_objects(self.file.path, self.file.read_all())
        self.file.repair_tail(scan)
        self.done: dict[str, dict] = {}
        for _, record in scan.objects:
            self.done.setdefault(params_key(record["params"]), record["metrics"])

    def record(self, trial_id: str, params: dict, metrics: dict) -> None:
        key = params_key(params)
        if key in self.done:
            return
        self.file.append({"trial": trial_id, "params": params, "metrics": _finite(metrics)})
        self.done[key] = metrics

    def finished(self) -> dict[str, dict]:
        """params_key -> metrics (NaN restored), what the trials of a resumed sweep report instead of playing."""
        return {k: {m: (float("nan") if v is None else v) for m, v in metrics.items()} for k, metrics in self.done.items()}

    def close(self) -> None:
        self.file.close()


def metrics_of(result: dict[str, Any], names: tuple[str, ...]) -> dict:
    """A trial's own metrics among Tune's bookkeeping: the named ones and the per-task `<task>/<metric>`."""
    return {k: v for k, v in result.items() if k in names or (isinstance(k, str) and "/" in k)}
