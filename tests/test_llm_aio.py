"""The async client on aiohttp (`llm.aio`, the service's and the bulk runner's) against the same
named faults as on httpx2: every fault ends as the same error, with the same kind, retry
flag, status and message, and a valid answer as the same value."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import warnings

import pytest
from pydantic import BaseModel

from healthcoop.errors import HealthcoopError
from healthcoop.llm.client import OpenAILLM
from tests.support.fake_openai import FakeOpenAI, Fault, completion, free_port, serve
from tests.support.settings import fake_settings

SECRET = "sk-" + "y" * 32  # a fake key, built at run time
MESSAGES = [{"role": "user", "content": "Iran and Qatar met."}]


class Answer(BaseModel):
    relevant: bool


def _llm(base_url: str, aiohttp: bool, **overrides) -> OpenAILLM:
    settings = fake_settings(
        base_url, **{"api_key": SECRET, "timeout": 1, "retries": 1, "validation_retries": 1,
                     **overrides}
    )  # fmt: skip
    return OpenAILLM(settings, aiohttp=aiohttp)


async def _outcome(llm: OpenAILLM) -> tuple:
    try:
        done = await llm.acomplete(MESSAGES, Answer)
    except HealthcoopError as exc:
        return ("error", type(exc).__name__, getattr(exc, "kind", None), exc.retryable,
                getattr(exc, "status_code", None), exc.message)  # fmt: skip
    finally:
        await llm.aclose()
    return ("done", done.value.model_dump(), done.attempts, done.prompt_tokens)


FAULTS = {
    "rate limit, then an answer": [Fault.rate_limit(retry_after=0.1)],
    "server errors": [Fault.server_error()] * 2,
    "garbage arguments": [Fault.garbage()] * 2,
    "a body that is not JSON": [Fault.malformed_json()] * 4,
    "cut off at max_tokens": [Fault.truncated()] * 2,
    "a hanging server": [Fault.hang(2.5)] * 2,
    "an HTML page": [Fault.html_page()] * 4,
    "no choices": [Fault.no_choices()] * 4,
    "the connection closed mid-answer": [Fault.cut_short()] * 2,
    "unauthorized": [Fault.unauthorized()],
    "an error page that echoes the key": [Fault.echo_credentials()] * 2,
    "no fault": [],
}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
async def test_aiohttp_ends_every_fault_as_httpx2_does(faults):
    outcomes = []
    app = FakeOpenAI()
    with serve(app) as url:  # one server: the messages name its address
        for aiohttp in (False, True):
            app.script(*faults)
            outcomes.append(await _outcome(_llm(url, aiohttp)))
    assert outcomes[1] == outcomes[0]
    assert SECRET not in repr(outcomes[1])


@pytest.mark.parametrize("scheme", ["http", "https"])  # https: a verifying TLS context is built
async def test_a_refused_connection_is_a_connection_error_not_a_timeout(scheme):
    url = f"{scheme}://127.0.0.1:{free_port()}/v1"
    ours, theirs = await _outcome(_llm(url, True)), await _outcome(_llm(url, False))
    assert ours == theirs and ours[2] == "connection"
    assert "healthcoop serve-model" in ours[-1]


class _Gzipped:
    """ASGI: the fake's answers gzip-compressed, as a proxy in front of a model server sends."""

    def __init__(self) -> None:
        self.encodings: list[str] = []

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        self.encodings.append(headers.get(b"accept-encoding", b"").decode())
        await receive()
        body = gzip.compress(json.dumps(completion({"relevant": True})).encode())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-encoding", b"gzip"),
                                (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


async def test_a_compressed_answer_is_decoded_and_the_request_keeps_its_headers():
    app = _Gzipped()
    with serve(app) as url:  # type: ignore[arg-type]
        outcome = await _outcome(_llm(url, True))
    assert outcome[:2] == ("done", {"relevant": True})
    assert "gzip" in app.encodings[0]  # httpx2's Accept-Encoding went out as it was


def test_one_client_serves_one_event_loop_after_another():
    app = FakeOpenAI()
    with serve(app) as url:
        llm = _llm(url, True)

        async def once() -> bool:
            done = await llm.acomplete(MESSAGES, Answer)
            await llm.aclose()  # this loop's session; the client goes on in the next loop
            return done.value.relevant

        gc.collect()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # each loop its own session (an aiohttp session belongs to the loop that made it)
            assert [asyncio.run(once()) for _ in range(3)] == [False] * 3
            gc.collect()
        assert app.requests == 3
    assert not [w for w in caught if "Unclosed" in str(w.message)]


def test_closing_the_client_in_its_loop_leaves_no_session_open():
    app = FakeOpenAI()
    gc.collect()  # earlier tests' garbage is theirs
    with serve(app) as url, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run(_outcome(_llm(url, True)))[0] == "done"  # closes it
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]
