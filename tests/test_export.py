"""`healthcoop export` and `healthcoop.export.tables`: tidy tables keyed by article_id, the
dyads analysts load, error lines kept, Parquet/CSV/GraphML re-read and checked against the
records (issue 14)."""

from __future__ import annotations

import gzip
import json
from itertools import combinations

import networkx as nx
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import healthcoop
from healthcoop.cli import app
from tests.analysis_data import (
    archive_rows,
    bulk_line,
    error_line,
    record_a,
    record_b,
    record_c,
)

runner = CliRunner()
RECORDS = [record_a(), record_b(), record_c()]
ITEM_FIELDS = {"party": "parties", "official": "officials", "meeting": "meetings",
               "agreement": "agreements", "mechanism": "mechanisms"}  # fmt: skip


@pytest.fixture
def results(tmp_path):
    """A bulk-runner results file: three records, an error line and an unreadable line."""
    path = tmp_path / "results.jsonl"
    lines = [json.dumps(bulk_line(r)) for r in RECORDS] + [json.dumps(error_line()), "{oops"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "archive.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in archive_rows()), encoding="utf-8")
    return path


def _rows(table, article_id):
    return [r for r in table.to_pylist() if r["article_id"] == article_id]


def test_healthcoop_export_tables_is_the_python_api():
    t = healthcoop.export.tables(RECORDS)
    assert set(t) == {"articles", "parties", "officials", "meetings", "agreements",
                      "mechanisms", "areas", "evidence", "dyads", "errors"}  # fmt: skip
    assert all(tab.num_rows >= 0 and "article_id" in tab.column_names for tab in t.values())


def test_every_item_is_one_row_keyed_by_its_article_and_index():
    t = healthcoop.export.tables([bulk_line(r) for r in RECORDS])
    for rec in RECORDS:
        aid = rec.article_id
        assert [(p["code"], p["kind"], p["name"]) for p in _rows(t["parties"], aid)] == [
            (p.code, p.kind.value, p.name) for p in rec.parties
        ]
        assert [(o["name"], o["title"], o["party"]) for o in _rows(t["officials"], aid)] == [
            (o.name, o.title, o.party) for o in rec.officials
        ]
        assert [
            (m["parties"], m["date_start"], m["date_end"], m["city"], m["country"])
            for m in _rows(t["meetings"], aid)
        ] == [
            (m.parties, m.date.start, m.date.end, m.location.city, m.location.country)
            for m in rec.meetings
        ]
        assert [(a["instrument"], a["status"], a["parties"], a["date"])
                for a in _rows(t["agreements"], aid)] == [
            (a.instrument.value, a.status.value, a.parties, a.date) for a in rec.agreements
        ]  # fmt: skip
        assert [(m["kind"], m["status"], m["parties"], m["description"])
                for m in _rows(t["mechanisms"], aid)] == [
            (m.kind.value, m.status.value, m.parties, m.description) for m in rec.mechanisms
        ]  # fmt: skip
        assert [a["area"] for a in _rows(t["areas"], aid)] == [a.value for a in rec.areas]
        for name, table in t.items():
            if name in ITEM_FIELDS.values():
                assert [r["item_index"] for r in _rows(table, aid)] == list(
                    range(len(getattr(rec, name)))
                )
    articles = {r["article_id"]: r for r in t["articles"].to_pylist()}
    assert articles["a1"]["relevant"] is True and articles["c3"]["relevant"] is False
    assert articles["a1"]["prompt_version"] == "test0000"
    assert articles["a1"]["schema_version"] == healthcoop.SCHEMA_VERSION


def test_evidence_rows_are_exactly_the_records_spans():
    t = healthcoop.export.tables(RECORDS)
    expected = {
        (rec.article_id, item_type, i, s.start, s.end, s.text, s.alignment.value)
        for rec in RECORDS
        for item_type, name in ITEM_FIELDS.items()
        for i, item in enumerate(getattr(rec, name))
        for s in item.evidence
    }
    got = [tuple(r.values()) for r in t["evidence"].to_pylist()]
    assert len(got) == len(expected) and set(got) == expected


def test_dyads_are_every_pair_of_an_items_parties_once():
    t = healthcoop.export.tables([record_a()])
    dyads = t["dyads"].to_pylist()
    mech = [(d["party_a"], d["party_b"]) for d in dyads if d["item_type"] == "mechanism"]
    assert sorted(mech) == sorted(combinations(sorted(["PAK", "KEN", "WHO"]), 2))
    assert all(d["party_a"] < d["party_b"] for d in dyads)
    (agreement,) = [d for d in dyads if d["item_type"] == "agreement"]
    assert (agreement["kind"], agreement["status"], str(agreement["date"])) == (
        "mou", "signed", "2025-03-03",
    )  # fmt: skip
    (meeting,) = [d for d in dyads if d["item_type"] == "meeting"]
    assert meeting["kind"] is None and str(meeting["date"]) == "2025-03-03"


def test_an_item_with_one_party_makes_no_dyad():
    rec = record_b().model_copy(deep=True)
    rec.meetings[0].parties = ["PER"]
    dyads = healthcoop.export.tables([rec])["dyads"].to_pylist()
    assert [d["item_type"] for d in dyads] == ["agreement"]


def test_error_lines_go_to_the_errors_table_and_make_no_article():
    t = healthcoop.export.tables([record_a(), error_line("d4")])
    (err,) = t["errors"].to_pylist()
    assert (err["article_id"], err["type"], err["message"]) == ("d4", "llm_error", "timed out")
    assert json.loads(err["detail"]) == {"kind": "timeout", "retryable": True}
    assert [a["article_id"] for a in t["articles"].to_pylist()] == ["a1"]


def test_parquet_re_read_with_pyarrow_equals_the_tables(results, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(results), "--to", str(out)])
    assert result.exit_code == 1, result.output  # the unreadable line is a failed record
    expected = healthcoop.export.tables([bulk_line(r) for r in RECORDS] + [error_line()])
    for name, table in expected.items():
        got = pq.read_table(out / f"{name}.parquet")
        assert got.schema.equals(table.schema), name
        if name == "errors":
            assert got.num_rows == 2  # the error line and the unreadable one
            assert got.column("type").to_pylist() == ["llm_error", "unreadable_line"]
            assert got.column("line").to_pylist() == [4, 5]
        else:
            assert got.equals(table), name


def test_csv_has_the_same_columns_with_lists_joined(results, tmp_path):
    out = tmp_path / "out"
    runner.invoke(app, ["export", str(results), "--to", str(out), "--format", "csv"])
    for name, schema in healthcoop.export.SCHEMAS.items():
        got = pcsv.read_csv(out / f"{name}.csv")
        assert got.column_names == schema.names, name
    meetings = pcsv.read_csv(out / "meetings.csv").to_pylist()
    assert [m["parties"] for m in meetings] == ["KEN;PAK", "CHL;PER"]
    assert str(meetings[0]["date_start"]) == "2025-03-03"


def test_articles_take_published_title_url_source_from_the_archive(results, archive, tmp_path):
    out = tmp_path / "out"
    args = ["export", str(results), "--to", str(out), "--articles", str(archive)]
    runner.invoke(app, args)
    rows = {r["article_id"]: r for r in pq.read_table(out / "articles.parquet").to_pylist()}
    assert str(rows["a1"]["published"]) == "2025-03-04"
    assert (rows["a1"]["title"], rows["a1"]["url"], rows["a1"]["source"]) == (
        "Vaccine MoU", "https://example.org/a1", "example.org",
    )  # fmt: skip
    assert rows["c3"]["title"] is None and str(rows["c3"]["published"]) == "2025-06-01"


def test_parquet_is_written_in_row_groups_as_it_streams(tmp_path):
    lines = [bulk_line(record_a(f"a{i}")) for i in range(7)]
    summary = healthcoop.export.export(lines, tmp_path, batch_size=3)
    assert summary.records == 7 and summary.rows["parties"] == 21
    meta = pq.ParquetFile(tmp_path / "parties.parquet").metadata
    assert meta.num_row_groups == 3 and meta.num_rows == 21


def test_graphml_re_read_with_networkx_is_the_cooperation_network(results, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(results), "--to", str(out), "--format", "graphml"])
    assert result.exit_code == 1, result.output
    g = nx.read_graphml(out / "network.graphml")
    assert set(g.nodes) == {"PAK", "KEN", "WHO", "CHL", "PER"}  # c3 is not relevant
    pak = g.nodes["PAK"]
    assert (pak["code"], pak["kind"], pak["name"]) == ("PAK", "country", "Pakistan")
    assert (pak["region"], pak["continent"]) == ("Southern Asia", "Asia")
    assert g.nodes["WHO"]["kind"] == "organization" and g.nodes["WHO"]["region"] == ""
    assert g.nodes["PER"]["region"] == "South America"
    e = g.edges["KEN", "PAK"]
    assert (e["meetings"], e["agreements"], e["agreements_signed"], e["mechanisms"]) == (
        1, 1, 1, 1,
    )  # fmt: skip
    assert (e["first_date"], e["last_date"], e["articles"]) == ("2025-03-03", "2025-03-03", "a1")
    assert g.edges["KEN", "WHO"]["mechanisms"] == 1 and g.edges["KEN", "WHO"]["meetings"] == 0
    assert g.edges["CHL", "PER"]["agreements_proposed"] == 1
    assert not (out / "parties.parquet").exists()  # graphml alone was asked


def test_graphml_edges_count_items_across_articles():
    from healthcoop.analysis.network import network

    later = record_a("a9").model_copy(deep=True)
    later.agreements[0].date = later.agreements[0].date.replace(year=2026)
    later.meetings = []
    g = network([record_a("a1"), later])
    e = g.edges["KEN", "PAK"]
    assert (e["meetings"], e["agreements_signed"], e["n_articles"]) == (1, 2, 2)
    assert (e["first_date"], e["last_date"], e["articles"]) == (
        "2025-03-03", "2026-03-03", "a1;a9",
    )  # fmt: skip
    assert all(
        isinstance(v, (str, int, float)) for _, _, d in g.edges(data=True) for v in d.values()
    )


def test_unknown_format_or_missing_file_is_a_usage_error(results, tmp_path):
    bad = runner.invoke(app, ["export", str(results), "--to", str(tmp_path), "--format", "xlsx"])
    assert bad.exit_code == 2 and "unknown format xlsx" in bad.output
    missing = runner.invoke(app, ["export", str(tmp_path / "nope.jsonl"), "--to", str(tmp_path)])
    assert missing.exit_code == 2 and "no such results file" in missing.output
    assert "Traceback" not in bad.output + missing.output


def test_a_clean_results_file_exports_with_exit_0(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record_a().model_dump(mode="json")) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["export", str(path), "--to", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "o" / "parties.parquet").num_rows == 3


def test_an_output_that_cannot_be_written_is_a_usage_error(results, tmp_path):
    taken = tmp_path / "a-file"
    taken.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["export", str(results), "--to", str(taken)])
    assert result.exit_code == 2 and "cannot write" in result.output
    assert "Traceback" not in result.output


def test_gzipped_results_export_as_the_plain_file_does(results, tmp_path):
    packed = tmp_path / "results.jsonl.gz"
    packed.write_bytes(gzip.compress(results.read_bytes()))
    plain, gz = tmp_path / "plain", tmp_path / "gz"
    assert runner.invoke(app, ["export", str(results), "--to", str(plain)]).exit_code == 1
    assert runner.invoke(app, ["export", str(packed), "--to", str(gz)]).exit_code == 1
    for name in healthcoop.export.TABLES:
        assert pq.read_table(gz / f"{name}.parquet").equals(
            pq.read_table(plain / f"{name}.parquet")
        ), name


def test_a_damaged_gzip_file_is_a_usage_error(results, tmp_path):
    packed = tmp_path / "results.jsonl.gz"
    packed.write_bytes(gzip.compress(results.read_bytes())[:-20])  # truncated
    result = runner.invoke(app, ["export", str(packed), "--to", str(tmp_path / "o")])
    assert result.exit_code == 2 and "cannot be read" in result.output
    assert "Traceback" not in result.output
