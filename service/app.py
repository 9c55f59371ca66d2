"""The HTTP service (`healthcoop serve`): the extraction contract over HTTP.

Routes are thin wrappers over `Extractor.aextract`. Errors of the one tree become HTTP
responses in one place (`http_status`); an ASGI layer at the edge gives every request an id,
checks the bearer token and the body size, turns anything unexpected into a typed 500, and
writes one structured log line.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx2
from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthcoop.schemas import SCHEMA_VERSION, Article, ArticleExtraction

from .api_examples import SEED_ARTICLE, seed_record
from .errors import ExtractionError, HealthcoopError, InputError, LLMError
from .extract import Extractor
from .llm_client import LLM, OpenAILLM
from .runtime import endpoint_settings
from .settings import Settings, get_settings

log = logging.getLogger("healthcoop.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Probe = Callable[[], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/healthz"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


# ---------------------------------------------------------------- errors of the service itself


class PayloadTooLarge(InputError):
    """The request body is over `service_max_body_bytes`."""

    type = "payload_too_large"


class InvalidRequest(InputError):
    """The request does not match its schema; carries one message per offending field."""

    def __init__(self, message: str, *, problems: list[dict[str, str]]) -> None:
        super().__init__(message, field=problems[0]["field"] if problems else None)
        self.problems = problems


class Unauthorized(HealthcoopError):
    type = "unauthorized"


class NotReady(HealthcoopError):
    """The model endpoint is starting, or does not answer the readiness probe."""

    type = "not_ready"


class RouteError(HealthcoopError):
    """No such route (404) or method (405), or another refusal by the HTTP layer itself."""

    def __init__(self, message: str, *, status: int, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.type = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        self.status = status
        self.headers = headers or {}


class InternalError(HealthcoopError):
    type = "internal_error"


# ---------------------------------------------------------------- the one mapping to HTTP


def _seconds(value: float | None) -> str | None:
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
    if isinstance(error, LLMError):
        retry_after = _seconds(error.retry_after)
        if error.kind == "rate_limit":  # the model is saturated: not the caller's fault
            return 503, {"Retry-After": retry_after or "1"}
        if error.kind == "timeout":
            return 504, {}
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


def error_response(error: HealthcoopError, state: MutableMapping[str, Any]) -> JSONResponse:
    status, headers = http_status(error)
    state["error"] = error.type
    body = error_body(error, status=status, request_id=state.get("request_id", "-"))
    return JSONResponse(body, status_code=status, headers=headers)


def _from_validation(exc: RequestValidationError) -> InvalidRequest:
    problems = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[1:]
        problems.append({"field": ".".join(loc) or "body", "message": str(e.get("msg", ""))})
    listed = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return InvalidRequest(f"invalid request: {listed}", problems=problems)


def _install_error_handlers(app: FastAPI) -> None:
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
        return error_response(exc, _state(request))

    for kind in (HealthcoopError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, on_error)


# ---------------------------------------------------------------- the edge of every request


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
            log.error(json.dumps({"event": "unhandled", "request_id": request_id, **_where(exc)}))
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


def _where(exc: BaseException) -> dict[str, Any]:
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


# ---------------------------------------------------------------- the service behind the routes


@dataclass
class Service:
    """An extractor, the bound on extractions in flight, and how to probe the model endpoint."""

    extractor: Extractor
    slots: asyncio.Semaphore
    probe: Probe | None

    async def extract(self, article: Article | dict[str, Any] | str) -> ArticleExtraction:
        async with self.slots:  # a burst queues here instead of piling onto the model server
            return await self.extractor.aextract(article)


def http_probe(settings: Settings) -> Probe:
    """A readiness probe: GET <base_url>/models answers 2xx within a few seconds."""
    url = f"{(settings.base_url or '').rstrip('/')}/models"
    headers = {}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"

    async def probe() -> None:
        try:
            async with httpx2.AsyncClient(timeout=min(settings.timeout, 5.0)) as client:
                answer = await client.get(url, headers=headers)
        except httpx2.TimeoutException:
            raise LLMError("the model endpoint did not answer in time", retryable=True) from None
        except httpx2.HTTPError as exc:
            raise LLMError(
                f"the model endpoint is unreachable ({type(exc).__name__})", retryable=True
            ) from None
        if answer.status_code >= 400:
            raise LLMError(f"the model endpoint answered HTTP {answer.status_code}", retryable=True)

    return probe


def _service(llm: LLM, settings: Settings) -> Service:
    return Service(
        extractor=Extractor(llm, settings),
        slots=asyncio.Semaphore(settings.service_concurrency),
        probe=http_probe(settings) if settings.base_url else None,
    )


def _ready_service(request: Request) -> Service:
    service = request.app.state.service
    if service is None:
        raise NotReady("the model endpoint is still starting; retry shortly")
    return service


ServiceDep = Annotated[Service, Depends(_ready_service)]


def _state(request: Request) -> MutableMapping[str, Any]:
    """This request's state, shared with `Edge` (request id in, counts out for the log)."""
    return request.scope.setdefault("state", {})


def _count(state: MutableMapping[str, Any], record: ArticleExtraction) -> None:
    usage = record.provenance.usage
    state["prompt_tokens"] = state.get("prompt_tokens", 0) + usage.prompt_tokens
    state["completion_tokens"] = state.get("completion_tokens", 0) + usage.completion_tokens


# ---------------------------------------------------------------- request and response models


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. articles.2.text")
    message: str


class ErrorBody(BaseModel):
    """Every error response: a stable `type`, a `message` saying what to do, the request id."""

    type: str = Field(description="stable machine-readable name, e.g. input_error, llm_error")
    message: str
    status: int = Field(description="the HTTP status this error maps to")
    request_id: str
    field: str | None = None
    errors: list[FieldProblem] | None = Field(default=None, description="422: one per field")
    kind: str | None = Field(default=None, description="llm_error: rate_limit, timeout, …")
    retryable: bool | None = None
    attempts: int | None = Field(default=None, description="extraction_error: model calls made")
    last_error: str | None = Field(default=None, description="extraction_error: what failed")


class BatchResult(BaseModel):
    """One article's outcome: `record` when `ok`, else `error`."""

    index: int
    ok: bool
    record: ArticleExtraction | None = None
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult] = Field(description="one per article, in the order sent")


class ContractSchemas(BaseModel):
    schema_version: str
    prompt_version: str
    input: dict[str, Any] = Field(description="JSON Schema of Article")
    output: dict[str, Any] = Field(description="JSON Schema of ArticleExtraction")


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = "ready"
    model: str
    endpoint: str | None
    checked: bool = Field(description="false when the model has no HTTP endpoint to probe")
    schema_version: str
    prompt_version: str
    concurrency: int


# Items are checked one by one, so a bad item fails alone; the schema still says Article.
_ArticleItem = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/Article"})]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    articles: list[_ArticleItem] = Field(
        min_length=1, description="1 to HEALTHCOOP_SERVICE_MAX_BATCH articles"
    )


ArticleBody = Annotated[
    Article,
    Body(
        openapi_examples={
            "seed_002": {"summary": "seed article 002, abridged", "value": SEED_ARTICLE}
        }
    ),
]
BatchBody = Annotated[
    BatchRequest,
    Body(
        openapi_examples={
            "seed_002": {
                "summary": "seed article 002, and an empty one that fails alone",
                "value": {"articles": [SEED_ARTICLE, {"id": "empty", "text": " "}]},
            }
        }
    ),
]


_DESCRIPTIONS = {
    401: "bearer token missing or wrong (only when HEALTHCOOP_SERVICE_TOKEN is set)",
    413: "request body over HEALTHCOOP_SERVICE_MAX_BODY_BYTES",
    422: "invalid input, with one message per field",
    500: "the service is misconfigured, or failed unexpectedly",
    502: "the model endpoint failed, or its answer never validated",
    503: "the model endpoint is rate limiting or not ready; retry after Retry-After seconds",
    504: "the model endpoint timed out",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        if code == 503:
            out[code]["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "string"}}
            }
    return out


def _json(model: BaseModel) -> Response:
    # the record's own serialization: byte for byte what the Python API's model_dump_json gives
    return Response(model.model_dump_json(), media_type="application/json")


# ---------------------------------------------------------------- the app


def create_app(settings: Settings | None = None, llm: LLM | None = None) -> FastAPI:
    """The HTTP service. With `llm`, extraction goes to it; without, the app's startup
    resolves the endpoint from `settings`, starting the embedded model if none is set."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.service is None:
            try:
                # blocking: may start the embedded model server and wait for it to answer
                live = await asyncio.to_thread(endpoint_settings, settings)
                app.state.service = _service(OpenAILLM(live), live)
            except HealthcoopError as exc:
                app.state.startup_error = exc  # Edge reports it in one line
                raise
        yield

    app = FastAPI(
        title="healthcoop",
        summary="International health cooperation news → grounded, normalized data.",
        description="The extraction contract (v1) over HTTP: POST an Article, get an "
        "ArticleExtraction. See `docs/service.md` for the error table.",
        version=SCHEMA_VERSION,
        lifespan=lifespan,
    )
    app.state.service = _service(llm, settings) if llm is not None else None
    _install_error_handlers(app)
    token = settings.service_token.get_secret_value() if settings.service_token else None
    app.add_middleware(
        Edge, token=token, max_body=settings.service_max_body_bytes, app_state=app.state
    )
    if settings.service_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.service_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id", "retry-after"],
        )
    _add_routes(app, settings)
    _customize_openapi(app, settings, bearer=token is not None)
    return app


def _add_routes(app: FastAPI, settings: Settings) -> None:
    record_example = {"application/json": {"example": seed_record()}}

    @app.post(
        "/v1/extract",
        response_model=ArticleExtraction,
        responses={
            200: {"content": record_example},
            **_errors(401, 413, 422, 500, 502, 503, 504),
        },
        tags=["extraction"],
        summary="Extract one article",
    )
    async def extract(
        article: ArticleBody,
        request: Request,
        service: ServiceDep,
    ) -> Response:
        """One Article → one ArticleExtraction, exactly as `healthcoop.extract` returns it."""
        record = await service.extract(article)
        _count(_state(request), record)
        return _json(record)

    @app.post(
        "/v1/extract/batch",
        response_model=BatchResponse,
        responses=_errors(401, 413, 422, 500, 503),
        tags=["extraction"],
        summary="Extract many articles",
    )
    async def extract_batch(
        batch: BatchBody,
        request: Request,
        service: ServiceDep,
    ) -> Response:
        """One result per article, in order: a record, or the error that one article met."""
        state = _state(request)
        if len(batch.articles) > settings.service_max_batch:
            limit = settings.service_max_batch
            raise InvalidRequest(
                f"a batch holds at most {limit} articles; split it or raise "
                "HEALTHCOOP_SERVICE_MAX_BATCH",
                problems=[{"field": "articles", "message": f"more than {limit} articles"}],
            )

        async def one(index: int, article: Any) -> tuple[bool, str]:
            try:
                if not isinstance(article, dict):
                    raise InputError("an article must be a JSON object", field=f"articles.{index}")
                record = await service.extract(article)
            except Exception as exc:  # noqa: BLE001 - one broken item must not fail the others
                if not isinstance(exc, HealthcoopError):
                    log.error(json.dumps({"event": "unhandled", **_where(exc)}))
                    exc = InternalError(f"internal error; quote request id {state['request_id']}")
                status, _ = http_status(exc)
                body = error_body(exc, status=status, request_id=state["request_id"])
                return False, json.dumps({"index": index, "ok": False, "error": body})
            _count(state, record)
            return True, f'{{"index":{index},"ok":true,"record":{record.model_dump_json()}}}'

        results = await asyncio.gather(*(one(i, a) for i, a in enumerate(batch.articles)))
        state["items"] = len(results)
        state["failed"] = sum(not ok for ok, _ in results)
        body = '{"results":[' + ",".join(text for _, text in results) + "]}"
        return Response(body, media_type="application/json")

    @app.get(
        "/v1/schema",
        response_model=ContractSchemas,
        responses=_errors(401, 500, 503),
        tags=["contract"],
        summary="The contract's JSON Schemas",
    )
    async def schema(service: ServiceDep) -> ContractSchemas:
        """JSON Schemas of the input (Article) and output (ArticleExtraction), with the schema
        and prompt versions every record's provenance will carry."""
        return ContractSchemas(
            schema_version=SCHEMA_VERSION,
            prompt_version=service.extractor.prompt_version,
            input=Article.model_json_schema(),
            output=ArticleExtraction.model_json_schema(),
        )

    @app.get("/healthz", response_model=Health, responses=_errors(500), tags=["operations"])
    async def healthz() -> Health:
        """The process is alive (never needs the token)."""
        return Health()

    @app.get(
        "/readyz", response_model=Readiness, responses=_errors(401, 500, 503), tags=["operations"]
    )
    async def readyz(service: ServiceDep) -> Readiness:
        """The model endpoint answers; which model, prompt and schema versions are live."""
        if service.probe is not None:
            try:
                await service.probe()
            except LLMError as exc:
                raise NotReady(f"not ready: {exc.message}") from None
        llm = service.extractor.llm
        return Readiness(
            model=llm.model,
            endpoint=llm.endpoint,
            checked=service.probe is not None,
            schema_version=SCHEMA_VERSION,
            prompt_version=service.extractor.prompt_version,
            concurrency=settings.service_concurrency,
        )


def _customize_openapi(app: FastAPI, settings: Settings, *, bearer: bool) -> None:
    """Put the configured batch limit, and the bearer token when one is set, into the OpenAPI
    document (so /docs offers to send the token)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        batch = schema["components"]["schemas"]["BatchRequest"]["properties"]["articles"]
        batch["maxItems"] = settings.service_max_batch
        if bearer:
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            for path, operations in schema["paths"].items():
                if path not in PUBLIC_PATHS:
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
