"""The result store: one SQLite file (WAL) holding every answer a bulk run paid for.

A result is keyed by the article (`archive.article_key`) and by what produced it: the task,
the schema version, the prompt version and the model. Asking again with the same four finds
it; changing any one of them misses it, so exactly the records it affects are re-annotated.
Rows are written in batches, one transaction each: a crash loses at most the last batch,
which the next run simply does again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    task            TEXT NOT NULL,
    schema_version  TEXT NOT NULL,
    prompt_version  TEXT NOT NULL,
    model           TEXT NOT NULL,
    article_key     TEXT NOT NULL,
    article_id      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    retryable       INTEGER NOT NULL DEFAULT 0,
    body            TEXT NOT NULL,  -- the extraction (ok) or the error (error), as JSON
    prompt_tokens   INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (task, schema_version, prompt_version, model, article_key)
) WITHOUT ROWID;
"""
# SQLite's default limit on bound parameters is 999 in old builds; stay well below.
LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ResultKey:
    """What produced a result, besides the article."""

    task: str
    schema_version: str
    prompt_version: str
    model: str

    def params(self) -> tuple[str, str, str, str]:
        return (self.task, self.schema_version, self.prompt_version, self.model)


@dataclass(frozen=True, slots=True)
class Row:
    """One stored result."""

    article_key: str
    article_id: str
    status: str  # "ok" | "error"
    body: str  # JSON text, written to the output as is
    retryable: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0

    def error(self) -> dict[str, object]:
        return json.loads(self.body)


class Store:
    """The SQLite result store. One writer (the bulk runner); readers may look on."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a committed batch survives a killed process (not a power cut)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"cannot open the result store {self.path}: {exc}; choose another path with "
                "--store or HEALTHCOOP_STORE"
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _where(self, n: int) -> str:
        marks = ",".join("?" * n)
        return (
            "task=? AND schema_version=? AND prompt_version=? AND model=? "
            f"AND article_key IN ({marks})"
        )

    def states(self, key: ResultKey, article_keys: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """(status, retryable) of the stored results among article_keys."""
        out: dict[str, tuple[str, bool]] = {}
        for i in range(0, len(article_keys), LOOKUP_CHUNK):
            part = list(dict.fromkeys(article_keys[i : i + LOOKUP_CHUNK]))
            where = self._where(len(part))
            sql = f"SELECT article_key, status, retryable FROM results WHERE {where}"
            for k, status, retryable in self._db.execute(sql, (*key.params(), *part)):
                out[k] = (status, bool(retryable))
        return out

    def get_many(self, key: ResultKey, article_keys: Sequence[str]) -> dict[str, Row]:
        """The stored results among article_keys."""
        out: dict[str, Row] = {}
        for i in range(0, len(article_keys), LOOKUP_CHUNK):
            part = list(dict.fromkeys(article_keys[i : i + LOOKUP_CHUNK]))
            sql = (
                "SELECT article_key, article_id, status, body, retryable, prompt_tokens, "
                f"completion_tokens, attempts FROM results WHERE {self._where(len(part))}"
            )
            for r in self._db.execute(sql, (*key.params(), *part)):
                out[r[0]] = Row(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7])
        return out

    def put_many(self, key: ResultKey, rows: Iterable[Row]) -> None:
        """Write results in one transaction, replacing what was stored under the same key. If
        it fails (a full disk), nothing of it is kept and all earlier ones are: `StorageError`."""
        try:
            self._put_many(key, rows)
        except sqlite3.Error as exc:
            full = "full" in str(exc).lower()
            remedy = "free some space" if full else "check that no other program holds it"
            raise StorageError(
                f"cannot write to the result store {self.path}: {exc}; the answers stored "
                f"before are kept: {remedy} (or choose another --store) and run the same "
                "command again"
            ) from None

    def _put_many(self, key: ResultKey, rows: Iterable[Row]) -> None:
        params = key.params()
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO results (task, schema_version, prompt_version, model, "
                "article_key, article_id, status, retryable, body, prompt_tokens, "
                "completion_tokens, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    (
                        *params,
                        r.article_key,
                        r.article_id,
                        r.status,
                        int(r.retryable),
                        r.body,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.attempts,
                    )
                    for r in rows
                ),
            )

    def count(self, key: ResultKey | None = None) -> int:
        if key is None:
            return self._db.execute("SELECT count(*) FROM results").fetchone()[0]
        sql = (
            "SELECT count(*) FROM results "
            "WHERE task=? AND schema_version=? AND prompt_version=? AND model=?"
        )
        return self._db.execute(sql, key.params()).fetchone()[0]

    def keys(self) -> Iterator[ResultKey]:
        """Every (task, schema, prompt, model) the store holds results for."""
        sql = "SELECT DISTINCT task, schema_version, prompt_version, model FROM results"
        for row in self._db.execute(sql).fetchall():
            yield ResultKey(*row)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # SQLite may have rolled back already (it does on a full disk)
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
