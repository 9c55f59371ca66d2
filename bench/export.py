"""How fast and flat `healthcoop export` is: 10,000 vs 100,000 synthetic records, side by side.

    python bench/export.py                 # Parquet (the default format)
    python bench/export.py --format csv --format graphml

Each size runs in its own process (so its peak RSS is its own); the records are generated
here, as bulk-runner lines with 1 % error lines. CPU seconds stand beside wall-clock seconds:
on a shared machine they say what the export itself cost. Issue 14 asks ≤ 30 s for 100,000
records and memory that does not grow with the number of records.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COUNTRIES = (
    "IRN RUS QAT IRQ UZB CHN IND PAK TUR SAU ARE EGY KEN NGA ZAF BRA ARG MEX USA CAN FRA DEU "
    "ITA ESP GBR JPN KOR IDN MYS THA VNM PHL BGD LKA NPL AFG KAZ KGZ TJK TKM AZE ARM GEO BLR "
    "UKR SRB HUN POL CUB VEN CHL PER COL ETH TZA UGA GHA SEN MAR DZA TUN OMN KWT BHR JOR LBN SYR"
).split()
ORGS = "WHO UNICEF GAVI WORLD_BANK SCO BRICS OIC AFRICA_CDC EU UNFPA".split()
AREAS = "vaccines pharmaceuticals research health_systems communicable_diseases digital_health"
STATUSES = ("signed", "pending", "proposed", "approved")


def _span(rng: random.Random, words: str) -> dict:
    start = rng.randrange(0, 4000)
    return {"start": start, "end": start + len(words), "text": words, "alignment": "exact"}


def record(n: int, rng: random.Random) -> dict:
    """One plausible bulk-runner line (about the size of a dev-set record)."""
    aid = f"art-{n:07d}"
    if rng.random() < 0.01:
        error = {"type": "llm_error", "message": "timed out", "kind": "timeout"}
        return {"article_id": aid, "status": "error", "error": error}
    codes = rng.sample(COUNTRIES, rng.randint(2, 4)) + rng.sample(ORGS, rng.randint(0, 1))
    parties = [
        {"name": c.title(), "kind": "organization" if c in ORGS else "country", "code": c,
         "evidence": [_span(rng, c.title()) for _ in range(rng.randint(1, 3))], "grounded": True}
        for c in codes
    ]  # fmt: skip
    officials = [
        {"name": f"Person {n}-{i}", "title": "health minister", "party": rng.choice(codes),
         "evidence": [_span(rng, f"Person {n}-{i}")], "grounded": True}
        for i in range(rng.randint(1, 4))
    ]  # fmt: skip
    day = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    meetings = [
        {"parties": rng.sample(codes, 2), "officials": [o["name"] for o in officials[:2]],
         "date": {"start": day, "end": day} if rng.random() < 0.7 else None,
         "location": {"city": "Tehran", "country": codes[0]} if codes[0] in COUNTRIES else None,
         "forum": None, "evidence": [_span(rng, "met on the sidelines of the assembly")],
         "grounded": True}
        for _ in range(rng.randint(0, 2))
    ]  # fmt: skip
    agreements = [
        {"instrument": "mou", "status": rng.choice(STATUSES), "parties": codes[:2],
         "date": day if rng.random() < 0.5 else None, "title": None,
         "evidence": [_span(rng, "signed a memorandum of understanding")], "grounded": True}
        for _ in range(rng.randint(0, 2))
    ]  # fmt: skip
    mechanisms = [
        {"kind": "working_group", "status": "proposed", "parties": codes,
         "description": "joint working group", "evidence": [_span(rng, "joint working group")],
         "grounded": True}
        for _ in range(rng.randint(0, 1))
    ]  # fmt: skip
    extraction = {
        "article_id": aid, "relevant": rng.random() < 0.9, "parties": parties,
        "officials": officials, "meetings": meetings, "agreements": agreements,
        "mechanisms": mechanisms, "areas": rng.sample(AREAS.split(), rng.randint(1, 4)),
        "summary": "Two health ministries agreed to work together on vaccines and training.",
        "provenance": {
            "task": "health_cooperation", "schema_version": "1.0.0",
            "prompt_version": "bench0000000", "model": "synthetic", "endpoint": None,
            "input_sha256": "0" * 64, "created_at": "2025-11-25T10:00:00Z",
            "usage": {"prompt_tokens": 800, "completion_tokens": 90}, "attempts": 1,
            "latency_ms": 11000,
        },
        "text": None,
    }  # fmt: skip
    return {"article_id": aid, "status": "ok", "extraction": extraction}


def generate(path: Path, count: int) -> None:
    rng = random.Random(14)
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps(record(n, rng)) + "\n")


def child(results: str, out: str, formats: list[str]) -> None:
    """Export in this process and print seconds and peak RSS as JSON."""
    import healthcoop.export

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    started, cpu_started = time.perf_counter(), cpu()
    summary = healthcoop.export.export(results, out, formats=formats)
    seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    got = {"seconds": seconds, "cpu": cpu_seconds, "rss_mib": rss_mib,
           "records": summary.records, "rows": sum(summary.rows.values())}  # fmt: skip
    print(json.dumps(got))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", action="append", dest="formats")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--child", nargs=2, metavar=("RESULTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    formats = args.formats or ["parquet"]
    if args.child:
        child(*args.child, formats)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            results = Path(tmp) / f"results-{size}.jsonl"
            generate(results, size)
            mib = results.stat().st_size / 2**20
            out = Path(tmp) / f"out-{size}"
            cmd = [sys.executable, __file__, "--child", str(results), str(out)]
            cmd += [a for f in formats for a in ("--format", f)]
            got = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
            runs.append((size, mib, got))
    base = runs[0][2]
    print(f"healthcoop export, format {'+'.join(formats)}")
    header = ("records", "input MiB", "rows", "seconds", "CPU s", "rec/s", "peak RSS MiB",
              "time ratio", "RSS ratio")  # fmt: skip
    widths = (10, 10, 11, 8, 6, 8, 13, 10, 9)
    print("  ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for size, mib, got in runs:
        cells = (
            f"{size:,}", f"{mib:.0f}", f"{got['rows']:,}", f"{got['seconds']:.1f}",
            f"{got['cpu']:.1f}", f"{size / got['seconds']:,.0f}", f"{got['rss_mib']:.0f}",
            f"{got['seconds'] / base['seconds']:.2f}", f"{got['rss_mib'] / base['rss_mib']:.2f}",
        )  # fmt: skip
        print("  ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))


if __name__ == "__main__":
    main()
