"""A local fake of an OpenAI-compatible chat server, for fault-injection tests and benchmarks.

It answers every chat completion with a tool call (instructor's tools mode) carrying
`arguments`, after `latency` seconds. Faults are injected by name, in order, one per request:
`Fault.rate_limit(retry_after)`, `Fault.server_error()`, `Fault.garbage()`, `Fault.hang()`,
`Fault.malformed_json()`, `Fault.html_page()`, `Fault.no_choices()`, `Fault.cut_short()`,
`Fault.unauthorized()`, `Fault.echo_credentials()`; when the script runs out, requests
succeed. This is a named fixture,
not a recording: it stands in for a server only where a real one cannot be made to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import uvicorn

DEFAULT_ARGUMENTS = {"relevant": False}


@dataclass(frozen=True)
class Fault:
    status: int = 200
    body: str | None = None  # raw body to send instead of a valid completion
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before answering (longer than the client timeout)

    @classmethod
    def rate_limit(cls, retry_after: float = 1.0) -> Fault:
        return cls(
            status=429,
            body=json.dumps({"error": {"message": "rate limited", "type": "rate_limit"}}),
            headers=(("retry-after", f"{retry_after:g}"),),
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status=status, body=json.dumps({"error": {"message": "boom"}}))

    @classmethod
    def garbage(cls) -> Fault:
        """HTTP 200 whose tool call arguments are not JSON at all."""
        return cls(body="__garbage_arguments__")

    @classmethod
    def malformed_json(cls) -> Fault:
        """HTTP 200 whose body is not JSON."""
        return cls(body="{not json")

    @classmethod
    def truncated(cls) -> Fault:
        """HTTP 200 whose answer stopped at max_tokens (finish_reason "length")."""
        return cls(body="__truncated__")

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        return cls(delay=seconds)

    @classmethod
    def html_page(cls) -> Fault:
        """HTTP 200 with an HTML page (a proxy's or a login page), not a completion."""
        page = "<!doctype html><html><body><h1>Welcome</h1><p>Please sign in.</p></body></html>"
        return cls(body=page, headers=(("content-type", "text/html; charset=utf-8"),))

    @classmethod
    def no_choices(cls) -> Fault:
        """HTTP 200 with a completion that holds no choices at all."""
        return cls(body="__no_choices__")

    @classmethod
    def cut_short(cls) -> Fault:
        """HTTP 200 whose body stops before its Content-Length: the connection closes
        mid-answer, as when a server crashes or a proxy resets it."""
        return cls(body="__cut_short__")

    @classmethod
    def unauthorized(cls, status: int = 401) -> Fault:
        return cls(status=status, body=json.dumps({"error": {"message": "invalid api key"}}))

    @classmethod
    def echo_credentials(cls, status: int = 500) -> Fault:
        """An error whose body repeats the request's Authorization header (as some proxies'
        debug pages do), around a long error message."""
        return cls(status=status, body="__echo_credentials__")


def _fill(node: dict, defs: dict) -> object:
    """A value for one JSON Schema node: the first enum value other than "none", true, two
    distinct enum values in a list (one object in a list of objects), every property."""
    if "$ref" in node:
        return _fill(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in node:
        values = [v for v in node["enum"] if v != "none"] or node["enum"]
        return values[0]
    kind = node.get("type")
    if kind == "boolean":
        return True
    if kind == "array":
        item = node.get("items", {})
        item = defs[item["$ref"].rsplit("/", 1)[-1]] if "$ref" in item else item
        n = min(2, node.get("maxItems", 2))
        if "enum" in item:
            return [v for v in item["enum"] if v != "none"][:n]
        return [_fill(item, defs)][:n]
    if kind == "object" or "properties" in node:
        return {k: _fill(v, defs) for k, v in node.get("properties", {}).items()}
    return "x"


def schema_answer(request: dict) -> dict:
    """An answer that uses what the request's answer schema offers, as a model's answer to a
    relevant article does (parties, meetings, agreements, mechanisms, people), so that the
    service validates and assembles a record with content instead of the default's
    `{"relevant": false}`. For benchmarks; any schema is answered, none is understood."""
    if request.get("tools"):
        schema = request["tools"][0]["function"]["parameters"]
    else:
        schema = request.get("response_format", {}).get("json_schema", {}).get("schema", {})
    return _fill(schema, schema.get("$defs", {}))  # type: ignore[return-value]


def completion(arguments: dict | str, *, model: str = "fake", as_content: bool = False) -> dict:
    """A chat completion carrying `arguments` as a tool call, or as the message content when
    the request asked for JSON through `response_format` instead of tools."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    if as_content:
        message, finish = {"role": "assistant", "content": args}, "stop"
    else:
        call = {"id": "call_0", "type": "function",
                "function": {"name": "answer", "arguments": args}}  # fmt: skip
        message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    }


@dataclass
class FakeOpenAI:
    """ASGI app: POST /v1/chat/completions, GET /v1/models."""

    latency: float = 0.0
    # what every answer carries; a callable makes it from the request (`schema_answer`)
    arguments: dict | str | Callable[[dict], dict] = field(
        default_factory=lambda: dict(DEFAULT_ARGUMENTS)
    )
    faults: deque[Fault] = field(default_factory=deque)
    requests: int = 0
    bodies: list[dict] = field(default_factory=list)
    keep_bodies: bool = False
    #: while set, chat requests wait (in flight) until it is cleared: a run held mid-way
    held: threading.Event = field(default_factory=threading.Event)

    def script(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] == "lifespan":
            while (msg := await receive())["type"] != "lifespan.shutdown":
                await send({"type": msg["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = await read_body(receive)
        if scope["path"].endswith("/models"):
            await _send(send, 200, json.dumps({"object": "list", "data": [{"id": "fake"}]}))
            return
        self.requests += 1
        while self.held.is_set():
            await asyncio.sleep(0.01)
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        if self.keep_bodies:
            self.bodies.append(request)
        as_content = isinstance(request, dict) and "tools" not in request
        fault = self.faults.popleft() if self.faults else None
        arguments = self.arguments(request) if callable(self.arguments) else self.arguments
        await asyncio.sleep(self.latency + (fault.delay if fault else 0.0))
        if fault is not None and fault.body == "__truncated__":
            cut = completion('{"relevant": tru', as_content=as_content)
            cut["choices"][0]["finish_reason"] = "length"
            await _send(send, 200, json.dumps(cut))
        elif fault is not None and fault.body == "__garbage_arguments__":
            garbage = completion("this is not JSON, sorry", as_content=as_content)
            await _send(send, 200, json.dumps(garbage))
        elif fault is not None and fault.body == "__no_choices__":
            empty = completion(arguments, as_content=as_content)
            empty["choices"] = []
            await _send(send, 200, json.dumps(empty))
        elif fault is not None and fault.body == "__cut_short__":
            whole = json.dumps(completion(arguments, as_content=as_content)).encode()
            await _send_cut_short(send, whole)
        elif fault is not None and fault.body == "__echo_credentials__":
            auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            message = f"upstream failure; request had Authorization: {auth}; " + "x" * 400
            await _send(send, fault.status, json.dumps({"error": {"message": message}}))
        elif fault is not None and (fault.status != 200 or fault.body is not None):
            await _send(send, fault.status, fault.body or "", fault.headers)
        else:
            await _send(send, 200, json.dumps(completion(arguments, as_content=as_content)))


async def read_body(receive) -> bytes:  # noqa: ANN001 - ASGI
    """The whole request body of an ASGI http request."""
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            return body


async def _send(send, status: int, body: str, headers=()) -> None:  # noqa: ANN001 - ASGI
    raw = body.encode()
    given = {k.lower(): v for k, v in headers}
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", given.pop("content-type", "application/json").encode()),
                (b"content-length", str(len(raw)).encode()),
                *((k.encode(), v.encode()) for k, v in given.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _send_cut_short(send, whole: bytes) -> None:  # noqa: ANN001 - ASGI
    """Promise `whole`, send half of it, and end the response: the server closes the
    connection with the body incomplete."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(whole)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": whole[: len(whole) // 2]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: FakeOpenAI) -> Iterator[str]:
    """Run the fake on a loopback port in a thread; yields its base URL (…/v1)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", lifespan="off", backlog=2048
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # generous: a loaded CI machine starts threads slowly
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
