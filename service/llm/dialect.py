"""llama-cpp-python's dialect of the OpenAI API, as httpx2 transports.

llama-cpp-python's server refuses OpenAI's `json_schema` response format (HTTP 500) but takes
`{"type": "json_object", "schema": ...}` and turns the schema into a grammar, without
rendering it into the prompt as tools would: hundreds of prompt tokens saved per article. The
transports rewrite that one field of chat-completion requests and pass everything else on.
"""

from __future__ import annotations

import json

import httpx2


def _llama_cpp_body(content: bytes) -> bytes | None:
    """The request body with a `json_schema` response format rewritten, or None to send as is."""
    try:
        body = json.loads(content)
    except ValueError:
        return None
    fmt = body.get("response_format") if isinstance(body, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    body["response_format"] = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
    return json.dumps(body).encode()


def _translated(request: httpx2.Request) -> httpx2.Request:
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        return request
    body = _llama_cpp_body(request.read())
    if body is None:
        return request
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx2.Request(request.method, request.url, headers=headers, content=body,
                          extensions=request.extensions)  # fmt: skip


class LlamaCppDialect(httpx2.BaseTransport):
    """Sync transport that speaks llama-cpp-python's dialect of the OpenAI API."""

    def __init__(self, inner: httpx2.BaseTransport | None = None) -> None:
        self.inner = inner or httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.inner.handle_request(_translated(request))

    def close(self) -> None:
        self.inner.close()


class AsyncLlamaCppDialect(httpx2.AsyncBaseTransport):
    """Async twin of `LlamaCppDialect`."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        return await self.inner.handle_async_request(_translated(request))

    async def aclose(self) -> None:
        await self.inner.aclose()
