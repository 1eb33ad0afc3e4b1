"""Ctrl-C and SIGTERM sent to a real `stackray run` while it waits for an annotator.

The run (tiny model, human oracle, 4 labels) is a subprocess with its own embedded Ray. After two
answers it waits for the third; then it gets the signal. It must end with exactly one line, exit 130
or 143, print no traceback, leave no process of its Ray behind, and a `--resume` answered by the
same annotator must end exactly like a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))  # the run tests' helpers

from runs import ledger, thetas, tiny_config  # noqa: E402
from stackray.budget import append_answer, pending_requests  # noqa: E402
from stackray.data import load_items  # noqa: E402

pytestmark = pytest.mark.slow
HUMAN = {"strategies": ["llf"], "game": {"beta": 0.05, "window": 16},  # 4 labels
         "oracle": {"kind": "human", "timeout": 600, "poll": 0.05}}   # a hang would last 10 minutes
PATIENCE_S = 300  # for Ray to start and the run to reach its next question on a busy machine
EXIT_S = 60  # an interrupted run that needs longer than this did not act on the signal


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(config path, round's item id -> gold answer) of the human-oracle tiny run."""
    from tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("interrupts")
    model = build_tiny_model(tmp_path_factory.mktemp("tiny_model"))
    cache = Path(os.environ.get("STACKRAY_CACHE") or root / "cache")
    config = tiny_config(root, model, cache, **HUMAN)
    gold = {it.id: it.answer for it in load_items("openbookqa:train", limit=96, seed=0, shuffle=True)}
    return config, gold


class Run:
    """A `stackray run` subprocess, tagged so that every process of its Ray can be found."""

    def __init__(self, folder: Path, *args: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.mark = f"STACKRAY_TEST_RUN={uuid.uuid4().hex}"
        env = {**os.environ, self.mark.split("=")[0]: self.mark.split("=")[1]}
        env.pop("RAY_ADDRESS", None)
        self.out, self.err = folder / "stdout", folder / "stderr"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "stackray.cli", "run", *args, "--no-progress"],
                                         stdout=out, stderr=err, env=env)

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def leftovers(self) -> list[int]:
        """Live processes that inherited this run's tag (the driver, Ray's daemons and workers)."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and self.mark.encode() in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return found


def _answer(run_dir: Path, gold: dict, run: Run, answers: int | None) -> None:
    """Answer pending questions like an annotator: `answers` of them, then wait for one more to be
    pending (None: answer until the run exits)."""
    given, deadline = 0, time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        assert answers is None or run.proc.poll() is None, run.stderr()
        if answers is None and run.proc.poll() is not None:
            return
        todo = pending_requests(run_dir) if (run_dir / "requests.jsonl").exists() else []
        if todo and answers is not None and given == answers:
            return
        for req in todo[:1]:
            append_answer(run_dir, req.round, gold[req.item])
            given += 1
        time.sleep(0.05)
    pytest.fail(f"the run did not get that far in {PATIENCE_S} s:\n{run.stderr()}")


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    """The reference run, started at once and answered in a background thread, so that it plays while the
    first test's run starts (each has its own Ray); `result()` waits for it and re-raises its failure."""
    config, gold = setup
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"

    def play() -> Path:
        run = Run(run_dir.parent / "logs", str(config), "--run-dir", str(run_dir))
        _answer(run_dir, gold, run, None)
        assert run.proc.wait() == 0, run.stderr()
        return run_dir

    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(play)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_during_an_annotator_wait_ends_cleanly_and_resumes_identically(setup, uninterrupted, tmp_path, signum, code):
    config, gold = setup
    run_dir = tmp_path / "run"
    run = Run(tmp_path / "logs", str(config), "--run-dir", str(run_dir))
    _answer(run_dir, gold, run, 2)  # now it waits for the third label
    sent = time.monotonic()
    run.proc.send_signal(signum)
    try:
        assert run.proc.wait(timeout=EXIT_S) == code, run.stderr()
    except subprocess.TimeoutExpired:
        run.proc.kill()
        pytest.fail(f"still running {EXIT_S} s after the signal:\n{run.stderr()}")
    print(f"{signal.Signals(signum).name}: exited {time.monotonic() - sent:.1f} s after the signal")

    err = run.stderr()
    assert "Traceback" not in err and "SIGTERM received" not in err, err
    paid = len(ledger(run_dir))
    assert paid == 2
    assert err.strip().splitlines()[-1] == f"interrupted after {paid} labels; resume with: stackray run --resume {run_dir}"
    deadline = time.monotonic() + EXIT_S  # Ray's processes are told to go before the driver exits
    while run.leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.leftovers() == []

    resumed = Run(tmp_path / "logs-resume", "--resume", str(run_dir))
    _answer(run_dir, gold, resumed, None)
    assert resumed.proc.wait() == 0, resumed.stderr()
    reference = uninterrupted.result(timeout=PATIENCE_S)
    assert ledger(run_dir) == ledger(reference)
    for key, theta in thetas(reference).items():
        np.testing.assert_allclose(thetas(run_dir)[key], theta, rtol=0, atol=1e-9, err_msg=key)
    assert (run_dir / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()
    rows = [json.loads((d / "summary.json").read_text())["rows"] for d in (run_dir, reference)]
    assert rows[0] == rows[1]
