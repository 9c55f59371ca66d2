"""Files every part reads or writes: plain or gzipped, a line at a time, in chunks.

One opener for `.gz` and plain files, used by the archive reader, the bulk output, `diff` and
the analysis commands, so a compressed file is handled the same way everywhere.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, TypeVar

from .errors import InputError

T = TypeVar("T")


def is_gzip(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(".gz")


def open_read(path: str | os.PathLike[str]) -> IO[bytes]:
    """`path` opened for reading bytes, decompressed when it ends in `.gz`."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 - closed by the caller's with


def open_write(path: str | os.PathLike[str], *, gz: bool | None = None) -> IO[str]:
    """`path` opened for writing UTF-8 text, compressed when it ends in `.gz` (or `gz`)."""
    if is_gzip(path) if gz is None else gz:
        return gzip.open(path, "wt", encoding="utf-8", compresslevel=6)
    return open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the caller's with


def read_lines(path: str | os.PathLike[str], *, what: str = "file") -> Iterator[bytes]:
    """The raw lines of a plain or gzipped file; a missing, unreadable or damaged file is an
    InputError naming it."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such {what}: {path}", field="path")
    try:
        with open_read(p) as f:
            yield from f
    except (OSError, EOFError) as exc:  # unreadable, not gzip after all, or truncated
        raise InputError(f"{path} cannot be read: {exc}", field="path") from None


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last one shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
