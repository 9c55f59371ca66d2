"""healthcoop: international health cooperation news → grounded, normalized data.

import healthcoop
rec = healthcoop.extract(healthcoop.Article(id="002", text=..., published="2025-04-28"))

The Python API, one of three doors over one core (the others: `healthcoop.http`, the HTTP
service, and `healthcoop.bulk`, the bulk runner; `healthcoop.cli` drives all three):

    core/        text, grounding, normalise, prompting          pure, no I/O beyond its data
    extraction/  Pipeline, Extractor, strategies                 core + llm
    llm/         the one client factory, dialects, rate limits   the model edge
    bulk/  http/ the doors                                       extraction + llm, not each other
    scoring/     evaluate, diff                                  core
    analysis/    export, review, consolidation                   core + scoring
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from healthcoop.schemas import (
    SCHEMA_VERSION,
    Agreement,
    Article,
    ArticleExtraction,
    Mechanism,
    Meeting,
    Official,
    Party,
    Provenance,
    Span,
)

from .analysis.consolidate import consolidate
from .bulk import RunOptions, aannotate, annotate
from .errors import (
    ConfigError,
    ExtractionError,
    HealthcoopError,
    InputError,
    LLMError,
    PromptError,
)
from .extraction import Extractor, shared_extractor
from .llm.base import LLM
from .settings import Settings, get_settings

__all__ = [
    "SCHEMA_VERSION",
    "Agreement",
    "Article",
    "ArticleExtraction",
    "ConfigError",
    "ExtractionError",
    "Extractor",
    "HealthcoopError",
    "InputError",
    "LLM",
    "LLMError",
    "Meeting",
    "Mechanism",
    "Official",
    "Party",
    "PromptError",
    "Provenance",
    "RunOptions",
    "Settings",
    "Span",
    "aannotate",
    "aextract",
    "annotate",
    "consolidate",
    "extract",
    "extractor",
]

ArticleLike = Article | Mapping[str, Any] | str


def extractor(settings: Settings | None = None, *, llm: LLM | None = None) -> Extractor:
    """An Extractor for the settings (default: from the environment), built once per distinct
    settings and reused, so `extract` in a loop keeps one client. With no endpoint set, the
    embedded model is started on first use and stopped at exit."""
    settings = settings or get_settings()
    if llm is not None:
        return Extractor(llm, settings)
    return shared_extractor(settings)


def extract(
    article: ArticleLike, *, settings: Settings | None = None, llm: LLM | None = None
) -> ArticleExtraction:
    """Extract one article into a grounded, normalized record (contract v1)."""
    return extractor(settings, llm=llm).extract(article)


async def aextract(
    article: ArticleLike, *, settings: Settings | None = None, llm: LLM | None = None
) -> ArticleExtraction:
    """`extract`, for asyncio code."""
    return await extractor(settings, llm=llm).aextract(article)


def __getattr__(name: str) -> Any:
    # `healthcoop.export` needs the analysis extra (pyarrow), so it loads on first use only
    if name == "export":
        import importlib

        return importlib.import_module(".export", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
