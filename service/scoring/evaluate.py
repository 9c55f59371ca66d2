"""Scoring: how far a run of the extractor is from the gold records (annotation-guide format).

Pure functions: gold records and predictions in, a `Report` out; no model, no files. Both sides
are first reduced to `Facts` (what an article says, in the terms the gold uses), then compared
field by field with one-to-one matching. The rules are documented here at the function that
applies them, and for readers in the README (section "Evaluation").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rapidfuzz import fuzz

from healthcoop.schemas import (
    AgreementStatus,
    Alignment,
    Area,
    ArticleExtraction,
    Instrument,
    MechanismKind,
    MechanismStatus,
    PartyKind,
)

from ..core.grounding import fold
from ..core.normalise import clean_person_name
from ..errors import InputError, describe, problems

#: the scored fields, in the order reports show them; micro-F1 sums over all of them
FIELDS = (
    "relevance",
    "countries",
    "organizations",
    "officials",
    "official_party",
    "meetings",
    "meeting_date",
    "agreements",
    "mechanisms",
    "areas",
)

#: rapidfuzz score (0-100) at which two folded names are the same name
NAME_THRESHOLD = 85.0
#: under the surname rule, how alike the first given names must be ("Mohammad" ~ "Muhammad")
GIVEN_NAME_THRESHOLD = 75.0


# ---------------------------------------------------------------- gold records


class _Gold(BaseModel):
    # a misspelt key would silently score as an empty list, so unknown keys are refused
    model_config = ConfigDict(extra="forbid")


class GoldOfficial(_Gold):
    name: str
    party: str | None = None


class GoldMeeting(_Gold):
    parties: list[str] = Field(default_factory=list)
    date: dt.date | None = None
    location_country: str | None = None


class GoldAgreement(_Gold):
    instrument: Instrument
    status: AgreementStatus
    parties: list[str] = Field(default_factory=list)


class GoldMechanism(_Gold):
    kind: MechanismKind
    status: MechanismStatus


class GoldRecord(_Gold):
    """One line of a gold file, as `shared/spec/annotation-guide.md` defines it."""

    id: str
    relevant: bool
    countries: list[str] = Field(default_factory=list)
    organizations: list[str] = Field(default_factory=list)
    officials: list[GoldOfficial] = Field(default_factory=list)
    meetings: list[GoldMeeting] = Field(default_factory=list)
    agreements: list[GoldAgreement] = Field(default_factory=list)
    mechanisms: list[GoldMechanism] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)
    note: str | None = None


def _problems(exc: ValidationError) -> str:
    return describe(problems(exc, default="record"), limit=10)


def parse_gold(obj: Mapping[str, Any] | GoldRecord) -> GoldRecord:
    """A gold record from its JSON object; InputError saying what is wrong otherwise."""
    if isinstance(obj, GoldRecord):
        return obj
    try:
        return GoldRecord.model_validate(obj)
    except ValidationError as exc:
        what = obj.get("id") if isinstance(obj, Mapping) else None
        raise InputError(f"gold record {what or '?'}: {_problems(exc)}") from None


# ---------------------------------------------------------------- predictions


@dataclass(frozen=True)
class Prediction:
    """What a run produced for one article: a record, or the error that stopped it."""

    article_id: str
    status: Literal["ok", "error"]
    extraction: ArticleExtraction | None = None
    error: Mapping[str, Any] | None = None


def parse_prediction(obj: Mapping[str, Any] | ArticleExtraction | Prediction) -> Prediction:
    """A prediction from an ArticleExtraction, its JSON object, or a bulk-runner line
    (`{"article_id", "status": "ok", "extraction"}` / `{"article_id", "status": "error",
    "error"}`)."""
    if isinstance(obj, Prediction):
        return obj
    if isinstance(obj, ArticleExtraction):
        return Prediction(obj.article_id, "ok", extraction=obj)
    if not isinstance(obj, Mapping):
        raise InputError(f"a prediction must be a JSON object, not {type(obj).__name__}")
    status = obj.get("status")
    if status is None and "relevant" in obj:
        record: Any = obj  # a bare ArticleExtraction
    elif status == "ok":
        record = obj.get("extraction")
    elif status == "error":
        article_id = obj.get("article_id")
        if not isinstance(article_id, str) or not article_id:
            raise InputError("an error line has no article_id")
        error = obj.get("error")
        return Prediction(article_id, "error", error=error if isinstance(error, Mapping) else {})
    else:
        raise InputError(
            f"prediction for {obj.get('article_id') or '?'}: status must be 'ok' or 'error' "
            f"(or a bare ArticleExtraction), not {status!r}"
        )
    try:
        extraction = ArticleExtraction.model_validate(record)
    except ValidationError as exc:
        raise InputError(
            f"prediction for {obj.get('article_id') or '?'}: not an ArticleExtraction: "
            f"{_problems(exc)}"
        ) from None
    return Prediction(obj.get("article_id") or extraction.article_id, "ok", extraction=extraction)


def collect_predictions(predictions: Iterable[Any]) -> dict[str, Prediction]:
    """Predictions by article id. When an article has several (a bulk run retried), a
    successful one beats an error, and among equals the later line wins."""
    out: dict[str, Prediction] = {}
    for raw in predictions:
        p = parse_prediction(raw)
        before = out.get(p.article_id)
        if before is None or p.status == "ok" or before.status == "error":
            out[p.article_id] = p
    return out


# ---------------------------------------------------------------- facts: both sides alike


@dataclass(frozen=True)
class Person:
    name: str
    party: str | None


@dataclass(frozen=True)
class MeetingFact:
    parties: tuple[str, ...]
    date: str | None  # ISO date of the first day
    location_country: str | None


@dataclass(frozen=True)
class AgreementFact:
    instrument: str
    status: str
    parties: tuple[str, ...]


@dataclass(frozen=True)
class MechanismFact:
    kind: str
    status: str


@dataclass(frozen=True)
class Facts:
    """What one article says, in the terms of the gold format: the unit of comparison.
    Party codes are ISO alpha-3 or gazetteer codes; a party with neither is `"?Name"`."""

    relevant: bool = False
    countries: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    officials: tuple[Person, ...] = ()
    meetings: tuple[MeetingFact, ...] = ()
    agreements: tuple[AgreementFact, ...] = ()
    mechanisms: tuple[MechanismFact, ...] = ()
    areas: tuple[str, ...] = ()


NOTHING = Facts()  # an error or a missing prediction: not relevant, no items


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _party_set(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(codes)))


def gold_facts(gold: GoldRecord) -> Facts:
    """The facts of a gold record (lists of codes are sets: a repeated code counts once)."""
    return Facts(
        relevant=gold.relevant,
        countries=_unique(gold.countries),
        organizations=_unique(gold.organizations),
        officials=tuple(Person(clean_person_name(o.name), o.party) for o in gold.officials),
        meetings=tuple(
            MeetingFact(
                _party_set(m.parties),
                m.date.isoformat() if m.date else None,
                m.location_country,
            )
            for m in gold.meetings
        ),
        agreements=tuple(
            AgreementFact(a.instrument.value, a.status.value, _party_set(a.parties))
            for a in gold.agreements
        ),
        mechanisms=tuple(MechanismFact(m.kind.value, m.status.value) for m in gold.mechanisms),
        areas=_unique(a.value for a in gold.areas),
    )


# The organization codes the contract seeds the gazetteer with. Annotators write any other
# organization as "?Name as written", so the scorer does the same with codes our larger
# gazetteer adds (COVAX, UN, ...): the gold cannot name them by code.
CONTRACT_ORGANIZATIONS = frozenset(
    {
        "WHO", "PAHO", "UNICEF", "UNFPA", "UNAIDS", "UNDP", "UNHCR", "WFP", "FAO", "IOM", "ICRC",
        "IFRC", "MSF", "GAVI", "CEPI", "GLOBAL_FUND", "WORLD_BANK", "ISDB", "ADB", "OIC", "SCO",
        "BRICS", "ASEAN", "AU", "AFRICA_CDC", "ECOWAS", "EU", "GCC", "ARAB_LEAGUE", "CIS", "EAEU",
        "MERCOSUR", "CARICOM", "OTS", "SAARC", "G20", "OECD", "BMGF",
    }
)  # fmt: skip


def predicted_facts(record: ArticleExtraction) -> Facts:
    """The facts of a predicted record, scored as given (its lists count even when it says
    relevant=false). A party without a code, or an organization whose code the contract's
    gazetteer lacks, is written `"?name"`, as the gold writes it."""
    named = {
        p.code: f"?{p.name}"
        for p in record.parties
        if p.kind is PartyKind.organization and p.code and p.code not in CONTRACT_ORGANIZATIONS
    }

    def as_gold(code: str) -> str:
        return named.get(code, code)

    def code(kind: PartyKind) -> list[str]:
        return [as_gold(p.code) if p.code else f"?{p.name}" for p in record.parties
                if p.kind is kind]  # fmt: skip

    return Facts(
        relevant=record.relevant,
        countries=_unique(code(PartyKind.country)),
        organizations=_unique(code(PartyKind.organization)),
        officials=tuple(Person(clean_person_name(o.name), o.party) for o in record.officials),
        meetings=tuple(
            MeetingFact(
                _party_set(map(as_gold, m.parties)),
                m.date.start.isoformat() if m.date else None,
                m.location.country if m.location else None,
            )
            for m in record.meetings
        ),
        agreements=tuple(
            AgreementFact(a.instrument.value, a.status.value, _party_set(map(as_gold, a.parties)))
            for a in record.agreements
        ),
        mechanisms=tuple(MechanismFact(m.kind.value, m.status.value) for m in record.mechanisms),
        areas=_unique(a.value for a in record.areas),
    )


# ---------------------------------------------------------------- names


def _tokens(name: str) -> list[str]:
    """Folded (case, accents, quotes) word tokens; hyphens and dots separate words."""
    return re.findall(r"\w+", fold(name).text)


def person_score(gold: str, pred: str) -> float | None:
    """How alike two person names are (0-100), or None when they are not the same person.

    Honorifics and post-nominals are stripped, case and accents folded. The same person when
    the whole names agree (rapidfuzz ratio with spaces and hyphens removed, or the token-sorted
    ratio, >= NAME_THRESHOLD: "Mohammad-Reza Zafarqandi" ~ "Mohammadreza Zafarghandi", "Xi
    Jinping" ~ "Jinping Xi"), or by the surname rule: both names have two or more words, the
    last words agree (>= NAME_THRESHOLD) and the first words agree (>= GIVEN_NAME_THRESHOLD, or
    one is the other's initial): "Tedros Adhanom Ghebreyesus" ~ "Tedros Ghebreyesus".
    """
    a, b = _tokens(clean_person_name(gold)), _tokens(clean_person_name(pred))
    if not a or not b:
        return None
    whole = max(fuzz.ratio("".join(a), "".join(b)), fuzz.token_sort_ratio(" ".join(a), " ".join(b)))
    if whole >= NAME_THRESHOLD:
        return whole
    if len(a) < 2 or len(b) < 2 or fuzz.ratio(a[-1], b[-1]) < NAME_THRESHOLD:
        return None
    first_a, first_b = a[0], b[0]
    initial = (len(first_a) == 1 or len(first_b) == 1) and first_a[0] == first_b[0]
    if initial or fuzz.ratio(first_a, first_b) >= GIVEN_NAME_THRESHOLD:
        return whole  # matchable, and ranked below whole-name matches
    return None


_MINOR = {"of", "the", "and", "for", "on", "in", "de", "du", "des", "la", "le", "al"}


def _acronym(words: list[str]) -> str:
    return "".join(w[0] for w in words if w not in _MINOR)


def party_name_score(gold: str, pred: str) -> float | None:
    """How alike two names of parties without a code are (0-100), or None when they differ.

    Folded names agree when their ratio or token-sorted ratio is >= NAME_THRESHOLD, when all
    the words of one occur in the other ("COVAX" ~ "COVAX Facility"), or when one is a single
    word that is the other's acronym ("TRNC" ~ "Turkish Republic of Northern Cyprus").
    """
    a, b = _tokens(gold.removeprefix("?")), _tokens(pred.removeprefix("?"))
    if not a or not b:
        return None
    whole = max(
        fuzz.ratio(" ".join(a), " ".join(b)), fuzz.token_sort_ratio(" ".join(a), " ".join(b))
    )
    if whole >= NAME_THRESHOLD:
        return whole
    shorter, longer = sorted((a, b), key=len)
    if set(shorter) <= set(longer):
        return NAME_THRESHOLD
    if len(shorter) == 1 and len(longer) > 1 and shorter[0] == _acronym(longer):
        return NAME_THRESHOLD
    return None


def party_score(gold: str, pred: str) -> float | None:
    """Codes match when equal; `"?Name"` parties (no code) match each other by name."""
    if gold.startswith("?") and pred.startswith("?"):
        return party_name_score(gold, pred)
    return 100.0 if gold == pred else None


def same_party(gold: str | None, pred: str | None) -> bool:
    if gold is None or pred is None:
        return gold is pred
    return party_score(gold, pred) is not None


def same_parties(gold: Sequence[str], pred: Sequence[str]) -> bool:
    """Two party sets are the same when their codes are equal and their `"?Name"` parties
    pair off one-to-one by name."""
    g_known = {c for c in gold if not c.startswith("?")}
    p_known = {c for c in pred if not c.startswith("?")}
    if g_known != p_known:
        return False
    g_named = sorted({c for c in gold if c.startswith("?")})
    p_named = sorted({c for c in pred if c.startswith("?")})
    if len(g_named) != len(p_named):
        return False
    pairs = match(len(g_named), len(p_named), lambda i, j: party_score(g_named[i], p_named[j]))
    return len(pairs) == len(g_named)


# ---------------------------------------------------------------- one-to-one matching


def match(
    n_gold: int, n_pred: int, score: Callable[[int, int], float | None]
) -> list[tuple[int, int]]:
    """One-to-one pairs (gold index, predicted index) between two lists.

    `score(i, j)` is None when the items cannot be paired, else higher is a better pair. Pairs
    are taken greedily by score, then augmenting paths make the matching maximum, so a
    multiset is matched item by item (two gold MoUs need two predicted MoUs) and a weaker pair
    never costs a pair elsewhere.
    """
    edges = [
        (s, i, j) for i in range(n_gold) for j in range(n_pred) if (s := score(i, j)) is not None
    ]
    edges.sort(key=lambda e: (-e[0], e[1], e[2]))
    gold_to: dict[int, int] = {}
    pred_to: dict[int, int] = {}
    for _, i, j in edges:
        if i not in gold_to and j not in pred_to:
            gold_to[i], pred_to[j] = j, i
    options: dict[int, list[int]] = {i: [] for i in range(n_gold)}
    for _, i, j in edges:
        options[i].append(j)

    def augment(i: int, seen: set[int]) -> bool:
        for j in options[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in pred_to or augment(pred_to[j], seen):
                gold_to[i], pred_to[j] = j, i
                return True
        return False

    for i in range(n_gold):
        if i not in gold_to:
            augment(i, set())
    return sorted(gold_to.items())


# ---------------------------------------------------------------- counts and results


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass
class Counts:
    """True positives, false positives, false negatives, and the scores they give (None when
    undefined: precision with nothing predicted, recall with nothing in the gold)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass
class FieldResult:
    """One field of one article: its counts, and what was missed or spurious, readably."""

    counts: Counts = field(default_factory=Counts)
    missed: list[str] = field(default_factory=list)  # gold items not predicted (FN)
    spurious: list[str] = field(default_factory=list)  # predicted items not in the gold (FP)

    def to_dict(self) -> dict[str, Any]:
        return {**self.counts.to_dict(), "missed": self.missed, "spurious": self.spurious}


@dataclass
class ArticleScore:
    article_id: str
    status: Literal["ok", "error", "missing"]
    fields: dict[str, FieldResult]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "status": self.status,
            "error": self.error,
            "fields": {name: r.to_dict() for name, r in self.fields.items()},
        }


# ---------------------------------------------------------------- describing items


def _parties_text(codes: Sequence[str]) -> str:
    return "+".join(codes) or "(no parties)"


def _person_text(p: Person) -> str:
    return f"{p.name} ({p.party or 'no party'})"


def _meeting_text(m: MeetingFact) -> str:
    return f"{_parties_text(m.parties)} on {m.date or 'unknown date'}"


def _agreement_text(a: AgreementFact) -> str:
    return f"{a.instrument}/{a.status} {_parties_text(a.parties)}"


def _mechanism_text(m: MechanismFact) -> str:
    return f"{m.kind}/{m.status}"


# ---------------------------------------------------------------- scoring one article


def _list_field(
    gold: Sequence[Any],
    pred: Sequence[Any],
    score: Callable[[Any, Any], float | None],
    describe: Callable[[Any], str],
) -> tuple[FieldResult, list[tuple[int, int]]]:
    """A list field: matched pairs are TP, unmatched gold FN, unmatched predictions FP."""
    pairs = match(len(gold), len(pred), lambda i, j: score(gold[i], pred[j]))
    g_hit, p_hit = {i for i, _ in pairs}, {j for _, j in pairs}
    result = FieldResult(
        Counts(tp=len(pairs), fp=len(pred) - len(p_hit), fn=len(gold) - len(g_hit)),
        missed=[describe(x) for i, x in enumerate(gold) if i not in g_hit],
        spurious=[describe(x) for j, x in enumerate(pred) if j not in p_hit],
    )
    return result, pairs


def _attribute_field(
    pairs: Iterable[tuple[Any, Any]],
    value: Callable[[Any], str | None],
    same: Callable[[str, str], bool],
    describe: Callable[[Any, str], str],
) -> FieldResult:
    """An attribute of matched items: right is TP; wrong is FP and FN; predicted where the gold
    has none is FP; absent where the gold has one is FN; absent on both sides is not counted."""
    result = FieldResult()
    for g, p in pairs:
        gv, pv = value(g), value(p)
        if gv is not None and pv is not None and same(gv, pv):
            result.counts.tp += 1
            continue
        if gv is not None:
            result.counts.fn += 1
            result.missed.append(describe(g, gv))
        if pv is not None:
            result.counts.fp += 1
            result.spurious.append(describe(p, pv))
    return result


def _exact(a: Any, b: Any) -> float | None:
    return 1.0 if a == b else None


def _official_score(g: Person, p: Person) -> float | None:
    s = person_score(g.name, p.name)
    if s is None:
        return None
    return s + (0.5 if same_party(g.party, p.party) else 0.0)  # prefer the right party on ties


def _meeting_score(g: MeetingFact, p: MeetingFact) -> float | None:
    if not same_parties(g.parties, p.parties):
        return None
    # among meetings of the same parties, pair those that agree on the day, then the place
    return 1.0 + 2.0 * (g.date == p.date) + 1.0 * (g.location_country == p.location_country)


def _agreement_score(g: AgreementFact, p: AgreementFact) -> float | None:
    same = g.instrument == p.instrument and g.status == p.status
    return 1.0 if same and same_parties(g.parties, p.parties) else None


def compare(gold: Facts, pred: Facts) -> dict[str, FieldResult]:
    """Every field of one article, gold against prediction."""
    out: dict[str, FieldResult] = {}
    rel = FieldResult()
    if gold.relevant and pred.relevant:
        rel.counts.tp = 1
    elif pred.relevant:
        rel.counts.fp, rel.spurious = 1, ["relevant"]
    elif gold.relevant:
        rel.counts.fn, rel.missed = 1, ["relevant"]
    out["relevance"] = rel

    out["countries"], _ = _list_field(gold.countries, pred.countries, party_score, str)
    out["organizations"], _ = _list_field(gold.organizations, pred.organizations, party_score, str)

    out["officials"], pairs = _list_field(
        gold.officials, pred.officials, _official_score, _person_text
    )
    out["official_party"] = _attribute_field(
        [(gold.officials[i], pred.officials[j]) for i, j in pairs],
        lambda o: o.party,
        same_party,
        lambda o, v: f"{o.name}: {v}",
    )

    out["meetings"], pairs = _list_field(
        gold.meetings, pred.meetings, _meeting_score, _meeting_text
    )
    out["meeting_date"] = _attribute_field(
        [(gold.meetings[i], pred.meetings[j]) for i, j in pairs],
        lambda m: m.date,
        lambda a, b: a == b,
        lambda m, v: f"{_parties_text(m.parties)}: {v}",
    )

    out["agreements"], _ = _list_field(
        gold.agreements, pred.agreements, _agreement_score, _agreement_text
    )
    out["mechanisms"], _ = _list_field(gold.mechanisms, pred.mechanisms, _exact, _mechanism_text)
    out["areas"], _ = _list_field(gold.areas, pred.areas, _exact, str)
    return out


# ---------------------------------------------------------------- evidence and cost


@dataclass
class EvidenceStats:
    """Evidence spans of the scored predictions, and how many are exactly grounded."""

    spans: int = 0
    exact: int = 0  # alignment "exact" and, where the text is known, text[start:end] == span
    offsets_checked: int = 0  # spans whose offsets could be checked against the article text
    items_without_evidence: int = 0

    @property
    def exact_share(self) -> float | None:
        return _ratio(self.exact, self.spans)

    def add(self, record: ArticleExtraction, text: str | None) -> None:
        text = record.text if record.text is not None else text
        items = [
            *record.parties,
            *record.officials,
            *record.meetings,
            *record.agreements,
            *record.mechanisms,
        ]
        for item in items:
            if not item.evidence:
                self.items_without_evidence += 1
            for span in item.evidence:
                self.spans += 1
                ok = span.alignment is Alignment.exact
                if text is not None:
                    self.offsets_checked += 1
                    ok = ok and text[span.start : span.end] == span.text
                self.exact += ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "spans": self.spans,
            "exact": self.exact,
            "exact_share": self.exact_share,
            "offsets_checked": self.offsets_checked,
            "items_without_evidence": self.items_without_evidence,
        }


@dataclass
class CostStats:
    """Model time and tokens from the provenance of the scored successful predictions."""

    articles: int = 0
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, record: ArticleExtraction) -> None:
        p = record.provenance
        self.articles += 1
        self.latency_ms += p.latency_ms
        self.prompt_tokens += p.usage.prompt_tokens
        self.completion_tokens += p.usage.completion_tokens

    def per_article(self, total: int) -> float | None:
        return _ratio(total, self.articles)

    def to_dict(self) -> dict[str, Any]:
        seconds = self.per_article(self.latency_ms)
        prompt = self.per_article(self.prompt_tokens)
        completion = self.per_article(self.completion_tokens)
        return {
            "articles": self.articles,
            "seconds_per_article": seconds / 1000 if seconds is not None else None,
            "prompt_tokens_per_article": prompt,
            "completion_tokens_per_article": completion,
            "tokens_per_article": (prompt or 0) + (completion or 0) if self.articles else None,
        }


# ---------------------------------------------------------------- the report


@dataclass
class Report:
    """Scores of one run against one gold file."""

    fields: dict[str, Counts]
    articles: list[ArticleScore]
    evidence: EvidenceStats
    cost: CostStats
    unscored: list[str] = field(default_factory=list)  # predicted ids with no gold record

    @property
    def micro(self) -> Counts:
        """TP, FP and FN summed over every field."""
        total = Counts()
        for counts in self.fields.values():
            total = total + counts
        return total

    def count(self, status: str) -> int:
        return sum(a.status == status for a in self.articles)

    def to_dict(self, *, per_article: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "articles": len(self.articles),
            "ok": self.count("ok"),
            "errors": self.count("error"),
            "missing": self.count("missing"),
            "unscored_predictions": self.unscored,
            "fields": {name: c.to_dict() for name, c in self.fields.items()},
            "micro": self.micro.to_dict(),
            "evidence": self.evidence.to_dict(),
            "cost": self.cost.to_dict() if self.cost.articles else None,
        }
        if per_article:
            out["per_article"] = [a.to_dict() for a in self.articles]
        return out


def _error_text(error: Mapping[str, Any] | None) -> str:
    if not error:
        return "error"
    kind, message = error.get("type"), error.get("message")
    return f"{kind}: {message}" if kind and message else str(message or kind or "error")


def score(
    gold: Iterable[Mapping[str, Any] | GoldRecord],
    predictions: Iterable[Any],
    *,
    texts: Mapping[str, str] | None = None,
) -> Report:
    """Score predictions against gold records; `texts` (article id → text) lets evidence
    offsets be checked. Articles are those of the gold; an error or a missing prediction
    predicts nothing (not relevant, no items)."""
    records = [parse_gold(g) for g in gold]
    seen: set[str] = set()
    for r in records:
        if r.id in seen:
            raise InputError(f"gold has two records for article {r.id}")
        seen.add(r.id)
    by_id = collect_predictions(predictions)
    texts = texts or {}

    totals = {name: Counts() for name in FIELDS}
    evidence, cost = EvidenceStats(), CostStats()
    articles: list[ArticleScore] = []
    for g in records:
        p = by_id.get(g.id)
        if p is not None and p.extraction is not None:
            facts = predicted_facts(p.extraction)
            evidence.add(p.extraction, texts.get(g.id))
            cost.add(p.extraction)
        else:
            facts = NOTHING
        results = compare(gold_facts(g), facts)
        for name, r in results.items():
            totals[name] = totals[name] + r.counts
        status: Literal["ok", "error", "missing"] = p.status if p is not None else "missing"
        error = _error_text(p.error) if p is not None and p.status == "error" else None
        articles.append(ArticleScore(g.id, status, results, error))
    unscored = sorted(set(by_id) - seen)
    return Report(totals, articles, evidence, cost, unscored)
