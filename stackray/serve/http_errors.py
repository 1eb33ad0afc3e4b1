"""Every failed request ends here: an OpenAI-style error body with a 4xx status, never a 500 for bad input.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "messages[0].content", "code": "blank"}}

Why the body is read by hand (`read_body`) instead of by FastAPI's parameter parsing: the size limit
must hold before the whole body is in memory (the Content-Length is checked first, then the stream is
cut off at the limit), malformed JSON must be a 400 naming the position, and the models' limits come
from the deployment's config as validation context. FastAPI's own RequestValidationError is mapped
too, for whatever still reaches it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from stackray.run.config_io import dotted
from stackray.serve.config import Limits


class ApiError(Exception):
    """An HTTP error with OpenAI's fields; `param` names the request field at fault (dotted path)."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self):
        from fastapi.responses import JSONResponse

        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, kind="authentication_error", code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"})


def from_validation(exc: ValidationError, prefix: tuple = ()) -> ApiError:
    """The first problem of a validation, as a 400 naming the field (and how many more there are)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = prefix + tuple(p for p in first["loc"] if p not in ("body",))
    param = dotted(loc) or None
    if first["type"] == "extra_forbidden":
        message = f"unknown field {param!r}"
    elif first["type"] == "missing":
        message = f"field {param!r} is required"
    else:
        message = f"field {param!r}: {first['msg']}" if param else first["msg"]
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ApiError(400, message, param=param, code=first["type"])


async def read_body(request, model: type[BaseModel], limits: Limits) -> Any:
    """The request's JSON body validated as `model`, within limits.max_body_bytes; ApiError otherwise."""
    cap = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise ApiError(413, f"the request body must be at most {cap} bytes", code="body_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > cap:
            raise ApiError(413, f"the request body must be at most {cap} bytes", code="body_too_large")
    try:
        doc = json.loads(bytes(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(doc).__name__}", code="invalid_json")
    try:
        return model.model_validate(doc, context={"limits": limits})
    except ValidationError as exc:
        raise from_validation(exc) from None


def install_handlers(app) -> None:
    """Register the error handlers on the FastAPI app (before @serve.ingress, which pickles the app)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": "invalid"}
        param = dotted(tuple(p for p in first["loc"] if p != "body")) or None
        return ApiError(400, f"field {param!r}: {first['msg']}" if param else first["msg"], param=param,
                        code=str(first.get("type"))).response()

    @app.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return ApiError(exc.status_code, str(exc.detail), kind=kind, code=str(exc.status_code)).response()
