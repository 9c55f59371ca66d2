"""Synthetic records for the analysis tests (export, review, labels): texts in our own words,
records built with the contract's pydantic models so they are valid."""

from __future__ import annotations

import datetime as dt

from healthcoop.schemas import (
    Agreement,
    Article,
    ArticleExtraction,
    DateRange,
    Location,
    Mechanism,
    Meeting,
    Official,
    Party,
    Provenance,
    Span,
)

TEXT_A = (
    "KARACHI, March 3 - Pakistan and Kenya signed a memorandum of understanding on vaccine "
    "production on Monday. Kenya's health minister Amina Odhiambo met her Pakistani "
    "counterpart Farid Qureshi in Karachi. The two sides proposed a joint working group on "
    "malaria surveillance, and the WHO said it would back the plan."
)
# an article that tries to run code in the review page; it must show as text
TEXT_B = (
    "Chile and Peru agreed to draft a protocol on cross-border clinics. "
    "<script>document.title='PWNED';document.body.setAttribute('data-pwned','1')</script> "
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\"> "
    "Officials from both ministries met in Lima on 12 May 2025."
)
# a second outlet's report of the vaccine MoU of TEXT_A (one event, two mentions)
TEXT_E = (
    "NAIROBI - The Kenyan health ministry said on Wednesday that Kenya and Pakistan will make "
    "vaccines together under a memorandum of understanding signed in Karachi on 3 March 2025. "
    "Minister Amina Odhiambo led the Kenyan delegation."
)
TEXT_C = "A local hospital opened a new wing for children; no foreign partner took part."


def span(text: str, phrase: str, nth: int = 0) -> Span:
    """The `nth` occurrence of `phrase` in `text` as an exact span."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(phrase, start + 1)
    return Span(start=start, end=start + len(phrase), text=phrase)


def provenance(text: str) -> Provenance:
    return Provenance(
        task="health_cooperation",
        prompt_version="test0000",
        model="synthetic",
        input_sha256=Article(text=text).sha256(),
        created_at=dt.datetime(2025, 3, 4, 12, 0, tzinfo=dt.timezone.utc),
    )


def record_a(article_id: str = "a1") -> ArticleExtraction:
    t = TEXT_A
    return ArticleExtraction(
        article_id=article_id,
        relevant=True,
        parties=[
            Party(name="Pakistan", kind="country", code="PAK",
                  evidence=[span(t, "Pakistan"), span(t, "Pakistani")]),
            Party(name="Kenya", kind="country", code="KEN",
                  evidence=[span(t, "Kenya"), span(t, "Kenya's")]),
            Party(name="WHO", kind="organization", code="WHO", evidence=[span(t, "WHO")]),
        ],
        officials=[
            Official(name="Amina Odhiambo", title="health minister", party="KEN",
                     evidence=[span(t, "Amina Odhiambo")]),
            Official(name="Farid Qureshi", title="Pakistani counterpart", party="PAK",
                     evidence=[span(t, "Farid Qureshi")]),
        ],
        meetings=[
            Meeting(parties=["KEN", "PAK"], officials=["Amina Odhiambo", "Farid Qureshi"],
                    date=DateRange(start=dt.date(2025, 3, 3), end=dt.date(2025, 3, 3)),
                    location=Location(city="Karachi", country="PAK"),
                    evidence=[span(t, "Kenya's health minister Amina Odhiambo met her "
                                      "Pakistani counterpart Farid Qureshi in Karachi")]),
        ],
        agreements=[
            Agreement(instrument="mou", status="signed", parties=["PAK", "KEN"],
                      date=dt.date(2025, 3, 3),
                      evidence=[span(t, "signed a memorandum of understanding")]),
        ],
        mechanisms=[
            Mechanism(kind="working_group", status="proposed", parties=["PAK", "KEN", "WHO"],
                      description="joint working group on malaria surveillance",
                      evidence=[span(t, "joint working group")]),
        ],
        areas=["vaccines", "communicable_diseases"],
        summary="Pakistan and Kenya signed a vaccine MoU and proposed a malaria working group.",
        provenance=provenance(t),
    )  # fmt: skip


def record_b(article_id: str = "b2", *, own_text: bool = False) -> ArticleExtraction:
    t = TEXT_B
    return ArticleExtraction(
        article_id=article_id,
        relevant=True,
        parties=[
            Party(name="Chile", kind="country", code="CHL", evidence=[span(t, "Chile")]),
            Party(name="Peru", kind="country", code="PER", evidence=[span(t, "Peru")]),
        ],
        meetings=[
            Meeting(parties=["CHL", "PER"],
                    date=DateRange(start=dt.date(2025, 5, 12), end=dt.date(2025, 5, 12)),
                    location=Location(city="Lima", country="PER"),
                    evidence=[span(t, "met in Lima on 12 May 2025")]),
        ],
        agreements=[
            Agreement(instrument="protocol", status="proposed", parties=["CHL", "PER"],
                      evidence=[span(t, "agreed to draft a protocol")]),
        ],
        areas=["health_systems"],
        summary="Chile and Peru plan a protocol on border clinics.",
        provenance=provenance(t),
        text=t if own_text else None,
    )  # fmt: skip


def record_e(article_id: str = "e5") -> ArticleExtraction:
    t = TEXT_E
    return ArticleExtraction(
        article_id=article_id,
        relevant=True,
        parties=[
            Party(name="Kenya", kind="country", code="KEN",
                  evidence=[span(t, "Kenyan"), span(t, "Kenya")]),
            Party(name="Pakistan", kind="country", code="PAK", evidence=[span(t, "Pakistan")]),
        ],
        officials=[
            Official(name="Amina Odhiambo", title="Minister", party="KEN",
                     evidence=[span(t, "Amina Odhiambo")]),
        ],
        agreements=[
            Agreement(instrument="mou", status="signed", parties=["KEN", "PAK"],
                      date=dt.date(2025, 3, 3),
                      evidence=[span(t, "memorandum of understanding signed in Karachi on "
                                        "3 March 2025"), span(t, "make vaccines together")]),
        ],
        areas=["vaccines"],
        summary="Kenya and Pakistan signed a vaccine production MoU.",
        provenance=provenance(t),
    )  # fmt: skip


def record_c(article_id: str = "c3") -> ArticleExtraction:
    return ArticleExtraction(
        article_id=article_id, relevant=False, summary="", provenance=provenance(TEXT_C)
    )


def error_line(article_id: str = "d4") -> dict:
    return {
        "article_id": article_id,
        "status": "error",
        "error": {"type": "llm_error", "message": "timed out", "kind": "timeout",
                  "retryable": True},
    }  # fmt: skip


def bulk_line(record: ArticleExtraction) -> dict:
    return {"article_id": record.article_id, "status": "ok",
            "extraction": record.model_dump(mode="json")}  # fmt: skip


def archive_rows() -> list[dict]:
    """The articles the records came from, as archive JSON lines."""
    return [
        {"id": "a1", "text": TEXT_A, "title": "Vaccine MoU", "published": "2025-03-04",
         "url": "https://example.org/a1", "source": "example.org"},
        {"id": "b2", "text": TEXT_B, "title": "Border clinics <b>plan</b>",
         "published": "2025-05-13"},
        {"id": "c3", "text": TEXT_C, "published": "2025-06-01"},
        {"id": "e5", "text": TEXT_E, "title": "Kenya, Pakistan to make vaccines",
         "published": "2025-03-05", "source": "example.net"},
        {"id": "d4", "text": "An article the model could not answer in time."},
    ]  # fmt: skip
