"""Bad sweep files fail before Ray starts and before a sweep directory exists, naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweeps import SMOKE
from stackray.cli import main
from stackray.tune import load_sweep
from stackray.tune.space import grid_points, param_space, search, trial_count

TASK = {"name": "obqa", "data": {"pool": "openbookqa:train", "pool_limit": 40}}
GOOD = {"name": "s", "tasks": [TASK], "validation": {"size": 10}, "space": {"beta": {"grid": [0.1, 0.2]}}}


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("change, expected", [
    ({"space": {"bta": {"grid": [0.1]}}}, "space.bta: unknown knob"),
    ({"space": {"seed": {"grid": [1, 2]}}}, "space.seed: unknown knob"),
    ({"space": {"beta": {"grid": [0.1, 2.0]}}}, "space.beta.grid[1]: must be in (0, 1], got 2.0"),
    ({"space": {"beta": {"grid": []}}}, "space.beta.grid: must not be empty"),
    ({"space": {"c": {"uniform": [2.0, 1.0]}}, "search": {"kind": "random"}}, "space.c.uniform: a range [low, high] needs low < high"),
    ({"space": {"c": {"loguniform": [0.0, 1.0]}}, "search": {"kind": "random"}}, "space.c.loguniform: a log-uniform range needs low > 0"),
    ({"space": {"window": {"randint": [0, 8]}}, "search": {"kind": "random"}}, "space.window.randint[0]: must be >= 1, got 0"),
    ({"space": {"strategy": {"choice": ["llf", "lff"]}}, "search": {"kind": "random"}}, "space.strategy.choice[1]: 'lff' is not one of"),
    ({"space": {"c": {"uniform": [0.1, 1.0]}}}, "search.kind: grid needs grids only, but space.c is a uniform"),
    ({"search": {"kind": "optuna"}}, "search.kind: Optuna cannot search a grid (space.beta)"),
    ({"search": {"kind": "annealing"}}, "search.kind: 'annealing' is not one of"),
    ({"space": {}}, "space: must name at least one knob"),
    ({"game": {"bta": 0.1}}, "unknown key game.bta"),
    ({"seeds": 0}, "seeds: must be >= 1, got 0"),
    ({"objective": {"metric": "accuracy"}}, "objective.metric: 'accuracy' is not one of"),
    ({"tasks": [{"name": "x", "data": {"pool": "openbookqa:tran"}}]}, "tasks[0].data.pool: no split 'tran' in openbookqa"),
    ({"tasks": [TASK, TASK]}, "tasks: task names must differ"),
    ({"tasks": None}, "tasks: required"),
    ({"validation": {"size": 40}}, "validation.size: holding out 40 items leaves too small a stream"),
    ({"base": "nowhere.yaml"}, "base: "),
])
def test_bad_sweep_file_fails_early_naming_the_key(tmp_path, capsys, change, expected) -> None:
    doc = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = _write(tmp_path, doc)
    assert main(["tune", str(path), "--sweep-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: " in err and expected in err, err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    assert not (tmp_path / "out").exists()  # nothing written, Ray never started


def test_a_base_run_config_gives_the_task_scoring_and_game(tmp_path) -> None:
    sweep = load_sweep(_write(tmp_path, {"base": str(SMOKE), "space": {"c": [0.5, 1.0]}}))
    run = yaml.safe_load(SMOKE.read_text())
    assert sweep.tasks[0].name == "smoke" and sweep.tasks[0].data.pool_limit == run["data"]["pool_limit"]
    assert sweep.scoring.chunk == run["scoring"]["chunk"] and sweep.game.window == run["game"]["window"]


def test_space_maps_to_tune(tmp_path) -> None:
    sweep = load_sweep(_write(tmp_path, {**GOOD, "space": {"beta": [0.1, 0.2], "c": [0.5, 1.0, 2.0], "lam": 30.0}}))
    assert trial_count(sweep) == 6 and len(grid_points(sweep)) == 6
    space = param_space(sweep)
    assert space["lam"] == 30.0 and space["beta"] == {"grid_search": [0.1, 0.2]}
    drawn = load_sweep(_write(tmp_path, {**GOOD, "space": {"beta": [0.1, 0.2], "window": {"randint": [8, 9]}},
                                         "search": {"kind": "random", "samples": 5}}))
    assert trial_count(drawn) == 10
    assert {param_space(drawn)["window"].sample() for _ in range(50)} == {8, 9}  # both ends included


def test_optuna_search_takes_labels_as_a_second_objective(tmp_path) -> None:
    sweep = load_sweep(_write(tmp_path, {**GOOD, "space": {"beta": {"choice": [0.1, 0.2]}, "c": {"loguniform": [0.1, 2.0]}},
                                         "search": {"kind": "optuna", "samples": 6}, "objective": {"multi": True}}))
    alg, samples = search(sweep)
    assert samples == 6 and type(alg).__name__ == "OptunaSearch"
    assert alg.metric == ["labels_used", "objective"] and alg.mode == ["min", "max"]
