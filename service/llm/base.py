"""What the pipeline needs from a model, and what it gets back: small types with no client
library behind them, so the core, the doors and the tests' fakes depend on these alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]


@dataclass(frozen=True)
class Completion(Generic[T]):
    """A validated answer and what it cost."""

    value: T
    prompt_tokens: int
    completion_tokens: int
    attempts: int  # HTTP requests made, validation re-asks and transport retries included
    latency_ms: int


class LLM(Protocol):
    """What the pipeline needs from a model."""

    model: str
    endpoint: str | None

    def complete(self, messages: Sequence[Message], response_model: type[T]) -> Completion[T]: ...

    async def acomplete(
        self, messages: Sequence[Message], response_model: type[T]
    ) -> Completion[T]: ...


def endpoint_host(base_url: str | None) -> str | None:
    """Host (and port) of an endpoint: what provenance and logs may show. Never credentials."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else None
