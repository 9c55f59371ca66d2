"""The `healthcoop` command: exit codes, messages, and the records it prints."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from healthcoop.cli import app
from tests.support.fake_openai import FakeOpenAI, Fault, serve

runner = CliRunner()

ANSWER = {
    "relevant": True,
    "people": {"Rahimi": "Iran", "Al-Mansouri": "Qatar"},
    "parties": ["Iran", "Qatar"],
    "meetings": [{"with": ["Iran", "Qatar"], "date": "Tuesday", "place": "Doha"}],
}
TEXT = (
    "Iran's Health Minister Karim Rahimi met his Qatari counterpart Laila Al-Mansouri on "
    "Tuesday in Doha to discuss cooperation against communicable diseases."
)


@pytest.fixture
def endpoint(monkeypatch):
    app_ = FakeOpenAI(arguments=ANSWER)
    with serve(app_) as url:
        monkeypatch.setenv("HEALTHCOOP_BASE_URL", url)
        monkeypatch.setenv("HEALTHCOOP_MODEL", "fake")
        monkeypatch.setenv("HEALTHCOOP_RETRIES", "0")
        yield app_


def test_extract_prints_a_grounded_record_for_a_text_file(endpoint, tmp_path):
    path = tmp_path / "a1.txt"
    path.write_text(TEXT, encoding="utf-8")
    result = runner.invoke(app, ["extract", str(path), "--published", "2024-03-07"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["article_id"] == "a1"
    assert [p["code"] for p in record["parties"]] == ["IRN", "QAT"]
    assert record["meetings"][0]["date"] == {"start": "2024-03-05", "end": "2024-03-05"}
    span = record["officials"][0]["evidence"][0]
    assert TEXT[span["start"] : span["end"]] == span["text"]


def test_extract_reads_a_json_article_and_stdin(endpoint, tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"id": "j1", "text": TEXT}), encoding="utf-8")
    assert json.loads(runner.invoke(app, ["extract", str(path)]).stdout)["article_id"] == "j1"
    result = runner.invoke(app, ["extract", "-", "--compact"], input=TEXT)
    assert result.exit_code == 0 and json.loads(result.stdout)["relevant"] is True


def test_a_bad_file_among_good_ones_exits_1_and_the_good_ones_still_print(endpoint, tmp_path):
    good, empty, latin1 = tmp_path / "g.txt", tmp_path / "e.txt", tmp_path / "l.txt"
    good.write_text(TEXT, encoding="utf-8")
    empty.write_text("   \n", encoding="utf-8")
    latin1.write_bytes("Caf\xe9 in Tehran".encode("latin-1"))
    result = runner.invoke(app, ["extract", str(empty), str(good), str(latin1)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["article_id"] == "g"
    assert "InputError" in result.stderr and "empty" in result.stderr
    assert "not valid UTF-8" in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_endpoint_is_a_clear_error_not_a_traceback(endpoint, monkeypatch):
    endpoint.script(*[Fault.server_error(503)] * 5)
    result = runner.invoke(app, ["extract", "-"], input=TEXT)
    assert result.exit_code == 1
    assert "ServerError" in result.stderr and "503" in result.stderr
    assert "Traceback" not in result.output


def test_without_endpoint_or_embedded_engine_the_message_says_what_to_install(monkeypatch):
    pytest.importorskip("typer")
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("the embedded engine is installed here")
    result = runner.invoke(app, ["extract", "-"], input=TEXT)
    assert result.exit_code == 2
    assert "pip install 'healthcoop[embedded]'" in result.stderr


def test_the_python_api_reuses_one_extractor_per_settings(endpoint):
    import healthcoop
    from healthcoop.settings import get_settings

    first, again = healthcoop.extractor(), healthcoop.extractor()
    assert first is again
    other = healthcoop.extractor(get_settings().model_copy(update={"temperature": 0.5}))
    assert other is not first
    assert healthcoop.extract(TEXT).relevant is True


@pytest.fixture
def a_bug_in_one_article(monkeypatch):
    """Assembly fails with an exception nobody planned for on the article with id "bad" (as
    the draft summary's IndexError did on the dev set)."""
    from healthcoop.extraction.extractor import Pipeline

    finish = Pipeline.finish

    def buggy(self, question, prepared, done, **kw):  # noqa: ANN001
        if prepared.article.id == "bad":
            raise IndexError("list index out of range")
        return finish(self, question, prepared, done, **kw)

    monkeypatch.setattr(Pipeline, "finish", buggy)


def test_one_articles_bug_is_its_error_and_extract_goes_on(
    endpoint, a_bug_in_one_article, tmp_path
):
    bad, good = tmp_path / "bad.txt", tmp_path / "good.txt"
    bad.write_text(TEXT, encoding="utf-8")
    good.write_text(TEXT, encoding="utf-8")
    result = runner.invoke(app, ["extract", str(bad), str(good), "--compact"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["article_id"] == "good"
    assert "ExtractionError" in result.stderr and "IndexError" in result.stderr
    assert "Traceback" not in result.output


def test_one_articles_bug_is_its_error_and_eval_goes_on(endpoint, a_bug_in_one_article, tmp_path):
    articles, gold, saved = tmp_path / "a.jsonl", tmp_path / "g.jsonl", tmp_path / "s.jsonl"
    articles.write_text("".join(json.dumps({"id": i, "text": TEXT}) + "\n" for i in ("bad", "ok")))
    gold.write_text("".join(json.dumps({"id": i, "relevant": True}) + "\n" for i in ("bad", "ok")))
    result = runner.invoke(
        app, ["eval", "--gold", str(gold), "--articles", str(articles), "--save", str(saved)]
    )
    assert result.exit_code == 1, result.output
    lines = [json.loads(x) for x in saved.read_text().splitlines()]
    assert [(x["article_id"], x["status"]) for x in lines] == [("bad", "error"), ("ok", "ok")]
    assert lines[0]["error"]["type"] == "extraction_error"
