"""`healthcoop diff`: what changed, field by field, between two bulk runs over one archive.

Records are matched by `article_id` and compared on what the contract promises (codes,
statuses, dates, vocabulary), never on evidence offsets or provenance, so a new prompt or
model is judged on its answers. The earlier run is indexed in a temporary SQLite file, so
memory stays flat whatever the size of the runs.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import chunks, read_lines

#: fields compared, in the order reported
FIELDS = (
    "relevant",
    "parties",
    "officials",
    "meetings",
    "agreements",
    "mechanisms",
    "areas",
    "summary",
)
#: list fields whose added/removed items are tallied by a coarse label (bounded vocabulary)
_TALLIED = {"parties", "agreements", "mechanisms", "areas"}
CHUNK = 500


# ---------------------------------------------------------------- the comparable view


def _codes(values: list[Any] | None) -> str:
    return "+".join(sorted(str(v) for v in values or []))


def _date(value: Any) -> str:
    if isinstance(value, dict):
        start, end = value.get("start"), value.get("end")
        return str(start) if start == end else f"{start}..{end}"
    return str(value) if value else "-"


def project(extraction: dict[str, Any]) -> dict[str, Any]:
    """The comparable view of a record: each list field as a sorted list of item labels."""
    meeting_labels = []
    for m in extraction.get("meetings") or []:
        where = m.get("location") or {}
        meeting_labels.append(
            f"{_codes(m.get('parties'))} {_date(m.get('date'))} "
            f"{where.get('city') or '-'}/{where.get('country') or '-'}"
        )
    return {
        "relevant": bool(extraction.get("relevant")),
        "parties": sorted(
            p.get("code") or f"?{p.get('name')}" for p in extraction.get("parties") or []
        ),
        "officials": sorted(
            f"{o.get('name')} ({o.get('party') or '-'})" for o in extraction.get("officials") or []
        ),
        "meetings": sorted(meeting_labels),
        "agreements": sorted(
            f"{a.get('instrument')}/{a.get('status')} {_codes(a.get('parties'))} "
            f"{_date(a.get('date'))}"
            for a in extraction.get("agreements") or []
        ),
        "mechanisms": sorted(
            f"{k.get('kind')}/{k.get('status')} {_codes(k.get('parties'))}"
            for k in extraction.get("mechanisms") or []
        ),
        "areas": sorted(extraction.get("areas") or []),
        "summary": (extraction.get("summary") or "").strip(),
    }


def _tally_label(name: str, label: str) -> str:
    """The coarse label an item is counted under: its code, kind/status, or area."""
    return label.split(" ", 1)[0] if name in ("agreements", "mechanisms") else label


# ---------------------------------------------------------------- the report


@dataclass
class FieldChange:
    records: int = 0  # records whose field differs
    added: int = 0  # items in new, not in old
    removed: int = 0
    top_added: Counter[str] = field(default_factory=Counter)
    top_removed: Counter[str] = field(default_factory=Counter)
    transitions: Counter[str] = field(default_factory=Counter)  # e.g. "false→true"
    examples: list[str] = field(default_factory=list)


@dataclass
class DiffReport:
    old: str
    new: str
    old_records: int = 0
    new_records: int = 0
    both: int = 0
    added: int = 0  # ids only in new
    dropped: int = 0  # ids only in old
    changed: int = 0  # records in both that differ in any compared field or in status
    unchanged: int = 0
    unreadable: int = 0  # lines that are not result records
    duplicates: int = 0  # ids seen twice in one run (the later one counts)
    status: Counter[str] = field(default_factory=Counter)  # "ok→error", "error→ok", ...
    fields: dict[str, FieldChange] = field(
        default_factory=lambda: {name: FieldChange() for name in FIELDS}
    )
    examples: int = 3
    added_examples: list[str] = field(default_factory=list)
    dropped_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "records": {
                "old": self.old_records,
                "new": self.new_records,
                "both": self.both,
                "added": self.added,
                "dropped": self.dropped,
                "changed": self.changed,
                "unchanged": self.unchanged,
                "unreadable": self.unreadable,
                "duplicates": self.duplicates,
            },
            "status": dict(self.status),
            "fields": {
                name: {
                    "records": f.records,
                    "items_added": f.added,
                    "items_removed": f.removed,
                    "top_added": dict(f.top_added.most_common(10)),
                    "top_removed": dict(f.top_removed.most_common(10)),
                    "transitions": dict(f.transitions),
                    "examples": f.examples,
                }
                for name, f in self.fields.items()
            },
            "examples": {"added": self.added_examples, "dropped": self.dropped_examples},
        }

    def render(self) -> str:
        out = [
            f"old: {self.old} ({self.old_records:,} records)",
            f"new: {self.new} ({self.new_records:,} records)",
            f"records: {self.both:,} in both — {self.changed:,} changed, "
            f"{self.unchanged:,} unchanged; {self.added:,} added, {self.dropped:,} dropped",
        ]
        if self.unreadable or self.duplicates:
            out.append(
                f"skipped: {self.unreadable:,} unreadable lines, {self.duplicates:,} repeats"
            )
        if self.status:
            out.append("status: " + ", ".join(f"{k} {v:,}" for k, v in self.status.most_common()))
        if self.added_examples:
            out.append("  added e.g. " + ", ".join(self.added_examples))
        if self.dropped_examples:
            out.append("  dropped e.g. " + ", ".join(self.dropped_examples))
        out.append("")
        out.append(f"{'field':<12}{'records':>9}{'+items':>9}{'-items':>9}  most changed")
        for name, f in self.fields.items():
            if f.transitions:
                detail = ", ".join(f"{k} {v:,}" for k, v in f.transitions.most_common())
            else:
                top = [f"+{k} {v:,}" for k, v in f.top_added.most_common(3)]
                top += [f"-{k} {v:,}" for k, v in f.top_removed.most_common(3)]
                detail = ", ".join(top)
            items = name not in ("relevant", "summary")
            out.append(
                f"{name:<12}{f.records:>9,}"
                f"{(f'+{f.added:,}' if items else ''):>9}{(f'-{f.removed:,}' if items else ''):>9}"
                f"  {detail}"
            )
            if f.examples:
                out.append(f"{'':<12}e.g. {', '.join(f.examples)}")
        return "\n".join(out)


# ---------------------------------------------------------------- reading runs


def _records(path: Path, report: DiffReport) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """(article_id, status, comparable view or error) of each result line."""
    for raw in read_lines(path, what="results file"):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            article_id, status = str(line["article_id"]), line["status"]
        except (ValueError, KeyError, TypeError):
            report.unreadable += 1
            continue
        if status == "ok" and isinstance(line.get("extraction"), dict):
            yield article_id, "ok", project(line["extraction"])
        else:
            error = line.get("error") if isinstance(line.get("error"), dict) else {}
            yield article_id, f"error:{error.get('type', 'error')}", None


def diff(old: str | Path, new: str | Path, *, examples: int = 3) -> DiffReport:
    """Compare two result files of `healthcoop annotate` over the same archive."""
    old, new = Path(old), Path(new)
    report = DiffReport(str(old), str(new), examples=examples)
    with tempfile.TemporaryDirectory(prefix="healthcoop-diff-") as tmp:
        db = sqlite3.connect(Path(tmp) / "old.sqlite", isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(
            "CREATE TABLE old (id TEXT PRIMARY KEY, status TEXT, view TEXT, matched INT DEFAULT 0)"
        )
        try:
            _index(db, _records(old, report), report)
            _compare(db, _records(new, report), report)
            report.dropped = db.execute("SELECT count(*) FROM old WHERE matched=0").fetchone()[0]
            report.dropped_examples = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM old WHERE matched=0 ORDER BY id LIMIT ?", (examples,)
                )
            ]
        finally:
            db.close()
    return report


def _index(db: sqlite3.Connection, records: Iterator[Any], report: DiffReport) -> None:
    db.execute("BEGIN")
    for chunk in chunks(records, CHUNK):
        for article_id, status, view in chunk:
            report.old_records += 1
            db.execute(
                "INSERT OR REPLACE INTO old (id, status, view) VALUES (?, ?, ?)",
                (article_id, status, json.dumps(view) if view is not None else None),
            )
    db.execute("COMMIT")
    report.duplicates += report.old_records - db.execute("SELECT count(*) FROM old").fetchone()[0]


def _compare(db: sqlite3.Connection, records: Iterator[Any], report: DiffReport) -> None:
    db.execute("BEGIN")
    for chunk in chunks(records, CHUNK):
        ids = list(dict.fromkeys(r[0] for r in chunk))
        marks = ",".join("?" * len(ids))
        found = {
            r[0]: r[1:]
            for r in db.execute(
                f"SELECT id, status, view, matched FROM old WHERE id IN ({marks})", ids
            )
        }
        for article_id, status, view in chunk:
            report.new_records += 1
            previous = found.get(article_id)
            if previous is None:
                report.added += 1
                if len(report.added_examples) < report.examples:
                    report.added_examples.append(article_id)
                continue
            old_status, old_view, matched = previous
            if matched:
                report.duplicates += 1
                continue
            found[article_id] = (old_status, old_view, 1)
            report.both += 1
            changed = _compare_one(
                article_id,
                old_status,
                json.loads(old_view) if old_view else None,
                status,
                view,
                report,
            )
            report.changed += changed
            report.unchanged += not changed
        db.executemany("UPDATE old SET matched=1 WHERE id=?", ((i,) for i in ids if i in found))
    db.execute("COMMIT")


def _short(status: str) -> str:
    """ "ok", or the error's type."""
    return status.removeprefix("error:")


def _compare_one(
    article_id: str,
    old_status: str,
    old: dict[str, Any] | None,
    new_status: str,
    new: dict[str, Any] | None,
    report: DiffReport,
) -> bool:
    if old_status != new_status:
        report.status[f"{_short(old_status)}→{_short(new_status)}"] += 1
    if old is None or new is None:
        return old_status != new_status
    changed = False
    for name in FIELDS:
        before, after = old[name], new[name]
        if before == after:
            continue
        changed = True
        f = report.fields[name]
        f.records += 1
        if len(f.examples) < report.examples:
            f.examples.append(article_id)
        if name == "relevant":
            f.transitions[f"{str(before).lower()}→{str(after).lower()}"] += 1
        elif name != "summary":
            plus, minus = Counter(after), Counter(before)
            added, removed = plus - minus, minus - plus
            f.added += sum(added.values())
            f.removed += sum(removed.values())
            if name in _TALLIED:
                for label, n in added.items():
                    f.top_added[_tally_label(name, label)] += n
                for label, n in removed.items():
                    f.top_removed[_tally_label(name, label)] += n
    return changed or old_status != new_status
