"""healthcoop: international health cooperation news → grounded, normalized data.

import healthcoop
rec = healthcoop.extract(healthcoop.Article(id="002", text=..., published="2025-04-28"))
"""

from __future__ import annotations

import threading
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

from .bulk import aannotate, annotate
from .errors import (
    ConfigError,
    ExtractionError,
    HealthcoopError,
    InputError,
    LLMError,
    PromptError,
)
from .extract import Extractor
from .llm_client import LLM
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
    "Settings",
    "Span",
    "aannotate",
    "aextract",
    "annotate",
    "extract",
    "extractor",
]

ArticleLike = Article | Mapping[str, Any] | str


_extractors: dict[tuple[str, str], Extractor] = {}
_extractors_lock = threading.Lock()


def extractor(settings: Settings | None = None, *, llm: LLM | None = None) -> Extractor:
    """An Extractor for the settings (default: from the environment), built once per distinct
    settings and reused, so `extract` in a loop keeps one client. With no endpoint set, the
    embedded model is started on first use and stopped at exit."""
    from .runtime import open_llm

    settings = settings or get_settings()
    if llm is not None:
        return Extractor(llm, settings)
    secret = settings.api_key.get_secret_value() if settings.api_key else ""
    key = (settings.model_dump_json(), secret)  # held in memory only, never shown
    with _extractors_lock:
        if key not in _extractors:
            _extractors[key] = Extractor(open_llm(settings), settings)
        return _extractors[key]


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
