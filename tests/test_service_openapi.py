"""Property-based run of the HTTP service against its own OpenAPI document (schemathesis),
with the model replaced by the local fake: no 5xx, and no response that breaks the schema.

HEALTHCOOP_FUZZ_EXAMPLES raises the number of examples per operation for a longer hunt.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from healthcoop.http import create_app
from healthcoop.llm.client import OpenAILLM
from tests.support.fake_openai import FakeOpenAI, serve
from tests.support.settings import fake_settings

TOKEN = "svc-token-for-schemathesis"
EXAMPLES = int(os.environ.get("HEALTHCOOP_FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPERATIONS = [  # negative cases need something to break: only the routes with a body
    ("POST", "/v1/extract", POSITIVE),
    ("POST", "/v1/extract", NEGATIVE),
    ("POST", "/v1/extract/batch", POSITIVE),
    ("POST", "/v1/extract/batch", NEGATIVE),
    ("GET", "/v1/schema", POSITIVE),
    ("GET", "/healthz", POSITIVE),
    ("GET", "/readyz", POSITIVE),
]


@pytest.fixture(scope="module")
def service_schema():
    with serve(FakeOpenAI()) as url:
        service_settings = fake_settings(
            url,
            service_token=TOKEN,
            service_max_batch=4,
            max_chars=5_000,
        )
        app = create_app(service_settings, llm=OpenAILLM(service_settings))
        yield schemathesis.openapi.from_asgi(
            "/openapi.json", app, headers={"authorization": f"Bearer {TOKEN}"}
        )


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS)
def test_no_input_makes_the_service_fail_or_break_its_own_schema(
    service_schema, method, path, mode
):
    operation = service_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case):
        case.call_and_validate(headers={"authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

    call()
