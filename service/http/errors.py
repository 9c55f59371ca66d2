"""The one mapping from the error tree to HTTP: status codes, headers and the error body."""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ExtractionError,
    HealthcoopError,
    InputError,
    InvalidRequest,
    LLMError,
    NotReady,
    PayloadTooLarge,
    RateLimited,
    RouteError,
    Timeout,
    Unauthorized,
    describe,
    problems,
)


def _header_seconds(value: float | None) -> str | None:
    """A Retry-After header value: whole seconds, at least 1."""
    return None if value is None else str(max(1, math.ceil(value)))


def http_status(error: HealthcoopError) -> tuple[int, dict[str, str]]:
    """The HTTP status and extra headers for an error of the tree. The only such mapping."""
    if isinstance(error, PayloadTooLarge):
        return 413, {}
    if isinstance(error, InputError):
        return 422, {}
    if isinstance(error, Unauthorized):
        return 401, {"WWW-Authenticate": "Bearer"}
    if isinstance(error, RouteError):
        return error.status, error.headers
    if isinstance(error, NotReady):
        return 503, {"Retry-After": "5"}
    if isinstance(error, RateLimited):  # the model is saturated: not the caller's fault
        return 503, {"Retry-After": _header_seconds(error.retry_after) or "1"}
    if isinstance(error, Timeout):
        return 504, {}
    if isinstance(error, LLMError):
        retry_after = _header_seconds(error.retry_after)
        return 502, {"Retry-After": retry_after} if retry_after else {}
    if isinstance(error, ExtractionError):
        return 502, {}
    return 500, {}  # ConfigError, PromptError, InternalError: the service is misconfigured


def error_body(error: HealthcoopError, *, status: int, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {**error.to_dict(), "status": status, "request_id": request_id}
    if isinstance(error, InvalidRequest):
        body["errors"] = error.problems
    elif isinstance(error, InputError) and error.field:
        body["errors"] = [{"field": error.field, "message": error.message}]
    if isinstance(error, ExtractionError) and error.last_error:
        body["last_error"] = error.last_error
    return body


def request_state(request: Request) -> MutableMapping[str, Any]:
    """This request's state, shared with `edge.Edge` (request id in, counts out for the log)."""
    return request.scope.setdefault("state", {})


def error_response(error: HealthcoopError, state: MutableMapping[str, Any]) -> JSONResponse:
    status, headers = http_status(error)
    state["error"] = error.type
    body = error_body(error, status=status, request_id=state.get("request_id", "-"))
    return JSONResponse(body, status_code=status, headers=headers)


def _from_validation(exc: RequestValidationError) -> InvalidRequest:
    found = problems(exc, default="body")
    return InvalidRequest(f"invalid request: {describe(found)}", problems=found)


def install_error_handlers(app: FastAPI) -> None:
    """Every error reaching FastAPI leaves as `error_response`: the tree's, validation's, and
    the HTTP layer's own (404, 405, an unparsable body)."""

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            exc = _from_validation(exc)
        elif isinstance(exc, StarletteHTTPException) and exc.status_code == 400:
            # the body could not be parsed at all (e.g. not UTF-8): invalid input like any other
            problem = {"field": "body", "message": str(exc.detail)}
            exc = InvalidRequest(f"invalid request: {exc.detail}", problems=[problem])
        elif isinstance(exc, StarletteHTTPException):
            message = "no such route" if exc.status_code == 404 else str(exc.detail)
            exc = RouteError(message, status=exc.status_code, headers=exc.headers)
        assert isinstance(exc, HealthcoopError)
        return error_response(exc, request_state(request))

    for kind in (HealthcoopError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, on_error)
