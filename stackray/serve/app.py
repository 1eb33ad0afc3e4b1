"""The Ray Serve application: a FastAPI ingress (`Api`) in front of a multiplexed model deployment (`ModelServer`).

    build_app({"run_dirs": [RUN_DIR, ...], "token_file": ..., ...})   # = stackray.serve.app:build_app

Why two deployments: the ingress is cheap (no CPU reserved) and does everything that needs no model:
auth, body limits, validation, routing by model id, the OpenAI response shapes. `ModelServer` holds the
models. Several runs are served side by side, one model id each; a replica loads a run's model the
first time its id is asked for (`@serve.multiplexed`, least recently used evicted), and the ingress
routes each request with `handle.options(multiplexed_model_id=...)` (Serve's proxy reads only a header,
never the OpenAI body's "model", so routing by the body happens here).

/v1/score requests are batched (`@serve.batch`; batches never mix model ids): the questions of every
request in a batch are featurised in one call, so 16 concurrent clients cost about one packed forward
pass each round instead of 16. One lock per replica keeps scoring and generation from running forward
passes at once on the same CPUs. Torch work runs in a thread, so the replica's event loop keeps
accepting requests while the model computes.
"""

# No `from __future__ import annotations` here: FastAPI must see `Request` as a class in the ingress's signatures.

import asyncio
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from ray import serve

from stackray.serve.artifacts import ServedRun, load_served_run
from stackray.serve.config import Limits, ServeConfig, serve_config, tokens_equal
from stackray.serve.engine import ModelEngine, resolve_backend
from stackray.serve.http_errors import ApiError, install_handlers, read_body, unauthorized
from stackray.serve.openai_format import Shape, collect, events
from stackray.serve.schemas import ChatRequest, CompletionRequest, ScoreRequest
from stackray.run.config_io import ConfigError

MAX_MODELS_PER_REPLICA = 4  # models a replica keeps loaded (~0.5 GB each for SmolLM2-135M in float32)

app = FastAPI(title="stackray", docs_url=None, redoc_url=None, openapi_url=None)
install_handlers(app)  # before @serve.ingress: the app is pickled there


@serve.deployment(max_ongoing_requests=64)
class ModelServer:
    """The models of every served run; scoring is batched, generation streamed."""

    def __init__(self, runs: list[ServedRun], threads: int, device: str, max_batch_size: int, batch_wait_s: float,
                 backend: str = "transformers", num_gpus: float = 0.0) -> None:
        self.runs = {r.model_id: r for r in runs}
        self.threads, self.device = threads, device
        self.backend = resolve_backend(backend, num_gpus)  # here, in the replica: its own node's environment
        self.lock = asyncio.Lock()
        self.score_batch.set_max_batch_size(max_batch_size)
        self.score_batch.set_batch_wait_timeout_s(batch_wait_s)

    @serve.multiplexed(max_num_models_per_replica=MAX_MODELS_PER_REPLICA)
    async def engine(self, model_id: str) -> ModelEngine:
        return await asyncio.to_thread(ModelEngine, self.runs[model_id], self.threads, self.device, self.backend)

    async def score(self, questions: list[dict]) -> dict:
        """{"results": [...]} or {"error": why} (a question the scorer cannot take, e.g. an option of no tokens)."""
        return await self.score_batch(questions)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.0)  # both set from ServeConfig in __init__
    async def score_batch(self, requests: list[list[dict]]) -> list[dict]:
        engine = await self.engine(serve.get_multiplexed_model_id())
        async with self.lock:
            return await asyncio.to_thread(score_requests, engine, requests)

    async def generate(self, payload: dict) -> AsyncIterator[dict]:
        """{"text": piece} items, then {"done": True, usage, finish_reason} (or {"error": why})."""
        engine = await self.engine(serve.get_multiplexed_model_id())
        async with self.lock:
            try:
                gen = engine.generation(payload)
            except ValueError as exc:  # e.g. a prompt longer than the model's context
                yield {"error": str(exc)}
                return
            pieces = iter(gen)
            try:
                while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
                    yield {"text": piece}
            finally:
                pieces.close()  # a client that went away stops the forward passes at the next token
        yield {"done": True, "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
               "finish_reason": gen.finish_reason}


def score_requests(engine: ModelEngine, requests: list[list[dict]]) -> list[dict]:
    """Score a batch of requests in one featurisation; when that fails, each request alone, so one bad
    request gets its own error and the others their answers."""
    flat = [q for r in requests for q in r]
    try:
        results = engine.score(flat)
    except ValueError:
        return [_score_one(engine, r) for r in requests]
    out, at = [], 0
    for r in requests:
        out.append({"results": results[at: at + len(r)]})
        at += len(r)
    return out


def _score_one(engine: ModelEngine, questions: list[dict]) -> dict:
    try:
        return {"results": engine.score(questions)}
    except ValueError as exc:
        return {"error": str(exc)}


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
@serve.ingress(app)
class Api:
    """HTTP in front of ModelServer: auth, limits, validation, routing by model id, OpenAI shapes."""

    def __init__(self, models, cards: list[dict], limits: Limits, token: str | None) -> None:
        self.models = models
        self.cards = cards
        self.limits = limits
        self.token = token

    def authorize(self, request: Request) -> None:
        if self.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise unauthorized("missing bearer token: send Authorization: Bearer <token>")
        if not tokens_equal(given.strip(), self.token):
            raise unauthorized("invalid bearer token")

    def model_id(self, name: str | None) -> str:
        """The served id a request names: its exact id, or a run name that one served id has; None with one model."""
        ids = [c["id"] for c in self.cards]
        if name is None and len(ids) == 1:
            return ids[0]
        if name in ids:
            return name
        by_run = [c["id"] for c in self.cards if c["root"] == name]
        if len(by_run) == 1:
            return by_run[0]
        if name is None:
            raise ApiError(400, f"field 'model' is required: several models are served ({', '.join(ids)})",
                           param="model", code="missing")
        raise ApiError(404, f"the model {name!r} does not exist; served: {', '.join(ids)}", param="model",
                       kind="not_found_error", code="model_not_found")

    @app.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "models": [c["id"] for c in self.cards]}

    @app.get("/v1/models")
    async def list_models(self, request: Request) -> dict:
        self.authorize(request)
        return {"object": "list", "data": self.cards}

    @app.post("/v1/score")
    async def score(self, request: Request) -> dict:
        self.authorize(request)
        body = await read_body(request, ScoreRequest, self.limits)
        model = self.model_id(body.model)
        questions = [q.model_dump() for q in body.questions]
        answer = await self.models.options(multiplexed_model_id=model).score.remote(questions)
        if "error" in answer:
            raise ApiError(400, answer["error"], param="questions", code="unscorable")
        card = next(c for c in self.cards if c["id"] == model)
        return {"object": "score", "model": model, "head": card["head"], "results": answer["results"]}

    @app.post("/v1/chat/completions")
    async def chat(self, request: Request) -> Any:
        self.authorize(request)
        return await self.generate(await read_body(request, ChatRequest, self.limits), chat=True)

    @app.post("/v1/completions")
    async def completions(self, request: Request) -> Any:
        self.authorize(request)
        return await self.generate(await read_body(request, CompletionRequest, self.limits), chat=False)

    async def generate(self, body: ChatRequest | CompletionRequest, *, chat: bool) -> Any:
        model = self.model_id(body.model)
        stream = self.models.options(multiplexed_model_id=model, stream=True).generate.remote(body.payload(self.limits))
        shape = Shape(chat, model)
        if body.stream:
            return StreamingResponse(events(shape, stream, body.include_usage), media_type="text/event-stream")
        try:
            text, done = await collect(stream)
        except RuntimeError as exc:
            raise ApiError(400, str(exc), param="messages" if chat else "prompt", code="context_length_exceeded") from None
        return shape.whole(text, done)


def build_app(args: dict) -> Any:
    """The Serve application for `args` (ServeConfig's fields; `run_dir: X` serves one run). The import path of
    configs/serve.yaml and cluster/kuberay/rayservice.yaml."""
    config = serve_config(args)
    return build_from_config(config)


def build_from_config(config: ServeConfig) -> Any:
    runs = [load_served_run(d) for d in config.run_dirs]
    seen: dict[str, str] = {}
    for r in runs:
        if r.model_id in seen:
            raise ConfigError(f"{r.run_dir} and {seen[r.model_id]} are the same model {r.model_id}; serve one of them")
        seen[r.model_id] = r.run_dir
    threads = config.threads or max(1, int(config.num_cpus))
    resources = {"num_cpus": config.num_cpus, "num_gpus": config.num_gpus}
    models = ModelServer.options(num_replicas=config.replicas, ray_actor_options=resources,
                                 max_ongoing_requests=max(64, 4 * config.max_batch_size))
    device = "auto" if config.num_gpus > 0 else "cpu"
    model_server = models.bind(runs, threads, device, config.max_batch_size, config.batch_wait_s, config.backend,
                               config.num_gpus)
    return Api.bind(model_server, [r.card() for r in runs], config.limits, config.bearer_token())
