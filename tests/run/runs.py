"""Helpers shared by the run tests: a tiny-model config written to disk, and run-directory readers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import yaml
from safetensors.numpy import load_file

from stackray.budget import read_ledger
from stackray.io import lock_holder


def tiny_config(folder: Path, model: Path, cache: Path, **sections) -> Path:
    """96 OpenBookQA pool questions, 40 held out, windows of 16, two pool chunks of 48, beta 0.2."""
    doc = {
        "name": "tiny",
        "data": {"pool": "openbookqa:train", "pool_limit": 96, "eval": "openbookqa:test", "eval_limit": 40},
        "scoring": {"model": str(model), "chunk": 48, "cache_dir": str(cache), "threads": 1},
        "game": {"beta": 0.2, "window": 16, "c": 1.0},
        "strategies": ["llf", "random", "full", "zero_shot"],
        "run": {"eval_every": 2, "progress": False},
    }
    for key, value in sections.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.in.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def ledger(folder: Path) -> list[tuple]:
    """(round, item, answer, cost) of every paid label, in the order paid (the time stamp differs per run)."""
    return [(e.round, e.item, e.answer, e.cost) for e in read_ledger(folder / "ledger.jsonl")]


def thetas(run_dir: Path) -> dict[str, np.ndarray]:
    return {k: v for k, v in load_file(run_dir / "heads.safetensors").items() if k.endswith("/theta")}


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def assert_same_run(a: Path, b: Path, strategies=("llf", "random", "full", "zero_shot")) -> None:
    """Same theta (1e-9), same ledger and same metrics for two runs of one config."""
    ta, tb = thetas(a), thetas(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        np.testing.assert_allclose(ta[k], tb[k], rtol=0, atol=1e-9, err_msg=k)
    for s in strategies:
        assert ledger(a / s) == ledger(b / s), s
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()


def wait_for_orphans(run_dir: Path, deadline_s: float = 120.0) -> None:
    """Until Ray has ended a SIGKILLed driver's actors. Its budget coordinators hold the ledger (and
    request queue) locks until then, so a resume started within that moment is refused with a
    FileLockedError naming the holder: right for a user, a race for a test that resumes at once."""
    deadline = time.monotonic() + deadline_s
    while held := [(p, lock_holder(p)) for p in run_dir.rglob("*.jsonl") if lock_holder(p)]:
        assert time.monotonic() < deadline, f"still locked after {deadline_s} s: {held}"
        time.sleep(0.1)
