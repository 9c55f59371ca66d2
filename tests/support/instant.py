"""An in-process stand-in for a model, for bulk tests and the bulk benchmark: no HTTP at all.

It answers every request with `answer` (default `{"relevant": false}`, always a valid draft),
can fail chosen texts, and can "crash" (raise a BaseException, as a killed worker would stop)
after a number of answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from healthcoop.errors import HealthcoopError
from healthcoop.llm.base import Completion


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing records it as an error."""


class InstantLLM:
    """An `LLM` answering at once; counts what it was asked."""

    endpoint = None

    def __init__(
        self,
        model: str = "instant",
        *,
        answer: dict[str, Any] | None = None,
        fail: Callable[[str], HealthcoopError | None] | None = None,
        crash_after: int | None = None,
        keep: bool = True,
    ) -> None:
        self.model = model
        self.answer = answer or {"relevant": False}
        self.fail = fail
        self.crash_after = crash_after
        self.keep = keep  # False: count requests only (a benchmark must not grow a list)
        self.asked: list[str] = []  # the user message of each request
        self.requests = 0

    def complete(self, messages: Sequence[dict[str, str]], response_model: type) -> Completion:
        if self.crash_after is not None and self.requests >= self.crash_after:
            raise Crash
        text = messages[-1]["content"]
        self.requests += 1
        if self.keep:
            self.asked.append(text)
        if self.fail is not None and (error := self.fail(text)) is not None:
            raise error
        value = response_model.model_validate(self.answer)
        return Completion(value, prompt_tokens=7, completion_tokens=3, attempts=1, latency_ms=0)

    async def acomplete(
        self, messages: Sequence[dict[str, str]], response_model: type
    ) -> Completion:
        await asyncio.sleep(0)  # let other workers run, as a real request would
        return self.complete(messages, response_model)
