"""ActiveRun's guards on a run directory: a new run never overwrites one, a resume refuses another config,
and a resume whose pool data changed since the checkpoint is refused, with every file left as it was.

Processes racing for one ledger: exactly one owns it, the others are refused at once naming the owner,
and only the owner's label is on disk.

(Pool/eval overlap and eval items without gold are config-load checks: tests/run/test_config_data.py.
Two drivers on one run directory: test_integrity_run.py and test_human_oracle.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runs import tiny_config
from stackray.budget import read_ledger
from stackray.run import ActiveRun, load_config, run_active

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RACER = """
import os, sys
from stackray.budget import LabelLedger
from stackray.io import FileLockedError
print("ready", flush=True)
sys.stdin.readline()  # the start signal, sent to every racer at once
try:
    ledger = LabelLedger(sys.argv[1])
except FileLockedError as exc:
    print("refused", exc, flush=True)
    sys.exit(0)
ledger.record(0, f"paid by {os.getpid()}", 1)
print("won", flush=True)
sys.stdin.readline()  # hold the lock until the test has heard from every racer
ledger.close()
"""


def _files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_new_run_never_reuses_a_run_directory(tmp_path, tiny_model, tiny_cache):
    config = load_config(tiny_config(tmp_path, tiny_model, tiny_cache))
    ActiveRun(config, tmp_path / "run")
    before = _files(tmp_path / "run")
    with pytest.raises(ValueError, match=r"run: already holds a run; resume it with: stackray run --resume .*/run$"):
        ActiveRun(config, tmp_path / "run")
    assert _files(tmp_path / "run") == before


def test_a_resume_refuses_a_different_config(tmp_path, tiny_model, tiny_cache):
    ActiveRun(load_config(tiny_config(tmp_path, tiny_model, tiny_cache)), tmp_path / "run")
    other = load_config(tiny_config(tmp_path / "other", tiny_model, tiny_cache, game={"beta": 0.3}))
    before = _files(tmp_path / "run")
    with pytest.raises(ValueError, match=r"other/config\.in\.yaml: differs from .*/run/config\.yaml, the config the run"):
        ActiveRun(other, tmp_path / "run", resume=True)
    ActiveRun(load_config(tiny_config(tmp_path, tiny_model, tiny_cache)), tmp_path / "run", resume=True)  # the same
    with pytest.raises(FileNotFoundError, match=r"nowhere/config\.yaml: not a run directory"):
        ActiveRun(None, tmp_path / "nowhere", resume=True)
    assert _files(tmp_path / "run") == before


def test_a_resume_refuses_a_pool_that_changed_since_the_checkpoint(ray_local, tmp_path, tiny_model, tiny_cache):
    pool = tmp_path / "pool.jsonl"
    rows = [{"id": f"q{i}", "question": f"Is {i} even?", "options": ["yes", "no"], "answer": i % 2} for i in range(24)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tiny_config(tmp_path, tiny_model, tiny_cache, data={"pool": str(pool), "pool_limit": None, "eval": None,
                                                                 "eval_limit": None}, strategies=["zero_shot"])
    run_active(config, run_dir=tmp_path / "run", progress=False)
    rows[5]["question"] = "Is five even?"  # the same ids and count: only the content changed
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = _files(tmp_path / "run")
    with pytest.raises(ValueError, match=r"run: the checkpoint was written for other pool items"):
        run_active(None, resume=tmp_path / "run", progress=False)
    assert _files(tmp_path / "run") == before


def test_processes_racing_for_one_ledger_leave_one_owner_and_one_payment(tmp_path):
    path = tmp_path / "ledger.jsonl"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=dict(os.environ, PYTHONPATH=str(REPO))) for _ in range(3)]
    try:
        assert [r.stdout.readline().strip() for r in racers] == ["ready"] * 3
        for r in racers:
            r.stdin.write("go\n")
            r.stdin.flush()
        answers = {r.pid: r.stdout.readline().strip() for r in racers}
        won = [pid for pid, answer in answers.items() if answer == "won"]
        assert len(won) == 1, answers
        for pid, answer in answers.items():
            if pid not in won:
                assert answer.startswith("refused") and f"(pid {won[0]} (" in answer, answer
        assert [(e.round, e.item) for e in read_ledger(path)] == [(0, f"paid by {won[0]}")]
    finally:
        for r in racers:
            r.stdin.close()
            r.wait(timeout=60)
    assert [r.returncode for r in racers] == [0, 0, 0]
