"""Scoring consolidation against a gold set of stories (`shared/eval/consolidation-dev/`).

The gold folder holds `events.jsonl` (one line per real-world event, with `lifecycle` and
`ambiguous_with`), `mentions.jsonl` (per article, every meeting and agreement it reports, each
with its `event_id`, `kind`, `status` and an `evidence` quote), `articles.jsonl` and
`gold.jsonl` (annotation-guide records). It is read where it is, at run time.

1. Each predicted mention is aligned one-to-one with a gold mention of the same article: same
   kind, same party set, and for agreements the same instrument; among several, the one whose
   evidence overlaps most (then the same status).
2. Over aligned mentions of different articles, "same event" is scored pairwise: precision,
   recall, F1. A pair of gold events listed in each other's `ambiguous_with` counts neither way.
3. The share of gold mentions aligned (this depends on extraction).
4. Lifecycle accuracy: for each gold agreement with two or more statuses, the predicted event
   holding most of its aligned mentions must list the same statuses in the same order.

`records_from_gold` builds records from the gold mentions themselves (perfect extraction), so
that consolidation can be scored apart from extraction.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..scoring.evaluate import Counts, match, same_parties
from .consolidate import fold, words

GOLD_FILES = ("events.jsonl", "mentions.jsonl", "articles.jsonl", "gold.jsonl")


@dataclass(frozen=True)
class GoldMention:
    article_id: str
    event_id: str
    kind: str
    parties: tuple[str, ...]
    instrument: str | None
    status: str | None
    evidence: str


@dataclass
class GoldSet:
    """A gold folder, loaded."""

    events: dict[str, dict[str, Any]]
    mentions: list[GoldMention]
    articles: dict[str, dict[str, Any]]
    records: dict[str, dict[str, Any]]  # annotation-guide records by article id

    @property
    def published(self) -> dict[str, str]:
        return {i: a["published"] for i, a in self.articles.items() if a.get("published")}

    def ambiguous(self, a: str, b: str) -> bool:
        return b in (self.events[a].get("ambiguous_with") or ()) or a in (
            self.events[b].get("ambiguous_with") or ()
        )


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"no such gold file: {path}", field="gold")
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{n}: each line must be a JSON object")
            out.append(obj)
    return out


def load_gold(folder: str | Path) -> GoldSet:
    """Read a consolidation gold folder (events, mentions, articles, gold records)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"no such gold folder: {root}", field="gold")
    events = {e["event_id"]: e for e in _lines(root / "events.jsonl")}
    mentions: list[GoldMention] = []
    for line in _lines(root / "mentions.jsonl"):
        for m in line.get("events") or ():
            event = events.get(m.get("event_id"))
            if event is None:
                raise InputError(f"mentions.jsonl: unknown event_id {m.get('event_id')!r}")
            mentions.append(
                GoldMention(
                    article_id=line["article_id"],
                    event_id=event["event_id"],
                    kind=event["kind"],
                    parties=tuple(sorted(event.get("parties") or ())),
                    instrument=event.get("instrument") if event["kind"] == "agreement" else None,
                    status=m.get("status"),
                    evidence=m.get("evidence") or "",
                )
            )
    articles = {a["id"]: a for a in _lines(root / "articles.jsonl")}
    gold_path = root / "gold.jsonl"
    records = {r["id"]: r for r in _lines(gold_path)} if gold_path.is_file() else {}
    return GoldSet(events, mentions, articles, records)


# ---------------------------------------------------------------- records from gold mentions


def _span(text: str, quote: str) -> dict[str, Any]:
    at = text.find(quote)
    if at < 0:  # quotes are exact, but be lenient with case and spacing
        at = fold(text).find(fold(quote))
    if at < 0:
        return {"start": 0, "end": len(quote), "text": quote}
    return {"start": at, "end": at + len(quote), "text": text[at : at + len(quote)]}


_PROVENANCE = {
    "task": "health_cooperation",
    "prompt_version": "gold",
    "model": "gold",
    "input_sha256": "0" * 64,
    "created_at": "2000-01-01T00:00:00Z",
}


def records_from_gold(gold: GoldSet) -> list[dict[str, Any]]:
    """One bulk-runner line per article whose meetings and agreements are its gold mentions:
    what a perfect extractor would give, as far as the gold says per article.

    Parties and instrument are the event's; status and evidence the mention's; a meeting's
    date and country come from the article's gold record (same party set), its officials are
    the record's officials of those parties. An agreement is dated only where the event's
    lifecycle cites this article for its status; an article the lifecycle cites for another
    stage than its mention's status (an after-the-fact approval that also reports the
    signing) carries that stage, so that every reported stage is in some record. Titles and
    forums are left out (the gold gives them per event, not per article)."""
    by_article: dict[str, list[GoldMention]] = defaultdict(list)
    for m in gold.mentions:
        by_article[m.article_id].append(m)
    lines = []
    for article_id, ms in by_article.items():
        text = (gold.articles.get(article_id) or {}).get("text") or ""
        record = gold.records.get(article_id) or {}
        officials = record.get("officials") or []
        meetings_left = list(record.get("meetings") or [])
        meetings, agreements = [], []
        for m in ms:
            span = _span(text, m.evidence)
            if m.kind == "meeting":
                same = next(
                    (
                        g
                        for g in meetings_left
                        if tuple(sorted(g.get("parties") or ())) == m.parties
                    ),
                    None,
                )
                if same is not None:
                    meetings_left.remove(same)
                date = (same or {}).get("date")
                country = (same or {}).get("location_country")
                meetings.append(
                    {
                        "parties": list(m.parties),
                        "officials": [o["name"] for o in officials if o.get("party") in m.parties],
                        "date": {"start": date, "end": date} if date else None,
                        "location": {"city": None, "country": country} if country else None,
                        "forum": None,
                        "evidence": [span],
                    }
                )
            else:
                cited = [s for s in gold.events[m.event_id].get("lifecycle") or ()
                         if s.get("article_id") == article_id]  # fmt: skip
                # the stage the lifecycle cites this article for, when its mention says another
                # (an after-the-fact approval that also reports the signing)
                step = next((s for s in cited if s.get("status") == m.status), None)
                step = step or (cited[0] if cited else {"status": m.status, "date": None})
                agreements.append(
                    {
                        "instrument": m.instrument or "other",
                        "status": step.get("status") or "signed",
                        "parties": list(m.parties),
                        "date": step.get("date"),
                        "title": None,
                        "evidence": [span],
                    }
                )
        parties = [
            *({"name": c, "kind": "country", "code": c} for c in record.get("countries") or ()),
            *({"name": c, "kind": "organization", "code": c}
              for c in record.get("organizations") or ()),
        ]  # fmt: skip
        extraction = {
            "article_id": article_id,
            "relevant": True,
            "parties": parties,
            "officials": [{"name": o["name"], "party": o.get("party")} for o in officials],
            "meetings": meetings,
            "agreements": agreements,
            "provenance": _PROVENANCE,
        }
        lines.append({"article_id": article_id, "status": "ok", "extraction": extraction})
    return lines


# ---------------------------------------------------------------- scoring


@dataclass
class Lifecycle:
    event_id: str
    gold: list[str]
    predicted: list[str] | None  # None: no aligned mention
    correct: bool


@dataclass
class ConsolidationReport:
    """How an events file compares with the gold stories."""

    predicted_mentions: int = 0
    gold_mentions: int = 0
    aligned: int = 0
    pairs: Counts = field(default_factory=Counts)
    by_kind: dict[str, Counts] = field(default_factory=dict)
    ambiguous_pairs: int = 0
    lifecycles: list[Lifecycle] = field(default_factory=list)
    events: int = 0
    wrong_pairs: list[str] = field(default_factory=list)  # readable FP and FN pairs
    not_found: list[str] = field(default_factory=list)  # gold mentions no prediction aligns with

    @property
    def found(self) -> float | None:
        return self.aligned / self.gold_mentions if self.gold_mentions else None

    @property
    def lifecycle_accuracy(self) -> float | None:
        if not self.lifecycles:
            return None
        return sum(lc.correct for lc in self.lifecycles) / len(self.lifecycles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "predicted_mentions": self.predicted_mentions,
            "gold_mentions": self.gold_mentions,
            "aligned_mentions": self.aligned,
            "gold_mentions_found": self.found,
            "pairwise": self.pairs.to_dict(),
            "pairwise_by_kind": {k: c.to_dict() for k, c in self.by_kind.items()},
            "ambiguous_pairs_not_counted": self.ambiguous_pairs,
            "lifecycle_accuracy": self.lifecycle_accuracy,
            "lifecycles": [lc.__dict__ for lc in self.lifecycles],
            "wrong_pairs": self.wrong_pairs,
            "not_found": self.not_found,
        }


@dataclass(frozen=True)
class _Predicted:
    event_id: str
    article_id: str
    item: str
    kind: str
    parties: tuple[str, ...]
    instrument: str | None
    status: str | None
    evidence: str


def _predicted(events: Iterable[Mapping[str, Any]]) -> tuple[list[_Predicted], dict[str, Any]]:
    out, by_id = [], {}
    for n, e in enumerate(events, 1):
        if not isinstance(e, Mapping) or "mentions" not in e or "kind" not in e:
            raise InputError(f"event {n}: not an event (needs kind, parties, mentions)")
        eid = str(e.get("event_id") or f"event-{n}")
        by_id[eid] = e
        for m in e["mentions"]:
            out.append(
                _Predicted(
                    event_id=eid,
                    article_id=str(m.get("article_id")),
                    item=str(m.get("item")),
                    kind=str(e["kind"]),
                    parties=tuple(sorted(e.get("parties") or ())),
                    instrument=e.get("instrument") if e["kind"] == "agreement" else None,
                    status=m.get("status"),
                    evidence=" ".join(s.get("text", "") for s in m.get("evidence") or ()),
                )
            )
    return out, by_id


def _align_score(g: GoldMention, p: _Predicted) -> float | None:
    if g.kind != p.kind or not same_parties(g.parties, p.parties):
        return None
    if g.kind == "agreement" and g.instrument != p.instrument:
        return None
    quote, said = words(g.evidence), words(p.evidence)
    overlap = len(quote & said) / len(quote) if quote else 0.0
    if fold(g.evidence) in fold(p.evidence):
        overlap = max(overlap, 1.0)
    return 1.0 + overlap + (0.25 if g.status == p.status else 0.0)


def score_events(events: Iterable[Mapping[str, Any]], gold: GoldSet) -> ConsolidationReport:
    """Score predicted events (dicts, as `consolidate` writes them) against the gold set."""
    predicted, by_id = _predicted(events)
    report = ConsolidationReport(
        predicted_mentions=len(predicted), gold_mentions=len(gold.mentions), events=len(by_id)
    )
    gold_by_article: dict[str, list[GoldMention]] = defaultdict(list)
    for m in gold.mentions:
        gold_by_article[m.article_id].append(m)
    pred_by_article: dict[str, list[_Predicted]] = defaultdict(list)
    for p in predicted:
        pred_by_article[p.article_id].append(p)

    aligned: list[tuple[GoldMention, _Predicted]] = []
    for article_id, gs in gold_by_article.items():
        ps = pred_by_article.get(article_id, [])
        for i, j in match(len(gs), len(ps), lambda i, j: _align_score(gs[i], ps[j])):  # noqa: B023
            aligned.append((gs[i], ps[j]))
    report.aligned = len(aligned)
    found = {id(g) for g, _ in aligned}
    report.not_found = [
        f"{g.event_id} ({g.article_id}, {g.kind}{' ' + g.instrument if g.instrument else ''})"
        for g in gold.mentions
        if id(g) not in found
    ]

    for x in range(len(aligned)):
        for y in range(x + 1, len(aligned)):
            (g1, p1), (g2, p2) = aligned[x], aligned[y]
            if g1.article_id == g2.article_id:
                continue
            if g1.event_id != g2.event_id and gold.ambiguous(g1.event_id, g2.event_id):
                report.ambiguous_pairs += 1
                continue
            same_gold, same_pred = g1.event_id == g2.event_id, p1.event_id == p2.event_id
            kind = report.by_kind.setdefault(g1.kind, Counts())
            if same_gold and same_pred:
                report.pairs.tp += 1
                kind.tp += 1
            elif same_pred:
                report.pairs.fp += 1
                kind.fp += 1
                report.wrong_pairs.append(
                    f"merged apart events: {g1.event_id} ({g1.article_id} {p1.item}) + "
                    f"{g2.event_id} ({g2.article_id} {p2.item})"
                )
            elif same_gold:
                report.pairs.fn += 1
                kind.fn += 1
                report.wrong_pairs.append(
                    f"split one event: {g1.event_id} ({g1.article_id} {p1.item} | "
                    f"{g2.article_id} {p2.item})"
                )

    for eid, event in gold.events.items():
        steps = [s["status"] for s in event.get("lifecycle") or ()]
        if event["kind"] != "agreement" or len(set(steps)) < 2:
            continue
        holders = Counter(p.event_id for g, p in aligned if g.event_id == eid)
        if not holders:
            report.lifecycles.append(Lifecycle(eid, steps, None, False))
            continue
        top = max(holders.values())
        best = min(e for e, c in holders.items() if c == top)
        got = [s["status"] for s in by_id[best].get("lifecycle") or ()]
        report.lifecycles.append(Lifecycle(eid, steps, got, got == steps))
    return report
