"""Request and response models of the HTTP service, and the error responses each route
documents in its OpenAPI entry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from healthcoop.schemas import Article, ArticleExtraction

from .examples import SEED_ARTICLE


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. articles.2.text")
    message: str


class ErrorBody(BaseModel):
    """Every error response: a stable `type`, a `message` saying what to do, the request id."""

    type: str = Field(description="stable machine-readable name, e.g. input_error, llm_error")
    message: str
    status: int = Field(description="the HTTP status this error maps to")
    request_id: str
    field: str | None = None
    errors: list[FieldProblem] | None = Field(default=None, description="422: one per field")
    kind: str | None = Field(default=None, description="llm_error: rate_limit, timeout, …")
    retryable: bool | None = None
    attempts: int | None = Field(default=None, description="extraction_error: model calls made")
    last_error: str | None = Field(default=None, description="extraction_error: what failed")


class BatchResult(BaseModel):
    """One article's outcome: `record` when `ok`, else `error`."""

    index: int
    ok: bool
    record: ArticleExtraction | None = None
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult] = Field(description="one per article, in the order sent")


class ContractSchemas(BaseModel):
    schema_version: str
    prompt_version: str
    input: dict[str, Any] = Field(description="JSON Schema of Article")
    output: dict[str, Any] = Field(description="JSON Schema of ArticleExtraction")


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = "ready"
    model: str
    endpoint: str | None
    checked: bool = Field(description="false when the model has no HTTP endpoint to probe")
    schema_version: str
    prompt_version: str
    concurrency: int


# Items are checked one by one, so a bad item fails alone; the schema still says Article.
_ArticleItem = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/Article"})]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    articles: list[_ArticleItem] = Field(
        min_length=1, description="1 to HEALTHCOOP_SERVICE_MAX_BATCH articles"
    )


ArticleBody = Annotated[
    Article,
    Body(
        openapi_examples={
            "seed_002": {"summary": "seed article 002, abridged", "value": SEED_ARTICLE}
        }
    ),
]
BatchBody = Annotated[
    BatchRequest,
    Body(
        openapi_examples={
            "seed_002": {
                "summary": "seed article 002, and an empty one that fails alone",
                "value": {"articles": [SEED_ARTICLE, {"id": "empty", "text": " "}]},
            }
        }
    ),
]


_DESCRIPTIONS = {
    401: "bearer token missing or wrong (only when HEALTHCOOP_SERVICE_TOKEN is set)",
    413: "request body over HEALTHCOOP_SERVICE_MAX_BODY_BYTES",
    422: "invalid input, with one message per field",
    500: "the service is misconfigured, or failed unexpectedly",
    502: "the model endpoint failed, or its answer never validated",
    503: "the model endpoint is rate limiting or not ready; retry after Retry-After seconds",
    504: "the model endpoint timed out",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        if code == 503:
            out[code]["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "string"}}
            }
    return out
