"""The HTTP service (`healthcoop serve`): the extraction contract over HTTP.

Routes are thin wrappers over `Extractor.aextract`. The model client comes from the one
factory (`llm.factory.build_llm`); errors become responses in one place (`errors.py`); the
ASGI layer at the edge (`edge.py`) handles request ids, the token, body limits and the log.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from pydantic import BaseModel

from healthcoop.schemas import SCHEMA_VERSION, Article, ArticleExtraction

from ..errors import (
    ConfigError,
    HealthcoopError,
    InputError,
    InternalError,
    InvalidRequest,
    LLMError,
    NotReady,
)
from ..extraction import Extractor
from ..llm.base import LLM
from ..settings import Settings, get_settings
from .edge import PUBLIC_PATHS, Edge, log, where
from .errors import error_body, http_status, install_error_handlers, request_state
from .examples import seed_record
from .models import (
    ArticleBody,
    BatchBody,
    BatchResponse,
    ContractSchemas,
    Health,
    Readiness,
    error_responses,
)

Probe = Callable[[], Awaitable[None]]


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


def _service(llm: LLM, settings: Settings) -> Service:
    return Service(
        extractor=Extractor(llm, settings),
        slots=asyncio.Semaphore(settings.service_concurrency),
        probe=getattr(llm, "aprobe", None),
    )


async def _ready_service(request: Request) -> Service:
    # async: FastAPI runs a plain function dependency in a worker thread, two hand-offs a
    # request for an attribute lookup
    service = request.app.state.service
    if service is None:
        raise NotReady("the model endpoint is still starting; retry shortly")
    return service


ServiceDep = Annotated[Service, Depends(_ready_service)]


def _count(state: MutableMapping[str, Any], record: ArticleExtraction) -> None:
    usage = record.provenance.usage
    state["prompt_tokens"] = state.get("prompt_tokens", 0) + usage.prompt_tokens
    state["completion_tokens"] = state.get("completion_tokens", 0) + usage.completion_tokens


def _json(model: BaseModel) -> Response:
    # the record's own serialization: byte for byte what the Python API's model_dump_json gives
    return Response(model.model_dump_json(), media_type="application/json")


def _token(settings: Settings) -> str | None:
    if settings.service_token is None:
        return None
    token = settings.service_token.get_secret_value()
    if not token.strip():
        # set but empty would silently turn auth off: refuse instead
        raise ConfigError(
            "HEALTHCOOP_SERVICE_TOKEN is set but empty; give it a value, or unset it to serve "
            "without a token"
        )
    return token


# ---------------------------------------------------------------- the app


def create_app(settings: Settings | None = None, llm: LLM | None = None) -> FastAPI:
    """The HTTP service. With `llm`, extraction goes to it; without, the app's startup builds
    the client from `settings`, starting the embedded model if no endpoint is set."""
    settings = settings or get_settings()
    token = _token(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        built = None
        if app.state.service is None:
            from ..llm.factory import build_llm

            try:
                # blocking: may start the embedded model server and wait for it to answer;
                # the service's loop owns the client and closes it at shutdown: aiohttp
                built = await asyncio.to_thread(
                    build_llm, settings, concurrency=settings.service_concurrency, aiohttp=True
                )
                app.state.service = _service(built, built.settings)
            except HealthcoopError as exc:
                app.state.startup_error = exc  # Edge reports it in one line
                raise
        # What lives now (modules, gazetteers, patterns, the client) lives as long as the
        # service: frozen, the collector no longer walks it. A request leaves few cycles and
        # allocates thousands of objects that refcounting frees, so a collection every 20,000
        # (not 700) net allocations: about 0.3 ms of collecting a request instead of 1.2.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        yield
        if built is not None:  # a later startup (tests reopen apps) builds a new client
            app.state.service = None
            await built.aclose()

    app = FastAPI(
        title="healthcoop",
        summary="International health cooperation news → grounded, normalized data.",
        description="The extraction contract (v1) over HTTP: POST an Article, get an "
        "ArticleExtraction. See the README (section 'HTTP service') for the error table.",
        version=SCHEMA_VERSION,
        lifespan=lifespan,
    )
    app.state.service = _service(llm, settings) if llm is not None else None
    install_error_handlers(app)
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
    _extraction_routes(app, settings)
    _contract_routes(app)
    _operations_routes(app, settings)
    _customize_openapi(app, settings, bearer=token is not None)
    return app


# ---------------------------------------------------------------- routes


async def _batch_item(
    service: Service, index: int, article: Any, state: MutableMapping[str, Any]
) -> tuple[bool, str]:
    """One article of a batch as its JSON result; its failure fails it alone."""
    try:
        if not isinstance(article, dict):
            raise InputError("an article must be a JSON object", field=f"articles.{index}")
        record = await service.extract(article)
    except Exception as exc:  # noqa: BLE001 - one broken item must not fail the others
        if not isinstance(exc, HealthcoopError):
            log.error(json.dumps({"event": "unhandled", **where(exc)}))
            exc = InternalError(f"internal error; quote request id {state['request_id']}")
        status, _ = http_status(exc)
        body = error_body(exc, status=status, request_id=state["request_id"])
        return False, json.dumps({"index": index, "ok": False, "error": body})
    _count(state, record)
    return True, f'{{"index":{index},"ok":true,"record":{record.model_dump_json()}}}'


def _extraction_routes(app: FastAPI, settings: Settings) -> None:
    record_example = {"application/json": {"example": seed_record()}}

    @app.post(
        "/v1/extract",
        response_model=ArticleExtraction,
        responses={
            200: {"content": record_example},
            **error_responses(401, 413, 422, 500, 502, 503, 504),
        },
        tags=["extraction"],
        summary="Extract one article",
    )
    async def extract(article: ArticleBody, request: Request, service: ServiceDep) -> Response:
        """One Article → one ArticleExtraction, exactly as `healthcoop.extract` returns it."""
        record = await service.extract(article)
        _count(request_state(request), record)
        return _json(record)

    @app.post(
        "/v1/extract/batch",
        response_model=BatchResponse,
        responses=error_responses(401, 413, 422, 500, 503),
        tags=["extraction"],
        summary="Extract many articles",
    )
    async def extract_batch(batch: BatchBody, request: Request, service: ServiceDep) -> Response:
        """One result per article, in order: a record, or the error that one article met."""
        state = request_state(request)
        limit = settings.service_max_batch
        if len(batch.articles) > limit:
            raise InvalidRequest(
                f"a batch holds at most {limit} articles; split it or raise "
                "HEALTHCOOP_SERVICE_MAX_BATCH",
                problems=[{"field": "articles", "message": f"more than {limit} articles"}],
            )
        results = await asyncio.gather(
            *(_batch_item(service, i, a, state) for i, a in enumerate(batch.articles))
        )
        state["items"] = len(results)
        state["failed"] = sum(not ok for ok, _ in results)
        body = '{"results":[' + ",".join(text for _, text in results) + "]}"
        return Response(body, media_type="application/json")


def _contract_routes(app: FastAPI) -> None:
    @app.get(
        "/v1/schema",
        response_model=ContractSchemas,
        responses=error_responses(401, 500, 503),
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


def _operations_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/healthz", response_model=Health, responses=error_responses(500), tags=["operations"])
    async def healthz() -> Health:
        """The process is alive (never needs the token)."""
        return Health()

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses=error_responses(401, 500, 503),
        tags=["operations"],
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
