"""Tidy tables of finished records, for pandas, polars, duckdb, R and Gephi.

One row per item, keyed by `article_id`: articles, parties, officials, meetings, agreements,
mechanisms, areas, evidence, dyads (one row per pair of parties cooperating in an item: the
shape event-data analysts load) and errors. `tables(records)` returns them as pyarrow Tables;
`export(...)` streams a results file to Parquet (one row group per batch), CSV (same columns;
lists joined with ";") or GraphML (the cooperation network, `network.py`), in flat memory.
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

from healthcoop.errors import InputError

from .records import ArticleInfo, Line, lines, read_lines

#: records per batch: one Parquet row group per table per batch; memory holds one batch
BATCH = 10_000
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
}  # fmt: skip
TABLES = tuple(SCHEMAS)


# ---------------------------------------------------------------- records → rows


def _dyads(rows: list[tuple], aid: str, item_type: str, index: int, parties: Any, *rest: Any):
    codes = sorted(set(parties or ()))
    for a, b in combinations(codes, 2):
        rows.append((aid, item_type, index, a, b, *rest))


def _meta(meta: Mapping[str, ArticleInfo] | None, aid: str) -> tuple:
    info = meta.get(aid) if meta else None
    if info is None:
        return (None, None, None, None)
    return (info.published, info.title, info.url, info.source)


def add_line(rows: dict[str, list[tuple]], line: Line, meta: Mapping[str, ArticleInfo] | None):
    """Append the rows one result contributes to each table."""
    aid = line.article_id
    if line.record is None:
        err = line.error or {}
        detail = {k: v for k, v in err.items() if k not in ("type", "message")}
        rows["errors"].append(
            (aid, line.line, err.get("type"), err.get("message"),
             json.dumps(detail, ensure_ascii=False) if detail else None)
        )  # fmt: skip
        return
    r = line.record
    prov = r.get("provenance") or {}
    rows["articles"].append(
        (aid, r.get("relevant"), r.get("summary"), *_meta(meta, aid), prov.get("model"),
         prov.get("prompt_version"), prov.get("schema_version"))
    )  # fmt: skip
    evidence = rows["evidence"]
    for item_type, name in ITEMS.items():
        for i, item in enumerate(r.get(name) or ()):
            for s in item.get("evidence") or ():
                evidence.append(
                    (aid, item_type, i, s["start"], s["end"], s["text"], s.get("alignment"))
                )
    for i, p in enumerate(r.get("parties") or ()):
        rows["parties"].append((aid, i, p.get("code"), p.get("kind"), p.get("name"),
                                p.get("grounded", True)))  # fmt: skip
    for i, o in enumerate(r.get("officials") or ()):
        rows["officials"].append((aid, i, o.get("name"), o.get("title"), o.get("party"),
                                  o.get("grounded", True)))  # fmt: skip
    dyads = rows["dyads"]
    for i, m in enumerate(r.get("meetings") or ()):
        date, loc = m.get("date") or {}, m.get("location") or {}
        start = date.get("start")
        rows["meetings"].append(
            (aid, i, m.get("parties") or [], m.get("officials") or [], start, date.get("end"),
             loc.get("city"), loc.get("country"), m.get("forum"), m.get("grounded", True))
        )  # fmt: skip
        _dyads(dyads, aid, "meeting", i, m.get("parties"), None, None, start)
    for i, a in enumerate(r.get("agreements") or ()):
        rows["agreements"].append(
            (aid, i, a.get("instrument"), a.get("status"), a.get("parties") or [], a.get("date"),
             a.get("title"), a.get("grounded", True))
        )  # fmt: skip
        _dyads(dyads, aid, "agreement", i, a.get("parties"), a.get("instrument"),
               a.get("status"), a.get("date"))  # fmt: skip
    for i, m in enumerate(r.get("mechanisms") or ()):
        rows["mechanisms"].append(
            (aid, i, m.get("kind"), m.get("status"), m.get("parties") or [],
             m.get("description"), m.get("grounded", True))
        )  # fmt: skip
        _dyads(dyads, aid, "mechanism", i, m.get("parties"), m.get("kind"), m.get("status"), None)
    rows["areas"].extend((aid, a) for a in r.get("areas") or ())


def _array(values: Iterable[Any], type_: pa.DataType) -> pa.Array:
    if type_ == _D:  # ISO date strings; one vectorised cast is faster than parsing each
        return pa.array(values, _S).cast(_D)
    return pa.array(values, type_)


def to_batch(name: str, rows: list[tuple]) -> pa.RecordBatch:
    """The rows of one table as a record batch of its schema."""
    schema = SCHEMAS[name]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    try:
        arrays = [_array(col, f.type) for col, f in zip(columns, schema, strict=True)]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"a record does not fit the {name} table: {exc}") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _empty_rows() -> dict[str, list[tuple]]:
    return {name: [] for name in TABLES}


def _batches(
    results: Iterable[Line], meta: Mapping[str, ArticleInfo] | None, size: int
) -> Iterator[tuple[dict[str, pa.RecordBatch], list[Line]]]:
    rows, chunk = _empty_rows(), []
    for line in results:
        add_line(rows, line, meta)
        chunk.append(line)
        if len(chunk) >= size:
            yield {n: to_batch(n, r) for n, r in rows.items()}, chunk
            rows, chunk = _empty_rows(), []
    if chunk:
        yield {n: to_batch(n, r) for n, r in rows.items()}, chunk


def tables(
    records: Iterable[Any], *, articles: Mapping[str, ArticleInfo] | None = None
) -> dict[str, pa.Table]:
    """The tidy tables of records (ArticleExtraction models or dicts, or bulk-runner lines),
    as pyarrow Tables by name. `articles` (id → ArticleInfo) fills published/title/url/source."""
    parts: dict[str, list[pa.RecordBatch]] = {n: [] for n in TABLES}
    for batch, _ in _batches(lines(records), articles, BATCH):
        for n, b in batch.items():
            parts[n].append(b)
    return {n: pa.Table.from_batches(parts[n], schema=SCHEMAS[n]) for n in TABLES}


# ---------------------------------------------------------------- files


def csv_view(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch as CSV carries it: list columns joined with ";"."""
    arrays, fields = [], []
    for col, f in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_list(f.type):
            col, f = pc.binary_join(col, ";"), pa.field(f.name, _S)
        arrays.append(col)
        fields.append(f)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


class _TableWriters:
    """One open writer per table and format; each batch becomes a Parquet row group."""

    def __init__(self, out: Path, formats: Iterable[str]) -> None:
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        self.writers: list[tuple[str, str, Any]] = []
        for fmt in formats:
            for name, schema in SCHEMAS.items():
                if fmt == "parquet":
                    w = pq.ParquetWriter(out / f"{name}.parquet", schema)
                else:
                    empty = csv_view(pa.RecordBatch.from_pylist([], schema=schema))
                    w = pcsv.CSVWriter(out / f"{name}.csv", empty.schema)
                self.writers.append((fmt, name, w))

    def write(self, batches: Mapping[str, pa.RecordBatch]) -> None:
        for fmt, name, w in self.writers:
            b = batches[name]
            if b.num_rows:
                w.write_batch(b if fmt == "parquet" else csv_view(b))

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
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    files: list[Path] = field(default_factory=list)


def export(
    results: str | os.PathLike[str] | Iterable[Any],
    out_dir: str | os.PathLike[str],
    *,
    formats: Iterable[str] = ("parquet",),
    articles: Mapping[str, ArticleInfo] | None = None,
    batch_size: int = BATCH,
) -> ExportSummary:
    """Stream results (a file, or records in Python) into `out_dir` in each format: Parquet
    and CSV tables, and `network.graphml`."""
    fmts = list(dict.fromkeys(formats))
    unknown = [f for f in fmts if f not in FORMATS]
    if unknown or not fmts:
        raise InputError(f"unknown format {unknown[0] if unknown else '(none)'}; use "
                         + ", ".join(FORMATS), field="format")  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = read_lines(results) if isinstance(results, (str, os.PathLike)) else lines(results)
    network = None
    if "graphml" in fmts:
        from .network import NetworkBuilder

        network = NetworkBuilder()
    writers = _TableWriters(out, [f for f in fmts if f != "graphml"])
    summary = ExportSummary()
    try:
        for batch, chunk in _batches(source, articles, batch_size):
            writers.write(batch)
            for line in chunk:
                summary.records += 1
                if not line.ok:
                    unreadable = (line.error or {}).get("type") == "unreadable_line"
                    summary.unreadable += unreadable
                    summary.errors += not unreadable
                elif network is not None:
                    network.add(line.record)
            for name, b in batch.items():
                summary.rows[name] += b.num_rows
    finally:
        summary.files = [out / f for f in writers.close()]
    if network is not None:
        path = out / "network.graphml"
        network.write_graphml(path)
        summary.files.append(path)
    return summary
