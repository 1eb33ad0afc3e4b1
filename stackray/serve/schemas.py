"""Request bodies of the HTTP API as strict pydantic models; limits come from the server's `Limits`.

Strict: a wrong type is an error, never coerced ("max_tokens": "5" is refused), unknown fields are
refused (a misspelt "temprature" would otherwise be ignored silently), and texts must not be blank.
The limits are not constants of the models but the deployment's `Limits`, passed as validation
context (`parse`), so every bound is configurable and an error still names the field that broke it.

Only the OpenAI fields the server implements are accepted; of the rest, `n` (only 1), `user` and
`stream_options` are accepted because common clients send them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from stackray.serve.config import Limits

def _limits(info: ValidationInfo) -> Limits:
    return (info.context or {}).get("limits") or Limits()


def _too_long(what: str, n: int, cap: int) -> PydanticCustomError:
    return PydanticCustomError("too_long", "{what} has {n}, at most {cap} allowed", {"what": what, "n": n, "cap": cap})


def _text(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    cap = _limits(info).max_text_chars
    if len(value) > cap:
        raise _too_long("the text", f"{len(value)} characters", cap)
    return value


def _capped(limit: str, what: str, unit: str) -> AfterValidator:
    """A list no longer than `Limits.<limit>`, reported as "<what> has N <unit>, at most CAP allowed"."""

    def check(value: list, info: ValidationInfo) -> list:
        cap = getattr(_limits(info), limit)
        if len(value) > cap:
            raise _too_long(what, f"{len(value)} {unit}", cap)
        return value

    return AfterValidator(check)


Text = Annotated[str, Field(min_length=1)]
BoundedText = Annotated[str, Field(min_length=1), AfterValidator(_text)]  # non-blank, at most max_text_chars


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Question(Request):
    """One multiple-choice question: its text and at least two options (an optional id is echoed back)."""

    question: BoundedText
    options: Annotated[list[BoundedText], Field(min_length=2), _capped("max_options", "the question", "options")]
    id: str | None = None


class ScoreRequest(Request):
    """POST /v1/score: one or more questions for one model."""

    model: str | None = None
    questions: Annotated[list[Question], Field(min_length=1), _capped("max_questions", "the request", "questions")]


class Sampling(Request):
    """The OpenAI sampling fields shared by chat and completions."""

    model: Text
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 1.0
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: Literal[1] = 1
    user: str | None = None

    @field_validator("max_tokens", "max_completion_tokens")
    @classmethod
    def _max_tokens(cls, value: int | None, info: ValidationInfo) -> int | None:
        cap = _limits(info).max_tokens
        if value is not None and value > cap:
            raise PydanticCustomError("too_large", "must be <= {cap}, got {value}", {"cap": cap, "value": value})
        return value

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None, info: ValidationInfo) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else (value or [])
        cap = _limits(info).max_stop
        if len(stops) > cap:
            raise _too_long("stop", f"{len(stops)} sequences", cap)
        if any(not s or len(s) > 64 for s in stops):
            raise PydanticCustomError("bad_stop", "each stop sequence must have 1 to 64 characters")
        return value

    def sampling(self, limits: Limits) -> dict[str, Any]:
        """The fields the model deployment needs, defaults filled in (plain values: they cross to Ray)."""
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        max_tokens = self.max_tokens or self.max_completion_tokens or limits.default_max_tokens
        return {"max_tokens": max_tokens, "temperature": self.temperature, "top_p": self.top_p, "stop": stop,
                "seed": self.seed}

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class Message(Request):
    role: Literal["system", "user", "assistant"]
    content: BoundedText
    name: str | None = None


class ChatRequest(Sampling):
    """POST /v1/chat/completions."""

    messages: Annotated[list[Message], Field(min_length=1), _capped("max_messages", "the conversation", "messages")]

    def payload(self, limits: Limits) -> dict[str, Any]:
        return {**self.sampling(limits), "messages": [{"role": m.role, "content": m.content} for m in self.messages]}


class CompletionRequest(Sampling):
    """POST /v1/completions (one prompt string)."""

    prompt: BoundedText

    def payload(self, limits: Limits) -> dict[str, Any]:
        return {**self.sampling(limits), "prompt": self.prompt}
