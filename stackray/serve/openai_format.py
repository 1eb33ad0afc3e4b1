"""OpenAI's response shapes for chat and text completions, plain and streamed (server-sent events).

The model deployment yields `{"text": piece}` items and one final `{"done": True, "prompt_tokens",
"completion_tokens", "finish_reason"}`; these functions turn that one stream into either a whole
response or SSE lines `data: {...}` ending in `data: [DONE]`, for both endpoints.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, AsyncIterator


class Shape:
    """The response shape of one endpoint: chat ("chat.completion") or text ("text_completion")."""

    def __init__(self, chat: bool, model: str) -> None:
        self.chat, self.model = chat, model
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())
        self.object = "chat.completion" if chat else "text_completion"

    def _envelope(self, obj: str, choices: list[dict]) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": choices}

    def whole(self, text: str, done: dict) -> dict[str, Any]:
        reason = done["finish_reason"]
        choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason, "logprobs": None}
                  if self.chat else {"index": 0, "text": text, "finish_reason": reason, "logprobs": None})
        return {**self._envelope(self.object, [choice]), "usage": usage(done)}

    def chunk(self, text: str | None, reason: str | None = None, first: bool = False) -> dict[str, Any]:
        if self.chat:
            delta = {"role": "assistant", "content": text or ""} if first else ({"content": text} if text else {})
            choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
            return self._envelope("chat.completion.chunk", [choice])
        return self._envelope("text_completion", [{"index": 0, "text": text or "", "finish_reason": reason, "logprobs": None}])

    def usage_chunk(self, done: dict) -> dict[str, Any]:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._envelope(obj, []), "usage": usage(done)}


def usage(done: dict) -> dict[str, int]:
    p, c = int(done["prompt_tokens"]), int(done["completion_tokens"])
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def sse(doc: dict | str) -> str:
    return f"data: {doc if isinstance(doc, str) else json.dumps(doc)}\n\n"


async def collect(stream: AsyncIterator[dict]) -> tuple[str, dict]:
    """(the whole text, the final item) of a model deployment's generation stream."""
    pieces, done = [], None
    async for item in stream:
        if "text" in item:
            pieces.append(item["text"])
        else:
            done = item
    if done is None:
        raise ConnectionError("the generation ended without a result")  # an internal failure: a 500
    if "error" in done:
        raise RuntimeError(done["error"])  # the request cannot be served (e.g. over the context): a 400
    return "".join(pieces), done


async def events(shape: Shape, stream: AsyncIterator[dict], include_usage: bool) -> AsyncIterator[str]:
    """SSE lines for a generation stream; an error after the headers went out is sent as an error event."""
    first = True
    try:
        async for item in stream:
            if "text" in item:
                yield sse(shape.chunk(item["text"], first=first))
                first = False
            elif "error" in item:
                yield sse({"error": {"message": item["error"], "type": "server_error", "param": None, "code": None}})
            else:
                yield sse(shape.chunk(None, item["finish_reason"], first=first))
                if include_usage:
                    yield sse(shape.usage_chunk(item))
    except Exception as exc:  # the replica died mid-stream: tell the client instead of cutting the stream silently
        yield sse({"error": {"message": f"generation failed: {exc}", "type": "server_error", "param": None, "code": None}})
    yield sse("[DONE]")
