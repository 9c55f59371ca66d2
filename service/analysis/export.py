"""Tidy tables of finished records, for pandas, polars, duckdb, R and Gephi.

One row per item, keyed by `article_id`: articles, parties, officials, meetings, agreements,
mechanisms, areas, evidence, dyads (one row per pair of parties cooperating in an item: the
shape event-data analysts load) and errors. On request, events consolidated across articles
and their mentions, split as GDELT splits events from mentions: `events` (one row per event)
and `event_mentions` (one row per mention), from an events file or consolidated in the same
pass. `tables(records)` returns them as pyarrow Tables; `export(...)` streams a results file
to Parquet (one row group per batch), CSV (same columns; lists joined with ";") or GraphML
(the cooperation network, `network.py`), in flat memory (but for `consolidate=True`, which
holds every mention until the end).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from .events import Consolidating, item_of, read_events
from .records import ArticleInfo, Line, lines, read_lines

#: results per batch: one Parquet row group per table per batch; memory holds one batch
BATCH = 5_000
FORMATS = ("parquet", "csv", "graphml")
#: item types, as the `evidence` and `dyads` tables name them, and their record fields
ITEMS = {
    "party": "parties",
    "official": "officials",
    "meeting": "meetings",
    "agreement": "agreements",
    "mechanism": "mechanisms",
}

_S, _I, _B, _D = pa.string(), pa.int32(), pa.bool_(), pa.date32()
_L = pa.list_(pa.string())
_LD = pa.list_(pa.date32())


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


#: the tables and their columns (the README's analysts' section documents them)
SCHEMAS: dict[str, pa.Schema] = {
    "articles": _schema(
        ("article_id", _S), ("relevant", _B), ("summary", _S), ("published", _D),
        ("title", _S), ("url", _S), ("source", _S), ("model", _S), ("prompt_version", _S),
        ("schema_version", _S),
    ),
    "parties": _schema(
        ("article_id", _S), ("item_index", _I), ("code", _S), ("kind", _S), ("name", _S),
        ("grounded", _B),
    ),
    "officials": _schema(
        ("article_id", _S), ("item_index", _I), ("name", _S), ("title", _S), ("party", _S),
        ("grounded", _B),
    ),
    "meetings": _schema(
        ("article_id", _S), ("item_index", _I), ("parties", _L), ("officials", _L),
        ("date_start", _D), ("date_end", _D), ("city", _S), ("country", _S), ("forum", _S),
        ("grounded", _B),
    ),
    "agreements": _schema(
        ("article_id", _S), ("item_index", _I), ("instrument", _S), ("status", _S),
        ("parties", _L), ("date", _D), ("title", _S), ("grounded", _B),
    ),
    "mechanisms": _schema(
        ("article_id", _S), ("item_index", _I), ("kind", _S), ("status", _S), ("parties", _L),
        ("description", _S), ("grounded", _B),
    ),
    "areas": _schema(("article_id", _S), ("area", _S)),
    "evidence": _schema(
        ("article_id", _S), ("item_type", _S), ("item_index", _I), ("start", _I), ("end", _I),
        ("text", _S), ("alignment", _S),
    ),
    "dyads": _schema(
        ("article_id", _S), ("item_type", _S), ("item_index", _I), ("party_a", _S),
        ("party_b", _S), ("kind", _S), ("status", _S), ("date", _D),
    ),
    "errors": _schema(
        ("article_id", _S), ("line", pa.int64()), ("type", _S), ("message", _S), ("detail", _S)
    ),
    # events across articles (only when asked for: `events=` / `consolidate=True`)
    "events": _schema(
        ("event_id", _S), ("kind", _S), ("parties", _L), ("instrument", _S), ("date", _D),
        ("city", _S), ("country", _S), ("forum", _S), ("status", _S), ("title", _S),
        ("lifecycle_statuses", _L), ("lifecycle_dates", _LD), ("lifecycle_article_ids", _L),
        ("n_mentions", _I), ("article_ids", _L), ("because", _L),
    ),
    "event_mentions": _schema(
        ("event_id", _S), ("article_id", _S), ("item", _S), ("item_type", _S),
        ("item_index", _I), ("status", _S), ("date", _D), ("published", _D),
        ("evidence_start", _I), ("evidence_end", _I), ("evidence_text", _S),
    ),
}  # fmt: skip
#: the tables every export writes (one row per item of the records)
TABLES = tuple(n for n in SCHEMAS if n not in ("events", "event_mentions"))
#: the tables of events across articles, written when events are given or consolidated
EVENT_TABLES = ("events", "event_mentions")


# ---------------------------------------------------------------- records → columns


class _Columns:
    """One table being filled, a tuple a row. Only rows of plain values are held (no record
    stays alive past its line), so the garbage collector has little to walk."""

    __slots__ = ("name", "rows")

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: list[tuple[Any, ...]] = []

    def add(self, *values: Any) -> None:
        self.rows.append(values)

    def batch(self) -> pa.RecordBatch:
        """The rows so far as a record batch of the table's schema."""
        schema = SCHEMAS[self.name]
        rows = self.rows
        # a comprehension per column: zip(*rows) makes an iterator per row and costs 4x more
        cols = [[r[i] for r in rows] for i in range(len(schema))]
        try:
            arrays = [_array(c, f.type) for c, f in zip(cols, schema, strict=True)]
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InputError(f"a record does not fit the {self.name} table: {exc}") from None
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    if pa.types.is_date32(type_):  # ISO date strings: one vectorised cast beats parsing each
        return pa.array(values, _S).cast(_D)
    if type_ == _LD:
        return pa.array(values, _L).cast(_LD)
    return pa.array(values, type_)


class _Rows:
    """Rows of some tables (`tables`), gathered until `flush` hands them over as a batch each."""

    tables: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._new()

    def _new(self) -> None:
        self.t = {name: _Columns(name) for name in self.tables}

    def flush(self) -> dict[str, pa.RecordBatch]:
        batches = {name: cols.batch() for name, cols in self.t.items()}
        self._new()
        return batches


class Collector(_Rows):
    """Turns results into table rows, one result at a time; `flush` hands over a batch."""

    tables = TABLES

    def __init__(self, articles: Mapping[str, ArticleInfo] | None = None) -> None:
        super().__init__()
        self.meta = articles
        self.results = 0

    def add(self, line: Line) -> None:
        """Append the rows one result contributes to each table."""
        self.results += 1
        t, aid = self.t, line.article_id
        if line.record is None:
            err = line.error or {}
            detail = {k: v for k, v in err.items() if k not in ("type", "message")}
            t["errors"].add(aid, line.line, err.get("type"), err.get("message"),
                            json.dumps(detail, ensure_ascii=False) if detail else None)  # fmt: skip
            return
        r = line.record
        prov = r.get("provenance") or {}
        info = self.meta.get(aid) if self.meta else None
        meta = (info.published, info.title, info.url, info.source) if info else (None,) * 4
        if line.published is not None:  # a bulk line carries its article's publication date
            meta = (line.published, *meta[1:])
        t["articles"].add(aid, r.get("relevant"), r.get("summary"), *meta, prov.get("model"),
                          prov.get("prompt_version"), prov.get("schema_version"))  # fmt: skip
        evidence = t["evidence"]
        for item_type, name in ITEMS.items():
            for i, item in enumerate(r.get(name) or ()):
                for s in item.get("evidence") or ():
                    evidence.add(aid, item_type, i, s["start"], s["end"], s["text"],
                                 s.get("alignment"))  # fmt: skip
        for i, p in enumerate(r.get("parties") or ()):
            t["parties"].add(aid, i, p.get("code"), p.get("kind"), p.get("name"),
                             p.get("grounded", True))  # fmt: skip
        for i, o in enumerate(r.get("officials") or ()):
            t["officials"].add(aid, i, o.get("name"), o.get("title"), o.get("party"),
                               o.get("grounded", True))  # fmt: skip
        dyads = t["dyads"]
        for i, m in enumerate(r.get("meetings") or ()):
            date, loc = m.get("date") or {}, m.get("location") or {}
            start = date.get("start")
            t["meetings"].add(aid, i, m.get("parties") or [], m.get("officials") or [], start,
                              date.get("end"), loc.get("city"), loc.get("country"),
                              m.get("forum"), m.get("grounded", True))  # fmt: skip
            _dyads(dyads, aid, "meeting", i, m.get("parties"), None, None, start)
        for i, a in enumerate(r.get("agreements") or ()):
            t["agreements"].add(aid, i, a.get("instrument"), a.get("status"),
                                a.get("parties") or [], a.get("date"), a.get("title"),
                                a.get("grounded", True))  # fmt: skip
            _dyads(dyads, aid, "agreement", i, a.get("parties"), a.get("instrument"),
                   a.get("status"), a.get("date"))  # fmt: skip
        for i, m in enumerate(r.get("mechanisms") or ()):
            t["mechanisms"].add(aid, i, m.get("kind"), m.get("status"), m.get("parties") or [],
                                m.get("description"), m.get("grounded", True))  # fmt: skip
            _dyads(dyads, aid, "mechanism", i, m.get("parties"), m.get("kind"),
                   m.get("status"), None)  # fmt: skip
        areas = t["areas"]
        for area in r.get("areas") or ():
            areas.add(aid, area)


class EventCollector(_Rows):
    """Turns events (as `healthcoop consolidate` writes them) into rows of the `events` and
    `event_mentions` tables; `flush` hands over a batch."""

    tables = EVENT_TABLES

    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def add(self, event: Mapping[str, Any]) -> None:
        """Append one event's row and a row for each of its mentions."""
        self.events += 1
        eid = event.get("event_id")
        loc = event.get("location") or {}
        steps = [s for s in event.get("lifecycle") or () if isinstance(s, Mapping)]
        mentions = [m for m in event.get("mentions") or () if isinstance(m, Mapping)]
        article_ids = list(dict.fromkeys(m.get("article_id") for m in mentions))
        self.t["events"].add(
            eid, event.get("kind"), list(event.get("parties") or ()), event.get("instrument"),
            event.get("date"), loc.get("city"), loc.get("country"), event.get("forum"),
            event.get("status"), event.get("title"), [s.get("status") for s in steps],
            [s.get("date") for s in steps], [s.get("article_id") for s in steps],
            len(mentions), article_ids, list(event.get("because") or ()),
        )  # fmt: skip
        rows = self.t["event_mentions"]
        for m in mentions:
            item_type, index = item_of(m.get("item"))
            first = next((s for s in m.get("evidence") or () if isinstance(s, Mapping)), {})
            rows.add(eid, m.get("article_id"), m.get("item"), item_type, index, m.get("status"),
                     m.get("date"), m.get("published"), first.get("start"), first.get("end"),
                     first.get("text"))  # fmt: skip


def _event_source(
    events: Iterable[Mapping[str, Any]] | str | os.PathLike[str] | None, consolidate: bool
) -> Iterable[Mapping[str, Any]] | None:
    if events is not None and consolidate:
        raise InputError("give events or consolidate, not both", field="events")
    if isinstance(events, (str, os.PathLike)):
        return read_events(events)
    return events


def _dyads(table: _Columns, aid: str, item_type: str, index: int, parties: Any, *rest: Any):
    """One row per pair of the item's distinct parties, in code order."""
    codes = sorted(set(parties or ()))
    for a, b in combinations(codes, 2):
        table.add(aid, item_type, index, a, b, *rest)


def tables(
    records: Iterable[Any],
    *,
    articles: Mapping[str, ArticleInfo] | None = None,
    events: Iterable[Mapping[str, Any]] | str | os.PathLike[str] | None = None,
    consolidate: bool = False,
) -> dict[str, pa.Table]:
    """The tidy tables of records (ArticleExtraction models or dicts, or bulk-runner lines),
    as pyarrow Tables by name. `articles` (id → ArticleInfo) fills published/title/url/source.

    With `events` (event dicts, or the path of a file `healthcoop consolidate` wrote) or
    `consolidate=True` (consolidate the records now), also `events` and `event_mentions`."""
    source = _event_source(events, consolidate)
    consolidating = Consolidating(articles) if consolidate else None
    collector = Collector(articles)
    names = TABLES + (EVENT_TABLES if source is not None or consolidate else ())
    parts: dict[str, list[pa.RecordBatch]] = {n: [] for n in names}
    for line in lines(records):
        collector.add(line)
        if consolidating is not None:
            consolidating.add(line)
        if collector.results % BATCH == 0:
            for n, b in collector.flush().items():
                parts[n].append(b)
    for n, b in collector.flush().items():
        parts[n].append(b)
    if consolidating is not None:
        source = consolidating.events()
    if source is not None:
        for n, b in _event_batches(source, BATCH):
            parts[n].append(b)
    return {n: pa.Table.from_batches(parts[n], schema=SCHEMAS[n]) for n in names}


def _event_batches(
    events: Iterable[Mapping[str, Any]], size: int
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """(table name, batch) for events, `size` events a batch."""
    collector = EventCollector()
    for event in events:
        collector.add(event)
        if collector.events % size == 0:
            yield from collector.flush().items()
    yield from collector.flush().items()


# ---------------------------------------------------------------- files


def _joined(col: pa.Array) -> pa.Array:
    """A list column as strings joined with ";"; a null element is an empty string, so that
    parallel lists (a lifecycle's statuses and dates) stay aligned."""
    if col.type != _L:
        col = col.cast(_L)
    if col.values.null_count:
        values = pc.fill_null(col.values, "")
        col = pa.ListArray.from_arrays(col.offsets, values, mask=col.is_null())
    return pc.binary_join(col, ";")


def csv_view(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch as CSV carries it: list columns joined with ";"."""
    arrays, fields = [], []
    for col, f in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_list(f.type):
            col, f = _joined(col), pa.field(f.name, _S)
        arrays.append(col)
        fields.append(f)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


class _TableWriters:
    """One open writer per table and format; each batch becomes a Parquet row group."""

    def __init__(self, out: Path, formats: Iterable[str], names: Iterable[str] = TABLES) -> None:
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        self.writers: list[tuple[str, str, Any]] = []
        names = list(names)
        for fmt in formats:
            for name in names:
                schema = SCHEMAS[name]
                if fmt == "parquet":
                    w = pq.ParquetWriter(out / f"{name}.parquet", schema)
                else:
                    empty = csv_view(pa.RecordBatch.from_pylist([], schema=schema))
                    w = pcsv.CSVWriter(out / f"{name}.csv", empty.schema)
                self.writers.append((fmt, name, w))

    def write(self, name: str, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        for fmt, table, w in self.writers:
            if table == name:
                w.write_batch(batch if fmt == "parquet" else csv_view(batch))

    def close(self) -> list[Path]:
        files = []
        for _, _, w in self.writers:
            w.close()
        for fmt, name, _ in self.writers:
            files.append(Path(name).with_suffix(f".{fmt}"))
        return files


@dataclass
class ExportSummary:
    """What an export read and wrote."""

    records: int = 0
    errors: int = 0
    unreadable: int = 0
    events: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    files: list[Path] = field(default_factory=list)


def export(
    results: str | os.PathLike[str] | Iterable[Any],
    out_dir: str | os.PathLike[str],
    *,
    formats: Iterable[str] = ("parquet",),
    articles: Mapping[str, ArticleInfo] | None = None,
    batch_size: int = BATCH,
    events: Iterable[Mapping[str, Any]] | str | os.PathLike[str] | None = None,
    consolidate: bool = False,
) -> ExportSummary:
    """Stream results (a file, or records in Python) into `out_dir` in each format: Parquet
    and CSV tables, and `network.graphml`. With `events` (event dicts or an events file,
    streamed) or `consolidate=True` (mentions held in memory), also the `events` and
    `event_mentions` tables."""
    fmts = list(dict.fromkeys(formats))
    unknown = [f for f in fmts if f not in FORMATS]
    if unknown or not fmts:
        raise InputError(f"unknown format {unknown[0] if unknown else '(none)'}; use "
                         + ", ".join(FORMATS), field="format")  # fmt: skip
    event_source = _event_source(events, consolidate)
    with_events = event_source is not None or consolidate
    table_formats = [f for f in fmts if f != "graphml"]
    if with_events and not table_formats:
        raise InputError("events are tables: add --format parquet or csv", field="format")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = read_lines(results) if isinstance(results, (str, os.PathLike)) else lines(results)
    network = None
    if "graphml" in fmts:
        from .network import NetworkBuilder

        network = NetworkBuilder()
    names = TABLES + (EVENT_TABLES if with_events else ())
    writers = _TableWriters(out, table_formats, names)
    collector = Collector(articles)
    consolidating = Consolidating(articles) if consolidate else None
    summary = ExportSummary()

    def write(batches: Iterable[tuple[str, pa.RecordBatch]]) -> None:
        for name, b in batches:
            writers.write(name, b)
            summary.rows[name] = summary.rows.get(name, 0) + b.num_rows

    try:
        for line in source:
            collector.add(line)
            if line.record is not None:
                if network is not None:
                    network.add(line.record)
                if consolidating is not None:
                    consolidating.add(line)
            elif (line.error or {}).get("type") == "unreadable_line":
                summary.unreadable += 1
            else:
                summary.errors += 1
            if collector.results % batch_size == 0:
                write(collector.flush().items())
        write(collector.flush().items())
        if consolidating is not None:
            event_source = consolidating.events()
        if event_source is not None:
            write(_event_batches(_counted(event_source, summary), batch_size))
    finally:
        summary.records = collector.results
        summary.files = [out / f for f in writers.close()]
    if network is not None:
        path = out / "network.graphml"
        network.write_graphml(path)
        summary.files.append(path)
    return summary


def _counted(
    events: Iterable[Mapping[str, Any]], summary: ExportSummary
) -> Iterator[Mapping[str, Any]]:
    for event in events:
        summary.events += 1
        yield event
