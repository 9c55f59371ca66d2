"""Annotating in worker processes, when one process's CPU is the bottleneck.

Preparing a request (candidate finding) and validating the answer (instructor) cost CPU for
every record, all on one event loop: at high rates the loop, not the model, sets the pace.
`Pool` runs `processes` workers, each with its own event loop, extractor and share of the
concurrency and rate budgets; the main process still reads the archive, decides what to do
and is the store's only writer, so resuming and exactly-once work as with one process.

A 429's Retry-After pauses every worker in every process (a shared deadline). Workers exit
when the main process goes away, even when it was killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing as mp
import os
import queue
import threading
import time
from typing import Any

from ..archive import Item
from ..errors import ConfigError, HealthcoopError, WorkerDied
from ..llm.ratelimit import Gate, Limiter
from ..settings import Settings
from .store import Row

POLL = 1.0  # seconds between checks that the other side is still alive


class SharedGate(Gate):
    """A Gate whose deadline lives in shared memory, so one 429 pauses every process."""

    def __init__(self, until: Any, pauses: Any) -> None:
        # not Gate.__init__: a worker starting late must not reset a pause under way
        self._until, self._pauses = until, pauses
        self.clock = time.monotonic  # system-wide on Linux, so comparable across processes

    @property  # type: ignore[override]
    def until(self) -> float:
        return self._until.value

    @until.setter
    def until(self, value: float) -> None:
        self._until.value = value

    @property  # type: ignore[override]
    def pauses(self) -> int:
        return self._pauses.value

    @pauses.setter
    def pauses(self, value: int) -> None:
        self._pauses.value = value


# What a worker imports before its first record; a fork server loads it once per process.
PRELOAD = ["healthcoop.bulk.pool", "healthcoop.bulk.unit", "healthcoop.llm.factory"]


def _context() -> Any:
    """Workers start from a fork server that has imported healthcoop already (where there is
    one: Linux, macOS), so a second run in the same process starts its workers in
    milliseconds, not seconds; else they spawn. Never a plain fork of a process that runs
    threads."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # heeded when the fork server starts (the first run)
    return ctx


class Pool:
    """Worker processes that turn Items into Rows; `settle` is awaited from the main loop."""

    def __init__(self, settings: Settings, *, processes: int, concurrency: int) -> None:
        if not settings.base_url:
            raise ConfigError("worker processes need an endpoint; resolve the embedded one first")
        ctx = _context()
        self._requests = ctx.Queue()
        self._results = ctx.Queue()
        self._until = ctx.Value("d", 0.0)
        self._pauses = ctx.Value("i", 0)
        per_process = math.ceil(concurrency / processes)
        share = {
            "rpm": settings.rpm / processes if settings.rpm else None,
            "tpm": settings.tpm / processes if settings.tpm else None,
        }
        self._procs = [
            ctx.Process(
                target=_worker_main,
                args=(
                    settings.model_copy(update=share),
                    per_process,
                    os.getpid(),
                    self._requests,
                    self._results,
                    self._until,
                    self._pauses,
                ),
                daemon=True,
                name=f"healthcoop-worker-{i}",
            )
            for i in range(processes)
        ]
        self._pending: dict[int, asyncio.Future[Row]] = {}
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: threading.Thread | None = None

    @property
    def pauses(self) -> int:
        return self._pauses.value

    async def __aenter__(self) -> Pool:
        self._loop = asyncio.get_running_loop()
        return self

    def _start(self) -> None:
        # on the first record to do: a run that finds everything stored starts no process
        for p in self._procs:
            p.start()
        self._reader = threading.Thread(target=self._read, daemon=True, name="healthcoop-results")
        self._reader.start()

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if self._reader is None:
            return
        if exc_type is None:
            for _ in self._procs:
                self._requests.put(None)  # each worker finishes what it holds, then exits
            await asyncio.to_thread(self._join)
        else:
            for p in self._procs:
                p.terminate()  # answers in flight are lost, as with one process
            await asyncio.to_thread(self._join)
        for fut in self._pending.values():
            fut.cancel()

    def _join(self) -> None:
        for p in self._procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        if self._reader is not None:
            self._reader.join(timeout=POLL * 2)

    async def settle(self, item: Item) -> Row:
        """The Row of one Item, answered by whichever worker is free."""
        assert self._loop is not None, "use the pool in `async with`"
        if self._reader is None:
            self._start()
        self._seq += 1
        future = self._loop.create_future()
        self._pending[self._seq] = future
        self._requests.put((self._seq, item))
        return await future

    def _read(self) -> None:
        """Thread: hand each result to the loop; fail everything if a worker dies."""
        running = len(self._procs)
        while running:
            try:
                message = self._results.get(timeout=POLL)
            except queue.Empty:
                dead = [p for p in self._procs if p.exitcode not in (None, 0)]
                if dead:
                    error = WorkerDied(
                        f"worker process {dead[0].name} died (exit code {dead[0].exitcode}); "
                        "the answers stored so far are kept: run the same command again"
                    )
                    self._call(self._fail_all, error)
                    return
                continue
            if message is None:
                running -= 1
                continue
            self._call(self._resolve, *message)

    def _call(self, fn: Any, *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self._loop.call_soon_threadsafe(fn, *args)

    def _resolve(self, seq: int, row: Row | None, fatal: HealthcoopError | None) -> None:
        future = self._pending.pop(seq, None)
        if future is None or future.done():
            return
        if fatal is not None:
            future.set_exception(fatal)
        else:
            future.set_result(row)

    def _fail_all(self, error: HealthcoopError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()


# ---------------------------------------------------------------- the worker process


def _orphaned(parent: int) -> bool:
    """Whether the main process is gone. A fork server's child has the server as its OS
    parent, so ask multiprocessing, which holds a handle on the process that started us."""
    started_by = mp.parent_process()
    if started_by is not None:
        return not started_by.is_alive()
    return os.getppid() != parent


def _worker_main(
    settings: Settings,
    concurrency: int,
    parent: int,
    requests: Any,
    results: Any,
    until: Any,
    pauses: Any,
) -> None:
    asyncio.run(_work(settings, concurrency, parent, requests, results, SharedGate(until, pauses)))
    results.put(None)


async def _work(
    settings: Settings, concurrency: int, parent: int, requests: Any, results: Any, gate: Gate
) -> None:
    from ..extraction import Extractor
    from ..llm.factory import build_llm
    from .unit import asettle, ramp

    limiter = Limiter(rpm=settings.rpm, tpm=settings.tpm, max_tokens=settings.max_tokens, gate=gate)
    # this loop owns the client for the worker's life and closes it at the end: aiohttp
    llm = build_llm(settings, concurrency=concurrency, limiter=limiter, aiohttp=True)
    extractor = Extractor(llm, settings)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[int, Item] | None] = asyncio.Queue()
    slots = threading.Semaphore(concurrency)

    def read() -> None:
        # take work only when a coroutine is free, so idle workers get the rest
        while True:
            slots.acquire()
            while True:
                try:
                    message = requests.get(timeout=POLL)
                    break
                except queue.Empty:
                    if _orphaned(parent):
                        os._exit(0)  # the main process is gone (even kill -9): so are we
            loop.call_soon_threadsafe(inbox.put_nowait, message)
            if message is None:
                return

    async def work(index: int) -> None:
        await ramp(index, concurrency)
        while (message := await inbox.get()) is not None:
            seq, item = message
            try:
                results.put((seq, await asettle(item, extractor), None))
            except HealthcoopError as exc:  # fatal: the main process stops the run
                results.put((seq, None, exc))
            finally:
                slots.release()
        inbox.put_nowait(None)  # let the other coroutines see the end too

    threading.Thread(target=read, daemon=True).start()
    try:
        await asyncio.gather(*(work(i) for i in range(concurrency)))
    finally:
        await llm.aclose()
