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


def request_schema(response_model: type[BaseModel]) -> dict | None:
    """The JSON Schema a response model carries as data (`request_schema`, a class attribute),
    or None. Such a model validates answers against that schema itself, so the client builds
    its request from the schema, without instructor's per-class preparation (about 1.6 ms,
    once for every new answer model: once for every article of an archive)."""
    schema = getattr(response_model, "request_schema", None)
    return schema if isinstance(schema, dict) and schema else None


def endpoint_host(base_url: str | None) -> str | None:
    """Host (and port) of an endpoint: what provenance and logs may show. Never credentials."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else None
