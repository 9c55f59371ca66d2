"""The Batch API path (`healthcoop annotate ARCHIVE --out OUT --batch-api`): the same run, asked
through an OpenAI-compatible Batch API at batch prices (half, at OpenAI), answered within 24 h.

1. Pending batches of this task, schema, prompt and model (a run stopped while they were in
   flight) are finished first: their ids are in the store.
2. What is left to do (the same selection as any run: skip, `--force`, `--only-errors`) is
   prepared by the pipeline (`Pipeline.ask`); what the rules decide is stored at once, the
   rest becomes one request per article, with its own answer schema as a `json_schema`
   response format, in requests files of at most `MAX_REQUESTS` lines / `MAX_BYTES`.
3. Each file is uploaded, a batch is started over it, and it is polled (with progress) until
   it ends; its results and errors are downloaded. Each answer is validated with the same
   answer model, then grounded, normalized and stored (`Pipeline.finish`); a line that
   failed, or did not validate, becomes that record's error. A request the batch never ran
   (expired, cancelled) is a retryable error: a plain re-run asks it in a new batch.

Crash safety: a batch's records (and their articles) are kept in the store before its file
is uploaded, the file id once uploaded, the batch id once started, and the batch is removed
only after its results are stored. A restart picks up from whichever step was reached.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from healthcoop.schemas import Article

from ..archive import Item
from ..errors import ExtractionError, HealthcoopError, InputError
from ..extraction import Extractor
from ..extraction.extractor import Prepared, Question
from ..files import chunks
from ..llm.base import Completion
from ..llm.client import BatchState, OpenAILLM
from ..settings import Settings
from .store import ResultKey, Row, Store
from .unit import error_row, ok_row

MAX_REQUESTS = 50_000  # OpenAI's limit on requests in one batch
MAX_BYTES = 180 * 2**20  # and on a requests file (200 MB), with room to spare
CHUNK = 256

_TABLES = """
CREATE TABLE IF NOT EXISTS batches (
    local_id        TEXT PRIMARY KEY,  -- our name for it, also in the batch's metadata
    task            TEXT NOT NULL,
    schema_version  TEXT NOT NULL,
    prompt_version  TEXT NOT NULL,
    model           TEXT NOT NULL,
    input_file_id   TEXT,              -- once the requests file is uploaded
    batch_id        TEXT,              -- once the batch is started
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS batch_items (
    local_id        TEXT NOT NULL,
    article_key     TEXT NOT NULL,  -- also the request's custom_id
    article_id      TEXT NOT NULL,
    article         TEXT NOT NULL,  -- the Article as JSON: its answer is assembled from it
    PRIMARY KEY (local_id, article_key)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Pending:
    """A batch of this run's key that was started (or about to be) and not yet stored."""

    local_id: str
    input_file_id: str | None
    batch_id: str | None


class Batches:
    """The store's record of batches in flight (its own tables, beside the results)."""

    def __init__(self, store: Store) -> None:
        self._db = sqlite3.connect(store.path, isolation_level=None, timeout=30)
        self._db.executescript(_TABLES)

    def close(self) -> None:
        self._db.close()

    def pending(self, key: ResultKey) -> list[Pending]:
        sql = (
            "SELECT local_id, input_file_id, batch_id FROM batches WHERE task=? AND "
            "schema_version=? AND prompt_version=? AND model=? ORDER BY created_at"
        )
        return [Pending(*r) for r in self._db.execute(sql, key.params())]

    def add(self, local_id: str, key: ResultKey, items: list[Item]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO batches (local_id, task, schema_version, prompt_version, model) "
                "VALUES (?,?,?,?,?)",
                (local_id, *key.params()),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO batch_items VALUES (?,?,?,?)",
                ((local_id, i.key, i.article_id, _article_json(i)) for i in items),
            )

    def set(self, local_id: str, **fields: str) -> None:
        names = ", ".join(f"{name}=?" for name in fields)
        self._db.execute(
            f"UPDATE batches SET {names} WHERE local_id=?", (*fields.values(), local_id)
        )

    def items(self, local_id: str) -> list[Item]:
        sql = "SELECT article_key, article_id, article FROM batch_items WHERE local_id=?"
        return [
            Item(article_id, Article.model_validate_json(article), key=article_key)
            for article_key, article_id, article in self._db.execute(sql, (local_id,))
        ]

    def remove(self, local_id: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM batch_items WHERE local_id=?", (local_id,))
            self._db.execute("DELETE FROM batches WHERE local_id=?", (local_id,))


def _article_json(item: Item) -> str:
    assert item.article is not None
    return item.article.model_dump_json()


class _File:
    """One requests file being filled."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.lines: list[bytes] = []
        self.size = 0

    def add(self, item: Item, body: dict) -> None:
        line = json.dumps(
            {"custom_id": item.key, "method": "POST", "url": "/v1/chat/completions",
             "body": body}, ensure_ascii=False, separators=(",", ":"),
        ).encode() + b"\n"  # fmt: skip
        self.items.append(item)
        self.lines.append(line)
        self.size += len(line)

    @property
    def full(self) -> bool:
        return len(self.lines) >= MAX_REQUESTS or self.size >= MAX_BYTES


class BatchEngine:
    """A run's annotate pass through a Batch API; rows go to the pass's store writer."""

    def __init__(self, settings: Settings, store: Store, key: ResultKey) -> None:
        from ..llm.factory import build_llm

        self.settings = settings
        self.key = key
        self.batches = Batches(store)
        self.llm: OpenAILLM = build_llm(settings)
        self.pipeline = Extractor(self.llm, settings).pipeline

    async def run(self, one_pass: Any, items: Iterator[Item]) -> None:
        ticker = asyncio.create_task(one_pass.tick())
        try:
            for pending in self.batches.pending(self.key):
                await self._finish(pending, one_pass)
            started = [await self._submit(f) async for f in self._files(one_pass, items)]
            for local_id in started:
                (pending,) = [p for p in self.batches.pending(self.key) if p.local_id == local_id]
                await self._finish(pending, one_pass)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            one_pass.writer.flush()
            one_pass.report()
            self.batches.close()
            await self.llm.aclose()

    # ------------------------------------------------------------ requests

    async def _files(self, one_pass: Any, items: Iterator[Item]) -> Any:
        """Requests files of what is left to do; what needs no model call is stored now."""
        file = _File()
        for chunk in chunks(items, CHUNK):
            for item in one_pass.todo(chunk):
                body = self._body(item, one_pass)
                if body is not None:
                    file.add(item, body)
                    if file.full:
                        yield file
                        file = _File()
            await asyncio.sleep(0)  # let the ticker commit and report
        if file.lines:
            yield file

    def _body(self, item: Item, one_pass: Any) -> dict | None:
        """The request body for an item, or None once its row is settled without a model."""
        assert item.article is not None
        try:
            prepared, question = self.pipeline.ask(item.article)
            if question.response_model is not None:
                return self.llm.batch_body(question.messages, question.response_model)
            row = ok_row(item, self._finish_one(question, prepared, _NO_CALL))
        except HealthcoopError as exc:
            if exc.fatal:
                raise
            row = error_row(item, exc)
        except Exception as exc:  # noqa: BLE001 - one record's bug must not sink the run
            row = error_row(item, ExtractionError.unexpected(exc))
        one_pass.writer.add(row)
        one_pass.stats.count(row)
        return None

    async def _submit(self, file: _File) -> str:
        local_id = uuid.uuid4().hex
        self.batches.add(local_id, self.key, file.items)  # before anything is sent
        await self._start(local_id, b"".join(file.lines))
        return local_id

    async def _start(self, local_id: str, content: bytes | None = None,
                     file_id: str | None = None) -> str:  # fmt: skip
        """Upload `content` and start a batch over it; or, given the `file_id` of an upload
        a restart caught before its batch id was kept, find that batch (or start it)."""
        batch_id = None
        if file_id is None:
            assert content is not None
            file_id = await self.llm.upload_batch_file(f"healthcoop-{local_id}.jsonl", content)
            self.batches.set(local_id, input_file_id=file_id)
        else:
            batch_id = await self.llm.find_batch(file_id)
        if batch_id is None:
            batch_id = await self.llm.create_batch(file_id, {"healthcoop": local_id})
        self.batches.set(local_id, batch_id=batch_id)
        return batch_id

    def _requests(self, items: list[Item]) -> bytes:
        file = _File()
        for item in items:
            assert item.article is not None
            _, question = self.pipeline.ask(item.article)
            if question.response_model is not None:
                file.add(item, self.llm.batch_body(question.messages, question.response_model))
        return b"".join(file.lines)

    # ------------------------------------------------------------ results

    async def _finish(self, pending: Pending, one_pass: Any) -> None:
        """Wait for a batch (starting it first if a restart caught it unstarted), then store
        one row for each of its records."""
        items = self.batches.items(pending.local_id)
        batch_id = pending.batch_id
        if batch_id is None:
            if pending.input_file_id is None:
                batch_id = await self._start(pending.local_id, self._requests(items))
            else:  # uploaded, maybe started: look before starting it again
                batch_id = await self._start(pending.local_id, file_id=pending.input_file_id)
        state = await self._wait(batch_id, one_pass)
        lines = {}
        for file_id in (state.output_file_id, state.error_file_id):
            if file_id:
                for raw in (await self.llm.batch_file(file_id)).splitlines():
                    if raw.strip():
                        line = json.loads(raw)
                        lines[line.get("custom_id")] = line
        for item in items:
            row = self._row(item, lines.get(item.key), state)
            one_pass.writer.add(row)
            one_pass.stats.count(row)
        one_pass.writer.flush()
        self.batches.remove(pending.local_id)  # only now: its rows are committed

    async def _wait(self, batch_id: str, one_pass: Any) -> BatchState:
        stats = one_pass.stats
        base, phase = stats.done, stats.phase
        while True:
            state = await self.llm.batch_state(batch_id)
            stats.phase, stats.done = "batch", base + state.completed + state.failed
            one_pass.report()
            if state.finished:
                stats.phase, stats.done = phase, base
                return state
            await asyncio.sleep(self.settings.batch_poll_seconds)

    def _row(self, item: Item, line: dict | None, state: BatchState) -> Row:
        try:
            return ok_row(item, self._answer(item, line, state))
        except HealthcoopError as exc:
            return error_row(item, exc)
        except Exception as exc:  # noqa: BLE001 - one record's bug must not sink the run
            return error_row(item, ExtractionError.unexpected(exc))

    def _answer(self, item: Item, line: dict | None, state: BatchState) -> Any:
        if line is None:
            if state.status == "failed":
                raise self.llm.batch_failure(None, {"message": state.errors or "batch failed"})
            code = "batch_expired" if state.status == "expired" else "batch_cancelled"
            raise self.llm.batch_failure(None, {"code": code})
        response = line.get("response") or {}
        status = response.get("status_code")
        if status != 200:
            raise self.llm.batch_failure(status, response.get("body") or line.get("error"))
        assert item.article is not None
        prepared, question = self.pipeline.ask(item.article)
        if question.response_model is None:  # cannot happen for a request that was sent
            raise InputError("the article needs no model call any more; run the command again")
        done = self.llm.batch_answer(response.get("body") or {}, question.response_model)
        return self._finish_one(question, prepared, done)

    def _finish_one(self, question: Question, prepared: Prepared, done: Completion[Any]) -> Any:
        return self.pipeline.finish(
            question, prepared, done, model=self.llm.model, endpoint=self.llm.endpoint
        )


_NO_CALL = Completion(value=None, prompt_tokens=0, completion_tokens=0, attempts=0, latency_ms=0)
