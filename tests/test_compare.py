"""`healthcoop diff`: per-field changes between two runs over the same archive."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from healthcoop.scoring.diff import diff, project


def ok(article_id: str, **fields) -> dict:
    extraction = {"article_id": article_id, "relevant": True, **fields}
    return {"article_id": article_id, "status": "ok", "extraction": extraction}


def error(article_id: str, kind: str = "extraction_error") -> dict:
    return {"article_id": article_id, "status": "error", "error": {"type": kind, "message": "x"}}


def party(code: str, start: int = 0) -> dict:
    return {"name": code, "kind": "country", "code": code, "evidence": [{"start": start}]}


def write(path: Path, lines: list, *, extra: tuple[str, ...] = ()) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
        for raw in extra:
            f.write(raw + "\n")
    return path


def test_records_added_dropped_and_changed_are_counted_by_id(tmp_path):
    old = write(tmp_path / "old.jsonl", [ok("a"), ok("b"), ok("c")])
    new = write(tmp_path / "new.jsonl", [ok("a"), ok("c", relevant=False), ok("d")])
    report = diff(old, new)
    assert (report.both, report.added, report.dropped) == (2, 1, 1)
    assert (report.changed, report.unchanged) == (1, 1)
    assert report.added_examples == ["d"] and report.dropped_examples == ["b"]
    assert report.fields["relevant"].transitions == {"true→false": 1}


def test_list_fields_report_items_added_and_removed_with_their_codes(tmp_path):
    old = write(tmp_path / "old.jsonl", [ok("a", parties=[party("IRN"), party("QAT")])])
    new = write(
        tmp_path / "new.jsonl.gz",
        [ok("a", parties=[party("IRN"), party("OMN")], areas=["vaccines"])],
    )
    report = diff(old, new)
    parties = report.fields["parties"]
    assert (parties.records, parties.added, parties.removed) == (1, 1, 1)
    assert parties.top_added == {"OMN": 1} and parties.top_removed == {"QAT": 1}
    assert report.fields["areas"].top_added == {"vaccines": 1}
    assert report.fields["officials"].records == 0
    assert "+OMN 1" in report.render()


def test_evidence_offsets_and_provenance_are_not_changes():
    a = {"relevant": True, "parties": [party("IRN", 0)], "provenance": {"model": "m1"}}
    b = {"relevant": True, "parties": [party("IRN", 40)], "provenance": {"model": "m2"}}
    assert project(a) == project(b)


def test_status_changes_are_counted_by_error_type_and_unreadable_lines_skipped(tmp_path):
    old = write(tmp_path / "old.jsonl", [ok("a"), error("b"), error("c", "llm_error")])
    new = write(
        tmp_path / "new.jsonl", [error("a"), ok("b"), error("c", "llm_error")], extra=("{oops",)
    )
    report = diff(old, new)
    assert report.status == {"ok→extraction_error": 1, "extraction_error→ok": 1}
    assert (report.changed, report.unchanged, report.unreadable) == (2, 1, 1)
    assert report.to_dict()["records"]["changed"] == 2
