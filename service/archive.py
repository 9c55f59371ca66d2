"""Reading archives one record at a time: JSON Lines (optionally gzipped), CSV with a text
column, or a directory of .txt/.html/.json files.

A record that cannot become an `Article` (bad JSON, no text, not UTF-8, a lone surrogate, an
id that is not a string or a number) is yielded as an `Item` carrying the error, which says
where (line, row or file; field; character), so the bulk runner writes an error line and goes
on. So is a subdirectory that cannot be listed, and a file that is not a regular file (a FIFO
would block the run forever). Every `Item`'s id is valid UTF-8. Nothing here holds more than
one record (or one directory listing) in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from healthcoop.schemas import Article

from .core.text import decode
from .errors import InputError, printable, problems, surrogate_at
from .files import open_read

#: Article fields an archive record may carry; anything else in a record is ignored.
ARTICLE_FIELDS = ("title", "url", "source", "published", "language")
FILE_SUFFIXES = (".txt", ".html", ".htm", ".json")


@dataclass(frozen=True, slots=True)
class Item:
    """One input record: an article, or the reason it is not one."""

    article_id: str
    article: Article | None = None
    error: InputError | None = None
    key: str = ""  # article_key(article), the store's key for it


def article_key(article: Article) -> str:
    """sha256 of everything the model sees: the text, plus any metadata the article carries.

    For a bare text it is `Article.sha256()`; title, date, source, url or language change it,
    since they can change the answer (a date resolves "on Sunday"). The id does not.
    """
    # surrogatepass: an Article refuses lone surrogates, but a key must never be what fails
    h = hashlib.sha256(article.text.encode("utf-8", "surrogatepass"))
    meta = [getattr(article, f) for f in ARTICLE_FIELDS]
    if any(v is not None for v in meta):
        h.update(b"\0" + json.dumps(meta, default=str).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def to_item(
    record: Any, fallback_id: str, *, text_field: str = "text", id_field: str = "id"
) -> Item:
    """An Item from one decoded record (a dict), never raising. `fallback_id` says where the
    record is ("line 7"): the id of its error when its own id is missing or unusable."""
    if not isinstance(record, dict):
        return _bad(fallback_id, f"{fallback_id}: expected a JSON object, got {_kind(record)}")
    article_id, problem = _record_id(record.get(id_field))
    if problem is not None:
        return _bad(fallback_id, f"{fallback_id}: {id_field}: {problem}", field=id_field)
    fields: dict[str, Any] = {"id": article_id, "text": record.get(text_field)}
    for name in ARTICLE_FIELDS:
        value = record.get(name)
        if value not in (None, ""):
            fields[name] = value
    try:
        article = Article.model_validate(fields)
    except ValidationError as exc:
        first = problems(exc, rename={"text": text_field, "id": id_field})[0]
        where = (
            fallback_id if article_id in (None, fallback_id) else f"{fallback_id} ({article_id})"
        )
        message = f"{where}: {first['field']}: {first['message']}"
        return _bad(article_id or fallback_id, message, field=first["field"])
    assert article.id is not None  # Article derives one from the text when absent
    return Item(article.id, article, key=article_key(article))


def _record_id(value: Any) -> tuple[str | None, str | None]:
    """A record's id as text, or what is wrong with it. Only strings and whole numbers are
    ids: anything else would be written out as its Python repr."""
    if value is None or value == "":
        return None, None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, f"an id must be a string or a whole number, not {_kind(value)}"
    text = value if isinstance(value, str) else str(value)
    if (at := surrogate_at(text)) is not None:
        return None, (
            f"holds a lone surrogate ({printable(text[at])}) at character {at}, which is not "
            "Unicode; fix the encoding of the source"
        )
    return text, None


def _bad(article_id: str, message: str, *, field: str | None = None) -> Item:
    return Item(printable(article_id), error=InputError(message, field=field))


def _kind(value: Any) -> str:
    kinds = {list: "an array", dict: "an object", str: "a string", float: "a fraction",
             bool: "true/false", type(None): "null"}  # fmt: skip
    return kinds.get(type(value), "a value")


# ---------------------------------------------------------------- formats


def _format(path: Path) -> str:
    if path.is_dir():
        return "dir"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv"):
        return last[1:]
    if last in (".jsonl", ".ndjson", ".json", ""):
        return "jsonl"
    raise InputError(
        f"{path}: unknown archive format {last!r}; use .jsonl, .jsonl.gz, .csv or a directory "
        "of .txt/.html files",
        field="path",
    )


def read(
    source: str | os.PathLike[str], *, text_field: str = "text", id_field: str = "id"
) -> Iterator[Item]:
    """The records of an archive, in order, one at a time. A run reads its archive twice (to
    annotate, then to write), so it must be a file or a directory, not a pipe."""
    path = _existing(source)
    kind = _format(path)
    if kind == "dir":
        yield from _read_dir(path)
        return
    try:
        _refuse_json_array(path)
        with open_read(path) as stream:
            if kind == "jsonl":
                yield from _read_jsonl(stream, text_field=text_field, id_field=id_field)
            else:
                yield from _read_csv(stream, kind, text_field=text_field, id_field=id_field)
    except (OSError, EOFError) as exc:  # unreadable, or a damaged or truncated .gz
        raise InputError(f"{path} cannot be read: {exc}", field="path") from None


def _existing(source: str | os.PathLike[str]) -> Path:
    path = Path(source)
    if not path.exists():
        hint = "; save standard input to a file first" if str(source) == "-" else ""
        raise InputError(f"no such archive: {source}{hint}", field="path")
    if not path.is_dir() and not path.is_file():
        # a run reads its archive twice, and a pipe cannot be read again
        raise InputError(
            f"{source} is not a regular file or a directory (a pipe or device?); save it to a "
            "file first",
            field="path",
        )
    return path


def _refuse_json_array(path: Path) -> None:
    """A `.json` archive is read as JSON Lines; one holding an array would give an error line
    for each of its lines, so it is refused with the command that converts it."""
    suffixes = [x.lower() for x in path.suffixes if x.lower() != ".gz"]
    if not suffixes or suffixes[-1] != ".json":
        return
    with open_read(path) as stream:
        start = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"["):
        raise InputError(
            f"{path} holds a JSON array; an archive is JSON Lines, one article a line: convert "
            f"it with  jq -c '.[]' {path} > {path.with_suffix('.jsonl')}",
            field="path",
        )


def _read_jsonl(stream: IO[bytes], *, text_field: str, id_field: str) -> Iterator[Item]:
    for lineno, raw in enumerate(stream, 1):
        if not raw.strip():
            continue  # a blank line is not a record
        where = f"line {lineno}"
        try:
            record = json.loads(decode(raw, what=where))
        except InputError as exc:
            yield Item(where, error=exc)
            continue
        except json.JSONDecodeError as exc:
            yield _bad(where, f"{where}: not valid JSON ({exc.msg}, column {exc.colno})")
            continue
        except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits; nesting
            yield _bad(where, f"{where}: not usable JSON ({_json_trouble(exc)})")
            continue
        yield to_item(record, where, text_field=text_field, id_field=id_field)


def _json_trouble(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


def _read_csv(stream: IO[bytes], kind: str, *, text_field: str, id_field: str) -> Iterator[Item]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # article texts exceed the 128 KiB default
    # bytes that are not UTF-8 are kept as surrogate escapes, so the rows around them are read
    # and only the row that holds them fails
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.DictReader(text, delimiter="\t" if kind == "tsv" else ",")
    # "id, text" names a column " text": hand-written headers carry such spaces
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    if text_field not in columns:
        raise InputError(
            f"the CSV has no {text_field!r} column (columns: {', '.join(columns)}); "
            "name the text column with --text-field",
            field="text",
        )
    read = (id_field, text_field, *ARTICLE_FIELDS)
    rows = iter(reader)
    row_no = 0
    while True:
        row_no += 1
        where = f"row {row_no}"
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _bad(where, f"{where}: {exc}")
            continue
        if bad := _undecodable(row, read):
            column, at, byte = bad
            yield _bad(
                where,
                f"{where}: column {column!r} is not valid UTF-8 (byte 0x{byte:02x} at character "
                f"{at}); re-encode the CSV as UTF-8, e.g. `iconv -f latin1 -t utf-8`",
                field=column,
            )
            continue
        yield to_item(row, where, text_field=text_field, id_field=id_field)


def _undecodable(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[str, int, int] | None:
    """The first column read whose value holds an undecodable byte: (column, index, byte)."""
    for column in columns:
        value = row.get(column)
        if isinstance(value, str) and (at := surrogate_at(value)) is not None:
            return column, at, ord(value[at]) - 0xDC00
    return None


@dataclass(frozen=True, slots=True)
class _Unlisted:
    """A subdirectory that cannot be listed: one error record, and the walk goes on."""

    path: Path
    reason: str


def _read_dir(root: Path) -> Iterator[Item]:
    for path in _walk(root):
        if isinstance(path, _Unlisted):
            name = printable(path.path.relative_to(root).as_posix())
            message = (
                f"{name}: the directory cannot be read ({path.reason}); its files were skipped"
            )
            yield _bad(name, message, field="path")
            continue
        name = printable(path.relative_to(root).with_suffix("").as_posix())
        try:
            data = _read_regular(path)
            if data is None:
                message = (
                    f"{name}: not a regular file (a named pipe, socket or device), so it was not "
                    "read: reading one can wait forever"
                )
                yield _bad(name, message, field="path")
                continue
            text = decode(data, what=name)
        except InputError as exc:
            yield Item(name, error=exc)
            continue
        except OSError as exc:
            yield _bad(name, f"{name}: cannot be read ({exc.strerror or exc})", field="path")
            continue
        if path.suffix == ".json":
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield _bad(name, f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})")
                continue
            except (ValueError, RecursionError) as exc:
                yield _bad(name, f"{name}: not usable JSON ({_json_trouble(exc)})")
                continue
            if isinstance(record, dict) and not record.get("id"):
                record = {**record, "id": name}
            yield to_item(record, name)
        else:
            yield to_item({"id": name, "text": text}, name)


def _read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file; None for anything else with an article's name (a FIFO, a
    socket, a device), which is not read: reading a FIFO with no writer waits forever."""
    # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read()


def _walk(root: Path) -> Iterator[Path | _Unlisted]:
    """Article files under root, depth first, each directory's entries sorted by name; a
    subdirectory that cannot be listed is yielded as `_Unlisted`, the archive's own root
    raises. A directory reached twice (a symlink loop) is walked once. A stack, not recursion:
    a tree may be deeper than Python's recursion limit."""
    seen: set[tuple[int, int]] = set()
    top = _listing(root, seen)
    if isinstance(top, _Unlisted):
        raise InputError(f"{root} cannot be read: {top.reason}", field="path")
    stack = [iter(top or [])]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:  # gone, or a link we may not follow: read as a file, which says why
            is_dir = False
        if is_dir:
            listing = _listing(Path(entry.path), seen)
            if isinstance(listing, _Unlisted):
                yield listing
            elif listing is not None:
                stack.append(iter(listing))
        elif entry.name.lower().endswith(FILE_SUFFIXES):
            yield Path(entry.path)


def _listing(path: Path, seen: set[tuple[int, int]]) -> list[os.DirEntry[str]] | _Unlisted | None:
    """The entries of a directory sorted by name; None if it was listed already."""
    try:
        info = path.stat()
        if (info.st_dev, info.st_ino) in seen:
            return None
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        return _Unlisted(path, exc.strerror or str(exc))


def count(source: str | os.PathLike[str]) -> int:
    """How many records the archive holds (a cheap pass, for the progress bar)."""
    try:
        return _count(_existing(source))
    except (OSError, EOFError) as exc:
        raise InputError(f"{source} cannot be read: {exc}", field="path") from None


def _count(path: Path) -> int:
    kind = _format(path)
    if kind == "dir":
        return sum(1 for _ in _walk(path))
    _refuse_json_array(path)
    if kind == "jsonl":
        with open_read(path) as f:
            return sum(1 for raw in f if raw.strip())
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open_read(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        rows = csv.reader(text, delimiter="\t" if kind == "tsv" else ",")
        try:
            return max(0, sum(1 for row in rows if row) - 1)  # less the header
        except csv.Error:
            return sum(1 for _ in read(path))  # as many as the reader will report
