"""The edge of every request: an ASGI layer outside FastAPI that gives each request an id,
checks the bearer token and the body size, turns anything unexpected into a typed 500 without
a traceback, and writes one structured log line."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import HealthcoopError, InternalError, PayloadTooLarge, Unauthorized
from .errors import error_response

log = logging.getLogger("healthcoop.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/healthz"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class Edge:
    """Outermost ASGI layer: request id, bearer token, body size limit, catch-all, log line."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int, app_state: Any) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body = max_body
        self.app_state = app_state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._startup_failure_in_one_line(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id = _request_id(scope)
        # 499 (client closed the request) unless a response starts
        response: dict[str, Any] = {"status": 499, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.update(status=message["status"], started=True)
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is None and scope["method"] in ("POST", "PUT", "PATCH"):
                receive, refusal = await self._buffer_body(scope, receive)
            if refusal is not None:
                await error_response(refusal, state)(scope, receive, send_with_id)
            elif receive is not None:
                await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - anything unplanned: a typed 500, no traceback
            log.error(json.dumps({"event": "unhandled", "request_id": request_id, **where(exc)}))
            if response["started"]:
                raise  # the response has begun; only closing the connection is left
            error = InternalError(f"internal error; quote request id {request_id} to report it")
            await error_response(error, state)(scope, receive, send_with_id)
        finally:
            _log_request(scope, state, response["status"], started)

    def _startup_failure_in_one_line(self, send: Send) -> Send:
        """Report an error of the tree at startup as its message, not as a traceback."""

        async def forward(message: Message) -> None:
            error = getattr(self.app_state, "startup_error", None)
            if message["type"] == "lifespan.startup.failed" and error is not None:
                message = {**message, "message": f"{type(error).__name__}: {error.message}"}
            await send(message)

        return forward

    def _refusal(self, scope: Scope) -> HealthcoopError | None:
        if self.token is None or scope["path"] in PUBLIC_PATHS:
            return None
        scheme, _, credentials = _header(scope, b"authorization").partition(b" ")
        # compare_digest takes as long for any wrong token of a given length
        if scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token):
            return None
        return Unauthorized(
            "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the "
            "value of HEALTHCOOP_SERVICE_TOKEN"
        )

    async def _buffer_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[Receive | None, HealthcoopError | None]:
        """Read the body up to the limit; a receive that replays it, or why it was refused."""
        too_large = PayloadTooLarge(
            f"request body is over the limit of {self.max_body:,} bytes; send fewer or shorter "
            "articles, or raise HEALTHCOOP_SERVICE_MAX_BODY_BYTES",
            field="body",
        )
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body:
            return receive, too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, None  # nobody is left to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return receive, too_large
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay, None


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return b""


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id").decode("latin-1")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def where(exc: BaseException) -> dict[str, Any]:
    """Type and frames of an exception, without its message (which may quote the article)."""
    frames = traceback.extract_tb(exc.__traceback__)[-5:]
    return {
        "exception": type(exc).__name__,
        "frames": [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames],
    }


def _log_request(scope: Scope, state: MutableMapping[str, Any], status: int, started: float):
    route = scope.get("route")
    line = {
        "event": "request",
        "request_id": state.get("request_id"),
        "method": scope.get("method"),
        "route": getattr(route, "path", None) or scope.get("path"),
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "prompt_tokens": state.get("prompt_tokens", 0),
        "completion_tokens": state.get("completion_tokens", 0),
    }
    for key in ("items", "failed", "error"):
        if key in state:
            line[key] = state[key]
    log.info(json.dumps(line))
