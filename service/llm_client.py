"""The one place that talks to an LLM: the official `openai` client, validated by `instructor`.

Every other module sees `LLM` (a small interface) and `Completion`; tests swap the HTTP
transport (`http_client=`) or the whole `LLM`, never patch this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx2
import instructor
import openai
from instructor.core import InstructorRetryException
from instructor.core.hooks import Hooks
from pydantic import BaseModel

from .errors import ConfigError, ExtractionError, LLMError
from .settings import Settings

# instructor logs every failed call at ERROR; with no logging configured Python would print
# those to stderr. The failures reach the caller as healthcoop errors instead.
logging.getLogger("instructor").addHandler(logging.NullHandler())

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]

_MODES = {
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "md_json": instructor.Mode.MD_JSON,
}


@dataclass(frozen=True)
class Completion(Generic[T]):
    """A validated answer and what it cost."""

    value: T
    prompt_tokens: int
    completion_tokens: int
    attempts: int  # HTTP requests made, validation re-asks and transport retries included
    latency_ms: int


class LLM(Protocol):
    """What the pipeline needs from a model."""

    model: str
    endpoint: str | None

    def complete(self, messages: Sequence[Message], response_model: type[T]) -> Completion[T]: ...

    async def acomplete(
        self, messages: Sequence[Message], response_model: type[T]
    ) -> Completion[T]: ...


def endpoint_host(base_url: str | None) -> str | None:
    """Host (and port) of an endpoint: what provenance and logs may show. Never credentials."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else None


def _llama_cpp_body(content: bytes) -> bytes | None:
    """llama-cpp-python's server refuses OpenAI's `json_schema` response format (HTTP 500) but
    takes `{"type": "json_object", "schema": ...}` and turns the schema into a grammar, without
    rendering it into the prompt as tools would: hundreds of prompt tokens saved per article."""
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


class _Tally:
    """Per-call counters fed by instructor hooks (one per call, so concurrent calls don't mix)."""

    def __init__(self) -> None:
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.last_parse_error: str | None = None
        self.hooks = Hooks()
        self.hooks.on("completion:kwargs", self._on_request)
        self.hooks.on("completion:response", self._on_response)
        self.hooks.on("parse:error", self._on_parse_error)

    def _on_request(self, *args: Any, **kwargs: Any) -> None:
        self.requests += 1

    def _on_response(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
            self.completion_tokens += getattr(usage, "completion_tokens", 0) or 0

    def _on_parse_error(self, error: Exception) -> None:
        self.last_parse_error = _short(str(error))


def _short(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OpenAILLM:
    """An OpenAI-compatible endpoint, through `openai` + `instructor`."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx2.Client | None = None,
        async_http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        if not settings.base_url:
            raise ConfigError(
                "no model endpoint configured: set HEALTHCOOP_BASE_URL, or use the embedded "
                "model (healthcoop.embedded.running)"
            )
        self.settings = settings
        self.endpoint = endpoint_host(settings.base_url)
        self.model = settings.model or "default"
        self._mode = _MODES[settings.mode]
        if settings.dialect == "llama_cpp":
            http_client = http_client or httpx2.Client(
                transport=LlamaCppDialect(), timeout=settings.timeout
            )
            async_http_client = async_http_client or httpx2.AsyncClient(
                transport=AsyncLlamaCppDialect(), timeout=settings.timeout
            )
        common: dict[str, Any] = {
            "base_url": settings.base_url,
            # local servers ignore the key, but the client insists on one
            "api_key": settings.api_key.get_secret_value() if settings.api_key else "unused",
            "timeout": settings.timeout,
            "max_retries": 0,  # retries are ours: bounded, counted, Retry-After honoured
        }
        self._sync = instructor.from_openai(
            openai.OpenAI(**common, http_client=http_client), mode=self._mode
        )
        self._async = instructor.from_openai(
            openai.AsyncOpenAI(**common, http_client=async_http_client), mode=self._mode
        )

    def _kwargs(self, messages: Sequence[Message], response_model: type[T], tally: _Tally) -> dict:
        return {
            "model": self.model,
            "messages": list(messages),
            "response_model": response_model,
            "max_retries": self.settings.validation_retries,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "hooks": tally.hooks,
        }

    def complete(self, messages: Sequence[Message], response_model: type[T]) -> Completion[T]:
        tally, started = _Tally(), time.monotonic()
        for retry in range(self.settings.retries + 1):
            try:
                value, _ = self._sync.chat.completions.create_with_completion(
                    **self._kwargs(messages, response_model, tally)
                )
                return self._done(value, tally, started)
            except Exception as exc:  # noqa: BLE001 - translated into our tree right here
                error = self._translate(exc, tally)
                if not self._should_retry(error, retry):
                    raise error from None
                time.sleep(self._delay(error, retry))
        raise AssertionError("unreachable")

    async def acomplete(
        self, messages: Sequence[Message], response_model: type[T]
    ) -> Completion[T]:
        tally, started = _Tally(), time.monotonic()
        for retry in range(self.settings.retries + 1):
            try:
                value, _ = await self._async.chat.completions.create_with_completion(
                    **self._kwargs(messages, response_model, tally)
                )
                return self._done(value, tally, started)
            except Exception as exc:  # noqa: BLE001 - translated into our tree right here
                error = self._translate(exc, tally)
                if not self._should_retry(error, retry):
                    raise error from None
                await asyncio.sleep(self._delay(error, retry))
        raise AssertionError("unreachable")

    def _done(self, value: T, tally: _Tally, started: float) -> Completion[T]:
        return Completion(
            value=value,
            prompt_tokens=tally.prompt_tokens,
            completion_tokens=tally.completion_tokens,
            attempts=max(tally.requests, 1),
            latency_ms=int((time.monotonic() - started) * 1000),
        )

    def _should_retry(self, error: Exception, retry: int) -> bool:
        return isinstance(error, LLMError) and error.retryable and retry < self.settings.retries

    @staticmethod
    def _delay(error: LLMError, retry: int) -> float:
        """Retry-After when the server gave one, else exponential backoff with full jitter."""
        if error.retry_after is not None:
            return min(error.retry_after, 120.0)
        return random.uniform(0, min(30.0, 0.5 * 2**retry))

    def _translate(self, exc: Exception, tally: _Tally) -> Exception:
        """Map openai/instructor/httpx failures onto healthcoop's error tree."""
        # instructor wraps what its retry loop saw; look for the HTTP failure underneath
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, openai.APIError):
            cause = cause.__cause__ or cause.__context__
        where = self.endpoint or "the endpoint"
        if isinstance(cause, openai.APITimeoutError):
            return LLMError(
                f"{where} did not answer within {self.settings.timeout:g} s; raise "
                "HEALTHCOOP_TIMEOUT or use a faster model",
                retryable=True,
                kind="timeout",
            )
        if isinstance(cause, openai.APIConnectionError):
            hint = (
                " (start it with: healthcoop serve-model)"
                if where.startswith(("127.0.0.1", "localhost"))
                else ""
            )
            return LLMError(
                f"{where} refused the connection — is the model server running?{hint}",
                retryable=True,
                kind="connection",
            )
        if isinstance(cause, openai.APIStatusError):
            return self._status_error(cause, where)
        if type(exc).__name__ == "IncompleteOutputException":
            return ExtractionError(
                f"the model's answer was cut off at max_tokens ({self.settings.max_tokens}); "
                "raise HEALTHCOOP_MAX_TOKENS, or the model is repeating itself",
                attempts=tally.requests,
                last_error="incomplete output",
            )
        if isinstance(exc, InstructorRetryException):
            last = tally.last_parse_error or _short(str(getattr(exc, "__cause__", "") or exc))
            return ExtractionError(
                f"the model's answer did not validate after {tally.requests} attempts; "
                f"last problem: {last}",
                attempts=tally.requests,
                last_error=last,
            )
        if isinstance(exc, (ExtractionError, LLMError, ConfigError)):
            return exc
        return ExtractionError(
            f"the model's answer could not be used ({type(exc).__name__}: {_short(str(exc), 300)})",
            attempts=tally.requests,
            last_error=_short(str(exc)),
        )

    @staticmethod
    def _status_error(cause: openai.APIStatusError, where: str) -> LLMError:
        status = cause.status_code
        detail = _short(cause.response.text if cause.response is not None else "", 300)
        if status == 429:
            return LLMError(
                f"{where} is rate limiting (HTTP 429); lower the request rate or concurrency",
                retryable=True,
                status_code=429,
                retry_after=_retry_after(cause.response),
                kind="rate_limit",
            )
        if status in (401, 403):
            return LLMError(
                f"{where} rejected the credentials (HTTP {status}); check HEALTHCOOP_API_KEY",
                retryable=False,
                status_code=status,
                kind="auth",
            )
        if status >= 500:
            return LLMError(
                f"{where} failed with HTTP {status}: {detail}",
                retryable=True,
                status_code=status,
                retry_after=_retry_after(cause.response),
                kind="server",
            )
        return LLMError(
            f"{where} refused the request with HTTP {status}: {detail}; check "
            "HEALTHCOOP_MODEL and HEALTHCOOP_MODE (tools/json/md_json)",
            retryable=False,
            status_code=status,
            kind="client",
        )


def _retry_after(response: httpx2.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
