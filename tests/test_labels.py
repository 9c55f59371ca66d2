"""Label Studio round trip: `healthcoop review --label-studio` writes tasks in Label Studio's
documented import format (tasks with `data` and `predictions`), and `healthcoop import-labels`
turns its documented JSON export (tasks with `annotations`) into gold records that
`healthcoop eval --gold` scores (issue 14). Label Studio itself does not run here: the
fixtures are written to those formats."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from healthcoop.analysis import labels
from healthcoop.cli import app
from healthcoop.scoring.evaluate import score
from tests.analysis_data import (
    TEXT_A,
    archive_rows,
    bulk_line,
    error_line,
    record_a,
    record_b,
    record_c,
    span,
)
from tests.conftest import ROOT

runner = CliRunner()
RECORDS = [record_a(), record_b(own_text=True), record_c()]
TAG_TYPES = {"Labels": "labels", "Choices": "choices", "TextArea": "textarea"}


@pytest.fixture
def tasks_file(tmp_path):
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(json.dumps(r) + "\n" for r in archive_rows()), encoding="utf-8")
    results = tmp_path / "results.jsonl"
    lines = [bulk_line(r) for r in RECORDS] + [error_line()]
    results.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "tasks.json"
    args = ["review", str(results), "--articles", str(archive), "--label-studio", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def exported(tasks: list[dict]) -> list[dict]:
    """What Label Studio's JSON export gives after annotators accept the predictions as they
    are (each task gains an id and one annotation whose result is the prediction's)."""
    out = []
    for n, t in enumerate(tasks, 1):
        result = copy.deepcopy(t["predictions"][0]["result"]) if t.get("predictions") else []
        out.append({
            "id": n, "data": t["data"], "project": 1,
            "annotations": [{
                "id": 100 + n, "completed_by": 1, "result": result, "was_cancelled": False,
                "ground_truth": False, "created_at": "2025-06-01T10:00:00.000000Z",
                "updated_at": "2025-06-01T10:05:00.000000Z", "lead_time": 30.5, "task": n,
            }],
            "predictions": t.get("predictions", []),
        })  # fmt: skip
    return out


def config_controls() -> dict[str, tuple[str, set[str]]]:
    """name → (result type, declared values) for each control tag of LABEL_CONFIG."""
    root = ET.fromstring(labels.LABEL_CONFIG)
    out = {}
    for tag in root.iter():
        if tag.tag in TAG_TYPES:
            values = {c.get("value") for c in tag if c.tag in ("Label", "Choice")}
            out[tag.get("name")] = (TAG_TYPES[tag.tag], values)
    return out


def test_tasks_are_in_label_studios_import_format(tasks_file):
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    assert [t["data"]["article_id"] for t in tasks] == ["a1", "b2", "c3", "d4"]
    controls = config_controls()
    for t in tasks:
        assert isinstance(t["data"]["text"], str)
        for pred in t.get("predictions", []):
            ids = [r["id"] for r in pred["result"]]
            regions = {r["id"] for r in pred["result"] if r["type"] == "labels"}
            for r in pred["result"]:
                assert r["to_name"] == "text"
                kind, declared = controls[r["from_name"]]
                assert r["type"] == kind, r
                v = r["value"]
                if kind == "labels":
                    assert t["data"]["text"][v["start"] : v["end"]] == v["text"]
                    assert set(v["labels"]) <= declared
                elif kind == "choices":
                    assert set(v["choices"]) <= declared, r
                else:
                    assert all(isinstance(x, str) for x in v["text"])
                # a per-region answer shares its region's id
                assert r["id"] in regions or r["from_name"] in ("relevant", "areas")
            assert len(regions) == len({i for i in ids if i in regions})
    d4 = tasks[3]
    assert "predictions" not in d4 and d4["data"]["model_failed"] is True


def test_spans_are_labelled_by_field_and_party_with_statuses_as_choices(tasks_file):
    a1 = json.loads(tasks_file.read_text(encoding="utf-8"))[0]
    result = a1["predictions"][0]["result"]
    by = {(r["id"], r["from_name"]): r["value"] for r in result}
    assert by[("party-1", "field")]["labels"] == ["party"]
    assert by[("party-1", "parties")]["text"] == ["KEN"]
    assert by[("official-0", "parties")]["text"] == ["KEN"]
    assert by[("agreement-0", "field")]["text"] == "signed a memorandum of understanding"
    assert by[("agreement-0", "agreement_status")]["choices"] == ["signed"]
    assert by[("agreement-0", "instrument")]["choices"] == ["mou"]
    assert by[("mechanism-0", "mechanism_status")]["choices"] == ["proposed"]
    assert by[("mechanism-0", "parties")]["text"] == ["PAK, KEN, WHO"]
    assert by[("meeting-0", "date")]["text"] == ["2025-03-03"]
    assert by[("relevant", "relevant")]["choices"] == ["relevant"]
    assert by[("areas", "areas")]["choices"] == ["vaccines", "communicable_diseases"]


def test_accepted_predictions_become_gold_that_scores_the_records_perfectly(tasks_file, tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(exported(json.loads(tasks_file.read_text()))), encoding="utf-8")
    gold_path = tmp_path / "gold.jsonl"
    result = runner.invoke(app, ["import-labels", str(export), "-o", str(gold_path)])
    assert result.exit_code == 0, result.output
    gold = [json.loads(x) for x in gold_path.read_text().splitlines()]
    assert [g["id"] for g in gold] == ["a1", "b2", "c3", "d4"]
    a1 = gold[0]
    assert (a1["countries"], a1["organizations"]) == (["PAK", "KEN"], ["WHO"])
    assert a1["officials"] == [
        {"name": "Amina Odhiambo", "party": "KEN"},
        {"name": "Farid Qureshi", "party": "PAK"},
    ]
    assert a1["meetings"] == [{"parties": ["KEN", "PAK"], "date": "2025-03-03",
                               "location_country": "PAK"}]  # fmt: skip
    assert gold[2]["relevant"] is False and gold[3]["relevant"] is False  # d4: nobody labelled
    report = score(gold[:3], RECORDS)
    assert (report.micro.fp, report.micro.fn) == (0, 0) and report.micro.tp > 0


def test_corrections_count_against_the_model_in_eval(tasks_file, tmp_path):
    tasks = exported(json.loads(tasks_file.read_text()))
    result = tasks[0]["annotations"][0]["result"]
    for r in result:  # the annotator says the MoU was only pending
        if r["id"] == "agreement-0" and r["from_name"] == "agreement_status":
            r["value"]["choices"] = ["pending"]
    s = span(TEXT_A, "Monday")  # and adds a meeting the model missed, on Monday, in Kenya
    result += [
        {"id": "new1", "from_name": "field", "to_name": "text", "type": "labels",
         "value": {"start": s.start, "end": s.end, "text": s.text, "labels": ["meeting"]}},
        {"id": "new1", "from_name": "parties", "to_name": "text", "type": "textarea",
         "value": {"start": s.start, "end": s.end, "text": ["ken pak"]}},
        {"id": "new1", "from_name": "location_country", "to_name": "text", "type": "textarea",
         "value": {"start": s.start, "end": s.end, "text": ["KEN"]}},
    ]  # fmt: skip
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks[:1]), encoding="utf-8")
    gold_path = tmp_path / "gold.jsonl"
    assert runner.invoke(app, ["import-labels", str(export), "-o", str(gold_path)]).exit_code == 0
    (gold,) = [json.loads(x) for x in gold_path.read_text().splitlines()]
    assert gold["agreements"] == [{"instrument": "mou", "status": "pending",
                                   "parties": ["PAK", "KEN"]}]  # fmt: skip
    assert {"parties": ["KEN", "PAK"], "date": None, "location_country": "KEN"} in gold["meetings"]
    # and `healthcoop eval --gold` scores the model against the corrected gold
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(bulk_line(record_a())) + "\n", encoding="utf-8")
    out = runner.invoke(app, ["eval", "--gold", str(gold_path), "--predictions", str(results),
                              "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    fields = json.loads(out.output)["fields"]
    assert (fields["agreements"]["fp"], fields["agreements"]["fn"]) == (1, 1)
    assert (fields["meetings"]["tp"], fields["meetings"]["fn"]) == (1, 1)


def test_the_chosen_annotation_is_ground_truth_then_the_latest_never_a_skipped_one():
    def ann(status, *, updated, ground_truth=False, cancelled=False):
        s = span(TEXT_A, "signed a memorandum of understanding")
        v = {"start": s.start, "end": s.end}
        return {
            "result": [
                {"id": "x", "from_name": "field", "to_name": "text", "type": "labels",
                 "value": {**v, "text": s.text, "labels": ["agreement"]}},
                {"id": "x", "from_name": "instrument", "to_name": "text", "type": "choices",
                 "value": {**v, "choices": ["mou"]}},
                {"id": "x", "from_name": "agreement_status", "to_name": "text",
                 "type": "choices", "value": {**v, "choices": [status]}},
            ],
            "updated_at": updated, "ground_truth": ground_truth, "was_cancelled": cancelled,
        }  # fmt: skip

    def status(*anns):
        t = {"id": 1, "data": {"text": TEXT_A, "article_id": "a1"}, "annotations": list(anns)}
        return labels.gold_record(t)["agreements"][0]["status"]

    early, late = ann("signed", updated="2025-01-01"), ann("pending", updated="2025-02-01")
    assert status(early, late) == "pending"
    assert status(ann("approved", updated="2024-01-01", ground_truth=True), late) == "approved"
    assert status(early, ann("proposed", updated="2026-01-01", cancelled=True)) == "signed"
    empty = {"id": 2, "data": {"text": TEXT_A}, "annotations": [ann("signed", updated="x",
                                                                   cancelled=True)]}  # fmt: skip
    assert labels.gold_record(empty) is None


def test_a_party_outside_iso_and_the_gazetteer_keeps_its_name_and_kind():
    s = span(TEXT_A, "Kenya")
    v = {"start": s.start, "end": s.end}
    t = {"id": 7, "data": {"text": TEXT_A, "article_id": "x"}, "annotations": [{"result": [
        {"id": "p", "from_name": "field", "to_name": "text", "type": "labels",
         "value": {**v, "text": s.text, "labels": ["party"]}},
        {"id": "p", "from_name": "parties", "to_name": "text", "type": "textarea",
         "value": {**v, "text": ["?Turkish Republic of Northern Cyprus"]}},
        {"id": "p", "from_name": "kind", "to_name": "text", "type": "choices",
         "value": {**v, "choices": ["country"]}},
    ]}]}  # fmt: skip
    gold = labels.gold_record(t)
    assert gold["countries"] == ["?Turkish Republic of Northern Cyprus"]
    assert gold["organizations"] == [] and gold["relevant"] is True


def test_a_wrong_code_or_date_is_reported_and_that_task_left_out(tasks_file, tmp_path):
    tasks = exported(json.loads(tasks_file.read_text()))
    for r in tasks[0]["annotations"][0]["result"]:
        if r["id"] == "meeting-0" and r["from_name"] == "date":
            r["value"]["text"] = ["2025-13-03"]
        if r["id"] == "party-0" and r["from_name"] == "parties":
            r["value"]["text"] = ["PAKI"]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    gold_path = tmp_path / "gold.jsonl"
    result = runner.invoke(app, ["import-labels", str(export), "-o", str(gold_path)])
    assert result.exit_code == 1
    assert "a1: region party-0" in result.output and "'PAKI'" in result.output
    assert [json.loads(x)["id"] for x in gold_path.read_text().splitlines()] == ["b2", "c3", "d4"]


def test_parse_codes_reads_what_annotators_type():
    assert labels.parse_codes("irn, RUS") == ["IRN", "RUS"]
    assert labels.parse_codes("IRN RUS + WHO") == ["IRN", "RUS", "WHO"]
    assert labels.parse_codes("QAT; ?Some Health Body") == ["QAT", "?Some Health Body"]


def test_the_labelling_config_is_documented_as_used():
    doc = (ROOT / "docs" / "label-studio.md").read_text(encoding="utf-8")
    assert labels.LABEL_CONFIG in doc


def test_a_missing_or_malformed_export_is_a_usage_error(tmp_path):
    missing = runner.invoke(app, ["import-labels", str(tmp_path / "x.json"), "-o", "g.jsonl"])
    assert missing.exit_code == 2 and "no such Label Studio export" in missing.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"', encoding="utf-8")
    result = runner.invoke(app, ["import-labels", str(bad), "-o", str(tmp_path / "g.jsonl")])
    assert result.exit_code == 2 and "Traceback" not in result.output
