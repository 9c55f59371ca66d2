"""Normalization: names as written → ISO 3166-1 alpha-3 / gazetteer codes, dates → ISO.

Pure functions over the packaged gazetteers; no model, no network.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from healthcoop.schemas import DateRange, PartyKind
from healthcoop.schemas.gazetteer import countries, organizations

from .grounding import fold
from .scan import Words, trie_alternation

_ACRONYM = re.compile(r"^[A-Z0-9&/\-\.]+$")
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)


@lru_cache(maxsize=8192)  # names and words recur across articles; folding is a Python loop
def _key(name: str) -> str:
    """Lookup key: folded, without a leading article or a trailing possessive."""
    key = fold(name.strip()).text.strip(" .,;:")
    key = _LEADING_THE.sub("", key)
    return re.sub(r"'s?$", "", key).strip()


@dataclass(frozen=True)
class _Index:
    """Exact lookups plus one regex that finds any known name inside a longer name."""

    exact: dict[str, str]  # folded name → code (case-insensitive names)
    exact_cased: dict[str, str]  # acronym as written → code (case-sensitive)
    pattern: re.Pattern[str] | None  # matches folded names, longest first
    pattern_cased: re.Pattern[str] | None

    def lookup(self, name: str) -> str | None:
        stripped = name.strip()
        if stripped in self.exact_cased:
            return self.exact_cased[stripped]
        return self.exact.get(_key(stripped))

    def search(self, name: str) -> tuple[int, str] | None:
        """The earliest known name inside `name`: (position, code)."""
        hits: list[tuple[int, str]] = []
        if self.pattern_cased is not None:
            m = self.pattern_cased.search(name)
            if m:
                hits.append((m.start(), self.exact_cased[m.group(0)]))
        if self.pattern is not None:
            folded = fold(name)
            m = self.pattern.search(folded.text)
            if m:
                hits.append((folded.offset(m.start()), self.exact[_key(m.group(0))]))
        return min(hits) if hits else None


def _build(names: dict[str, str]) -> _Index:
    exact: dict[str, str] = {}
    cased: dict[str, str] = {}
    for name, code in names.items():
        if _ACRONYM.match(name) and len(name) <= 8:
            cased.setdefault(name, code)
        else:
            exact.setdefault(_key(name), code)

    alternation = trie_alternation
    pattern = re.compile(rf"(?<!\w)(?:{alternation(list(exact))})(?:'s?)?(?!\w)") if exact else None
    cased_pattern = re.compile(rf"(?<!\w)(?:{alternation(list(cased))})(?!\w)") if cased else None
    return _Index(exact, cased, pattern, cased_pattern)


@lru_cache(maxsize=1)
def country_index() -> _Index:
    names: dict[str, str] = {}
    for c in countries().values():
        for name in (*c.aliases, *c.demonyms):
            names.setdefault(name, c.code)
    return _build(names)


@lru_cache(maxsize=1)
def city_index() -> _Index:
    names: dict[str, str] = {}
    for c in countries().values():
        for city in c.cities:
            names.setdefault(city, c.code)
    return _build(names)


@lru_cache(maxsize=1)
def organization_index() -> _Index:
    names: dict[str, str] = {}
    for org in organizations().values():
        # a code is also how news writes it ("WHO", "UNICEF"), unless it is a made-up key
        code_alias = (org.code,) if len(org.code) <= 8 and "_" not in org.code else ()
        for name in (*code_alias, org.name, *org.aliases):
            names.setdefault(name, org.code)
    return _build(names)


@lru_cache(maxsize=1)
def gazetteer_words() -> tuple[Words, Words]:
    """The names of the three gazetteers (country, organization, city) as `Words`: the
    folded names, matched as each index's `pattern` matches in a folded text, and the
    acronyms, as `pattern_cased` in the text as written; one pass over a text for all three."""
    indexes = {"country": country_index(), "organization": organization_index(),
               "city": city_index()}  # fmt: skip
    folded = Words({k: index.exact for k, index in indexes.items()}, possessive=True)
    cased = Words({k: index.exact_cased for k, index in indexes.items()})
    return folded, cased


def country_code(name: str | None) -> str | None:
    """ISO alpha-3 for a country name, short form, demonym, or a state body named after one
    ("Russia's Ministry of Health", "the Iranian Embassy")."""
    if not name:
        return None
    index = country_index()
    code = index.lookup(name)
    if code:
        return code
    hit = index.search(name)
    return hit[1] if hit else None


def city_country(city: str | None) -> str | None:
    """ISO alpha-3 of the country a known city is in."""
    return city_index().lookup(city) if city else None


def organization_code(name: str | None) -> str | None:
    """Gazetteer code for an international organization or one of its sub-bodies."""
    if not name:
        return None
    index = organization_index()
    code = index.lookup(name)
    if code:
        return code
    hit = index.search(name)
    return hit[1] if hit else None


def resolve_party(name: str) -> tuple[PartyKind, str | None] | None:
    """Kind and code of a party named as written; None when the name is neither."""
    orgs, ctry = organization_index(), country_index()
    code = orgs.lookup(name)
    if code:
        return PartyKind.organization, code
    code = ctry.lookup(name)
    if code:
        return PartyKind.country, code
    # a longer name: whichever known name comes first decides ("WHO office in Iran" → WHO,
    # "Iran's health ministry" → IRN)
    hits = [(h[0], kind, h[1]) for kind, h in (
        (PartyKind.organization, orgs.search(name)),
        (PartyKind.country, ctry.search(name)),
    ) if h]  # fmt: skip
    if hits:
        _, kind, code = min(hits)
        return kind, code
    city = city_index().search(name)  # "Abu Dhabi Public Health Centre" → ARE
    if city:
        return PartyKind.country, city[1]
    return None


# ---------------------------------------------------------------- people

_HONORIFICS = re.compile(
    r"^(?:(?:h\.\s?e\.|his|her|excellency|dr|prof|professor|mr|mrs|ms|miss|mx|sir|dame|"
    r"eng|engr|hon|honourable|honorable|shri|smt|shrimati|the)\.?\s+)+",
    re.IGNORECASE,
)
_POSTNOMINALS = re.compile(r",?\s+(?:MD|M\.D\.|PhD|Ph\.D\.|MPH|FRCP|MBBS)\.?$")


def clean_person_name(name: str) -> str:
    """A person's name without honorifics ("Dr.", "H.E.", "Prof.") or post-nominals."""
    name = " ".join(name.split())
    prev = None
    while prev != name:
        prev = name
        name = _HONORIFICS.sub("", name)
        name = _POSTNOMINALS.sub("", name)
    return name.strip(" ,.")


# ---------------------------------------------------------------- dates

_YEAR = re.compile(r"\b(1[89]\d\d|2\d\d\d)\b")
_RANGE = re.compile(
    r"^(?:from\s+)?(?P<a>.+?)\s*(?:-|–|—|\bto\b|\buntil\b|\btill\b|\bthrough\b)\s*(?P<b>.+)$",
    re.IGNORECASE,
)
_DAY_ONLY = re.compile(r"^\d{1,2}(?:st|nd|rd|th)?$")
_MONTH_WORD = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?", re.IGNORECASE
)
_WEEKDAY = re.compile(r"\b(mon|tues?|wed(nes)?|thu(rs)?|fri|sat(ur)?|sun)(day)?\b", re.IGNORECASE)
_RELATIVE_DAY = re.compile(r"\b(yesterday|today)\b", re.IGNORECASE)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


_MONTHS = {
    **{name.lower(): i for i, name in enumerate(calendar.month_name) if name},
    **{name.lower(): i for i, name in enumerate(calendar.month_abbr) if name},
    "sept": 9,
}
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2}) ([a-z]+) (\d{4})")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+) (\d{1,2}) (\d{4})")
_SPELLING = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b|\bof\b|[.,]")


def explicit_day(expr: str) -> dt.date | None:
    """A date written out in full, with its day, its month's name and its year ("6 January
    2000", "Jan. 6, 2000", "6th of January 2000") or in ISO form: the day dateparser finds,
    at a hundredth of its cost (about 1 ms a call). None for anything else."""
    if _NUMERIC.fullmatch(expr):
        try:
            return dt.date.fromisoformat(expr)
        except ValueError:
            return None
    words = " ".join(_SPELLING.sub(" ", expr.lower()).split())
    m = _DAY_MONTH_YEAR.fullmatch(words)
    day, month, year = (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)
    if m is None and (m := _MONTH_DAY_YEAR.fullmatch(words)):
        day, month, year = m.group(2), m.group(1), m.group(3)
    if m is None or month not in _MONTHS:
        return None
    try:
        return dt.date(int(year), _MONTHS[month], int(day))  # type: ignore[arg-type]
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _parse_day(expr: str, published: dt.date | None) -> dt.date | None:
    import dateparser  # imported lazily: it loads language data on first use

    expr = expr.strip(" ,.;")
    if not expr:
        return None
    has_year = bool(_YEAR.search(expr))
    if not has_year and published is None:
        return None  # "Oct. 19" or "on Sunday" with no year to anchor it: not a fixed day
    anchored = has_year or _MONTH_WORD.search(expr) or _WEEKDAY.search(expr)
    if not (anchored or _NUMERIC.search(expr) or _RELATIVE_DAY.search(expr)):
        return None
    settings: dict[str, object] = {
        "PREFER_DATES_FROM": "past",
        "REQUIRE_PARTS": ["day"],
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first",
    }
    if published is not None:
        settings["RELATIVE_BASE"] = dt.datetime.combine(published, dt.time(12))
    expr = re.sub(r"^(on|dated|from|since)\s+", "", expr, flags=re.IGNORECASE)
    expr = re.sub(r"^(last|this|past)\s+", "", expr, flags=re.IGNORECASE)
    weekday = _WEEKDAY.fullmatch(expr)
    if weekday and published is not None:
        # news says "on Sunday" for the most recent Sunday up to the day of publication
        wanted = _WEEKDAYS.index(weekday.group(1).lower()[:3])
        return published - dt.timedelta(days=(published.weekday() - wanted) % 7)
    day = explicit_day(expr)
    if day is not None:
        return day
    parsed = dateparser.parse(expr, languages=["en"], settings=settings)  # type: ignore[arg-type]
    if parsed is None:
        return None
    day = parsed.date()
    if published is not None and not has_year and day > published:
        return None
    return day


def parse_date(expr: str | None, published: dt.date | None = None) -> DateRange | None:
    """An ISO date range from a date as written ("on Sunday", "Oct. 19", "14-17 October 2024").

    Relative and year-less dates resolve against `published`; without it they stay unknown,
    since the text alone does not fix the day.
    """
    if not expr or not expr.strip():
        return None
    expr = " ".join(expr.split())
    m = _RANGE.match(expr)
    if m and not _NUMERIC.fullmatch(expr):
        a, b = m.group("a"), m.group("b")
        year = _YEAR.search(b)
        month = _MONTH_WORD.search(b) or _MONTH_WORD.search(a)
        if _DAY_ONLY.match(a) and month:  # "14-17 October 2024"
            a = f"{a} {month.group(0)}" + (f" {year.group(0)}" if year else "")
        elif not _YEAR.search(a) and year:  # "October 14 to 17, 2024"
            a = f"{a} {year.group(0)}"
        b_day = _YEAR.sub("", b).strip(" ,")
        if _DAY_ONLY.match(b_day) and month:  # "October 14 to 17(, 2024)"
            b = f"{month.group(0)} {b_day}" + (f" {year.group(0)}" if year else "")
        start, end = _parse_day(a, published), _parse_day(b, published)
        if start and end and end >= start:
            return DateRange(start=start, end=end)
        if start:
            return DateRange(start=start, end=start)
    day = _parse_day(expr, published)
    return DateRange(start=day, end=day) if day else None
