"""Consolidation benchmark: seconds and peak RSS of `healthcoop consolidate` over 10,000 and
100,000 synthetic results, side by side.

    python -m bench.consolidate            # about two minutes on 2 cores

The generator writes what a bulk run over a news archive would give: stories (a meeting, an
agreement, often both at one visit) between party pairs drawn so that a few pairs are very
frequent (the large blocks are the hard part), each story reported by one to eight outlets
within days, with recurring events between the same parties over ten years, agreements that
go through approval and signing, undated mentions and articles without a publication date.
Each size runs in a fresh process (`consolidate_file`, the code behind the command, reading
the results and the archive for publication dates, writing events), so peak RSS is its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CODES = (
    "IRN IRQ IND MDV KHM CUB KEN CHN RUS QAT UZB TUR SAU ARE EGY PAK AFG BGD NPL LKA IDN MYS THA "
    "VNM PHL JPN KOR USA GBR FRA DEU ITA ESP GRC CYP LBN SYR JOR OMN KWT BHR DZA MAR TUN NGA GHA "
    "ETH ZAF TZA UGA BRA ARG MEX VEN BOL PER CHL COL ECU NIC"
).split() + ["WHO", "UNICEF", "GAVI", "WORLD_BANK", "OIC", "SCO"]
INSTRUMENTS = ("mou", "agreement", "protocol", "action_plan", "programme", "treaty")
TOPICS = (
    "pharmaceutical production", "medical education", "vaccine research", "maternal health",
    "digital health", "traditional medicine", "cancer care", "emergency response",
    "health insurance", "medical equipment", "nursing training", "disease surveillance",
)  # fmt: skip
CITIES = ("Capital", "Port City", "Old Town", "Riverside", "Highlands", "Coastal Bay")
SURNAMES = [f"Name{n}" for n in range(400)]
FILLER = (
    "officials said the talks covered a wide range of issues and both sides expressed "
    "satisfaction with progress made in recent months while experts from the two ministries "
    "reviewed ongoing projects and agreed to meet again"
).split()
PROVENANCE = {
    "task": "health_cooperation",
    "schema_version": "1.0.0",
    "prompt_version": "bench",
    "model": "bench",
    "endpoint": None,
    "input_sha256": "0" * 64,
    "created_at": "2026-01-01T00:00:00Z",
    "usage": {"prompt_tokens": 800, "completion_tokens": 90},
    "attempts": 1,
    "latency_ms": 0,
}
START = dt.date(2015, 1, 1).toordinal()


def _pair(rng: random.Random) -> tuple[str, str]:
    # Zipf-like: a few pairs carry a large share of the stories
    a = CODES[min(int(rng.paretovariate(1.2)) - 1, len(CODES) - 1)]
    b = rng.choice(CODES)
    while b == a:
        b = rng.choice(CODES)
    return (a, b) if a < b else (b, a)


def _sentence(rng: random.Random, *parts: str) -> str:
    filler = " ".join(rng.sample(FILLER, 8))
    return " ".join(p for p in parts if p) + f", {filler}."


def _stories(rng: random.Random) -> dict:
    """One story: a meeting and/or an agreement between two parties on one day."""
    pair = _pair(rng)
    day = START + rng.randrange(3650)
    officials = [f"{rng.choice('ABCDEFG')}. {rng.choice(SURNAMES)}" for _ in range(2)]
    topic = rng.choice(TOPICS)
    return {
        "pair": pair,
        "day": day,
        "officials": officials,
        "topic": topic,
        "city": rng.choice(CITIES),
        "host": rng.choice(pair) if pair[0] not in ("WHO",) else pair[1],
        "meeting": rng.random() < 0.7,
        "agreement": rng.random() < 0.6,
        "instrument": rng.choice(INSTRUMENTS),
        "title": f"{rng.choice(INSTRUMENTS)} on {topic}" if rng.random() < 0.5 else None,
        "forum": f"{rng.randint(1, 80)}th session of the regional committee"
        if rng.random() < 0.2
        else None,
        "approved_first": rng.random() < 0.15,
    }


def _span(text: str, start: int) -> dict:
    return {"start": start, "end": start + len(text), "text": text, "alignment": "exact"}


def _record(rng: random.Random, n: int, story: dict) -> tuple[dict, dict]:
    """(bulk-runner line, archive article) for one outlet's report of a story."""
    article_id = f"doc-{n}"
    pair, day = story["pair"], story["day"]
    lag = rng.choice((0, 0, 1, 1, 2, 3, 5, 8))
    published = day + lag if rng.random() < 0.9 else None
    a, b = pair
    officials = [
        {"name": name, "title": "minister of health", "party": code, "evidence": []}
        for name, code in zip(story["officials"], pair, strict=True)
        if rng.random() < 0.8
    ]
    meetings, agreements, at = [], [], 0
    if story["meeting"]:
        text = _sentence(rng, f"{story['officials'][0]} met {story['officials'][1]} in",
                         story["city"], story["forum"] or "")  # fmt: skip
        meetings.append(
            {
                "parties": list(pair),
                "officials": [o["name"] for o in officials],
                "date": {"start": dt.date.fromordinal(day).isoformat(),
                         "end": dt.date.fromordinal(day).isoformat()}
                if rng.random() < 0.6 else None,
                "location": {"city": story["city"], "country": story["host"]}
                if story["host"] not in ("WHO", "UNICEF", "GAVI", "WORLD_BANK", "OIC", "SCO")
                and rng.random() < 0.7 else None,
                "forum": story["forum"] if rng.random() < 0.7 else None,
                "evidence": [_span(text, at)],
                "grounded": True,
            }
        )  # fmt: skip
        at += len(text) + 1
    if story["agreement"]:
        status = "approved" if story["approved_first"] and lag > 3 else "signed"
        text = _sentence(rng, f"the two sides signed a {story['instrument']} on", story["topic"])
        agreements.append(
            {
                "instrument": story["instrument"],
                "status": status,
                "parties": list(pair),
                "date": dt.date.fromordinal(day).isoformat() if rng.random() < 0.5 else None,
                "title": story["title"] if rng.random() < 0.6 else None,
                "evidence": [_span(text, at)],
                "grounded": True,
            }
        )
    extraction = {
        "article_id": article_id,
        "relevant": True,
        "parties": [{"name": c, "kind": "organization" if c.isupper() and len(c) != 3 else
                     "country", "code": c, "evidence": [], "grounded": True} for c in pair],
        "officials": officials,
        "meetings": meetings,
        "agreements": agreements,
        "mechanisms": [],
        "areas": ["health_systems"],
        "summary": f"Health cooperation between {a} and {b}.",
        "provenance": PROVENANCE,
        "text": None,
    }  # fmt: skip
    body = " ".join(e["evidence"][0]["text"] for e in meetings + agreements)
    article = {
        "id": article_id,
        "text": (body + " ") * 6,
        "published": dt.date.fromordinal(published).isoformat() if published else None,
        "source": f"outlet{rng.randrange(50)}.example",
    }
    return {"article_id": article_id, "status": "ok", "extraction": extraction}, article


def generate(folder: Path, n: int, seed: int = 15) -> tuple[Path, Path]:
    """n results and their archive, written one line at a time."""
    rng = random.Random(seed)
    results, archive = folder / f"results-{n}.jsonl", folder / f"articles-{n}.jsonl"
    with results.open("w") as r, archive.open("w") as a:
        made = 0
        while made < n:
            story = _stories(rng)
            for _ in range(min(1 + int(rng.expovariate(0.6)), 8, n - made)):
                line, article = _record(rng, made, story)
                r.write(json.dumps(line) + "\n")
                a.write(json.dumps(article) + "\n")
                made += 1
    return results, archive


RUN = """
import json, resource, sys, time
from healthcoop.analysis.consolidate import consolidate_file
t, cpu = time.perf_counter(), time.process_time()
s = consolidate_file(sys.argv[1], sys.argv[2], articles=sys.argv[3])
took, cpu = time.perf_counter() - t, time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": took, "cpu": cpu, "rss_mb": rss, **s.to_dict()}))
"""


def run(results: Path, archive: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(results), str(out), str(archive)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="record counts, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results, archive = generate(Path(tmp), n)
            r = run(results, archive, Path(tmp) / f"events-{n}.jsonl")
            rows.append((n, r))
            print(f"{n} records: {r['seconds']:.1f} s, {r['rss_mb']:.0f} MiB", file=sys.stderr)
    print(f"{'records':>10} {'seconds':>8} {'CPU s':>6} {'peak RSS MiB':>13} {'mentions':>9} "
          f"{'events':>8} {'merged':>7} {'blocks':>7} {'pairs':>8}")  # fmt: skip
    for n, r in rows:
        print(
            f"{n:>10,} {r['seconds']:>8.1f} {r['cpu']:>6.1f} {r['rss_mb']:>13.0f} "
            f"{r['mentions']:>9,} {r['events']:>8,} {r['merged_events']:>7,} {r['blocks']:>7,} "
            f"{r['pairs']:>8,}"
        )
    if len(rows) == 2:
        (n1, r1), (n2, r2) = rows
        print(
            f"{n2 / n1:.0f}x the records: {r2['seconds'] / r1['seconds']:.1f}x the time, "
            f"{r2['rss_mb'] / r1['rss_mb']:.1f}x the peak RSS; pairs compared per mention "
            f"{r1['pairs'] / r1['mentions']:.1f} and {r2['pairs'] / r2['mentions']:.1f}"
        )


if __name__ == "__main__":
    main()
