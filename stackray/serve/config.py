"""ServeConfig: what a Serve application is built from, as a strict pydantic model with a default for every limit.

Why one model for the CLI, `serve deploy` and a RayService manifest: all three end in `build_app(args)`,
and a typo in a manifest's `args` (`max_tokenz: 10`) must fail the deployment with the key named, not
silently serve with a default. The limits bound what one request may cost (options, text lengths,
tokens, body bytes): the server answers a request that exceeds one with a 4xx naming the field.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from stackray.run.config import Section
from stackray.run.config_io import ConfigError, error_lines

PositiveInt = Annotated[int, Field(ge=1)]
MIN_TOKEN_CHARS = 16  # a shorter token is guessable; refuse it rather than protect nothing


def _as_list(value: Any) -> Any:
    """`run_dir: X` (one run, as in the RayService manifest) or `run_dirs: [X, Y]`."""
    return [value] if isinstance(value, str) else value


class Limits(Section):
    """Bounds on one request. A request over any of them is answered 400 (413 for the body) naming the field."""

    max_body_bytes: PositiveInt = 1 << 20
    max_questions: PositiveInt = 32  # questions per /v1/score request
    max_options: PositiveInt = 26  # options per question (the letter format's A..Z)
    max_text_chars: PositiveInt = 4000  # a question, an option, a prompt, one chat message
    max_messages: PositiveInt = 64  # chat messages per request
    max_stop: PositiveInt = 4  # stop sequences (OpenAI's bound)
    max_tokens: PositiveInt = 256  # the largest max_tokens a request may ask for
    default_max_tokens: PositiveInt = 64  # max_tokens when a request gives none

    @model_validator(mode="after")
    def _default_within_cap(self) -> "Limits":
        if self.default_max_tokens > self.max_tokens:
            raise ValueError(f"default_max_tokens ({self.default_max_tokens}) exceeds max_tokens ({self.max_tokens})")
        return self


class ServeConfig(Section):
    """A Serve application: which runs, where it listens, who may call it, how it scales and batches.

    run_dirs: finished run directories, each served as its own model id. token / token_file: the bearer
    token every endpoint except /healthz requires (None: no auth, allowed only on a loopback host).
    replicas: model replicas (each holds every run's model, loaded on first use). num_cpus / threads: a
    replica's Ray CPUs and torch threads (default: num_cpus; more threads than CPUs is far slower on a busy
    machine). num_gpus > 0 puts a replica's model on its GPU. backend: "transformers", "vllm", or "auto" (vLLM
    where a replica has a GPU and vLLM imports, else transformers). max_batch_size / batch_wait_s: /v1/score's @serve.batch.
    batch_wait_s defaults to 0: a batch takes whatever is queued when the replica is free, so a lone request
    is scored at once (a wait would add to every idle-time request), while under load the requests that
    arrive during a forward pass queue up and make the next batch.
    """

    run_dirs: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    token: str | None = Field(default=None, repr=False)
    token_file: str | None = None
    replicas: PositiveInt = 1
    num_cpus: Annotated[float, Field(ge=0)] = 1.0
    num_gpus: Annotated[float, Field(ge=0)] = 0.0
    threads: PositiveInt | None = None
    backend: Literal["auto", "transformers", "vllm"] = "auto"
    max_batch_size: PositiveInt = 8
    batch_wait_s: Annotated[float, Field(ge=0, le=1)] = 0.0
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _one_token_source(self) -> "ServeConfig":
        if self.token is not None and self.token_file is not None:
            raise ValueError("give token or token_file, not both")
        return self

    def bearer_token(self) -> str | None:
        """The token (read from token_file when given); a file that is missing, empty or short is an error."""
        if self.token_file is None:
            token = self.token
            where = "token"
        else:
            path = Path(self.token_file).expanduser()
            try:
                token = path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read the token file: {exc.strerror or exc}") from None
            where = str(path)
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"{where}: the token must be at least {MIN_TOKEN_CHARS} characters "
                              f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return token

    def check_exposure(self) -> None:
        """Refuse to listen beyond this machine without a token: Ray's own cluster token does not cover Serve's HTTP port."""
        if not is_loopback(self.host) and self.bearer_token() is None:
            raise ConfigError(f"--host {self.host} is reachable from other machines; serving it needs a token "
                              f"(--token-file FILE), or bind 127.0.0.1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: assume it is reachable
        return False


def serve_config(args: Any, source: str = "serve args") -> ServeConfig:
    """Validate build_app's `args` (a Serve config's or a RayService's `args:` mapping); errors name the key."""
    if not isinstance(args, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(args).__name__}")
    raw = dict(args)
    if "run_dir" in raw:  # the manifest's one-run spelling
        if "run_dirs" in raw:
            raise ConfigError(f"{source}: give run_dir or run_dirs, not both")
        raw["run_dirs"] = raw.pop("run_dir")
    try:
        return ServeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(error_lines(exc, ServeConfig, source)) from None


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much of a guess was right."""
    return secrets.compare_digest(given.encode(), expected.encode())
