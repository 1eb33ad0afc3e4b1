"""A human-oracle run (file queue): it waits for answers with a timeout, is resumed after one, survives
a budget coordinator restart while a label is pending, and works with `stackray label RUN_DIR`."""

from __future__ import annotations

import argparse
import io
import string
import threading
import time

import pytest
import ray

from runs import ledger, tiny_config
from stackray.budget import LabelTimeoutError, append_answer, pending_requests, read_requests
from stackray.commands import label
from stackray.data import load_items
from stackray.run import ActiveRun, load_config, run_active

pytestmark = pytest.mark.slow
SMALL = {"strategies": ["llf"], "game": {"beta": 0.05, "window": 16}}  # 4 labels


@pytest.fixture(scope="module")
def gold_of(ray_local):
    return {it.id: it.answer for it in load_items("openbookqa:train", limit=96, seed=0, shuffle=True)}


@pytest.fixture(scope="module")
def gold_run(ray_local, tiny_model, tiny_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("gold_llf")
    run_active(tiny_config(root, tiny_model, tiny_cache, **SMALL), run_dir=root / "run", progress=False)
    return root / "run"


def _human(tmp_path, tiny_model, tiny_cache, timeout: float):
    return tiny_config(tmp_path, tiny_model, tiny_cache, **SMALL,
                       oracle={"kind": "human", "timeout": timeout, "poll": 0.05})


def test_timeout_then_label_command_then_resume(gold_run, gold_of, tiny_model, tiny_cache, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(LabelTimeoutError, match=r"stackray label .*--resume"):
        run_active(_human(tmp_path, tiny_model, tiny_cache, timeout=0.3), run_dir=run_dir, progress=False)
    for _ in range(10):
        todo = pending_requests(run_dir)
        assert len(todo) == 1  # the door asks one round at a time, and only rounds the gate paid for
        typed = "".join(string.ascii_uppercase[gold_of[r.item]] + "\n" for r in todo)
        out = io.StringIO()
        label.run(argparse.Namespace(run_dir=run_dir, watch=False, poll=1.0), inp=io.StringIO(typed), out=out)
        assert "0 pending" in out.getvalue()
        try:
            run_active(None, resume=run_dir, progress=False)
            break
        except LabelTimeoutError:
            continue
    assert ledger(run_dir) == ledger(gold_run)
    rounds = [r.round for r in read_requests(run_dir)]
    assert len(rounds) == len(set(rounds)) == len(ledger(run_dir))  # no question put twice


def test_coordinator_restart_while_a_label_is_pending(gold_run, gold_of, tiny_model, tiny_cache, tmp_path):
    run_dir = tmp_path / "run"
    run = ActiveRun(load_config(_human(tmp_path, tiny_model, tiny_cache, timeout=60)), run_dir, progress=False)
    outcome = {}
    driver = threading.Thread(target=lambda: outcome.update(doc=run.run()), daemon=True)
    driver.start()
    deadline = time.monotonic() + 60
    while not (run_dir / "requests.jsonl").exists() or not pending_requests(run_dir):
        assert time.monotonic() < deadline and driver.is_alive()
        time.sleep(0.05)
    ray.kill(run.games["llf"].coordinator, no_restart=False)  # it is blocked waiting for the annotator
    while driver.is_alive() and time.monotonic() < deadline:
        for req in pending_requests(run_dir):
            append_answer(run_dir, req.round, gold_of[req.item])
        time.sleep(0.05)
    driver.join(timeout=5)
    assert "doc" in outcome
    assert ledger(run_dir) == ledger(gold_run)
    rounds = [r.round for r in read_requests(run_dir)]
    assert len(rounds) == len(set(rounds))
