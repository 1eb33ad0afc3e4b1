"""Text generation on a vLLM engine for the OpenAI endpoints, token by token, with the `Generation` interface.

Why a step loop and not `LLM.generate`: `generate` returns only when every token is done, so `stream: true`
would arrive as one chunk. The engine's own loop (`llm_engine.add_request` then `step()`) hands back each
new piece of text as it is decoded (`RequestOutputKind.DELTA`), so streaming stays streaming, and `close()`
aborts the request at the next step (a client that went away stops costing GPU time).

vLLM applies the sampling settings itself: temperature (0: greedy), top_p, the seed (per request) and the
stop sequences, which end the text before the first occurrence, as OpenAI does. Callers hold the replica's
lock, so one loop drives the engine at a time (the scorer's `LLM.generate` calls share the same engine).
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator

from stackray.serve.textgen import SamplingParams

_REQUEST_IDS = itertools.count()


class VLLMGeneration:
    """One generation on `llm` (a `vllm.LLM`): iterate for text pieces; then `prompt_tokens`,
    `completion_tokens` and `finish_reason` ("stop" or "length"), as `stackray.serve.textgen.Generation`."""

    def __init__(self, llm: Any, prompt_ids: list[int], params: SamplingParams) -> None:
        self.engine = llm.llm_engine
        self.params = params
        self.prompt_ids = prompt_ids
        self.prompt_tokens = len(prompt_ids)
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self.request_id = f"stackray-{next(_REQUEST_IDS)}"
        self._running = False

    def sampling_params(self):
        from vllm import SamplingParams as VllmParams
        from vllm.sampling_params import RequestOutputKind

        p = self.params
        return VllmParams(max_tokens=p.max_tokens, temperature=p.temperature, top_p=p.top_p,
                          stop=list(p.stop) or None, seed=p.seed, output_kind=RequestOutputKind.DELTA)

    def __iter__(self) -> Iterator[str]:
        self.engine.add_request(self.request_id, {"prompt_token_ids": list(self.prompt_ids)}, self.sampling_params())
        self._running = True
        try:
            while self._running:
                if not self.engine.has_unfinished_requests():  # aborted elsewhere (an engine shutdown)
                    self._running, self.finish_reason = False, "stop"
                    break
                for out in self.engine.step():
                    if out.request_id != self.request_id:
                        continue
                    piece = out.outputs[0]
                    self.completion_tokens += len(piece.token_ids)
                    if piece.text:
                        yield piece.text
                    if out.finished:
                        self._running = False
                        self.finish_reason = "length" if piece.finish_reason == "length" else "stop"
        finally:
            self.close()

    def close(self) -> None:
        """Abort the request if it is still running (the engine frees its KV blocks at once)."""
        if self._running:
            self._running = False
            self.engine.abort_request([self.request_id])
