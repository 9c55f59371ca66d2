"""Examples for the HTTP service's OpenAPI document, taken from seed article 002 (abridged).

The example record is built from contract models with offsets computed against the example
text, so it is a valid `ArticleExtraction` by construction.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from healthcoop.schemas import (
    SCHEMA_VERSION,
    Agreement,
    ArticleExtraction,
    DateRange,
    Location,
    Meeting,
    Official,
    Party,
    Provenance,
    Span,
    Usage,
)

SEED_TEXT = (
    "TEHRAN \u2013 Health Minister Mohammad-Reza Zafarqandi and Russia\u2019s deputy health "
    "minister Oleg Salagay have discussed ways of enhancing ties in the health sector.\n\n"
    "The officials met on Sunday on the sidelines of the eighth meeting of health ministries "
    "of member states of the Shanghai Cooperation Organization (SCO) in Xi\u2019an, China, the "
    "health ministry reported.\n\n"
    "During the meeting, Salagay voiced Russia's readiness to expand cooperation with Iran, "
    "highlighting the need for the development of interactions among the universities of the "
    "two countries, including exchanging students.\n\n"
    "The official expressed optimism that signing a memorandum of understanding will lay the "
    "basis for the implementation of the reached agreements."
)

SEED_ARTICLE: dict[str, Any] = {
    "id": "002",
    "text": SEED_TEXT,
    "title": "Iran, Russia discuss expanding health ties",
    "source": "tehrantimes.com",
    "published": "2025-04-28",
}


def _span(quote: str) -> Span:
    start = SEED_TEXT.index(quote)
    return Span(start=start, end=start + len(quote), text=quote)


@lru_cache(maxsize=1)
def seed_record() -> dict[str, Any]:
    """What the service answers for `SEED_ARTICLE` (abridged), as JSON."""
    record = ArticleExtraction(
        article_id="002",
        relevant=True,
        parties=[
            Party(name="Iran", kind="country", code="IRN", evidence=[_span("Iran")]),
            Party(name="Russia", kind="country", code="RUS", evidence=[_span("Russia")]),
        ],
        officials=[
            Official(
                name="Mohammad-Reza Zafarqandi",
                title="Health Minister",
                party="IRN",
                evidence=[_span("Mohammad-Reza Zafarqandi")],
            ),
            Official(
                name="Oleg Salagay",
                title="deputy health minister",
                party="RUS",
                evidence=[_span("Oleg Salagay")],
            ),
        ],
        meetings=[
            Meeting(
                parties=["IRN", "RUS"],
                officials=["Mohammad-Reza Zafarqandi", "Oleg Salagay"],
                date=DateRange(start=dt.date(2025, 4, 27), end=dt.date(2025, 4, 27)),
                location=Location(city="Xi\u2019an", country="CHN"),
                forum="eighth meeting of health ministries of member states of the Shanghai "
                "Cooperation Organization",
                evidence=[_span("The officials met on Sunday on the sidelines")],
            )
        ],
        agreements=[
            Agreement(
                instrument="mou",
                status="proposed",
                parties=["IRN", "RUS"],
                evidence=[_span("signing a memorandum of understanding")],
            )
        ],
        areas=["education_training"],
        summary="Iran and Russia discussed expanding health cooperation and a planned MoU.",
        provenance=Provenance(
            task="health_cooperation",
            schema_version=SCHEMA_VERSION,
            prompt_version="0123456789ab",
            model="qwen2.5-coder-1.5b",
            endpoint="127.0.0.1:8080",
            input_sha256="0" * 64,
            created_at=dt.datetime(2025, 4, 28, 12, 0, tzinfo=dt.timezone.utc),
            usage=Usage(prompt_tokens=1480, completion_tokens=310),
            attempts=1,
            latency_ms=5200,
        ),
    )
    return record.model_dump(mode="json")
