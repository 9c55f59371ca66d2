"""Client-side rate limits shared by every worker of a bulk run, applied per HTTP request.

`Limiter.hooks()` plugs into the async HTTP client the LLM client uses, so every request
(transport retries and validation re-asks included) waits for its turn: for a pause that
any worker's 429 with Retry-After started, and for room under the requests-per-minute and
tokens-per-minute budgets. Single event loop; no threads.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx2

# Rough characters per token, used to reserve tokens before the answer says how many it took.
CHARS_PER_TOKEN = 4


class Bucket:
    """A token bucket refilled at `per_minute / 60` a second, holding one second's worth.

    A request may take more than the bucket holds (a long article under a small TPM): it waits
    for a full bucket and leaves it in debt, so the average rate still holds.
    """

    def __init__(self, per_minute: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float) -> float:
        """Seconds until `amount` may be taken (0: now)."""
        self._refill()
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount

    def give(self, amount: float) -> None:
        """Return (or, negative, charge more of) what an estimate got wrong."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)

    async def acquire(self, amount: float) -> None:
        while (delay := self.wait_time(amount)) > 0:
            await asyncio.sleep(delay)
        self.take(amount)


class Gate:
    """A pause every request honours: set by whoever sees a 429 with Retry-After."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.until = 0.0
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        until = self.clock() + seconds
        if until > self.until:
            self.until = until
            self.pauses += 1

    async def wait(self) -> None:
        while (delay := self.until - self.clock()) > 0:
            await asyncio.sleep(delay)


class Budget(Protocol):
    """What a limiter needs of a budget: a `Bucket` here, or one shared between machines."""

    async def acquire(self, amount: float) -> None: ...

    def give(self, amount: float) -> None: ...


class Limiter:
    """The gate and the optional RPM/TPM buckets of one run. `requests` and `tokens` replace
    the buckets built from `rpm` and `tpm` (budgets shared with other processes)."""

    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        max_tokens: int = 0,
        gate: Gate | None = None,
        requests: Budget | None = None,
        tokens: Budget | None = None,
    ) -> None:
        self.gate = gate or Gate()
        self.requests: Budget | None = requests or (Bucket(rpm) if rpm else None)
        self.tokens: Budget | None = tokens or (Bucket(tpm) if tpm else None)
        self.max_tokens = max_tokens
        self.completion_estimate = max_tokens / 4  # refined from the answers seen

    def hooks(self) -> dict[str, list]:
        return {"request": [self._before], "response": [self._after]}

    async def _before(self, request: httpx2.Request) -> None:
        if request.method != "POST":
            return
        await self.gate.wait()
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            estimate = len(request.content) / CHARS_PER_TOKEN + self.completion_estimate
            request.extensions["healthcoop_tokens"] = estimate
            await self.tokens.acquire(estimate)
        # a 429 may have arrived while this request waited for its budget
        await self.gate.wait()

    async def _after(self, response: httpx2.Response) -> None:
        if response.status_code == 429:
            seconds = retry_after_seconds(response.headers.get("retry-after"))
            if seconds is not None:
                self.gate.pause(min(seconds, 120.0))
            return
        if self.tokens is None or response.status_code != 200:
            return
        estimate = response.request.extensions.get("healthcoop_tokens")
        if estimate is None:
            return
        await response.aread()
        try:
            usage = json.loads(response.content).get("usage") or {}
            used = float(usage.get("total_tokens") or 0)
            completion = float(usage.get("completion_tokens") or 0)
        except (ValueError, AttributeError):
            return
        if used:
            self.tokens.give(estimate - used)
            self.completion_estimate = 0.9 * self.completion_estimate + 0.1 * completion


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds: a number, or an HTTP date; None when absent or bad."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
