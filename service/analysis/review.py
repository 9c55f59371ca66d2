"""The review page: one self-contained HTML file to read what was extracted, with its evidence.

Each article's text with every evidence span highlighted (coloured by field) beside its
record; clicking an item scrolls to its spans; filters by party, field and status; the
cooperation network and a timeline drawn server-side (`charts.py`). Given events (an events
file, or consolidated in the same pass), a "stories" view lists each event reported by more
than one article (or all) with its lifecycle and its mentions; a mention opens its article
with that item's evidence highlighted. The records travel as a JSON block that the page's own
script (`static/review.js`) renders one article (or story) at a time, so 1,000 articles stay
quick. Article text only ever reaches the page as JSON and is put into
it as text (`textContent`), never as markup; the page's Content-Security-Policy allows no
network and no script but its own (by hash).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from .events import Consolidating, item_of, read_events
from .records import ArticleInfo, Line, lines, read_lines

#: item fields in page order, and their record lists
FIELDS = {
    "party": "parties",
    "official": "officials",
    "meeting": "meetings",
    "agreement": "agreements",
    "mechanism": "mechanisms",
}
STATUSES = ("signed", "pending", "proposed", "approved", "established")
#: characters of a mention's first evidence span the stories view quotes
QUOTE = 240


def _codes(codes: Iterable[str] | None) -> str:
    return " + ".join(codes or ()) or "no parties"


def label(field: str, item: Mapping[str, Any]) -> str:
    """One line that says what an item is, as the record panel lists it."""
    if field == "party":
        return f"{item.get('code') or '(no code)'} · {item.get('name')} ({item.get('kind')})"
    if field == "official":
        title = f", {item['title']}" if item.get("title") else ""
        party = f" ({item['party']})" if item.get("party") else ""
        return f"{item.get('name')}{title}{party}"
    parts = []
    if field == "meeting":
        parts.append(_codes(item.get("parties")))
        date = item.get("date") or {}
        if date.get("start"):
            end = date.get("end")
            parts.append(date["start"] + (f" to {end}" if end and end != date["start"] else ""))
        loc = item.get("location") or {}
        place = ", ".join(x for x in (loc.get("city"), loc.get("country")) if x)
        if place:
            parts.append(place)
        if item.get("forum"):
            parts.append(item["forum"])
        if item.get("officials"):
            parts.append("with " + ", ".join(item["officials"]))
    elif field == "agreement":
        parts += [item.get("instrument") or "?", item.get("status") or "?"]
        parts.append(_codes(item.get("parties")))
        if item.get("date"):
            parts.append(item["date"])
        if item.get("title"):
            parts.append(f"“{item['title']}”")
    else:
        parts += [item.get("kind") or "?", item.get("status") or "?", _codes(item.get("parties"))]
        if item.get("description"):
            parts.append(item["description"])
    return " · ".join(parts)


def _span_ok(text: str | None, s: Mapping[str, Any]) -> bool:
    start, end = s.get("start"), s.get("end")
    if text is None or not isinstance(start, int) or not isinstance(end, int):
        return False
    return 0 <= start <= end <= len(text) and text[start:end] == s.get("text")


def entry(line: Line, info: ArticleInfo | None) -> dict[str, Any]:
    """What the page shows of one result: its text, its items and their spans."""
    e: dict[str, Any] = {
        "id": line.article_id,
        "status": "ok" if line.ok else "error",
        "title": info.title if info else None,
        "published": info.published if info else None,
        "url": info.url if info else None,
        "source": info.source if info else None,
    }
    if line.record is None:
        err = line.error or {}
        text = info.text if info else None
        e.update(error={"type": err.get("type"), "message": err.get("message")}, items=[],
                 spans=[], parties=[], areas=[], relevant=False, text=text,
                 text_from="archive" if text is not None else None)  # fmt: skip
        return e
    r = line.record
    text = r.get("text") or (info.text if info else None)
    items, spans, codes = [], [], []
    for field, name in FIELDS.items():
        for i, item in enumerate(r.get(name) or ()):
            evidence = item.get("evidence") or ()
            shown = 0
            for k, s in enumerate(evidence):
                if _span_ok(text, s):
                    shown += 1
                    spans.append({"key": f"{field}:{i}:{k}", "field": field,
                                  "start": s["start"], "end": s["end"]})  # fmt: skip
            item_codes = [item["code"]] if field == "party" and item.get("code") else []
            item_codes += list(item.get("parties") or ())
            if field == "official" and item.get("party"):
                item_codes.append(item["party"])
            codes += item_codes
            items.append({
                "field": field, "index": i, "label": label(field, item),
                "status": item.get("status"), "parties": sorted(set(item_codes)),
                "spans": shown, "unplaced": len(evidence) - shown,
                "grounded": item.get("grounded", True),
            })  # fmt: skip
    prov = r.get("provenance") or {}
    e.update(
        relevant=bool(r.get("relevant")), summary=r.get("summary") or "", text=text,
        text_from="record" if r.get("text") else ("archive" if text is not None else None),
        items=items, spans=spans, parties=sorted(set(codes)),
        areas=list(r.get("areas") or ()), model=prov.get("model"),
        prompt_version=prov.get("prompt_version"),
    )  # fmt: skip
    return e


@dataclass
class ReviewSummary:
    articles: int = 0
    errors: int = 0
    without_text: int = 0
    unplaced_spans: int = 0
    events: int = 0
    stories: int = 0  # events reported by more than one article
    mentions_elsewhere: int = 0  # mentions of articles (or items) not in these results


def story(event: Mapping[str, Any], items: Mapping[str, set[str]]) -> dict[str, Any]:
    """What the stories view shows of one event: what it is, its lifecycle, and its mentions,
    each pointing at its article's item (`items`: article id → item keys of the page)."""
    mentions = []
    for m in event.get("mentions") or ():
        if not isinstance(m, Mapping):
            continue
        field, index = item_of(m.get("item"))
        key = f"{field}:{index}" if field is not None else None
        aid = m.get("article_id")
        first = next((x for x in m.get("evidence") or () if isinstance(x, Mapping)), {})
        quote = first.get("text") if isinstance(first.get("text"), str) else ""
        mentions.append({
            "article_id": aid, "item": key, "status": m.get("status"), "date": m.get("date"),
            "published": m.get("published"),
            "quote": quote if len(quote) <= QUOTE else quote[: QUOTE - 1] + "…",
            "found": key is not None and key in items.get(aid, ()),
        })  # fmt: skip
    loc = event.get("location") or {}
    steps = [x for x in event.get("lifecycle") or () if isinstance(x, Mapping)]
    return {
        "id": event.get("event_id"), "kind": event.get("kind"),
        "parties": list(event.get("parties") or ()), "instrument": event.get("instrument"),
        "date": event.get("date"), "city": loc.get("city"), "country": loc.get("country"),
        "forum": event.get("forum"), "status": event.get("status"), "title": event.get("title"),
        "lifecycle": [{"status": x.get("status"), "date": x.get("date"),
                       "article_id": x.get("article_id")} for x in steps],
        "because": list(event.get("because") or ()), "mentions": mentions,
        "articles": len({m["article_id"] for m in mentions}),
    }  # fmt: skip


def _story_order(s: Mapping[str, Any]) -> tuple[Any, ...]:
    """The most reported first, then in time (undated last)."""
    dates = [
        s["date"],
        *(x["date"] for x in s["lifecycle"]),
        *(m["published"] for m in s["mentions"]),
    ]
    first = next((d for d in dates if isinstance(d, str)), "")
    return (-s["articles"], not first, first, s["id"] or "")


def _events(record: Mapping[str, Any], aid: str) -> Iterable[Any]:
    from .charts import Event

    if not record.get("relevant"):
        return
    for m in record.get("meetings") or ():
        start = (m.get("date") or {}).get("start")
        if start:
            yield Event(dt.date.fromisoformat(start), "meeting", None, aid)
    for a in record.get("agreements") or ():
        if a.get("date"):
            yield Event(dt.date.fromisoformat(a["date"]), "agreement", a.get("status"), aid)


def _json_for_html(data: Any) -> str:
    # inside <script type="application/json">: no "</script>", no "<!--", no HTML at all
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, esc)
    return text


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def render(
    results: Iterable[Any] | str | os.PathLike[str],
    articles: Mapping[str, ArticleInfo] | None = None,
    *,
    title: str = "healthcoop review",
    events: Iterable[Mapping[str, Any]] | str | os.PathLike[str] | None = None,
    consolidate: bool = False,
) -> tuple[str, ReviewSummary]:
    """The review page of results (a file, or records in Python) as one HTML string. With
    `events` (event dicts or an events file) or `consolidate=True`, a stories view too."""
    from .charts import network_svg, prefix_ids, timeline_svg
    from .network import NetworkBuilder

    if events is not None and consolidate:
        raise InputError("give events or consolidate, not both", field="events")
    if isinstance(events, (str, os.PathLike)):
        events = read_events(events)
    consolidating = Consolidating(articles) if consolidate else None
    source = read_lines(results) if isinstance(results, (str, os.PathLike)) else lines(results)
    network, dated, entries, summary = NetworkBuilder(), [], [], ReviewSummary()
    for line in source:
        info = articles.get(line.article_id) if articles else None
        e = entry(line, info)
        entries.append(e)
        summary.articles += 1
        summary.errors += not line.ok
        summary.without_text += e["text"] is None
        summary.unplaced_spans += sum(i["unplaced"] for i in e["items"])
        if line.record is not None:
            network.add(line.record)
            dated.extend(_events(line.record, line.article_id))
            if consolidating is not None:
                consolidating.add(line)
    stories = None
    if consolidating is not None:
        events = consolidating.events()
    if events is not None:
        items = {e["id"]: {f"{i['field']}:{i['index']}" for i in e["items"]} for e in entries}
        # an events file may cover a whole archive: only stories these results take part in
        told = (story(ev, items) for ev in events)
        stories = sorted((x for x in told if any(m["article_id"] in items for m in x["mentions"])),
                         key=_story_order)  # fmt: skip
        summary.events = len(stories)
        summary.stories = sum(s["articles"] > 1 for s in stories)
        summary.mentions_elsewhere = sum(not m["found"] for s in stories for m in s["mentions"])
    data = {"title": title, "articles": entries, "statuses": list(STATUSES),
            "fields": list(FIELDS), "stories": stories}  # fmt: skip
    script = _static("review.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'"
    )
    parts = {
        "title": html.escape(title),
        "csp": html.escape(csp),
        "css": _static("review.css"),
        "network": prefix_ids(network_svg(network.graph()), "net-"),
        "timeline": prefix_ids(timeline_svg(dated), "tl-"),
        "data": _json_for_html(data),
        "script": script,
    }
    # one pass: what is put in is never searched for markers again
    page = re.sub(r"<!--@(\w+)-->", lambda m: parts[m.group(1)], _static("review.html"))
    return page, summary


def write(
    results: Iterable[Any] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    articles: Mapping[str, ArticleInfo] | None = None,
    *,
    events: Iterable[Mapping[str, Any]] | str | os.PathLike[str] | None = None,
    consolidate: bool = False,
) -> ReviewSummary:
    """Write the review page of results to `out` (with a stories view, given `events` or
    `consolidate=True`)."""
    page, summary = render(results, articles, title=f"healthcoop review: {Path(out).stem}",
                           events=events, consolidate=consolidate)  # fmt: skip
    Path(out).write_text(page, encoding="utf-8")
    return summary
