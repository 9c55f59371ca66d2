"""Malformed input at every door (issue 17, and the input items of issue 11 §4): a record that
cannot be processed becomes one error record saying what was wrong and where; every other
string (NUL, controls, BOMs, non-NFC, right-to-left, long lines) passes every stage."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from healthcoop import archive, bulk
from healthcoop.bulk.store import Store
from healthcoop.cli import app
from healthcoop.errors import InputError
from healthcoop.extraction.extractor import to_article
from healthcoop.http import create_app
from healthcoop.schemas import Article
from healthcoop.settings import Settings, get_settings
from tests.support.fake_openai import FakeOpenAI, serve
from tests.support.fuzz import json_lines
from tests.support.instant import InstantLLM

TEXT = (
    "Iran's Health Minister Karim Rahimi met his Qatari counterpart Laila Al-Mansouri on "
    "Tuesday in Doha to discuss cooperation against communicable diseases."
)
ANSWER = {
    "relevant": True,
    "people": {"Rahimi": "Iran", "Al-Mansouri": "Qatar"},
    "parties": ["Iran", "Qatar"],
    "meetings": [{"with": ["Iran", "Qatar"], "date": "Tuesday", "place": "Doha"}],
}
runner = CliRunner()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    app_ = FakeOpenAI(arguments=ANSWER)
    with serve(app_) as url:
        for name, value in {"BASE_URL": url, "MODEL": "fake", "RETRIES": "0",
                            "STORE": str(tmp_path / "store.sqlite")}.items():  # fmt: skip
            monkeypatch.setenv(f"HEALTHCOOP_{name}", value)
        get_settings.cache_clear()
        app_.url = url
        yield app_


def annotate_cli(source: Path, out: Path):
    result = runner.invoke(app, ["annotate", str(source), "--out", str(out), "--no-progress"])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result, json_lines(out.read_bytes()) if out.exists() else []


def error_of(line: dict) -> dict:
    assert line["status"] == "error", line
    return line["error"]


# ---------------------------------------------------------------- issue 17: the line itself


def test_an_archive_line_holding_a_lone_surrogate_ends_as_one_error_among_the_results(
    fake, tmp_path
):
    bad = '{"id": "scraped-7", "text": "Iran and Qatar \\ud800 met on health."}'
    assert "\\ud800" in bad  # the JSON escape itself, as the scraped archive had it
    source = tmp_path / "archive.jsonl"
    good = [json.dumps({"id": f"good-{i}", "text": TEXT}) for i in range(3)]
    source.write_text("\n".join([good[0], good[1], bad, good[2]]) + "\n", encoding="utf-8")

    result, lines = annotate_cli(source, tmp_path / "out.jsonl")

    assert result.exit_code == 1, result.output  # some records failed, the run went on
    assert [line["article_id"] for line in lines] == ["good-0", "good-1", "scraped-7", "good-2"]
    assert [line["status"] for line in lines] == ["ok", "ok", "error", "ok"]
    error = error_of(lines[2])
    assert error["type"] == "input_error" and error["field"] == "text"
    message = error["message"]
    assert "line 3" in message and "text" in message and "character 15" in message
    assert "surrogate" in message and "\\ud800" in message  # written out, not the raw code point
    assert "3 ok, 1 errors" in result.output


def test_a_lone_surrogate_in_the_id_gives_an_error_record_named_after_its_line(tmp_path):
    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"id": "a\\udfffb", "text": "Health news."}\n')
    (item,) = archive.read(source)
    assert item.article_id == "line 1"  # the id itself cannot be written as UTF-8
    assert item.error.field == "id" and "character 1" in item.error.message
    item.error.message.encode("utf-8")


def test_undecodable_bytes_in_one_csv_row_fail_that_row_alone(tmp_path):
    rows = ["id,text", f"r1,{TEXT}", "r2,Caf\xe9 talks in Tehran", f"r3,{TEXT}"]
    source = tmp_path / "a.csv"
    source.write_bytes("\n".join(rows[:2]).encode() + b"\n" + rows[2].encode("latin-1") + b"\n"
                       + rows[3].encode() + b"\n")  # fmt: skip
    items = list(archive.read(source))
    assert [i.article_id for i in items] == ["r1", "row 2", "r3"]
    assert items[0].article is not None and items[2].article is not None
    message = items[1].error.message
    assert "row 2" in message and "'text'" in message and "0xe9" in message
    assert "character 3" in message


def test_json_python_cannot_hold_is_an_error_record_not_a_traceback(tmp_path):
    source = tmp_path / "a.jsonl"
    source.write_text(
        "[" * 100_000 + "]" * 100_000 + "\n"  # nested deeper than the parser's recursion
        + '{"id": ' + "9" * 5000 + ', "text": "x"}\n'  # an int of more than 4,300 digits
        + json.dumps({"id": "fine", "text": TEXT}) + "\n"
    )  # fmt: skip
    items = list(archive.read(source))
    assert [i.article_id for i in items] == ["line 1", "line 2", "fine"]
    assert "nested too deeply" in items[0].error.message
    assert "line 2" in items[1].error.message and items[2].article is not None


def test_a_file_name_that_is_not_utf8_becomes_a_writable_id(tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    with open(bytes(root) + b"/caf\xe9.txt", "w", encoding="utf-8") as f:
        f.write(TEXT)
    (item,) = archive.read(root)
    assert item.article is not None
    assert item.article_id == "caf\\udce9"  # the byte, escaped: valid UTF-8, and still unique
    assert item.article.id == item.article_id


# ---------------------------------------------------------------- every other string passes

ODD_TEXT = (
    "\ufeff" + TEXT.replace("Doha", "Doha\x00").replace("met", "me\u200bt")
    + " Caf\u0065\u0301 \u2028 \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \x1b[0m\x85"
)  # fmt: skip


def test_nul_controls_bom_non_nfc_and_rtl_text_pass_every_stage_with_usable_offsets(fake, tmp_path):
    source = tmp_path / "archive.jsonl"
    long_line = TEXT + " " + "more words and more" * 2_000  # one 40,000-character line
    records = [{"id": "odd", "text": ODD_TEXT, "title": "\u202eRTL title\x00"},
               {"id": "long", "text": long_line}]  # fmt: skip
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result, lines = annotate_cli(source, tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    assert [line["status"] for line in lines] == ["ok", "ok"]
    record = lines[0]["extraction"]
    assert record["relevant"] and [p["code"] for p in record["parties"]] == ["IRN", "QAT"]
    text = record["text"]  # controls removed and NFC applied: the text the offsets point into
    assert "\x00" not in text and "e\u0301" not in text and "\u05e9\u05dc\u05d5\u05dd" in text
    spans = [s for o in record["officials"] for s in o["evidence"]]
    assert spans and all(text[s["start"] : s["end"]] == s["text"] for s in spans)
    # the store holds them, and a second run writes the same bytes from it
    first = (tmp_path / "out.jsonl").read_bytes()
    again, _ = annotate_cli(source, tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == first and fake.requests == 2


def test_the_http_service_and_cli_extract_take_the_same_odd_text(fake, tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"id": "odd", "text": ODD_TEXT}))
    result = runner.invoke(app, ["extract", "--compact", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["relevant"] is True
    status, body = post(InstantLLM(answer=ANSWER), "/v1/extract", {"id": "odd", "text": ODD_TEXT})
    assert status == 200 and body["article_id"] == "odd"


# ---------------------------------------------------------------- the HTTP door and CLI extract


def post(llm, path: str, payload: object) -> tuple[int, dict]:
    async def go() -> httpx2.Response:
        application = create_app(Settings(), llm=llm)
        transport = httpx2.ASGITransport(app=application)
        async with httpx2.AsyncClient(transport=transport, base_url="http://service") as client:
            raw = json.dumps(payload).encode()  # ensure_ascii: a lone surrogate as \ud800
            return await client.post(
                path, content=raw, headers={"content-type": "application/json"}
            )

    response = asyncio.run(go())
    (body,) = json_lines(response.content + b"\n")  # UTF-8 JSON, no lone surrogate
    return response.status_code, body


@pytest.mark.parametrize("field", ["text", "id", "title", "source", "url", "language"])
def test_a_lone_surrogate_in_any_field_is_422_on_that_field_with_its_position(field):
    article = {"id": "a", "text": TEXT, field: "ab\ud800"}
    status, body = post(InstantLLM(), "/v1/extract", article)
    assert status == 422 and body["type"] == "input_error"
    (problem,) = body["errors"]
    assert problem["field"] == field and "character 2" in problem["message"]


def test_a_lone_surrogate_in_a_field_name_is_422_not_500():
    status, body = post(InstantLLM(), "/v1/extract", {"text": TEXT, "\udc80": 1})
    assert status == 422 and "\\udc80" in body["message"]


def test_a_batch_item_with_a_lone_surrogate_fails_alone():
    articles = [{"id": "a", "text": TEXT}, {"id": "\ud800", "text": TEXT}, {"text": "x\udfff"}]
    status, body = post(InstantLLM(), "/v1/extract/batch", {"articles": articles})
    assert status == 200
    assert [r["ok"] for r in body["results"]] == [True, False, False]
    assert body["results"][1]["error"]["errors"][0]["field"] == "id"
    assert body["results"][2]["error"]["errors"][0]["field"] == "text"


def test_cli_extract_reports_a_file_with_a_lone_surrogate_and_goes_on(fake, tmp_path):
    bad, good = tmp_path / "bad.json", tmp_path / "good.txt"
    bad.write_text('{"id": "b", "text": "Iran \\ud800 and Qatar"}')
    good.write_text(TEXT)
    result = runner.invoke(app, ["extract", "--compact", str(bad), str(good)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert json.loads(result.stdout)["article_id"] == "good"
    assert re.search(r"bad\.json: InputError: .*text: holds a lone surrogate", result.stderr)


# ---------------------------------------------------------------- ids, dates, empty texts


@pytest.mark.parametrize("given", [["a", "b"], {"x": 1}, 1.5, True])
def test_an_id_that_is_not_a_string_or_whole_number_is_an_error_record_not_its_repr(
    tmp_path, given
):
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"id": given, "text": TEXT}) + "\n")
    (item,) = archive.read(source)
    assert item.article_id == "line 1" and item.error.field == "id"
    assert "string or a whole number" in item.error.message
    assert repr(given) not in item.error.message


def test_a_whole_number_id_is_kept_as_its_digits(tmp_path):
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"id": 42, "text": TEXT}) + "\n")
    (item,) = archive.read(source)
    assert item.article_id == "42" and item.article is not None


def test_an_id_given_as_a_list_is_refused_by_the_service_and_cli_extract(fake, tmp_path):
    status, body = post(InstantLLM(), "/v1/extract", {"id": ["a"], "text": TEXT})
    assert status == 422 and body["errors"][0]["field"] == "id"
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"id": {"x": 1}, "text": TEXT}))
    result = runner.invoke(app, ["extract", str(path)])
    assert result.exit_code == 1 and "InputError" in result.stderr and "id" in result.stderr


@pytest.mark.parametrize("published", [0, "0", 1714262400, "1714262400", True, [2024, 1, 1]])
def test_published_must_be_a_date_not_a_number_read_as_1970(published):
    with pytest.raises(InputError) as err:
        to_article({"text": TEXT, "published": published})
    assert err.value.field == "published" and "YYYY-MM-DD" in err.value.message


def test_published_as_an_iso_date_or_a_date_is_accepted():
    import datetime as dt

    assert to_article({"text": TEXT, "published": "2024-03-07"}).published == dt.date(2024, 3, 7)
    assert Article(text=TEXT, published=dt.date(2024, 3, 7)).published == dt.date(2024, 3, 7)


def test_published_zero_in_an_archive_or_a_request_is_an_error_not_1970(tmp_path):
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"id": "z", "text": TEXT, "published": 0}) + "\n")
    (item,) = archive.read(source)
    assert item.error is not None and item.error.field == "published"
    status, body = post(InstantLLM(), "/v1/extract", {"text": TEXT, "published": 0})
    assert status == 422 and body["errors"][0]["field"] == "published"


def test_the_openapi_schema_lets_no_empty_or_blank_text_through():
    async def schema() -> dict:
        application = create_app(Settings(), llm=InstantLLM())
        transport = httpx2.ASGITransport(app=application)
        async with httpx2.AsyncClient(transport=transport, base_url="http://service") as client:
            return (await client.get("/openapi.json")).json()

    text = asyncio.run(schema())["components"]["schemas"]["Article"]["properties"]["text"]
    assert text["minLength"] == 1
    pattern = re.compile(text["pattern"])
    for blank in ["", "   ", "\n\t ", "\x00\x01", "\u3000", "\ufeff\u200b\u202e"]:
        assert not pattern.search(blank)
        with pytest.raises(InputError):
            to_article({"text": blank})  # what the schema refuses, the service refuses
    assert pattern.search(TEXT) and pattern.search("\x00a")


# ---------------------------------------------------------------- the store keeps odd strings


def test_the_store_keeps_nul_and_rtl_strings_byte_for_byte(tmp_path):
    from healthcoop.bulk.store import ResultKey, Row

    key = ResultKey("t", "1", "p", "m")
    body = json.dumps({"text": "a\x00b \u05e9\ufeff"}, ensure_ascii=False)
    with Store(tmp_path / "s.sqlite") as db:
        db.put_many(key, [Row("k", "id\x00\u202e", "ok", body)])
        (row,) = db.get_many(key, ["k"]).values()
    assert (row.article_id, row.body) == ("id\x00\u202e", body)


def test_bulk_annotate_of_a_csv_with_odd_cells_writes_one_line_per_row(tmp_path):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([["id", "text"], ["a", TEXT], ["b", "\x00\ufeff"], ["c", ODD_TEXT]])
    source = tmp_path / "a.csv"
    source.write_text(buffer.getvalue(), encoding="utf-8")
    settings = Settings(store=tmp_path / "s.sqlite")
    from healthcoop.extraction import Extractor

    out = tmp_path / "out.jsonl"
    bulk.annotate(source, out, settings=settings, extractor=Extractor(InstantLLM(), settings))
    lines = json_lines(out.read_bytes())
    assert [(x["article_id"], x["status"]) for x in lines] == [
        ("a", "ok"), ("b", "error"), ("c", "ok")
    ]  # fmt: skip


def test_eval_on_a_gold_file_that_is_not_utf8_is_an_input_error_naming_the_line(tmp_path):
    gold, predictions = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold.write_bytes(b'{"id": "a"}\n\xff\xfe\n')
    predictions.write_text('{"article_id": "a", "status": "ok", "extraction": {}}\n')
    result = runner.invoke(app, ["eval", "--gold", str(gold), "--predictions", str(predictions)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"InputError: {gold}:2: not valid UTF-8" in result.stderr


def test_a_tree_deeper_than_the_recursion_limit_and_a_symlink_loop_are_walked_once(tmp_path):
    root = deepest = tmp_path / "archive"
    root.mkdir()
    try:
        for _ in range(1_100):  # Python's recursion limit is 1,000
            deepest = deepest / "d"
            deepest.mkdir()
        (deepest / "x.txt").write_text(TEXT)
        (root / "d" / "loop").symlink_to("..")  # back up to the root: a cycle
        items = list(archive.read(root))
        assert [i.article_id for i in items] == ["d/" * 1_100 + "x"]
        assert archive.count(root) == 1
    finally:
        remove_deep(root)


def remove_deep(root: Path) -> None:
    """Remove root/d/d/…/d one level at a time: shutil.rmtree, and so pytest's clean-up of old
    temporary directories, recurses once per level and would fail on this tree."""
    top, spare = root / "d", root / "spare"
    while top.exists() or top.is_symlink():
        for entry in top.iterdir():
            if entry.name != "d":
                entry.unlink()
        if (top / "d").exists():
            (top / "d").rename(spare)
            top.rmdir()
            spare.rename(top)
        else:
            top.rmdir()
    root.rmdir()


def test_a_csv_header_with_spaces_after_the_commas_still_names_its_columns(tmp_path):
    source = tmp_path / "a.csv"
    source.write_text(f'id, text\nr1, "{TEXT}"\n', encoding="utf-8")
    (item,) = archive.read(source)
    assert item.article_id == "r1" and item.article is not None


def test_a_huge_html_page_is_refused_before_its_markup_is_stripped():
    from healthcoop.core.text import MARKUP_FACTOR, clean_text

    page = "<html><body>" + f"<p>{TEXT}</p>" * 40 + "</body></html>"
    text, changed = clean_text(page, max_chars=len(TEXT) * 45)  # a page may exceed the limit
    assert changed and text.startswith("Iran's Health Minister")
    huge = "<html><body>" + "<p>x</p>" * (MARKUP_FACTOR * 100) + "</body></html>"
    with pytest.raises(InputError, match="characters of HTML, over the limit of 100"):
        clean_text(huge, max_chars=100)


def test_eval_saves_an_article_whose_id_cannot_be_kept_under_its_line(fake, tmp_path):
    articles, gold, save = tmp_path / "a.jsonl", tmp_path / "g.jsonl", tmp_path / "pred.jsonl"
    articles.write_text(
        json.dumps({"id": "\ud800", "text": TEXT}) + "\n" + json.dumps({"id": ["x"], "text": TEXT})
        + "\n" + json.dumps({"id": "ok", "text": TEXT}) + "\n"
    )  # fmt: skip
    gold.write_text(json.dumps({"id": "ok", "relevant": True}) + "\n")
    result = runner.invoke(app, ["eval", "--gold", str(gold), "--articles", str(articles),
                                 "--save", str(save), "--json"])  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = json_lines(save.read_bytes())
    assert [x["article_id"] for x in lines] == ["line-1", "line-2", "ok"]
    assert [x["status"] for x in lines] == ["error", "error", "ok"]


@pytest.mark.parametrize("save", ["/dev/full", "missing-folder/pred.jsonl"])
def test_eval_save_to_a_full_disk_or_a_missing_folder_is_a_storage_error(fake, tmp_path, save):
    articles, gold = tmp_path / "a.jsonl", tmp_path / "g.jsonl"
    articles.write_text(json.dumps({"id": "ok", "text": TEXT}) + "\n")
    gold.write_text(json.dumps({"id": "ok", "relevant": True}) + "\n")
    target = save if save.startswith("/") else str(tmp_path / save)
    result = runner.invoke(app, ["eval", "--gold", str(gold), "--articles", str(articles),
                                 "--save", target])  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"StorageError: cannot write {target}" in result.stderr
