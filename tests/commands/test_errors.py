"""A user error ends any command with one line naming the problem and exit code 2; `--debug` adds the
traceback. Real `stackray` processes; none of these cases starts Ray or loads a model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stackray.cli import main
from stackray.errors import NoNetworkError, describe


def stackray(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stackray.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def assert_one_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


@pytest.fixture
def bad_key_config(tmp_path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "data": {"pool": "openbookqa:train"}, "game": {"betta": 0.1}}))
    return path


def test_bad_config_key_is_one_line(bad_key_config):
    line = assert_one_line(stackray("run", str(bad_key_config)), str(bad_key_config), "betta")
    assert line.startswith("stackray run: error: ")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(bad_key_config, where):
    args = ["--debug", "run", str(bad_key_config)] if where == "before" else ["run", str(bad_key_config), "--debug"]
    proc = stackray(*args)
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr and "betta" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("stackray run: error: ")


@pytest.mark.parametrize("args, words", [
    (["run", "/nonexistent/config.yaml"], ["/nonexistent/config.yaml", "no such config file"]),
    (["run", "--resume", "/nonexistent/run"], ["/nonexistent/run", "nothing to resume"]),
    (["label", "/nonexistent/run"], ["/nonexistent/run"]),
    (["featurize", "--data", "/nonexistent/items.jsonl"], ["/nonexistent/items.jsonl"]),
    (["featurize", "--data", "nosuchset:train"], ["unknown data set 'nosuchset'"]),
    (["simulate", "--T", "0"], ["--T"]),
], ids=["run-config", "resume", "label", "featurize-file", "featurize-set", "simulate"])
def test_missing_files_and_bad_values_are_one_line_in_every_command(args, words):
    assert_one_line(stackray(*args), *words)


def test_hf_spec_without_network_fails_fast_with_what_to_do_instead():
    # Port 9 on localhost refuses connections: a machine whose hub endpoint cannot be reached.
    proc = stackray("featurize", "--data", "hf:allenai/openbookqa:main:test",
                    env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"})
    line = assert_one_line(proc, "hf:allenai/openbookqa:main:test", "no network", "bundled set", ".jsonl")
    assert "openbookqa:train" in line


def test_exit_codes_by_kind():
    from stackray.budget import LabelTimeoutError
    from stackray.errors import Interrupted

    assert describe(NoNetworkError("x"), "p") == (2, "p: error: x")
    assert describe(FileNotFoundError("f: no such file"), "p") == (2, "p: error: f: no such file")
    assert describe(LabelTimeoutError("slow"), "p") == (3, "p: slow")
    assert describe(Interrupted(15, "stopped"), "p") == (143, "stopped")
    code, line = describe(RuntimeError("boom\nmore"), "p")
    assert code == 1 and line.startswith("p: internal error: RuntimeError: boom") and "--debug" in line


def test_main_returns_the_code_in_process(bad_key_config, capsys):
    assert main(["run", str(bad_key_config)]) == 2
    assert "betta" in capsys.readouterr().err
