"""The one place that talks to an LLM: the official `openai` client, validated by `instructor`.

Every other module sees `LLM` and `Completion` (`llm/base.py`); the doors get an `OpenAILLM`
from `llm.factory.build_llm`, never by building one. Tests swap the HTTP transport
(`transport=`) or the whole `LLM`, never patch this module. Failures leave here as classes of
the error tree (`errors.py`), with any credential redacted from what the endpoint said.

In the `tools` and `json_schema` modes a request is built once per response model class
(`_Request`: instructor's request handler run once, the JSON body after the messages
serialized once) and posted through the openai client as bytes; the answer is parsed, and
re-asked on a validation error, by the same instructor handlers its own retry loop uses.
That keeps instructor's request format and validation while skipping what it re-derives on
every call (the schema, a wrapper model, a walk over the validators): most of the CPU a
request cost. The `json` and `md_json` modes put the schema into the messages and go through
instructor's full call path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import instructor
import openai
from instructor.core import InstructorRetryException
from instructor.core.hooks import Hooks
from instructor.v2.core.errors import ResponseParsingError
from instructor.v2.core.registry import ModeHandlers, mode_registry
from instructor.v2.core.response_model import prepare_response_model
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from ..errors import (
    AuthRejected,
    BadResponse,
    ConfigError,
    ConnectionFailed,
    ExtractionError,
    HealthcoopError,
    LLMError,
    RateLimited,
    RequestRejected,
    ServerError,
    Timeout,
    redact,
)
from ..settings import Settings
from .base import (
    Bound,
    Completion,
    Message,
    ResponseModel,
    T,
    endpoint_host,
    request_schema,
)
from .dialect import AsyncLlamaCppDialect, LlamaCppDialect
from .ratelimit import retry_after_seconds

# instructor logs every failed call at ERROR; with no logging configured Python would print
# those to stderr. The failures reach the caller as healthcoop errors instead.
logging.getLogger("instructor").addHandler(logging.NullHandler())
log = logging.getLogger(__name__)

_MODES = {
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "md_json": instructor.Mode.MD_JSON,
}


class _Tally:
    """Per-call counters fed by instructor hooks (one per call, so concurrent calls don't mix)."""

    def __init__(self) -> None:
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.last_parse_error: str | None = None
        self.empty_choices = False
        self.hooks = Hooks()
        self.hooks.on("completion:kwargs", self._on_request)
        self.hooks.on("completion:response", self._on_response)
        self.hooks.on("parse:error", self._on_parse_error)

    def _on_request(self, *args: Any, **kwargs: Any) -> None:
        self.requests += 1

    def _on_response(self, response: Any) -> None:
        """Count one answer (called by instructor's hook, or directly on the prebuilt path)."""
        if not getattr(response, "choices", None):
            self.empty_choices = True  # a 200 that carries no answer at all
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
            self.completion_tokens += getattr(usage, "completion_tokens", 0) or 0

    def _on_parse_error(self, error: Exception) -> None:
        self.last_parse_error = _short(str(error))


# what instructor's own retry loop re-asks on (instructor.v2.core.retry._RETRYABLE_PARSE_ERRORS)
_PARSE_ERRORS = (ValidationError, json.JSONDecodeError, ResponseParsingError)
# modes whose request leaves the messages as they are: those are built once per model class
_PREBUILT_MODES = ("tools", "json_schema")


def _name(response_model: ResponseModel) -> str:
    return response_model.name if isinstance(response_model, Bound) else response_model.__name__


def _direct_extra(schema: dict[str, Any], name: str, mode: str) -> dict[str, Any]:
    """What instructor adds to a request for a model with this JSON Schema, written out: the
    answer as a tool call (tools), or as a `json_schema` response format. The client checks
    it against instructor's own once per mode (`OpenAILLM._request`)."""
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "schema": schema}}}  # fmt: skip
    parameters = {k: v for k, v in schema.items() if k not in ("title", "description")}
    parameters["required"] = sorted(schema.get("required", []))
    function = {"name": schema["title"], "description": schema["description"],
                "parameters": parameters}  # fmt: skip
    choice = {"type": "function", "function": {"name": function["name"]}}
    return {"tools": [{"type": "function", "function": function}], "tool_choice": choice}


@dataclass(frozen=True)
class _Request:
    """Everything one response model's requests share, prepared once."""

    # what an answer is validated with: instructor's runtime model, or None for the response
    # model itself (which must not be held here: the cache holds requests by weak reference
    # to their model, and a value that refers to its key keeps it alive, one class an article)
    model: type[BaseModel] | None
    extra: dict[str, Any]  # what instructor adds to a request: tools + tool_choice, or format
    tail: bytes  # the JSON body after its "messages" member, serialized once

    def body(self, messages: list[Any]) -> bytes:
        head = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
        return b'{"messages":' + head.encode("utf-8") + self.tail

    def validator(self, response_model: ResponseModel) -> tuple[type[BaseModel], dict | None]:
        """What validates an answer, and in what context."""
        if self.model is not None:
            return self.model, None
        if isinstance(response_model, Bound):
            return response_model.model, response_model.context
        return response_model, None


@dataclass(frozen=True)
class BatchState:
    """Where a Batch API batch stands."""

    batch_id: str
    status: str  # validating, in_progress, finalizing, completed, failed, expired, cancelled…
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: str = ""  # why a batch failed as a whole (its input was refused)

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "expired", "cancelled")


def _short(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body_not_json(exc: BaseException, tally: _Tally) -> bool:
    """Whether the HTTP body itself was not JSON (a server fault), as opposed to the model's
    answer inside a completion (which instructor parses, and re-asks about)."""
    if tally.last_parse_error is not None:
        return False
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, json.JSONDecodeError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


# How much of an upstream error body a message quotes: enough for its own error message.
QUOTE_LIMIT = 200


def upstream_detail(response: httpx2.Response | None, *secrets: str | None) -> str:
    """What an endpoint's error body says, briefly and with credentials redacted: the JSON
    error's message when it has one, else a note of what kind of body it was."""
    if response is None:
        return "no body"
    try:
        text = response.text
    except (httpx2.HTTPError, UnicodeDecodeError, RuntimeError):
        return "an unreadable body"
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error.get("msg"))
        if isinstance(error, str):
            message = error
        elif isinstance(error, list) and error:  # FastAPI-style validation detail
            message = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e)
                                for e in error[:3])  # fmt: skip
    if message is None:
        kind = "an HTML page" if "<html" in text[:500].lower() else "a non-JSON body"
        return f"{kind} of {len(text):,} characters"
    return _short(redact(message, *secrets), QUOTE_LIMIT)


class OpenAILLM:
    """An OpenAI-compatible endpoint, through `openai` + `instructor`.

    `connections` bounds the HTTP connection pool (a bulk run's concurrency), `hooks` are
    httpx event hooks run on every request and response (the bulk runner's rate limits), and
    `transport`/`async_transport` replace the network (tests). With `aiohttp` the async side
    speaks through aiohttp (`llm.aio`: about 1 ms less CPU a request at high concurrency),
    for callers whose event loop owns the client and closes it (`aclose`). The llama.cpp
    dialect, when the settings ask for it, wraps whatever transport is in use.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        connections: int | None = None,
        hooks: dict[str, list] | None = None,
        transport: httpx2.BaseTransport | None = None,
        async_transport: httpx2.AsyncBaseTransport | None = None,
        aiohttp: bool = False,
    ) -> None:
        if not settings.base_url:
            raise ConfigError(
                "no model endpoint configured: set HEALTHCOOP_BASE_URL, or leave it unset to "
                "use the embedded model (llm.factory.build_llm starts it)"
            )
        self.settings = settings
        self.endpoint = endpoint_host(settings.base_url)
        self.model = settings.model or "default"
        self._secret = settings.api_key.get_secret_value() if settings.api_key else None
        self._mode = _MODES[settings.mode]
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        # a plain-HTTP endpoint (a local server) needs no TLS: loading the CA bundle for it
        # costs ~80 ms at every start of the CLI, a worker or the service
        tls = not str(settings.base_url).startswith("http://")
        sync_transport = transport or httpx2.HTTPTransport(limits=limits, verify=tls)
        self._aio = None
        if async_transport is None and aiohttp:
            from .aio import AiohttpTransport

            async_transport = self._aio = AiohttpTransport(limits=limits, verify=tls)
        a_transport = async_transport or httpx2.AsyncHTTPTransport(limits=limits, verify=tls)
        if settings.dialect == "llama_cpp":
            sync_transport = LlamaCppDialect(sync_transport)
            a_transport = AsyncLlamaCppDialect(a_transport)
        self.http = httpx2.Client(transport=sync_transport, timeout=settings.timeout)
        self.ahttp = httpx2.AsyncClient(
            transport=a_transport, timeout=settings.timeout, event_hooks=hooks or {}
        )
        common: dict[str, Any] = {
            "base_url": settings.base_url,
            # local servers ignore the key, but the client insists on one
            "api_key": self._secret or "unused",
            "timeout": settings.timeout,
            "max_retries": 0,  # retries are ours: bounded, counted, Retry-After honoured
        }
        self._raw = openai.OpenAI(**common, http_client=self.http)
        self._araw = openai.AsyncOpenAI(**common, http_client=self.ahttp)
        self._sync = instructor.from_openai(self._raw, mode=self._mode)
        self._async = instructor.from_openai(self._araw, mode=self._mode)
        self._handlers: ModeHandlers | None = (
            mode_registry.get_handlers(self._async.provider, self._mode)
            if settings.mode in _PREBUILT_MODES
            else None
        )
        # one prepared request per response model class, for as long as the class lives
        self._requests: weakref.WeakKeyDictionary[type, _Request] = weakref.WeakKeyDictionary()
        self._batch_handlers = mode_registry.get_handlers(
            self._async.provider, instructor.Mode.JSON_SCHEMA
        )
        self._batch_requests: weakref.WeakKeyDictionary[type, _Request] = (
            weakref.WeakKeyDictionary()
        )
        self._requests_lock = threading.Lock()
        # per mode: whether requests are built from a model's own schema (None: not yet
        # checked against instructor's; False: instructor's differ, so instructor builds them)
        self._direct: dict[str, bool | None] = dict.fromkeys(_PREBUILT_MODES)

    def close(self) -> None:
        self.http.close()

    async def aprobe(self) -> None:
        """Readiness: GET <base_url>/models answers 2xx within a few seconds."""
        url = f"{str(self.settings.base_url).rstrip('/')}/models"
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        where = self.endpoint or "the endpoint"
        try:
            answer = await self.ahttp.get(
                url, headers=headers, timeout=min(self.settings.timeout, 5.0)
            )
        except httpx2.TimeoutException:
            raise Timeout(f"{where} did not answer the readiness probe in time") from None
        except httpx2.HTTPError as exc:
            raise ConnectionFailed(f"{where} is unreachable ({type(exc).__name__})") from None
        if answer.status_code >= 400:
            raise ServerError(
                f"{where} answered the readiness probe with HTTP {answer.status_code}",
                status_code=answer.status_code,
            )

    async def aclose(self) -> None:
        """Close the async side's connections; on aiohttp, those of the running event loop
        only (each loop has its own session), and the client stays usable in another loop."""
        if self._aio is not None:
            await self._aio.aclose()
        else:
            await self.ahttp.aclose()

    def _kwargs(self, messages: Sequence[Message], response_model: ResponseModel[T],
                tally: _Tally) -> dict:  # fmt: skip
        if isinstance(response_model, Bound):
            response_model = response_model.as_class()  # instructor's own path takes classes
        return {
            "model": self.model,
            "messages": list(messages),
            "response_model": response_model,
            "max_retries": self.settings.validation_retries,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "hooks": tally.hooks,
        }

    def _request(self, response_model: ResponseModel, *, batch: bool = False) -> _Request:
        """The prepared request for `response_model`, built on its first use (`batch`: in
        the json_schema mode, as the Batch API path asks whatever the client's mode)."""
        cache = self._batch_requests if batch else self._requests
        prepared = cache.get(response_model)
        if prepared is not None:
            return prepared
        mode = "json_schema" if batch else self.settings.mode
        schema = request_schema(response_model) if self._direct.get(mode) is not False else None
        if schema is not None:
            model, extra = None, _direct_extra(schema, _name(response_model), mode)
            if self._direct[mode] is None:  # first use: instructor must have said the same
                instructors = self._instructor_request(response_model, batch)
                self._direct[mode] = instructors[1] == extra
                if not self._direct[mode]:
                    log.warning("instructor builds %s requests differently; using its own", mode)
                    model, extra = instructors
        else:
            model, extra = self._instructor_request(response_model, batch)
        rest = {
            "model": self.model,
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            **extra,
        }
        tail = b"," + json.dumps(rest, ensure_ascii=False, separators=(",", ":"))[1:].encode()
        prepared = _Request(model, extra, tail)
        with self._requests_lock:
            return cache.setdefault(response_model, prepared)

    def _instructor_request(self, response_model: ResponseModel,
                            batch: bool) -> tuple[type[BaseModel], dict[str, Any]]:  # fmt: skip
        """instructor's own request for a model class: its runtime model, and what it adds to
        a request (tools and tool_choice, or the response format)."""
        if isinstance(response_model, Bound):
            response_model = response_model.as_class()
        handlers = self._batch_handlers if batch else self._handlers
        assert handlers is not None
        model, kwargs = handlers.request_handler(
            response_model=prepare_response_model(response_model), kwargs={"messages": []}
        )
        return model, {k: v for k, v in kwargs.items() if k != "messages"}

    def _parse(self, response: ChatCompletion, model: tuple[type[BaseModel], dict | None],
               tally: _Tally, handlers: ModeHandlers | None = None) -> Any:  # fmt: skip
        tally._on_response(response)
        if not response.choices:
            raise BadResponse(
                f"{self.endpoint or 'the endpoint'} answered HTTP 200 with no usable completion "
                "(no choices); is HEALTHCOOP_BASE_URL an OpenAI-compatible API?"
            )
        handlers = handlers or self._handlers
        assert handlers is not None
        return handlers.response_parser(
            response=response,
            response_model=model[0],
            validation_context=model[1],
            strict=True,  # as instructor's create() validates by default
            stream=False,
            is_async=False,
        )

    def _reask_or_stop(self, kwargs: dict, response: ChatCompletion, error: Exception,
                       tally: _Tally, first: int) -> dict:  # fmt: skip
        """The next attempt's messages (the answer and what was wrong with it), or the error
        that ends the call once this call's re-asks are used up."""
        tally.last_parse_error = _short(str(error))
        if tally.requests - first > self.settings.validation_retries:
            raise self._not_valid(tally)
        assert self._handlers is not None
        return self._handlers.reask_handler(kwargs=kwargs, response=response, exception=error)

    def _not_valid(self, tally: _Tally) -> ExtractionError:
        last = redact(tally.last_parse_error or "no detail", self._secret)
        return ExtractionError(
            f"the model's answer did not validate after {tally.requests} attempts; "
            f"last problem: {last}",
            attempts=tally.requests,
            last_error=last,
        )

    def _ask(self, messages: Sequence[Message], response_model: ResponseModel[T],
             tally: _Tally) -> T:  # fmt: skip
        if self._handlers is None:
            value, _ = self._sync.chat.completions.create_with_completion(
                **self._kwargs(messages, response_model, tally)
            )
            return value
        prepared = self._request(response_model)
        kwargs: dict[str, Any] = {"messages": list(messages), **prepared.extra}
        first = tally.requests
        while True:
            tally.requests += 1
            response = self._raw.post(
                "/chat/completions",
                cast_to=ChatCompletion,
                content=prepared.body(kwargs["messages"]),
            )
            try:
                return self._parse(response, prepared.validator(response_model), tally)
            except _PARSE_ERRORS as exc:
                kwargs = self._reask_or_stop(kwargs, response, exc, tally, first)

    async def _aask(self, messages: Sequence[Message], response_model: ResponseModel[T],
                    tally: _Tally) -> T:  # fmt: skip
        if self._handlers is None:
            value, _ = await self._async.chat.completions.create_with_completion(
                **self._kwargs(messages, response_model, tally)
            )
            return value
        prepared = self._request(response_model)
        kwargs: dict[str, Any] = {"messages": list(messages), **prepared.extra}
        first = tally.requests
        while True:
            tally.requests += 1
            response = await self._araw.post(
                "/chat/completions",
                cast_to=ChatCompletion,
                content=prepared.body(kwargs["messages"]),
            )
            try:
                return self._parse(response, prepared.validator(response_model), tally)
            except _PARSE_ERRORS as exc:
                kwargs = self._reask_or_stop(kwargs, response, exc, tally, first)

    def complete(self, messages: Sequence[Message],
                 response_model: ResponseModel[T]) -> Completion[T]:  # fmt: skip
        tally, started = _Tally(), time.monotonic()
        for retry in range(self.settings.retries + 1):
            try:
                return self._done(self._ask(messages, response_model, tally), tally, started)
            except Exception as exc:  # noqa: BLE001 - translated into our tree right here
                error = self._translate(exc, tally)
                if not self._should_retry(error, retry):
                    raise error from None
                time.sleep(self._delay(error, retry))
        raise AssertionError("unreachable")

    async def acomplete(
        self, messages: Sequence[Message], response_model: ResponseModel[T]
    ) -> Completion[T]:
        tally, started = _Tally(), time.monotonic()
        for retry in range(self.settings.retries + 1):
            try:
                value = await self._aask(messages, response_model, tally)
                return self._done(value, tally, started)
            except Exception as exc:  # noqa: BLE001 - translated into our tree right here
                error = self._translate(exc, tally)
                if not self._should_retry(error, retry):
                    raise error from None
                await asyncio.sleep(self._delay(error, retry))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ the Batch API

    def batch_body(self, messages: Sequence[Message], response_model: ResponseModel) -> dict:
        """One Batch API request body for /v1/chat/completions: the messages, and the answer
        schema as a `json_schema` response format (in every mode: a batch cannot re-ask)."""
        prepared = self._request(response_model, batch=True)
        return json.loads(prepared.body(list(messages)))

    def batch_answer(self, body: dict, response_model: ResponseModel[T]) -> Completion[T]:
        """The validated answer in one Batch API result body (a chat completion), or the error
        it is: an answer that does not validate is an ExtractionError, as online."""
        tally = _Tally()
        tally.requests = 1
        prepared = self._request(response_model, batch=True)
        try:
            response = ChatCompletion.model_validate(body)
            model = prepared.validator(response_model)
            value = self._parse(response, model, tally, self._batch_handlers)
        except _PARSE_ERRORS as exc:
            tally.last_parse_error = _short(str(exc))
            raise self._not_valid(tally) from None
        except Exception as exc:  # noqa: BLE001 - translated into our tree right here
            raise self._translate(exc, tally) from None
        return Completion(value, tally.prompt_tokens, tally.completion_tokens, 1, 0)

    def batch_failure(self, status_code: int | None, error: dict | None) -> LLMError:
        """The error of one Batch API line that carries no answer: the request's HTTP status
        and error body, or (no response at all) the line's error, e.g. the batch expired."""
        error = error or {}
        detail = error.get("error", error) if isinstance(error, dict) else {}
        message = detail.get("message") if isinstance(detail, dict) else None
        message = _short(redact(str(message or "no detail"), self._secret), QUOTE_LIMIT)
        code = str(detail.get("code") or "") if isinstance(detail, dict) else ""
        where = f"{self.endpoint or 'the endpoint'} (Batch API)"
        if status_code is None:
            if code in ("batch_expired", "batch_cancelled"):
                return Timeout(
                    f"{where}: the batch ended ({code}) before this request was answered; run "
                    "the command again to ask it in a new batch"
                )
            return RequestRejected(f"{where} did not run this request: {message}")
        if status_code == 429:
            return RateLimited(f"{where} rate limited this request: {message}", status_code=429)
        if status_code >= 500:
            return ServerError(
                f"{where} failed this request with HTTP {status_code}: {message}",
                status_code=status_code,
            )
        return RequestRejected(
            f"{where} refused this request with HTTP {status_code}: {message}",
            status_code=status_code,
        )

    async def upload_batch_file(self, name: str, content: bytes) -> str:
        """Upload a Batch API requests file (JSON Lines); its file id."""
        done = await self._call(self._araw.files.create, file=(name, content), purpose="batch")
        return done.id

    async def create_batch(self, input_file_id: str, metadata: dict[str, str]) -> str:
        """Start a batch over an uploaded requests file; its batch id."""
        done = await self._call(
            self._araw.batches.create,
            input_file_id=input_file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata=metadata,
        )
        return done.id

    async def find_batch(self, input_file_id: str) -> str | None:
        """The batch already started over `input_file_id`, if any (a run stopped between
        starting a batch and keeping its id)."""
        page = await self._call(self._araw.batches.list, limit=100)
        for batch in page.data:
            if batch.input_file_id == input_file_id:
                return batch.id
        return None

    async def batch_state(self, batch_id: str) -> BatchState:
        batch = await self._call(self._araw.batches.retrieve, batch_id)
        counts = batch.request_counts
        errors = "; ".join(e.message or e.code or "" for e in (batch.errors.data or [])) if (
            batch.errors is not None
        ) else ""  # fmt: skip
        return BatchState(
            batch.id,
            batch.status,
            total=counts.total if counts else 0,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            errors=errors,
        )

    async def batch_file(self, file_id: str) -> bytes:
        """The content of a Batch API file (results or errors, JSON Lines)."""
        answer = await self._call(self._araw.files.content, file_id)
        return answer.read()

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """One files/batches call, retried like a completion, failing as our errors."""
        tally = _Tally()
        for retry in range(self.settings.retries + 1):
            try:
                return await method(*args, **kwargs)
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

    def _should_retry(self, error: HealthcoopError, retry: int) -> bool:
        return error.retryable and retry < self.settings.retries

    @staticmethod
    def _delay(error: HealthcoopError, retry: int) -> float:
        """Retry-After when the server gave one, else exponential backoff with full jitter."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, 120.0)
        return random.uniform(0, min(30.0, 0.5 * 2**retry))

    def _translate(self, exc: Exception, tally: _Tally) -> HealthcoopError:
        """Map openai/instructor/httpx failures onto healthcoop's error tree."""
        error = self._classify(exc, tally)
        if isinstance(error, LLMError):
            error.attempts = max(error.attempts, tally.requests)
        return error

    def _classify(self, exc: Exception, tally: _Tally) -> HealthcoopError:
        # instructor wraps what its retry loop saw; look for the HTTP failure underneath
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, openai.APIError):
            cause = cause.__cause__ or cause.__context__
        where = self.endpoint or "the endpoint"
        if isinstance(cause, openai.APITimeoutError):
            return Timeout(
                f"{where} did not answer within {self.settings.timeout:g} s; raise "
                "HEALTHCOOP_TIMEOUT or use a faster model"
            )
        if isinstance(cause, openai.APIConnectionError):
            return self._connection_error(cause, where)
        if isinstance(cause, openai.APIStatusError):
            return self._status_error(cause, where)
        if (
            isinstance(cause, openai.APIResponseValidationError)
            or tally.empty_choices
            or _body_not_json(exc, tally)
        ):
            response = getattr(cause, "response", None)
            detail = f" ({upstream_detail(response, self._secret)})" if response is not None else ""
            return BadResponse(
                f"{where} answered HTTP 200 with no usable completion{detail}; is "
                "HEALTHCOOP_BASE_URL an OpenAI-compatible API?"
            )
        if type(exc).__name__ == "IncompleteOutputException":
            return ExtractionError(
                f"the model's answer was cut off at max_tokens ({self.settings.max_tokens}); "
                "raise HEALTHCOOP_MAX_TOKENS, or the model is repeating itself",
                attempts=tally.requests,
                last_error="incomplete output",
            )
        if isinstance(exc, InstructorRetryException):
            last = tally.last_parse_error or _short(str(getattr(exc, "__cause__", "") or exc))
            last = redact(last, self._secret)
            return ExtractionError(
                f"the model's answer did not validate after {tally.requests} attempts; "
                f"last problem: {last}",
                attempts=tally.requests,
                last_error=last,
            )
        if isinstance(exc, HealthcoopError):
            return exc
        detail = redact(_short(str(exc), 300), self._secret)
        return ExtractionError(
            f"the model's answer could not be used ({type(exc).__name__}: {detail})",
            attempts=tally.requests,
            last_error=detail,
        )

    @staticmethod
    def _connection_error(cause: openai.APIConnectionError, where: str) -> ConnectionFailed:
        underneath: BaseException | None = cause
        while underneath is not None and not isinstance(underneath, httpx2.HTTPError):
            underneath = underneath.__cause__ or underneath.__context__
        if isinstance(underneath, httpx2.ConnectError):
            hint = (
                " (start it with: healthcoop serve-model)"
                if where.startswith(("127.0.0.1", "localhost"))
                else ""
            )
            return ConnectionFailed(
                f"{where} refused the connection — is the model server running?{hint}"
            )
        return ConnectionFailed(
            f"{where} closed the connection before a whole answer arrived "
            f"({type(underneath or cause).__name__}); the server may have crashed or restarted"
        )

    def _status_error(self, cause: openai.APIStatusError, where: str) -> LLMError:
        status = cause.status_code
        response = cause.response
        retry_after = retry_after_seconds(response.headers.get("retry-after")) if response else None
        if status == 429:
            return RateLimited(
                f"{where} is rate limiting (HTTP 429); lower the request rate or concurrency",
                status_code=429,
                retry_after=retry_after,
            )
        if status in (401, 403):
            return AuthRejected(
                f"{where} rejected the credentials (HTTP {status}); check HEALTHCOOP_API_KEY",
                status_code=status,
            )
        detail = upstream_detail(response, self._secret)
        if status >= 500:
            return ServerError(
                f"{where} failed with HTTP {status}: {detail}",
                status_code=status,
                retry_after=retry_after,
            )
        return RequestRejected(
            f"{where} refused the request with HTTP {status}: {detail}; check "
            "HEALTHCOOP_MODEL and HEALTHCOOP_MODE (tools, json, json_schema, md_json)",
            status_code=status,
        )
