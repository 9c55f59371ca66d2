"""The Ray Data engine (`healthcoop annotate ARCHIVE --out OUT --engine ray`): one run spread
over the workers of a Ray cluster, or of a local Ray instance.

The driver (the process running `annotate`) reads the archive, asks the store what is left
to do, exactly as a one-machine run does (`runner._Pass.todo`: skip, `--force`,
`--only-errors`, the same text twice asked once), and sends what is left in windows of
records through Ray Data: `from_items` → `map_batches(Annotator)`, one stateful actor per
worker holding one extractor (`llm.factory.build_llm` + `unit.asettle`) with its share of the
concurrency → rows streamed back. Only the driver writes the store, in the same batched
transactions, so a driver killed at any point loses at most the rows not yet committed, and
the next run asks for those again.

Rate limits are shared by every worker through one `Limits` actor: it holds the RPM and TPM
buckets that each request waits on, and the pause a 429 with Retry-After starts (workers look
at it at least every `GATE_SYNC` seconds, and at once after their own 429).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import math
import pickle
import threading
from collections.abc import Iterator
from typing import Any

from healthcoop.schemas import Article

from ..archive import Item
from ..errors import ConfigError, HealthcoopError, WorkerDied
from ..files import chunks
from ..llm.ratelimit import Bucket, Gate, Limiter
from ..settings import Settings
from .store import Row

# Records sent to Ray Data at a time: the driver holds at most this many (~3 KiB each), and
# Ray Data starts its actors afresh for each window (seconds: imports, one extractor each).
WINDOW = 20_000
GATE_SYNC = 0.25  # seconds a worker goes without looking at the shared 429 pause
IN_FLIGHT_BATCHES = 4  # batches queued at each actor, so its slots never wait for the next

_ROW_FIELDS = ("article_key", "article_id", "status", "body", "retryable", "prompt_tokens",
               "completion_tokens", "attempts")  # fmt: skip


def _ray() -> Any:
    try:
        import ray
        import ray.data  # sets up its loggers (quietened by RayEngine)
    except ImportError:
        raise ConfigError(
            "--engine ray needs Ray: pip install 'healthcoop[ray]' (on every machine of the "
            "cluster)"
        ) from None
    return ray


# ---------------------------------------------------------------- shared rate limits


class Limits:
    """The run's shared budgets and 429 pause; one Ray actor (see `limits_actor`)."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.buckets = {
            name: Bucket(rate) for name, rate in (("requests", rpm), ("tokens", tpm)) if rate
        }
        self.gate = Gate()

    async def acquire(self, name: str, amount: float) -> None:
        await self.buckets[name].acquire(amount)

    def give(self, name: str, amount: float) -> None:
        self.buckets[name].give(amount)

    def pause(self, seconds: float) -> None:
        self.gate.pause(seconds)

    def remaining(self) -> float:
        """Seconds left of the current pause (clocks differ between machines; spans do not)."""
        return max(0.0, self.gate.until - self.gate.clock())

    def pauses(self) -> int:
        return self.gate.pauses


class _SharedBudget:
    """A worker's handle on one of the `Limits` buckets."""

    def __init__(self, limits: Any, name: str) -> None:
        self.limits, self.name = limits, name

    async def acquire(self, amount: float) -> None:
        await self.limits.acquire.remote(self.name, amount)

    def give(self, amount: float) -> None:
        self.limits.give.remote(self.name, amount)  # no need to wait for the bookkeeping


class _SharedGate(Gate):
    """A worker's gate: its own pause, kept in step with the shared one."""

    def __init__(self, limits: Any) -> None:
        super().__init__()
        self.limits = limits
        self.synced = float("-inf")

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        self.limits.pause.remote(seconds)

    async def wait(self) -> None:
        now = self.clock()
        if now - self.synced >= GATE_SYNC:
            self.synced = now  # the other coroutines go on meanwhile
            remaining = await self.limits.remaining.remote()
            self.until = max(self.until, self.clock() + remaining)
        await super().wait()


def limiter_for(settings: Settings, limits: Any) -> Limiter:
    """A worker's limiter, drawing on the run's shared `Limits` actor."""
    return Limiter(
        max_tokens=settings.max_tokens,
        gate=_SharedGate(limits),
        requests=_SharedBudget(limits, "requests") if settings.rpm else None,
        tokens=_SharedBudget(limits, "tokens") if settings.tpm else None,
    )


# ---------------------------------------------------------------- the worker


class Annotator:
    """The `map_batches` UDF: one per actor, one extractor and event loop each, answering a
    batch of records with up to `concurrency` requests in flight across its batches."""

    def __init__(self, settings: Settings, concurrency: int, limits: Any) -> None:
        from ..extraction import Extractor
        from ..llm.factory import build_llm

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="annotator").start()
        llm = build_llm(settings, concurrency=concurrency, limiter=limiter_for(settings, limits))
        self.extractor = Extractor(llm, settings)
        self.slots = asyncio.run_coroutine_threadsafe(_semaphore(concurrency), self.loop).result()

    async def _one(self, key: str, article_id: str, article: str) -> dict[str, Any]:
        from .unit import asettle

        item = Item(article_id, Article.model_validate_json(article), key=key)
        async with self.slots:
            try:
                row = await asettle(item, self.extractor)
            except HealthcoopError as exc:  # fatal: the driver stops the run
                return {**dict.fromkeys(_ROW_FIELDS, ""), "fatal": pickle.dumps(exc)}
        return {**{f: getattr(row, f) for f in _ROW_FIELDS}, "fatal": b""}

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        async def answer() -> list[dict[str, Any]]:
            parts = zip(batch["key"], batch["id"], batch["article"], strict=True)
            return await asyncio.gather(*(self._one(str(k), str(i), str(a)) for k, i, a in parts))

        rows = asyncio.run_coroutine_threadsafe(answer(), self.loop).result()
        return {name: [r[name] for r in rows] for name in (*_ROW_FIELDS, "fatal")}


async def _semaphore(n: int) -> asyncio.Semaphore:
    return asyncio.Semaphore(n)  # made on the actor's loop, where it is used


def _row(record: dict[str, Any]) -> Row:
    if record["fatal"]:
        raise pickle.loads(record["fatal"])
    return Row(
        str(record["article_key"]),
        str(record["article_id"]),
        str(record["status"]),
        str(record["body"]),
        retryable=bool(record["retryable"]),
        prompt_tokens=int(record["prompt_tokens"]),
        completion_tokens=int(record["completion_tokens"]),
        attempts=int(record["attempts"]),
    )


# ---------------------------------------------------------------- the driver


class RayEngine:
    """Ray, joined or started for one run; `run` is the run's annotate pass."""

    def __init__(self, settings: Settings, *, address: str | None, workers: int | None) -> None:
        self.settings = settings
        self.address = address
        self.workers = workers
        self._started = False
        self._levels: dict[logging.Logger, int] = {}
        self.limits: Any = None

    def __enter__(self) -> RayEngine:
        if importlib.util.find_spec("ray") is None:  # say so now, not at the first record
            _ray()
        return self

    def _connect(self) -> None:
        """Start or join Ray, at the first window with work: a run that finds everything
        stored starts nothing."""
        if self.limits is not None:
            return
        ray = _ray()
        # Ray's own notices (token auth, progress-bar settings, finished datasets) would
        # interleave with the run's progress; failures still reach the run as errors
        loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)
                   if n == "ray" or n.startswith("ray.")]  # fmt: skip
        self._levels = {lg: lg.level for lg in [logging.getLogger("ray"), *loggers]}
        for lg in self._levels:
            lg.setLevel(logging.ERROR)
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = f"the Ray cluster at {self.address}" if self.address else "local Ray"
                raise ConfigError(f"could not start or join {where}: {exc}") from None
            self._started = True
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, self.workers or cpus)
        remote = ray.remote(num_cpus=0)(Limits)
        self.limits = remote.remote(self.settings.rpm, self.settings.tpm)

    def __exit__(self, *exc: object) -> None:
        if self.limits is None:
            return
        ray = _ray()
        with contextlib.suppress(Exception):
            ray.kill(self.limits)
        if self._started:
            ray.shutdown()
        for lg, level in self._levels.items():
            lg.setLevel(level)

    def pauses(self) -> int:
        if self.limits is None:
            return 0
        ray = _ray()
        try:
            return int(ray.get(self.limits.pauses.remote(), timeout=5))
        except Exception:  # noqa: BLE001 - a count for the report, never worth failing over
            return 0

    async def run(self, one_pass: Any, items: Iterator[Item]) -> None:
        """Annotate what `one_pass` says is to do, window by window; the pass stores rows."""
        ticker = asyncio.create_task(one_pass.tick())
        try:
            window: list[Item] = []
            for chunk in chunks(items, 256):
                window.extend(one_pass.todo(chunk))
                if len(window) >= WINDOW:
                    await self._window(window, one_pass)
                    window = []
            if window:
                await self._window(window, one_pass)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            one_pass.writer.flush()  # whatever was answered is kept, even on Ctrl-C
            one_pass.report()

    async def _window(self, window: list[Item], one_pass: Any) -> None:
        self._connect()
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def settle(rows: list[Row]) -> None:
            for row in rows:
                one_pass.writer.add(row)
                one_pass.stats.count(row)

        def stream() -> None:
            for rows in self._stream(window):
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(settle, rows)

        try:
            await asyncio.to_thread(stream)
        except BaseException:
            stop.set()  # the thread ends at its next batch, and Ray tears the dataset down
            raise

    def _stream(self, window: list[Item]) -> Iterator[list[Row]]:
        """Rows of a window's records, as Ray Data finishes them."""
        from ray.data import ActorPoolStrategy

        ray = _ray()
        actors = min(self.workers, len(window))
        per_actor = max(1, math.ceil(self.settings.concurrency / actors))
        records = [
            {"key": i.key, "id": i.article_id, "article": i.article.model_dump_json()}
            for i in window
            if i.article is not None
        ]
        dataset = ray.data.from_items(
            records, override_num_blocks=max(1, math.ceil(len(records) / per_actor))
        ).map_batches(
            Annotator,
            fn_constructor_kwargs={
                "settings": self.settings,
                "concurrency": per_actor,
                "limits": self.limits,
            },
            batch_size=per_actor,
            compute=ActorPoolStrategy(
                size=actors,
                max_tasks_in_flight_per_actor=IN_FLIGHT_BATCHES,
                # batches overlap in an actor, so one batch's slowest answer holds no slot
                max_concurrent_calls_per_actor=IN_FLIGHT_BATCHES,
            ),
            num_cpus=min(1.0, _cpus_per_actor(actors)),
        )
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
                yield [_row(r) for r in batch.to_dict("records")]
        except HealthcoopError:
            raise
        except Exception as exc:  # a Ray failure (worker lost, actor died), not one record's
            raise WorkerDied(
                f"the Ray run failed ({type(exc).__name__}: {str(exc)[:300]}); the answers "
                "stored so far are kept: run the same command again"
            ) from None


def _cpus_per_actor(actors: int) -> float:
    ray = _ray()
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return cpus / actors if actors else 1.0
