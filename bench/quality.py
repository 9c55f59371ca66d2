"""Extraction quality per dev split (issue 13): tuning, validation and consolidation-dev.

    python -m bench.quality --split                     # the three splits side by side
    python -m bench.quality run --out RUN.jsonl         # extract the dev (+ consolidation) articles
    python -m bench.quality score RUN.jsonl [RUN2 ...]  # scores per split, runs side by side

The validation split (`bench/quality_split.json`) is 10 non-seed dev articles chosen by the
smallest sha256 of their id before any rule of issue 13 was written; rules are written on the
tuning split (the other 30 dev articles, seeds included) and on the 17 consolidation-dev
articles, and checked on the validation split.

`run` uses the model settings from the environment (HEALTHCOOP_BASE_URL, ...) and keeps every
model answer in an answer cache (`--cache`, SQLite) keyed on the exact request body: a request
sent again (an assembly-only change) is answered from the cache, since a greedy model gives the
same answer to the same request. Each line records the model seconds and tokens the answers
cost when they were first asked (`"cost"`), so `score` reports the real model cost of a run
even when it was mostly replayed. The texts and gold are read from ../shared at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

from healthcoop import Extractor
from healthcoop.llm.factory import build_llm
from healthcoop.scoring import evaluate
from healthcoop.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "eval"
DEV, DEV_GOLD = SHARED / "dev.jsonl", SHARED / "dev-gold.jsonl"
CONS = SHARED / "consolidation-dev" / "articles.jsonl"
CONS_GOLD = SHARED / "consolidation-dev" / "gold.jsonl"
SPLIT_FILE = Path(__file__).with_name("quality_split.json")
FIELDS_SHOWN = ("relevance", "countries", "organizations", "officials", "official_party",
                "meetings", "meeting_date", "agreements", "mechanisms", "areas")  # fmt: skip


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def validation_ids() -> list[str]:
    return json.loads(SPLIT_FILE.read_text("utf-8"))["validation"]


def chosen_validation(dev_ids: list[str]) -> list[str]:
    """The rule that chose the validation split: 10 non-seed ids, smallest sha256 of the id."""
    non_seed = [i for i in dev_ids if not i.startswith("seed-")]
    return sorted(sorted(non_seed, key=lambda i: hashlib.sha256(i.encode()).hexdigest())[:10])


def splits() -> dict[str, list[str]]:
    dev_ids = [a["id"] for a in _jsonl(DEV)]
    held = validation_ids()
    if sorted(held) != chosen_validation(dev_ids):
        sys.exit(f"{SPLIT_FILE} does not hold the ids its rule chooses")
    out = {"tuning": [i for i in dev_ids if i not in held], "validation": held}
    if CONS.is_file():
        out["consolidation"] = [a["id"] for a in _jsonl(CONS)]
    return out


def print_splits() -> None:
    table = splits()
    names = list(table)
    width = max(len(i) for ids in table.values() for i in ids) + 2
    print("".join(f"{f'{n} ({len(table[n])})':{width}}" for n in names))
    for row in range(max(len(ids) for ids in table.values())):
        print("".join(f"{(table[n][row] if row < len(table[n]) else ''):{width}}" for n in names))


# ---------------------------------------------------------------- the answer cache


class NotCached(Exception):
    """A request the answer cache has no answer for, in an offline run."""


class AnswerCache(httpx2.BaseTransport):
    """Answers POSTs from a SQLite cache keyed on method, path and exact body; asks the inner
    transport (and stores its 200 answer with the seconds it took) otherwise."""

    def __init__(
        self, path: Path, inner: httpx2.BaseTransport | None = None, *, offline: bool = False
    ) -> None:
        self.inner = inner or httpx2.HTTPTransport()
        self.offline = offline  # never ask the server: an uncached request fails
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, status INTEGER, "
            "headers TEXT, body BLOB, seconds REAL)"
        )
        self.hits = self.misses = 0
        self.seconds = 0.0  # model seconds of the answers given, as first measured

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "POST":
            return self.inner.handle_request(request)
        body = request.read()
        key = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body).hexdigest()
        row = self.db.execute(
            "SELECT status, headers, body, seconds FROM answers WHERE key = ?", (key,)
        ).fetchone()
        if row is not None:
            self.hits += 1
            self.seconds += row[3]
            return httpx2.Response(row[0], headers=json.loads(row[1]), content=row[2],
                                   request=request)  # fmt: skip
        if self.offline:
            raise NotCached("not in the answer cache")
        started = time.perf_counter()
        response = self.inner.handle_request(request)
        content = response.read()
        took = time.perf_counter() - started
        self.misses += 1
        self.seconds += took
        dropped = ("content-length", "content-encoding", "transfer-encoding")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in dropped}
        if response.status_code == 200:
            self.db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                (key, 200, json.dumps(headers), content, took),
            )
            self.db.commit()
        return httpx2.Response(response.status_code, headers=headers, content=content,
                               request=request)  # fmt: skip

    def close(self) -> None:
        self.inner.close()
        self.db.close()


def run(out: Path, cache_path: Path, which: str, validation_first: bool = False,
        cached_only: bool = False, skip: Path | None = None) -> None:  # fmt: skip
    settings = get_settings()
    if cached_only:
        settings = settings.model_copy(update={"retries": 0})
    cache = AnswerCache(cache_path, offline=cached_only)
    # the client applies the llama.cpp dialect around the cache: it keys the bodies as sent
    ex = Extractor(build_llm(settings, transport=cache), settings)
    articles = (_jsonl(DEV) if which in ("dev", "all") else []) + (
        _jsonl(CONS) if which in ("consolidation", "all") else []
    )
    if skip is not None and skip.is_file():
        done = {x.get("article_id") for x in _jsonl(skip) if x.get("status") == "ok"}
        articles = [a for a in articles if a["id"] not in done]
    if validation_first:
        # on a slow or shared model server, the held-out proxy is scored first
        held = set(validation_ids())
        articles.sort(key=lambda a: a["id"] not in held)
    with out.open("w", encoding="utf-8") as f:
        for n, article in enumerate(articles, 1):
            before = (cache.hits, cache.misses, cache.seconds)
            try:
                record = ex.extract(article)
            except Exception as exc:  # noqa: BLE001 - a failed article is a line, as in eval
                error = {"type": type(exc).__name__, "message": str(exc)}
                line: dict[str, Any] = {
                    "article_id": article["id"],
                    "status": "error",
                    "error": error,
                }
            else:
                usage = record.provenance.usage
                line = {
                    "article_id": record.article_id,
                    "status": "ok",
                    "extraction": record.model_dump(mode="json"),
                    "cost": {
                        "model_seconds": round(cache.seconds - before[2], 3),
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "cached": cache.hits - before[0],
                        "asked": cache.misses - before[1],
                    },
                }
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            f.flush()
            cost = line.get("cost", {})
            print(f"[{n}/{len(articles)}] {article['id']}: {line['status']} "
                  f"{cost.get('model_seconds', 0):.1f} s ({cost.get('asked', 0)} asked, "
                  f"{cost.get('cached', 0)} cached)", file=sys.stderr)  # fmt: skip
    ex.llm.close()


# ---------------------------------------------------------------- scoring per split


def _f(x: float | None) -> str:
    return "  –  " if x is None else f"{x:.3f}"


def score_runs(runs: list[Path], per_article: bool = False, common: bool = False) -> None:
    table = splits()
    gold = {g["id"]: g for g in _jsonl(DEV_GOLD)}
    if CONS_GOLD.is_file():
        gold.update({g["id"]: g for g in _jsonl(CONS_GOLD)})
    texts = {a["id"]: a["text"] for a in _jsonl(DEV) + (_jsonl(CONS) if CONS.is_file() else [])}
    columns: list[tuple[str, evaluate.Report, list[dict[str, Any]]]] = []
    if common:
        # a run that is not finished yet: compare the articles every run has done
        done = [{x["article_id"] for x in _jsonl(p) if x.get("status") == "ok"} for p in runs]
        both = set.intersection(*done)
        table = {name: [i for i in ids if i in both] for name, ids in table.items()}
    for path in runs:
        lines = _jsonl(path)
        have = {line.get("article_id") for line in lines}
        for name, ids in table.items():
            if not have & set(ids):
                continue
            rep = evaluate.score([gold[i] for i in ids], lines, texts=texts)
            cost = [
                line["cost"] for line in lines if line.get("article_id") in ids and "cost" in line
            ]
            columns.append((f"{path.stem[:18]}:{name[:5]}({len(ids)})", rep, cost))
    width = max(len(c[0]) for c in columns) + 1
    print(f"{'F1':16}" + "".join(f"{c[0]:>{width}}" for c in columns))
    for name in FIELDS_SHOWN:
        print(f"{name:16}" + "".join(f"{_f(r.fields[name].f1):>{width}}" for _, r, _ in columns))
    print(f"{'micro F1':16}" + "".join(f"{_f(r.micro.f1):>{width}}" for _, r, _ in columns))
    print(f"{'micro P':16}" + "".join(f"{_f(r.micro.precision):>{width}}" for _, r, _ in columns))
    print(f"{'micro R':16}" + "".join(f"{_f(r.micro.recall):>{width}}" for _, r, _ in columns))
    for name, attr in (("officials P", "precision"), ("agreements P", "precision"),
                       ("mechanisms R", "recall"), ("meeting_date P", "precision")):  # fmt: skip
        field = name.split()[0]
        print(f"{name:16}" + "".join(
            f"{_f(getattr(r.fields[field], attr)):>{width}}" for _, r, _ in columns))  # fmt: skip

    def per(rep: evaluate.Report, cost: list[dict[str, Any]], key: str) -> str:
        if cost:
            return f"{sum(c[key] for c in cost) / len(cost):.1f}"
        d = rep.cost.to_dict() if rep.cost.articles else None
        mapping = {
            "model_seconds": "seconds_per_article",
            "prompt_tokens": "prompt_tokens_per_article",
            "completion_tokens": "completion_tokens_per_article",
        }
        return f"{d[mapping[key]]:.1f}" if d and d[mapping[key]] is not None else "–"

    for label, key in (("s/article", "model_seconds"), ("prompt tok", "prompt_tokens"),
                       ("output tok", "completion_tokens")):  # fmt: skip
        print(f"{label:16}" + "".join(f"{per(r, c, key):>{width}}" for _, r, c in columns))
    counts = [f"{r.count('ok')}/{r.count('error')}" for _, r, _ in columns]
    print(f"{'articles ok/err':16}" + "".join(f"{c:>{width}}" for c in counts))
    if per_article:
        for label, rep, _ in columns:
            if label.endswith(":valid"):
                continue  # the validation split is not read while rules are written
            for a in rep.articles:
                for name, r in a.fields.items():
                    if r.missed or r.spurious:
                        print(f"{label} {a.article_id} {name}: -{r.missed} +{r.spurious}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--split", action="store_true", help="print the splits side by side")
    sub = ap.add_subparsers(dest="command")
    r = sub.add_parser("run", help="extract the articles (answers cached by request body)")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--cache", type=Path, default=ROOT / ".quality-answers.sqlite")
    r.add_argument("--set", choices=["dev", "consolidation", "all"], default="all")
    r.add_argument("--validation-first", action="store_true", help="extract that split first")
    r.add_argument("--skip", type=Path, help="leave out the articles done in this earlier run")
    r.add_argument(
        "--cached-only",
        action="store_true",
        help="re-assemble from cached answers only; articles without one are errors",
    )
    s = sub.add_parser("score", help="score runs per split, side by side")
    s.add_argument("runs", type=Path, nargs="+")
    s.add_argument("--common", action="store_true", help="only articles every run has done")
    s.add_argument("--per-article", action="store_true",
                   help="what each article missed and added, for the tuning and "
                   "consolidation splits only (the validation split is not read)")  # fmt: skip
    args = ap.parse_args()
    if args.split:
        print_splits()
    elif args.command == "run":
        run(args.out, args.cache, args.set, args.validation_first, args.cached_only, args.skip)
    elif args.command == "score":
        score_runs(args.runs, args.per_article, args.common)
    else:
        ap.print_help()


if __name__ == "__main__":
    main()
