"""`stackray run` with a bad config: a clear error, exit 2, no traceback, no run directory, no Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_missing_split_stops_before_ray_and_before_a_run_directory(tmp_path):
    config = tmp_path / "x.yaml"
    config.write_text("data: {pool: openbookqa:train, eval: openbookqa:tset}\n")
    run_dir = tmp_path / "run"
    probe = ("import sys, ray; from stackray.cli import main; rc = main(sys.argv[1:]); "
             "print('ray started' if ray.is_initialized() else 'no ray'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", probe, "run", str(config), "--run-dir", str(run_dir), "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{config}: data.eval: no split 'tset' in openbookqa (have: train, validation, test)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.strip() == "no ray"
    assert not run_dir.exists()
