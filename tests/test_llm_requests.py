"""Requests built once per answer model (issue 16): the same format instructor sends, the same
validation and re-asks, without re-deriving the schema on every call."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from healthcoop.errors import ExtractionError
from healthcoop.llm.client import OpenAILLM
from healthcoop.settings import Settings
from tests.support.fake_openai import FakeOpenAI, Fault, serve

MESSAGES = [
    {"role": "system", "content": "Say whether the text is about health."},
    {"role": "user", "content": "Kenya and Ghana agreed to train nurses together."},
]


class Answer(BaseModel):
    """Whether the article matters."""

    relevant: bool


@pytest.fixture
def fake():
    app = FakeOpenAI(keep_bodies=True)
    with serve(app) as url:
        app.url = url
        yield app


def _llm(url: str, **overrides) -> OpenAILLM:
    return OpenAILLM(Settings(base_url=url, model="fake", timeout=5, retries=0, **overrides))


@pytest.mark.parametrize("mode", ["tools", "json_schema"])
def test_the_prebuilt_request_is_the_one_instructor_itself_sends(fake, mode):
    llm = _llm(fake.url, mode=mode)
    llm._sync.chat.completions.create_with_completion(  # instructor's own call path
        model="fake", messages=list(MESSAGES), response_model=Answer, max_retries=0,
        temperature=0.0, max_tokens=1024,
    )  # fmt: skip
    llm.complete(MESSAGES, Answer)
    by_instructor, prebuilt = fake.bodies
    assert prebuilt == by_instructor


def test_two_requests_for_one_model_send_the_same_tool_and_both_validate(fake):
    llm = _llm(fake.url, mode="tools")
    first, second = llm.complete(MESSAGES, Answer), llm.complete(MESSAGES[:1], Answer)
    assert first.value.relevant is False and second.value.relevant is False
    one, two = fake.bodies
    assert one["tools"] == two["tools"]
    assert one["tool_choice"] == {"type": "function", "function": {"name": "Answer"}}
    assert one["tools"][0]["function"]["parameters"]["properties"]["relevant"]["type"] == "boolean"
    assert len(two["messages"]) == 1  # the body is built from each call's own messages


async def test_json_schema_mode_re_asks_with_the_answer_and_what_was_wrong(fake):
    fake.script(Fault.garbage())
    done = await _llm(fake.url, mode="json_schema").acomplete(MESSAGES, Answer)
    assert done.value.relevant is False and done.attempts == 2
    asked_again = fake.bodies[1]["messages"]
    assert asked_again[: len(MESSAGES)] == MESSAGES
    assert asked_again[len(MESSAGES)]["role"] == "assistant"
    assert "this is not JSON" in asked_again[len(MESSAGES)]["content"]
    assert "JSON" in asked_again[-1]["content"]  # the correction names what failed


def test_an_answer_that_never_validates_counts_every_attempt(fake):
    fake.script(*[Fault.garbage()] * 3)
    with pytest.raises(ExtractionError) as err:
        _llm(fake.url, mode="json_schema", validation_retries=2).complete(MESSAGES, Answer)
    assert err.value.attempts == 3 and fake.requests == 3
    assert "did not validate after 3 attempts" in err.value.message


def test_json_mode_puts_the_schema_in_the_prompt_through_instructor(fake):
    done = _llm(fake.url, mode="json").complete(MESSAGES, Answer)
    assert done.value.relevant is False and done.attempts == 1
    (body,) = fake.bodies
    assert body["response_format"] == {"type": "json_object"}
    assert '"relevant"' in body["messages"][0]["content"]


def test_a_completion_with_no_choices_is_a_bad_response_not_a_re_ask(fake):
    fake.script(Fault(body=json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                       "model": "fake", "choices": []})))  # fmt: skip
    with pytest.raises(Exception) as err:
        _llm(fake.url, mode="tools").complete(MESSAGES, Answer)
    assert type(err.value).__name__ == "BadResponse"
    assert fake.requests == 1


# ---------------------------------------------------------------- models that carry a schema

ARTICLES = [
    "Kenya's health minister met the WHO Director-General in Geneva on Monday and the two "
    "signed a memorandum of understanding on malaria.",
    "Iran and Iraq agreed to set up a joint committee and a working group on medical "
    "education; a treaty will be signed soon.",
    "Malaria vaccines were discussed.",
]


def _answer_models():
    from healthcoop.extraction.answer import answer_model
    from healthcoop.extraction.candidates import find_candidates

    return [answer_model(find_candidates(text)) for text in ARTICLES]


@pytest.mark.parametrize("mode", ["tools", "json_schema"])
def test_a_model_that_carries_its_schema_is_asked_for_as_instructor_asks_for_it(fake, mode):
    llm = _llm(fake.url, mode=mode)
    for model in _answer_models():
        direct = llm._request(model)
        assert llm._direct[mode] is True  # validated by the model, under its schema:
        assert direct.validator(model) == (model.model, {"schema": model.schema})
        assert direct.extra == llm._instructor_request(model, batch=False)[1]
    batch = llm._request(_answer_models()[0], batch=True)
    assert batch.extra == llm._instructor_request(_answer_models()[0], batch=True)[1]


def test_an_answer_model_validates_the_answer_through_the_client(fake):
    model = _answer_models()[0]
    fake.arguments = {"relevant": True, "parties": ["Kenya", "Ghana"]}
    with pytest.raises(ExtractionError) as refused:  # Ghana is not a candidate: re-asked
        _llm(fake.url, validation_retries=1).complete(MESSAGES, model)
    assert refused.value.attempts == 2 and "'Ghana' is not one of" in str(refused.value)
    fake.arguments = {"relevant": True, "parties": ["Kenya", "WHO"]}
    done = _llm(fake.url).complete(MESSAGES, model)
    assert done.value.parties == ["Kenya", "WHO"] and done.attempts == 1


def test_when_instructor_would_ask_otherwise_its_own_request_is_sent(fake, monkeypatch, caplog):
    import healthcoop.llm.client as client

    monkeypatch.setattr(client, "_direct_extra", lambda *a: {"tools": []})
    llm = _llm(fake.url)
    model = _answer_models()[0]
    prepared = llm._request(model)
    assert llm._direct["tools"] is False and "instructor builds tools requests" in caplog.text
    assert prepared.extra == llm._instructor_request(model, batch=False)[1]
    assert prepared.extra["tools"] and prepared.model is not None  # instructor's runtime model
    assert prepared.model.request_schema == model.schema  # a class that carries the schema


def test_a_prepared_request_does_not_keep_its_answer_model_alive(fake):
    """One answer model an article: an archive's worth of them must not pile up in memory
    (a prepared request once held its model, the weak key of the cache it is kept in)."""
    import gc
    import weakref

    llm = _llm(fake.url)
    fake.arguments = {"relevant": False}
    # the first answer model checks the request format against instructor's, whose own
    # caches keep that one class: one a process
    llm.complete(MESSAGES, _answer_models()[2])
    models = _answer_models()
    for model in models:
        llm.complete(MESSAGES, model)
    alive = [weakref.ref(m) for m in models]
    del models, model
    gc.collect()
    assert [r() for r in alive] == [None] * len(alive)
    assert len(llm._requests) <= 1
