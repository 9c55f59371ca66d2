"""The async model client's HTTP on aiohttp, as an httpx2 transport.

openai offers aiohttp as its async client's transport "for improved concurrency performance"
(`openai[aiohttp]`). At the service's 32 requests in flight it costs about 1 ms less CPU a
request than httpx2's own pool, which checks every idle connection's socket on every request
(`python -m bench.service`, issue 16). healthcoop uses it where one event loop owns the client
for its whole life and closes it (`OpenAILLM(aiohttp=True)`: the service, the bulk runner's
processes); everything else (the Python API, whose callers may run a loop per call) keeps
httpx2's transport.

openai's bundled adapter (`openai._vendor.httpx_aiohttp`) is private, and it maps a refused
connection onto a connect *timeout*; this one is small and maps aiohttp's errors onto the
httpx2 errors the client classifies (`llm.client`): refused → ConnectError, dropped or cut
short → RemoteProtocolError, timeouts → ConnectTimeout/ReadTimeout.

An aiohttp session belongs to the event loop that made it: one session per loop, closed by
`aclose()` in that loop. Answers are read whole (chat completions are small JSON documents).
"""

from __future__ import annotations

import asyncio
import weakref

import aiohttp
import httpx2

# aiohttp's errors, most specific first, and the httpx2 error each stands for (any other:
# NetworkError)
_ERRORS: tuple[tuple[type[BaseException], type[httpx2.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx2.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx2.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx2.ReadTimeout),
    (asyncio.TimeoutError, httpx2.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx2.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx2.RemoteProtocolError),  # a body cut short, as httpcore
    (aiohttp.InvalidURL, httpx2.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx2.ReadError),
)


def _as_httpx(exc: BaseException, request: httpx2.Request) -> httpx2.TransportError:
    for theirs, ours in _ERRORS:
        if isinstance(exc, theirs):
            return ours(f"{type(exc).__name__}: {exc}", request=request)
    return httpx2.NetworkError(f"{type(exc).__name__}: {exc}", request=request)


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """httpx2's async transport interface over one aiohttp session per event loop."""

    def __init__(self, *, limits: httpx2.Limits, verify: bool = True) -> None:
        self._limit = limits.max_connections or 0  # aiohttp: 0 is no limit
        self._keepalive = limits.keepalive_expiry
        self._verify = verify
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, aiohttp.ClientSession
        ] = weakref.WeakKeyDictionary()

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                keepalive_timeout=self._keepalive if self._keepalive is not None else 15.0,
                # verified TLS with httpx2's own context (its CA bundle, SSL_CERT_FILE), as
                # its transport would; a plain-HTTP endpoint (the embedded one) needs none
                ssl=httpx2.create_ssl_context() if self._verify else False,
            )
            # no cookies (an API client), no proxy variables read (as httpx2's transport)
            session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
            self._sessions[loop] = session
        return session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout", {})
        session = self._session()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=await request.aread() or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx2 decodes, as with its own transport
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as answer:
                body = await answer.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _as_httpx(exc, request) from exc
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode("latin-1", "replace")
        return httpx2.Response(
            answer.status,
            headers=answer.raw_headers,
            content=body,
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        """Close this loop's session (sessions of other loops belong to them)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        session = self._sessions.pop(loop, None)
        if session is not None:
            await session.close()
