"""CPU per request of a one-process bulk run, split by library, before and after, side by side.

    python -m bench.cpu [--before 40f2986] [--records 600]

Both columns run the same archive through `healthcoop.annotate` in one process (C=32) against
the fake OpenAI-compatible server in another process (latency 500 ms): "before" with the
service/, schemas/ and prompts/ of git revision `--before` (checked out into a temporary
folder and imported from there), "after" with this working tree. Each column's total is
the process CPU of an unprofiled run ÷ requests; its split is the share each library took in
a second, sampled run (`bench/cpusplit.py`): healthcoop, instructor, openai, the HTTP client
(httpx2, httpcore2, h11, or aiohttp under httpx2), and the rest (the event loop and the
callbacks it runs, aiohttp's protocol among them; thread hand-offs). The fake server's
own CPU per request is printed too: it must stay far below one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # run from here: python -m bench.cpu
BASELINE = "40f2986"  # main just before issue 16's work


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(n: int, concurrency: int, latency: float) -> dict:
    """In this process: annotate n records, once plainly and once sampled; CPU per request."""
    import healthcoop
    from bench.bulk import make_archive, serve_fake
    from bench.cpusplit import CpuSplit
    from healthcoop.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="healthcoop-cpu-"))
    proc, url = serve_fake(latency)
    try:
        settings = Settings(
            base_url=url, model="fake", store=tmp / "s.sqlite", concurrency=concurrency
        )
        warm = make_archive(tmp / "warm.jsonl", concurrency, first=10 * n)
        healthcoop.annotate(warm, None, settings=settings)
        plain = make_archive(tmp / "plain.jsonl", n)
        fake0, cpu0, t0 = proc_cpu(proc.pid), time.process_time(), time.perf_counter()
        summary = healthcoop.annotate(plain, tmp / "plain.out.jsonl", settings=settings)
        elapsed = time.perf_counter() - t0
        cpu, fake = time.process_time() - cpu0, proc_cpu(proc.pid) - fake0
        assert summary.ok == n and summary.attempts == n, summary
        sampled = make_archive(tmp / "sampled.jsonl", n, first=n)
        with CpuSplit() as split:
            healthcoop.annotate(sampled, tmp / "sampled.out.jsonl", settings=settings)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    return {
        "where": str(Path(healthcoop.__file__).parent),
        "cpu_ms": cpu / n * 1000,
        "fake_ms": fake / n * 1000,
        "ratio": n / elapsed / (concurrency / latency),
        "shares": split.shares(),
    }


def baseline_tree(rev: str, into: Path) -> Path:
    """A folder on which `import healthcoop` finds revision `rev`'s package."""
    raw = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "service", "schemas", "prompts"],
        capture_output=True,
        check=True,
    ).stdout
    src = into / "src"
    with tarfile.open(fileobj=BytesIO(raw)) as tar:
        tar.extractall(src, filter="data")
    pkg = into / "path" / "healthcoop"
    pkg.mkdir(parents=True)
    for entry in (src / "service").iterdir():
        (pkg / entry.name).symlink_to(entry)
    (pkg / "schemas").symlink_to(src / "schemas")
    (pkg / "prompts").symlink_to(src / "prompts")
    return into / "path"


def run_column(args: argparse.Namespace, path: Path | None) -> dict:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cpu",
            "--child",
            str(args.records),
            str(args.concurrency),
            str(args.latency),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,  # fmt: skip
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", default=BASELINE, help="git revision for the 'before' column")
    p.add_argument("--records", type=int, default=600)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--latency", type=float, default=0.5)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        n, c, lat = args.child
        print(json.dumps(measure(int(n), int(c), float(lat))))
        return
    from bench.cpusplit import LABELS

    with tempfile.TemporaryDirectory(prefix="healthcoop-before-") as d:
        before = run_column(args, baseline_tree(args.before, Path(d)))
        assert before["where"].startswith(d), before["where"]
    after = run_column(args, None)
    print(
        f"CPU ms per request, one process, C={args.concurrency}, fake latency "
        f"{args.latency * 1000:.0f} ms, {args.records} records ({os.cpu_count()} cores)"
    )
    print(f"{'':28}{'before':>10}{'after':>10}")
    print(f"{'':28}{args.before:>10}{'worktree':>10}")
    for label in LABELS:
        b = before["cpu_ms"] * before["shares"][label]
        a = after["cpu_ms"] * after["shares"][label]
        print(f"{label:28}{b:>10.2f}{a:>10.2f}")
    print(f"{'total':28}{before['cpu_ms']:>10.2f}{after['cpu_ms']:>10.2f}")
    print(f"{'fake server (own process)':28}{before['fake_ms']:>10.2f}{after['fake_ms']:>10.2f}")
    print(f"{'throughput ÷ ideal':28}{before['ratio']:>10.2f}{after['ratio']:>10.2f}")


if __name__ == "__main__":
    main()
