"""Property-based tests of the HTTP door on malformed bodies (issue 17): `POST /v1/extract` and
`/v1/extract/batch`, in-process with a fake model, get JSON documents whose strings hold lone
surrogates (as `\\ud800` escapes, or as raw bytes that are not UTF-8), NULs, BOMs, wrong types
and missing fields, and bytes that are not JSON at all. Properties: no 5xx and nothing raised,
the response is UTF-8 JSON with no lone surrogate in it, and a batch answers every item."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from healthcoop.http import create_app
from healthcoop.settings import Settings
from tests.support.fuzz import documents, encode, examples, has_surrogate, json_lines, json_values
from tests.support.fuzz import records as article_records
from tests.support.instant import InstantLLM

MAX_BATCH = 4


def fuzz(n: int) -> settings:
    return settings(
        max_examples=examples(n),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Service:
    """The app on one event loop for every example (its semaphores belong to that loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        settings = Settings(service_max_batch=MAX_BATCH, max_chars=20_000)
        app = create_app(settings, llm=InstantLLM(keep=False))
        transport = httpx2.ASGITransport(app=app)
        self.client = httpx2.AsyncClient(transport=transport, base_url="http://service")

    def post(self, path: str, body: bytes) -> httpx2.Response:
        headers = {"content-type": "application/json"}
        return self.loop.run_until_complete(self.client.post(path, content=body, headers=headers))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def service():
    s = Service()
    yield s
    s.close()


def checked(response: httpx2.Response) -> object:
    """The response body, checked: a 2xx or 4xx with UTF-8 JSON free of lone surrogates."""
    assert response.status_code in (200, 413, 422), (response.status_code, response.text)
    (value,) = json_lines(response.content + b"\n")
    if response.status_code != 200:
        assert value["status"] == response.status_code and value["message"]
    return value


def surrogate_text(item: object) -> bool:
    return (
        isinstance(item, dict) and isinstance(item.get("text"), str) and has_surrogate(item["text"])
    )


bodies = st.one_of(documents, documents, st.binary(max_size=100))


@fuzz(300)
@given(body=bodies)
def test_extract_answers_any_body_with_a_record_or_a_4xx_in_utf8_json(service, body):
    note(f"input: {body!r}")
    value = checked(service.post("/v1/extract", body))
    try:
        sent = json.loads(body)  # as the service parses it
    except ValueError:
        return
    if surrogate_text(sent):
        assert value.get("type") == "input_error", value


batches = st.builds(
    lambda items, how: encode({"articles": items}, how),
    st.lists(st.one_of(article_records, article_records, json_values), max_size=MAX_BATCH + 1),
    st.sampled_from(["escaped", "raw", "bom"]),
)


@fuzz(200)
@given(body=st.one_of(batches, batches, bodies))
def test_a_batch_answers_every_item_or_is_a_4xx_in_utf8_json(service, body):
    note(f"input: {body!r}")
    response = service.post("/v1/extract/batch", body)
    value = checked(response)
    if response.status_code != 200:
        return
    sent = json.loads(body)["articles"]  # as the service parses it
    results = value["results"]
    assert [r["index"] for r in results] == list(range(len(sent)))
    for item, result in zip(sent, results, strict=True):
        assert result["ok"] is (result.get("record") is not None), result
        if surrogate_text(item):
            assert not result["ok"] and result["error"]["type"] == "input_error"
