"""The HTTP service, driven in-process through httpx's ASGI transport against the fake model
server (tests/fakes.py); one test runs `healthcoop serve` for real on the loopback address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx2
import pytest

from healthcoop.errors import ConfigError
from healthcoop.extraction import Extractor
from healthcoop.http import create_app
from healthcoop.llm.base import LLM, Completion, Message
from healthcoop.llm.client import OpenAILLM
from healthcoop.schemas import SCHEMA_VERSION, Article, ArticleExtraction
from healthcoop.settings import Settings
from tests.conftest import seed_text
from tests.support.fake_openai import FakeOpenAI, Fault, free_port, serve
from tests.support.settings import fake_settings

TOKEN = "svc-token-0123456789abcdef"
TEXT = "Iran and Qatar signed a memorandum of understanding on health cooperation."


def service_settings(base_url: str, **overrides) -> Settings:
    return fake_settings(base_url, **{"timeout": 2, **overrides})


@contextlib.asynccontextmanager
async def running(settings: Settings, llm: LLM | None = None) -> AsyncIterator[httpx2.AsyncClient]:
    """The app with its lifespan entered, and a client that talks to it in-process."""
    app = create_app(settings, llm=llm if llm is not None else OpenAILLM(settings))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


@pytest.fixture
def fake():
    app = FakeOpenAI()
    with serve(app) as url:
        app.url = url
        yield app


@pytest.fixture
async def api(fake):
    async with running(service_settings(fake.url)) as client:
        yield client


def assert_error(response: httpx2.Response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == type_ and body["status"] == status
    assert body["message"] and body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


class Gated:
    """An LLM that holds every call at a gate and counts how many are in flight."""

    def __init__(self, inner: LLM) -> None:
        self.inner, self.model, self.endpoint = inner, inner.model, inner.endpoint
        self.gate = asyncio.Event()
        self.in_flight = self.most_in_flight = 0

    def complete(self, messages: Sequence[Message], response_model):
        return self.inner.complete(messages, response_model)

    async def acomplete(self, messages: Sequence[Message], response_model) -> Completion:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            return await self.inner.acomplete(messages, response_model)
        finally:
            self.in_flight -= 1


class Broken:
    """An LLM that fails in a way nobody planned for."""

    model, endpoint = "broken", None

    def complete(self, messages, response_model):
        raise RuntimeError(f"unplanned failure while reading {messages[-1]['content']}")

    async def acomplete(self, messages, response_model):
        self.complete(messages, response_model)


# ---------------------------------------------------------------- the contract over HTTP


async def test_extract_returns_the_record_the_python_api_returns(fake):
    settings = service_settings(fake.url)
    article = {"id": "002", "text": seed_text("002"), "published": "2025-04-28"}
    direct = await Extractor(OpenAILLM(settings), settings).aextract(article)
    async with running(settings) as api:
        response = await api.post("/v1/extract", json=article)
    assert response.status_code == 200
    served = ArticleExtraction.model_validate(response.json())
    moment = {"created_at": direct.provenance.created_at, "latency_ms": 0}
    assert served.model_copy(
        update={"provenance": served.provenance.model_copy(update=moment)}
    ) == direct.model_copy(update={"provenance": direct.provenance.model_copy(update=moment)})
    assert served.provenance.usage.prompt_tokens == 100


async def test_a_text_only_body_is_accepted_and_gets_an_id_from_its_text(api):
    response = await api.post("/v1/extract", json={"text": TEXT})
    assert response.status_code == 200
    assert response.json()["article_id"] == Article(text=TEXT).id


async def test_the_openapi_examples_come_from_a_seed_and_are_valid_contract_data(api):
    document = (await api.get("/openapi.json")).json()
    operation = document["paths"]["/v1/extract"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["examples"]["seed_002"]
    article = Article.model_validate(request["value"])
    assert "Oleg Salagay" in article.text and article.text in seed_text("002")
    record = operation["responses"]["200"]["content"]["application/json"]["example"]
    record = ArticleExtraction.model_validate(record)
    for span in (e for p in record.parties for e in p.evidence):
        assert article.text[span.start : span.end] == span.text
    assert (await api.get("/docs")).status_code == 200


# ---------------------------------------------------------------- input errors


async def test_a_missing_text_is_422_with_a_field_level_message(api):
    body = assert_error(await api.post("/v1/extract", json={"title": "x"}), 422, "input_error")
    assert {"field": "text", "message": "Field required"} in body["errors"]


async def test_an_unknown_field_is_422_naming_it(api):
    body = assert_error(
        await api.post("/v1/extract", json={"text": TEXT, "txet": 1}), 422, "input_error"
    )
    assert [e["field"] for e in body["errors"]] == ["txet"]


async def test_whitespace_text_is_422_on_the_text_field(api):
    body = assert_error(await api.post("/v1/extract", json={"text": "  \n"}), 422, "input_error")
    assert body["errors"][0]["field"] == "text" and "empty" in body["errors"][0]["message"]


async def test_text_over_max_chars_refused_by_the_pipeline_is_422_not_500(fake):
    async with running(service_settings(fake.url, max_chars=100)) as api:
        response = await api.post("/v1/extract", json={"text": "x" * 101})
    body = assert_error(response, 422, "input_error")
    assert body["field"] == "text" and "HEALTHCOOP_MAX_CHARS" in body["message"]
    assert fake.requests == 0


async def test_a_body_that_is_not_json_is_422_not_500(api):
    response = await api.post(
        "/v1/extract", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "input_error")


async def test_a_body_that_is_not_utf8_is_422_on_the_body(api):
    response = await api.post(
        "/v1/extract", content=b'{"text": "\xff"}', headers={"content-type": "application/json"}
    )
    assert assert_error(response, 422, "input_error")["errors"][0]["field"] == "body"


async def test_a_body_over_the_limit_is_413_and_never_reaches_the_model(fake):
    async with running(service_settings(fake.url, service_max_body_bytes=1000)) as api:
        response = await api.post("/v1/extract", json={"text": "x" * 2000})
    body = assert_error(response, 413, "payload_too_large")
    assert "HEALTHCOOP_SERVICE_MAX_BODY_BYTES" in body["message"]
    assert fake.requests == 0


async def test_a_streamed_body_over_the_limit_is_413_without_a_content_length(fake):
    async def chunks():
        yield b'{"text": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    async with running(service_settings(fake.url, service_max_body_bytes=1000)) as api:
        response = await api.post(
            "/v1/extract", content=chunks(), headers={"content-type": "application/json"}
        )
    assert_error(response, 413, "payload_too_large")


async def test_an_unknown_route_is_a_typed_404(api):
    assert_error(await api.get("/v2/nothing"), 404, "not_found")
    assert_error(await api.get("/v1/extract"), 405, "method_not_allowed")


# ---------------------------------------------------------------- the model endpoint failing


async def test_upstream_429_becomes_503_with_retry_after(api, fake):
    fake.script(Fault.rate_limit(retry_after=7))
    response = await api.post("/v1/extract", json={"text": TEXT})
    body = assert_error(response, 503, "llm_error")
    assert response.headers["retry-after"] == "7"
    assert body["kind"] == "rate_limit" and body["retryable"] is True


async def test_upstream_500_becomes_502(api, fake):
    fake.script(Fault.server_error())
    body = assert_error(await api.post("/v1/extract", json={"text": TEXT}), 502, "llm_error")
    assert body["kind"] == "server"


async def test_upstream_down_becomes_502_saying_the_model_server_refused(fake):
    down = f"http://127.0.0.1:{free_port()}/v1"
    async with running(service_settings(down)) as api:
        response = await api.post("/v1/extract", json={"text": TEXT})
    body = assert_error(response, 502, "llm_error")
    assert body["kind"] == "connection" and "refused" in body["message"]


async def test_upstream_timeout_becomes_504(fake):
    fake.script(Fault.hang(3))
    async with running(service_settings(fake.url, timeout=0.3)) as api:
        response = await api.post("/v1/extract", json={"text": TEXT})
    assert assert_error(response, 504, "llm_error")["kind"] == "timeout"


async def test_an_answer_that_never_validates_is_502_with_what_failed(fake):
    fake.script(*[Fault.garbage()] * 2)
    async with running(service_settings(fake.url, validation_retries=1)) as api:
        response = await api.post("/v1/extract", json={"text": TEXT})
    body = assert_error(response, 502, "extraction_error")
    assert body["attempts"] == 2 and body["last_error"]


async def test_an_unplanned_failure_is_a_typed_500_that_quotes_nothing(fake, caplog):
    caplog.set_level(logging.INFO, logger="healthcoop.service")
    async with running(service_settings(fake.url), llm=Broken()) as api:
        response = await api.post("/v1/extract", json={"text": TEXT})
    body = assert_error(response, 500, "internal_error")
    assert body["request_id"] in body["message"]
    assert TEXT not in response.text and TEXT not in caplog.text
    assert "RuntimeError" in caplog.text  # the operator still learns what broke, and where


# ---------------------------------------------------------------- batches


async def test_a_batch_answers_each_item_in_order_and_a_bad_item_fails_alone(api):
    items = [{"id": "a", "text": TEXT}, {"id": "b", "text": " "}, "not an object", {"text": TEXT}]
    response = await api.post("/v1/extract/batch", json={"articles": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["ok"] for r in results] == [True, False, False, True]
    assert results[0]["record"]["article_id"] == "a"
    assert results[1]["error"]["type"] == "input_error" and results[1]["error"]["status"] == 422
    assert results[1]["error"]["errors"][0]["field"] == "text"
    assert results[3]["record"]["article_id"] == Article(text=TEXT).id


async def test_a_batch_item_hit_by_an_upstream_failure_carries_that_status(fake):
    fake.script(Fault.rate_limit(retry_after=3))
    async with running(service_settings(fake.url, service_concurrency=1)) as api:
        articles = [{"id": "first", "text": TEXT}, {"id": "second", "text": TEXT}]
        response = await api.post("/v1/extract/batch", json={"articles": articles})
    first, second = response.json()["results"]
    assert first["error"]["status"] == 503 and first["error"]["kind"] == "rate_limit"
    assert second["ok"] and second["record"]["article_id"] == "second"


async def test_a_batch_over_the_configured_size_is_422_on_articles(fake):
    async with running(service_settings(fake.url, service_max_batch=2)) as api:
        response = await api.post("/v1/extract/batch", json={"articles": [{"text": TEXT}] * 3})
        assert (await api.get("/openapi.json")).json()["components"]["schemas"]["BatchRequest"][
            "properties"
        ]["articles"]["maxItems"] == 2
    assert assert_error(response, 422, "input_error")["errors"][0]["field"] == "articles"
    assert fake.requests == 0


async def test_an_empty_batch_is_422(api):
    assert_error(await api.post("/v1/extract/batch", json={"articles": []}), 422, "input_error")


# ---------------------------------------------------------------- concurrency


async def test_a_burst_queues_at_the_concurrency_bound_instead_of_reaching_the_model(fake):
    settings = service_settings(fake.url, service_concurrency=2)
    gated = Gated(OpenAILLM(settings))
    async with running(settings, llm=gated) as api:
        burst = [
            asyncio.create_task(api.post("/v1/extract", json={"text": TEXT})) for _ in range(6)
        ]
        for _ in range(500):  # wait (bounded) until the bound is reached ...
            if gated.in_flight >= 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # ... and give the other four every chance to slip past it
        assert gated.in_flight == 2
        gated.gate.set()
        responses = await asyncio.gather(*burst)
    assert [r.status_code for r in responses] == [200] * 6
    assert gated.most_in_flight == 2 and fake.requests == 6


# ---------------------------------------------------------------- contract, health, readiness


async def test_schema_serves_input_and_output_json_schemas_with_their_versions(api, fake):
    body = (await api.get("/v1/schema")).json()
    settings = service_settings(fake.url)
    assert body["schema_version"] == SCHEMA_VERSION
    assert body["prompt_version"] == Extractor(OpenAILLM(settings), settings).prompt_version
    assert body["input"] == Article.model_json_schema()
    assert body["output"] == ArticleExtraction.model_json_schema()


async def test_readyz_says_which_model_prompt_and_schema_are_live(api, fake):
    response = await api.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "fake" and body["checked"] is True
    assert body["endpoint"] == fake.url.split("//")[1].split("/")[0]
    assert body["schema_version"] == SCHEMA_VERSION and len(body["prompt_version"]) == 12


async def test_readyz_is_503_when_the_model_endpoint_does_not_answer_but_healthz_is_200():
    down = f"http://127.0.0.1:{free_port()}/v1"
    async with running(service_settings(down)) as api:
        assert_error(await api.get("/readyz"), 503, "not_ready")
        assert (await api.get("/healthz")).json() == {"status": "ok"}


async def test_without_an_endpoint_the_app_starts_the_embedded_model_once(fake, monkeypatch):
    started: list[Settings] = []

    def embedded(settings: Settings) -> Settings:
        started.append(settings)
        return settings.model_copy(update={"base_url": fake.url, "model": "embedded"})

    monkeypatch.setattr("healthcoop.llm.factory.endpoint_settings", embedded)
    app = create_app(Settings(retries=0))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://service") as api:
            for _ in range(3):
                assert (await api.post("/v1/extract", json={"text": TEXT})).status_code == 200
            assert (await api.get("/readyz")).json()["model"] == "embedded"
    assert len(started) == 1 and started[0].uses_embedded


async def test_a_startup_failure_is_reported_in_one_line_not_a_traceback(monkeypatch):
    def no_engine(settings: Settings) -> Settings:
        raise ConfigError("the embedded engine is not installed")

    monkeypatch.setattr("healthcoop.llm.factory.endpoint_settings", no_engine)
    app = create_app(Settings())
    sent: list[dict] = []
    inbox = [{"type": "lifespan.startup"}]

    async def receive() -> dict:
        return inbox.pop(0) if inbox else await asyncio.Event().wait()

    async def send(message: dict) -> None:
        sent.append(message)

    with contextlib.suppress(ConfigError):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert sent == [
        {
            "type": "lifespan.startup.failed",
            "message": "ConfigError: the embedded engine is not installed",
        }
    ]


# ---------------------------------------------------------------- token, CORS, request ids, logs


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/extract"),
        ("POST", "/v1/extract/batch"),
        ("GET", "/v1/schema"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
    ],
)
async def test_with_a_token_set_every_route_but_healthz_needs_it(fake, method, path):
    async with running(service_settings(fake.url, service_token=TOKEN)) as api:
        body = {"articles": [{"text": TEXT}]} if path.endswith("batch") else {"text": TEXT}
        kwargs = {"json": body} if method == "POST" else {}
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            refused = await api.request(method, path, headers=headers, **kwargs)
            assert_error(refused, 401, "unauthorized")
            assert refused.headers["www-authenticate"] == "Bearer"
        right = {"authorization": f"Bearer {TOKEN}"}
        assert (await api.request(method, path, headers=right, **kwargs)).status_code == 200
        assert (await api.get("/healthz")).status_code == 200


async def test_the_token_is_declared_in_the_openapi_document(fake):
    async with running(service_settings(fake.url, service_token=TOKEN)) as api:
        document = (
            await api.get("/openapi.json", headers={"authorization": f"Bearer {TOKEN}"})
        ).json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/v1/extract"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]


async def test_cors_is_off_unless_origins_are_configured(fake):
    origin = {"origin": "https://app.example"}
    async with running(service_settings(fake.url)) as api:
        response = await api.get("/healthz", headers=origin)
        assert "access-control-allow-origin" not in response.headers
    async with running(service_settings(fake.url, service_cors_origins=[origin["origin"]])) as api:
        response = await api.get("/healthz", headers=origin)
        assert response.headers["access-control-allow-origin"] == origin["origin"]


async def test_a_request_id_is_echoed_when_sane_and_made_up_otherwise(api):
    given = await api.get("/healthz", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    injected = await api.get("/healthz", headers={"x-request-id": 'a"\nfake log line'})
    assert len(injected.headers["x-request-id"]) == 32


async def test_one_log_line_per_request_with_tokens_and_never_the_text_or_a_key(fake, caplog):
    caplog.set_level(logging.INFO, logger="healthcoop.service")
    settings = service_settings(fake.url, service_token=TOKEN, api_key="sk-upstream-secret-key")
    secret_text = "Confidential draft: Iran and Qatar agree on a vaccine plant."
    async with running(settings) as api:
        await api.post(
            "/v1/extract",
            json={"text": secret_text},
            headers={"authorization": f"Bearer {TOKEN}", "x-request-id": "req-1"},
        )
        await api.post(
            "/v1/extract/batch",
            json={"articles": [{"text": secret_text}, {"text": ""}]},
            headers={"authorization": f"Bearer {TOKEN}", "x-request-id": "req-2"},
        )
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "healthcoop.service"]
    assert [(x["request_id"], x["route"], x["status"]) for x in lines] == [
        ("req-1", "/v1/extract", 200),
        ("req-2", "/v1/extract/batch", 200),
    ]
    assert lines[0]["prompt_tokens"] == 100 and lines[0]["completion_tokens"] == 10
    assert lines[1]["items"] == 2 and lines[1]["failed"] == 1 and lines[1]["prompt_tokens"] == 100
    assert all(x["latency_ms"] >= 0 for x in lines)
    for secret in ("Confidential", TOKEN, "sk-upstream-secret-key"):
        assert secret not in caplog.text


# ---------------------------------------------------------------- the real server


def test_healthcoop_serve_answers_over_http_on_the_loopback_address(fake):
    port = free_port()
    env = {
        **os.environ,
        "HEALTHCOOP_BASE_URL": fake.url,
        "HEALTHCOOP_MODEL": "fake",
        "HEALTHCOOP_RETRIES": "0",
    }
    command = [str(Path(sys.executable).parent / "healthcoop"), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx2.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx2.TransportError):
                    if client.get("/healthz").status_code == 200:
                        break
                assert server.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.1)
            article = {"id": "003", "text": seed_text("003")}
            response = client.post("/v1/extract", json=article)
            assert response.status_code == 200
            assert response.json()["article_id"] == "003"
            assert client.get("/readyz").json()["model"] == "fake"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert "Application shutdown complete" in stderr  # SIGTERM stopped it gracefully
    assert '"route": "/v1/extract", "status": 200' in stderr
    assert "Bakhiet" not in stderr
