"""`stackray label RUN_DIR`, run as a real subprocess with the annotator's keystrokes on stdin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from stackray.budget import ANSWERS_FILE, FileQueueOracle, pending_requests
from stackray.commands.label import parse_choice
from stackray.data import MCItem

REPO = Path(__file__).resolve().parent.parent.parent
ITEMS = [
    MCItem("a", "Capital of France?", ("Rome", "Paris", "Oslo")),
    MCItem("b", "2 + 2?", ("3", "4")),
    MCItem("c", "Largest planet?", ("Mars", "Venus", "Jupiter", "Earth")),
]


def label(run_dir: Path, keys: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stackray.cli", "label", str(run_dir)],
        input=keys, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO,
    )


def test_annotator_answers_skips_and_retypes(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS, timeout=1, poll=0.005) as oracle:
        for t in (0, 1, 2):
            oracle.request(t)
        # round 0: a bad key, then "b"; round 1: skipped; round 2: "C"
        done = label(tmp_path, "z\nb\ns\nC\n")
        assert done.returncode == 0, done.stderr
        assert "  A) Rome\n  B) Paris\n  C) Oslo" in done.stdout
        assert "'z' is not one of A-C" in done.stdout
        assert "1 pending in" in done.stdout
        assert oracle(0) == 1 and oracle(2) == 2  # the run picks the answers up
        assert [r.round for r in oracle.pending()] == [1]
    answers = [json.loads(x) for x in (tmp_path / ANSWERS_FILE).read_text().splitlines()]
    assert [(a["round"], a["answer"], a["item"]) for a in answers] == [(0, 1, "a"), (2, 2, "c")]


def test_end_of_input_or_q_stops_without_answering(tmp_path: Path) -> None:
    with FileQueueOracle(tmp_path, ITEMS) as oracle:
        oracle.request(1)
    for keys in ("", "q\n"):
        done = label(tmp_path, keys)
        assert done.returncode == 0, done.stderr
        assert [r.round for r in pending_requests(tmp_path)] == [1]
    assert not (tmp_path / ANSWERS_FILE).exists()


def test_nothing_pending_and_missing_run_dir(tmp_path: Path) -> None:
    done = label(tmp_path, "")
    assert done.returncode == 0 and "0 pending" in done.stdout
    done = label(tmp_path / "nope", "")
    assert done.returncode == 2 and "no such run directory" in done.stderr


def test_parse_choice() -> None:
    assert [parse_choice(s, 3) for s in ("a", " B ", "c", "d", "", "ab", "1")] == [0, 1, 2, None, None, None, None]


def test_watch_answers_requests_as_they_arrive_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackray.cli", "label", str(tmp_path), "--watch", "--poll", "0.01"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1"), cwd=REPO,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        proc.stdin.write("b\n")  # typed ahead: read once the question shows up
        proc.stdin.flush()
        with FileQueueOracle(tmp_path, ITEMS, timeout=30, poll=0.005) as oracle:
            assert oracle(1) == 1  # asked while the annotator's terminal was already waiting
        deadline = time.monotonic() + 30
        while not any("recorded B for round 1" in line for line in out):  # the answer is on disk a moment
            assert time.monotonic() < deadline, out  # before the terminal says so: interrupt only after
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=30)  # the reader alone drains stdout (communicate() would race it)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "0 pending" in "".join(out)


def test_label_refuses_a_run_whose_ledger_was_edited(tmp_path: Path) -> None:
    """`stackray label` runs the checks of `stackray verify` first: answers for a run that cannot resume
    would be wasted, so nothing is asked and the problem is named."""
    from stackray.budget import LabelLedger

    with FileQueueOracle(tmp_path, ITEMS) as oracle:
        oracle.request(2)
    with LabelLedger(tmp_path / "ledger.jsonl") as ledger:
        ledger.record(0, "a", 1)
        ledger.record(1, "b", 1)
    path = tmp_path / "ledger.jsonl"
    path.write_text(path.read_text().replace('"answer": 1', '"answer": 0', 1))
    done = label(tmp_path, "c\n")
    assert done.returncode == 1
    assert f"problem: {path}:1: field 'h': does not chain" in done.stdout and "not labelling" in done.stdout
    assert "Largest planet?" not in done.stdout and not (tmp_path / ANSWERS_FILE).exists()
