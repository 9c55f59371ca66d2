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
record exactly once. The unit of work is in `unit.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import archive
from ..archive import Item
from ..errors import ConfigError, StorageError
from ..extraction import Extractor, Pipeline
from ..files import chunks, is_gzip, open_write
from ..settings import Settings, get_settings
from .lock import check_output, output_lock
from .store import ResultKey, Row, Store
from .unit import asettle, output_line, ramp, result_key

CHUNK = 256  # records read, looked up and written together
ENGINES = ("local", "ray", "batch-api")
TICK = 0.25  # seconds between store commits and progress reports, when answers trickle in


# ---------------------------------------------------------------- what a run is asked and reports


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

    def count(self, row: Row) -> None:
        """Add one answered row."""
        self.done += 1
        self.annotated += 1
        self.attempts += row.attempts
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        if row.status == "error":
            self.errors += 1


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class RunOptions:
    """How to run over an archive; the same for `annotate`, `aannotate` and `plan`.

    `force` re-annotates everything; `only_errors` retries every stored failure (a plain run
    retries only the failures the server caused: rate limits, timeouts, 5xx). `concurrency`,
    `processes`, `rpm`, `tpm` and `store` override the settings of the same name. `engine`
    is "local" (this process, or `processes` worker processes), "ray" (Ray Data workers,
    joining the cluster at `ray_address` or starting a local Ray; `processes` then counts
    its workers, by default one per CPU) or "batch-api" (an OpenAI-compatible Batch API:
    `batch_api.py`).
    """

    store: str | os.PathLike[str] | None = None
    force: bool = False
    only_errors: bool = False
    concurrency: int | None = None
    processes: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    text_field: str = "text"
    id_field: str = "id"
    progress: ProgressFn | None = None
    engine: str = "local"
    ray_address: str | None = None

    def settings(self, settings: Settings | None) -> Settings:
        """The settings with this run's overrides applied."""
        settings = settings or get_settings()
        update: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("concurrency", "processes", "rpm", "tpm")
            if getattr(self, name) is not None
        }
        if self.store is not None:
            update["store"] = Path(self.store)
        return settings.model_copy(update=update) if update else settings

    def check(self, settings: Settings) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; use one of: {', '.join(ENGINES)}")
        if self.ray_address and self.engine != "ray":
            raise ConfigError("--ray-address joins a Ray cluster: add --engine ray")
        if self.force and self.only_errors:
            raise ConfigError("--force re-runs everything; drop --only-errors or --force")
        if settings.concurrency < 1 or settings.processes < 1:
            raise ConfigError("concurrency and processes must be at least 1")
        if settings.processes > settings.concurrency:
            raise ConfigError(
                f"{settings.processes} processes need a concurrency of at least "
                f"{settings.processes}"
            )

    def read(self, source: str | os.PathLike[str]) -> Iterator[Item]:
        return archive.read(source, text_field=self.text_field, id_field=self.id_field)

    @property
    def selection(self) -> Selection:
        return Selection(force=self.force, only_errors=self.only_errors)


def run_options(options: RunOptions | None, overrides: dict[str, Any]) -> RunOptions:
    """`options` (or the defaults) with keyword overrides, refusing unknown names."""
    options = options or RunOptions()
    known = {f.name for f in dataclasses.fields(RunOptions)}
    if unknown := sorted(set(overrides) - known):
        raise TypeError(f"unknown run option(s): {', '.join(unknown)}")
    return dataclasses.replace(options, **overrides) if overrides else options


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


def store_path(settings: Settings) -> Path:
    return settings.store or settings.cache_dir / "results.sqlite"


def model_name(settings: Settings) -> str:
    """The model a run will ask, known before any server starts (the store key needs it)."""
    if settings.base_url:
        return settings.model or "default"  # as OpenAILLM names it
    from ..llm.embedded import get_model

    return get_model(settings.embedded_model).name


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


Settle = Callable[[Item], Awaitable[Row]]


@dataclass
class _Pass:
    """One annotate pass: a producer deciding what to do, workers asking, a ticker storing."""

    store: Store
    key: ResultKey
    settle: Settle
    selection: Selection
    concurrency: int
    stats: Progress
    pauses: Callable[[], int] | None
    progress: ProgressFn | None
    inflight: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        self.writer = _Writer(self.store, self.key, self.inflight)

    def todo(self, chunk: list[Item]) -> list[Item]:
        """The records of a chunk to ask about; the others are counted as settled. Decided
        before the first await, so no key is chosen twice."""
        stats = self.stats
        states = self.store.states(self.key, [i.key for i in chunk if i.article is not None])
        todo: list[Item] = []
        for item in chunk:
            if item.article is None:
                stats.done += 1
                stats.errors += 1
            elif item.key in self.inflight:
                stats.done += 1  # the same article earlier in the archive: one answer
                stats.cached += 1
            elif self.selection.todo(states.get(item.key)):
                self.inflight.add(item.key)
                todo.append(item)
            else:
                stats.done += 1
                stats.cached += 1
                if states[item.key][0] == "error":
                    stats.errors += 1
        return todo

    async def produce(self, items: Iterator[Item]) -> None:
        for chunk in chunks(items, CHUNK):
            for item in self.todo(chunk):
                await self.queue.put(item)
        for _ in range(self.concurrency):
            await self.queue.put(None)

    async def work(self, index: int) -> None:
        await ramp(index, self.concurrency)
        # a fatal error (bad credentials) propagates and stops the run
        while (item := await self.queue.get()) is not None:
            row = await self.settle(item)
            self.writer.add(row)
            self.stats.count(row)

    def report(self) -> None:
        if self.pauses is not None:
            self.stats.pauses = self.pauses()
        if self.progress is not None:
            self.progress(self.stats)

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.writer.flush()
            self.report()

    async def run(self, items: Iterator[Item]) -> None:
        tasks = [
            asyncio.create_task(self.produce(items)),
            *(asyncio.create_task(self.work(i)) for i in range(self.concurrency)),
        ]
        ticker = asyncio.create_task(self.tick())
        try:
            # the first task to fail (or a worker dying) ends the run: nobody waits on a dead
            # queue. The ticker is watched too: it stores answers, and may find the disk full.
            pending = {*tasks, ticker}
            while pending - {ticker}:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if not task.cancelled() and (exc := task.exception()) is not None:
                        raise exc
        finally:
            for task in [*tasks, ticker]:
                task.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)
            self.writer.flush()  # whatever was answered is kept, even on Ctrl-C
            self.report()


# ---------------------------------------------------------------- pass 2: write


def write_output(
    items: Iterable[Item],
    out: Path,
    *,
    store: Store,
    key: ResultKey,
    stats: Progress | None = None,
    progress: ProgressFn | None = None,
) -> Summary:
    """Write one line per record, in input order, from the store; replace `out` atomically.
    A failed write (a full disk) leaves `out` as it was: `StorageError`."""
    summary = Summary(out=out)
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    last = time.monotonic()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open_write(partial, gz=is_gzip(out)) as f:
            for chunk in chunks(items, CHUNK):
                rows = store.get_many(key, [i.key for i in chunk if i.article is not None])
                lines = []
                for item in chunk:
                    row = rows.get(item.key) if item.article is not None else None
                    lines.append(output_line(item, row))
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
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        remedy = "free some space" if full else "make it writable"
        raise StorageError(
            f"cannot write {out}: {exc.strerror or exc}; it was left as it was, and every answer "
            f"is kept in the store {store.path}: {remedy} (or choose another --out) and run the "
            "same command again to write it"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return summary


def _error_type(item: Item, row: Row | None) -> str:
    if item.error is not None:
        return item.error.type
    if row is None:
        return "not_annotated"
    return str(row.error().get("type", "error"))


# ---------------------------------------------------------------- the runner


async def _engine(
    stack: contextlib.AsyncExitStack, settings: Settings, extractor: Extractor | None
) -> tuple[ResultKey, Settle, Callable[[], int] | None]:
    """What answers the records: the given extractor, one built here behind the run's rate
    limits, or a pool of worker processes; with the result key it answers under."""
    if extractor is not None:
        given = extractor
        key = result_key(settings, given.prompt_version, given.llm.model)
        return key, lambda item: asettle(item, given), None
    from ..llm.factory import build_llm, endpoint_settings
    from ..llm.ratelimit import Limiter

    if settings.processes == 1:
        limiter = Limiter(rpm=settings.rpm, tpm=settings.tpm, max_tokens=settings.max_tokens)
        # the run's loop owns the client and closes it at the end: aiohttp
        llm = build_llm(settings, concurrency=settings.concurrency, limiter=limiter, aiohttp=True)
        stack.push_async_callback(llm.aclose)
        built = Extractor(llm, settings)
        key = result_key(settings, built.prompt_version, llm.model)
        return key, lambda item: asettle(item, built), lambda: limiter.gate.pauses
    from .pool import Pool

    settings = endpoint_settings(settings)  # start the embedded model once, here
    key = result_key(settings, Pipeline(settings).prompt_version, model_name(settings))
    pool = await stack.enter_async_context(
        Pool(settings, processes=settings.processes, concurrency=settings.concurrency)
    )
    return key, pool.settle, lambda: pool.pauses


async def _other_engine(
    stack: contextlib.AsyncExitStack,
    db: Store,
    settings: Settings,
    opts: RunOptions,
    stats: Progress,
    source: str | os.PathLike[str],
) -> ResultKey:
    """The annotate pass on Ray Data or a Batch API; returns the result key it stored under."""
    from ..llm.factory import endpoint_settings

    if opts.engine == "batch-api" and settings.uses_embedded:
        raise ConfigError(
            "--batch-api needs an endpoint with a Batch API: set HEALTHCOOP_BASE_URL (the "
            "embedded model answers one request at a time and has none)"
        )
    settings = endpoint_settings(settings)  # start the embedded model once, here
    key = result_key(settings, Pipeline(settings).prompt_version, model_name(settings))

    async def nothing(item: Item) -> Row:
        raise AssertionError("the engine answers records itself")

    def one_pass(pauses: Callable[[], int] | None) -> _Pass:
        return _Pass(db, key, nothing, opts.selection, settings.concurrency, stats, pauses,
                     opts.progress)  # fmt: skip

    if opts.engine == "ray":
        from .ray_engine import RayEngine

        workers = settings.processes if settings.processes > 1 else None
        engine = stack.enter_context(RayEngine(settings, address=opts.ray_address, workers=workers))
        await engine.run(one_pass(engine.pauses), opts.read(source))
    else:
        from .batch_api import BatchEngine

        engine = BatchEngine(settings, db, key)
        await engine.run(one_pass(None), opts.read(source))
    return key


async def aannotate(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    extractor: Extractor | None = None,
    options: RunOptions | None = None,
    **overrides: Any,
) -> Summary:
    """`annotate`, for asyncio code."""
    opts = run_options(options, overrides)
    settings = opts.settings(settings)
    opts.check(settings)
    if extractor is not None and (settings.processes > 1 or opts.engine != "local"):
        raise ConfigError("worker processes build their own extractors: pass processes=1")
    path = store_path(settings)
    # one run per output at a time, refused before anything is read or asked
    if out is not None:
        check_output(source, Path(out))
    locked = output_lock(Path(out)) if out is not None else contextlib.nullcontext()
    with locked, Store(path) as db:
        stats = Progress(total=archive.count(source) if opts.progress else None)
        started = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            if opts.engine == "local":
                key, settle, pauses = await _engine(stack, settings, extractor)
                one_pass = _Pass(db, key, settle, opts.selection, settings.concurrency, stats,
                                 pauses, opts.progress)  # fmt: skip
                await one_pass.run(opts.read(source))
            else:
                key = await _other_engine(stack, db, settings, opts, stats, source)
        if out is None:
            summary = Summary()
        else:
            stats.phase = "writing"
            summary = write_output(
                opts.read(source), Path(out), store=db, key=key, stats=stats, progress=opts.progress
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
    options: RunOptions | None = None,
    **overrides: Any,
) -> Summary:
    """Annotate an archive into `out` (JSON Lines; `.gz` compresses), one line per record in
    input order, reusing every result the store holds for this task, schema, prompt and model.

    Options come as a `RunOptions` or as its fields by keyword (`force=True`,
    `concurrency=16`, …). With `out=None` the store is filled and nothing is written.
    `extractor` replaces the one built from `settings` (client-side limits then do not apply).
    """
    return asyncio.run(
        aannotate(source, out, settings=settings, extractor=extractor, options=options, **overrides)
    )
