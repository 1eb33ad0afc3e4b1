"""Errors raised inside Ray actors reach the driver as the actor's own exception (`stackray.errors.ray_get`),
and a garbage line in the middle of a ledger ends `stackray run --resume` with one line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml
from ray.exceptions import GetTimeoutError, RayActorError

from stackray.data.jsonl import DataError
from stackray.errors import ray_get, rebuild_from_text

pytestmark = pytest.mark.slow


class Unpicklable(ValueError):
    """Like a DataError before it could be pickled: its constructor takes other arguments than its args."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


@ray.remote(num_cpus=0)
class Failing:
    def __init__(self, fail_in_init: str = "") -> None:
        if fail_in_init == "unpicklable":  # Ray cannot rebuild it: UnserializableException
            raise Unpicklable("/runs/x/ledger.jsonl:2", "not valid JSON")
        if fail_in_init == "value_error":  # Ray keeps only its text: ActorDiedError
            raise ValueError("/runs/x/ledger.jsonl:2: not valid JSON")

    def value_error(self) -> None:
        raise ValueError("config.yaml: game.beta: must be in (0, 1]")

    def unpicklable(self) -> None:
        raise Unpicklable("/runs/x/ledger.jsonl:2", "not valid JSON")

    def data_error(self) -> None:
        raise DataError("/runs/x/ledger.jsonl", 2, None, "not valid JSON")

    def slow(self, seconds: float) -> int:
        time.sleep(seconds)
        return 7


@pytest.fixture(scope="module")
def ray_up():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    if not ray.is_initialized():  # the same settings as the run tests' session-wide Ray
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    yield


@pytest.mark.parametrize("method, cls, message", [
    ("value_error", ValueError, "config.yaml: game.beta: must be in (0, 1]"),
    ("unpicklable", Unpicklable, "/runs/x/ledger.jsonl:2: not valid JSON"),
    ("data_error", DataError, "/runs/x/ledger.jsonl:2: not valid JSON"),
])
def test_an_actor_method_error_arrives_as_itself(ray_up, method, cls, message):
    actor = Failing.remote()
    with pytest.raises(cls) as info:
        ray_get(getattr(actor, method).remote())
    assert type(info.value) is cls and str(info.value) == message


@pytest.mark.parametrize("kind, cls", [("unpicklable", Unpicklable), ("value_error", ValueError)])
def test_an_actor_constructor_error_arrives_as_itself(ray_up, kind, cls):
    actor = Failing.remote(kind)
    with pytest.raises(cls) as info:
        ray_get(actor.slow.remote(0))
    assert type(info.value) is cls and str(info.value) == "/runs/x/ledger.jsonl:2: not valid JSON"


def test_a_killed_actor_stays_a_ray_error_and_a_timeout_is_kept(ray_up):
    actor = Failing.remote()
    assert ray_get(actor.slow.remote(0)) == 7
    with pytest.raises(GetTimeoutError):
        ray_get(actor.slow.remote(30), timeout=0.5)
    ray.kill(actor)
    with pytest.raises(RayActorError):  # callers restart actors on this one: it must not be unwrapped
        ray_get(actor.slow.remote(0))


def test_rebuild_from_text_takes_the_first_loaded_non_ray_exception():
    text = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
            "stackray.data.jsonl.DataError: ledger.jsonl:2: not valid JSON\n\n"
            "During handling of the above exception, another exception occurred:\n\n"
            "ray.exceptions.ActorDiedError: The actor died\n")
    rebuilt = rebuild_from_text(text)
    assert type(rebuilt) is DataError and str(rebuilt) == "ledger.jsonl:2: not valid JSON"
    assert rebuild_from_text("nowhere.NotLoaded: x\nRuntimeErrorish text") is None
    assert type(rebuild_from_text("PermissionError: /runs/x: denied")) is PermissionError


def test_garbage_mid_ledger_ends_resume_with_one_line(tmp_path):
    """A run directory whose ledger has a broken second line: the coordinator fails in its constructor."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))
    from runs import tiny_config
    from tiny_model import build_tiny_model

    from stackray.data import load_items
    from stackray.run import load_config

    model = build_tiny_model(tmp_path / "tiny_model")
    cache = Path(os.environ.get("STACKRAY_CACHE") or tmp_path / "cache")
    config = load_config(tiny_config(tmp_path, model, cache, strategies=["llf"], game={"beta": 0.05, "window": 16}))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    item = load_items("openbookqa:train", limit=96, seed=0, shuffle=True)[0]
    good = json.dumps({"round": 0, "item": item.id, "answer": item.answer, "cost": 1.0, "time": 1.0})
    (run_dir / "ledger.jsonl").write_text(f"{good}\n{{garbage\n{good}\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-m", "stackray.cli", "run", "--resume", str(run_dir), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"stackray run: error: {run_dir / 'ledger.jsonl'}:2"), proc.stderr
