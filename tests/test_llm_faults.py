"""The LLM client against a local fake server with named faults (429, 500, garbage, hang)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from healthcoop.errors import ExtractionError, LLMError
from healthcoop.llm.client import OpenAILLM
from tests.support.fake_openai import FakeOpenAI, Fault, free_port, serve
from tests.support.settings import fake_settings

SECRET = "sk-" + "x" * 32  # a fake key, built at run time: no key-shaped literal in the repo
MESSAGES = [{"role": "user", "content": "Iran and Qatar met."}]


class Answer(BaseModel):
    relevant: bool


def _llm(base_url: str, **overrides) -> OpenAILLM:
    settings = fake_settings(
        base_url, **{"api_key": SECRET, "timeout": 2, "retries": 2, "validation_retries": 2,
                     **overrides}
    )  # fmt: skip
    return OpenAILLM(settings)


@pytest.fixture
def fake():
    app = FakeOpenAI()
    with serve(app) as url:
        app.url = url
        yield app


def test_a_valid_answer_returns_the_value_usage_and_one_attempt(fake):
    done = _llm(fake.url).complete(MESSAGES, Answer)
    assert done.value.relevant is False
    assert (done.prompt_tokens, done.completion_tokens, done.attempts) == (100, 10, 1)


def test_429_with_retry_after_is_retried_after_waiting_and_counted(fake):
    fake.script(Fault.rate_limit(retry_after=0.2))
    done = _llm(fake.url, retries=2).complete(MESSAGES, Answer)
    assert done.attempts == 2 and fake.requests == 2
    assert done.latency_ms >= 200


def test_500s_are_retried_until_the_bound_then_reported_as_retryable(fake):
    fake.script(*[Fault.server_error()] * 3)
    with pytest.raises(LLMError) as err:
        _llm(fake.url, retries=2).complete(MESSAGES, Answer)
    assert fake.requests == 3
    assert err.value.retryable and err.value.status_code == 500 and err.value.kind == "server"


def test_a_garbage_answer_is_re_asked_then_an_extraction_error(fake):
    fake.script(*[Fault.garbage()] * 3)
    with pytest.raises(ExtractionError) as err:
        _llm(fake.url, validation_retries=1).complete(MESSAGES, Answer)
    assert err.value.attempts == 2
    assert "did not validate" in err.value.message


def test_garbage_once_then_a_valid_answer_succeeds_on_the_re_ask(fake):
    fake.script(Fault.garbage())
    done = _llm(fake.url, validation_retries=2).complete(MESSAGES, Answer)
    assert done.value.relevant is False and done.attempts == 2


def test_a_body_that_is_not_json_is_an_error_not_a_traceback(fake):
    fake.script(*[Fault.malformed_json()] * 5)
    with pytest.raises((ExtractionError, LLMError)):
        _llm(fake.url, retries=0, validation_retries=0).complete(MESSAGES, Answer)


def test_a_hanging_server_times_out_as_a_retryable_llm_error(fake):
    fake.script(Fault.hang(1.5))
    with pytest.raises(LLMError) as err:
        _llm(fake.url, retries=0, timeout=0.5).complete(MESSAGES, Answer)
    assert err.value.kind == "timeout" and err.value.retryable


def test_a_refused_connection_says_to_start_the_model_server():
    llm = _llm(f"http://127.0.0.1:{free_port()}/v1", retries=0)
    with pytest.raises(LLMError) as err:
        llm.complete(MESSAGES, Answer)
    assert err.value.kind == "connection"
    assert "healthcoop serve-model" in err.value.message


def test_errors_and_provenance_never_carry_the_api_key(fake):
    fake.script(*[Fault.server_error()] * 2)
    llm = _llm(fake.url.replace("127.0.0.1", "user:pw@127.0.0.1"), retries=1)
    with pytest.raises(LLMError) as err:
        llm.complete(MESSAGES, Answer)
    assert SECRET not in str(err.value) and "pw" not in (llm.endpoint or "")
    assert llm.endpoint == fake.url.split("//")[1].split("/")[0]


async def test_the_async_path_retries_and_counts_like_the_sync_one(fake):
    fake.script(Fault.server_error(503))
    done = await _llm(fake.url, retries=1).acomplete(MESSAGES, Answer)
    assert done.attempts == 2 and done.value.relevant is False


def test_the_llama_cpp_dialect_sends_the_schema_as_a_grammar_not_as_prompt_text(fake):
    fake.keep_bodies = True
    llm = _llm(fake.url, mode="json_schema", dialect="llama_cpp")
    done = llm.complete(MESSAGES, Answer)
    assert done.value.relevant is False
    (body,) = fake.bodies
    assert body["response_format"]["type"] == "json_object"
    assert body["response_format"]["schema"]["properties"]["relevant"] == {
        "title": "Relevant",
        "type": "boolean",
    }
    assert "tools" not in body
    assert all("relevant" not in m["content"] for m in body["messages"])


async def test_the_async_llama_cpp_dialect_rewrites_the_same_way(fake):
    fake.keep_bodies = True
    done = await _llm(fake.url, mode="json_schema", dialect="llama_cpp").acomplete(MESSAGES, Answer)
    assert done.value.relevant is False
    assert fake.bodies[0]["response_format"]["type"] == "json_object"


def test_an_answer_cut_off_at_max_tokens_says_so(fake):
    fake.script(*[Fault.truncated()] * 3)
    with pytest.raises(ExtractionError, match="cut off at max_tokens"):
        _llm(fake.url, retries=0).complete(MESSAGES, Answer)
