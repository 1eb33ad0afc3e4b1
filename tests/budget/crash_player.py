"""A tiny deterministic "game" for the crash tests: plays N rounds, pays every 3rd through a LedgerDoor.

Run as `python crash_player.py CONFIG_JSON`. Config keys: run_dir, mode ("gold" or "queue"), rounds,
delay (seconds per inner-oracle call), kill_at (round after whose inner answer the process SIGKILLs
itself, before the ledger records it: the worst instant; -1 for never).

Side files in run_dir, each line fsynced, so the test can reconstruct what happened across a SIGKILL:
- calls.log:    "PID ROUND" written by the inner oracle after it is asked, before the door records;
- returned.log: "PID ROUND ANSWER" written after the door returned a label to the game;
- result.json:  written at the end of a run that completes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from stackray.budget import FileQueueOracle, GoldOracle, LabelLedger, LedgerDoor
from stackray.data import MCItem


def gold_of(t: int) -> int:
    return (7 * t + 3) % 4


def pays(t: int) -> bool:
    return t % 3 == 0


def log_line(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    run_dir = Path(cfg["run_dir"])
    n, delay, kill_at = cfg["rounds"], cfg["delay"], cfg["kill_at"]
    ids = [f"q{t}" for t in range(n)]
    pid = os.getpid()
    if cfg["mode"] == "gold":
        source = GoldOracle([gold_of(t) for t in range(n)])
    else:
        items = [MCItem(ids[t], f"question {t}?", ("w", "x", "y", "z")) for t in range(n)]
        source = FileQueueOracle(run_dir, items, timeout=30.0, poll=0.002)

    def inner(t: int) -> int:
        time.sleep(delay)
        answer = source(t)
        log_line(run_dir / "calls.log", f"{pid} {t}")
        if t == kill_at:
            os.kill(pid, signal.SIGKILL)
        return answer

    ledger = LabelLedger(run_dir / "ledger.jsonl")
    door = LedgerDoor(ledger, inner, ids)
    for t in range(n):
        if pays(t):
            answer = door(t)
            log_line(run_dir / "returned.log", f"{pid} {t} {answer}")
    (run_dir / "result.json").write_text(json.dumps({"asked": door.asked, "replayed": door.replayed}))


if __name__ == "__main__":
    main()
