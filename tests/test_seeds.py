"""The four seed articles, end to end against recorded traffic of the embedded 1.5B model.

Each seed's full gold record (`../shared/eval/dev-gold.jsonl`, `seed-000` to `seed-003`, read at
run time) is asserted item by item and field by field, and so is the contract's worked example
for seed 002 (`../shared/spec/contract.md`). A gold item the pipeline still misses, or an item
it adds that the gold lacks, is a strict xfail that names it: the distance to the
specification shows in every run, and a fix shows as an XPASS that fails until its mark goes.
Every record must also hold the invariants: exact offsets, valid codes, no party the text lacks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections import Counter
from functools import cache

import pytest

from healthcoop import Extractor
from healthcoop.core.grounding import fold
from healthcoop.llm.client import OpenAILLM
from healthcoop.schemas import ArticleExtraction
from healthcoop.scoring import evaluate
from tests.conftest import SHARED, seed_text
from tests.support.cassette import RECORDING, cassette, model_settings

GOLD = SHARED / "eval" / "dev-gold.jsonl"
CONTRACT = SHARED / "spec" / "contract.md"
SEEDS = ("000", "001", "002", "003")
PUBLISHED = {"002": dt.date(2025, 4, 28)}
FIELDS = ("relevance", "countries", "organizations", "officials", "official_party",
          "meetings", "meeting_date", "agreements", "mechanisms", "areas")  # fmt: skip

pytestmark = pytest.mark.skipif(not GOLD.is_file(), reason="../shared/eval is not here")

# What the pipeline still gets wrong on the seeds, as recorded in cassettes/test_seeds/ (prompt
# candidates, revision 5). Keys: (record, field, item as the scorer writes it); the item "+"
# stands for the items a record adds that its gold lacks.
KNOWN = {
    ("seed-000", "areas", "+"): "adds emergencies_humanitarian: 'the crisis' mentioned in passing",
    ("seed-001", "areas", "+"): "adds research: 'science' in a list of fields",
}


# ---------------------------------------------------------------- the records, once


@cache
def _records() -> dict[str, ArticleExtraction]:
    out: dict[str, ArticleExtraction] = {}
    with model_settings() as settings:
        extractor = Extractor(OpenAILLM(settings), settings)
        for seed in SEEDS:
            article = {"id": seed, "text": seed_text(seed), "published": PUBLISHED.get(seed)}
            with cassette(f"test_seeds/seed_{seed}.yaml") as recorded:
                out[seed] = extractor.extract(article)
            if not RECORDING:
                assert recorded.play_count == 1  # the one request was replayed, not sent
    return out


# ---------------------------------------------------------------- the specification


def _gold_facts() -> dict[str, evaluate.Facts]:
    if not GOLD.is_file():
        return {}
    with GOLD.open(encoding="utf-8") as lines:
        gold = [json.loads(line) for line in lines if line.strip()]
    return {
        g["id"].removeprefix("seed-"): evaluate.gold_facts(evaluate.parse_gold(g))
        for g in gold
        if g["id"].startswith("seed-")
    }


def _contract_example() -> dict:
    """The worked example of seed 002 in the contract, as JSON."""
    if not CONTRACT.is_file():
        return {}
    block = re.search(r"## Example: seed article 002.*?```json\n(.*?)```", CONTRACT.read_text(),
                      re.DOTALL)  # fmt: skip
    return json.loads(block.group(1)) if block else {}


def _contract_facts(example: dict) -> evaluate.Facts:
    """The example in the gold's terms (what the scorer compares)."""
    if not example:
        return evaluate.NOTHING
    codes = {p["code"]: p["kind"] for p in example["parties"]}
    gold = evaluate.parse_gold(
        {
            "id": "contract-002",
            "relevant": example["relevant"],
            "countries": [c for c, k in codes.items() if k == "country"],
            "organizations": [c for c, k in codes.items() if k == "organization"],
            "officials": [{"name": o["name"], "party": o["party"]} for o in example["officials"]],
            "meetings": [
                {
                    "parties": m["parties"],
                    "date": (m["date"] or {}).get("start"),
                    "location_country": (m["location"] or {}).get("country"),
                }
                for m in example["meetings"]
            ],
            "agreements": [
                {k: a[k] for k in ("instrument", "status", "parties")}
                for a in example["agreements"]
            ],
            "mechanisms": [{k: m[k] for k in ("kind", "status")} for m in example["mechanisms"]],
            "areas": example["areas"],
        }  # fmt: skip
    )
    return evaluate.gold_facts(gold)


def _items(gold: evaluate.Facts) -> dict[str, list[str]]:
    """Every item of a gold record, per field, as the scorer writes it. An attribute field
    (an official's party, a meeting's day) lists the gold's value for each of its items."""
    out = {f: r.missed for f, r in evaluate.compare(gold, evaluate.NOTHING).items()}
    blank = dataclasses.replace(
        gold,
        officials=tuple(dataclasses.replace(o, party=None) for o in gold.officials),
        meetings=tuple(dataclasses.replace(m, date=None) for m in gold.meetings),
    )
    attrs = evaluate.compare(gold, blank)
    out["official_party"] = attrs["official_party"].missed
    out["meeting_date"] = attrs["meeting_date"].missed
    return out


def _targets() -> dict[str, tuple[str, evaluate.Facts]]:
    """Each record to check: the four gold records, and the contract's example of seed 002."""
    out = {f"seed-{s}": (s, facts) for s, facts in _gold_facts().items()}
    out["contract-002"] = ("002", _contract_facts(_contract_example()))
    return out


def _mark(key: tuple[str, str, str]) -> list[pytest.MarkDecorator]:
    reason = KNOWN.get(key)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def _item_cases() -> list:
    cases = []
    for target, (_, facts) in _targets().items():
        for field, items in _items(facts).items():
            for item, n in Counter(items).items():
                for k in range(1, n + 1):
                    label = item if n == 1 else f"{item} #{k}"
                    name = f"{target} {field} {label}"
                    marks = _mark((target, field, label))
                    cases.append(pytest.param(target, field, item, k, id=name, marks=marks))
    return cases


def _field_cases() -> list:
    return [
        pytest.param(
            target, field, id=f"{target} {field}", marks=_mark((target, field, "+"))
        )  # fmt: skip
        for target in _targets()
        for field in FIELDS
    ]


def _result(target: str, field: str) -> evaluate.FieldResult:
    seed, facts = _targets()[target]
    return evaluate.compare(facts, evaluate.predicted_facts(_records()[seed]))[field]


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize(("target", "field", "item", "k"), _item_cases())
def test_each_gold_item_of_each_seed_is_in_its_record(target, field, item, k):
    missed = _result(target, field).missed
    total = _items(_targets()[target][1])[field].count(item)
    assert missed.count(item) <= total - k, f"{target}: {field} misses {item}"


@pytest.mark.parametrize(("target", "field"), _field_cases())
def test_no_seed_record_adds_what_its_gold_lacks(target, field):
    assert _result(target, field).spurious == []


@pytest.mark.parametrize("seed", SEEDS)
def test_every_item_of_a_seed_record_is_grounded_in_its_text(seed):
    record, text = _records()[seed], seed_text(seed)
    items = [*record.parties, *record.officials, *record.meetings, *record.agreements,
             *record.mechanisms]  # fmt: skip
    for item in items:
        assert item.grounded and item.evidence, item
        for span in item.evidence:
            assert text[span.start : span.end] == span.text
    for party in record.parties:
        assert any(party.name in s.text or s.text in text for s in party.evidence)
    assert record.provenance.usage.completion_tokens > 0


def test_the_contract_example_is_the_gold_record_of_seed_002():
    # the two specifications of seed 002 agree on everything the scorer compares
    gold, example = _gold_facts().get("002"), _contract_facts(_contract_example())
    if gold is None or example is evaluate.NOTHING:
        pytest.skip("../shared is not here")
    assert all(r.counts.fp == r.counts.fn == 0 for r in evaluate.compare(gold, example).values())


def _example_meeting_cases() -> list:
    example = _contract_example()
    cases = []
    for m in example.get("meetings", []):
        where = (m["location"] or {}).get("city")
        day = (m["date"] or {}).get("start")
        label = f"contract-002 meeting {'+'.join(m['parties'])} in {where} on {day}"
        cases.append(pytest.param(m, id=label, marks=_mark(("contract-002", "meeting", label))))
    return cases


@pytest.mark.parametrize("meeting", _example_meeting_cases())
def test_the_contract_examples_meetings_have_their_day_and_city(meeting):
    record = _records()["002"]
    day = (meeting["date"] or {}).get("start")
    city = (meeting["location"] or {}).get("city")
    assert any(
        set(m.parties) == set(meeting["parties"])
        and (m.date.start.isoformat() if m.date else None) == day
        and fold(m.location.city if m.location and m.location.city else "").text
        == fold(city or "").text  # "Xi’an" as the text writes it is the example's "Xi'an"
        for m in record.meetings
    )
