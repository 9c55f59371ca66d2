"""Events beside the records, for the export's `events` tables and the review page's stories:
read from a file `healthcoop consolidate` wrote (streamed), or consolidated from the results
in the same pass that reads them (`Consolidating`: it holds every mention until the end, so
it is opt-in).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from ..errors import InputError
from ..files import read_lines
from .consolidate import Consolidator
from .records import ArticleInfo, Line

_ITEM = re.compile(r"(\w+)\[(\d+)\]")
#: a mention's record list ("agreements[1]") → its item type, as the other tables name it
ITEM_TYPES = {"meetings": "meeting", "agreements": "agreement"}


def item_of(item: Any) -> tuple[str | None, int | None]:
    """("agreement", 1) from a mention's `item` ("agreements[1]"); (None, None) when it is
    not of that form."""
    m = _ITEM.fullmatch(item) if isinstance(item, str) else None
    if m is None:
        return None, None
    return ITEM_TYPES.get(m.group(1), m.group(1)), int(m.group(2))


def read_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The events of a file `healthcoop consolidate` wrote (`.jsonl`, `.jsonl.gz`), one at a
    time; a line that is no event is an InputError naming it."""
    for n, raw in enumerate(read_lines(path, what="events file"), 1):
        if not raw.strip():
            continue
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: not valid JSON ({exc})", field="events") from None
        if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
            raise InputError(
                f"{path}:{n}: not an event of `healthcoop consolidate` (no event_id)",
                field="events",
            )
        yield event


class Consolidating:
    """Consolidates results as they pass: `add` each `Line`, then `events()` once.

    An article's publication date (which dates its undated mentions) comes from its line's
    `published` (bulk lines carry it), else from `articles` (the archive)."""

    def __init__(self, articles: Mapping[str, ArticleInfo] | None = None) -> None:
        self.articles = articles
        self.consolidator = Consolidator()

    def add(self, line: Line) -> None:
        if line.record is None:
            return
        published = line.published
        if published is None and self.articles:
            info = self.articles.get(line.article_id)
            published = info.published if info else None
        where = f"line {line.line}" if line.line is not None else line.article_id
        self.consolidator.add(
            {"article_id": line.article_id, "status": "ok", "extraction": line.record,
             "published": published},
            where,
        )  # fmt: skip

    def events(self) -> Iterator[dict[str, Any]]:
        return self.consolidator.events()
