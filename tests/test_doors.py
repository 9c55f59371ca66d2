"""Every front door on the embedded default, against recorded traffic of the real embedded
model server (see tests/support/cassette_server.py; re-record with
`HEALTHCOOP_RECORD=1 .venv/bin/python -m pytest tests/test_doors.py`).

No endpoint is set, so each door starts "the embedded model" as it would for a user; only
that start is replaced, by a server replaying the recording. A door whose request differs from
what the real server was sent (the llama.cpp dialect lost, a different prompt or schema) gets
no answer and fails here. The four seed articles go through each door, and every door must
give the same records.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

import healthcoop
from healthcoop import extraction
from healthcoop.http import create_app
from healthcoop.llm import embedded, factory
from healthcoop.schemas import ArticleExtraction
from healthcoop.settings import Settings
from tests.support.cassette_server import CASSETTES, CassetteServer, recording_upstream
from tests.support.seeds import SEED_IDS, seed_articles

pytestmark = pytest.mark.skipif(not seed_articles(), reason="needs ../shared/eval/dev.jsonl")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str | None]:
    with recording_upstream() as url:
        yield url


@contextlib.contextmanager
def embedded_door(name: str, upstream: str | None) -> Iterator[CassetteServer]:
    """Run a door on the embedded default with the model server replaced by a cassette."""
    server = CassetteServer(CASSETTES / "test_doors" / f"{name}.yaml", upstream=upstream)
    with server.running(), pytest.MonkeyPatch.context() as patch:

        @contextlib.contextmanager
        def running(settings: Settings, **_: object) -> Iterator[Settings]:
            yield settings.model_copy(update=embedded.endpoint_update(settings, server.url))

        # a fresh process starts the model server on first use: so does each door here
        patch.setattr(embedded, "running", running)
        patch.setattr(factory, "_embedded", {})
        patch.setattr(extraction, "_extractors", {})
        yield server
    server.check()


@pytest.fixture
def door(upstream):
    return lambda name: embedded_door(name, upstream)


def comparable(record: ArticleExtraction | dict) -> dict:
    """A record as the contract promises it, without what differs between runs (when, how
    long; the endpoint's port)."""
    if isinstance(record, dict):
        record = ArticleExtraction.model_validate(record)
    return record.model_dump(mode="json", exclude={"provenance"})


def assert_grounded(record: ArticleExtraction, text: str) -> None:
    items = [*record.parties, *record.officials, *record.meetings, *record.agreements,
             *record.mechanisms]  # fmt: skip
    for item in items:
        assert item.grounded and item.evidence, item
        for span in item.evidence:
            assert text[span.start : span.end] == span.text


def api_records_for(server) -> dict[str, dict]:
    """What the Python API makes of the answers a door got: the seeds extracted again, each
    request answered from what the door was answered. The model server need not answer an
    identical request identically (llama.cpp's prompt cache changes the arithmetic), so this,
    not another recording, is what a door's records must equal."""
    server.replay_what_was_answered()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extraction, "_extractors", {})
        return {a["id"]: comparable(healthcoop.extract(a)) for a in seed_articles()}


def test_python_api_extracts_the_seeds_on_the_embedded_default(door):
    with door("python_api") as server:
        records = {a["id"]: (healthcoop.extract(a), a["text"]) for a in seed_articles()}
        asked = server.requests
        again = api_records_for(server)
    assert list(records) == list(SEED_IDS)
    assert asked == 4  # one request per article
    for record, text in records.values():
        assert record.provenance.model == "qwen2.5-coder-1.5b"
        assert record.provenance.usage.completion_tokens > 0  # the model was asked
        assert_grounded(record, text)
    assert {k: comparable(r) for k, (r, _) in records.items()} == again


def test_cli_extract_gives_the_api_records(door, tmp_path: Path):
    files = []
    for article in seed_articles():
        path = tmp_path / f"{article['id']}.json"
        path.write_text(json.dumps(article), encoding="utf-8")
        files.append(str(path))
    from healthcoop.cli import app

    with door("cli_extract") as server:
        result = CliRunner().invoke(app, ["extract", "--compact", *files])
        expected = api_records_for(server)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["article_id"]: comparable(r) for r in records} == expected


async def test_serve_extract_and_batch_give_the_api_records(door):
    first, *rest = seed_articles()
    with door("serve") as server:
        app = create_app(Settings())
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://svc") as api:
                one = await api.post("/v1/extract", json=first, timeout=600)
                batch = await api.post("/v1/extract/batch", json={"articles": rest}, timeout=600)
                ready = (await api.get("/readyz")).json()
        expected = await asyncio.to_thread(api_records_for, server)
    assert one.status_code == 200, one.text
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["ok"] for r in results] == [True, True, True]
    served = {first["id"]: comparable(one.json())}
    served |= {r["record"]["article_id"]: comparable(r["record"]) for r in results}
    assert served == expected
    assert ready["model"] == "qwen2.5-coder-1.5b"


@pytest.mark.parametrize("processes", [1, 2], ids=["in_process", "processes_2"])
def test_annotate_gives_the_api_records(door, tmp_path: Path, processes: int):
    archive = tmp_path / "seeds.jsonl"
    archive.write_text("".join(json.dumps(a) + "\n" for a in seed_articles()), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    name = "annotate" if processes == 1 else "annotate_processes_2"
    with door(name) as server:
        summary = healthcoop.annotate(
            archive, out, settings=Settings(store=tmp_path / "store.sqlite"),
            processes=processes, concurrency=2,
        )  # fmt: skip
        asked = server.requests
        expected = api_records_for(server)
    assert (summary.records, summary.ok, summary.errors) == (4, 4, 0)
    assert summary.attempts == asked == 4  # one request per article, all counted
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [line["status"] for line in lines] == ["ok"] * 4
    assert {x["article_id"]: comparable(x["extraction"]) for x in lines} == expected
