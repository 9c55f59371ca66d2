"""The unit of work of a bulk run: one archive record → one stored row → one output line.

`annotate_one` is a pure function of (record, settings), up to the model's answer: what an
engine that maps an archive across processes or machines calls. The runner and the worker
processes use the same pieces (`asettle`, `output_line`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from healthcoop.schemas import SCHEMA_VERSION, Article, ArticleExtraction

from .. import archive
from ..archive import Item
from ..errors import ExtractionError, HealthcoopError
from ..extraction import Extractor, shared_extractor
from ..settings import Settings, get_settings
from .store import ResultKey, Row

# Workers start RAMP apart (at most RAMP_MAX in all): started together, their replies would
# keep arriving together and wait on one another's parsing, a CPU-bound ~8 ms each.
RAMP, RAMP_MAX = 0.012, 0.5


async def ramp(index: int, concurrency: int) -> None:
    """Stagger the start of worker `index` of `concurrency`."""
    await asyncio.sleep(index * min(RAMP, RAMP_MAX / concurrency))


def result_key(settings: Settings, prompt_version: str, model: str) -> ResultKey:
    """What a stored result was produced by, besides the article."""
    return ResultKey(settings.task, SCHEMA_VERSION, prompt_version, model)


def ok_row(item: Item, record: ArticleExtraction) -> Row:
    usage = record.provenance.usage
    return Row(
        item.key,
        item.article_id,
        "ok",
        record.model_dump_json(),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        attempts=record.provenance.attempts,
    )


def error_row(item: Item, error: HealthcoopError) -> Row:
    return Row(
        item.key,
        item.article_id,
        "error",
        json.dumps(error.to_dict(), ensure_ascii=False, separators=(",", ":")),
        retryable=error.retryable,
        attempts=int(getattr(error, "attempts", 0) or 0),
    )


def _row(item: Item, outcome: ArticleExtraction | Exception) -> Row:
    """The row of one record's outcome. A fatal error (bad credentials, a configuration that
    fails every record) is raised instead, to stop the run."""
    if isinstance(outcome, ArticleExtraction):
        return ok_row(item, outcome)
    if isinstance(outcome, HealthcoopError):
        if outcome.fatal:
            raise outcome
        return error_row(item, outcome)
    return error_row(item, ExtractionError.unexpected(outcome))  # one record's bug, not the run's


def settle(item: Item, run: Callable[[Article], ArticleExtraction]) -> Row:
    """The row of one record: its record, or its error."""
    assert item.article is not None
    try:
        outcome: ArticleExtraction | Exception = run(item.article)
    except Exception as exc:  # noqa: BLE001 - sorted out by _row
        outcome = exc
    return _row(item, outcome)


async def asettle(item: Item, extractor: Extractor) -> Row:
    """`settle`, for the async runner and worker processes."""
    assert item.article is not None
    try:
        # the loop of a bulk run has nothing else to answer: no threads (extractor.aextract)
        outcome: ArticleExtraction | Exception = await extractor.aextract(
            item.article, offload=False
        )
    except Exception as exc:  # noqa: BLE001 - sorted out by _row
        outcome = exc
    return _row(item, outcome)


_NOT_ANNOTATED = json.dumps(
    {"type": "not_annotated", "message": "no result in the store; run the command again"},
    separators=(",", ":"),
)


def output_line(item: Item, row: Row | None) -> str:
    """The output line of one record (with its newline), reusing the stored JSON as is."""
    article_id = json.dumps(item.article_id, ensure_ascii=False)
    if item.error is not None:
        error = json.dumps(item.error.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return f'{{"article_id":{article_id},"status":"error","error":{error}}}\n'
    if row is None:
        return f'{{"article_id":{article_id},"status":"error","error":{_NOT_ANNOTATED}}}\n'
    if row.status == "error":
        return f'{{"article_id":{article_id},"status":"error","error":{row.body}}}\n'
    body = row.body
    if row.article_id != item.article_id:
        # the same article under another id in the archive: one answer, each its own id
        data = json.loads(body)
        data["article_id"] = item.article_id
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # the publication date travels with the record: consolidation dates undated mentions by it
    published = item.article.published if item.article is not None else None
    when = f'"published":"{published.isoformat()}",' if published else ""
    return f'{{"article_id":{article_id},"status":"ok",{when}"extraction":{body}}}\n'


def annotate_one(
    record: Article | Mapping[str, Any] | str,
    settings: Settings | None = None,
    *,
    extractor: Extractor | None = None,
) -> dict[str, Any]:
    """One archive record → its output line, as a dict. A pure function of (record, settings)
    up to the model's answer: what a distributed engine maps over an archive."""
    settings = settings or get_settings()
    if isinstance(record, Article):
        item = Item(record.id or "", record, key=archive.article_key(record))
    else:
        fields = {"text": record} if isinstance(record, str) else record
        item = archive.to_item(fields, "record")
    if item.error is not None:
        return json.loads(output_line(item, None))
    ex = extractor or shared_extractor(settings)
    return json.loads(output_line(item, settle(item, ex.extract)))
