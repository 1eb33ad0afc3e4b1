"""`stackray run` through the CLI entry point: configs/smoke.yaml (with the tiny model of tests/run in place
of SmolLM2, so it takes seconds) runs to exit code 0 and leaves a summary that matches the config."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import yaml

from stackray.budget import read_ledger
from stackray.cli import main

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "run"))
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


def test_stackray_run_on_the_smoke_config(ray_local, tiny_model_dir, tmp_path, capsys):
    doc = yaml.safe_load(SMOKE.read_text())
    doc["scoring"].update(model=str(tiny_model_dir), cache_dir=str(tmp_path / "cache"), threads=1)
    config = tmp_path / "smoke_tiny.yaml"
    config.write_text(yaml.safe_dump(doc))
    run_dir = tmp_path / "run"

    assert main(["run", str(config), "--run-dir", str(run_dir), "--no-progress"]) == 0

    printed = capsys.readouterr().out
    assert f"run directory: {run_dir}" in printed
    summary = json.loads((run_dir / "summary.json").read_text())
    data, strategies = doc["data"], doc["strategies"]
    assert (summary["name"], summary["pool"], summary["eval"]) == (doc["name"], data["pool"], data["eval"])
    assert (summary["rounds"], summary["eval_items"]) == (data["pool_limit"], data["eval_limit"])
    assert summary["run_dir"] == str(run_dir)
    assert summary["features"]["cache_misses"] > 0 and summary["features"]["cache_hits"] == 0  # a fresh cache
    rows = {r["strategy"]: r for r in summary["rows"]}
    assert list(rows) == strategies
    budget = math.floor(doc["game"]["beta"] * data["pool_limit"])
    assert rows["full"]["labels_used"] == data["pool_limit"] and rows["zero_shot"]["labels_used"] == 0
    for name in ("llf", "random"):
        assert 0 < rows[name]["labels_used"] <= budget, rows[name]
    for name, row in rows.items():
        assert name in printed
        assert len(read_ledger(run_dir / name / "ledger.jsonl")) == row["labels_used"], name
        assert 0.0 <= row["accuracy"] <= 1.0 and row["served"] in ("learned", "prior")
    assert rows["zero_shot"]["accuracy"] == summary["zero_shot_accuracy"]
    stored = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert stored["scoring"]["model"] == str(tiny_model_dir) and stored["game"]["window"] == doc["game"]["window"]


def test_stackray_run_names_a_missing_config(tmp_path, capsys):
    missing = tmp_path / "nowhere.yaml"
    assert main(["run", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err


def test_stackray_run_names_an_unknown_key(tmp_path, capsys):
    doc = yaml.safe_load(SMOKE.read_text())
    doc["game"]["bta"] = 0.1
    config = tmp_path / "typo.yaml"
    config.write_text(yaml.safe_dump(doc))
    assert main(["run", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "game.bta" in err
    assert not (tmp_path / "run").exists()  # stopped before anything was written
