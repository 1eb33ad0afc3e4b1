"""A run with LoRA phases on Ray, with the tiny random model: phases after the labels cross each
multiple of `lora.every` and at the end, the adapter artefact, hot-reloaded scorers, a refit leader,
the phases in the metrics and the summary; and a driver SIGKILLed right after a phase (before its
checkpoint) resumes to the same ledger, head and metrics, reusing the adapter it had finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml

from runs import assert_same_run, ledger, summary, tiny_config, wait_for_orphans
from stackray.run import run_active
from stackray.train import read_adapter_meta

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
REPO = HERE.parent.parent
LORA = {"enabled": True, "every": 8, "epochs": 1, "batch_size": 8, "max_steps": 2, "threads": 1, "max_length": 64,
        "lr": 0.01}


@pytest.fixture(scope="module")
def lora_run(ray_local, tiny_model, tiny_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    config = tiny_config(root, tiny_model, tiny_cache, strategies=["random"], lora=LORA)
    run_active(config, run_dir=root / "run", progress=False)
    return config, root / "run"


def test_phases_run_every_few_labels_and_at_the_end(lora_run):
    _, run_dir = lora_run
    doc = summary(run_dir)
    phases = doc["lora"]["phases"]
    total = len(ledger(run_dir))
    assert total == doc["rows"][0]["labels_used"] > 8
    assert [p["version"] for p in phases] == list(range(1, len(phases) + 1)) and len(phases) >= 2
    before = 0
    for p in phases:  # each phase follows a window whose labels crossed a multiple of 8, or ends the run
        assert p["labels"] // 8 > before // 8 or (p["labels"] == total and p["rounds"] == 96), phases
        assert p["rounds"] % 16 == 0 and p["steps"] == 2 and p["loss"] is not None
        before = p["labels"]
    assert phases[-1]["labels"] == total and doc["lora"]["trained_on"] == total
    assert json.loads((run_dir / "lora_phases.json").read_text()) == phases
    metrics = [yaml.safe_load(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    versions = [m["adapter_version"] for m in metrics]
    assert versions == sorted(versions) and versions[0] == 0 and versions[-1] == len(phases)
    assert doc["lora"]["lora_alone_accuracy"] is not None


def test_the_adapter_artefact_is_the_last_phase_and_names_its_base(lora_run):
    from stackray.scoring.models import resolve_model

    _, run_dir = lora_run
    record = read_adapter_meta(run_dir / "adapter")
    phases = summary(run_dir)["lora"]["phases"]
    assert record == read_adapter_meta(run_dir / "adapters" / f"v{len(phases):04d}")
    assert record["version"] == len(phases) and record["labels"] == phases[-1]["labels"]
    model = yaml.safe_load((run_dir / "config.yaml").read_text())["scoring"]["model"]
    assert record["base_fingerprint"] == resolve_model(model).fingerprint()
    assert record["adapter_fingerprint"] == summary(run_dir)["lora"]["phases"][-1]["adapter_fingerprint"]
    assert len({read_adapter_meta(run_dir / "adapters" / f"v{p['version']:04d}")["adapter_fingerprint"]
                for p in phases}) == len(phases)


def test_a_driver_killed_right_after_a_phase_resumes_to_the_same_run_reusing_the_adapter(lora_run, tmp_path):
    config, first = lora_run
    run_dir = tmp_path / "killed"
    env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address, PYTHONPATH=str(REPO))
    kill_at = summary(first)["lora"]["phases"][0]["rounds"] // 16 - 1  # the window the first phase follows
    killed = subprocess.run([sys.executable, str(HERE / "killable_driver.py"), str(config), str(run_dir), str(kill_at)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    weights = run_dir / "adapters" / "v0001" / "adapter_model.safetensors"
    assert weights.is_file() and not (run_dir / "checkpoints" / f"ckpt-{kill_at:06d}.json").exists()
    written = weights.stat().st_mtime_ns
    wait_for_orphans(run_dir)
    run_active(None, resume=run_dir, progress=False)
    assert weights.stat().st_mtime_ns == written  # the finished phase was reused, not retrained
    assert_same_run(first, run_dir, strategies=("",))
    assert summary(run_dir)["lora"]["phases"][-1]["adapter_fingerprint"] == \
        summary(first)["lora"]["phases"][-1]["adapter_fingerprint"]
