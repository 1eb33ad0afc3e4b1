"""Text generation for the OpenAI endpoints: sampling settings, stop sequences, and a cancellable token stream.

Why a stream underneath both modes: `stream: true` and a plain response must produce the same text for
the same seed, so both consume one `Generation` (the plain response joins its pieces). `generate` runs in
a worker thread and hands decoded text over a queue (transformers' TextIteratorStreamer); a stopping
criterion watches a cancel flag, so a stop sequence, a closed client connection or a shutdown ends the
forward passes at the next token instead of running on to max_tokens.

Stop sequences follow OpenAI: the text ends before the first occurrence, which is not returned. While
streaming, the tail that could still become a stop sequence is held back until it cannot.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterator

STREAM_TIMEOUT_S = 120.0  # longest wait for one token: a stuck forward pass ends the request instead of hanging


@dataclass(frozen=True)
class SamplingParams:
    """OpenAI's sampling fields, already validated. temperature 0 means greedy decoding."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def generate_kwargs(self) -> dict[str, Any]:
        if self.temperature <= 0:
            return {"do_sample": False, "max_new_tokens": self.max_tokens}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0,
                "max_new_tokens": self.max_tokens}


class StopScanner:
    """Feeds text pieces through, cut before the first stop sequence; holds back a possible stop prefix."""

    def __init__(self, stop: tuple[str, ...]) -> None:
        self.stop = tuple(s for s in stop if s)
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The text that is now safe to emit (empty once stopped)."""
        if self.stopped:
            return ""
        self.pending += piece
        hits = [i for i in (self.pending.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.stopped = True
            out, self.pending = self.pending[: min(hits)], ""
            return out
        keep = self._held_back()
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(out):]
        return out

    def flush(self) -> str:
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out

    def _held_back(self) -> int:
        """Length of the longest suffix of `pending` that is a proper prefix of a stop sequence."""
        best = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(self.pending)), best, -1):
                if self.pending.endswith(s[:n]):
                    best = n
                    break
        return best


class Generation:
    """One generation: iterate for text pieces; then `prompt_tokens`, `completion_tokens`, `finish_reason`.

    `close()` (also called when iteration ends) stops the worker thread at its next token.
    """

    def __init__(self, model: Any, tokenizer: Any, prompt_ids: list[int], params: SamplingParams) -> None:
        self.model, self.tokenizer, self.params = model, tokenizer, params
        self.prompt_ids = prompt_ids
        self.prompt_tokens = len(prompt_ids)
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self._cancel = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=STREAM_TIMEOUT_S)
        self._thread = threading.Thread(target=self._run, args=(streamer,), daemon=True, name="stackray-generate")
        self._thread.start()
        scanner = StopScanner(self.params.stop)
        try:
            for piece in streamer:
                text = scanner.feed(piece)
                if text:
                    yield text
                if scanner.stopped:
                    break
            tail = scanner.flush()
            if tail:
                yield tail
        finally:
            self.close()
        if self._error is not None:
            raise self._error
        at_limit = self.completion_tokens >= self.params.max_tokens
        self.finish_reason = "length" if at_limit and not scanner.stopped else "stop"

    def _run(self, streamer) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        cancel = self._cancel

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        try:
            ids = torch.tensor([self.prompt_ids], dtype=torch.long, device=self.model.device)
            if self.params.seed is not None:
                torch.manual_seed(self.params.seed)
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                                      stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                                      **self.params.generate_kwargs())
            self.completion_tokens = int(out.shape[1] - ids.shape[1])
        except BaseException as exc:  # reported to the consumer, which is waiting on the streamer
            self._error = exc
            streamer.end()

    def close(self) -> None:
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=STREAM_TIMEOUT_S)


def chat_prompt(tokenizer: Any, messages: list[dict]) -> str:
    """The model's own chat template when it has one, else a plain `role: content` transcript ending in `assistant:`."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join(lines + ["assistant:"])


def prompt_ids(tokenizer: Any, text: str, *, chat: bool) -> list[int]:
    """Token ids of a prompt; a rendered chat template carries its own special tokens."""
    return list(tokenizer(text, add_special_tokens=not chat)["input_ids"])
