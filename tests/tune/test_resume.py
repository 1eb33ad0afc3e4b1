"""A sweep whose driver is SIGKILLed mid-sweep finishes with `--resume`: no trial lost, none recorded twice."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import grid_points, points_of, smoke_sweep
from stackray.cli import main

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent


def test_killed_sweep_resumes_with_every_trial_once(ray_local, tmp_path, capsys) -> None:
    sweep_dir = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, str(HERE / "killable_sweep.py"), str(smoke_sweep(tmp_path, search={"kind": "grid", "max_concurrent": 1})),
                             str(sweep_dir), "3"], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert "[3/8]" in killed.stdout and not (sweep_dir / "trials.csv").exists()

    journaled = len((sweep_dir / "trials.jsonl").read_text().splitlines())
    assert journaled >= 3  # fsynced before each progress line

    assert main(["tune", "--resume", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "resuming the sweep" in out
    finished = [line for line in out.splitlines() if line.startswith("[") and "/8]" in line]
    played = [line for line in finished if "(from the journal)" not in line]
    assert len(played) == 8 - journaled  # what finished before the kill is not played again
    with open(sweep_dir / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert points_of(rows) == grid_points()  # every trial exactly once
    assert len({r["trial"] for r in rows}) == 8
    assert len((sweep_dir / "trials.jsonl").read_text().splitlines()) == 8
