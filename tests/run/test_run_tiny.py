"""Whole runs on Ray with a tiny random model: the run directory, the cache, resume after SIGKILL (before
the first checkpoint, between a window's labels and its checkpoint, in the middle of a checkpoint
write), scorers killed while they hold a chunk (retried by Ray, or resubmitted to a fresh replica when
restarts run out), and restarted followers, leaders and budget coordinators all give the
uninterrupted run's result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import yaml
from ray.exceptions import RayActorError

from runs import assert_same_run, ledger, summary, tiny_config, wait_for_orphans
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
    acc_0 = doc["zero_shot_accuracy"]
    assert rows["zero_shot"]["served"] == "prior" and rows["zero_shot"]["accuracy"] == acc_0
    metrics = [yaml.safe_load(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["window"] for m in metrics if m["strategy"] == "llf"] == [1, 3, 5]  # every 2 windows, and the last
    last = {m["strategy"]: m for m in metrics}
    for s, r in rows.items():
        assert r["accuracy"] == last[s]["accuracy"] and r["labels_used"] == last[s]["labels_used"], s
        assert r["retained"] == pytest.approx(r["accuracy"] / rows["full"]["accuracy"]), s
        choice = r["head_choice"]
        learned = choice["wins"] > choice["losses"] and choice["p_value"] is not None and choice["p_value"] <= 0.1
        assert r["served"] == ("learned" if learned else "prior"), (s, choice)
        assert r["served_accuracy"] == (r["accuracy"] if learned else acc_0), s
        assert choice["paid_rounds"] == r["labels_used"], s
    assert sum(doc["features"].values()) == 3  # 2 pool chunks + 1 eval chunk (the shared cache may hold them)


def test_second_run_reads_the_cache_and_starts_no_scorer(clean_run, tmp_path):
    config, first = clean_run
    run = ActiveRun(load_config(config), tmp_path / "again", progress=False)
    scorers = []
    doc = run.run(on_window=lambda stage, k: scorers.append(len(run.features.actors)))
    assert doc["features"] == {"cache_hits": 3, "cache_misses": 0}
    assert scorers == [0] * 12  # no ScorerActor while the run played (close() empties the list anyway)
    assert_same_run(first, tmp_path / "again")


def _killed_driver(config: Path, run_dir: Path, kill_at: int, where: str = "stepped") -> dict:
    """Play `config` into `run_dir` in a driver process that SIGKILLs itself (killable_driver.py)."""
    env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address, PYTHONPATH=str(REPO))
    killed = subprocess.run([sys.executable, str(HERE / "killable_driver.py"), str(config), str(run_dir), str(kill_at),
                             where], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (run_dir / "summary.json").exists()
    wait_for_orphans(run_dir)
    return env


def test_sigkilled_driver_resumes_to_the_same_result(clean_run, tmp_path):
    config, first = clean_run
    run_dir = tmp_path / "killed"
    env = _killed_driver(config, run_dir, 3)
    assert (run_dir / "checkpoints" / "ckpt-000002.json").is_file()
    assert not (run_dir / "checkpoints" / "ckpt-000003.json").exists()  # killed before window 3's checkpoint
    resumed = subprocess.run([sys.executable, str(REPO / "jobs" / "run_active.py"), "--resume", str(run_dir),
                              "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "llf" in resumed.stdout and "learning curve" in resumed.stdout
    assert_same_run(first, run_dir)


def test_driver_killed_before_the_first_checkpoint_resumes_to_the_same_result(clean_run, tmp_path):
    config, first = clean_run
    run_dir = tmp_path / "killed"
    _killed_driver(config, run_dir, 0)
    assert len(ledger(run_dir / "full")) == 16  # window 0's labels were paid ...
    assert not list((run_dir / "checkpoints").glob("ckpt-*"))  # ... and nothing was checkpointed
    run_active(None, resume=run_dir, progress=False)
    assert_same_run(first, run_dir)


def test_driver_killed_in_the_middle_of_a_checkpoint_write_resumes_to_the_same_result(clean_run, tmp_path):
    config, first = clean_run
    run_dir = tmp_path / "killed"
    _killed_driver(config, run_dir, 3, "checkpoint")
    folder = run_dir / "checkpoints"
    assert (folder / "ckpt-000003.safetensors").is_file() and not (folder / "ckpt-000003.json").exists()
    assert (folder / "LATEST").read_text().strip() == "ckpt-000002"
    run_active(None, resume=run_dir, progress=False)
    assert_same_run(first, run_dir)


def _fresh(config: Path, tmp_path: Path, **sections) -> ActiveRun:
    """The tiny config on an empty feature cache: every chunk is a miss, so the scorers must work."""
    model = Path(yaml.safe_load(config.read_text())["scoring"]["model"])
    return ActiveRun(load_config(tiny_config(tmp_path, model, tmp_path / "fresh_cache", **sections)),
                     tmp_path / "run", progress=False)


class ChunkKiller:
    """Crash the scorer that holds pool chunk 1 (rows 48..95) while the chunk is certainly unfinished.

    With prefetch 2 windows of 16 rows, chunk 1 is submitted in window 1 (before the window's game step).
    In window 0's hook, with every scorer idle, the scorer that will get the chunk is frozen (SIGSTOP);
    in window 1's hook its process is SIGKILLed: it dies holding the chunk it could not start.
    """

    def __init__(self, run: ActiveRun, scorer: int) -> None:
        self.run, self.scorer, self.pid, self.unfinished = run, scorer, None, None

    def __call__(self, stage: str, window: int) -> None:
        if stage == "stepped" and window == 0:
            self.pid = self.run.features.scorer_info()[self.scorer]["pid"]
            os.kill(self.pid, signal.SIGSTOP)
        if stage == "stepped" and window == 1:
            self.unfinished = not ray.wait([self.run.features.in_flight[("pool", 1)]], timeout=0)[0]
            os.kill(self.pid, signal.SIGKILL)


@pytest.mark.parametrize("max_restarts, resubmitted", [(3, 0), (0, 1)], ids=["ray-retry", "resubmitted"])
def test_a_scorer_killed_while_it_holds_a_chunk_has_the_chunk_redone(clean_run, tmp_path, max_restarts, resubmitted):
    """Two scorers; chunk i goes to scorer i mod 2, so scorer 1 holds pool chunk 1 when it is killed.
    With restarts left, Ray retries the chunk on the restarted replica; with max_restarts 0 the replica
    is gone for good and FeatureSource resubmits the chunk to a fresh ScorerActor."""
    config, first = clean_run
    run = _fresh(config, tmp_path, scoring={"num_scorers": 2}, ray={"max_restarts": max_restarts})
    killer, seen = ChunkKiller(run, scorer=1), {}

    def hook(stage: str, window: int) -> None:
        killer(stage, window)
        if stage == "checkpointed" and window == 5:
            seen["after"] = run.features.scorer_info()

    run.run(on_window=hook)
    assert killer.unfinished
    assert run.features.resubmitted == resubmitted
    # scorer 0: pool chunk 0 and the eval chunk; the new scorer 1 (its counter starts at 0): pool chunk 1
    assert [i["chunks"] for i in seen["after"]] == [2, 1] and seen["after"][1]["pid"] != killer.pid
    assert_same_run(first, tmp_path / "run")


def test_a_replacement_scorer_that_dies_too_is_an_error_and_the_run_resumes(clean_run, tmp_path):
    """max_restarts 0 and the resubmitted chunk's fresh scorer is killed as well: the run stops with Ray's
    actor error instead of waiting forever, and its directory resumes to the uninterrupted result."""
    config, first = clean_run
    run = _fresh(config, tmp_path, ray={"max_restarts": 0})
    killer, killed, stop = ChunkKiller(run, scorer=0), [], threading.Event()

    def kill_replacements(original) -> None:  # the fresh actor is started inside the driver's wait
        while not stop.is_set():
            for actor in list(run.features.actors):
                if actor != original and actor not in killed:
                    killed.append(actor)
                    ray.kill(actor, no_restart=True)
            time.sleep(0.01)

    def hook(stage: str, window: int) -> None:
        if stage == "stepped" and window == 1:
            threading.Thread(target=kill_replacements, args=(run.features.actors[0],), daemon=True).start()
        killer(stage, window)

    try:
        with pytest.raises(RayActorError):
            run.run(on_window=hook)
    finally:
        stop.set()
    assert killer.unfinished and len(killed) == 1 and run.features.resubmitted == 1
    assert not (tmp_path / "run" / "summary.json").exists()
    run_active(None, resume=tmp_path / "run", progress=False)
    assert_same_run(first, tmp_path / "run")


def test_a_killed_follower_is_restarted(clean_run, tmp_path):
    """The follower is killed after window 1's labels were paid: its restarted replica gives the
    uninterrupted run's result."""
    config, first = clean_run
    run = ActiveRun(load_config(config), tmp_path / "run", progress=False)

    def hook(stage: str, window: int) -> None:
        if stage == "stepped" and window == 1:
            ray.kill(run.followers.actors[0], no_restart=False)

    run.run(on_window=hook)
    assert_same_run(first, tmp_path / "run")


def test_killed_leaders_are_restored(clean_run, tmp_path):
    """Every leader is killed after window 3's labels were paid (its theta is ahead of the newest
    checkpoint): the proxy restores the restarted replica and the run ends as if never interrupted."""
    config, first = clean_run
    run = ActiveRun(load_config(config), tmp_path / "run", progress=False)

    def hook(stage: str, window: int) -> None:
        if stage == "stepped" and window == 3:
            for g in run.games.values():
                ray.kill(g.leader_actor, no_restart=False)

    run.run(on_window=hook)
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
