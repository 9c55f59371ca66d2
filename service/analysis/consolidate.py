"""Consolidation: one event per real-world meeting or agreement, across the articles that
report it, with each agreement's lifecycle (approved → signed, signed → approved ex post
facto, …).

Pure and deterministic: records in, events out (plain JSON-able dicts). Mentions are grouped
into blocks of the same kind, party set and instrument; only mentions of one block are ever
compared, and within a block only those close in time (or sharing an official, a place, a
title word), so the work grows with the size of the blocks, not with the square of the input.

Within a block, a pair of mentions is either *incompatible* (a hard rule: same article, dates
that cannot be the same event, different countries, differently numbered forums or titles, a
stage order that cannot be) or gets a score from what the records hold: dates, how soon each
was reported, officials, place, forum, title, wording and numbers of the evidence. Pairs
scoring at least `MERGE_SCORE` are merged best first, and two groups merge only when no pair
across them is incompatible. Every merge keeps its reasons (`because`).

Features are language-neutral: codes, ISO dates, numbers, names, and word overlap weighted by
rarity (which is zero across languages, so it can only help, never hurt). See the README,
section "One story across outlets", for the rules in prose.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from rapidfuzz import fuzz

from ..errors import InputError
from ..files import is_gzip, open_read, open_write

__all__ = [
    "MERGE_SCORE",
    "Mention",
    "Summary",
    "compare",
    "consolidate",
    "consolidate_file",
    "mentions_of",
    "read_published",
]

#: a pair of mentions scoring at least this is the same event (absent incompatibilities)
MERGE_SCORE = 2.0
#: days two dates of one meeting or one stage may differ (time zones, "on Tuesday" resolved
#: against a late publication date)
DATE_SLACK = 1
#: two undated reports of one stage published further apart than this are different events
REPORT_WINDOW = 180
#: the longest a lifecycle may take between two reported stages (approved → signed, …)
LIFECYCLE_WINDOW = 400
#: pairs of timed mentions further apart than this are never compared (the blocking window)
WINDOW = {"meeting": REPORT_WINDOW + DATE_SLACK, "agreement": LIFECYCLE_WINDOW}
#: a block this small compares all its pairs
SMALL_BLOCK = 8
#: in a larger block, timed mentions this many days apart or closer are always compared;
#: further apart (within WINDOW), only when they share a key (official, place, title word, …)
NEAR = 10
#: a key shared by more mentions of a block than this pairs only those KEY_NEAR days apart
MAX_POSTING = 64
KEY_NEAR = 60
#: how many of its rarest evidence words index a mention
RARE_KEYS = 3
#: added to the count of mentions when weighing words by rarity (log(n / df))
IDF_SMOOTHING = 20

_STAGE = {"proposed": 0, "pending": 1, "signed": 2}  # "approved" may come before or after signing


# ---------------------------------------------------------------- text features


_COMBINING = re.compile(r"[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u0640]")
_ARABIC = str.maketrans(
    {"ة": "ه", "ى": "ي"}
    | {chr(0x660 + n): str(n) for n in range(10)}  # Arabic-Indic digits
    | {chr(0x6F0 + n): str(n) for n in range(10)}  # Eastern Arabic-Indic digits
)
_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")

# Function words of the languages the archives are in; words of 1-2 letters are dropped anyway.
_STOP = frozenset(
    """
    the and for with from that this these those which who whom their its his her has have had
    was were are been being will would shall can could may might also between about into over
    under after before during than then there here they them two both other such said says
    not but all any each more most some very new one own per via upon
    les des une dans par pour avec sur entre aux ces son ses leur leurs est sont été qui que
    quoi dont mais plus deux lors selon cette ont avait
    los las del por para con una entre sus que fue son dos sobre como
    das dos uma com pelo pela entre seus suas
    der die das und mit von zwischen eine einer auf für den dem des
    του της των τον την και για στο στη στην στα στις στους από με ένα μια που είναι ήταν
    μεταξύ δύο κατά
    في من على إلى الى عن مع هذا هذه التي الذي الذين بين كان كانت وقد قد ذلك تلك بعد قبل حول
    """.split()
)


def fold(text: str) -> str:
    """Case, accents and Arabic vowel marks folded, digits made ASCII; C-speed, for large
    archives."""
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold().translate(_ARABIC)


def _stem(token: str) -> str:
    if token.startswith(("وال", "بال", "فال")) and len(token) > 5:
        token = token[3:]
    elif token.startswith("ال") and len(token) > 4:
        token = token[2:]
    return token[:6]  # a crude stem: "signed"/"signing", "coopération"/"cooperation"


def words(text: str) -> frozenset[str]:
    """Content words of a text, folded and stemmed; digits and function words left out."""
    return frozenset(
        sys.intern(_stem(w))  # interned: a large archive repeats the same words
        for w in _WORD.findall(fold(text))
        if len(w) > 2 and not w[0].isdigit() and w not in _STOP
    )


# Words every title of an instrument or forum may hold, in the archives' languages: a title
# is told from another by the rest ("… on cancer screening" against "… on laboratories").
_GENERIC = """
    memorandum understanding mou agreement agreements accord protocol treaty convention
    cooperation collaboration field fields area areas sphere health healthcare medical medicine
    medicines public sector plan action programme program executive joint bilateral between
    countries country government governments ministry ministries republic kingdom state session
    meeting assembly conference committee commission forum summit annual regular
    protocole entente coopération domaine santé médecine programme exécutif gouvernement
    acuerdo memorando entendimiento cooperación salud medicina gobierno
    μνημόνιο συνεργασίας συνεργασία συμφωνία υγείας υγεία τομέα πρωτόκολλο
    مذكرة تفاهم اتفاقية اتفاق تعاون مجال الصحة صحة الصحي الطبي برنامج بروتوكول
"""


_GENERIC_WORDS = words(_GENERIC)


@lru_cache(maxsize=65536)  # a title is compared with every candidate of its mention
def title_words(text: str) -> frozenset[str]:
    """The words that tell one title (or forum name) from another."""
    return words(text) - _GENERIC_WORDS


@lru_cache(maxsize=65536)
def numbers(text: str | None) -> frozenset[int]:
    """The numbers a title or forum holds: "71st" → 71, "2019-2021" → 2019, 2021."""
    if not text:
        return frozenset()
    return frozenset(int(d) for d in _DIGITS.findall(text) if len(d) <= 4)


_LATIN_HINTS = {
    "en": {"the", "of", "and", "on", "in", "between", "for", "signed", "with"},
    "fr": {"le", "la", "les", "de", "des", "du", "et", "entre", "sur", "un", "une", "au"},
    "es": {"el", "los", "las", "y", "entre", "sobre", "del", "con", "por"},
    "pt": {"os", "da", "do", "e", "entre", "sobre", "com", "pelo", "pela"},
    "de": {"der", "die", "das", "und", "zwischen", "mit", "von", "über"},
}


_SCRIPTS = (
    ("arabic", re.compile(r"[\u0600-\u06ff]")),
    ("greek", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("cjk", re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")),
)


def language(text: str) -> str:
    """A rough language or script guess, so that titles in two languages are not read as two
    different titles."""
    sample = text[:400]
    for script, pattern in _SCRIPTS:
        if len(pattern.findall(sample)) * 4 > len(sample):
            return script
    toks = _WORD.findall(fold(sample))
    best, hits = "latin", 0
    for lang, hints in _LATIN_HINTS.items():
        n = sum(t in hints for t in toks)
        if n > hits:
            best, hits = lang, n
    return best


_MONTHS: dict[str, int] = {}
for _n, _names in enumerate(
    (
        "january janvier enero janeiro januar gennaio ιανουαριου ιανουαριος يناير كانون الثاني",
        "february fevrier febrero fevereiro februar febbraio φεβρουαριου φεβρουαριος فبراير شباط",
        "march mars marzo marco marz ματιου μαρτιου μαρτιος مارس آذار اذار",
        "april avril abril aprile απριλιου απριλιος أبريل ابريل نيسان",
        "may mai mayo maio maggio μαιου μαιος مايو أيار ايار",
        "june juin junio junho juni giugno ιουνιου ιουνιος يونيو يونيه حزيران",
        "july juillet julio julho juli luglio ιουλιου ιουλιος يوليو يوليه تموز",
        "august aout agosto αυγουστου αυγουστος أغسطس اغسطس آب اب",
        "september septembre septiembre setembro settembre σεπτεμβριου σεπτεμβριος سبتمبر"
        " أيلول ايلول",
        "october octobre octubre outubro oktober ottobre οκτωβριου οκτωβριος أكتوبر اكتوبر",
        "november novembre noviembre novembro νοεμβριου νοεμβριος نوفمبر",
        "december decembre diciembre dezembro dezember dicembre δεκεμβριου δεκεμβριος ديسمبر",
    ),
    1,
):
    for _name in _names.split():
        _MONTHS[fold(_name)] = _n
for _short, _n in {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
                   "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}.items():  # fmt: skip
    _MONTHS[_short] = _n
_MONTH_ALT = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|er|η|ης)?\s+(?:de\s+)?({_MONTH_ALT})\.?,?\s+(?:de\s+)?"
    rf"(\d{{4}})(?!\d)"
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?<!\w)({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)"
)
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_DMY_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})[./](\d{1,2})[./](\d{4})(?!\d)")


def _date(year: int, month: int, day: int) -> int | None:
    try:
        return dt.date(year, month, day).toordinal()
    except ValueError:
        return None


def quoted_dates(text: str) -> tuple[frozenset[int], frozenset[int]]:
    """The full dates (as ordinals) and the years a text quotes, in the common written forms of
    English, French, Spanish, Portuguese, German, Italian, Greek and Arabic."""
    t = fold(text)
    if not _YEAR.search(t):
        return frozenset(), frozenset()
    days: set[int | None] = set()
    for d, m, y in _DAY_MONTH_YEAR.findall(t):
        days.add(_date(int(y), _MONTHS[m], int(d)))
    for m, d, y in _MONTH_DAY_YEAR.findall(t):
        days.add(_date(int(y), _MONTHS[m], int(d)))
    for y, m, d in _ISO_DATE.findall(t):
        days.add(_date(int(y), int(m), int(d)))
    for d, m, y in _DMY_NUMERIC.findall(t):
        days.add(_date(int(y), int(m), int(d)))
    days.discard(None)
    years = frozenset(int(y) for y in _YEAR.findall(t))
    return frozenset(d for d in days if d is not None), years


@lru_cache(maxsize=65536)
def surname(name: str) -> str | None:
    """The folded last word of a person's name, the part outlets agree on most."""
    ws = [w for w in _WORD.findall(fold(name)) if not w.isdigit()]
    return ws[-1] if ws and len(ws[-1]) > 2 else None


# ---------------------------------------------------------------- mentions


@dataclass(frozen=True, slots=True)
class When:
    """When a mention's stage happened, as one reading of its record has it."""

    kind: str  # "exact" | "year" | "upper" | "near" | "none" (see `Mention.settle_time`)
    lo: float = -math.inf
    hi: float = math.inf
    at: int | None = None  # one day to sort by
    doubtful: bool = False  # the evidence quotes an earlier date: another reading exists
    on_publication: bool = False  # an exact date that is the report's own publication date


NO_TIME = When("none")


@dataclass(slots=True, eq=False)
class Mention:
    """One meeting or agreement as one article reports it, reduced to what sameness needs."""

    article_id: str
    item: str  # "agreements[1]": its place in the article's record
    kind: str  # "meeting" | "agreement"
    parties: tuple[str, ...]
    instrument: str | None = None
    status: str | None = None
    date: int | None = None  # ordinal of the item's own date (meetings: first day)
    date_end: int | None = None
    published: int | None = None  # ordinal of the article's publication date
    city: str | None = None
    country: str | None = None
    forum: str | None = None
    title: str | None = None
    officials: frozenset[str] = frozenset()  # surnames, folded
    words: tuple[str, ...] = ()  # content words of the evidence, title and forum
    quoted: frozenset[int] = frozenset()  # full dates the evidence quotes
    years: frozenset[int] = frozenset()  # years the evidence quotes
    lang: str = "?"  # only guessed for mentions with a title or a forum
    evidence: str = "[]"  # the evidence spans as JSON: a large archive holds many
    order: int = 0  # input order, for determinism
    mass: float = 0.0  # summed rarity of its words (set per run, for `_similarity`)
    near: int | None = None  # the latest day the record names, when it has no publication date
    times: tuple[When, ...] = (NO_TIME,)  # readings of its time, the likeliest first

    @property
    def when(self) -> str:
        return self.times[0].kind

    @property
    def lo(self) -> float:
        return self.times[0].lo

    @property
    def hi(self) -> float:
        return self.times[0].hi

    @property
    def anchor(self) -> int | None:
        """One day to sort by: the date, else the publication, else the record's latest day."""
        return self.times[0].at

    def settle_time(self) -> None:
        """Read when the mention's stage happened.

        - "exact": the item's own date, or the one date its evidence quotes near publication;
        - "upper": undated, but the article was published then: it happened before, likely
          just before (news reports what just happened);
        - "year"/"exact" from dates or years the evidence quotes well before publication: a
          second reading ("renews the agreement first signed on 25 April 2018"), kept beside
          the first, since the evidence may be about the old event or merely cite it;
        - "near": no publication date, but the record dates something else: a hint only;
        - "none": nothing to go on.
        """
        pub = self.published
        if self.date is not None:
            end = self.date_end or self.date
            same_day = pub is not None and self.date == pub
            self.times = (When("exact", self.date, end, self.date, on_publication=same_day),)
            return
        alt = None
        past = sorted(d for d in self.quoted if pub is None or d <= pub + DATE_SLACK)
        last = pub if pub is not None else self.near  # the record's own time, if any
        recent = [d for d in past if last is not None and last - 3 <= d <= last + DATE_SLACK]
        if len(recent) == 1:  # the evidence gives the day, days before publication
            self.times = (When("exact", recent[0], recent[0], recent[0]),)
            return
        if len(past) == 1:
            alt = When("exact", past[0], past[0], past[0])
        else:
            years = [y for y in self.years if pub is None or dt.date(y, 1, 1).toordinal() <= pub]
            if years and (pub is None or max(years) < dt.date.fromordinal(pub).year):
                lo = dt.date(min(years), 1, 1).toordinal()
                hi = dt.date(max(years), 12, 31).toordinal()
                alt = When("year", lo, hi, (lo + hi) // 2)
        doubt = alt is not None
        if pub is not None:
            first = When("upper", -math.inf, pub + DATE_SLACK, pub, doubtful=doubt)
        elif self.near is not None:
            first = When("near", at=self.near, doubtful=doubt)
        elif alt is not None:
            first, alt = alt, None  # nothing else dates it
        else:
            first = NO_TIME
        self.times = (first,) if alt is None else (first, alt)


def _ordinal(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().toordinal()
    if isinstance(value, dt.date):
        return value.toordinal()
    try:
        return dt.date.fromisoformat(str(value)[:10]).toordinal()
    except ValueError:
        return None


def _party_codes(codes: Iterable[Any]) -> tuple[str, ...]:
    """A sorted party set; a party without a code ("?Name") is compared by its folded name."""
    out = set()
    for c in codes:
        if isinstance(c, str) and c:
            out.add(sys.intern(c) if not c.startswith("?") else "?" + fold(c[1:]).strip())
    return tuple(sorted(out))


_PARTY_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _interned(parties: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple per party set, shared by all its mentions (memory, in a large archive)."""
    if len(_PARTY_SETS) > 1_000_000:  # a bound, for a long-lived process
        _PARTY_SETS.clear()
    return _PARTY_SETS.setdefault(parties, parties)


def _spans(evidence: Any) -> list[dict[str, Any]]:
    out = []
    for s in evidence or ():
        if isinstance(s, Mapping) and isinstance(s.get("text"), str):
            out.append({"start": s.get("start"), "end": s.get("end"), "text": s["text"]})
    return out


def mentions_of(
    record: Mapping[str, Any], *, published: Any = None, order: int = 0
) -> list[Mention]:
    """The meetings and agreements of one record (an ArticleExtraction as a dict) as mentions.

    `published` is the article's publication date (ISO string or date), when known."""
    article_id = sys.intern(str(record.get("article_id") or ""))
    pub = _ordinal(published)
    officials = [o for o in record.get("officials") or () if isinstance(o, Mapping)]
    out: list[Mention] = []
    meetings = [m for m in record.get("meetings") or () if isinstance(m, Mapping)]
    for i, m in enumerate(meetings):
        parties = _party_codes(m.get("parties") or ())
        evidence = _spans(m.get("evidence"))
        said = " ".join(s["text"] for s in evidence)
        names = [n for n in m.get("officials") or () if isinstance(n, str)]
        if not names:  # the record's officials of these parties, when it has one such meeting
            same = [x for x in meetings if _party_codes(x.get("parties") or ()) == parties]
            if len(same) == 1:
                names = [str(o.get("name")) for o in officials if o.get("party") in parties]
        date = m.get("date") if isinstance(m.get("date"), Mapping) else None
        loc = m.get("location") if isinstance(m.get("location"), Mapping) else None
        forum = m.get("forum") if isinstance(m.get("forum"), str) and m.get("forum") else None
        out.append(
            _mention(
                article_id, f"meetings[{i}]", "meeting", parties, evidence, said,
                published=pub, order=order,
                date=_ordinal(date.get("start")) if date else None,
                date_end=_ordinal(date.get("end")) if date else None,
                city=str(loc["city"]).strip() if loc and loc.get("city") else None,
                country=loc.get("country") if loc else None,
                forum=forum, officials=names,
            )
        )  # fmt: skip
    for i, a in enumerate(record.get("agreements") or ()):
        if not isinstance(a, Mapping):
            continue
        evidence = _spans(a.get("evidence"))
        said = " ".join(s["text"] for s in evidence)
        folded = fold(said)
        # signatories: the record's officials the agreement's evidence names
        names = [
            str(o.get("name"))
            for o in officials
            if (s := surname(str(o.get("name") or ""))) and s in folded
        ]
        title = a.get("title") if isinstance(a.get("title"), str) and a.get("title") else None
        out.append(
            _mention(
                article_id, f"agreements[{i}]", "agreement",
                _party_codes(a.get("parties") or ()), evidence, said,
                published=pub, order=order, instrument=str(a.get("instrument") or "other"),
                status=str(a.get("status") or "signed"), date=_ordinal(a.get("date")),
                title=title, officials=names,
            )
        )  # fmt: skip
    if pub is None:
        named_days = [d for m in out for d in _days(m)]
        if named_days:
            for m in out:
                if m.date is None:
                    m.near = max(named_days)
                    m.settle_time()
    return out


def _mention(
    article_id: str,
    item: str,
    kind: str,
    parties: tuple[str, ...],
    evidence: list[dict[str, Any]],
    said: str,
    *,
    officials: list[str],
    title: str | None = None,
    forum: str | None = None,
    **fields: Any,
) -> Mention:
    quoted, years = quoted_dates(" ".join(x for x in (said, title or "") if x))
    m = Mention(
        article_id=article_id,
        item=sys.intern(item),
        kind=kind,
        parties=_interned(parties),
        title=title,
        forum=forum,
        officials=frozenset(s for n in officials if (s := surname(n))),
        # a sorted tuple takes a fifth of a frozenset's memory; sets are made when compared
        words=tuple(sorted(words(" ".join(x for x in (said, title or "", forum or "") if x)))),
        quoted=quoted,
        years=years,
        lang=language(said or title or forum or "") if title or forum else "?",
        evidence=json.dumps(evidence, ensure_ascii=False),
        **fields,
    )
    m.settle_time()
    return m


# ---------------------------------------------------------------- comparing two mentions


@dataclass(slots=True)
class Judgement:
    """Whether two mentions can be one event, how alike they are, and why."""

    possible: bool
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    timeless: bool = False  # nothing tells when one of the two happened


def _similarity(
    a: Collection[str],
    b: Collection[str],
    weight: Mapping[str, float],
    mass_a: float | None = None,
    mass_b: float | None = None,
) -> float:
    """Word overlap weighted by rarity (a rare shared word says more than a common one):
    weighted Jaccard, with each side's summed weight passed in when known."""
    if not a or not b:
        return 0.0
    shared = set(a).intersection(b)
    if not shared:
        return 0.0
    both = sum(weight.get(w, 1.0) for w in shared)
    ma = sum(weight.get(w, 1.0) for w in a) if mass_a is None else mass_a
    mb = sum(weight.get(w, 1.0) for w in b) if mass_b is None else mass_b
    union = ma + mb - both
    return both / union if union > 0 else 0.0


def _gap(a: When | Mention, b: When | Mention) -> float:
    """Days between two time intervals (0 when they overlap)."""
    return max(0.0, max(a.lo, b.lo) - min(a.hi, b.hi))


def _same_stage_time(a: Mention, b: Mention, out: Judgement) -> None:
    """Time evidence for two reports of one stage (a meeting, or one status of an agreement):
    the best pairing of the two mentions' readings of time; apart only when none can meet."""
    best: Judgement | None = None
    for x in a.times:
        for y in b.times:
            j = Judgement(True)
            _pair_time(x, y, j)
            if best is None or (j.possible, j.score) > (best.possible, best.score):
                best = j
    assert best is not None
    out.possible = best.possible
    out.score += best.score
    out.reasons.extend(best.reasons)
    out.timeless = best.timeless


def _pair_time(a: When, b: When, out: Judgement) -> None:
    kinds = {a.kind, b.kind}
    if "none" in kinds:
        # nothing to go on, and the same ministers meet again and again: other evidence must
        # be strong (wording, a title, a quoted date), and shared officials count for less
        out.score -= 0.5
        out.timeless = True
        return
    if "near" in kinds:
        if abs((a.at or 0) - (b.at or 0)) <= 3:
            out.score += 1  # weaker than a publication date: it only bounds it from below
            out.reasons.append("near the dates its record gives")
        return
    if kinds == {"exact"}:
        gap = _gap(a, b)
        if gap > DATE_SLACK:
            out.possible = False
            out.reasons.append(f"dates {int(gap)} days apart")
        else:
            out.score += 3
            out.reasons.append("same date" if a.lo == b.lo else f"dates within {DATE_SLACK} day")
        return
    if kinds == {"upper"}:
        gap = abs((a.at or 0) - (b.at or 0))
        if gap > REPORT_WINDOW:
            out.possible = False
            out.reasons.append(f"reported {gap} days apart")
        else:
            _recency(gap, out, a.doubtful or b.doubtful)
        return
    if kinds == {"exact", "upper"}:
        exact, upper = (a, b) if a.kind == "exact" else (b, a)
        if exact.lo > upper.hi and exact.on_publication:
            # a date that is merely the day of its own report ("date 2023-01-06 …", "today")
            # does not prove the event came after the other report: read it as that report's
            # publication, with less weight
            report = When("upper", -math.inf, exact.lo + DATE_SLACK, int(exact.lo), doubtful=True)
            _pair_time(report, upper, out)
            return
    if _gap(a, b) > 0:  # a date after the other report was published, or outside its years
        out.possible = False
        out.reasons.append("dates do not fit")
        return
    if "year" in kinds and "exact" not in kinds:
        other, year = (b, a) if a.kind == "year" else (a, b)
        if other.kind == "upper" and (other.at or 0) - (year.at or 0) > REPORT_WINDOW:
            out.score -= 2  # a recent report against one dated to an older year
            out.reasons.append("reported long after that year")
        elif other.kind == "year":
            out.score += 0.5
            out.reasons.append("same year")
        return
    if "year" in kinds:  # exact within the quoted years
        out.score += 0.5
        out.reasons.append("date within the year quoted")
        return
    exact, upper = (a, b) if a.kind == "exact" else (b, a)
    gap = (upper.at or 0) - exact.hi
    if gap > REPORT_WINDOW:
        out.possible = False
        out.reasons.append(f"reported {int(gap)} days after")
    else:
        _recency(max(0.0, gap), out, upper.doubtful)


def _apart_in_time(a: Mention, b: Mention) -> bool:
    """A quick test for the commonest incompatibility: two reports of one stage whose times
    cannot meet (as `_same_stage_time` would find)."""
    if (a.kind == "agreement" and a.status != b.status) or len(a.times) + len(b.times) > 2:
        return False
    x, y = a.times[0], b.times[0]
    wa, wb = x.kind, y.kind
    if wa == "exact" and wb == "exact":
        return _gap(x, y) > DATE_SLACK
    if wa == "upper" and wb == "upper":
        return abs((x.at or 0) - (y.at or 0)) > REPORT_WINDOW
    if wa in ("none", "near") or wb in ("none", "near") or x.on_publication or y.on_publication:
        return False
    if _gap(x, y) > 0:
        return True
    if wa == "exact" and wb == "upper":
        return (y.at or 0) - x.hi > REPORT_WINDOW
    if wb == "exact" and wa == "upper":
        return (x.at or 0) - y.hi > REPORT_WINDOW
    return False


def _recency(gap: float, out: Judgement, doubtful: bool = False) -> None:
    """News reports what just happened: two reports days apart likely speak of one event
    (half as likely when one's evidence dates itself earlier)."""
    if gap <= 3:
        out.score += 1 if doubtful else 2
        out.reasons.append("reported within 3 days")
    elif gap <= 10:
        out.score += 0.5 if doubtful else 1
        out.reasons.append("reported within 10 days")
    elif gap > 45:
        out.score -= 1.5


def _days(m: Mention) -> set[int]:
    """Every day a mention names: its own date and the dates its evidence quotes."""
    out = set(m.quoted)
    if m.date is not None:
        out.add(m.date)
    out.update(int(t.lo) for t in m.times if t.kind == "exact")
    return out


def _days_meet(a: set[int], b: set[int]) -> bool:
    return any(abs(x - y) <= DATE_SLACK for x in a for y in b)


def _lifecycle_time(a: Mention, b: Mention, out: Judgement) -> None:
    """Time evidence for two stages of one agreement (e.g. approved, then signed)."""
    out.score -= 1  # different stages need more evidence than two reports of one
    if _days_meet(_days(a), _days(b)):
        out.score += 3  # a later report restating the signing date ("signed on June 8")
        out.reasons.append("same date")
        return
    ra, rb = _STAGE.get(a.status or ""), _STAGE.get(b.status or "")
    if ra is not None and rb is not None:
        early, late = (a, b) if ra < rb else (b, a)
        # a stage reported after a later stage had already happened is another instrument
        early_at = early.lo if early.when in ("exact", "year") else early.published
        late_at = late.hi if late.when in ("exact", "year", "upper") else None
        if early_at is not None and late_at is not None and early_at > late_at + 7:
            out.possible = False
            out.reasons.append(f"{early.status} after {late.status}")
            return
    ta, tb = a.anchor, b.anchor
    if ta is None or tb is None:
        out.timeless = True
        return
    gap, hint = abs(ta - tb), "near" in (a.when, b.when)
    if gap > LIFECYCLE_WINDOW and not hint:
        out.possible = False
        out.reasons.append(f"stages {gap} days apart")
    elif gap <= 3:
        # e.g. an approval giving the signing date and a report of the signing that day
        out.score += 1 if hint else 2
        out.reasons.append("reported within 3 days")
    elif gap <= 60:
        out.score += 0.5


def _both(x: Any, y: Any) -> bool:
    return bool(x) and bool(y)


def compare(a: Mention, b: Mention, weight: Mapping[str, float] | None = None) -> Judgement:
    """Can two mentions of one block (same kind, parties, instrument) be one event, and how
    alike are they? Symmetric and deterministic."""
    weight = weight or {}
    out = Judgement(True)
    if a.article_id == b.article_id:
        out.possible = False  # the extractor already told apart what one article reports
        out.reasons.append("same article")
        return out
    if a.kind == "meeting" or a.status == b.status:
        _same_stage_time(a, b, out)
    else:
        _lifecycle_time(a, b, out)
    if not out.possible:
        return out

    if _both(a.country, b.country):
        if a.country != b.country:
            out.possible = False
            out.reasons.append("different countries")
            return out
        if not _both(a.city, b.city):
            out.score += 0.5
            out.reasons.append("same country")
        elif fuzz.ratio(fold(a.city), fold(b.city)) >= 85:
            out.score += 1
            out.reasons.append("same city")
        else:
            out.score -= 1
            out.reasons.append("different cities")

    for what, x, y, bonus, malus in (
        ("forum", a.forum, b.forum, 1.5, 2.0),
        ("title", a.title, b.title, 2.0, 3.0),
    ):
        if not _both(x, y):
            continue
        nx, ny = numbers(x), numbers(y)
        if nx and ny and not nx & ny:
            out.possible = False  # the 71st and the 72nd assembly; supplement 2 and 3
            out.reasons.append(f"differently numbered {what}s")
            return out
        tx, ty = title_words(x), title_words(y)
        # the distinctive words decide; a title of generic words only ("MoU on cooperation in
        # the field of health") counts when it is the same title, word for word
        sim = _similarity(tx, ty, weight) if tx and ty else 0.0
        if sim >= 0.5 or (not tx and not ty and _similarity(words(x), words(y), weight) >= 0.8):
            out.score += bonus
            out.reasons.append(f"same {what}")
        elif tx and ty and sim < 0.15 and a.lang == b.lang:
            out.score -= malus
            out.reasons.append(f"different {what}s")

    if _both(a.officials, b.officials):
        shared = a.officials & b.officials or {
            x for x in a.officials for y in b.officials if fuzz.ratio(x, y) >= 85
        }
        if shared:
            out.score += (1.5 if len(shared) == 1 else 2.5) / (2 if out.timeless else 1)
            out.reasons.append("same officials" if a.kind == "meeting" else "same signatories")

    sim = _similarity(a.words, b.words, weight, a.mass or None, b.mass or None)
    if sim >= 0.2:  # graded, so that among several candidates the closest wording wins
        out.score += min(2.5, 4 * sim)
        out.reasons.append("same wording" if sim >= 0.5 else "similar wording")

    dated = any(r.startswith(("same date", "dates within")) for r in out.reasons)
    if not dated and _days_meet(a.quoted, _days(b)) | _days_meet(_days(a), b.quoted):
        out.score += 1.5
        out.reasons.append("same date quoted")
    return out


# ---------------------------------------------------------------- grouping a block


class _Groups:
    """Union-find over a block's mentions that refuses a merge across an incompatible pair."""

    def __init__(self, mentions: list[Mention], weight: Mapping[str, float]) -> None:
        self.mentions = mentions
        self.weight = weight
        self.parent = list(range(len(mentions)))
        self.members: dict[int, list[int]] = {i: [i] for i in range(len(mentions))}
        self.reasons: dict[int, list[str]] = {i: [] for i in range(len(mentions))}
        self._possible: dict[tuple[int, int], bool] = {}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def possible(self, i: int, j: int) -> bool:
        key = (i, j) if i < j else (j, i)
        if key not in self._possible:
            a, b = self.mentions[i], self.mentions[j]
            self._possible[key] = compare(a, b, self.weight).possible
        return self._possible[key]

    def merge(self, i: int, j: int, reasons: list[str]) -> bool:
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return False
        mi, mj = self.members[ri], self.members[rj]
        articles = {self.mentions[k].article_id for k in mi}
        if any(self.mentions[k].article_id in articles for k in mj):
            return False
        if not all(self.possible(x, y) for x in mi for y in mj):
            return False
        if len(mi) < len(mj):
            ri, rj, mi, mj = rj, ri, mj, mi
        self.parent[rj] = ri
        mi.extend(mj)
        self.reasons[ri] = [*self.reasons[ri], *self.reasons.pop(rj), *reasons]
        del self.members[rj]
        return True


def _candidates(block: list[Mention], weight: Mapping[str, float]) -> Iterator[tuple[int, int]]:
    """Pairs worth scoring: every pair of a small block; in a large one, timed mentions within
    `NEAR` days of each other, and any two within the block's window that share a key (an
    official, a city, a word of a title or forum, a quoted date, a rare word of the evidence;
    only KEY_NEAR days for a key very many share). Mentions with no time at all are paired
    through keys only."""
    n = len(block)
    if n <= SMALL_BLOCK:
        for i in range(n):
            for j in range(i + 1, n):
                yield i, j
        return
    seen: set[tuple[int, int]] = set()
    timed = sorted((i for i in range(n) if block[i].anchor is not None),
                   key=lambda i: block[i].anchor or 0)  # fmt: skip
    for x, i in enumerate(timed):
        ti = block[i].anchor or 0
        for j in timed[x + 1 :]:
            if (block[j].anchor or 0) - ti > NEAR:
                break
            pair = (i, j) if i < j else (j, i)
            seen.add(pair)
            yield pair
    window = WINDOW[block[0].kind]
    index: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(block):
        for k in _index_keys(m, weight):
            index[k].append(i)
    for posting in index.values():
        if len(posting) < 2:
            continue
        # a key many mentions share (a minister's name) pairs only those close in time
        span = window if len(posting) <= MAX_POSTING else KEY_NEAR
        posting.sort(key=lambda i: (block[i].anchor is None, block[i].anchor or 0))
        for x, i in enumerate(posting):
            ti = block[i].anchor
            if ti is None and len(posting) > MAX_POSTING:
                break  # no time and a common key: too little to go on
            for j in posting[x + 1 :]:
                tj = block[j].anchor
                if ti is not None and tj is not None and tj - ti > span:
                    break
                pair = (i, j) if i < j else (j, i)
                if pair not in seen:
                    seen.add(pair)
                    yield pair


def _index_keys(m: Mention, weight: Mapping[str, float]) -> set[str]:
    keys = {f"o:{s}" for s in m.officials}
    if m.city:
        keys.add(f"c:{fold(m.city)}")
    for text in (m.forum, m.title):
        if text:
            keys.update(f"w:{w}" for w in title_words(text))
    keys.update(f"d:{d}" for d in m.quoted)
    rare = sorted(m.words, key=lambda w: (-weight.get(w, 1.0), w))[:RARE_KEYS]
    keys.update(f"r:{w}" for w in rare)
    return keys


_Edge = tuple[float, int, int, list[str]]  # (score, i, j, reasons)


def _assignment(edges: list[_Edge]) -> list[_Edge]:
    """The edges between two articles' mentions that pair each mention at most once with the
    highest total score: two articles that both report two agreements pair them off as a whole
    (a date both share must not pair the wrong two just because it is scored first)."""
    left = sorted({e[1] for e in edges})
    right = sorted({e[2] for e in edges})
    if len(left) > len(right):
        edges = [(s, j, i, r) for s, i, j, r in edges]
        left, right = right, left
    if len(right) > 12:  # rare; the greedy pairing is good enough there
        taken: set[int] = set()
        out = []
        for e in sorted(edges, key=lambda e: (-e[0], e[1], e[2])):
            if e[1] not in taken and e[2] not in taken:
                taken.update((e[1], e[2]))
                out.append(e)
        return out
    col = {j: n for n, j in enumerate(right)}
    by_row: dict[int, list[_Edge]] = defaultdict(list)
    for e in edges:
        by_row[e[1]].append(e)
    # best[mask] = (total, chosen edges) over the rows seen so far, right side used = mask
    best: dict[int, tuple[float, tuple[_Edge, ...]]] = {0: (0.0, ())}
    for i in left:
        nxt = dict(best)
        for mask, (total, chosen) in best.items():
            for e in by_row[i]:
                bit = 1 << col[e[2]]
                if mask & bit:
                    continue
                cand = (total + e[0], (*chosen, e))
                if cand[0] > nxt.get(mask | bit, (-1.0, ()))[0]:
                    nxt[mask | bit] = cand
        best = nxt
    chosen = max(best.values(), key=lambda v: (v[0], -len(v[1])))[1]
    return list(chosen)


def group_block(
    block: list[Mention], weight: Mapping[str, float], summary: Summary | None = None
) -> list[tuple[list[Mention], list[str]]]:
    """The events of one block: groups of mentions, each with the reasons it was merged
    (`summary`, when given, counts the pairs compared).

    Pairs scoring above zero are first paired off article against article (each mention with
    at most one of the other article's, best total first); of those, the pairs scoring at
    least MERGE_SCORE are merged best first, never across an incompatible pair."""
    groups = _Groups(block, weight)
    by_articles: dict[tuple[str, str], list[_Edge]] = defaultdict(list)
    for i, j in _candidates(block, weight):
        a, b = block[i], block[j]
        if a.article_id == b.article_id or _apart_in_time(a, b):
            continue  # the common case in a large block, settled before the full comparison
        judged = compare(a, b, weight)
        if summary is not None:
            summary.pairs += 1
        groups._possible[(i, j)] = judged.possible
        if judged.possible and judged.score > 0:
            if a.article_id < b.article_id:
                by_articles[(a.article_id, b.article_id)].append(
                    (judged.score, i, j, judged.reasons)
                )
            else:
                by_articles[(b.article_id, a.article_id)].append(
                    (judged.score, j, i, judged.reasons)
                )
    edges = []
    for found in by_articles.values():
        paired = found if len(found) == 1 else _assignment(found)
        edges.extend(e for e in paired if e[0] >= MERGE_SCORE)
    edges.sort(key=lambda e: (-e[0], min(e[1], e[2]), max(e[1], e[2])))
    for _, i, j, reasons in edges:
        groups.merge(i, j, reasons)
    out = []
    for root in sorted(groups.members):
        members = sorted(groups.members[root])
        out.append(([block[k] for k in members], groups.reasons[root]))
    return out


# ---------------------------------------------------------------- events


def _iso(ordinal: float | None) -> str | None:
    if ordinal is None or math.isinf(ordinal):
        return None
    return dt.date.fromordinal(int(ordinal)).isoformat()


def _first(ms: list[Mention]) -> Mention:
    """The mention reported first: by publication, else by its own date, else input order."""
    return min(ms, key=lambda m: (m.published is None, m.published or 0, m.anchor is None,
                                  m.anchor or 0, m.article_id, m.item))  # fmt: skip


@dataclass
class _Step:
    status: str
    date: int | None  # when the stage happened, as far as the records say
    reported: int | None  # when it was first reported (publication)
    article_id: str  # the first article reporting it
    rank: float  # where it goes when time does not tell: proposed, pending, approved, signed

    @property
    def time(self) -> float:
        if self.date is not None:
            return self.date
        return math.inf if self.reported is None else self.reported


def lifecycle(ms: list[Mention]) -> list[dict[str, Any]]:
    """The statuses an agreement went through, in time order, each with its date (the date
    the records give it, else the day it was first reported, else null) and the first article
    that reports it. An approval that gives the signing date comes after the signing."""
    by_status: dict[str, list[Mention]] = defaultdict(list)
    for m in ms:
        by_status[m.status or "signed"].append(m)
    steps = []
    for status, group in by_status.items():
        dates = [int(m.lo) for m in group if m.when == "exact"]
        reported = [m.published for m in group if m.published is not None]
        steps.append(
            _Step(
                status,
                min(dates) if dates else None,
                min(reported) if reported else None,
                _first(group).article_id,
                _STAGE.get(status, 1.5),
            )
        )
    signed = next((s for s in steps if s.status == "signed"), None)
    for s in steps:
        if s.status != "approved" or signed is None or signed.date is None:
            continue
        named = {d for m in by_status["approved"] for d in _days(m)}
        if (s.date is None or abs(s.date - signed.date) <= DATE_SLACK) and _days_meet(
            named, {signed.date}
        ):
            # an approval that gives the signing date is an approval after the fact
            later = s.reported is not None and s.reported > signed.date
            s.date = s.reported if later else signed.date
            s.rank = 3
    timed = sorted((s for s in steps if s.time != math.inf), key=lambda s: (s.time, s.rank))
    # stages reported within a week of each other go by rank: a report of "pending" the day
    # after another of "signed" is a stale report, not a step back
    for _ in range(len(timed)):
        for n in range(len(timed) - 1):
            x, y = timed[n], timed[n + 1]
            if y.time - x.time <= 7 and y.rank < x.rank:
                timed[n], timed[n + 1] = y, x
    for s in sorted((s for s in steps if s.time == math.inf), key=lambda s: s.rank):
        # a stage with no time goes where its rank puts it among the timed ones
        at = next((n for n, t in enumerate(timed) if t.rank > s.rank), len(timed))
        timed.insert(at, s)
    out = []
    for s in timed:
        restated = s.rank == 3 and signed is not None and s.date == signed.date
        # the stage's own date, else the day it was first reported
        date = s.reported if restated or s.date is None else s.date
        out.append({"status": s.status, "date": _iso(date), "article_id": s.article_id})
    return out


def _mode(values: Iterable[Any]) -> Any:
    counted = Counter(v for v in values if v is not None)
    if not counted:
        return None
    top = max(counted.values())
    return min(v for v, c in counted.items() if c == top)


def event_id(kind: str, parties: tuple[str, ...], instrument: str | None, first: Mention) -> str:
    """Stable: derived from what the event is and the mention that first reported it."""
    basis = "|".join([kind, "+".join(parties), instrument or "", first.article_id, first.item])
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]
    return f"{'mtg' if kind == 'meeting' else 'agr'}-{digest}"


def build_event(ms: list[Mention], reasons: list[str]) -> dict[str, Any]:
    """An event (a plain JSON-able dict) from its mentions and the reasons they were merged."""
    ms = sorted(ms, key=lambda m: (m.published is None, m.published or 0, m.anchor or 0,
                                   m.article_id, m.item))  # fmt: skip
    head = ms[0]
    kind, parties, instrument = head.kind, head.parties, head.instrument
    first = _first(ms)
    if kind == "agreement":
        steps = lifecycle(ms)
        signed = [s for s in steps if s["status"] == "signed"]
        date = signed[0]["date"] if signed else None
        status = steps[-1]["status"] if steps else None
    else:
        steps, status = [], None
        date = _iso(_mode(m.date for m in ms))
    country = _mode(m.country for m in ms)
    city = _mode(m.city for m in ms if m.country in (country, None))
    location = {"city": city, "country": country} if city or country else None
    because = list(dict.fromkeys(reasons))
    if len(ms) > 1:
        lead = [f"same parties {'+'.join(parties)}"]
        if instrument:
            lead.append(f"same instrument {instrument}")
        because = lead + because
    else:
        because = ["single mention"]
    titles = [m.title for m in ms if m.title]
    forums = [m.forum for m in ms if m.forum]
    event: dict[str, Any] = {
        "event_id": event_id(kind, parties, instrument, first),
        "kind": kind,
        "parties": list(parties),
        "instrument": instrument,
        "date": date,
        "location": location,
        "status": status,
        "lifecycle": steps,
        "title": max(titles, key=lambda t: (titles.count(t), -len(t))) if titles else None,
        "mentions": [
            {
                "article_id": m.article_id,
                "item": m.item,
                "status": m.status,
                "date": _iso(m.date),
                "published": _iso(m.published),
                "evidence": json.loads(m.evidence),
            }
            for m in ms
        ],
        "because": because,
    }
    if kind == "meeting":
        event["forum"] = max(forums, key=lambda t: (forums.count(t), -len(t))) if forums else None
    return event


# ---------------------------------------------------------------- whole runs


@dataclass
class Summary:
    """What a consolidation read and wrote."""

    records: int = 0
    relevant: int = 0
    skipped_errors: int = 0
    skipped_irrelevant: int = 0
    mentions: int = 0
    events: int = 0
    merged_events: int = 0  # events with two or more mentions
    blocks: int = 0
    pairs: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _record_of(raw: Any, where: str) -> tuple[Mapping[str, Any] | None, Any]:
    """(record, published) from a bulk-runner line, a bare record or a pydantic model; a
    record of None for an error line."""
    if hasattr(raw, "model_dump"):
        raw = raw.model_dump(mode="json")
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    status = raw.get("status")
    if status is None and "relevant" in raw:
        return raw, raw.get("published")
    if status == "ok" and isinstance(raw.get("extraction"), Mapping):
        return raw["extraction"], raw.get("published")
    if status == "error":
        return None, None
    raise InputError(
        f"{where}: not a bulk-runner line ({{article_id, status, extraction}}) "
        "nor an ArticleExtraction"
    )


class Consolidator:
    """Collects mentions record by record (streaming), then groups them into events."""

    def __init__(self, published: Mapping[str, Any] | None = None, *, naive: bool = False) -> None:
        self.published = published or {}
        self.naive = naive
        self.blocks: dict[tuple[str, tuple[str, ...], str | None], list[Mention]] = defaultdict(
            list
        )
        self.df: Counter[str] = Counter()
        self.summary = Summary()
        self._kept: dict[str, tuple[bool, set[tuple[str, tuple[str, ...], str | None]]]] = {}

    def add(self, raw: Any, where: str = "record") -> None:
        """Take one bulk-runner line, ArticleExtraction dict or model."""
        record, published = _record_of(raw, where)
        self.summary.records += 1
        if record is None:
            self.summary.skipped_errors += 1  # an error line; an ok line for it may follow
            return
        article_id = sys.intern(str(record.get("article_id") or ""))
        if article_id in self._kept:  # a retried run wrote it twice: the later line wins
            self._drop(article_id)
        if not record.get("relevant"):
            self.summary.skipped_irrelevant += 1
            self._kept[article_id] = (False, set())
            return
        self.summary.relevant += 1
        keys = set()
        pub = self.published.get(article_id, published)
        for m in mentions_of(record, published=pub, order=self.summary.records):
            key = (m.kind, m.parties, m.instrument)
            self.blocks[key].append(m)
            keys.add(key)
            self.df.update(m.words)
            self.summary.mentions += 1
        self._kept[article_id] = (True, keys)

    def _drop(self, article_id: str) -> None:
        relevant, keys = self._kept.pop(article_id)
        if not relevant:
            self.summary.skipped_irrelevant -= 1
            return
        self.summary.relevant -= 1
        for key in keys:
            block = self.blocks[key]
            gone = [m for m in block if m.article_id == article_id]
            self.blocks[key] = [m for m in block if m.article_id != article_id]
            for m in gone:
                self.df.subtract(m.words)
                self.summary.mentions -= 1

    def events(self) -> Iterator[dict[str, Any]]:
        """The events, block by block, in a stable order."""
        # rarity over the whole input, smoothed so that a handful of records weighs words
        # about evenly (the two mentions compared must not make their shared words common)
        n = self.summary.mentions + IDF_SMOOTHING
        weight = {w: math.log(n / (c + 1)) for w, c in self.df.items() if c > 0}
        for key in sorted(self.blocks, key=lambda k: (k[0], k[1], k[2] or "")):
            block = sorted(self.blocks[key], key=lambda m: (m.order, m.item))
            if not block:
                continue
            self.summary.blocks += 1
            for m in block:
                m.mass = sum(weight.get(w, 1.0) for w in m.words)
            if self.naive:
                groups = [(block, ["same kind, parties and instrument (baseline)"])]
            else:
                groups = group_block(block, weight, self.summary)
            for ms, reasons in groups:
                self.summary.events += 1
                self.summary.merged_events += len(ms) > 1
                yield build_event(ms, reasons)


def consolidate(
    records: Iterable[Any],
    *,
    published: Mapping[str, Any] | None = None,
    naive: bool = False,
) -> list[dict[str, Any]]:
    """One event per real-world meeting or agreement across the records.

    `records`: bulk-runner lines (`{"article_id", "status", "extraction"}`), ArticleExtraction
    dicts or models. `published`: article id → publication date, when the records do not carry
    it (a bulk line may carry `published` beside `extraction`). `naive=True` is the baseline:
    every mention of one kind, party set and instrument is one event."""
    c = Consolidator(published, naive=naive)
    for n, raw in enumerate(records, 1):
        c.add(raw, f"record {n}")
    return list(c.events())


# ---------------------------------------------------------------- files


def _open_text(path: Path) -> IO[str]:
    return io.TextIOWrapper(open_read(path), encoding="utf-8")


def iter_jsonl(path: str | Path, what: str = "results") -> Iterator[tuple[str, Any]]:
    """(where, object) for each line of a JSON-lines file (optionally .gz), one at a time."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such {what} file: {p}", field=what)
    with _open_text(p) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield f"{p.name}:{n}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{p}:{n}: not valid JSON ({exc.msg})", field=what) from None


def read_published(path: str | Path, *, id_field: str = "id") -> dict[str, str]:
    """Article id → publication date from an archive (.jsonl, .jsonl.gz, .csv, .tsv) with `id`
    and `published` fields. Texts are read past, not kept."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such articles file: {p}", field="articles")
    out: dict[str, str] = {}
    name = p.name.removesuffix(".gz")
    if name.endswith((".csv", ".tsv")):
        csv.field_size_limit(1 << 30)
        with _open_text(p) as f:
            for row in csv.DictReader(f, delimiter="\t" if name.endswith(".tsv") else ","):
                if row.get(id_field) and row.get("published"):
                    out[str(row[id_field])] = row["published"]
        return out
    for _, obj in iter_jsonl(p, "articles"):
        if isinstance(obj, Mapping) and obj.get(id_field) and obj.get("published"):
            out[str(obj[id_field])] = str(obj["published"])
    return out


def consolidate_file(
    source: str | Path,
    out: str | Path,
    *,
    articles: str | Path | None = None,
    naive: bool = False,
) -> Summary:
    """Read results (JSON lines, streamed), write events (JSON lines) to `out`; with
    `articles`, publication dates come from that archive."""
    published = read_published(articles) if articles else None
    c = Consolidator(published, naive=naive)
    for where, obj in iter_jsonl(source):
        c.add(obj, where)
    target = Path(out)
    partial = target.with_name(target.name + ".partial")
    with open_write(partial, gz=is_gzip(target)) as f:
        for event in c.events():
            f.write(json.dumps(event, ensure_ascii=False) + "\n")
    partial.replace(target)
    return c.summary
