"""The candidate layer: what the text itself says before any model reads it.

Countries, organizations, people with their titles, dates, places, instrument and mechanism
words, and health-area cues, each with its spans. The model is then asked to choose among
these (per-article enums), so it cannot invent a party or a person, and everything it picks
is grounded by construction.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from healthcoop.schemas import (
    Area,
    DateRange,
    Instrument,
    MechanismKind,
    PartyKind,
    Span,
)
from healthcoop.schemas.gazetteer import countries, organizations

from ..core.grounding import fold, sentence_around
from ..core.normalise import (
    city_index,
    country_index,
    gazetteer_words,
    organization_index,
    parse_date,
)
from ..core.scan import Caseless, Scanner, lower_pattern, lowered, word_spans


@dataclass
class PartyCandidate:
    code: str
    kind: PartyKind
    label: str  # how the model sees it: the most frequent name as written
    mentions: list[Span] = field(default_factory=list)


@dataclass
class PersonCandidate:
    name: str
    key: str  # how the model sees it: surname, or the full name when surnames collide
    title: str | None
    hint: str | None  # party code named in the title ("Russia's deputy minister" → RUS)
    mentions: list[Span] = field(default_factory=list)


@dataclass
class DateCandidate:
    label: str
    span: Span
    range: DateRange | None


@dataclass
class PlaceCandidate:
    label: str
    country: str
    city: str | None
    span: Span


@dataclass
class Cue:
    """A word that names an instrument, a mechanism or a health area, in its sentence."""

    kind: str
    span: Span
    sentence: Span


_HEALTH = Caseless(
    r"\b(?:health\w*|medic\w*|hospital\w*|diseas\w*|vaccin\w*|pharma\w*|doctors?|physicians?|"
    r"nurs(?:e|es|ing)|patients?|clinic\w*|epidemi\w*|pandemic\w*|virus\w*|viral|drugs?|surg\w*|"
    r"cancer|diabet\w*|malaria|tuberculosis|HIV|AIDS|covid\w*|immuni[sz]\w*|sanitar\w*|"
    r"nutrition|maternal|dental|psychiatr\w*|biotech\w*|laborator\w*)\b"
)
_WHO = re.compile(r"\bWHO\b")  # the organization, not the pronoun


def mentions_health(text: str) -> bool:
    """Whether the text speaks of health or medicine at all (a gate, not a classifier)."""
    return _HEALTH.search(text) is not None or _WHO.search(text) is not None


@dataclass
class Candidates:
    health: bool  # the text speaks of health or medicine at all
    parties: list[PartyCandidate]
    people: list[PersonCandidate]
    dates: list[DateCandidate]
    places: list[PlaceCandidate]
    instruments: list[Cue]
    mechanisms: list[Cue]
    areas: dict[Area, list[Cue]]

    def party(self, label_or_code: str) -> PartyCandidate | None:
        for p in self.parties:
            if label_or_code in (p.label, p.code):
                return p
        return None


# ---------------------------------------------------------------- parties


def _span(start: int, end: int, text: str) -> Span:
    """The span of `text`, found at [start, end). (Span.model_construct would skip the check
    but costs more: 3.5 µs against 2.1 µs here.)"""
    return Span(start=start, end=end, text=text)


@lru_cache(maxsize=64)  # one pass for a text's parties and places (and for its two visits)
def _gazetteer_spans(text: str) -> tuple[dict, dict]:
    """Where each gazetteer's names stand in the text, (start, end) by gazetteer: the folded
    names (found in the folded text, mapped back) and the acronyms (as written)."""
    folded_words, cased_words = gazetteer_words()
    f = fold(text)
    folded = {
        name: [f.source_span(start, end) for start, end in found]
        for name, found in folded_words.spans(f.text).items()
    }
    return folded, cased_words.spans(text)


def _matches(gazetteer: str, text: str, folded: bool) -> Iterator[Span]:
    """A gazetteer's names in the text: in its folded form (`folded`) or as written."""
    for start, end in _gazetteer_spans(text)[0 if folded else 1][gazetteer]:
        yield _span(start, end, text[start:end])


_PEOPLES = re.compile(r"People(?:['\u2019]s)?\s+$", re.IGNORECASE)


class _Taken:
    """Disjoint spans, kept in order: whether a new span overlaps one of them takes a binary
    search, not a comparison with each (an article that names a country 10,000 times took
    8.6 s in find_parties; 0.2 s now)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []  # ascending too, since the spans are disjoint

    def overlaps(self, start: int, end: int) -> bool:
        before = bisect.bisect_left(self.starts, end)  # the spans that start before `end`
        return before > 0 and self.ends[before - 1] > start

    def add(self, start: int, end: int) -> None:
        at = bisect.bisect_left(self.starts, start)
        self.starts.insert(at, start)
        self.ends.insert(at, end)


def find_parties(text: str) -> list[PartyCandidate]:
    """Countries and international organizations named in the text, in order of first mention."""
    found: dict[str, PartyCandidate] = {}
    taken = _Taken()
    # organizations first: "Shanghai Cooperation Organisation" must not count as China
    for kind, index, name in ((PartyKind.organization, organization_index(), "organization"),
                              (PartyKind.country, country_index(), "country")):  # fmt: skip
        spans = [*_matches(name, text, True), *_matches(name, text, False)]
        for span in sorted(spans, key=lambda s: (s.start, -s.end)):
            if taken.overlaps(span.start, span.end):
                continue
            name = re.sub(r"['\u2019]s?$", "", span.text)
            code = index.lookup(name) or index.lookup(span.text)
            if code is None:
                continue
            if code == "TWN" and _PEOPLES.search(text, max(0, span.start - 12), span.start):
                code = "CHN"  # "People Republic of China" (the 's dropped) is still China
            taken.add(span.start, span.end)
            cand = found.setdefault(code, PartyCandidate(code, kind, label=""))
            cand.mentions.append(span)
    for cand in found.values():
        cand.mentions.sort(key=lambda s: s.start)
        cand.label = _label(cand)
    _dedupe_labels(found.values())
    return sorted(found.values(), key=lambda c: c.mentions[0].start)


def _label(cand: PartyCandidate) -> str:
    """The name the model will see: a country's short name, an organization's acronym."""
    if cand.kind is PartyKind.organization:
        return cand.code if "_" not in cand.code else organizations()[cand.code].name
    country = countries()[cand.code]
    demonyms = {fold(d).text for d in country.demonyms}
    written = [re.sub(r"['\u2019]s?$", "", s.text) for s in cand.mentions]
    names = [w for w in written if fold(w).text not in demonyms and not w.isupper()]
    if names:
        counts = Counter(names)
        return min(names, key=lambda n: (-counts[n], len(n)))
    return country.short_name


def _dedupe_labels(cands) -> None:  # noqa: ANN001
    seen: dict[str, int] = {}
    for c in cands:
        if c.label in seen:
            c.label = f"{c.label} ({c.code})"
        seen[c.label] = 1


# ---------------------------------------------------------------- people

_PARTICLES = r"(?:al|Al|el|El|bin|bint|ibn|Ibn|Abu|Abd|de|da|do|dos|das|del|della|di|van|von|der|le|la|du|ul|ud)"
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de"  # Latin capitals, accented ones too ("Ángel")
_LOWER = "a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f"
_NAME_TOKEN = rf"(?:[{_UPPER}][{_LOWER}]+(?:[-'\u2019][{_UPPER}{_LOWER}][{_LOWER}]+)*|[A-Z]\.)"
# A name: capitalized tokens separated by spaces, with particles between them ("Salih Al Marri",
# "Salman bin Abdulaziz al-Saud"); never across a line break.
_INITIAL = r"[A-Z](?=[ \t]+[A-Z])"  # a bare middle initial: "Topply M Lubaya"
_NAME_RUN = re.compile(
    rf"{_NAME_TOKEN}(?:[ \t]+(?:{_PARTICLES}(?:[ \t]+|-))?(?:{_NAME_TOKEN}|{_INITIAL}))+"
)

# Capitalized words that are not parts of personal names in this genre.
_NOT_NAME = frozenset(
    """
    Minister Ministers Ministry Ministries Deputy Vice President Presidents Prime Premier
    Ambassador Ambassadors Embassy Consul Consulate Secretary General Director Directors
    Head Chief Chairman Chairwoman Chair Chancellor Governor Mayor King Queen Prince
    Princess Sheikh Sultan Emir Crown Excellency His Her Dr Mr Mrs Ms Prof Professor Eng
    Engineer Hon Health Healthcare Medical Medicine Medicines Public Affairs Foreign
    International National Federal State States Republic Islamic People People's Democratic
    Kingdom United Union Federation Council Committee Commission Assembly Organization
    Organisation Agency Office Department Centre Center Institute University Hospital
    Hospitals Clinic College School Academy Foundation Fund Bank Group Alliance Network
    Association Society Programme Program Project Initiative Partnership Strategic
    Comprehensive Cooperation Co-operation Treaty Agreement Memorandum Understanding Plan
    Action Protocol Framework Conference Summit Forum Session Meeting Meetings Regional
    Region Eastern Western Northern Southern East West North South Central Middle
    Mediterranean Gulf Asia Asian Africa African Europe European America American Pacific
    Atlantic Arab Latin Global World Day Week January February March April May June July
    August September October November December Monday Tuesday Wednesday Thursday Friday
    Saturday Sunday The This That These Those During After Before Following According
    However Meanwhile Also And But For With Under In On At By From To Of As It He She They
    We Our Their Its A An New Old Great Hall Road Belt Silk Maritime Economic Social
    Cultural Humanitarian Development Research Science Technology Education Training
    Diseases Disease Control Prevention Emergency Emergencies Care Primary System Systems
    Services Service Sector Relations Trade Investment Coronavirus Covid COVID Pandemic
    Vaccine Vaccines Cancer Diabetes Tuberculosis Malaria Press News Times Daily Post
    Tribune Gazette Herald Reuters Photo Courtesy Source Official Officials Delegation
    Representative Representatives Envoy Counselor Counsellor Attaché Undersecretary
    Under-Secretary Assistant Adviser Advisor Spokesman Spokesperson Executive Board
    Director-General Secretary-General Vice-President Vice-Minister Parliament Parliamentary
    Cabinet Government Governments Administration Authority Authorities Commissioner
    Commissioners General's Red Crescent Cross Order Capital Airport Palace House Building
    Hotel Square Street Experience Sharing Leave Reply Your Share Read More Related Tags
    Comments Subscribe Family Planning Joint Permanent Population Welfare Sciences Security
    Defence Defense Energy Finance Industry Industrial Agriculture Water Environment Culture
    Sports Youth Women Children Labour Labor Safety Quality Standards Strategy Policy
    Mission Charter Bureau Directorate Secretariat Corporation Company Holding Holdings
    Enterprise Laboratory Laboratories Faculty Province Provincial City District County
    Municipal Vision Agenda Goals Sustainable Universal Coverage Access Innovation
    Excellence Legal Disclaimer Copyright Rights Reserved Terms Privacy Contact
    Advertisement Dynamic Holds Meets Signs Discusses Receives Visits Hosts Calls Key
    Bilateral Talks Update Please Change Size Counterparts Counterpart Strengthen
    Strengthens Boost Boosts Expand Expands Enhance Enhances Discuss Explore Explores Sign
    Agree Agrees Launch Launches Governorate Prefecture Royal Court Real Estate Natural Gas
    Resources Consumer Wellbeing Contingent Five Three
    """.split()
)

_TITLE_WORDS = re.compile(
    r"\b(minister|ministers|ambassador|president|premier|secretary|director|head|chief|"
    r"chair(?:man|woman|person)?|governor|mayor|deputy|envoy|counsel+or|consul|attach[eé]|"
    r"adviser|advisor|spokes(?:man|woman|person)|representative|commissioner|king|prince|"
    r"emir|sheikh|sultan|undersecretary|officer|official|coordinator|dean|rector|manager|"
    r"general|founder|ceo|chancellor|speaker|counterparts?)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"[.;:!?\"\u201c\u201d()\n\u2013\u2014]|\s-\s|,\s|\b(?:and|with|met|meets|said|told|by)\b"
)
_VERB = re.compile(
    r"\b(?:met|meets|said|says|held|signed|discussed|visited|received|called|stressed|added|"
    r"noted|expressed|welcomed|announced|praised|highlighted|recently|also|has|have|had|was|were|is|"
    r"are|will|would)\b",
    re.IGNORECASE,
)


def _names_party(word: str) -> bool:
    """Whether a word (or a part of a hyphenated one: "Zimbabwe-Belarus") names a party."""
    return any(
        country_index().lookup(part) or organization_index().lookup(part)
        for part in (word, *word.split("-"))
        if part
    )


def _is_place_or_party(name: str) -> bool:
    return bool(
        country_index().lookup(name)
        or organization_index().lookup(name)
        or city_index().lookup(name)
    )


_HONORIFIC = r"(?:Dr|Prof|Mr|Mrs|Ms|Eng|H\.E|HE)\.?"
_HONORIFICS = re.compile(rf"(?:\s+{_HONORIFIC})+$")  # trailing: "Minister of Health HE Dr"
_LEADING_ARTICLE = re.compile(r"^(?:and\s+|or\s+)?(?:the|a|an|his|her|their)\s+", re.IGNORECASE)


def _person_names_end(s: str) -> int:
    """Where the last personal name inside a string ends (0 if none): a title that runs over
    another person's name belongs to that person ("Minister of Guatemala, Joaquín Barñoya,
    and the Cuban ambassador" is the ambassador's title only from "and the Cuban...")."""
    end = 0
    for m in _NAME_RUN.finditer(s):
        for name, start in _split_run(m.group(0), m.start()):
            words = name.split()
            while words and _is_place_or_party(words[0]):
                start += len(words.pop(0)) + 1
            if len(words) >= 2 and not any(_names_party(w) for w in words):
                end = max(end, start + len(" ".join(words)))
    return end


def _after_names(title: str) -> str | None:
    """The part of a title after any personal name in it, if that still is a title."""
    cut = _person_names_end(title)
    if cut:
        title = re.sub(r"^[\s,]*(?:and\s+|or\s+)?(?:the\s+)?", "", title[cut:])
    title = _HONORIFICS.sub("", title).strip(" ,")
    if title and (_TITLE_WORDS.search(title) or (cut and _party_in(title))):
        return title
    return None


# A title ending in a comma right before a name: the comma, then only honorifics to the name.
# No honorific holds a comma, so at most one comma of a window can be that one.
_COMMA_BEFORE_NAME = re.compile(rf",\s*(?:{_HONORIFIC}\s+)*$")
_TITLE_STOPS = ".;:\n\u2013\u2014"  # a comma-ended title does not run back over these


def _comma_title(window: str) -> str | None:
    """The 3 to 140 characters before the comma that ends `window` but for spaces and
    honorifics, back to the last of _TITLE_STOPS: what the pattern in the test of this
    function captures, found from its only possible comma instead of by trying every start
    of the window (about 0.1 ms a name)."""
    m = _COMMA_BEFORE_NAME.search(window)
    if m is None:
        return None
    comma = m.start()
    start = max(comma - 140, 1 + max(window.rfind(c, 0, comma) for c in _TITLE_STOPS), 0)
    return window[start:comma] if comma - start >= 3 else None


def _title_before(text: str, start: int) -> str | None:
    """The title words right before a name: "Russia's deputy health minister" Oleg Salagay,
    or a title ending in a comma: "the director general of the WHO, Dr. Tedros"."""
    window = text[max(0, start - 160) : start]
    before_comma = _comma_title(window)
    if before_comma:
        title = before_comma.split(", ")[-1] if _VERB.search(before_comma) else before_comma
        # the title starts after the clause's verb: "... were the Kenyan deputy minister, X"
        verbs = list(_VERB.finditer(title))
        title = title[verbs[-1].end() :] if verbs else title
        title = re.sub(r"^.*\b(?:met|meets|with|by)\s+", "", title, flags=re.IGNORECASE)
        title = _LEADING_ARTICLE.sub("", title.strip())
        if _TITLE_WORDS.search(title) and not _VERB.search(title):
            return _after_names(title)
    window = window[-120:]
    # the title starts at the last clause break, or further back over an "and" or a comma that
    # is part of a body's name ("Minister of Health and Medical Education of Iran")
    for m in reversed([None, *_CLAUSE_BREAK.finditer(window)]):
        title = window[m.end() if m else 0 :].strip(" ,-\u2013\u2014")
        title = re.sub(r"^.*\d{4}-\d{2}-\d{2}\s*", "", title)  # a leading "date 2025-04-28"
        title = _LEADING_ARTICLE.sub("", title)
        title = _HONORIFICS.sub("", title).strip()
        if title and _TITLE_WORDS.search(title):
            return _after_names(title) if len(title) < 100 else None
        if not title or m is None or m.group(0).strip().lower() not in ("and", ","):
            return None  # "X, minister of Y, and Z": the title before the "and" is X's
    return None


def _title_after(text: str, end: int) -> str | None:
    """An apposition after a name: Mohammad Ali Eskandari, the Ambassador of Iran to Uzbekistan,
    but not the next person's title in a list ("X, Minister of Y Marat Shoranov, ...") nor a
    coordination (", and the Deputy Minister of Panama")."""
    m = re.match(r",\s*(?:the\s+)?([^,.;\n()]{3,110})", text[end : end + 130])
    if not m:
        return None
    title = m.group(1).strip()
    if re.match(r"(?:and|or)\b", title, re.IGNORECASE) or _person_names_end(title):
        return None
    if _TITLE_WORDS.search(title) and not _VERB.search(title):
        return title
    return None


def _party_in(title: str | None) -> str | None:
    """The first country or organization a title names ("Ambassador of Iran to Uzbekistan")."""
    if not title:
        return None
    hits = [h for h in (organization_index().search(title), country_index().search(title)) if h]
    return min(hits)[1] if hits else None


# Words that make the capitalized words before them the name of a body, not of a person:
# "Oswaldo Cruz Foundation", "Hamad Medical Corporation", "King Faisal Hospital".
_INSTITUTION = frozenset(
    """
         Foundation Institute Institutes University Hospital Hospitals Clinic Centre Center
    Centers     Centres College School Academy Fund Bank Agency Commission Committee Council
    Corporation     Company Organization Organisation Association Society Alliance Network
    Group Authority     Ministry Department Office Bureau Directorate Secretariat Laboratory
    Laboratories Programme     Program Initiative Project Medical City Trust Partnership
    Consortium
    """.split()
)


# Word endings of English nouns and verbs that personal names almost never have ("Solutions",
# "Manufacturing", "Development"); -ing only on long words, to spare "Fleming" and "Golding".
_NOT_NAME_ENDING = re.compile(
    r"(?:tions?|sions?|ments?|ness|ity|ities|ics|ship|ism|isms|ances?|ences?)$|^\w{9,}ing$"
)


def _split_run(run: str, offset: int) -> Iterator[tuple[str, int]]:
    """Split a capitalized run at words that cannot be part of a name."""
    tokens = list(re.finditer(r"\S+", run))
    current: list[re.Match[str]] = []

    def flush(before: str | None) -> Iterator[tuple[str, int]]:
        if len(current) >= 2 and before not in _INSTITUTION:
            s, e = current[0].start(), current[-1].end()
            yield run[s:e], offset + s

    for tok in tokens:
        word = tok.group(0).rstrip(".,")
        if (
            word in _NOT_NAME
            or word.rstrip("'\u2019s") in _NOT_NAME
            or _NOT_NAME_ENDING.search(word)
        ):
            yield from flush(word)
            current = []
        else:
            current.append(tok)
    yield from flush(None)


# What shows that two capitalized words name a person (annotation rule 4: officials are
# persons): a title, an honorific, a later mention by surname alone, or a person's place in a
# clause, as the one who says or does something or the one met, received or thanked.
# "Communist Party", "Grant Aid" or "Neighbourhood First" have none of these.
_HONORIFIC_BEFORE = re.compile(
    r"\b(?:Dr|Prof|Mr|Mrs|Ms|Miss|Eng|Engr|H\.\s?E|Sheikh|Sir|Dame|Shri|Smt|Madam)\.?\s*$"
)
_ACTS_AFTER = re.compile(
    r"(?:\s*,?\s*\([^)]{0,40}\))?\s*,?\s*(?:who\b\s*|(?:has|had|have|also|then|later|further|"
    r"too)\s+)?(?:said|says|stated|stressed|noted|added|told|met|meets|signed|signs|expressed|"
    r"welcomed|announced|praised|highlighted|emphasi[sz]ed|underlined|underscored|pointed|"
    r"thanked|discussed|received|receives|visited|visits|called|urged|affirmed|confirmed|"
    r"explained|reviewed|agreed|attended|held|holds|led|leads|headed|chaired|co-chaired|presided|"
    r"hosted|inaugurated|opened|launched|handed|delivered|wrote|spoke|reiterated|conveyed|"
    r"briefed|assured|vowed|pledged|lauded|hailed|commended|appreciated|asserted|observed|"
    r"remarked|mentioned|indicated|revealed|declared|acknowledged|voiced|shed|referred|described|"
    r"congratulated|invited|accompanied|witnessed|represented|participated|joined)\b",
    re.IGNORECASE,
)
_ACTED_ON_BEFORE = re.compile(
    r"\b(?:met|meets|meeting\s+with|talks\s+with|received|receives|hosted|welcomed|thanked|"
    r"visited|accompanied\s+by|signed\s+by|led\s+by|headed\s+by|attended\s+by|by|with)\s+"
    r"(?:his|her|their)?\s*$",
    re.IGNORECASE,
)


def _looks_like_a_person(p: PersonCandidate, text: str) -> bool:
    if p.title or any(m.text != p.name for m in p.mentions):
        return True
    return any(
        _HONORIFIC_BEFORE.search(text, max(0, m.start - 12), m.start)
        or _ACTS_AFTER.match(text, m.end, m.end + 80)
        or _ACTED_ON_BEFORE.search(text, max(0, m.start - 25), m.start)
        for m in p.mentions
    )


# Not acting for a party in the cooperation (annotation rule 4): a spokesperson or a
# journalist is a source; whoever chairs a cabinet that approves something performs a
# domestic act (rule 5: a cabinet decision is not a meeting between parties).
_SOURCE_TITLE = re.compile(
    r"\b(?:spokes(?:man|woman|person)|journalist|reporter|correspondent|editor|photographer|"
    r"columnist|anchor)\b",
    re.IGNORECASE,
)
_CHAIRS_A_CABINET = re.compile(
    r"\b(?:cabinet|council\s+of\s+ministers)\b[^.]{0,40}\b(?:chaired|presided(?:\s+over)?|"
    r"headed|led)\s+by\s+(?:the\s+)?[^.]{0,60}$",
    re.IGNORECASE,
)


def _acts_in_the_cooperation(p: PersonCandidate, text: str) -> bool:
    if p.title and _SOURCE_TITLE.search(p.title):
        return False
    return not all(_CHAIRS_A_CABINET.search(text, max(0, m.start - 120), m.start)
                   for m in p.mentions)  # fmt: skip


def find_people(text: str) -> list[PersonCandidate]:
    """Personal names (two or more capitalized words that are not places, bodies or titles,
    and that the text treats as a person), except sources and cabinet chairs."""
    people: dict[str, PersonCandidate] = {}
    for m in _NAME_RUN.finditer(text):
        for name, start in _split_run(m.group(0), m.start()):
            # "Ambassador in Cairo Topply M Lubaya": after a preposition, a place is not part of
            # the name (but "minister Riyadh Abdul Amir" is a man named Riyadh)
            first = name.split(" ", 1)
            if (
                len(first) == 2
                and _is_place_or_party(first[0])
                and re.search(r"\b(?:in|at|from|to|of)\s+$", text[max(0, start - 6) : start])
            ):
                start += len(first[0]) + 1
                name = first[1]
            if " " not in name:
                continue
            name = name.rstrip(".,'\u2019")
            if name.endswith(("'s", "\u2019s")):
                name = name[:-2]
            end = start + len(name)
            if _is_place_or_party(name) or any(_names_party(w) for w in name.split()):
                continue  # "Abu Dhabi", "Iran Health" — but a city in a name is fine: Riyadh Abdul
            if name not in people:
                title = _title_before(text, start) or _title_after(text, end)
                people[name] = PersonCandidate(name, key="", title=title, hint=_party_in(title))
            people[name].mentions.append(_span(start, end, name))
    # one person written in full and by a shorter form ("Dr. Tedros", "Zafarqandi"): keep the
    # longest, and let every mention of its surname count as evidence
    names = sorted(people, key=len, reverse=True)
    for short in names:
        for long in names:
            if short != long and short in long and short in people and long in people:
                people[long].mentions += people.pop(short).mentions
    for p in people.values():
        surname = p.name.split()[-1]
        for start, end in word_spans(text, surname):
            if not any(s.start <= start < s.end for s in p.mentions):
                p.mentions.append(_span(start, end, surname))
        p.mentions.sort(key=lambda s: s.start)
    out = sorted(
        (p for p in people.values()
         if _looks_like_a_person(p, text) and _acts_in_the_cooperation(p, text)),
        key=lambda p: p.mentions[0].start,
    )  # fmt: skip
    surnames = [p.name.split()[-1] for p in out]
    for p, surname in zip(out, surnames, strict=True):
        p.key = surname if surnames.count(surname) == 1 else p.name
    return out


# ---------------------------------------------------------------- dates and places

_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = Caseless(
    rf"\b(?:{_MONTHS}\s+{_DAY}(?:\s*(?:-|–|to|and)\s*{_DAY})?(?:,?\s+\d{{4}})?"
    rf"|{_DAY}(?:\s*(?:-|–|to|and)\s*{_DAY})?\s+(?:of\s+)?{_MONTHS}(?:,?\s+\d{{4}})?"
    rf"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
    rf"|yesterday|today|\d{{4}}-\d{{2}}-\d{{2}})\b"
)


_DATELINE_END = re.compile(r"[\u2013\u2014]|\s-\s|\(|:|\n")
_STAMP_LABEL = re.compile(
    r"\b(?:published|updated|posted|modified|created|date|dated)\b\s*(?:on|at)?\s*:?\s*$",
    re.IGNORECASE,
)


def _is_stamp(text: str, start: int, end: int) -> bool:
    """A page's date stamp ("Published: 12 March 2024", a line that is only a date and a
    time), which says when the page was made, not when anything happened."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    if _STAMP_LABEL.search(text, line_start, start):
        return True
    words = re.findall(r"[a-z]{4,}", line)  # lowercase words: a sentence, not a stamp
    return len(line.split()) <= 6 and not words


def find_dates(text: str, published: dt.date | None) -> list[DateCandidate]:
    """Date expressions, except a dateline's ("TEHRAN, Oct. 19 (MNA) –"): that is when the
    article was filed, not when anything happened."""
    dateline = _DATELINE_END.search(text[:80])
    dateline_end = dateline.start() if dateline else 0
    out: dict[str, DateCandidate] = {}
    for m in _DATE.finditer(text):
        start, end = m.span()
        written = text[start:end]
        label = " ".join(written.split())
        if label.lower() in ("may",) or label in out or end <= dateline_end:
            continue
        if _is_stamp(text, start, end):
            continue
        span = _span(start, end, written)
        out[label] = DateCandidate(label, span, parse_date(label, published))
    return list(out.values())


def find_places(text: str, parties: list[PartyCandidate]) -> list[PlaceCandidate]:
    out: dict[str, PlaceCandidate] = {}
    index = city_index()
    orgs = [s for p in parties if p.kind is PartyKind.organization for s in p.mentions]
    for span in _matches("city", text, True):
        if any(o.start <= span.start < o.end for o in orgs):
            continue  # "Shanghai" in "Shanghai Cooperation Organisation"
        code = index.lookup(span.text)
        if code and span.text not in out:
            out[span.text] = PlaceCandidate(span.text, code, span.text, span)
    for p in parties:
        if p.kind is PartyKind.country and p.label not in out:
            out[p.label] = PlaceCandidate(p.label, p.code, None, p.mentions[0])
    return list(out.values())


# ---------------------------------------------------------------- cue words

_INSTRUMENT_CUES: dict[Instrument, str] = {
    Instrument.mou: r"memorand(?:um|a|ums)\s+of\s+(?:understanding|cooperation)|MoUs?|MOUs?|memorand(?:um|a|ums)",
    Instrument.treaty: r"treat(?:y|ies)",
    Instrument.protocol: r"protocols?",
    Instrument.action_plan: r"action\s+plans?|plan\s+of\s+action|road\s?maps?|joint\s+plan",
    Instrument.programme: r"(?:executive\s+)?program(?:me)?s?\s+(?:of|for)\s+(?:cooperation|collaboration)|cooperation\s+program(?:me)?s?",
    Instrument.agreement: r"agreements?|accords?|deals?|pacts?",
    Instrument.other: r"letters?\s+of\s+intent|joint\s+(?:declaration|statement|communiqu[eé])s?|declarations?",
}
_MECHANISM_CUES: dict[MechanismKind, str] = {
    MechanismKind.working_group: r"working\s+groups?|task\s+forces?|working\s+committees?|technical\s+groups?",
    MechanismKind.joint_committee: r"joint\s+(?:health\s+)?(?:committee|commission)s?|(?:intergovernmental|bilateral|permanent|steering)\s+(?:committee|commission)s?",
    MechanismKind.network: r"networks?|alliances?|consortium|consortia",
    MechanismKind.exchange_programme: r"exchang\w*\s+(?:of\s+)?(?:(?!between\b|with\b|among\b)[\w,-]+\s+){0,3}?(?:students|professors|doctors|physicians|specialists|experts|nurses|staff|delegations|researchers|scholars|medical\s+teams?|personnel|faculty|health\s+workers|professionals)|(?:student|academic|staff|expert|specialist|doctor|professional)s?\s+exchanges?",
    # annotation rule 10: training of health workers, however it is phrased ("training in
    # clinical skills", "training and education of Kenyan doctors")
    MechanismKind.training_programme: r"training\s+(?:programs?|programmes?|courses?|workshops?)|train\w*\s+(?:and\s+\w+\s+)?(?:of\s+|for\s+|in\s+)?(?:[\w,-]+\s+){0,4}?(?:doctors|nurses|physicians|health(?:care)?\s+(?:workers|staff|professionals|personnel)|specialists|personnel|staff|professionals|students|experts|cadres|manpower|skills|residents|midwives|paramedics)",
    MechanismKind.conference_series: r"(?:joint|regular|annual)\s+(?:scientific\s+)?(?:conferences|seminars|forums|symposi(?:a|ums))",
    # standing arrangements without a kind of their own (annotation rule 7: `other`)
    MechanismKind.other: r"(?:early\s+warning|rapid\s+response|surveillance|alert|referral|coordination|consultation|cooperation|joint)\s+(?:systems?|mechanisms?|platforms?|hotlines?)|(?:joint\s+)?(?:research|diagnostic|training|treatment|vaccine|reference)\s+(?:cent(?:er|re)s?|laborator(?:y|ies)|hubs?)",
}

# Cues per health area (annotation guide, rule 8).
_AREA_CUES: dict[Area, str] = {
    Area.communicable_diseases: r"(?<!non-)(?<!non )(?<!non)communicable(?:\s+diseases?|(?=\s+(?:and|&|or)\s+non))|infectious|contagious|epidemic|outbreaks?|surveillance|tuberculosis|\bTB\b|malaria|HIV|AIDS|hepatitis|cholera|polio|measles|ebola|covid|coronavirus|pandemic|dengue|mpox|monkeypox|influenza|antimicrobial|One\s+Health|early\s+detection",
    Area.noncommunicable_diseases: r"non-?\s?communicable|\bNCDs?\b|cancer|oncolog\w*|diabet\w*|cardio\w*|heart\s+disease|hypertension|chronic\s+diseases?",
    Area.vaccines: r"vaccin\w*|immuni[sz]\w*|COVAX",
    # "medicine" is a discipline ("the field of medicine", "Institute of Medicine") unless it
    # stands beside equipment or supplies, or is produced or supplied
    Area.pharmaceuticals: r"pharmac\w*|medicines\b|drugs?\b|medicinal|medicine(?=\s+(?:and|&)\s+(?:medical\s+)?(?:equipment|supplies|devices|vaccines))|(?:suppl\w+|production|provision|import\w*|export\w*|manufactur\w*)\s+of\s+medicine\b",
    # medical supplies are aid (contract: emergencies_humanitarian), not equipment
    Area.medical_equipment: r"medical\s+(?:equipment|devices?|tools|technolog\w*)|equipment|devices?|technolog(?:y|ies)\s+transfer|transfer\s+of\s+(?:\w+\s+)?technolog\w*",
    Area.digital_health: r"digital|e-?health|tele-?medicine|telehealth|health\s+information|artificial\s+intelligence|\bAI\b",
    Area.education_training: r"education|training|universit\w*|students?|medical\s+schools?|scholarships?|academic|professors?",
    Area.research: r"research\w*|scientific|science|joint\s+stud\w*|clinical\s+trials?|laborator\w*",
    Area.health_systems: r"primary\s+(?:health\s+)?care|hospitals?|health\s+(?:services?|systems?|infrastructure|facilit\w*|insurance|coverage)|clinics?|healthcare\s+(?:services?|system)|medical\s+services|health\s*care\s+services|medical\s+care|strengthen\w*\s+(?:\w+\s+)?health(?:care)?\s+(?:sector|systems?)",
    Area.maternal_child_health: r"maternal|mothers?\b|child(?:ren)?'?s?\s+health|neonat\w*|newborns?|pediatric|paediatric|infant",
    Area.emergencies_humanitarian: r"emergenc\w*|humanitarian|disaster|crisis|crises|relief|donat\w*|medical\s+aid|aid\s+shipment|medical\s+supplies",
    Area.regulation: r"regulat\w*|International\s+Health\s+Regulations|IHR|standards?|accreditation|registration\s+of\s+(?:medicines|drugs)|legal\s+preparedness",
    Area.health_promotion: r"health\s+promotion|healthy\s+(?:lifestyle|living|diet)|prevention|nutrition|tobacco|smoking|obesity|screening",
    Area.traditional_medicine: r"traditional\s+(?:medicine|Chinese\s+medicine)|herbal|ayurved\w*|homeopath\w*|\bAYUSH\b|\bTCM\b",
    Area.medical_tourism: r"medical\s+tourism|health\s+tourism|treated\s+abroad|patients?\s+(?:from|travel\w*\s+to)",
    Area.mental_health: r"mental\s+health|psychiatr\w*|psycholog\w*",
}


@lru_cache(maxsize=2)
def _compiled(lowered: bool = False) -> tuple[dict, dict, dict]:
    """The cue patterns, case-insensitive; or, `lowered`, the same patterns in lower case for
    a lower-cased text: the same matches without IGNORECASE's cost at every position (the
    patterns' escapes, \\b \\s \\w, are lower case already)."""

    def comp(d: dict) -> dict:
        if lowered:
            return {k: re.compile(rf"(?<!\w)(?:{lower_pattern(v)})(?!\w)") for k, v in d.items()}
        return {k: re.compile(rf"(?<!\w)(?:{v})(?!\w)", re.IGNORECASE) for k, v in d.items()}

    return comp(_INSTRUMENT_CUES), comp(_MECHANISM_CUES), comp(_AREA_CUES)


@lru_cache(maxsize=1)
def _scanner() -> Scanner:
    """The lowered cue patterns of all three kinds, in `_compiled`'s order, as one Scanner."""
    return Scanner(p for d in _compiled(lowered=True) for p in d.values())


def _cues(
    text: str, patterns: dict, *, overlap: bool = False, found: dict | None = None
) -> list[Cue]:
    """Cues of each kind in `text`; `found` (from `_scan`) holds each pattern's matches, found
    in the lower-cased text, in place of running `patterns` over `text`."""
    out: list[Cue] = []
    taken = _Taken()
    for kind, pattern in patterns.items():
        for m in pattern.finditer(text) if found is None else found[kind]:
            if not overlap and taken.overlaps(m.start(), m.end()):
                continue  # "memorandum of understanding" already counted as an MoU
            if not overlap:
                taken.add(m.start(), m.end())
            span = _span(m.start(), m.end(), text[m.start() : m.end()])
            out.append(Cue(getattr(kind, "value", kind), span, sentence_around(text, span)))
    return sorted(out, key=lambda c: c.span.start)


def _scan(text: str) -> tuple[dict, dict, dict] | None:
    """The matches of every cue pattern, per kind, found in the lower-cased text where that
    keeps every match (`lowered`), each pattern tried only where a match may begin; None when
    the text must be scanned case-insensitively."""
    low = lowered(text)
    if low is None:
        return None
    scanner = _scanner()
    starts = scanner.starts(low)
    out: list[dict] = []
    i = 0
    for d in _compiled(lowered=True):
        found = {}
        for kind in d:
            found[kind] = list(scanner.finditer(low, i, starts[i]))
            i += 1
        out.append(found)
    return out[0], out[1], out[2]


_DATELINE = re.compile(
    r"\s*(?:date\s+\d{4}-\d{2}-\d{2}\s+)?([A-Za-z][A-Za-z .'-]{1,30}?)\s*"
    r"(?:,|\(|:|[\u2013\u2014]|\s-\s)"
)


def dateline_country(text: str) -> str | None:
    """The country of a dateline's city: "TEHRAN, Oct. 19 (MNA) –" → IRN."""
    m = _DATELINE.match(text)
    if m is None:
        return None
    name = m.group(1).strip()
    return city_index().lookup(name) or country_index().lookup(name)


def _home_officials(people: list[PersonCandidate], parties: list[PartyCandidate],
                    text: str) -> None:  # fmt: skip
    """A titled official whose title names no country ("the deputy health minister"), in an
    article datelined in a country that takes part, is that country's: news agencies name
    the foreign side and leave their own side's nationality implied."""
    home = dateline_country(text)
    if home is None or not any(p.code == home for p in parties):
        return
    for person in people:
        if person.hint is None and person.title and _GOVERNMENT.search(person.title):
            person.hint = home


_GOVERNMENT = re.compile(
    r"\b(?:minister|ministry|ambassador|deputy|secretary|envoy|consul|attach[eé]|undersecretary|"
    r"director|president|premier)\b",
    re.IGNORECASE,
)


# Annotation rule 1: a sentence about another sector only (a defence training centre, coastal
# surveillance) gives no health area. Kept in step with `assemble.other_sector_only`.
_OTHER_SECTOR = Caseless(
    r"\b(?:oil|gas|petroleum|hydrocarbon\w*|energy|electricity|mining|trade|customs|tariffs?|"
    r"investment|banking|defen[cs]e|military|nav(?:y|ies|al)|security|police|judicia\w*|criminal|"
    r"trafficking|cultural|tourism|sports?|hydrograph\w*|shipping|maritime|aviation|transport\w*|"
    r"agricultur\w*|fisheries|civil\s+serv\w+|governance|elections?|intelligence)\b"
)


def _area_cue_holds(
    cue: Cue, text: str, areas: dict, sectors: dict[tuple[int, int], bool] | None = None
) -> bool:
    """Whether an area cue speaks of health cooperation in that area: not in a sentence about
    another sector only, and "prevention" of a named disease group is that group's, not
    health promotion (annotation rule 12)."""
    where = (cue.sentence.start, cue.sentence.end)
    other = sectors.get(where) if sectors is not None else None
    if other is None:
        sentence = cue.sentence.text
        other = bool(_OTHER_SECTOR.search(sentence)) and not mentions_health(sentence)
        if sectors is not None:
            sectors[where] = other
    if other:
        return False
    if cue.kind == Area.communicable_diseases.value and re.match(
        r"[\s-]*(?:19\s+)?vaccin", text[cue.span.end : cue.span.end + 15], re.IGNORECASE
    ):
        return False  # "COVID-19 vaccines": the disease names what the vaccine is against
    if cue.kind == Area.health_promotion.value and cue.span.text.lower() == "prevention":
        window = text[max(0, cue.span.start - 50) : cue.span.end + 40]
        groups = (areas[Area.communicable_diseases], areas[Area.noncommunicable_diseases])
        if any(g.search(window) for g in groups):
            return False
        after = re.match(r"\s+of\s+((?:\w+\s+){0,2}\w+)", text[cue.span.end : cue.span.end + 40])
        if after and not mentions_health(after.group(1)):
            return False  # "prevention of human trafficking"
    return True


def find_candidates(text: str, published: dt.date | None = None) -> Candidates:
    """Everything the model may choose from, with spans, for one article text."""
    instruments, mechanisms, areas = _compiled()
    found = _scan(text) or (None, None, None)
    parties = find_parties(text)
    people = find_people(text)
    _home_officials(people, parties, text)
    area_cues: dict[Area, list[Cue]] = {}
    holds: dict[tuple[int, int], bool] = {}  # per sentence: not another sector's only
    for cue in _cues(text, areas, overlap=True, found=found[2]):
        if _area_cue_holds(cue, text, areas, holds):
            area_cues.setdefault(Area(cue.kind), []).append(cue)
    return Candidates(
        health=mentions_health(text),
        parties=parties,
        people=people,
        dates=find_dates(text, published),
        places=find_places(text, parties),
        instruments=_cues(text, instruments, found=found[0]),
        mechanisms=_cues(
            text, mechanisms, overlap=True, found=found[1]
        ),  # "exchange and training of doctors"
        areas=area_cues,
    )
