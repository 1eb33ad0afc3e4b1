"""Crash safety of the ledger door: SIGKILL a player mid-run, restart it on the same run directory.

"Paid twice" means the inner oracle was asked a round a second time. The guarantees proved here:
a label that was returned is never asked again; a round already in the ledger is never asked again;
only the one label in flight at the kill (answered, not yet durable) can be re-asked, and for the
human queue even that costs nothing (its request and answer are durable files of their own).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from stackray.budget import (
    ANSWERS_FILE,
    REQUESTS_FILE,
    AlreadyAnsweredError,
    LabelLedger,
    append_answer,
    pending_requests,
    read_ledger,
)

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from crash_player import gold_of, pays  # noqa: E402

REPO = HERE.parent.parent


def start(run_dir: Path, mode: str, rounds: int, delay: float, kill_at: int = -1) -> subprocess.Popen:
    cfg = {"run_dir": str(run_dir), "mode": mode, "rounds": rounds, "delay": delay, "kill_at": kill_at}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, str(HERE / "crash_player.py"), json.dumps(cfg)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def ledger_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_when(proc: subprocess.Popen, ledger: Path, lines: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while ledger_lines(ledger) < lines:
        assert proc.poll() is None, f"player ended before the kill: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "player made no progress"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)  # reaps it and closes its pipes
    assert proc.returncode == -signal.SIGKILL


def read_log(path: Path) -> list[list[int]]:
    if not path.exists():
        return []
    return [[int(x) for x in line.split()] for line in path.read_text().splitlines()]


def tear(path: Path, text: str) -> None:
    """A write cut short: half a JSON line, no newline."""
    with open(path, "ab") as f:
        f.write(text.encode())


def assert_ledger_is_the_paid_rounds(run_dir: Path, rounds: int) -> None:
    want = [t for t in range(rounds) if pays(t)]
    assert ledger_lines(run_dir / "ledger.jsonl") == len(want)
    with LabelLedger(run_dir / "ledger.jsonl") as ledger:  # raises on duplicates or corruption
        assert sorted(e.round for e in ledger.entries()) == want
        assert all(e.answer == gold_of(e.round) and e.item == f"q{e.round}" for e in ledger.entries())


def test_sigkill_mid_run_then_torn_write_then_restart_pays_nothing_twice(tmp_path: Path) -> None:
    rounds = 300  # 100 paid rounds
    proc = start(tmp_path, "gold", rounds, delay=0.01)
    kill_when(proc, tmp_path / "ledger.jsonl", lines=20)
    durable = {e.round for e in read_ledger(tmp_path / "ledger.jsonl")}
    first_pid = proc.pid
    calls1 = [t for pid, t in read_log(tmp_path / "calls.log") if pid == first_pid]
    returned1 = {t for pid, t, _ in read_log(tmp_path / "returned.log")}
    assert 20 <= len(durable) < 100 and returned1 <= durable  # every label handed out was on disk
    next_round = next(t for t in range(rounds) if pays(t) and t not in durable)
    tear(tmp_path / "ledger.jsonl", f'{{"round": {next_round}, "item": "q{next_round}", "ans')

    proc2 = start(tmp_path, "gold", rounds, delay=0.0)
    rc, err = finish(proc2)
    assert rc == 0, err
    assert "torn last line" in err and "ledger.jsonl" in err

    assert_ledger_is_the_paid_rounds(tmp_path, rounds)
    calls2 = [t for pid, t in read_log(tmp_path / "calls.log") if pid == proc2.pid]
    assert not set(calls2) & durable  # nothing already in the ledger was asked again
    assert max(Counter(calls1).values()) == 1 and max(Counter(calls2).values()) == 1
    twice = set(calls1) & set(calls2)
    # At most the label in flight at the kill (asked, not yet durable, never returned) is re-asked.
    assert len(twice) <= 1 and twice <= {calls1[-1]} and not twice & durable
    assert len(calls1) + len(calls2) == ledger_lines(tmp_path / "ledger.jsonl") + len(twice)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result == {"asked": 100 - len(durable), "replayed": len(durable)}


def test_kill_between_answer_and_record_reasks_only_that_round(tmp_path: Path) -> None:
    """The worst instant, made deterministic: the player kills itself after the oracle answered round
    30 and before the ledger recorded it. A forgetful oracle (gold) is asked round 30 again, once."""
    rounds = 60
    rc, _ = finish(start(tmp_path, "gold", rounds, delay=0.0, kill_at=30))
    assert rc == -signal.SIGKILL
    assert sorted(e.round for e in read_ledger(tmp_path / "ledger.jsonl")) == list(range(0, 30, 3))
    rc, err = finish(start(tmp_path, "gold", rounds, delay=0.0))
    assert rc == 0, err
    assert_ledger_is_the_paid_rounds(tmp_path, rounds)
    asked = Counter(t for _, t in read_log(tmp_path / "calls.log"))
    assert {t for t, c in asked.items() if c > 1} == {30} and asked[30] == 2
    assert sum(asked.values()) == ledger_lines(tmp_path / "ledger.jsonl") + 1


class Annotator(threading.Thread):
    """Answers every pending request with gold as soon as it appears, like a (fast) human would."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.stop, self.answered, self.errors = run_dir, threading.Event(), Counter(), []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if (self.run_dir / REQUESTS_FILE).exists():
                    for req in pending_requests(self.run_dir):
                        append_answer(self.run_dir, req.round, gold_of(req.round))
                        self.answered[req.round] += 1
            except AlreadyAnsweredError as exc:  # would mean a question was put to a person twice
                self.errors.append(exc)
            except Exception as exc:  # noqa: BLE001 - surfaced by the test
                self.errors.append(exc)
            time.sleep(0.002)


@pytest.mark.parametrize("kill_at", [-1, 30], ids=["external-sigkill", "killed-after-answer"])
def test_human_queue_never_asks_a_person_twice_across_a_crash(tmp_path: Path, kill_at: int) -> None:
    rounds = 150  # 50 paid rounds
    annotator = Annotator(tmp_path)
    annotator.start()
    try:
        proc = start(tmp_path, "queue", rounds, delay=0.005 if kill_at < 0 else 0.0, kill_at=kill_at)
        if kill_at < 0:
            kill_when(proc, tmp_path / "ledger.jsonl", lines=10)
        else:
            rc, _ = finish(proc)
            assert rc == -signal.SIGKILL
        durable = {e.round for e in read_ledger(tmp_path / "ledger.jsonl")}
        assert 10 <= len(durable) < 50
        nxt = next(t for t in range(rounds) if pays(t) and t not in durable and t != kill_at)
        tear(tmp_path / "ledger.jsonl", '{"round": ')
        tear(tmp_path / REQUESTS_FILE, f'{{"round": {nxt}, "item": "q{nxt}", "quest')
        rc, err = finish(start(tmp_path, "queue", rounds, delay=0.0))
        assert rc == 0, err
        assert err.count("torn last line") == 2
    finally:
        annotator.stop.set()
        annotator.join(timeout=5)
    assert annotator.errors == []
    assert_ledger_is_the_paid_rounds(tmp_path, rounds)
    paid = [t for t in range(rounds) if pays(t)]
    requested = [json.loads(x)["round"] for x in (tmp_path / REQUESTS_FILE).read_text().splitlines()]
    answered = [json.loads(x)["round"] for x in (tmp_path / ANSWERS_FILE).read_text().splitlines()]
    assert sorted(requested) == paid  # each question queued once, across the crash
    assert sorted(answered) == paid  # each answered once: no person was asked twice
    assert set(annotator.answered) == set(paid) and max(annotator.answered.values()) == 1
