"""A human-oracle run (file queue): it waits for answers with a timeout, is resumed after one, survives
a budget coordinator restart while a label is pending and a SIGKILL of its driver, refuses a second
driver on the same run directory at once, and works with `stackray label RUN_DIR`.

Runs played in a thread go through `Driver`, which re-raises the thread's exception in the test. The
waits are bounded by DEADLINE_S, derived from a measurement: a whole human-oracle run of this module
(start-up, 6 windows, 4 answers, a coordinator restart) took 9.2 s on 2 cores under a load average of
about 15 (other test sessions running), and a SIGKILLed run plus its resume 11.6 s. DEADLINE_S is 10x
that, so that only a hang, not a slow machine, fails a test; each wait has its own DEADLINE_S."""

from __future__ import annotations

import argparse
import io
import os
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray

from runs import ledger, tiny_config, wait_for_orphans
from stackray.budget import FileLockedError, LabelTimeoutError, append_answer, pending_requests, read_requests
from stackray.commands import label
from stackray.data import load_items
from stackray.run import ActiveRun, load_config, run_active

pytestmark = pytest.mark.slow
SMALL = {"strategies": ["llf"], "game": {"beta": 0.05, "window": 16}}  # 4 labels
DEADLINE_S = 100.0  # see the module docstring: ~10x a measured whole run
HERE = Path(__file__).parent
REPO = HERE.parent.parent


class Driver:
    """`run.run()` in a thread; `join()` waits for it and re-raises its exception here, in the test."""

    def __init__(self, run: ActiveRun) -> None:
        self.doc, self.error = None, None
        self.thread = threading.Thread(target=self._play, args=(run,), daemon=True)
        self.thread.start()

    def _play(self, run: ActiveRun) -> None:
        try:
            self.doc = run.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread by join()
            self.error = exc

    def alive(self) -> bool:
        if not self.thread.is_alive() and self.error is not None:
            raise self.error
        return self.thread.is_alive()

    def join(self) -> dict:
        self.thread.join(timeout=DEADLINE_S)
        assert not self.thread.is_alive(), f"the run did not finish within {DEADLINE_S} s"
        if self.error is not None:
            raise self.error
        return self.doc


def wait_for_request(run_dir: Path, driver: Driver) -> None:
    """Until the run has asked a question no answer answers yet (the driver is then waiting)."""
    deadline = time.monotonic() + DEADLINE_S
    while not (run_dir / "requests.jsonl").exists() or not pending_requests(run_dir):
        assert driver.alive(), "the run ended without asking"
        assert time.monotonic() < deadline, f"no label request within {DEADLINE_S} s"
        time.sleep(0.05)


def answer_until_done(run_dir: Path, gold_of: dict, driver: Driver) -> dict:
    """Answer every request with its gold answer while the run plays; the run's summary."""
    deadline = time.monotonic() + DEADLINE_S
    while driver.alive():
        assert time.monotonic() < deadline, f"the run did not finish within {DEADLINE_S} s"
        for req in pending_requests(run_dir):
            append_answer(run_dir, req.round, gold_of[req.item])
        time.sleep(0.05)
    return driver.join()


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
    run = ActiveRun(load_config(_human(tmp_path, tiny_model, tiny_cache, timeout=DEADLINE_S)), run_dir, progress=False)
    driver = Driver(run)
    wait_for_request(run_dir, driver)
    ray.kill(run.games["llf"].coordinator, no_restart=False)  # it is blocked waiting for the annotator
    assert answer_until_done(run_dir, gold_of, driver)["rows"][0]["labels_used"] == 4
    assert ledger(run_dir) == ledger(gold_run)
    rounds = [r.round for r in read_requests(run_dir)]
    assert len(rounds) == len(set(rounds))


def test_sigkilled_human_run_resumes_and_a_second_driver_is_refused(gold_run, gold_of, tiny_model, tiny_cache,
                                                                     tmp_path):
    """The driver is SIGKILLed right after its first label was paid (before that window's checkpoint).
    Its resume asks only rounds nobody answered; while it waits for one, a second driver on the same run
    directory is refused at once, naming the lock and its holder; the answers then finish the run as if
    it had never been interrupted."""
    run_dir = tmp_path / "run"
    config = _human(tmp_path, tiny_model, tiny_cache, timeout=DEADLINE_S)
    gold_rounds = [paid[0] for paid in ledger(gold_run)]
    kill_at = gold_rounds[0] // 16  # the window of the first label; later windows still have some to ask
    assert gold_rounds[-1] // 16 > kill_at
    env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address, PYTHONPATH=str(REPO))
    killed = subprocess.Popen([sys.executable, str(HERE / "killable_driver.py"), str(config), str(run_dir), str(kill_at)],
                              env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "driver.err").open("w"))
    deadline = time.monotonic() + DEADLINE_S
    try:
        while killed.poll() is None:
            assert time.monotonic() < deadline, f"the killable driver did not die within {DEADLINE_S} s"
            for req in pending_requests(run_dir) if (run_dir / "requests.jsonl").exists() else []:
                append_answer(run_dir, req.round, gold_of[req.item])
            time.sleep(0.05)
    finally:
        if killed.poll() is None:
            killed.kill()
        killed.wait()
    assert killed.returncode == -9, (tmp_path / "driver.err").read_text()[-2000:]
    paid = ledger(run_dir)
    assert paid and paid == ledger(gold_run)[: len(paid)]
    asked = len(read_requests(run_dir))
    wait_for_orphans(run_dir)

    resumed = Driver(ActiveRun(None, run_dir, resume=True, progress=False))
    wait_for_request(run_dir, resumed)
    with pytest.raises(FileLockedError, match=rf"another run is playing this run directory \(pid {os.getpid()} \(.*run\.lock"):
        ActiveRun(None, run_dir, resume=True, progress=False).run()
    answer_until_done(run_dir, gold_of, resumed)
    assert ledger(run_dir) == ledger(gold_run)
    rounds = [r.round for r in read_requests(run_dir)]
    assert len(rounds) == len(set(rounds)) > asked  # nobody was asked a question twice
