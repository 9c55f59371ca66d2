"""Model server processes that never outlive the healthcoop process that started them.

Three guards, one for each way a healthcoop process ends:
- a normal exit, an exception, SIGINT or SIGTERM: the owner calls `stop`, which asks the
  server's process group to end (SIGTERM) and kills it after `STOP_GRACE` seconds;
- SIGKILL (and any other death that runs no Python code): on Linux the kernel kills the server
  (PR_SET_PDEATHSIG, set in the child between fork and exec, with a check that the parent did
  not die before it was set);
- the server runs in a session of its own, so a Ctrl-C at the terminal reaches healthcoop only,
  and healthcoop alone decides how its server stops.

Linux sends the parent-death signal when the *thread* that forked the child ends, not the
process. A server started from a short-lived thread (a thread pool, `asyncio.to_thread`) would
die with that thread; `spawn` therefore forks from the main thread or from one keeper thread
that lives as long as the process.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

STOP_GRACE = 3.0  # seconds between the polite SIGTERM and SIGKILL

_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        # resolved here, in the parent: the child must not load libraries between fork and exec
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _die_with(parent: int) -> Callable[[], None] | None:
    """The child's pre-exec step: SIGKILL when the forking thread's process dies; and if it
    already died (before the request was made), end now."""
    prctl = _PRCTL
    if prctl is None:
        return None

    def pre_exec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:
            os._exit(1)

    return pre_exec


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent ends (called by a worker
    process at its start; elsewhere a no-op). If the parent already ended, end now."""
    if _PRCTL is None or multiprocessing.parent_process() is None:
        return
    _PRCTL(_PR_SET_PDEATHSIG, int(sig))
    if not multiprocessing.parent_process().is_alive():  # type: ignore[union-attr]
        os.kill(os.getpid(), sig)


class _Keeper:
    """One daemon thread that forks children on behalf of short-lived threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, fn: Callable[[], Any]) -> Any:
        if threading.current_thread() is threading.main_thread():
            return fn()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, daemon=True, name="healthcoop-spawner"
                )
                self._thread.start()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                done.set_exception(exc)


_keeper = _Keeper()


def spawn(cmd: Sequence[str], *, stdout: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` as a server that dies with this process (see the module's docstring)."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(cmd),
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid()),  # noqa: PLW1509 - no imports, no locks in it
        )

    return _keeper.run(start)  # type: ignore[no-any-return]


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    # the server leads its own group (start_new_session); while it is not reaped, its pid is
    # that group's id and cannot have been reused
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def stop(proc: subprocess.Popen[bytes], *, grace: float = STOP_GRACE) -> int:
    """End the server: SIGTERM to its group, then SIGKILL after `grace` seconds. Returns its
    exit code. A second interrupt while waiting kills it at once."""
    if proc.poll() is not None:
        return proc.returncode
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    except BaseException:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
        raise
    if proc.poll() is None:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
    return proc.returncode


__all__ = ["STOP_GRACE", "die_with_parent", "spawn", "stop"]
