"""Whole runs on Ray with a tiny random model: the run directory, the cache, resume after SIGKILL,
a scorer killed mid-window and a restarted budget coordinator all give the uninterrupted run's result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ray
import yaml

from runs import assert_same_run, ledger, summary, thetas, tiny_config
from stackray.run import ActiveRun, load_config, run_active

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
REPO = HERE.parent.parent
STRATEGIES = ("llf", "random", "full", "zero_shot")


@pytest.fixture(scope="module")
def clean_run(ray_local, tiny_model, tiny_cache, tmp_path_factory):
    """The uninterrupted reference run (it also fills the shared feature cache)."""
    root = tmp_path_factory.mktemp("clean")
    config = tiny_config(root, tiny_model, tiny_cache)
    run_active(config, run_dir=root / "run", progress=False)
    return config, root / "run"


def test_run_directory_holds_every_artefact(clean_run):
    _, run_dir = clean_run
    for name in ("config.yaml", "metrics.jsonl", "learning_curve.png", "summary.json", "heads.safetensors",
                 "checkpoints/LATEST"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    load_config(run_dir / "config.yaml")  # the stored config is a valid config
    doc = summary(run_dir)
    rows = {r["strategy"]: r for r in doc["rows"]}
    assert set(rows) == set(STRATEGIES)
    assert rows["full"]["labels_used"] == 96 and rows["zero_shot"]["labels_used"] == 0
    for s in ("llf", "random"):
        assert 0 < rows[s]["labels_used"] <= np.floor(0.2 * 96)
        assert len(ledger(run_dir / s)) == rows[s]["labels_used"]
    assert rows["zero_shot"]["served"] == "prior" and rows["zero_shot"]["accuracy"] == doc["zero_shot_accuracy"]
    assert rows["full"]["retained"] == pytest.approx(1.0) and rows["full"]["gain_retained"] in (None, pytest.approx(1.0))
    for r in rows.values():
        assert r["served"] in ("learned", "prior") and r["head_choice"]["reason"]
    metrics = [yaml.safe_load(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["window"] for m in metrics if m["strategy"] == "llf"] == [1, 3, 5]  # every 2 windows, and the last
    assert sum(doc["features"].values()) == 3  # 2 pool chunks + 1 eval chunk (the shared cache may hold them)


def test_second_run_reads_the_cache_and_starts_no_scorer(clean_run, tmp_path):
    config, first = clean_run
    run = ActiveRun(load_config(config), tmp_path / "again", progress=False)
    doc = run.run()
    assert doc["features"] == {"cache_hits": 3, "cache_misses": 0}
    assert run.features.actors == [] and run.features.resubmitted == 0
    assert_same_run(first, tmp_path / "again")


def test_sigkilled_driver_resumes_to_the_same_result(clean_run, tmp_path):
    config, first = clean_run
    env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address, PYTHONPATH=str(REPO))
    run_dir = tmp_path / "killed"
    killed = subprocess.run([sys.executable, str(HERE / "killable_driver.py"), str(config), str(run_dir), "3"],
                            env=env, capture_output=True, text=True, timeout=180)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (run_dir / "checkpoints" / "ckpt-000002.json").is_file()
    assert not (run_dir / "checkpoints" / "ckpt-000003.json").exists()  # killed before window 3's checkpoint
    assert not (run_dir / "summary.json").exists()
    resumed = subprocess.run([sys.executable, str(REPO / "jobs" / "run_active.py"), "--resume", str(run_dir),
                              "--no-progress"], env=env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "llf" in resumed.stdout and "learning curve" in resumed.stdout
    assert_same_run(first, run_dir)


def test_killed_scorer_has_its_chunk_retried(clean_run, tmp_path):
    config, first = clean_run
    cfg = tiny_config(tmp_path, *_model_and(config), cache=tmp_path / "fresh_cache")  # misses: scorers must work
    run = ActiveRun(load_config(cfg), tmp_path / "run", progress=False)
    seen = {}

    def hook(stage: str, window: int) -> None:
        if stage == "stepped" and window == 1:  # the chunk of rows 48..95 was submitted a moment ago
            assert ("pool", 1) in run.features.in_flight or run.features.loaded["pool"][1]  # pipelined ahead
            actor = run.features.actors[0]
            seen["before"] = ray.get(actor.info.remote())["pid"]
            ray.kill(actor, no_restart=False)
        if stage == "checkpointed" and window == 5:
            seen["after"] = run.features.scorer_info()[0]["pid"]

    run.run(on_window=hook)
    assert seen["before"] != seen["after"]  # the replica was restarted and did the chunk again
    assert_same_run(first, tmp_path / "run")


def test_restarted_budget_coordinator_neither_repays_nor_loses(clean_run, tmp_path):
    config, first = clean_run
    run = ActiveRun(load_config(config), tmp_path / "run", progress=False)

    def hook(stage: str, window: int) -> None:
        if stage == "checkpointed" and window in (1, 3):
            for s in ("llf", "random"):
                ray.kill(run.games[s].coordinator, no_restart=False)

    run.run(on_window=hook)
    assert_same_run(first, tmp_path / "run")


def _model_and(config: Path) -> tuple[Path]:
    return (Path(yaml.safe_load(config.read_text())["scoring"]["model"]),)
