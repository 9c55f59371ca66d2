"""Client-side limits, on a clock the test moves by hand."""

from __future__ import annotations

import httpx2
import pytest

from healthcoop.llm.ratelimit import Bucket, Gate, Limiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_requests_per_minute_bucket_spaces_requests_evenly():
    clock = Clock()
    rpm = Bucket(60, clock=clock)  # one a second, no burst beyond one
    assert rpm.wait_time(1) == 0
    rpm.take(1)
    assert rpm.wait_time(1) == pytest.approx(1.0)
    clock.now += 0.25
    assert rpm.wait_time(1) == pytest.approx(0.75)
    clock.now += 0.75
    assert rpm.wait_time(1) == 0


def test_a_request_larger_than_the_token_bucket_waits_for_a_full_bucket_then_leaves_debt():
    clock = Clock()
    tpm = Bucket(600, clock=clock)  # 10 tokens a second, holds 10
    assert tpm.wait_time(50) == 0  # full: a long article may go, and pays for it after
    tpm.take(50)
    assert tpm.wait_time(1) == pytest.approx(4.1)  # 40 in debt, then 1 more


def test_an_overestimate_is_given_back_to_the_bucket():
    clock = Clock()
    tpm = Bucket(600, clock=clock)
    tpm.take(10)
    tpm.give(8)  # the answer used 2 tokens, not 10
    assert tpm.wait_time(8) == 0


def test_a_retry_after_pauses_everyone_and_only_a_later_deadline_extends_it():
    clock = Clock()
    gate = Gate(clock=clock)
    gate.pause(5)
    gate.pause(2)  # a shorter Retry-After seen meanwhile does not shorten the pause
    assert gate.until == pytest.approx(105.0) and gate.pauses == 1
    gate.pause(10)
    assert gate.until == pytest.approx(110.0) and gate.pauses == 2


async def test_an_open_gate_lets_requests_through_at_once():
    await Gate().wait()


def _client(limiter: Limiter, response: httpx2.Response) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.MockTransport(lambda request: response), event_hooks=limiter.hooks()
    )


async def test_a_429_seen_by_one_request_closes_the_gate_for_all():
    limiter = Limiter()
    reply = httpx2.Response(429, headers={"retry-after": "30"}, json={"error": {}})
    async with _client(limiter, reply) as client:
        await client.post("http://fake/v1/chat/completions", json={})
    assert limiter.gate.pauses == 1
    assert limiter.gate.until - limiter.gate.clock() > 25


async def test_the_token_budget_is_charged_what_the_answer_says_it_used():
    limiter = Limiter(tpm=60_000, max_tokens=400)  # 1000 tokens a second
    reply = httpx2.Response(200, json={"usage": {"total_tokens": 10, "completion_tokens": 2}})
    async with _client(limiter, reply) as client:
        await client.post("http://fake/v1/chat/completions", content=b"x" * 4000)
    # reserved ~1000 prompt + 100 completion tokens, used 10: the difference is back
    assert limiter.tokens.level > 900
    assert limiter.completion_estimate < 100
