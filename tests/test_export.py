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
    TEXT_A,
    TEXT_E,
    archive_rows,
    bulk_line,
    error_line,
    record_a,
    record_b,
    record_c,
    record_e,
    span,
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
    for name in healthcoop.export.TABLES:
        schema = healthcoop.export.SCHEMAS[name]
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


# ---------------------------------------------------------------- events (issue 15, item 5)

STORY = [record_a(), record_b(), record_c(), record_e()]  # a1 and e5 report one MoU
PUBLISHED = {"a1": "2025-03-04", "b2": "2025-05-13", "e5": "2025-03-05"}


def _story_lines():
    return [dict(bulk_line(r), published=PUBLISHED.get(r.article_id)) for r in STORY]


@pytest.fixture
def story(tmp_path):
    """Results of two outlets reporting one MoU (bulk lines with their publication dates),
    and the events `healthcoop consolidate` wrote from them."""
    path = tmp_path / "story.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in _story_lines()), encoding="utf-8")
    events = tmp_path / "events.jsonl"
    result = runner.invoke(app, ["consolidate", str(path), "-o", str(events)])
    assert result.exit_code == 0, result.output
    return path, events


def test_events_are_opt_in(results, tmp_path):
    assert "events" not in healthcoop.export.tables(RECORDS)
    runner.invoke(app, ["export", str(results), "--to", str(tmp_path / "o")])
    assert not list((tmp_path / "o").glob("event*"))


def test_events_table_has_one_row_per_event_and_mentions_one_row_per_mention():
    t = healthcoop.export.tables(_story_lines(), consolidate=True)
    events = t["events"].to_pylist()
    assert len({e["event_id"] for e in events}) == len(events)
    (mou,) = [e for e in events if e["n_mentions"] > 1]
    assert (mou["kind"], mou["parties"], mou["instrument"], str(mou["date"]), mou["status"]) == (
        "agreement", ["KEN", "PAK"], "mou", "2025-03-03", "signed",
    )  # fmt: skip
    assert sorted(mou["article_ids"]) == ["a1", "e5"] and mou["n_mentions"] == 2
    assert mou["because"][:2] == ["same parties KEN+PAK", "same instrument mou"]
    assert mou["lifecycle_statuses"] == ["signed"]
    assert [str(d) for d in mou["lifecycle_dates"]] == ["2025-03-03"]
    # every meeting and agreement of every relevant record is the mention of exactly one event
    mentions = t["event_mentions"].to_pylist()
    got = sorted((m["article_id"], m["item"]) for m in mentions)
    want = sorted(
        (r.article_id, f"{name}[{i}]")
        for r in STORY
        if r.relevant
        for name in ("meetings", "agreements")
        for i, _ in enumerate(getattr(r, name))
    )
    assert got == want
    by_event = {e["event_id"]: e for e in events}
    for m in mentions:
        assert m["event_id"] in by_event
        assert m["article_id"] in by_event[m["event_id"]]["article_ids"]
    assert sum(e["n_mentions"] for e in events) == len(mentions)


def test_a_mention_joins_back_to_its_item_and_its_first_evidence_span():
    t = healthcoop.export.tables(_story_lines(), consolidate=True)
    records = {r.article_id: r for r in STORY}
    for m in t["event_mentions"].to_pylist():
        field = {"meeting": "meetings", "agreement": "agreements"}[m["item_type"]]
        assert m["item"] == f"{field}[{m['item_index']}]"
        item = getattr(records[m["article_id"]], field)[m["item_index"]]
        first = item.evidence[0]
        assert (m["evidence_start"], m["evidence_end"], m["evidence_text"]) == (
            first.start, first.end, first.text,
        )  # fmt: skip
        assert m["status"] == (item.status.value if field == "agreements" else None)
        assert str(m["published"]) == PUBLISHED[m["article_id"]]
    (e5,) = [m for m in t["event_mentions"].to_pylist() if m["article_id"] == "e5"]
    assert e5["evidence_text"].startswith("memorandum of understanding signed in Karachi")


def test_events_from_a_file_equal_events_consolidated_in_the_same_pass(story, tmp_path):
    results, events = story
    from_file, now = tmp_path / "from-file", tmp_path / "now"
    r1 = runner.invoke(app, ["export", str(results), "--to", str(from_file),
                             "--events", str(events)])  # fmt: skip
    r2 = runner.invoke(app, ["export", str(results), "--to", str(now), "--consolidate"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert "events 4" in r1.output and "event_mentions 5" in r1.output
    for name in healthcoop.export.EVENT_TABLES:
        a, b = pq.read_table(from_file / f"{name}.parquet"), pq.read_table(now / f"{name}.parquet")
        assert a.schema.equals(healthcoop.export.SCHEMAS[name]) and a.equals(b), name
    # the Python API reads the file too, and gives the same tables
    t = healthcoop.export.tables(_story_lines(), events=events)
    for name in healthcoop.export.EVENT_TABLES:
        assert t[name].equals(pq.read_table(now / f"{name}.parquet")), name
    assert t["parties"].equals(pq.read_table(now / "parties.parquet"))


def test_event_tables_in_csv_have_the_same_columns_with_lists_joined(story, tmp_path):
    results, events = story
    out = tmp_path / "csv"
    args = ["export", str(results), "--to", str(out), "--format", "csv", "--events", str(events)]
    assert runner.invoke(app, args).exit_code == 0
    for name in healthcoop.export.EVENT_TABLES:
        got = pcsv.read_csv(out / f"{name}.csv")
        assert got.column_names == healthcoop.export.SCHEMAS[name].names, name
    (mou,) = [e for e in pcsv.read_csv(out / "events.csv").to_pylist() if e["n_mentions"] == 2]
    assert mou["parties"] == "KEN;PAK" and sorted(mou["article_ids"].split(";")) == ["a1", "e5"]
    assert mou["because"].startswith("same parties KEN+PAK;same instrument mou;")


def _lifecycle_event(dates):
    return {
        "event_id": "agr-test", "kind": "agreement", "parties": ["IND", "MDV"],
        "instrument": "mou", "date": "2019-06-08", "location": None, "status": "approved",
        "lifecycle": [{"status": s, "date": d, "article_id": a}
                      for s, d, a in zip(["signed", "approved"], dates, ["x1", "x3"],
                                         strict=True)],
        "title": None,
        "mentions": [
            {"article_id": "x1", "item": "agreements[1]", "status": "signed", "date": None,
             "published": "2019-06-08", "evidence": [{"start": 3, "end": 9, "text": "signed"}]},
            {"article_id": "x3", "item": "agreements[0]", "status": "approved", "date": None,
             "published": "2019-07-04", "evidence": []},
        ],
        "because": ["same parties IND+MDV", "same instrument mou"],
    }  # fmt: skip


def test_a_lifecycle_keeps_its_statuses_and_dates_in_step(tmp_path):
    events = [_lifecycle_event(["2019-06-08", "2019-07-03"]),
              dict(_lifecycle_event([None, "2019-07-03"]), event_id="agr-undated")]  # fmt: skip
    t = healthcoop.export.tables([], events=events)
    rows = {e["event_id"]: e for e in t["events"].to_pylist()}
    e = rows["agr-test"]
    assert e["lifecycle_statuses"] == ["signed", "approved"] and e["status"] == "approved"
    assert [str(d) for d in e["lifecycle_dates"]] == ["2019-06-08", "2019-07-03"]
    assert e["lifecycle_article_ids"] == ["x1", "x3"]
    assert rows["agr-undated"]["lifecycle_dates"][0] is None
    m = t["event_mentions"].to_pylist()
    assert [(x["item_type"], x["item_index"]) for x in m[:2]] == [
        ("agreement", 1),
        ("agreement", 0),
    ]
    assert m[1]["evidence_start"] is None  # a mention without evidence still has its row
    healthcoop.export.export([], tmp_path, formats=["csv"], events=events)
    csv_rows = {r["event_id"]: r for r in pcsv.read_csv(tmp_path / "events.csv").to_pylist()}
    assert csv_rows["agr-test"]["lifecycle_dates"] == "2019-06-08;2019-07-03"
    # an undated stage stays in its place, so statuses and dates still line up
    assert csv_rows["agr-undated"]["lifecycle_dates"] == ";2019-07-03"


def _undated(record):
    """The record's MoU with no date and no quoted day: only publication dates can date it."""
    r = record.model_copy(deep=True)
    text = {"a1": TEXT_A, "e5": TEXT_E}[r.article_id]
    r.meetings = []
    r.agreements[0].date = None
    r.agreements[0].evidence = [span(text, "memorandum of understanding")]
    return r


@pytest.mark.parametrize(
    ("on_lines", "in_archive", "merged"),
    [
        ({"a1": "2025-03-04", "e5": "2025-03-05"}, None, True),
        ({"a1": "2025-03-04", "e5": "2026-01-05"}, None, False),  # 307 days apart
        # the line's date comes first; the archive is the fallback
        ({"a1": "2025-03-04", "e5": "2026-01-05"}, {"a1": "2025-03-04", "e5": "2025-03-05"}, False),
        ({}, {"a1": "2025-03-04", "e5": "2026-01-05"}, False),
    ],
)
def test_consolidate_dates_undated_mentions_by_the_lines_publication_date(
    tmp_path, on_lines, in_archive, merged
):
    lines = []
    for r in (_undated(record_a()), _undated(record_e())):
        line = bulk_line(r)
        if r.article_id in on_lines:
            line["published"] = on_lines[r.article_id]
        lines.append(line)
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    args = ["export", str(results), "--to", str(tmp_path / "o"), "--consolidate"]
    if in_archive:
        archive = tmp_path / "archive.jsonl"
        rows = [{"id": k, "text": "x", "published": v} for k, v in in_archive.items()]
        archive.write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
        args += ["--articles", str(archive)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    events = pq.read_table(tmp_path / "o" / "events.parquet").to_pylist()
    assert [e["n_mentions"] for e in events] == ([2] if merged else [1, 1])
    published = pq.read_table(tmp_path / "o" / "articles.parquet").column("published")
    assert [str(d) for d in published.to_pylist()] == [
        on_lines.get(a) or (in_archive or {}).get(a) for a in ("a1", "e5")
    ]


def test_events_and_consolidate_together_or_without_a_table_format_are_usage_errors(
    story, tmp_path
):
    results, events = story
    both = runner.invoke(app, ["export", str(results), "--to", str(tmp_path / "o"),
                               "--events", str(events), "--consolidate"])  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output
    graph = runner.invoke(app, ["export", str(results), "--to", str(tmp_path / "g"),
                                "--format", "graphml", "--consolidate"])  # fmt: skip
    assert graph.exit_code == 2 and "parquet or csv" in graph.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article_id": "a1", "status": "ok"}\n', encoding="utf-8")
    wrong = runner.invoke(app, ["export", str(results), "--to", str(tmp_path / "w"),
                                "--events", str(bad)])  # fmt: skip
    assert wrong.exit_code == 2 and "no event_id" in wrong.output
    missing = runner.invoke(app, ["export", str(results), "--to", str(tmp_path / "m"),
                                  "--events", str(tmp_path / "nope.jsonl")])  # fmt: skip
    assert missing.exit_code == 2 and "no such events file" in missing.output
    assert "Traceback" not in both.output + graph.output + wrong.output + missing.output
