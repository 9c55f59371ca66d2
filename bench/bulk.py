"""Bulk runner benchmark: throughput against a fake server, a fully cached re-run, peak RSS.

    python bench/bulk.py            # about three minutes on 2 cores

1. throughput: `annotate` against the fake OpenAI-compatible server (tests/fakes.py) running in
   a separate process with a fixed latency, as a ratio to the ideal concurrency ÷ latency;
2. a fully cached re-run over 100,000 records (nothing asked, everything written);
3. peak RSS of a whole run (annotate + write) over 10k and 100k records, each in a fresh
   process, with an in-process model that answers at once and the `draft` prompt,
   whose assembly is nearly free: what is measured is the bulk layer, not candidate finding.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fakes / tests.bulk_fakes

SENTENCES = [
    "The health ministers of Iran and Qatar met in Doha on Sunday to discuss cooperation.",
    "They agreed to draft a memorandum of understanding on medical education and research.",
    "The two sides also discussed vaccine production and the exchange of medical experts.",
    "A joint working group will follow up the agreements reached during the visit.",
    "The World Health Organization welcomed the initiative, its regional office said.",
]


def make_archive(path: Path, n: int, *, first: int = 0) -> Path:
    """n distinct articles of about 1.5 KB, one JSON object a line, each one the rules pass on
    to the model (two parties, health vocabulary)."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(first, first + n):
            rest = SENTENCES[1:]
            body = " ".join([SENTENCES[0], *(rest[(i + k) % len(rest)] for k in range(3))])
            text = f"Report {i}. {body}\n\n{body} (ref. {i * 7919 % 100003})"
            f.write(json.dumps({"id": f"doc-{i}", "text": text, "source": "bench.example"}))
            f.write("\n")
    return path


def serve_fake(latency: float) -> tuple[subprocess.Popen, str]:
    code = (
        "import sys, time; from tests.fakes import FakeOpenAI, serve\n"
        f"with serve(FakeOpenAI(latency={latency})) as url:\n"
        "    print(url, flush=True); sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def throughput(tmp: Path, *, n: int, concurrency: int, processes: int, latency: float) -> dict:
    import healthcoop
    from healthcoop.settings import Settings

    tmp.mkdir()
    proc, url = serve_fake(latency)
    try:
        archive = make_archive(tmp / "tp.jsonl", n)
        settings = Settings(
            base_url=url,
            model="fake",
            store=tmp / "tp.sqlite",
            concurrency=concurrency,
            processes=processes,
        )
        # warm up imports, the connection pool and the server, outside the measured run
        warm = make_archive(tmp / "warm.jsonl", concurrency, first=10 * n)  # not in the archive
        healthcoop.annotate(warm, None, settings=settings)
        samples: list[tuple[float, int]] = []
        cpu, started = time.process_time(), time.perf_counter()
        summary = healthcoop.annotate(
            archive,
            tmp / "tp.out.jsonl",
            settings=settings,
            progress=lambda p: samples.append((time.perf_counter(), p.annotated)),
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    assert summary.ok == n and summary.attempts == n, summary  # one request for each record
    rate, ideal = n / elapsed, concurrency / latency
    # steady state: between 10% and 90% of the records, past start-up and before the tail
    (t0, d0), (t1, d1) = (next(s for s in samples if s[1] >= n * q) for q in (0.1, 0.9))
    steady = (d1 - d0) / (t1 - t0)
    return {
        "records": n,
        "seconds": elapsed,
        "rate": rate,
        "ideal": ideal,
        "ratio": rate / ideal,
        "steady": steady / ideal,
        "latency": latency,
        "processes": processes,
        "cpu_ms": cpu / n * 1000,
    }


def run_child(archive: Path, store: Path, out: Path) -> dict:
    """A whole run in a fresh process; returns its time and peak RSS."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(archive), str(store), str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(archive: str, store: str, out: str) -> None:
    import healthcoop
    from healthcoop.extract import Extractor
    from healthcoop.settings import Settings
    from tests.bulk_fakes import InstantLLM

    settings = Settings(store=Path(store), concurrency=32, prompt="draft")
    extractor = Extractor(InstantLLM(keep=False), settings)
    started = time.perf_counter()
    summary = healthcoop.annotate(archive, out, settings=settings, extractor=extractor)
    elapsed = time.perf_counter() - started
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "rss_mib": rss_mib,
                "records": summary.records,
                "annotated": summary.annotated,
                "cached": summary.cached,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--records", type=int, default=1200, help="records in each throughput run")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="worker processes")
    p.add_argument(
        "--latency", type=float, nargs="+", default=[1.0, 0.5], help="fake server latencies, s"
    )
    p.add_argument("--large", type=int, default=100_000, help="records in the large archive")
    p.add_argument("--small", type=int, default=10_000, help="records in the small archive")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return

    with tempfile.TemporaryDirectory(prefix="healthcoop-bench-") as d:
        tmp = Path(d)
        tps = [
            throughput(
                tmp / f"tp{lat}-{procs}",
                n=args.records,
                concurrency=args.concurrency,
                processes=procs,
                latency=lat,
            )
            for lat in args.latency
            for procs in args.processes
        ]
        small = make_archive(tmp / "small.jsonl", args.small)
        large = make_archive(tmp / "large.jsonl", args.large)
        rss_small = run_child(small, tmp / "small.sqlite", tmp / "small.out.jsonl")
        rss_large = run_child(large, tmp / "large.sqlite", tmp / "large.out.jsonl")
        cached = run_child(large, tmp / "large.sqlite", tmp / "large.out2.jsonl")
        assert cached["cached"] == args.large and cached["annotated"] == 0, cached
        size_mib = large.stat().st_size / 2**20

    print(f"{'':34}{'result':>14}  note")
    for tp in tps:
        label = f"throughput, {tp['latency']:g} s, {tp['processes']} proc"
        print(
            f"{label:34}{tp['ratio']:>13.2f}×  "
            f"steady {tp['steady']:.2f}×; {tp['rate']:.1f} rec/s of ideal {tp['ideal']:.1f} "
            f"({args.concurrency} ÷ {tp['latency']:g} s), {tp['records']:,} in "
            f"{tp['seconds']:.1f} s, main-process CPU {tp['cpu_ms']:.1f} ms/record"
        )
    print(
        f"{f'cached re-run, {args.large:,} records':34}{cached['seconds']:>12.1f} s  "
        f"{args.large / cached['seconds']:,.0f} rec/s, nothing asked, all written"
    )
    print(
        f"{f'peak RSS, {args.small:,} records':34}{rss_small['rss_mib']:>10.0f} MiB  "
        f"first run, annotated in {rss_small['seconds']:.1f} s"
    )
    print(
        f"{f'peak RSS, {args.large:,} records':34}{rss_large['rss_mib']:>10.0f} MiB  "
        f"first run, annotated in {rss_large['seconds']:.1f} s (archive {size_mib:.0f} MiB)"
    )
    print(f"{f'peak RSS, cached re-run {args.large:,}':34}{cached['rss_mib']:>10.0f} MiB")
    print(f"cpu: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
