"""What the pipeline needs from a model, and what it gets back: small types with no client
library behind them, so the core, the doors and the tests' fakes depend on these alone."""

from __future__ import annotations

import copy
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


@dataclass(frozen=True, eq=False)
class Bound(Generic[T]):
    """A response model bound to one JSON Schema: the model is asked for `schema`, and its
    validators hold each answer to the schema they find in the validation context
    (`{"schema": schema}`). One model class serves every article; building a pydantic class
    for each article's schema cost about 1 ms of CPU, and its collection more."""

    model: type[T]
    schema: dict

    @property
    def context(self) -> dict:
        return {"schema": self.schema}

    @property
    def name(self) -> str:
        return self.model.__name__

    def model_json_schema(self) -> dict:
        return copy.deepcopy(self.schema)

    def model_validate(self, data: object) -> T:
        return self.model.model_validate(data, context=self.context)

    def model_validate_json(self, data: str | bytes, *, strict: bool | None = None) -> T:
        return self.model.model_validate_json(data, context=self.context, strict=strict)

    def as_class(self) -> type[T]:
        """A subclass of the model that carries the schema (`request_schema`), for what only
        takes classes (instructor's own request path)."""
        namespace = {"__doc__": self.model.__doc__, "__module__": self.model.__module__,
                     "request_schema": self.schema}  # fmt: skip
        return type(self.model.__name__, (self.model,), namespace)


ResponseModel = type[T] | Bound[T]


class LLM(Protocol):
    """What the pipeline needs from a model."""

    model: str
    endpoint: str | None

    def complete(
        self, messages: Sequence[Message], response_model: ResponseModel[T]
    ) -> Completion[T]: ...

    async def acomplete(
        self, messages: Sequence[Message], response_model: ResponseModel[T]
    ) -> Completion[T]: ...


def request_schema(response_model: type[BaseModel] | Bound) -> dict | None:
    """The JSON Schema a response model carries as data (a `Bound`'s, or a class's
    `request_schema` attribute), or None. Such a model validates answers against that schema
    itself, so the client builds its request from the schema, without instructor's per-class
    preparation (about 1.6 ms, once for every new answer model: every article of an
    archive)."""
    if isinstance(response_model, Bound):
        return response_model.schema
    schema = getattr(response_model, "request_schema", None)
    return schema if isinstance(schema, dict) and schema else None


def endpoint_host(base_url: str | None) -> str | None:
    """Host (and port) of an endpoint: what provenance and logs may show. Never credentials."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else None
