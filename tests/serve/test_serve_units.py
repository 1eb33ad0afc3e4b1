"""The pieces of the server that need no model: stop sequences, request limits, the serve config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stackray.run.config_io import ConfigError
from stackray.serve.config import Limits, is_loopback, serve_config
from stackray.serve.http_errors import from_validation
from stackray.serve.schemas import ChatRequest, ScoreRequest
from stackray.serve.textgen import StopScanner


def _scan(stop: tuple[str, ...], pieces: list[str]) -> tuple[list[str], bool]:
    s = StopScanner(stop)
    out = [s.feed(p) for p in pieces] + [s.flush()]
    return out, s.stopped


def test_stop_sequences_cut_the_text_even_across_pieces():
    out, stopped = _scan(("\n\n",), ["Paris", ".\n", "\nMore"])
    assert "".join(out) == "Paris." and stopped
    assert out[1] == "."  # the "\n" that may start a stop is held back, not sent early
    out, stopped = _scan(("END",), ["a E", "N", "d"])
    assert "".join(out) == "a ENd" and not stopped  # a prefix that did not become a stop is released
    out, stopped = _scan(("x", "yz"), ["ab yz x"])
    assert "".join(out) == "ab " and stopped


def _problem(model, doc, limits=Limits()):
    with pytest.raises(ValidationError) as err:
        model.model_validate(doc, context={"limits": limits})
    e = from_validation(err.value)
    return e.status, e.param, e.message


def test_limits_and_types_name_the_field():
    msg = [{"role": "user", "content": "hi"}]
    assert _problem(ChatRequest, {"model": "m", "messages": msg, "max_tokens": "5"})[:2] == (400, "max_tokens")
    assert _problem(ChatRequest, {"model": "m", "messages": msg, "max_tokens": 10**6})[1] == "max_tokens"
    assert _problem(ChatRequest, {"model": "m", "messages": msg, "temprature": 1})[2] == "unknown field 'temprature'"
    assert _problem(ChatRequest, {"model": "m", "messages": [{"role": "user", "content": "  "}]})[1] == "messages[0].content"
    q = {"question": "q", "options": ["a", "b", "c"]}
    assert _problem(ScoreRequest, {"questions": [q]}, Limits(max_options=2))[1] == "questions[0].options"
    assert _problem(ScoreRequest, {"questions": [q] * 3}, Limits(max_questions=2))[1] == "questions"
    assert ChatRequest.model_validate({"model": "m", "messages": msg, "temperature": 0}).payload(Limits())["max_tokens"] == 64


def test_serve_config_names_bad_keys():
    assert serve_config({"run_dir": "/r"}).run_dirs == ["/r"]
    with pytest.raises(ConfigError, match="unknown key max_tokenz"):
        serve_config({"run_dir": "/r", "max_tokenz": 3})
    with pytest.raises(ConfigError, match="limits: default_max_tokens"):
        serve_config({"run_dir": "/r", "limits": {"max_tokens": 8, "default_max_tokens": 9}})
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_the_backend_is_chosen_by_the_replicas_own_environment():
    """auto: vLLM only on a GPU where it imports; an explicit vllm without vLLM says how to get it."""
    import importlib.util

    from stackray.serve.engine import resolve_backend

    has_vllm = importlib.util.find_spec("vllm") is not None
    assert resolve_backend("auto", 0.0) == "transformers"
    assert resolve_backend("auto", 1.0) == ("vllm" if has_vllm else "transformers")
    assert resolve_backend("transformers", 1.0) == "transformers"
    if not has_vllm:
        with pytest.raises(ValueError, match="vLLM is not installed"):
            resolve_backend("vllm", 1.0)
    assert serve_config({"run_dir": "/r"}).backend == "auto"
    with pytest.raises(ConfigError, match="backend"):
        serve_config({"run_dir": "/r", "backend": "vlm"})


@pytest.mark.parametrize("path", ["configs/serve.yaml", "cluster/kuberay/rayservice.yaml"])
def test_shipped_serve_configs_are_valid(path):
    """Ray's own schema accepts the Serve config, and build_app's args are a valid ServeConfig."""
    from pathlib import Path

    import yaml
    from ray.serve.schema import ServeDeploySchema

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / path).read_text())
    serve_doc = yaml.safe_load(doc["spec"]["serveConfigV2"]) if doc.get("kind") == "RayService" else doc
    ServeDeploySchema.model_validate(serve_doc)
    (app,) = serve_doc["applications"]
    assert app["import_path"] == "stackray.serve.app:build_app"
    config = serve_config(app["args"], source=path)
    assert all(Path(d).is_absolute() for d in config.run_dirs)
