"""A real sweep under Ray Tune on the smoke config's cached features, and what it leaves in its directory.

One sweep (8 grid trials x 2 pool orders) is run for the module; the tests read its directory: every
trial exactly once, the front as the exact non-dominated set of the rows, a chosen config per beta that
`stackray run` loads and runs unchanged, and the test split reported for the chosen configs only.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sweeps import grid_points, points_of, smoke_sweep
from stackray.cli import main
from stackray.run import load_config
from stackray.tune.front import pareto_front
from stackray.tune.sweep import assert_no_lm, lm_loads, run_sweep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(ray_local, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    lines: list[str] = []
    summary = run_sweep(smoke_sweep(folder), folder / "out", say=lines.append)
    return folder / "out", summary, lines


def _rows(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_trial_runs_once_under_tune(sweep) -> None:
    sweep_dir, summary, lines = sweep
    rows = _rows(sweep_dir)
    assert points_of(rows) == grid_points()  # 8 grid points, each exactly once
    assert len({r["trial"] for r in rows}) == 8
    assert sum(line.startswith("[") and "/8]" in line for line in lines) == 8  # one progress line per trial
    assert (sweep_dir / "tune").is_dir()  # Tune's experiment, inside the sweep directory
    for r in rows:
        labels = float(r["labels_used"])
        assert 0 <= labels <= float(r["beta"]) * 28  # the stream is 40 - 12 validation items: B = floor(beta * 28)
        assert 0.0 <= float(r["val_accuracy"]) <= 1.0


def test_front_is_the_non_dominated_set_of_the_trials(sweep) -> None:
    sweep_dir, summary, _ = sweep
    rows = _rows(sweep_dir)
    front = set(pareto_front([float(r["labels_used"]) for r in rows], [float(r["objective"]) for r in rows]).tolist())
    assert {i for i, r in enumerate(rows) if r["on_front"] == "True"} == front
    assert len(summary["front"]) == len(front)
    assert (sweep_dir / "front.png").stat().st_size > 1000


def test_best_config_round_trips_through_stackray_run(sweep, tmp_path, capsys) -> None:
    sweep_dir, summary, _ = sweep
    best = sorted(sweep_dir.glob("best_beta_*.yaml"))
    assert best and [str(p) for p in best] == sorted(summary["chosen"])
    front_betas = {float(r["beta"]) for r in summary["front"]}
    assert {float(p.stem.removeprefix("best_beta_")) for p in best} == front_betas
    config = load_config(best[0])  # the loader accepts it unchanged
    chosen = next(r for r in summary["front"] if float(r["beta"]) == config.game.beta)
    assert config.game.c == chosen["c"] and config.strategies[0] == chosen["strategy"]
    assert main(["run", str(best[0]), "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 0  # cached features
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["features"]["cache_misses"] == 0
    assert "run directory" in capsys.readouterr().out


def test_test_split_is_reported_for_the_chosen_configs_only(sweep) -> None:
    sweep_dir, summary, _ = sweep
    assert {t["trial"] for t in summary["test"]} == {r["trial"] for r in summary["front"]} & {t["trial"] for t in summary["test"]}
    assert len(summary["test"]) == len(summary["chosen"])
    assert all(0.0 <= t["test_accuracy"] <= 1.0 for t in summary["test"])
    assert "test" not in "".join(_rows(sweep_dir)[0])  # no test column among the trials
    assert (sweep_dir / "test.md").read_text().count("\n| ") == len(summary["test"]) + 1


def test_a_trial_that_loads_an_lm_is_refused(monkeypatch) -> None:
    import stackray.scoring.base as base

    before = lm_loads()
    assert_no_lm(before)  # nothing loaded since: fine
    monkeypatch.setattr(base, "MODEL_LOADS", base.MODEL_LOADS + 1)  # what BaseScorer.ensure_loaded does
    with pytest.raises(RuntimeError, match="must not run the LM"):
        assert_no_lm(before)


def test_split_arrays_are_read_only() -> None:
    """Every trial shares the same arrays (one object-store copy): none may change them."""
    from stackray.tune.tasks import Split

    split = Split(np.zeros((2, 2, 3)), np.ones((2, 2), dtype=bool), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError):
        split.phi[0, 0, 0] = 1.0
