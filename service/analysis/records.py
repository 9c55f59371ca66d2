"""Reading finished results: bulk-runner lines, bare ArticleExtraction lines or objects, and
the archive articles they came from, one at a time.

Records stay plain JSON dicts (contract v1 as `model_dump(mode="json")` writes it): exporting
100,000 of them has no time to validate each through pydantic, and they were validated when
they were made.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from healthcoop.schemas import Article, ArticleExtraction

from ..files import read_lines as raw_lines
from ._internals import read_archive

#: Article metadata the `articles` table carries when an archive is given
ARTICLE_META = ("published", "title", "url", "source")


@dataclass(frozen=True, slots=True)
class Line:
    """One result: a record (contract JSON) or the error that stopped it."""

    article_id: str
    record: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    line: int | None = None  # 1-based line number in the results file, when read from one
    published: str | None = None  # the article's publication date (ISO), when the line has it

    @property
    def ok(self) -> bool:
        return self.record is not None


def _iso_date(value: Any) -> str | None:
    """An ISO date from what a bulk line carries as `published` (None when it is no date)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def _unreadable(n: int | None, message: str) -> Line:
    where = f"line {n}" if n is not None else "record"
    return Line(where, error={"type": "unreadable_line", "message": f"{where}: {message}"}, line=n)


def parse(obj: Any, n: int | None = None) -> Line:
    """A `Line` from a bulk-runner line, a bare ArticleExtraction (dict or model) or a `Line`.
    Never raises: what cannot be read becomes an error line of type `unreadable_line`."""
    if isinstance(obj, Line):
        return obj
    if isinstance(obj, ArticleExtraction):
        return Line(obj.article_id, record=obj.model_dump(mode="json"), line=n)
    if not isinstance(obj, Mapping):
        return _unreadable(n, f"expected a JSON object, got {type(obj).__name__}")
    status = obj.get("status")
    if status is None and "relevant" in obj and isinstance(obj.get("article_id"), str):
        return Line(obj["article_id"], record=dict(obj), line=n)
    article_id = obj.get("article_id")
    if not isinstance(article_id, str) or not article_id:
        return _unreadable(n, "no article_id: not a bulk-runner line or an ArticleExtraction")
    if status == "ok" and isinstance(obj.get("extraction"), Mapping):
        published = _iso_date(obj.get("published"))
        return Line(article_id, record=dict(obj["extraction"]), line=n, published=published)
    if status == "error":
        error = obj.get("error")
        return Line(article_id, error=dict(error) if isinstance(error, Mapping) else {}, line=n)
    return _unreadable(n, f"{article_id}: status must be 'ok' with an extraction, or 'error'")


def read_lines(path: str | os.PathLike[str]) -> Iterator[Line]:
    """The results of a file (`.jsonl`, `.jsonl.gz`), one at a time; blank lines skipped."""
    for n, raw in enumerate(raw_lines(path, what="results file"), 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)  # 2-3x the stdlib's speed on records
        except orjson.JSONDecodeError as exc:
            yield _unreadable(n, f"not valid JSON ({exc})")
            continue
        yield parse(obj, n)


def lines(records: Iterable[Any]) -> Iterator[Line]:
    """`Line`s from records given in Python (models, dicts, bulk lines or `Line`s)."""
    for n, obj in enumerate(records, 1):
        yield parse(obj, n)


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """What the review page and the `articles` table take from an archive article."""

    text: str | None
    published: str | None = None
    title: str | None = None
    url: str | None = None
    source: str | None = None


def read_articles(
    source: str | os.PathLike[str], *, with_text: bool = True
) -> dict[str, ArticleInfo]:
    """Articles of an archive (any format `healthcoop annotate` reads) by id. Without text,
    only the metadata is kept, so a large archive costs little memory."""
    out: dict[str, ArticleInfo] = {}
    for item in read_archive(source):
        if item.article is None:
            continue
        out[item.article_id] = article_info(item.article, with_text=with_text)
    return out


def article_info(article: Article, *, with_text: bool = True) -> ArticleInfo:
    published = article.published.isoformat() if article.published else None
    return ArticleInfo(
        article.text if with_text else None, published, article.title, article.url, article.source
    )
