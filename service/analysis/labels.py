"""Corrections that become gold: Label Studio tasks out, Label Studio exports back in.

`tasks(...)` writes Label Studio's import format (a JSON list of tasks, each with `data` and
`predictions`): every item of a record is one region on its first evidence span, labelled by
field, with its party codes, statuses, instrument or kind, date and country as per-region
answers (results sharing the region's id), and relevance and areas as task-level choices.
`gold(...)` reads Label Studio's JSON export (tasks with `annotations`) and writes gold records
in the annotation-guide format that `healthcoop eval --gold` scores. The labelling config is
`LABEL_CONFIG` (documented in docs/label-studio.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthcoop.schemas import AgreementStatus, Area, Instrument, MechanismKind, MechanismStatus
from healthcoop.schemas.gazetteer import is_country_code, is_organization_code

from ..errors import InputError
from ._internals import clean_person_name, parse_gold
from .records import ArticleInfo, lines, read_lines

FIELDS = {
    "party": "parties",
    "official": "officials",
    "meeting": "meetings",
    "agreement": "agreements",
    "mechanism": "mechanisms",
}
RELEVANT, NOT_RELEVANT = "relevant", "not relevant"


def _choices(name: str, values: Iterable[str], when: str | None = None, *,
             multiple: bool = False, task: bool = False) -> str:  # fmt: skip
    attrs = [f'name="{name}"', 'toName="text"', f'choice="{"multiple" if multiple else "single"}"']
    if not task:
        attrs += ['perRegion="true"', 'visibleWhen="region-selected"']
        if when:
            attrs.append(f'whenLabelValue="{when}"')
    pad = "  " if task else "    "
    options = "".join(f'\n{pad}  <Choice value="{v}"/>' for v in values)
    return f'{pad}<Choices {" ".join(attrs)} showInline="true">{options}\n{pad}</Choices>'


def _textarea(name: str, placeholder: str) -> str:
    return (
        f'    <TextArea name="{name}" toName="text" perRegion="true" editable="true" '
        f'maxSubmissions="1" placeholder="{placeholder}"/>'
    )


#: the labelling config of the project the tasks are imported into
LABEL_CONFIG = "\n".join(
    [
        "<View>",
        '  <Header value="$title"/>',
        '  <Text name="text" value="$text" granularity="symbol"/>',
        '  <Labels name="field" toName="text">',
        '    <Label value="party" background="#4e79a7"/>',
        '    <Label value="official" background="#b07aa1"/>',
        '    <Label value="meeting" background="#f28e2b"/>',
        '    <Label value="agreement" background="#59a14f"/>',
        '    <Label value="mechanism" background="#e15759"/>',
        "  </Labels>",
        '  <Header value="The article" size="5"/>',
        _choices("relevant", [RELEVANT, NOT_RELEVANT], task=True),
        _choices("areas", [a.value for a in Area], multiple=True, task=True),
        '  <TextArea name="note" toName="text" placeholder="note: what was hard"/>',
        '  <View visibleWhen="region-selected">',
        '    <Header value="The selected item" size="5"/>',
        _textarea("parties", "party codes (IRN, WHO, ?Name): the party's own code, the "
                  "official's party, or the parties of a meeting, agreement or mechanism"),
        _textarea("name", "official: name without honorifics (empty: the selected text)"),
        _choices("kind", ["country", "organization"], "party"),
        _textarea("date", "meeting: first day, YYYY-MM-DD (empty: the text does not fix it)"),
        _textarea("location_country", "meeting: country, ISO alpha-3"),
        _choices("instrument", [i.value for i in Instrument], "agreement"),
        _choices("agreement_status", [s.value for s in AgreementStatus], "agreement"),
        _choices("mechanism_kind", [k.value for k in MechanismKind], "mechanism"),
        _choices("mechanism_status", [s.value for s in MechanismStatus], "mechanism"),
        "  </View>",
        "</View>",
    ]
)  # fmt: skip


# ---------------------------------------------------------------- records → tasks


def _codes_text(codes: Iterable[str] | None) -> str:
    return ", ".join(codes or ())


def _region(rid: str, span: Mapping[str, Any], field: str) -> dict[str, Any]:
    value = {"start": span["start"], "end": span["end"], "text": span["text"], "labels": [field]}
    return {"id": rid, "from_name": "field", "to_name": "text", "type": "labels", "value": value}


def _answer(rid: str, span: Mapping[str, Any], name: str, kind: str, answer: Any) -> dict:
    # a per-region answer carries its region's id and offsets (Label Studio's per-region form)
    key = "choices" if kind == "choices" else "text"
    value = {"start": span["start"], "end": span["end"], key: answer}
    return {"id": rid, "from_name": name, "to_name": "text", "type": kind, "value": value}


def _item_results(field: str, i: int, item: Mapping[str, Any], span: Mapping) -> list[dict]:
    rid = f"{field}-{i}"
    out = [_region(rid, span, field)]

    def say(name: str, kind: str, answer: Any) -> None:
        if answer:
            out.append(_answer(rid, span, name, kind, answer))

    if field == "party":
        code = item.get("code") or f"?{item.get('name')}"
        say("parties", "textarea", [code])
        say("kind", "choices", [item.get("kind")] if item.get("kind") else None)
    elif field == "official":
        say("parties", "textarea", [item["party"]] if item.get("party") else None)
        say("name", "textarea", [item["name"]] if item.get("name") else None)
    else:
        codes = _codes_text(item.get("parties"))
        say("parties", "textarea", [codes] if codes else None)
    if field == "meeting":
        start = (item.get("date") or {}).get("start")
        say("date", "textarea", [start] if start else None)
        country = (item.get("location") or {}).get("country")
        say("location_country", "textarea", [country] if country else None)
    elif field == "agreement":
        say("instrument", "choices", [item.get("instrument")])
        say("agreement_status", "choices", [item.get("status")])
    elif field == "mechanism":
        say("mechanism_kind", "choices", [item.get("kind")])
        say("mechanism_status", "choices", [item.get("status")])
    return out


@dataclass
class TasksSummary:
    tasks: int = 0
    without_text: int = 0  # results whose text is unknown: no task (Label Studio needs it)
    items_without_span: int = 0  # items with no evidence span in the text: not pre-labelled


def task(article_id: str, text: str, record: Mapping[str, Any] | None,
         info: ArticleInfo | None, summary: TasksSummary) -> dict[str, Any]:  # fmt: skip
    """One Label Studio task: the text, and the record as a prediction (when there is one)."""
    data = {"text": text, "article_id": article_id, "title": (info.title if info else None) or
            article_id, "published": info.published if info else None}  # fmt: skip
    out: dict[str, Any] = {"data": data}
    if record is None:
        data["model_failed"] = True
        return out
    result: list[dict[str, Any]] = []
    for fld, name in FIELDS.items():
        for i, item in enumerate(record.get(name) or ()):
            evidence = item.get("evidence") or ()
            spans = [s for s in evidence if text[s["start"] : s["end"]] == s["text"]]
            if not spans:
                summary.items_without_span += 1
                continue
            result += _item_results(fld, i, item, spans[0])
    relevant = RELEVANT if record.get("relevant") else NOT_RELEVANT
    result.append({"id": "relevant", "from_name": "relevant", "to_name": "text",
                   "type": "choices", "value": {"choices": [relevant]}})  # fmt: skip
    if record.get("areas"):
        result.append({"id": "areas", "from_name": "areas", "to_name": "text",
                       "type": "choices", "value": {"choices": list(record["areas"])}})  # fmt: skip
    prov = record.get("provenance") or {}
    version = " ".join(x for x in (prov.get("model"), prov.get("prompt_version")) if x)
    out["predictions"] = [{"model_version": version or "healthcoop", "result": result}]
    return out


def tasks(
    results: Iterable[Any] | str | os.PathLike[str],
    articles: Mapping[str, ArticleInfo] | None = None,
) -> tuple[list[dict[str, Any]], TasksSummary]:
    """Label Studio tasks for results (a file, or records in Python)."""
    source = read_lines(results) if isinstance(results, (str, os.PathLike)) else lines(results)
    out, summary = [], TasksSummary()
    for line in source:
        info = articles.get(line.article_id) if articles else None
        text = (line.record or {}).get("text") or (info.text if info else None)
        if text is None:
            summary.without_text += 1
            continue
        out.append(task(line.article_id, text, line.record, info, summary))
        summary.tasks += 1
    return out, summary


def write_tasks(
    results: Iterable[Any] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    articles: Mapping[str, ArticleInfo] | None = None,
) -> TasksSummary:
    """Write a Label Studio import file (JSON list of tasks with predictions)."""
    found, summary = tasks(results, articles)
    Path(out).write_text(json.dumps(found, ensure_ascii=False, indent=1), encoding="utf-8")
    return summary


# ---------------------------------------------------------------- Label Studio export → gold

_SEP = re.compile(r"[,;+\n]")


def parse_codes(text: str) -> list[str]:
    """Party codes as an annotator types them: "IRN, RUS", "IRN RUS", "WHO + ?Some Body"."""
    out: list[str] = []
    for piece in _SEP.split(text):
        piece = piece.strip()
        if not piece:
            continue
        if piece.startswith("?"):
            out.append(piece)
        else:
            out += [p.upper() for p in piece.split()]
    return out


def _check_code(code: str) -> str:
    if code.startswith("?") or is_country_code(code) or is_organization_code(code):
        return code
    raise ValueError(
        f"{code!r} is not an ISO alpha-3 or gazetteer code (write ?Name for other parties)"
    )


def _annotation(t: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The annotation that counts: ground truth first, then the latest, never a skipped one."""
    done = [a for a in t.get("annotations") or () if not a.get("was_cancelled")]
    if not done:
        return None
    return max(done, key=lambda a: (bool(a.get("ground_truth")), _when(a)))


def _when(annotation: Mapping[str, Any]) -> str:
    return str(annotation.get("updated_at") or annotation.get("created_at") or "")


def _text_answer(results: list[Mapping[str, Any]], name: str) -> str:
    for r in results:
        if r.get("from_name") == name:
            value = (r.get("value") or {}).get("text")
            return " ".join(value) if isinstance(value, list) else str(value or "")
    return ""


def _choice(results: list[Mapping[str, Any]], name: str) -> list[str]:
    for r in results:
        if r.get("from_name") == name:
            return list((r.get("value") or {}).get("choices") or ())
    return []


def gold_record(t: Mapping[str, Any]) -> dict[str, Any] | None:
    """The gold record (annotation-guide format) of one exported task; None when nobody
    annotated it; ValueError saying which region is wrong otherwise."""
    ann = _annotation(t)
    if ann is None:
        return None
    data = t.get("data") or {}
    results = list(ann.get("result") or ())
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    regions: list[Mapping[str, Any]] = []
    for r in results:
        if r.get("type") == "relation":
            continue
        by_id.setdefault(str(r.get("id")), []).append(r)
        if r.get("type") == "labels" and r.get("from_name") == "field":
            regions.append(r)
    gold: dict[str, Any] = {
        "id": str(data.get("article_id") or t.get("id")), "relevant": bool(regions),
        "countries": [], "organizations": [], "officials": [], "meetings": [],
        "agreements": [], "mechanisms": [], "areas": [],
    }  # fmt: skip
    task_level = [r for r in results if r.get("from_name") in ("relevant", "areas", "note")]
    relevant = _choice(task_level, "relevant")
    if relevant:
        gold["relevant"] = relevant[0] == RELEVANT
    gold["areas"] = list(dict.fromkeys(_choice(task_level, "areas")))
    for r in task_level:
        if r.get("from_name") == "note":
            gold["note"] = _text_answer([r], "note") or None
    seen_officials: set[str] = set()
    for region in sorted(regions, key=lambda r: (r["value"].get("start", 0), str(r.get("id")))):
        rid, value = str(region.get("id")), region.get("value") or {}
        label = (value.get("labels") or ["?"])[0]
        answers = by_id.get(rid, [])
        where = f"region {rid} ({label} {value.get('text')!r})"
        try:
            codes = [_check_code(c) for c in parse_codes(_text_answer(answers, "parties"))]
            _add(gold, label, value, answers, codes, seen_officials)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    return gold


def _add(gold: dict, label: str, value: Mapping, answers: list, codes: list[str],
         seen_officials: set[str]) -> None:  # fmt: skip
    if label == "party":
        code = codes[0] if codes else f"?{value.get('text', '').strip()}"
        kind = (_choice(answers, "kind") or [None])[0]
        if kind is None:
            kind = "country" if is_country_code(code) else "organization"
        bucket = gold["countries" if kind == "country" else "organizations"]
        if code not in bucket:
            bucket.append(code)
    elif label == "official":
        name = _text_answer(answers, "name").strip() or clean_person_name(value.get("text", ""))
        if name.casefold() not in seen_officials:
            seen_officials.add(name.casefold())
            gold["officials"].append({"name": name, "party": codes[0] if codes else None})
    elif label == "meeting":
        day = _text_answer(answers, "date").strip() or None
        if day is not None:
            dt.date.fromisoformat(day)  # a typo must not become a silently missing date
        country = _text_answer(answers, "location_country").strip().upper() or None
        if country is not None and not is_country_code(country):
            raise ValueError(f"location country {country!r} is not an ISO alpha-3 code")
        gold["meetings"].append({"parties": codes, "date": day, "location_country": country})
    elif label == "agreement":
        instrument, status = _choice(answers, "instrument"), _choice(answers, "agreement_status")
        if not instrument or not status:
            raise ValueError("an agreement needs an instrument and a status")
        gold["agreements"].append(
            {"instrument": instrument[0], "status": status[0], "parties": codes}
        )
    elif label == "mechanism":
        kind, status = _choice(answers, "mechanism_kind"), _choice(answers, "mechanism_status")
        if not kind or not status:
            raise ValueError("a mechanism needs a kind and a status")
        gold["mechanisms"].append({"kind": kind[0], "status": status[0]})
    else:
        raise ValueError(f"unknown label {label!r}")


@dataclass
class GoldSummary:
    tasks: int = 0
    gold: int = 0
    not_annotated: int = 0
    problems: list[str] = field(default_factory=list)


def read_export(path: str | os.PathLike[str]) -> list[Mapping[str, Any]]:
    """A Label Studio JSON export: a list of tasks (one JSON document, or JSON lines)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such Label Studio export: {p}", field="path")
    raw = p.read_text(encoding="utf-8")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: not a Label Studio JSON export ({exc.msg})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise InputError(f"{p}: a Label Studio JSON export is a list of tasks")
    return data


def import_labels(export: str | os.PathLike[str], out: str | os.PathLike[str]) -> GoldSummary:
    """Turn a Label Studio export into gold records (JSON lines) at `out`."""
    summary = GoldSummary()
    records: list[dict[str, Any]] = []
    for t in read_export(export):
        summary.tasks += 1
        name = (t.get("data") or {}).get("article_id") or f"task {t.get('id')}"
        try:
            gold = gold_record(t)
            if gold is not None:
                parse_gold(gold)  # what `healthcoop eval --gold` will accept
        except (ValueError, InputError) as exc:
            summary.problems.append(f"{name}: {getattr(exc, 'message', exc)}")
            continue
        if gold is None:
            summary.not_annotated += 1
            continue
        records.append(gold)
    Path(out).write_text(
        "".join(json.dumps(g, ensure_ascii=False) + "\n" for g in records), encoding="utf-8"
    )
    summary.gold = len(records)
    return summary
