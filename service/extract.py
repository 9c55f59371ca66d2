"""The extraction pipeline: Article → prompt → validated draft → grounded, normalized record.

`assemble` (draft → record) is pure and carries the grounding and normalization; `Extractor`
adds the I/O: rendering the prompt and asking the model, synchronously or not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from healthcoop.schemas import (
    SCHEMA_VERSION,
    Agreement,
    Article,
    ArticleExtraction,
    Location,
    Mechanism,
    Meeting,
    Official,
    Party,
    PartyKind,
    Provenance,
    Span,
    Usage,
)
from healthcoop.schemas.draft import Draft
from healthcoop.schemas.gazetteer import countries, organizations

from . import prompting
from .errors import InputError
from .grounding import align, find_all, sentence_around
from .llm_client import LLM, Completion, Message
from .normalise import (
    city_country,
    clean_person_name,
    country_code,
    parse_date,
    resolve_party,
)
from .settings import Settings, get_settings
from .text import clean_text

MAX_SPANS_PER_ITEM = 5


@dataclass(frozen=True)
class Prepared:
    """An article checked and cleaned, with the text every offset will point into."""

    article: Article
    text: str
    changed: bool  # text differs from article.text (HTML stripped, controls removed)


def to_article(value: Article | Mapping[str, Any] | str) -> Article:
    """Accept an Article, its JSON-like dict, or bare text."""
    if isinstance(value, Article):
        return value
    try:
        if isinstance(value, str):
            return Article(text=value)
        return Article.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'article'}: {e['msg']}" for e in exc.errors()
        )
        first = exc.errors()[0]["loc"]
        field = str(first[0]) if first else None
        raise InputError(f"invalid article: {problems}", field=field) from None


def prepare(value: Article | Mapping[str, Any] | str, settings: Settings) -> Prepared:
    article = to_article(value)
    text, changed = clean_text(article.text, max_chars=settings.max_chars)
    return Prepared(article, text, changed)


def render(prepared: Prepared, template: prompting.Template) -> list[Message]:
    a = prepared.article
    return template.render(
        text=prepared.text,
        title=a.title,
        published=a.published.isoformat() if a.published else None,
        source=a.source,
    )


# ---------------------------------------------------------------- assembling a record


class _Grounder:
    """Finds evidence for items in one text and applies the ungrounded-item policy."""

    def __init__(self, text: str, settings: Settings) -> None:
        self.text = text
        self.threshold = settings.fuzzy_threshold
        self.flag = settings.ungrounded == "flag"
        self.dropped: list[str] = []

    def mentions(self, *names: str | None) -> list[Span]:
        for name in names:
            if name and (spans := find_all(self.text, name, limit=MAX_SPANS_PER_ITEM)):
                return spans
        for name in names:
            if name and (span := align(self.text, name, threshold=self.threshold)):
                return [span]
        return []

    def quote(self, *quotes: str | None) -> list[Span]:
        for q in quotes:
            if q and (span := align(self.text, q, threshold=self.threshold)):
                return [sentence_around(self.text, span)]
        return []

    def keep(self, what: str, evidence: list[Span]) -> dict[str, Any] | None:
        """Fields to add to an item, or None when it must be dropped."""
        if evidence:
            return {"evidence": evidence, "grounded": True}
        if self.flag:
            return {"evidence": [], "grounded": False}
        self.dropped.append(what)
        return None


def _party_aliases(kind: PartyKind, code: str | None) -> list[str]:
    if code is None:
        return []
    if kind is PartyKind.country:
        c = countries()[code]
        return [*c.aliases, *c.demonyms]
    org = organizations()[code]
    return [org.code, *org.aliases]


def _codes(names: Iterable[str], known: dict[str, str]) -> list[str]:
    """Party codes for names as written, in order, without repeats or unresolvable names."""
    out: list[str] = []
    for name in names:
        code = known.get(name)
        if code is None:
            resolved = resolve_party(name)
            code = resolved[1] if resolved else None
        if code and code not in out:
            out.append(code)
    return out


def assemble(
    draft: Draft,
    prepared: Prepared,
    *,
    settings: Settings,
    provenance: Provenance,
) -> ArticleExtraction:
    """Ground and normalize a validated draft into a contract v1 record (pure)."""
    text, published = prepared.text, prepared.article.published
    g = _Grounder(text, settings)

    if not draft.relevant:
        return ArticleExtraction(
            article_id=prepared.article.id or "",
            relevant=False,
            summary=draft.summary,
            provenance=provenance,
            text=text if prepared.changed else None,
        )

    # Parties: from the list, and from anyone named as a party of something else.
    names = [*draft.parties]
    for m in draft.meetings:
        names += m.parties
    for a in draft.agreements:
        names += a.parties
    for o in draft.officials:
        if o.party:
            names.append(o.party)
    parties: list[Party] = []
    known: dict[str, str] = {}  # name as written → code
    seen: set[str] = set()
    for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        resolved = resolve_party(name)
        if resolved is None:
            continue  # neither a country nor a known international organization
        kind, code = resolved
        if code is None:
            continue
        known[name] = code
        if code in seen:
            continue
        evidence = g.mentions(name, *_party_aliases(kind, code))
        extra = g.keep(f"party {name!r}", evidence)
        if extra is None:
            continue
        seen.add(code)
        parties.append(Party(name=name, kind=kind, code=code, **extra))

    officials: list[Official] = []
    for o in draft.officials:
        name = clean_person_name(o.name)
        if len(name.split()) < 2 and not any(ch.isupper() for ch in name[1:]):
            continue  # a title or a bare surname is not a named official
        if any(x.name == name for x in officials):
            continue
        extra = g.keep(f"official {name!r}", g.mentions(name))
        if extra is None:
            continue
        party = _codes([o.party], known)[0] if o.party and _codes([o.party], known) else None
        officials.append(Official(name=name, title=o.title or None, party=party, **extra))
    official_names = {o.name for o in officials}

    meetings: list[Meeting] = []
    for m in draft.meetings:
        codes = _codes(m.parties, known)
        location = None
        if m.city or m.country:
            ctry = country_code(m.country) or city_country(m.city)
            location = Location(city=m.city or None, country=ctry)
        extra = g.keep("meeting", g.quote(m.quote) or g.mentions(*m.officials))
        if extra is None:
            continue
        meetings.append(
            Meeting(
                parties=codes,
                officials=[n for n in map(clean_person_name, m.officials) if n in official_names],
                date=parse_date(m.date, published),
                location=location,
                forum=m.forum or None,
                **extra,
            )
        )

    agreements: list[Agreement] = []
    for a in draft.agreements:
        extra = g.keep(f"agreement ({a.instrument.value})", g.quote(a.quote, a.title))
        if extra is None:
            continue
        day = parse_date(a.date, published)
        agreements.append(
            Agreement(
                instrument=a.instrument,
                status=a.status,
                parties=_codes(a.parties, known),
                date=day.start if day else None,
                title=a.title or None,
                **extra,
            )
        )

    mechanisms: list[Mechanism] = []
    for k in draft.mechanisms:
        extra = g.keep(f"mechanism ({k.kind.value})", g.quote(k.quote))
        if extra is None:
            continue
        mechanisms.append(
            Mechanism(
                kind=k.kind,
                status=k.status,
                parties=_codes(k.parties, known),
                description=k.quote.strip(),
                **extra,
            )
        )

    return ArticleExtraction(
        article_id=prepared.article.id or "",
        relevant=True,
        parties=parties,
        officials=officials,
        meetings=meetings,
        agreements=agreements,
        mechanisms=mechanisms,
        areas=list(dict.fromkeys(draft.areas)),
        summary=draft.summary.strip(),
        provenance=provenance,
        text=text if prepared.changed else None,
    )


# ---------------------------------------------------------------- the pipeline with I/O


class Extractor:
    """Extraction with one model and one set of settings; reuse it for many articles."""

    def __init__(self, llm: LLM, settings: Settings | None = None) -> None:
        self.llm = llm
        self.settings = settings or get_settings()
        self.template = prompting.load(self.settings.prompt)
        self.response_model = self.response_model_for(self.settings.prompt)
        self.prompt_version = self.template.version(self.response_model)

    @staticmethod
    def response_model_for(prompt: str) -> type[Draft]:
        """The model a prompt asks for (one draft shape for now)."""
        return Draft

    def _provenance(self, prepared: Prepared, done: Completion[Draft]) -> Provenance:
        return Provenance(
            task=self.settings.task,
            schema_version=SCHEMA_VERSION,
            prompt_version=self.prompt_version,
            model=self.llm.model,
            endpoint=self.llm.endpoint,
            input_sha256=prepared.article.sha256(),
            created_at=dt.datetime.now(dt.timezone.utc),
            usage=Usage(prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens),
            attempts=done.attempts,
            latency_ms=done.latency_ms,
        )

    def _finish(self, prepared: Prepared, done: Completion[Draft]) -> ArticleExtraction:
        return assemble(
            done.value,
            prepared,
            settings=self.settings,
            provenance=self._provenance(prepared, done),
        )

    def extract(self, article: Article | Mapping[str, Any] | str) -> ArticleExtraction:
        prepared = prepare(article, self.settings)
        done = self.llm.complete(render(prepared, self.template), self.response_model)
        return self._finish(prepared, done)

    async def aextract(self, article: Article | Mapping[str, Any] | str) -> ArticleExtraction:
        prepared = prepare(article, self.settings)
        done = await self.llm.acomplete(render(prepared, self.template), self.response_model)
        return self._finish(prepared, done)
