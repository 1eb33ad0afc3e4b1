"""What a run directory gives the server (stackray.serve.artifacts), and the command's refusals before Ray starts."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from stackray.cli import main
from stackray.run.config_io import ConfigError
from stackray.serve.artifacts import base_fingerprint, load_served_run

pytestmark = pytest.mark.slow


def _copy(finished_run, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished_run.run_dir, tmp_path / "run"))


def test_the_served_head_and_a_versioned_id(finished_run):
    served = load_served_run(finished_run.run_dir)
    heads = load_file(finished_run.run_dir / "heads.safetensors")
    np.testing.assert_array_equal(served.theta, heads["llf/served"])
    summary = json.loads((finished_run.run_dir / "summary.json").read_text())
    assert served.head == summary["rows"][0]["served"]
    sha = hashlib.sha256((finished_run.run_dir / "heads.safetensors").read_bytes()).hexdigest()
    assert served.model_id == f"smoke@{sha[:12]}"
    assert served.A_inv.shape == (served.theta.size, served.theta.size)
    assert served.adapter is None


def test_serving_reads_the_run_and_writes_nothing(finished_run):
    before = {p: p.stat().st_mtime_ns for p in finished_run.run_dir.rglob("*")}
    load_served_run(finished_run.run_dir)
    assert {p: p.stat().st_mtime_ns for p in finished_run.run_dir.rglob("*")} == before


def test_an_unfinished_run_is_refused(finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    (run_dir / "summary.json").unlink()
    with pytest.raises(ConfigError, match="no summary.json; only a finished run can be served"):
        load_served_run(run_dir)
    with pytest.raises(ConfigError, match="no such run directory"):
        load_served_run(tmp_path / "nowhere")


def test_a_directory_of_several_orders_names_one_to_serve(finished_run, tmp_path):
    import yaml

    top = tmp_path / "orders"
    top.mkdir()
    doc = yaml.safe_load((finished_run.run_dir / "config.yaml").read_text())
    doc["data"]["orders"] = 2
    (top / "config.yaml").write_text(yaml.safe_dump(doc))
    (top / "summary.json").write_text(json.dumps({"rows": [], "orders": [str(top / "order-0"), str(top / "order-1")]}))
    with pytest.raises(ConfigError, match=r"holds 2 orders .* serve one of them, e\.g\. .*order-0"):
        load_served_run(top)


def _adapter(run_dir: Path, base: str, weights: bytes = b"not really a lora", recorded: str | None = None) -> Path:
    folder = run_dir / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(weights)
    fingerprint = recorded or hashlib.sha256(weights).hexdigest()
    (folder / "stackray_adapter.json").write_text(json.dumps({"base_fingerprint": base, "adapter_fingerprint": fingerprint}))
    return folder


def test_an_adapter_versions_the_id_and_must_match_the_base(finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    base = base_fingerprint(None)  # the contract: the base's fingerprint as stackray.scoring.models gives it
    folder = _adapter(run_dir, base)
    served = load_served_run(run_dir)
    assert served.adapter == str(folder)
    assert served.model_id == f"smoke@{hashlib.sha256(b'not really a lora').hexdigest()[:12]}"

    (folder / "stackray_adapter.json").write_text(json.dumps({"base_fingerprint": "0" * 64,
                                                              "adapter_fingerprint": served.model_id[-12:] * 5}))
    with pytest.raises(ConfigError, match="differs from adapter_fingerprint"):
        load_served_run(run_dir)
    shutil.rmtree(folder)
    _adapter(run_dir, "0" * 64)
    with pytest.raises(ConfigError, match="refusing to apply it to another base"):
        load_served_run(run_dir)


def test_the_command_refuses_before_starting_anything(finished_run, tmp_path, capsys):
    assert main(["serve", str(finished_run.run_dir), "--host", "0.0.0.0"]) == 2
    assert "needs a token (--token-file FILE)" in capsys.readouterr().err
    short = tmp_path / "token"
    short.write_text("abc\n")
    assert main(["serve", str(finished_run.run_dir), "--host", "0.0.0.0", "--token-file", str(short)]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert main(["serve", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "only a finished run can be served" in err and "Traceback" not in err
    if importlib.util.find_spec("vllm") is None:
        assert main(["serve", str(finished_run.run_dir), "--backend", "vllm"]) == 2
        err = capsys.readouterr().err
        assert "--backend vllm: vLLM is not installed" in err and "Traceback" not in err


def test_two_directories_with_the_same_model_are_refused(finished_run, tmp_path):
    from stackray.serve.app import build_from_config
    from stackray.serve.config import serve_config

    copy = _copy(finished_run, tmp_path)
    with pytest.raises(ConfigError, match="are the same model smoke@"):
        build_from_config(serve_config({"run_dirs": [str(finished_run.run_dir), str(copy)]}))
