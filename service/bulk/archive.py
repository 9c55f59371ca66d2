"""Reading archives one record at a time: JSON Lines (optionally gzipped), CSV with a text
column, or a directory of .txt/.html/.json files.

A record that cannot become an `Article` (bad JSON, no text, not UTF-8) is yielded as an
`Item` carrying the error, so the bulk runner writes an error line and goes on. Nothing here
holds more than one record (or one directory listing) in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from healthcoop.schemas import Article

from ..core.text import decode
from ..errors import InputError, problems
from ..files import open_read

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
    h = hashlib.sha256(article.text.encode("utf-8"))
    meta = [getattr(article, f) for f in ARTICLE_FIELDS]
    if any(v is not None for v in meta):
        h.update(b"\0" + json.dumps(meta, default=str).encode("utf-8"))
    return h.hexdigest()


def to_item(
    record: Any, fallback_id: str, *, text_field: str = "text", id_field: str = "id"
) -> Item:
    """An Item from one decoded record (a dict), never raising."""
    if not isinstance(record, dict):
        return _bad(fallback_id, f"{fallback_id}: expected a JSON object, got {_kind(record)}")
    raw_id = record.get(id_field)
    article_id = str(raw_id) if raw_id not in (None, "") else None
    fields: dict[str, Any] = {"id": article_id, "text": record.get(text_field)}
    for name in ARTICLE_FIELDS:
        value = record.get(name)
        if value not in (None, ""):
            fields[name] = value
    try:
        article = Article.model_validate(fields)
    except ValidationError as exc:
        first = problems(exc, rename={"text": text_field, "id": id_field})[0]
        where = article_id or fallback_id
        return _bad(where, f"{where}: {first['field']}: {first['message']}", field=first["field"])
    assert article.id is not None  # Article derives one from the text when absent
    return Item(article.id, article, key=article_key(article))


def _bad(article_id: str, message: str, *, field: str | None = None) -> Item:
    return Item(article_id, error=InputError(message, field=field))


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", type(None): "null"}.get(type(value), "a value")


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
    return path


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
        yield to_item(record, where, text_field=text_field, id_field=id_field)


def _read_csv(stream: IO[bytes], kind: str, *, text_field: str, id_field: str) -> Iterator[Item]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # article texts exceed the 128 KiB default
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.DictReader(text, delimiter="\t" if kind == "tsv" else ",")
    try:
        columns = reader.fieldnames or []
    except UnicodeDecodeError:
        raise InputError("the CSV header is not valid UTF-8", field="path") from None
    if text_field not in columns:
        raise InputError(
            f"the CSV has no {text_field!r} column (columns: {', '.join(columns)}); "
            "name the text column with --text-field",
            field="text",
        )
    rows = iter(reader)
    row_no = 0
    while True:
        row_no += 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise InputError(f"row {row_no}: the CSV is not valid UTF-8", field="text") from None
        except csv.Error as exc:
            yield _bad(f"row {row_no}", f"row {row_no}: {exc}")
            continue
        yield to_item(row, f"row {row_no}", text_field=text_field, id_field=id_field)


def _read_dir(root: Path) -> Iterator[Item]:
    for path in _walk(root):
        name = path.relative_to(root).with_suffix("").as_posix()
        try:
            text = decode(path.read_bytes(), what=str(path))
        except InputError as exc:
            yield Item(name, error=exc)
            continue
        except OSError as exc:
            yield _bad(name, f"{path}: cannot be read ({exc.strerror})")
            continue
        if path.suffix == ".json":
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield _bad(name, f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})")
                continue
            if isinstance(record, dict) and not record.get("id"):
                record = {**record, "id": name}
            yield to_item(record, name)
        else:
            yield to_item({"id": name, "text": text}, name)


def _walk(root: Path) -> Iterator[Path]:
    """Article files under root, depth first, each directory's entries sorted by name."""
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(Path(entry.path))
        elif entry.name.lower().endswith(FILE_SUFFIXES):
            yield Path(entry.path)


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
    if kind == "jsonl":
        with open_read(path) as f:
            return sum(1 for raw in f if raw.strip())
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open_read(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        rows = csv.reader(text, delimiter="\t" if kind == "tsv" else ",")
        try:
            return max(0, sum(1 for row in rows if row) - 1)  # less the header
        except csv.Error:
            return sum(1 for _ in read(path))  # as many as the reader will report
