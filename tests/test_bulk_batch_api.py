"""The Batch API path (issue 16) against the fake Batch API: one request per article with its own
answer schema, per-line failures as error records, a batch in flight resumed after a restart,
and the dry run at batch prices."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import healthcoop
from healthcoop import bulk
from healthcoop.cli import app as cli_app
from healthcoop.errors import ConfigError
from healthcoop.settings import Settings
from tests.support.fake_batch import FakeBatchAPI, LineFault
from tests.support.fake_openai import serve

PAIRS = [
    "Chile and Peru",
    "Kenya and Ghana",
    "Norway and Chad",
    "Fiji and Samoa",
    "Oman and Jordan",
    "Cuba and Angola",
]


@pytest.fixture
def fake():
    app = FakeBatchAPI()
    with serve(app) as url:
        app.url = url
        yield app


def _archive(path: Path, *, extra: tuple[bytes, ...] = ()) -> Path:
    with open(path, "wb") as f:
        for i, pair in enumerate(PAIRS):
            text = f"{pair} agreed to run joint vaccine trials, the ministries said ({i})."
            f.write(json.dumps({"id": f"b{i}", "text": text}).encode() + b"\n")
        for line in extra:
            f.write(line + b"\n")
    return path


def _settings(fake: FakeBatchAPI, tmp_path: Path, **overrides) -> Settings:
    values = {
        "base_url": fake.url,
        "model": "fake",
        "store": tmp_path / "store.sqlite",
        "batch_poll_seconds": 0.01,
        "retries": 0,
        **overrides,
    }
    return Settings(**values)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _pending(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT local_id, input_file_id, batch_id FROM batches").fetchall()


def test_each_article_is_one_request_carrying_its_own_answer_schema(fake, tmp_path):
    quiet = json.dumps({"id": "quiet", "text": "The council repaved the harbour road."})
    archive = _archive(tmp_path / "in.jsonl", extra=(quiet.encode(), b"{not json"))
    out = tmp_path / "out.jsonl"
    summary = healthcoop.annotate(
        archive, out, settings=_settings(fake, tmp_path), engine="batch-api"
    )
    requests = fake.uploaded_lines()
    assert len(requests) == len(PAIRS) and fake.uploads == 1  # the rules answer "quiet"
    assert len({r["custom_id"] for r in requests}) == len(PAIRS)
    for request, pair in zip(requests, PAIRS, strict=True):
        assert request["method"] == "POST" and request["url"] == "/v1/chat/completions"
        fmt = request["body"]["response_format"]
        assert fmt["type"] == "json_schema"
        enum = json.dumps(fmt["json_schema"]["schema"])
        assert all(country in enum for country in pair.split(" and "))  # this article's parties
    lines = _lines(out)
    assert [line["article_id"] for line in lines] == [f"b{i}" for i in range(6)] + [
        "quiet",
        "line 8",
    ]
    assert [line["status"] for line in lines] == ["ok"] * 7 + ["error"]
    assert all(line["extraction"]["provenance"]["model"] == "fake" for line in lines[:6])
    assert (summary.ok, summary.errors, summary.annotated) == (7, 1, 7)
    assert _pending(tmp_path / "store.sqlite") == []


def test_failed_lines_become_error_records_and_re_runs_ask_them_again(fake, tmp_path):
    fake.faults = [LineFault("Kenya", "garbage"), LineFault("Norway", "server_error")]
    archive, out = _archive(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    settings = _settings(fake, tmp_path)
    healthcoop.annotate(archive, out, settings=settings, engine="batch-api")
    by_id = {line["article_id"]: line for line in _lines(out)}
    assert by_id["b1"]["error"]["type"] == "extraction_error"  # answered, never validated
    assert by_id["b2"]["error"]["kind"] == "server" and by_id["b2"]["error"]["retryable"]
    assert [by_id[f"b{i}"]["status"] for i in (0, 3, 4, 5)] == ["ok"] * 4

    fake.faults = []
    healthcoop.annotate(archive, out, settings=settings, engine="batch-api")
    assert fake.uploads == 2 and len(fake.uploaded_lines()) == 7  # only b2, the server's fault
    healthcoop.annotate(archive, out, settings=settings, engine="batch-api", only_errors=True)
    assert fake.uploads == 3 and len(fake.uploaded_lines()) == 8  # and then b1
    assert [line["status"] for line in _lines(out)] == ["ok"] * 6


def test_a_batch_in_flight_is_resumed_after_a_restart_not_sent_again(fake, tmp_path):
    fake.hold = True
    archive, out = _archive(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    settings = _settings(fake, tmp_path)

    def stop_while_waiting(progress: bulk.Progress) -> None:
        if progress.phase == "batch":
            raise KeyboardInterrupt  # the driver goes away while the batch runs

    with pytest.raises(KeyboardInterrupt):
        healthcoop.annotate(
            archive, out, settings=settings, engine="batch-api", progress=stop_while_waiting
        )
    ((_, file_id, batch_id),) = _pending(tmp_path / "store.sqlite")
    assert file_id and batch_id in fake.batches and not out.exists()

    fake.release()
    summary = healthcoop.annotate(archive, out, settings=settings, engine="batch-api")
    assert fake.uploads == 1 and len(fake.batches) == 1  # the same batch, collected
    assert [line["status"] for line in _lines(out)] == ["ok"] * 6
    assert summary.annotated == 6 and _pending(tmp_path / "store.sqlite") == []


def test_requests_an_expired_batch_never_ran_are_retryable_errors(fake, tmp_path):
    fake.end = "expired"
    archive, out = _archive(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    settings = _settings(fake, tmp_path)
    first = healthcoop.annotate(archive, out, settings=settings, engine="batch-api")
    assert (first.ok, first.errors) == (1, 5)
    assert {line["error"]["kind"] for line in _lines(out)[1:]} == {"timeout"}

    fake.end = "completed"
    again = healthcoop.annotate(archive, out, settings=settings, engine="batch-api")
    assert (again.cached, again.annotated, again.ok) == (1, 5, 6)


def test_a_batch_refused_as_a_whole_fails_each_of_its_records(fake, tmp_path):
    fake.end = "failed"
    archive, out = _archive(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    summary = healthcoop.annotate(
        archive, out, settings=_settings(fake, tmp_path), engine="batch-api"
    )
    assert summary.errors == 6
    assert "refused" in _lines(out)[0]["error"]["message"]


def test_the_dry_run_prices_a_batch_run_at_batch_prices(fake, tmp_path):
    archive = _archive(tmp_path / "in.jsonl")
    settings = _settings(fake, tmp_path, price_prompt=2.0, price_completion=8.0)
    online = bulk.plan(archive, settings=settings)
    batch = bulk.plan(archive, settings=settings, engine="batch-api")
    assert online.cost_max and batch.cost_max == pytest.approx(online.cost_max / 2)
    chosen = settings.model_copy(update={"batch_price_prompt": 0.0, "batch_price_completion": 1.0})
    assert bulk.plan(archive, settings=chosen, engine="batch-api").cost_max == pytest.approx(
        batch.completion_tokens_max / 1e6
    )
    assert fake.uploads == 0


def test_the_cli_refuses_batch_api_with_another_engine(tmp_path):
    result = CliRunner().invoke(
        cli_app,
        [
            "annotate",
            str(tmp_path / "in.jsonl"),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--batch-api",
            "--engine",
            "ray",
        ],
    )
    assert result.exit_code == 2 and "--batch-api" in result.output


def test_the_embedded_model_is_refused_for_a_batch_run_before_anything_starts(tmp_path):
    archive = _archive(tmp_path / "in.jsonl")
    settings = Settings(store=tmp_path / "store.sqlite")  # no endpoint: the embedded model
    with pytest.raises(ConfigError, match="Batch API"):
        healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings, engine="batch-api")
