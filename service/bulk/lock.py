"""One run at a time per output file: an OS lock on `<out>.lock`, held while a run works;
and the checks of an output path that can be made before anything is asked.

Two runs writing the same output would pay for every record twice and could mix their lines;
the second refuses at once instead, naming the run that holds the lock. The lock is `flock`,
which the kernel drops when its holder exits, however it exits (even `kill -9`), so a stale
lock file never blocks a later run: it is only a note of who held it last.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError, OutputLocked, StorageError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs on the same output are not guarded there
    fcntl = None  # type: ignore[assignment]


def check_output(source: str | os.PathLike[str], out: Path) -> None:
    """Refuse, before anything is asked, an output that is a directory or the archive itself
    (which the finished run would replace with its results)."""
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; name a file, e.g. {out / 'results.jsonl'}")
    if out.exists() and not out.is_file():
        # the output is written beside it and renamed over it: a device or pipe would be replaced
        raise ConfigError(f"--out {out} is not a regular file (a device or pipe?); name a file")
    try:
        same = out.exists() and os.path.samefile(source, out)
    except OSError:
        same = False
    if same:
        raise ConfigError(
            f"--out {out} is the archive being read: the results would replace it; name "
            "another file"
        )


def lock_path(out: Path) -> Path:
    return out.with_name(f"{out.name}.lock")


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold the lock of `out` for the block; `OutputLocked` at once if another run holds it."""
    if fcntl is None:
        yield
        return
    path = lock_path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, out)
    except OSError as exc:
        raise StorageError(
            f"cannot create the lock file {path}: {exc.strerror or exc}; is the directory of "
            "--out writable?"
        ) from None
    try:
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        note = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        with contextlib.suppress(OSError):  # the note helps a refused run; the lock is the flock
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(note).encode(), 0)
        # only the holder writes partial files: any there now are from runs that were killed
        for stale in out.parent.glob(f"{glob.escape(out.name)}.partial-*"):
            with contextlib.suppress(OSError):
                stale.unlink()
        yield
    finally:
        # removed while still held, so the next run locks a new file, never this one
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire(path: Path, out: Path) -> int:
    while True:
        # no O_TRUNC: the holder's note must stay readable by the run it refuses
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputLocked(
                f"another run is writing {out} ({holder}); wait for it to finish or stop it, "
                "or write to another --out"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # the holder before us may have removed the file as we opened it: then the lock we
        # got is on a file nobody else will find; take the one at the path instead
        try:
            held, current = os.fstat(fd), os.stat(path)
            if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        note = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {note['pid']} on {note['host']}, started {note['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that is just starting"
