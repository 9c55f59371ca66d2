"""Bulk annotation of archives: resumable, cached, concurrent, selective.

A run has two passes over the archive, both streaming:

1. annotate: every record whose result is not in the store (for this task, schema version,
   prompt version and model) goes to a pool of async workers (in this process, or spread
   over worker processes: `pool.py`); results are written to the store in batched
   transactions as they come.
2. write: the archive is read again and each record's result is looked up and written, in
   input order, to a temporary file that replaces the output only when complete.

The store is the single source of truth, so a run killed at any point (even `kill -9`) loses
at most one uncommitted batch of answers, and the next run of the same command writes every
record exactly once. The unit of work, `annotate_one`, is a pure function of (article,
settings) that a distributed engine can map.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, TypeVar

from healthcoop.schemas import SCHEMA_VERSION, Article, ArticleExtraction

from . import archive
from .archive import Item
from .errors import ConfigError, ExtractionError, HealthcoopError, InputError, LLMError
from .extract import Extractor, prepare
from .llm_client import LLM
from .ratelimit import CHARS_PER_TOKEN, Limiter
from .settings import Settings, get_settings
from .store import ResultKey, Row, Store

CHUNK = 256  # records read, looked up and written together
# Workers start RAMP apart (at most RAMP_MAX in all): started together, their replies would
# keep arriving together and wait on one another's parsing, a CPU-bound ~8 ms each.
RAMP, RAMP_MAX = 0.012, 0.5
PLAN_SAMPLE = 200  # records a dry run prepares in full to estimate the others
TICK = 0.25  # seconds between store commits and progress reports, when answers trickle in

T = TypeVar("T")


# ---------------------------------------------------------------- what a run reports


@dataclass
class Progress:
    """Live counters of a run, handed to the progress callback."""

    phase: str = "annotating"  # "annotating" | "writing" | "planning"
    total: int | None = None
    done: int = 0  # records settled: cached, annotated, or refused as input
    cached: int = 0
    annotated: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    pauses: int = 0  # rate-limit pauses shared by all workers
    written: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Summary:
    """What a run did."""

    records: int = 0
    ok: int = 0
    errors: int = 0
    error_types: Counter[str] = field(default_factory=Counter)
    cached: int = 0
    annotated: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    pauses: int = 0  # times a 429 with Retry-After paused every worker
    elapsed: float = 0.0
    out: Path | None = None
    store: Path | None = None
    key: ResultKey | None = None


@dataclass
class Plan:
    """What a run would do (`plan`, `--dry-run`): nothing is asked, nothing is stored."""

    records: int = 0
    cached: int = 0
    todo: int = 0
    input_errors: int = 0
    requests: int = 0  # estimated: records to do that need a model call (not decided by rules)
    prompt_tokens: int = 0  # estimated, for those requests
    completion_tokens_max: int = 0  # the cap: max_tokens for each request
    cost_max: float | None = None  # USD, when prices are set
    store: Path | None = None
    key: ResultKey | None = None


ProgressFn = Callable[[Progress], None]


# ---------------------------------------------------------------- the unit of work


def result_key(settings: Settings, extractor: Extractor) -> ResultKey:
    return ResultKey(settings.task, SCHEMA_VERSION, extractor.prompt_version, extractor.llm.model)


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
        retryable=bool(getattr(error, "retryable", False)),
        attempts=int(getattr(error, "attempts", 0) or 0),
    )


def _is_fatal(error: HealthcoopError) -> bool:
    """Errors that no other record will escape: stop the run instead of recording them."""
    return isinstance(error, ConfigError) or (isinstance(error, LLMError) and error.kind == "auth")


def _settle(item: Item, run: Callable[[Article], ArticleExtraction]) -> Row:
    assert item.article is not None
    try:
        return ok_row(item, run(item.article))
    except HealthcoopError as exc:
        if _is_fatal(exc):
            raise
        return error_row(item, exc)
    except Exception as exc:  # noqa: BLE001 - one record's bug must not sink the run
        return error_row(item, _unexpected(exc))


def _unexpected(exc: Exception) -> ExtractionError:
    return ExtractionError(
        f"the record could not be assembled ({type(exc).__name__}: {exc}); please report this"
    )


async def _asettle(item: Item, extractor: Extractor) -> Row:
    assert item.article is not None
    try:
        return ok_row(item, await extractor.aextract(item.article))
    except HealthcoopError as exc:
        if _is_fatal(exc):
            raise
        return error_row(item, exc)
    except Exception as exc:  # noqa: BLE001 - one record's bug must not sink the run
        return error_row(item, _unexpected(exc))


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
        return json.loads(_line(item, None))
    ex = extractor or _extractor_for(settings)
    return json.loads(_line(item, _settle(item, ex.extract)))


_EXTRACTORS: dict[tuple[str, str | None], Extractor] = {}


def _extractor_for(settings: Settings) -> Extractor:
    """One extractor (and HTTP client) per settings in a process, reused across records."""
    import healthcoop

    secret = settings.api_key.get_secret_value() if settings.api_key else None
    key = (settings.model_dump_json(), secret)  # the dump masks the key: add it back
    if key not in _EXTRACTORS:
        if len(_EXTRACTORS) >= 4:
            _EXTRACTORS.clear()
        _EXTRACTORS[key] = healthcoop.extractor(settings)
    return _EXTRACTORS[key]


# ---------------------------------------------------------------- output lines


def _line(item: Item, row: Row | None) -> str:
    """The output line of one record (with its newline), reusing the stored JSON as is."""
    article_id = json.dumps(item.article_id, ensure_ascii=False)
    if item.error is not None:
        error = json.dumps(item.error.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return f'{{"article_id":{article_id},"status":"error","error":{error}}}\n'
    if row is None:
        error = json.dumps(
            {"type": "not_annotated", "message": "no result in the store; run the command again"},
            separators=(",", ":"),
        )
        return f'{{"article_id":{article_id},"status":"error","error":{error}}}\n'
    if row.status == "error":
        return f'{{"article_id":{article_id},"status":"error","error":{row.body}}}\n'
    body = row.body
    if row.article_id != item.article_id:
        # the same article under another id in the archive: one answer, each its own id
        data = json.loads(body)
        data["article_id"] = item.article_id
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f'{{"article_id":{article_id},"status":"ok","extraction":{body}}}\n'


def _chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# ---------------------------------------------------------------- selecting what to do


@dataclass(frozen=True)
class Selection:
    """Which stored results count as done."""

    force: bool = False  # nothing does: re-run everything
    only_errors: bool = False  # only ok results do: retry every failure

    def todo(self, state: tuple[str, bool] | None) -> bool:
        if self.force or state is None:
            return True
        status, retryable = state
        if status == "ok":
            return False
        # a failure the server caused (rate limit, timeout) is retried by a plain re-run
        return self.only_errors or retryable


# ---------------------------------------------------------------- pass 1: annotate


class _Writer:
    """Batches answered rows into store transactions; keys stay `inflight` until committed."""

    def __init__(self, store: Store, key: ResultKey, inflight: set[str]) -> None:
        self.store, self.key, self.inflight = store, key, inflight
        self.pending: list[Row] = []

    def add(self, row: Row) -> None:
        self.pending.append(row)
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        self.store.put_many(self.key, rows)
        self.inflight.difference_update(r.article_key for r in rows)


async def _annotate_pass(
    items: Iterator[Item],
    *,
    store: Store,
    key: ResultKey,
    settle: Callable[[Item], Awaitable[Row]],
    selection: Selection,
    concurrency: int,
    stats: Progress,
    pauses: Callable[[], int] | None,
    progress: ProgressFn | None,
) -> None:
    queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=concurrency * 2)
    inflight: set[str] = set()
    writer = _Writer(store, key, inflight)

    async def produce() -> None:
        for chunk in _chunks(items):
            # decide the whole chunk before the first await, so no key is chosen twice
            states = store.states(key, [i.key for i in chunk if i.article is not None])
            todo: list[Item] = []
            for item in chunk:
                if item.article is None:
                    stats.done += 1
                    stats.errors += 1
                elif item.key in inflight:
                    stats.done += 1  # the same article earlier in the archive: one answer
                    stats.cached += 1
                elif selection.todo(states.get(item.key)):
                    inflight.add(item.key)
                    todo.append(item)
                else:
                    stats.done += 1
                    stats.cached += 1
                    if states[item.key][0] == "error":
                        stats.errors += 1
            for item in todo:
                await queue.put(item)
        for _ in range(concurrency):
            await queue.put(None)

    async def work(index: int) -> None:
        await asyncio.sleep(index * min(RAMP, RAMP_MAX / concurrency))
        # a fatal error (bad credentials) propagates and stops the run
        while (item := await queue.get()) is not None:
            row = await settle(item)
            writer.add(row)
            stats.done += 1
            stats.annotated += 1
            stats.attempts += row.attempts
            stats.prompt_tokens += row.prompt_tokens
            stats.completion_tokens += row.completion_tokens
            if row.status == "error":
                stats.errors += 1

    async def tick() -> None:
        while True:
            await asyncio.sleep(TICK)
            writer.flush()
            if pauses is not None:
                stats.pauses = pauses()
            if progress is not None:
                progress(stats)

    tasks = [
        asyncio.create_task(produce()),
        *(asyncio.create_task(work(i)) for i in range(concurrency)),
    ]
    ticker = asyncio.create_task(tick())
    try:
        # the first task to fail (or a worker dying) ends the run: nobody waits on a dead queue
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc
    finally:
        for task in [*tasks, ticker]:
            task.cancel()
        await asyncio.gather(*tasks, ticker, return_exceptions=True)
        writer.flush()  # whatever was answered is kept, even on Ctrl-C
        if pauses is not None:
            stats.pauses = pauses()
    if progress is not None:
        progress(stats)


# ---------------------------------------------------------------- pass 2: write


def _open_out(path: Path, *, gz: bool) -> IO[str]:
    if gz:
        return gzip.open(path, "wt", encoding="utf-8", compresslevel=6)
    return open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the caller's with


def export(
    items: Iterable[Item],
    out: Path,
    *,
    store: Store,
    key: ResultKey,
    stats: Progress | None = None,
    progress: ProgressFn | None = None,
) -> Summary:
    """Write one line per record, in input order, from the store; replace `out` atomically."""
    summary = Summary(out=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    last = time.monotonic()
    with _open_out(partial, gz=out.suffix == ".gz") as f:
        for chunk in _chunks(items):
            rows = store.get_many(key, [i.key for i in chunk if i.article is not None])
            lines = []
            for item in chunk:
                row = rows.get(item.key) if item.article is not None else None
                lines.append(_line(item, row))
                if row is not None and row.status == "ok":
                    summary.ok += 1
                else:
                    summary.errors += 1
                    summary.error_types[_error_type(item, row)] += 1
            f.write("".join(lines))
            summary.records += len(chunk)
            if stats is not None:
                stats.written = summary.records
                if progress is not None and time.monotonic() - last > TICK:
                    progress(stats)
                    last = time.monotonic()
        f.flush()
        with contextlib.suppress(AttributeError, OSError):
            os.fsync(f.fileno())
    os.replace(partial, out)
    return summary


def _error_type(item: Item, row: Row | None) -> str:
    if item.error is not None:
        return item.error.type
    if row is None:
        return "not_annotated"
    return str(row.error().get("type", "error"))


# ---------------------------------------------------------------- the runner


def store_path(settings: Settings) -> Path:
    return settings.store or settings.cache_dir / "results.sqlite"


def model_name(settings: Settings) -> str:
    """The model a run will ask, known before any server starts (the store key needs it)."""
    if settings.base_url:
        return settings.model or "default"  # as OpenAILLM names it
    from .embedded import get_model

    return get_model(settings.embedded_model).name


class _Unasked:
    """A model that is never called: a dry run needs its name, not its answers."""

    endpoint = None

    def __init__(self, model: str) -> None:
        self.model = model

    def complete(self, messages: Any, response_model: Any) -> Any:
        raise AssertionError("a dry run asks no model")

    async def acomplete(self, messages: Any, response_model: Any) -> Any:
        raise AssertionError("a dry run asks no model")


def _bulk_llm(settings: Settings, concurrency: int, limiter: Limiter) -> tuple[LLM, Any]:
    """The configured model behind an async HTTP client that honours the run's limits."""
    import httpx2

    from .llm_client import OpenAILLM
    from .runtime import endpoint_settings

    pool = concurrency + 4
    client = httpx2.AsyncClient(
        limits=httpx2.Limits(max_connections=pool, max_keepalive_connections=pool),
        timeout=settings.timeout,
        follow_redirects=True,
        event_hooks=limiter.hooks(),
    )
    return OpenAILLM(endpoint_settings(settings), async_http_client=client), client


Settle = Callable[[Item], Awaitable[Row]]


async def _engine(
    stack: contextlib.AsyncExitStack, settings: Settings, extractor: Extractor | None
) -> tuple[ResultKey, Settle, Callable[[], int] | None]:
    """What answers the records: the given extractor, one built here behind the run's rate
    limits, or a pool of worker processes; with the result key it answers under."""
    if extractor is not None:
        given = extractor
        return result_key(settings, given), lambda item: _asettle(item, given), None
    if settings.processes == 1:
        limiter = Limiter(rpm=settings.rpm, tpm=settings.tpm, max_tokens=settings.max_tokens)
        llm, client = _bulk_llm(settings, settings.concurrency, limiter)
        stack.push_async_callback(client.aclose)
        built = Extractor(llm, settings)
        return (
            result_key(settings, built),
            lambda item: _asettle(item, built),
            lambda: limiter.gate.pauses,
        )
    from .pool import Pool
    from .runtime import endpoint_settings

    settings = endpoint_settings(settings)  # start the embedded model once, here
    key = result_key(settings, Extractor(_Unasked(model_name(settings)), settings))
    pool = await stack.enter_async_context(
        Pool(settings, processes=settings.processes, concurrency=settings.concurrency)
    )
    return key, pool.settle, lambda: pool.pauses


def _settings_for(settings: Settings | None, **overrides: Any) -> Settings:
    settings = settings or get_settings()
    if overrides.get("store") is not None:
        overrides["store"] = Path(overrides["store"])
    update = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=update) if update else settings


def _check(force: bool, only_errors: bool, concurrency: int, processes: int = 1) -> None:
    if force and only_errors:
        raise ConfigError("--force re-runs everything; drop --only-errors or --force")
    if concurrency < 1 or processes < 1:
        raise ConfigError("concurrency and processes must be at least 1")
    if processes > concurrency:
        raise ConfigError(f"{processes} processes need a concurrency of at least {processes}")


async def aannotate(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    extractor: Extractor | None = None,
    store: str | os.PathLike[str] | None = None,
    force: bool = False,
    only_errors: bool = False,
    concurrency: int | None = None,
    processes: int | None = None,
    rpm: float | None = None,
    tpm: float | None = None,
    text_field: str = "text",
    id_field: str = "id",
    progress: ProgressFn | None = None,
) -> Summary:
    """`annotate`, for asyncio code."""
    settings = _settings_for(
        settings, concurrency=concurrency, processes=processes, rpm=rpm, tpm=tpm, store=store
    )
    _check(force, only_errors, settings.concurrency, settings.processes)
    if extractor is not None and settings.processes > 1:
        raise ConfigError("worker processes build their own extractors: pass processes=1")
    stats = Progress(total=archive.count(source) if progress is not None else None)
    started = time.monotonic()
    path = store_path(settings)
    with Store(path) as db:
        async with contextlib.AsyncExitStack() as stack:
            key, settle, pauses = await _engine(stack, settings, extractor)
            await _annotate_pass(
                archive.read(source, text_field=text_field, id_field=id_field),
                store=db,
                key=key,
                settle=settle,
                selection=Selection(force=force, only_errors=only_errors),
                concurrency=settings.concurrency,
                stats=stats,
                pauses=pauses,
                progress=progress,
            )
        if out is None:
            summary = Summary()
        else:
            stats.phase = "writing"
            summary = export(
                archive.read(source, text_field=text_field, id_field=id_field),
                Path(out),
                store=db,
                key=key,
                stats=stats,
                progress=progress,
            )
    summary.cached, summary.annotated = stats.cached, stats.annotated
    summary.prompt_tokens, summary.completion_tokens = stats.prompt_tokens, stats.completion_tokens
    summary.attempts, summary.pauses = stats.attempts, stats.pauses
    summary.elapsed = time.monotonic() - started
    summary.store, summary.key = path, key
    return summary


def annotate(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    extractor: Extractor | None = None,
    store: str | os.PathLike[str] | None = None,
    force: bool = False,
    only_errors: bool = False,
    concurrency: int | None = None,
    processes: int | None = None,
    rpm: float | None = None,
    tpm: float | None = None,
    text_field: str = "text",
    id_field: str = "id",
    progress: ProgressFn | None = None,
) -> Summary:
    """Annotate an archive into `out` (JSON Lines; `.gz` compresses), one line per record in
    input order, reusing every result the store holds for this task, schema, prompt and model.

    `force` re-annotates everything; `only_errors` retries every stored failure (a plain run
    retries only the failures the server caused: rate limits, timeouts, 5xx). With `out=None`
    the store is filled and nothing is written. `extractor` replaces the one built from
    `settings` (client-side limits then do not apply).
    """
    return asyncio.run(
        aannotate(
            source,
            out,
            settings=settings,
            extractor=extractor,
            store=store,
            force=force,
            only_errors=only_errors,
            concurrency=concurrency,
            processes=processes,
            rpm=rpm,
            tpm=tpm,
            text_field=text_field,
            id_field=id_field,
            progress=progress,
        )
    )


def plan(
    source: str | os.PathLike[str],
    *,
    settings: Settings | None = None,
    extractor: Extractor | None = None,
    store: str | os.PathLike[str] | None = None,
    force: bool = False,
    only_errors: bool = False,
    text_field: str = "text",
    id_field: str = "id",
    progress: ProgressFn | None = None,
) -> Plan:
    """Count what a run would annotate and estimate its tokens and cost; asks no model.

    Preparing a request costs real CPU (candidate finding), so only the first `PLAN_SAMPLE`
    records to do are prepared in full; their share needing a model call and their prompt
    size beyond the article text (template, candidates, answer schema) are extrapolated.
    """
    settings = _settings_for(settings, store=store)
    _check(force, only_errors, settings.concurrency)
    extractor = extractor or Extractor(_Unasked(model_name(settings)), settings)
    key = result_key(settings, extractor)
    selection = Selection(force=force, only_errors=only_errors)
    result = Plan(store=store_path(settings), key=key)
    stats = Progress(phase="planning")
    sampled = calls = overhead = text_chars = 0
    with contextlib.ExitStack() as stack:
        path = store_path(settings)
        db = stack.enter_context(Store(path)) if path.exists() else None
        for chunk in _chunks(archive.read(source, text_field=text_field, id_field=id_field)):
            keys = [i.key for i in chunk if i.article is not None]
            states = db.states(key, keys) if db is not None else {}
            for item in chunk:
                result.records += 1
                if item.article is None:
                    result.input_errors += 1
                    continue
                if not selection.todo(states.get(item.key)):
                    result.cached += 1
                    continue
                if sampled < PLAN_SAMPLE:
                    try:
                        chars = _request_chars(item.article, extractor, settings)
                    except InputError:
                        result.input_errors += 1
                        continue
                    sampled += 1
                    if chars is not None:
                        calls += 1
                        overhead += chars - len(item.article.text)
                result.todo += 1
                text_chars += len(item.article.text)
            stats.done = result.records
            if progress is not None:
                progress(stats)
    share = calls / sampled if sampled else 0.0
    mean_overhead = overhead / calls if calls else 0.0
    result.requests = round(result.todo * share)
    result.prompt_tokens = round(
        share * (text_chars + result.todo * mean_overhead) / CHARS_PER_TOKEN
    )
    result.completion_tokens_max = result.requests * settings.max_tokens
    if settings.price_prompt is not None or settings.price_completion is not None:
        result.cost_max = (
            result.prompt_tokens * (settings.price_prompt or 0.0)
            + result.completion_tokens_max * (settings.price_completion or 0.0)
        ) / 1e6
    return result


def _request_chars(article: Article, extractor: Extractor, settings: Settings) -> int | None:
    """Characters one request for the article sends (messages and answer schema), or None
    when the rules answer without asking the model."""
    question = extractor.strategy.plan(prepare(article, settings), extractor.template)
    if question.response_model is None:
        return None
    schema = json.dumps(question.response_model.model_json_schema())
    return len(schema) + sum(len(m["content"]) for m in question.messages)
