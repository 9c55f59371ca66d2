"""Where a process's CPU goes, by library: a sampling profiler that weighs stacks by CPU time.

Every half millisecond a thread reads each other thread's CPU clock and its current stack, and
charges the CPU used since the last look half to the stack it saw then and half to the one it
sees now (a short burst of work between two looks is not all charged to the idle wait that
follows it), each to the innermost frame that belongs to one of `GROUPS` (pydantic, json and
the like count for whoever called them; the event loop's and thread pools' own work, below
a task step or a pool thread, is "other"). Threads blocked on I/O use no CPU and
cost nothing; the sampler leaves itself out. While sampling, the interpreter switches threads
every 0.5 ms instead of 5 ms, so the sampler gets its turn. Shares are approximate, totals
are exact: scale the shares by `time.process_time()` of an unprofiled run.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent

# (label, path fragments): the first group owning a frame, innermost frame first, is charged
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("instructor", ("/instructor/",)),
    ("openai", ("/openai/",)),
    # httpx2's own transport, or aiohttp under it (llm/aio.py: the service and bulk runs)
    (
        "HTTP client",
        ("/httpx2/", "/httpcore2/", "/h11/", "/aiohttp/", "/yarl/", "/multidict/", "/llm/aio.py"),
    ),  # fmt: skip
    ("healthcoop", ("/service/", "/schemas/", "/prompts/", "/healthcoop/")),
]
OTHER = "event loop, threads, other"
LABELS = [label for label, _ in GROUPS] + [OTHER]
# Where the search for an owner stops: what runs above these frames is the event loop's or a
# thread pool's own work, whoever started the loop or the thread.
BOUNDARIES = {
    ("asyncio/events.py", "_run"),  # one callback or task step of the event loop
    ("asyncio/base_events.py", "_run_once"),  # the loop itself: select, schedule
    ("concurrent/futures/thread.py", "_worker"),  # a pool thread waiting for work
}


def _owner(filename: str) -> str | None:
    for label, parts in GROUPS:
        if any(p in filename for p in parts) and "/site-packages/healthcoop" not in filename:
            return label
    return None


def _boundary(filename: str, name: str) -> bool:
    return any(filename.endswith(f) and name == n for f, n in BOUNDARIES)


class CpuSplit:
    """Sample every thread of this process while in the `with` block; `shares()` after."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.charged: Counter[str] = Counter()
        self._owners: dict[object, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cpusplit")

    def __enter__(self) -> CpuSplit:
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(self.interval)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch)

    def _label(self, frame: FrameType | None) -> str:
        while frame is not None:
            code = frame.f_code
            label = self._owners.get(code)
            if label is None:
                label = self._owners[code] = _owner(code.co_filename) or (
                    OTHER if _boundary(code.co_filename, code.co_name) else ""
                )
            if label:
                return label
            frame = frame.f_back
        return OTHER

    def _run(self) -> None:
        me = threading.get_ident()
        last: dict[int, tuple[float, str]] = {}
        while not self._stop.is_set():
            time.sleep(self.interval)
            frames = sys._current_frames()
            for ident, frame in frames.items():
                if ident == me:
                    continue
                try:
                    now = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except (OSError, ProcessLookupError):
                    continue
                label = self._label(frame)
                before, was = last.get(ident, (now, label))
                last[ident] = (now, label)
                if now > before:
                    self.charged[was] += (now - before) / 2
                    self.charged[label] += (now - before) / 2
            del frames

    def shares(self) -> dict[str, float]:
        total = sum(self.charged.values()) or 1.0
        return {label: self.charged[label] / total for label in LABELS}
