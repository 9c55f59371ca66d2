"""Bulk runner benchmark: throughput against a fake server, a fully cached re-run, peak RSS.

    python -m bench.bulk                 # about five minutes on 2 cores
    python -m bench.bulk --skip-memory   # the throughput table only

1. throughput: `annotate` against the fake OpenAI-compatible server
   (tests/support/fake_openai.py) running in a separate process with a fixed latency, as a
   ratio to the ideal concurrency ÷ latency, side by side: one process (C=32), `--processes
   2` (C=64) and `--engine ray` with two workers on a local Ray (C=64). Each row also shows
   the CPU the fake server spent per request: it must stay far below one core, or the fake,
   not the client, would set the pace;
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

ROOT = Path(__file__).resolve().parent.parent  # run from here: python -m bench.bulk

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


def serve_fake(latency: float, *, schema: bool = False) -> tuple[subprocess.Popen, str]:
    """The fake server in its own process; it answers {"relevant": false}, or with `schema`
    from each request's answer schema (`fake_openai.schema_answer`)."""
    code = (
        "import sys, time; from tests.support.fake_openai import FakeOpenAI, serve, schema_answer\n"
        f"fake = FakeOpenAI(latency={latency})\n"
        f"fake.arguments = schema_answer if {schema} else fake.arguments\n"
        "with serve(fake) as url:\n"
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


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(tmp: Path, *, n: int, concurrency: int, processes: int, latency: float,
               engine: str = "local", schema: bool = False) -> dict:  # fmt: skip
    import healthcoop
    from healthcoop.settings import Settings

    tmp.mkdir()
    proc, url = serve_fake(latency, schema=schema)
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
        # (Ray Data starts its actors afresh for each run: their start-up is in the ratio)
        warm = make_archive(tmp / "warm.jsonl", concurrency, first=10 * n)  # not in the archive
        healthcoop.annotate(warm, None, settings=settings, engine=engine)
        samples: list[tuple[float, int]] = []
        fake_cpu = proc_cpu(proc.pid)
        cpu, started = time.process_time(), time.perf_counter()
        summary = healthcoop.annotate(
            archive,
            tmp / "tp.out.jsonl",
            settings=settings,
            engine=engine,
            progress=lambda p: samples.append((time.perf_counter(), p.annotated)),
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        fake_cpu = proc_cpu(proc.pid) - fake_cpu
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
        "concurrency": concurrency,
        "engine": engine,
        "cpu_ms": cpu / n * 1000,
        "fake_ms": fake_cpu / n * 1000,
    }


def run_child(archive: Path, store: Path, out: Path) -> dict:
    """A whole run in a fresh process; returns its time and peak RSS."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.bulk", "--child", str(archive), str(store), str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM starts afresh at exec; ru_maxrss can keep the high-water
    mark of the parent that forked it (a parent running Ray is large)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(archive: str, store: str, out: str) -> None:
    import healthcoop
    from healthcoop.extraction import Extractor
    from healthcoop.settings import Settings
    from tests.support.instant import InstantLLM

    settings = Settings(store=Path(store), concurrency=32, prompt="draft")
    extractor = Extractor(InstantLLM(keep=False), settings)
    started = time.perf_counter()
    summary = healthcoop.annotate(archive, out, settings=settings, extractor=extractor)
    elapsed = time.perf_counter() - started
    rss_mib = peak_rss_mib()
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


RUNS = {  # name → (engine, processes or Ray workers, concurrency)
    "1 process": ("local", 1, 32),
    "--processes 2": ("local", 2, 64),
    "--engine ray": ("ray", 2, 64),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--records", type=int, default=2400, help="records in each throughput run")
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    p.add_argument("--latency", type=float, nargs="+", default=[0.5], help="fake latencies, s")
    p.add_argument("--large", type=int, default=100_000, help="records in the large archive")
    p.add_argument("--small", type=int, default=10_000, help="records in the small archive")
    p.add_argument("--skip-memory", action="store_true", help="the throughput table only")
    p.add_argument(
        "--answer",
        choices=["irrelevant", "schema"],
        default="irrelevant",
        help='what the fake answers: {"relevant": false} (nothing to assemble), or parties, '
        "meetings, agreements and mechanisms from each request's schema (a record to assemble)",
    )
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    if "--engine ray" in args.runs:
        import ray

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)

    with tempfile.TemporaryDirectory(prefix="healthcoop-bench-") as d:
        tmp = Path(d)
        tps = []
        for lat in args.latency:
            for name in args.runs:
                engine, procs, conc = RUNS[name]
                tp = throughput(tmp / f"tp{lat}-{len(tps)}", n=args.records, concurrency=conc,
                                processes=procs, latency=lat, engine=engine,
                                schema=args.answer == "schema")  # fmt: skip
                tps.append({**tp, "name": name})
        if not args.skip_memory:
            small = make_archive(tmp / "small.jsonl", args.small)
            large = make_archive(tmp / "large.jsonl", args.large)
            rss_small = run_child(small, tmp / "small.sqlite", tmp / "small.out.jsonl")
            rss_large = run_child(large, tmp / "large.sqlite", tmp / "large.out.jsonl")
            cached = run_child(large, tmp / "large.sqlite", tmp / "large.out2.jsonl")
            assert cached["cached"] == args.large and cached["annotated"] == 0, cached
            size_mib = large.stat().st_size / 2**20

    print(f"throughput against the fake server, {args.records:,} records, {os.cpu_count()} cores, "
          f"answers: {args.answer}")  # fmt: skip
    print(
        f"{'run':16}{'latency':>8}{'C':>4}{'ideal/s':>9}{'whole run':>10}{'steady':>8}"
        f"{'rec/s':>8}{'CPU ms/rec':>11}{'fake ms/req':>12}"
    )
    for tp in tps:
        print(
            f"{tp['name']:16}{tp['latency'] * 1000:>6.0f}ms{tp['concurrency']:>4}"
            f"{tp['ideal']:>9.0f}{tp['ratio']:>9.2f}×{tp['steady']:>7.2f}×{tp['rate']:>8.1f}"
            f"{tp['cpu_ms']:>11.1f}{tp['fake_ms']:>12.2f}"
        )
    print(
        "whole run: records ÷ elapsed ÷ ideal (C ÷ latency); steady: from 10% to 90% of the "
        "records; CPU ms/rec: the main process (the driver, with --processes and Ray)"
    )
    if args.skip_memory:
        return
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


if __name__ == "__main__":
    main()
