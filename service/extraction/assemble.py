"""Assembling a record: a validated answer + the text → a grounded, normalized
ArticleExtraction. Pure functions; no model, no network.

Two answer shapes: a free `Draft` (names as written, quotes) that is grounded by searching the
text, and a candidate-constrained `Answer` whose every choice already has spans.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from healthcoop.schemas import (
    Agreement,
    AgreementStatus,
    ArticleExtraction,
    Instrument,
    Location,
    Mechanism,
    MechanismKind,
    MechanismStatus,
    Meeting,
    Official,
    Party,
    PartyKind,
    Provenance,
    Span,
)
from healthcoop.schemas.draft import Draft
from healthcoop.schemas.gazetteer import countries, organizations

from ..core.grounding import align, find_all, sentence_around
from ..core.normalise import (
    city_country,
    clean_person_name,
    country_code,
    parse_date,
    resolve_party,
)
from ..core.scan import Caseless
from ..settings import Settings
from .answer import NONE, Answer, unhinted_people
from .candidates import Candidates, Cue, dateline_country, find_candidates, mentions_health

MAX_SPANS_PER_ITEM = 5


@dataclass(frozen=True)
class Source:
    """The article as assembly sees it: id, the text offsets point into, publication date."""

    article_id: str
    text: str
    published: Any  # dt.date | None
    changed: bool  # the text differs from what the caller sent (HTML stripped)


def _irrelevant(src: Source, provenance: Provenance, summary: str = "") -> ArticleExtraction:
    return ArticleExtraction(
        article_id=src.article_id,
        relevant=False,
        summary=summary or "No international health cooperation reported.",
        provenance=provenance,
        text=src.text if src.changed else None,
    )


class _Grounder:
    """Finds evidence for items in one text and applies the ungrounded-item policy."""

    def __init__(self, text: str, settings: Settings) -> None:
        self.text = text
        self.threshold = settings.fuzzy_threshold
        self.flag = settings.ungrounded == "flag"
        self.dropped: list[str] = []

    def mentions(self, *names: str | None, fuzzy: bool = True) -> list[Span]:
        for name in names:
            if name and (spans := find_all(self.text, name, limit=MAX_SPANS_PER_ITEM)):
                return spans
        if not fuzzy:
            return []
        for name in names:
            if name and (span := align(self.text, name, threshold=self.threshold)):
                return [span]
        return []

    def quote(self, *quotes: str | None) -> list[Span]:
        for q in quotes:
            if q and (span := align(self.text, q, threshold=self.threshold)):
                return [sentence_around(self.text, span)]
        return []

    def as_written(self, phrase: str | None, *, fuzzy: bool = True) -> str | None:
        """The phrase as the text writes it (a title, a city, a forum), or None when the text
        does not contain it: nothing a model writes reaches a record unless the text says it."""
        if not phrase or not phrase.strip():
            return None
        spans = find_all(self.text, phrase, limit=1)
        if not spans and fuzzy:
            spans = [s for s in [align(self.text, phrase, threshold=self.threshold)] if s]
        return spans[0].text if spans else None

    def keep(self, what: str, evidence: list[Span]) -> dict[str, Any] | None:
        """Fields to add to an item, or None when it must be dropped."""
        if evidence:
            return {"evidence": evidence, "grounded": True}
        if self.flag:
            return {"evidence": [], "grounded": False}
        self.dropped.append(what)
        return None


# ---------------------------------------------------------------- summary


def summarize(parties: list[Party], meetings: list[Meeting], agreements: list[Agreement],
              mechanisms: list[Mechanism]) -> str:  # fmt: skip
    """One sentence from the record itself (no model tokens spent on prose)."""
    names = [p.name for p in parties]
    if not names:  # every party the model named was dropped as ungrounded (the draft path)
        who = "parties the text does not name"
    elif len(names) == 1:
        who = names[0]
    else:
        who = ", ".join(names[:-1]) + " and " + names[-1]
    bits: list[str] = []
    if meetings:
        bits.append(f"{len(meetings)} meeting{'s' if len(meetings) > 1 else ''}")
    for a in agreements:
        bits.append(f"{a.instrument.value} ({a.status.value})")
    for m in mechanisms:
        bits.append(f"{m.kind.value.replace('_', ' ')} ({m.status.value})")
    detail = f": {', '.join(bits)}" if bits else ""
    return f"Health cooperation between {who}{detail}."


# ---------------------------------------------------------------- status cues

_SIGNED = Caseless(
    r"\b(?:signed|inked|concluded|sealed|exchanged|initialed|initialled)\b"
    r"(?!\s+(?:soon|in the coming))"
    # a headline's present tense: "Iran, Iraq sign health MoU"
    r"|\b(?<!will )(?<!to )(?<!would )(?<!shall )(?:sign|signs|ink|inks)\s+(?!of\b)(?=\w)"
)
_PENDING = Caseless(
    r"\b(?:will|would|to|shall|are|is|be)\s+(?:be\s+)?(?:soon\s+)?sign(?:ed)?\b|\bbeing\s+(?:signed|"
    r"prepared|finali[sz]ed|drafted)|\b(?:draft\w*\s+\w+\s+)?finali[sz]\w*|\bexpected\s+to\s+(?:be\s+)?sign|"
    r"\bready\s+(?:to|for)\s+sign"
)
_APPROVAL = (
    r"(?:approv\w*|ratif\w*|endors\w*|clear(?:ed|s|ance)|(?:gave|gives|give)\s+(?:its\s+)?"
    r"nods?|green\s+light|go-ahead)"
)
_APPROVED = Caseless(
    rf"\b{_APPROVAL}\b[^.]{{0,80}}\b(?:cabinet|parliament|council of ministers|"
    r"senate|majlis|assembly)\b|\b(?:cabinet|parliament|council of ministers|senate|majlis)\b"
    rf"[^.]{{0,80}}\b{_APPROVAL}"
)
# an approval after the fact reports the signing (annotation rule 6: approved only while the
# signing is not yet reported): "ex-post-facto approval", "approved the MoU signed between"
_APPROVED_AFTER_SIGNING = Caseless(r"\bex[-\s]post[-\s]facto\b")
_PROPOSED = Caseless(
    r"\b(?:agreed\s+to\s+(?:develop|draft|prepare|work\s+on|conclude)|propos\w*|suggest\w*|"
    r"discuss\w*|plan(?:s|ned)?\s+to|intend\w*|consider\w*|explor\w*|lay the basis|"
    r"could|should|possibility)\b"
)


@lru_cache(maxsize=1024)  # an article asks about its few sentences again and again
def agreement_status_cue(sentence: str) -> AgreementStatus | None:
    """The status a sentence states unambiguously, or None."""
    pending = bool(_PENDING.search(sentence))
    signed = bool(_SIGNED.search(sentence))
    if _APPROVED.search(sentence):
        after = (signed and not pending) or _APPROVED_AFTER_SIGNING.search(sentence)
        return AgreementStatus.signed if after else AgreementStatus.approved
    found = {AgreementStatus.pending} if pending else set()
    if _PROPOSED.search(sentence):
        found.add(AgreementStatus.proposed)
    if signed and not found:
        return AgreementStatus.signed
    return found.pop() if len(found) == 1 else None


# Which status the strongest evidence supports, when one instrument is spoken of in several
# sentences: a signing outranks an approval, which outranks a preparation, then a proposal.
_STATUS_STRENGTH = {
    AgreementStatus.signed: 3,
    AgreementStatus.approved: 2,
    AgreementStatus.pending: 1,
    AgreementStatus.proposed: 0,
}


_ESTABLISHED = Caseless(
    r"\b(?:established|establishment|set\s+up|formed|created|launched|inaugurated|are\s+"
    r"establishing|is\s+establishing|has\s+been\s+\w+ing|operat\w+|existing)\b"
)
_MECH_PROPOSED = Caseless(
    r"\b(?:propos\w*|suggest\w*|agreed\s+to|agreement\s+to|will|would|plan\w*|call\w*\s+for|"
    r"should|could|need\s+for|stress\w*|emphasi[sz]\w*|urg\w*|discuss\w*|expand\w*|develop\w*|"
    r"promot\w*|highlight\w*|readiness|ready|include|includes|encourag\w*|possibility|mull\w*|"
    r"provid\w*\s+for|envisag\w*|foresee\w*|aims?\s+(?:at|to))\b"
)


# "agreed to set up" is a plan, though "set up" alone would read as done
_TO_BE_SET_UP = Caseless(
    r"\b(?:agreed|agreement|decided|plan\w*|propos\w*|suggest\w*|want\w*|intend\w*|need\w*|"
    r"call\w*|aim\w*|seek\w*|hope\w*)\s+(?:to|for)\s+(?:the\s+)?(?:set\w*\s+up|establish\w*|"
    r"form\w*|creat\w*|launch\w*)|\bto\s+be\s+(?:set\s+up|established|formed|created|launched)|"
    r"\bwill\s+(?:be\s+)?(?:set\s+up|establish\w*|form\w*|creat\w*|launch\w*)|"
    r"\bcreation\s+of\b[^.]{0,200}\bwill\b"
)


@lru_cache(maxsize=1024)
def mechanism_status_cue(sentence: str) -> MechanismStatus | None:
    if _TO_BE_SET_UP.search(sentence):
        return MechanismStatus.proposed
    established = bool(_ESTABLISHED.search(sentence))
    proposed = bool(_MECH_PROPOSED.search(sentence))
    if established != proposed:
        return MechanismStatus.established if established else MechanismStatus.proposed
    return None


# Annotation rule 1: only the health parts of an article count. A sentence that names
# another sector and nothing of health speaks of that sector's instruments and bodies.
_OTHER_SECTOR = Caseless(
    r"\b(?:oil|gas|petroleum|hydrocarbon\w*|energy|electricity|power\s+plants?|mining|trade|"
    r"customs|tariffs?|investment|banking|financ\w*|defen[cs]e|military|nav(?:y|ies|al)|security|"
    r"police|judicia\w*|judges?|legal\s+assistance|criminal|extradition|trafficking|culture|"
    r"cultural|tourism|sports?|hydrograph\w*|shipping|maritime|aviation|transport\w*|railways?|"
    r"agricultur\w*|fisheries|space|nuclear\s+power|civil\s+service|governance|elections?|"
    r"intelligence|migration|visas?|education\s+sector|economic)\b"
)


@lru_cache(maxsize=1024)
def other_sector_only(sentence: str) -> bool:
    """Whether a sentence is about another sector and not about health at all."""
    return bool(_OTHER_SECTOR.search(sentence)) and not mentions_health(sentence)


# ---------------------------------------------------------------- free drafts


def _party_aliases(kind: PartyKind, code: str | None) -> list[str]:
    if code is None:
        return []
    if kind is PartyKind.country:
        c = countries()[code]
        return [*c.aliases, *c.demonyms]
    org = organizations()[code]
    return [org.code, *org.aliases]


class _DraftParties:
    """The parties of a draft: every name the draft gives for a party (in its list, its
    meetings, agreements, mechanisms and officials) resolved to a code and grounded in the
    text. Only grounded codes are ever handed out, so no item can name a party the text
    does not (an injected "France" stays out of meetings and agreements too)."""

    def __init__(self, draft: Draft, g: _Grounder) -> None:
        names = [*draft.parties]
        for m in draft.meetings:
            names += m.parties
        for a in draft.agreements:
            names += a.parties
        for k in draft.mechanisms:
            names += k.parties
        names += [o.party for o in draft.officials if o.party]
        self.parties: list[Party] = []
        self._code_of: dict[str, str] = {}  # name as drafted → code of a kept party
        kept: dict[str, Party] = {}
        for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
            resolved = resolve_party(name)
            if resolved is None or resolved[1] is None:
                continue  # neither a country nor a known international organization
            kind, code = resolved
            if code not in kept:
                # a party is named as written (or by an alias): "Franc" is not France
                evidence = g.mentions(name, *_party_aliases(kind, code), fuzzy=False)
                extra = g.keep(f"party {name!r}", evidence)
                if extra is None:
                    continue
                kept[code] = Party(name=name, kind=kind, code=code, **extra)
                self.parties.append(kept[code])
            self._code_of[name] = code

    def codes(self, names: Iterable[str | None]) -> list[str]:
        """Codes of kept parties for names as drafted, in order, without repeats."""
        found = (self._code_of.get(n.strip()) for n in names if n)
        return list(dict.fromkeys(c for c in found if c))

    def code(self, name: str | None) -> str | None:
        found = self.codes([name])
        return found[0] if found else None


def _draft_officials(draft: Draft, parties: _DraftParties, g: _Grounder) -> list[Official]:
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
        officials.append(
            Official(name=name, title=g.as_written(o.title), party=parties.code(o.party), **extra)
        )
    return officials


def _draft_location(m: Any, g: _Grounder) -> Location | None:
    """A meeting's place, from what the text names: a city found in it, a country the text
    names, or the country of that city."""
    city = g.as_written(m.city, fuzzy=False)
    country = country_code(m.country)
    aliases = _party_aliases(PartyKind.country, country)
    if country and not g.mentions(m.country, *aliases, fuzzy=False):
        country = None  # a country the text never names
    country = country or city_country(city)
    return Location(city=city, country=country) if city or country else None


def _draft_meetings(draft: Draft, parties: _DraftParties, officials: list[Official],
                    g: _Grounder, published: Any) -> list[Meeting]:  # fmt: skip
    named = {o.name for o in officials}
    meetings: list[Meeting] = []
    for m in draft.meetings:
        extra = g.keep("meeting", g.quote(m.quote) or g.mentions(*m.officials))
        if extra is None:
            continue
        meetings.append(
            Meeting(
                parties=parties.codes(m.parties),
                officials=[n for n in map(clean_person_name, m.officials) if n in named],
                date=parse_date(m.date, published),
                location=_draft_location(m, g),
                forum=g.as_written(m.forum),
                **extra,
            )
        )
    return meetings


def _draft_agreements(draft: Draft, parties: _DraftParties, g: _Grounder,
                      published: Any) -> list[Agreement]:  # fmt: skip
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
                parties=parties.codes(a.parties),
                date=day.start if day else None,
                title=g.as_written(a.title),
                **extra,
            )
        )
    return agreements


def _draft_mechanisms(draft: Draft, parties: _DraftParties, g: _Grounder) -> list[Mechanism]:
    mechanisms: list[Mechanism] = []
    for k in draft.mechanisms:
        extra = g.keep(f"mechanism ({k.kind.value})", g.quote(k.quote))
        if extra is None:
            continue
        mechanisms.append(
            Mechanism(
                kind=k.kind,
                status=k.status,
                parties=parties.codes(k.parties),
                description=g.as_written(k.quote) or "",
                **extra,
            )
        )
    return mechanisms


def _settled_agreements(agreements: list[Agreement],
                        groups: dict[str, _Instrument]) -> list[Agreement]:  # fmt: skip
    """Rule 6 on drafted agreements: one per kind and party set unless the text counts them,
    with the status the text's strongest sentence states; none of another sector only."""
    out: list[Agreement] = []
    seen: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for ag in agreements:
        group = groups.get(ag.instrument.value)
        key = (ag.instrument.value, tuple(sorted(ag.parties)))
        if group is not None and not group.health:
            continue
        if seen[key] >= (group.count if group else 1):
            continue
        seen[key] += 1
        status = group.status if group and group.status else ag.status
        out.append(ag.model_copy(update={"status": status}))
    return out


def _with_ruled_mechanisms(mechanisms: list[Mechanism], c: Candidates, g: _Grounder,
                           parties: list[str]) -> list[Mechanism]:  # fmt: skip
    """Drafted mechanisms, one per kind and status, and those a cue's sentence states."""
    found: dict[tuple[str, MechanismStatus], Mechanism] = {}
    for m in mechanisms:
        found.setdefault((m.kind.value, m.status), m)
    _add_stated_mechanisms(found, c, g, parties)
    return list(found.values())


def _add_stated_mechanisms(found: dict[tuple[str, MechanismStatus], Mechanism], c: Candidates,
                           g: _Grounder, parties: list[str]) -> None:  # fmt: skip
    """Add to `found` the mechanisms a cue's sentence states on its own (`_ruled_mechanism`),
    one per kind and status, unless one of that kind and status is there already."""
    for cue in c.mechanisms:
        status = _ruled_mechanism(cue)
        if status is None or (cue.kind, status) in found:
            continue
        extra = g.keep(f"mechanism ({cue.kind})", [cue.sentence])
        if extra is not None:
            found[(cue.kind, status)] = Mechanism(
                kind=MechanismKind(cue.kind), status=status, parties=parties,
                description=cue.span.text, **extra,
            )  # fmt: skip


def assemble_draft(
    draft: Draft,
    src: Source,
    *,
    settings: Settings,
    provenance: Provenance,
) -> ArticleExtraction:
    """Ground and normalize a free draft (names as written, quotes) into a record. Every
    party, official, place, forum, title and description in it is found in the text, and
    the summary is written from the record, so nothing the model wrote reaches the record
    unless the text says it."""
    if not draft.relevant:
        return _irrelevant(src, provenance)
    g = _Grounder(src.text, settings)
    parties = _DraftParties(draft, g)
    officials = _draft_officials(draft, parties, g)
    meetings = _draft_meetings(draft, parties, officials, g, src.published)
    agreements = _draft_agreements(draft, parties, g, src.published)
    mechanisms = _draft_mechanisms(draft, parties, g)
    # the same rules as for a constrained answer, so a capable model gains from them too
    c = find_candidates(src.text, src.published)
    agreements = _settled_agreements(agreements, _instruments(c, src.text))
    mechanisms = _with_ruled_mechanisms(mechanisms, c, g, [p.code for p in parties.parties])
    return ArticleExtraction(
        article_id=src.article_id,
        relevant=True,
        parties=parties.parties,
        officials=officials,
        meetings=meetings,
        agreements=agreements,
        mechanisms=mechanisms,
        areas=list(dict.fromkeys(draft.areas)),
        summary=summarize(parties.parties, meetings, agreements, mechanisms),
        provenance=provenance,
        text=src.text if src.changed else None,
    )


# ---------------------------------------------------------------- candidate answers

_MEETING_WORDS = re.compile(
    r"\b(?:met|meet|meets|meeting|meetings|talks|visit\w*|call|held|hosted|received|discuss\w*|"
    r"conferred|ceremony|sign|signs|signed|signing|inked|session|summit|conference|"
    r"videoconference|telephone|phone)\b",
    re.IGNORECASE,
)
_DATELINE_BEFORE = re.compile(r"\s*[A-Z][A-Z .'-]{2,30},\s*")
# A cabinet decision is not a meeting between parties (annotation rule 5).
_CABINET = Caseless(r"\b(?:cabinet|council\s+of\s+ministers)\b")


def _meeting_day(date: Any, text: str) -> Any:
    """A meeting's day only from a sentence that speaks of meeting, visiting or signing: a
    date elsewhere (when a report was published, when something else happened) does not fix
    the meeting's day (annotation rule 16)."""
    if date is None or date.range is None:
        return None
    sentence = sentence_around(text, date.span).text
    if not _MEETING_WORDS.search(sentence) or _is_cabinet_decision(sentence):
        return None
    line_start = text.rfind("\n", 0, date.span.start) + 1
    if _DATELINE_BEFORE.fullmatch(text, line_start, date.span.start):
        return None  # "BEIJING, May 11 (Xinhua) --": when the story was filed
    return date.range


def _is_cabinet_decision(sentence: str) -> bool:
    return bool(_CABINET.search(sentence) and _APPROVED.search(sentence))


_SEPARATE_MEETINGS = re.compile(
    r"\b(?:separate(?:ly)?|bilateral|side|sideline)\s+(?:\w+\s+)?(?:meetings?|talks|discussions)\b|"
    r"\bmet\s+separately\b|\bseparate(?:ly)?\b[^.]{0,40}\bmet\b",
    re.IGNORECASE,
)


def _split_bilaterals(codes: list[str], c: Candidates, text: str) -> list[list[str]]:
    """Annotation rule 5: separate bilateral meetings at one event are separate meetings. When
    the text speaks of separate or bilateral meetings, a meeting the model gave with three or
    more parties becomes one per partner of the most-mentioned party."""
    if len(codes) < 3 or not _SEPARATE_MEETINGS.search(text):
        return [codes]
    main = main_party(c, text)
    hub = (
        main
        if main in codes
        else max(codes, key=lambda code: len(p.mentions) if (p := c.party(code)) else 0)
    )
    return [[hub, other] for other in codes if other != hub]


_MET = re.compile(
    r"\b(?:met|meets|meet|(?:held|holds|hold|had|has|have|engaged\s+in|conducted)\s+"
    r"(?:\w+\s+){0,3}?(?:meetings?|talks))\b",
    re.IGNORECASE,
)
_LIST_GAP = re.compile(r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s*)", re.IGNORECASE)
_LIST_REACH = 60  # characters from the verb to the first partner ("met with delegates from")


def _listed_meetings(c: Candidates, text: str, officials: list[Official]) -> Iterator[
        tuple[str, list[str], Span]]:  # fmt: skip
    """Annotation rule 5 for lists: "the minister met his counterparts from A, B and C" is a
    bilateral meeting with each. Yields (hub, partners, sentence) for each such sentence; the
    hub is the party of the official or country named before the verb, else the article's
    most-mentioned party."""
    countries_ = [(s, p.code) for p in c.parties if p.kind is PartyKind.country for s in p.mentions]
    countries_.sort(key=lambda x: x[0].start)
    by_sentence: dict[tuple[int, int], tuple[Span, list[tuple[Span, str]]]] = {}
    for span, code in countries_:
        sentence = sentence_around(text, span)
        by_sentence.setdefault((sentence.start, sentence.end), (sentence, []))[1].append(
            (span, code)
        )
    most = max(c.parties, key=lambda p: len(p.mentions)).code if c.parties else None
    for sentence, mentions in by_sentence.values():
        for verb in _MET.finditer(text, sentence.start, sentence.end):
            after = [(s, code) for s, code in mentions if s.start >= verb.end()]
            if len(after) < 2 or after[0][0].start - verb.end() > _LIST_REACH:
                continue
            chain = [after[0]]
            for prev, cur in zip(after, after[1:], strict=False):
                if not _LIST_GAP.fullmatch(text, prev[0].end, cur[0].start):
                    break
                chain.append(cur)
            partners = list(dict.fromkeys(code for _, code in chain))
            if len(partners) < 2:
                continue
            hub = next(
                (o.party for o in officials if o.party
                 for e in o.evidence if sentence.start <= e.start < verb.start()),
                next((code for s, code in mentions if s.start < verb.start()), most),
            )  # fmt: skip
            if hub is not None and hub not in partners:
                yield hub, partners, sentence
            break


def _take(cues: list[Cue], kind: str, used: set[int]) -> Cue | None:
    """The first cue of a kind not yet evidence for another item."""
    for i, cue in enumerate(cues):
        if cue.kind == kind and i not in used:
            used.add(i)
            return cue
    return None


def _cued(
    items: Iterable[Any],
    kind_field: str,
    cues: list[Cue],
    status_type: Callable[[str], Any],
    status_cue: Callable[[str], Any],
    g: _Grounder,
    what: str,
) -> Iterator[tuple[Any, str, Cue | None, Any, dict[str, Any]]]:
    """Each answered agreement or mechanism with the cue word that grounds it (one cue per
    item), and its status: the cue sentence's when it states one unambiguously, else the
    model's. Items with no cue left are dropped or flagged by the grounding policy."""
    used: set[int] = set()
    for item in items:
        kind = getattr(item, kind_field)
        cue = _take(cues, kind, used)
        extra = g.keep(f"{what} ({kind})", [cue.sentence] if cue else [])
        if extra is None:
            continue
        status = status_type(item.status)
        if cue is not None:
            status = status_cue(cue.sentence.text) or status
        yield item, kind, cue, status, extra


def _meeting_evidence(text: str, c: Candidates, codes: list[str], date_span: Span | None,
                      people_spans: list[Span]) -> list[Span]:  # fmt: skip
    if date_span is not None:
        return [sentence_around(text, date_span)]
    anchors = [s for code in codes if (p := c.party(code)) for s in p.mentions] + people_spans
    for span in sorted(anchors, key=lambda s: s.start):
        sentence = sentence_around(text, span)
        if _MEETING_WORDS.search(sentence.text):
            return [sentence]
    return []


@dataclass
class _Answered:
    """One candidate-constrained answer with what assembling it needs: the candidates, the
    text, the grounder, and the codes of the party labels the model chose among."""

    answer: Answer
    c: Candidates
    text: str
    g: _Grounder

    def __post_init__(self) -> None:
        self.code_of = {p.label: p.code for p in self.c.parties}

    def codes(self, values: Iterable[Any]) -> list[str]:
        """Codes of chosen party labels, in order, without repeats."""
        found = (self.code_of.get(v) for v in values)
        return list(dict.fromkeys(code for code in found if code))


def _officials(a: _Answered) -> list[Official]:
    """People acting for a party: whose title names it, or whom the model gave a party."""
    officials: list[Official] = []
    people = a.answer.people
    asked = set(unhinted_people(a.c))
    for i, person in enumerate(a.c.people):
        if i not in asked:
            party = person.hint  # the title names it: "Russia's deputy minister"
        else:
            choice = people.get(person.key, NONE)
            if choice == NONE or choice not in a.code_of:
                continue
            party = a.code_of[choice]
        extra = a.g.keep(f"official {person.name!r}", person.mentions[:MAX_SPANS_PER_ITEM])
        if extra is not None:
            name = clean_person_name(person.name)
            officials.append(Official(name=name, title=person.title, party=party, **extra))
    return officials


def _together(a: _Answered, codes: list[str], officials: list[Official],
              without: str | None = None) -> bool:  # fmt: skip
    """Whether some sentence names all these parties (by name or through their officials),
    and not the party `without`."""
    wanted = [*codes, without]
    spans = [(p.code, m) for p in a.c.parties if p.code in wanted for m in p.mentions]
    spans += [(o.party, e) for o in officials if o.party in wanted for e in o.evidence]
    sentences: dict[tuple[int, int], set[str]] = {}
    for code, span in spans:
        sentence = sentence_around(a.text, span)
        sentences.setdefault((sentence.start, sentence.end), set()).add(code)
    return any(set(codes) <= named and without not in named for named in sentences.values())


def _repaired(a: _Answered, codes: list[str], officials: list[Official]) -> list[list[str]]:
    """Annotation rule 5: a meeting is between those the text says met. Two parties that the
    text names together only beside the article's main party ("Qatari and Iraqi officials
    want cooperation with Iran", given by a small model as Qatar meeting Iraq) each met that
    party, not each other."""
    hub = _hub(a)
    if len(codes) != 2 or hub is None or hub in codes or _together(a, codes, officials, hub):
        return [codes]
    return [[hub, code] for code in codes]


def _answered_meetings(a: _Answered, officials: list[Official]) -> list[Meeting]:
    """The meetings the model gave: repeats merged, separate bilaterals split, parties the
    text never puts together re-paired with the article's main party."""
    date_of = {d.label: d for d in a.c.dates}
    place_of = {p.label: p for p in a.c.places}
    # a small model under a grammar may repeat one meeting until the list is full: the same
    # parties, day and place twice are one meeting
    unique = {
        (tuple(a.codes(m.with_)), m.date, m.place): m
        for m in a.answer.meetings
    }  # fmt: skip
    asked: list[tuple[list[str], Any]] = []
    for (members, _, _), m in unique.items():
        for group in _split_bilaterals(list(members), a.c, a.text):
            asked += [(g, m) for g in _repaired(a, group, officials)]
    # re-paired meetings can coincide: one per party set and day
    distinct = {(tuple(g), m.date): (g, m) for g, m in asked if g}
    meetings: list[Meeting] = []
    for member_codes, m in distinct.values():
        date = date_of.get(m.date)
        place = place_of.get(m.place)
        present = [o for o in officials if o.party in member_codes]
        evidence = _meeting_evidence(
            a.text, a.c, member_codes, date.span if date else None,
            [s for o in present for s in o.evidence[:1]],
        )  # fmt: skip
        if evidence and _is_cabinet_decision(evidence[0].text):
            continue  # the cabinet's approval, not a meeting of the parties
        extra = a.g.keep("meeting", evidence)
        if extra is None:
            continue
        meetings.append(
            Meeting(
                parties=member_codes,
                officials=[o.name for o in present],
                date=_meeting_day(date, a.text),
                location=Location(city=place.city, country=place.country) if place else None,
                **extra,
            )
        )
    return meetings


def _with_listed_meetings(a: _Answered, meetings: list[Meeting],
                          officials: list[Official]) -> list[Meeting]:  # fmt: skip
    """Annotation rule 5 for lists: the model often gives a few meetings of a long
    enumeration, or none, or pairs the listed partners with each other instead of with the
    one who met them all."""
    for hub, partners, sentence in _listed_meetings(a.c, a.text, officials):
        meetings = [m for m in meetings if hub in m.parties or not set(m.parties) <= set(partners)]
        for other in partners:
            if any({hub, other} <= set(m.parties) for m in meetings):
                continue
            extra = a.g.keep("meeting", [sentence])
            if extra is not None:
                meetings.append(Meeting(parties=[hub, other], **extra))
    return meetings


_COUNT = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "both": 2}  # fmt: skip
_COUNTED = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|both|\d{1,2})\s+(?:\w+\s+){0,2}$",
    re.IGNORECASE,
)
_DEFINITE = re.compile(r"\b(?:the|this|that|said|its)\s+(?:\w+\s+){0,3}$", re.IGNORECASE)
_GENERIC = Instrument.agreement.value
_ADOPTED = re.compile(r"\b(?:adopted|issued|released|endorsed|approved)\b", re.IGNORECASE)


@dataclass
class _Instrument:
    """What the text says of one kind of instrument: its cue sentences, the strongest status
    they state, how many the text counts, and whether any of it is about health."""

    kind: str
    cues: list[Cue]
    status: AgreementStatus | None = None
    count: int = 1
    health: bool = False


def _instruments(c: Candidates, text: str) -> dict[str, _Instrument]:
    """Instrument cues grouped by kind. A generic word ("the agreement") in a sentence that
    names a specific instrument, or a definite one after a specific instrument was named, is
    that instrument spoken of again, not another one (annotation rule 6: one instrument per
    party set and kind unless the text counts them)."""
    specific = [cue for cue in c.instruments if cue.kind != _GENERIC]
    only = {x.kind for x in specific}
    groups: dict[str, _Instrument] = {}
    for cue in c.instruments:
        kind = cue.kind
        if kind == _GENERIC:
            same = [x for x in specific if x.sentence.start == cue.sentence.start]
            before = [x for x in specific if x.span.start < cue.span.start]
            if same:
                kind = same[0].kind
            elif before and _DEFINITE.search(text, max(0, cue.span.start - 40), cue.span.start):
                kind = before[-1].kind
            elif len(only) == 1:
                # an article that names one kind of instrument ("the second memorandum")
                # calls it an agreement too ("signed two agreements")
                kind = next(iter(only))
        group = groups.setdefault(kind, _Instrument(kind, []))
        group.cues.append(cue)
        sentence = cue.sentence.text
        status = agreement_status_cue(sentence)
        if kind == Instrument.other.value and status is None and _ADOPTED.search(sentence):
            status = AgreementStatus.signed  # rule 14: a joint statement adopted or issued
        if status is not None and (
            group.status is None or _STATUS_STRENGTH[status] > _STATUS_STRENGTH[group.status]
        ):
            group.status = status
        if not other_sector_only(sentence):
            group.health = True
            counted = _COUNTED.search(text, max(0, cue.span.start - 30), cue.span.start)
            if counted:
                word = counted.group(1).lower()
                group.count = max(group.count, _COUNT.get(word) or int(word))
    # a count of instruments of several sectors ("six pacts", one on health) is not a count
    # of health instruments
    for group in groups.values():
        if any(other_sector_only(cue.sentence.text) for cue in group.cues):
            group.count = 1
    return groups


def _named_in(a: _Answered, sentence: Span, officials: list[Official]) -> list[str]:
    """The parties a sentence names, by name or through an official of theirs, in order."""
    found: list[tuple[int, str]] = []
    for p in a.c.parties:
        found += [(m.start, p.code) for m in p.mentions if sentence.start <= m.start < sentence.end]
    for o in officials:
        found += [(e.start, o.party) for e in o.evidence
                  if o.party and sentence.start <= e.start < sentence.end]  # fmt: skip
    return list(dict.fromkeys(code for _, code in sorted(found)))


def main_party(c: Candidates, text: str) -> str | None:
    """The party an article is about: its dateline's country when that takes part (news
    agencies report their own side's meetings), else the party it names most."""
    home = dateline_country(text)
    if home is not None and c.party(home) is not None:
        return home
    return max(c.parties, key=lambda p: len(p.mentions)).code if c.parties else None


def _hub(a: _Answered) -> str | None:
    return main_party(a.c, a.text)


def _instrument_parties(a: _Answered, group: _Instrument, officials: list[Official],
                        involved: list[str]) -> tuple[str, ...] | None:  # fmt: skip
    """Who an instrument is between, as its sentences say: the two taking-part parties they
    name (or the article's main party and the one they name: "MoUs are being signed with
    Qatar", said by an Iranian official). None when they name none, or a list."""
    hub = _hub(a)
    for cue in group.cues:
        named = [x for x in _named_in(a, cue.sentence, officials) if x in involved]
        if len(named) > 2:
            return None  # a list, or more parties than one instrument's two sides
        if len(named) == 2:
            return tuple(named)
        if len(named) == 1 and hub is not None and hub != named[0] and hub in involved:
            return (hub, named[0])
    return None


_WITH = re.compile(r"\s+(?:\w+\s+){0,4}?with\s+(?:the\s+)?", re.IGNORECASE)


def _listed_partners(a: _Answered, group: _Instrument) -> tuple[str, list[str]] | None:
    """(main party, partners) when an instrument's sentence says it was made with a list of
    countries ("signed agreements with Timor Leste, Denmark and Cuba")."""
    mentions = sorted(
        ((m, p.code) for p in a.c.parties if p.kind is PartyKind.country for m in p.mentions),
        key=lambda x: x[0].start,
    )
    hub = _hub(a)
    for cue in group.cues:
        w = _WITH.match(a.text, cue.span.end)
        if w is None:
            continue
        after = [(m, code) for m, code in mentions if m.start >= w.end()]
        if not after or after[0][0].start != w.end():
            continue
        chain = [after[0]]
        for prev, cur in zip(after, after[1:], strict=False):
            if not _LIST_GAP.fullmatch(a.text, prev[0].end, cur[0].start):
                break
            chain.append(cur)
        partners = list(dict.fromkeys(code for _, code in chain if code != hub))
        if len(partners) >= 2 and hub is not None:
            return hub, partners
    return None


def _agreements(a: _Answered, chosen: list[str], groups: dict[str, _Instrument],
                officials: list[Official]) -> list[Agreement]:  # fmt: skip
    """Annotation rule 6. One instrument per kind and party set, unless the text counts
    them; each with the status its strongest evidence states (else the model's). Instruments
    of another sector only are left out (rule 1). A specific instrument (an MoU, a treaty, a
    protocol, a plan of action, a declaration) whose sentences state a status is reported
    even when the model leaves it out; a generic "agreement" only when the model gives it
    (reaching "an agreement to cooperate" is no instrument)."""
    answered: dict[str, list[Any]] = {}
    for item in a.answer.agreements:
        answered.setdefault(item.type, []).append(item)
    out: list[Agreement] = []
    for kind, group in groups.items():
        items = answered.get(kind, [])
        if not group.health:
            continue
        if not items and (group.status is None or kind == _GENERIC):
            continue
        involved = list(dict.fromkeys([*chosen, *(o.party for o in officials if o.party)]))
        stated = _instrument_parties(a, group, officials, involved)
        party_sets: dict[tuple[str, ...], AgreementStatus] = {}
        for item in items:
            given = tuple(a.codes(item.with_))
            # the model's parties, unless its sentences name others: a small model pairs
            # the wrong two
            members = (
                given
                if len(given) >= 2 and (stated is None or set(given) == set(stated))
                else (stated or given or tuple(chosen))
            )
            party_sets.setdefault(members, AgreementStatus(item.status))
        if not party_sets:
            party_sets[stated or tuple(chosen)] = group.status or AgreementStatus.proposed
        listed = _listed_partners(a, group)
        if listed is not None:
            # "signed agreements with A, B and C": one instrument with each (rule 6)
            hub, partners = listed
            status = next(iter(party_sets.values()))
            party_sets = {(hub, other): status for other in partners}
        extra = a.g.keep(f"agreement ({kind})", [group.cues[0].sentence])
        if extra is None:
            continue
        main = next(iter(party_sets))
        for members, status in party_sets.items():
            copies = group.count if members == main else 1
            for _ in range(copies):
                out.append(
                    Agreement(
                        instrument=Instrument(kind),
                        status=group.status or status,
                        parties=list(members),
                        **extra,
                    )
                )
    return out


# Mechanism cues that a rule may report on its own, without the model: the cue names the
# arrangement unambiguously (a network of universities, not any "network"; regular
# conferences, not a conference; `other` only where something is set up, launched or created).
_RULE_MECHANISM = {
    MechanismKind.network.value: re.compile(
        r"(?:universit\w+|hospitals?|research|laborator\w+|surveillance|health|medical|academic|"
        r"clinical)\s+networks?",
        re.IGNORECASE,
    ),
    MechanismKind.conference_series.value: re.compile(r"regular|annual|periodic", re.IGNORECASE),
}
_CREATED = re.compile(
    r"\b(?:establish\w*|set\w*\s+up|creat\w*|launch\w*|form\w*|open\w*|build\w*|inaugurat\w*)\b",
    re.IGNORECASE,
)


def _ruled_mechanism(cue: Cue) -> MechanismStatus | None:
    """The status of a mechanism the cue's sentence states on its own (annotation rules 7, 9
    and 10: agreed, planned, proposed or set up), or None when a rule cannot tell."""
    sentence = cue.sentence.text
    if other_sector_only(sentence):
        return None
    pattern = _RULE_MECHANISM.get(cue.kind)
    around = sentence[
        max(0, cue.span.start - cue.sentence.start - 30) : cue.span.end - cue.sentence.start
    ]
    if pattern is not None and not pattern.search(around):
        return None
    if cue.kind == MechanismKind.other.value and not _CREATED.search(sentence):
        return None
    return mechanism_status_cue(sentence)


def _mechanisms(a: _Answered, chosen: list[str]) -> list[Mechanism]:
    """The mechanisms the model gave, each on a cue word of its kind, and those a cue's
    sentence states on its own; one per kind and status."""
    found: dict[tuple[str, MechanismStatus], Mechanism] = {}
    for _, kind, cue, status, extra in _cued(
        a.answer.mechanisms, "kind", a.c.mechanisms, MechanismStatus,
        mechanism_status_cue, a.g, "mechanism",
    ):  # fmt: skip
        if cue is not None and other_sector_only(cue.sentence.text):
            continue
        found.setdefault(
            (kind, status),
            Mechanism(kind=kind, status=status, parties=chosen,
                      description=cue.span.text if cue else "", **extra),
        )  # fmt: skip
    _add_stated_mechanisms(found, a.c, a.g, chosen)
    return list(found.values())


def _signing_meetings(a: _Answered, groups: dict[str, _Instrument], meetings: list[Meeting],
                      officials: list[Official]) -> list[Meeting]:  # fmt: skip
    """Annotation rule 11: a signing at which both sides' representatives sign is a meeting,
    even when the article reports nothing else of it: a sentence that says an instrument was
    signed and names officials of two parties. Its day and place are those of that sentence;
    it is already reported when a meeting of the same parties rests on that sentence or falls
    on that day."""
    date_in = {(d.span.start): d for d in a.c.dates}
    added: list[Meeting] = []
    for group in groups.values():
        if not group.health:
            continue
        for cue in group.cues:
            if agreement_status_cue(cue.sentence.text) is not AgreementStatus.signed:
                continue
            sentence = cue.sentence
            signers = [o for o in officials if o.party and any(
                sentence.start <= e.start < sentence.end for e in o.evidence)]  # fmt: skip
            parties = list(dict.fromkeys(o.party for o in signers if o.party))
            if len(parties) < 2:
                continue  # no named representative for one side: an exchange, not a ceremony
            dates = [d for start, d in date_in.items() if sentence.start <= start < sentence.end]
            day = _meeting_day(dates[0], a.text) if dates else None
            place = next((p for p in a.c.places if p.city and
                          sentence.start <= p.span.start < sentence.end), None)  # fmt: skip
            same = [m for m in [*meetings, *added] if set(m.parties) == set(parties)]
            if any(
                any(sentence.start <= e.start < sentence.end for e in m.evidence)
                or (day is not None and m.date is not None and m.date.start == day.start)
                or (day is None and m.date is None)
                for m in same
            ):
                continue
            extra = a.g.keep("meeting", [sentence])
            if extra is None:
                continue
            added.append(
                Meeting(
                    parties=parties,
                    officials=[o.name for o in signers],
                    date=day,
                    location=Location(city=place.city, country=place.country) if place else None,
                    **extra,
                )
            )
    return added


def _involved(a: _Answered, chosen: list[str], meetings: list[Meeting],
              agreements: list[Agreement], officials: list[Official]) -> list[str]:  # fmt: skip
    """Annotation rule 2: the parties that take part are those chosen, and anyone who met or
    signed or whom the model named as someone's party, or whose official speaks of health. A
    title alone ("director general of the IOM") does not make its organization take part:
    its official may be met on another matter (rule 1)."""
    asked = {clean_person_name(a.c.people[i].name) for i in unhinted_people(a.c)}

    def on_health(o: Official) -> bool:
        return any(mentions_health(sentence_around(a.text, s).text) for s in o.evidence)

    return list(dict.fromkeys(
        [*chosen, *(x for m in meetings for x in m.parties),
         *(x for ag in agreements for x in ag.parties),
         *(o.party for o in officials if o.party and (o.name in asked or on_health(o)))]
    ))  # fmt: skip


_GIVING = re.compile(
    r"\b(?:donat\w*|gift\w*|grant(?:ed|s)?|hand(?:ed|s)?\s+over|deliver\w*|provid\w*|supplied|"
    r"supplies|sent|dispatch\w*|contribut\w*|fund\w*|financ\w*|aid|assistance|assist\w*|"
    r"support\w*|cooperat\w*|co-operat\w*|collaborat\w*|partner\w*)\b",
    re.IGNORECASE,
)


def _gives(a: _Answered, involved: list[str], officials: list[Official]) -> bool:
    """Whether a sentence says that two taking-part parties meet, give, support or work
    together ("Japan donated ventilators to Kenya"), when the answer reports no meeting,
    instrument or mechanism."""
    sentences: dict[tuple[int, int], Span] = {}
    for p in a.c.parties:
        if p.code in involved:
            for m in p.mentions:
                sentence = sentence_around(a.text, m)
                sentences[(sentence.start, sentence.end)] = sentence
    return any(
        (_GIVING.search(sentence.text) or _MEETING_WORDS.search(sentence.text))
        and len([x for x in _named_in(a, sentence, officials) if x in involved]) >= 2
        for sentence in sentences.values()
    )


def _parties(a: _Answered, involved: list[str]) -> list[Party]:
    parties = []
    for code in involved:
        cand = a.c.party(code)
        extra = a.g.keep(f"party {code}", cand.mentions[:MAX_SPANS_PER_ITEM] if cand else [])
        if cand is not None and extra is not None:
            parties.append(Party(name=cand.label, kind=cand.kind, code=code, **extra))
    return parties


def assemble_answer(
    answer: Any,
    c: Candidates,
    src: Source,
    *,
    settings: Settings,
    provenance: Provenance,
) -> ArticleExtraction:
    """A record from a candidate-constrained answer (see `answer.answer_model`)."""
    if answer is None or not answer.relevant:
        return _irrelevant(src, provenance)
    a = _Answered(answer, c, src.text, _Grounder(src.text, settings))
    officials = _officials(a)
    meetings = _with_listed_meetings(a, _answered_meetings(a, officials), officials)
    chosen = a.codes(a.answer.parties)
    groups = _instruments(c, src.text)
    agreements = _agreements(a, chosen, groups, officials)
    mechanisms = _mechanisms(a, chosen)
    meetings += _signing_meetings(a, groups, meetings, officials)
    involved = _involved(a, chosen, meetings, agreements, officials)
    officials = [o for o in officials if o.party in involved]  # rule 4: acting in it
    parties = _parties(a, involved)
    if len(parties) < 2 or not (
        meetings or agreements or mechanisms or _gives(a, involved, officials)
    ):
        # rules 1, 2: cooperation is parties meeting, signing, agreeing or giving; parties
        # only named beside a domestic campaign, a speech or a statistic are none
        return _irrelevant(src, provenance)
    areas = sorted(c.areas, key=lambda area: c.areas[area][0].span.start)
    return ArticleExtraction(
        article_id=src.article_id,
        relevant=True,
        parties=parties,
        officials=officials,
        meetings=meetings,
        agreements=agreements,
        mechanisms=mechanisms,
        areas=areas,
        summary=summarize(parties, meetings, agreements, mechanisms),
        provenance=provenance,
        text=src.text if src.changed else None,
    )
