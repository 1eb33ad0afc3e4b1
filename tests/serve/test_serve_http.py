"""The HTTP API against a REAL Serve instance on the session's Ray (batching does not work in local testing
mode), serving the session's finished run with the real SmolLM2: the `openai` client, /v1/score against
offline `predict`, every kind of bad input, and 16 concurrent clients."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
import numpy as np
import pytest

from stackray.game import predict
from stackray.serve.artifacts import load_served_run

pytestmark = pytest.mark.slow
LIMITS = {"max_tokens": 16, "default_max_tokens": 4, "max_body_bytes": 65536, "max_options": 8, "max_questions": 24}


@pytest.fixture(scope="module")
def server(ray_local, finished_run, free_port):
    """(base URL, token, model id); Serve is shut down when the module ends."""
    from ray import serve

    from stackray.commands.serve import start_serving
    from stackray.serve.app import build_from_config
    from stackray.serve.config import serve_config

    token = secrets.token_urlsafe(24)
    config = serve_config({"run_dir": str(finished_run.run_dir), "port": free_port, "token": token,
                           "limits": LIMITS})
    start_serving(build_from_config(config), config)
    url = f"http://127.0.0.1:{config.port}"
    model = load_served_run(finished_run.run_dir).model_id
    try:
        yield url, token, model
    finally:
        serve.shutdown()


class Http:
    """requests with the server's URL and token filled in."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.session = url, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url + path, timeout=120, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.url + path, timeout=120, **kw)


@pytest.fixture(scope="module")
def http(server):
    url, token, _ = server
    return Http(url, token)


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    url, token, _ = server
    return OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=120)


def test_score_agrees_with_offline_predict(http, server, finished_run):
    _, _, model = server
    served = load_served_run(finished_run.run_dir)
    questions = [{"id": it.id, "question": it.question, "options": list(it.options)} for it in finished_run.eval_items]
    r = http.post("/v1/score", json={"model": model, "questions": questions})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["head"] == served.head and len(body["results"]) == 20
    offline = predict(served.theta, finished_run.eval_phi, finished_run.eval_mask)
    assert [res["choice"] for res in body["results"]] == offline.tolist()
    for res, phi, mask, q in zip(body["results"], finished_run.eval_phi, finished_run.eval_mask, questions):
        assert res["id"] == q["id"] and res["choice_text"] == q["options"][res["choice"]]
        np.testing.assert_allclose(res["scores"], phi[mask] @ served.theta, atol=2e-3)
        assert sum(res["probs"]) == pytest.approx(1.0) and res["width"] >= 0 and res["margin"] >= 0
        assert res["would_ask_label"] == (res["margin"] < served.c * res["width"] and res["width"] >= served.tau)


def test_openai_client_chat_and_completions(client, server):
    _, _, model = server
    assert [m.id for m in client.models.list().data] == [model]
    chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Name a colour."}],
                                          max_tokens=4, temperature=0)
    assert chat.choices[0].message.role == "assistant" and chat.choices[0].message.content
    assert chat.choices[0].finish_reason in ("stop", "length")
    assert chat.usage.completion_tokens <= 4 and chat.usage.prompt_tokens > 5
    chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Name a colour."}],
                                                 max_tokens=4, temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == chat.choices[0].message.content  # greedy: the same text either way
    assert chunks[-1].usage.completion_tokens == chat.usage.completion_tokens
    text = client.completions.create(model=model, prompt="The sun is a", max_tokens=3, temperature=0)
    assert text.choices[0].text and text.usage.total_tokens == text.usage.prompt_tokens + text.usage.completion_tokens
    parts = list(client.completions.create(model=model, prompt="The sun is a", max_tokens=3, temperature=0, stream=True))
    assert "".join(p.choices[0].text for p in parts) == text.choices[0].text


def test_seed_and_stop(client, server):
    _, _, model = server
    ask = dict(model=model, prompt="Once upon a time", max_tokens=8, temperature=1.0, top_p=0.9, seed=7)
    first = client.completions.create(**ask).choices[0].text
    assert client.completions.create(**ask).choices[0].text == first  # same seed, same sample
    cut = first[len(first) // 2:][:3]
    assert cut.strip(), first
    stopped = client.completions.create(**ask, stop=[cut]).choices[0]
    assert stopped.text == first[: first.index(cut)] and stopped.finish_reason == "stop"


def test_sse_ends_with_done(http, server):
    _, _, model = server
    with http.post("/v1/completions", json={"model": model, "prompt": "Hi", "max_tokens": 2, "temperature": 0,
                                            "stream": True}, stream=True) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines(decode_unicode=True) if ln]
    assert lines[-1] == "data: [DONE]" and all(ln.startswith("data: ") for ln in lines)


def _bad_cases(model: str) -> list[tuple[str, dict, int, str | None]]:
    """(path, request kwargs, status, param) for every kind of bad input."""
    msg = [{"role": "user", "content": "hi"}]
    q = {"question": "Which?", "options": ["a", "b"]}
    return [
        ("/v1/chat/completions", {"data": b'{"model": "x", "messages": ['}, 400, None),  # malformed JSON
        ("/v1/chat/completions", {"json": [1, 2]}, 400, None),  # not an object
        ("/v1/chat/completions", {"json": {"model": model}}, 400, "messages"),  # missing
        ("/v1/chat/completions", {"json": {"model": model, "messages": []}}, 400, "messages"),  # empty
        ("/v1/chat/completions", {"json": {"model": model, "messages": msg, "max_tokens": "3"}}, 400, "max_tokens"),
        ("/v1/chat/completions", {"json": {"model": model, "messages": msg, "max_tokens": 17}}, 400, "max_tokens"),
        ("/v1/chat/completions", {"json": {"model": model, "messages": msg, "temperature": 3}}, 400, "temperature"),
        ("/v1/chat/completions", {"json": {"model": model, "messages": msg, "n": 2}}, 400, "n"),
        ("/v1/chat/completions", {"json": {"model": model, "messages": msg, "logit_bias": {}}}, 400, "logit_bias"),
        ("/v1/chat/completions", {"json": {"model": "gpt-4", "messages": msg}}, 404, "model"),
        ("/v1/completions", {"json": {"model": model, "prompt": "x" * 4001}}, 400, "prompt"),
        ("/v1/chat/completions", {"json": {"model": model, "messages": [{"role": "user", "content": "hello " * 666}] * 15}},
         400, "messages"),  # ~10k tokens: over the model's context
        ("/v1/completions", {"json": {"model": model, "prompt": "x", "stop": ["a"] * 5}}, 400, "stop"),
        ("/v1/completions", {"json": {"model": model, "prompt": "x" * 70000}}, 413, None),  # body size
        ("/v1/score", {"json": {"questions": [{**q, "options": ["o"] * 9}]}}, 400, "questions[0].options"),
        ("/v1/score", {"json": {"questions": [{**q, "options": ["a"]}]}}, 400, "questions[0].options"),
        ("/v1/score", {"json": {"questions": [{**q, "question": ""}]}}, 400, "questions[0].question"),
        ("/v1/score", {"json": {"questions": [q] * 25}}, 400, "questions"),
        ("/v1/score", {"json": {"questions": [q], "model": "nope"}}, 404, "model"),
    ]


def test_every_bad_input_is_a_4xx_naming_the_problem(http, server):
    url, _, model = server
    for path, kwargs, status, param in _bad_cases(model):
        r = http.post(path, **kwargs)
        assert r.status_code == status, (path, kwargs, r.text)
        error = r.json()["error"]
        assert error["message"] and error["type"] and error["param"] == param, (path, error)
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": "Basic abc"}):
        r = requests.get(f"{url}/v1/models", headers=headers, timeout=60)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        assert r.headers["www-authenticate"] == "Bearer"
    assert requests.get(f"{url}/healthz", timeout=60).status_code == 200  # no token needed
    assert http.get("/v1/nothing").status_code == 404
    assert http.post("/v1/score", json={"questions": [{"question": "Still serving?", "options": ["yes", "no"]}]}).status_code == 200


def test_sixteen_concurrent_clients(server):
    """16 clients, released together by a barrier, 4 requests each: every one answered 200 with its own result
    (4 per client keeps the 16-way overlap; 10 each only made the test longer)."""
    url, token, model = server
    start = threading.Barrier(16)

    def client(i: int) -> list[tuple[int, int]]:
        c = Http(url, token)
        start.wait(timeout=60)
        answers = []
        for j in range(4):
            r = c.post("/v1/score", json={"model": model, "questions": [
                {"question": f"Is {i * 10 + j} even?", "options": ["yes", "no", "maybe"][: 2 + (i + j) % 2]}]})
            answers.append((r.status_code, len(r.json()["results"][0]["scores"]) if r.status_code == 200 else -1))
        return answers

    with ThreadPoolExecutor(16) as pool:
        answers = [a for per_client in pool.map(client, range(16)) for a in per_client]
    assert answers == [(200, 2 + (i + j) % 2) for i in range(16) for j in range(4)]
