"""Throughput of the HTTP service against a fake model server with a fixed latency.

    python -m bench.service [--latency 0.25] [--concurrency 4 16 32 64] [--workers 1 2] [--burst]
                            [--repeat N]

Separate processes, so none shares a GIL with another: the fake OpenAI-compatible server
(tests/support/fake_openai.py, answering after `latency` seconds), the service as a user runs
it (`healthcoop serve --workers W`, with HEALTHCOOP_SERVICE_CONCURRENCY = C shared among its
workers), and this load generator keeping C requests in flight. The ideal is C / latency
requests per second: the model is the bottleneck, and the service should add next to nothing
to it. Each row also shows the CPU the service (all its processes) and the fake server spent
per request.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.fake_openai import free_port

ROOT = Path(__file__).resolve().parent.parent  # run from here: python -m bench.service


def run_fake(port: int, latency: float, answer: str) -> None:
    import uvicorn

    from tests.support.fake_openai import FakeOpenAI, schema_answer

    fake = FakeOpenAI(latency=latency)
    if answer == "schema":
        fake.arguments = schema_answer
    uvicorn.run(
        fake,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="off",
        backlog=2048,
    )


def start_service(port: int, fake_url: str, concurrency: int, workers: int,
                  path: Path | None = None) -> subprocess.Popen:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
    if path is not None:  # another revision's package (`before_path`)
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")]).rstrip(":")
    env.update(HEALTHCOOP_BASE_URL=fake_url, HEALTHCOOP_MODEL="fake", HEALTHCOOP_RETRIES="0",
               HEALTHCOOP_SERVICE_CONCURRENCY=str(concurrency))  # fmt: skip
    command = [str(Path(sys.executable).with_name("healthcoop")), "serve", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)


# Modules a revision from before they were dependencies must not find (uvicorn would use them).
NOT_YET = {"uvloop": "eeee077", "httptools": "eeee077"}  # first revision that depends on it


def before_path(rev: str, into: Path) -> Path:
    """A folder on which `import healthcoop` finds revision `rev`'s package, as it was
    installed: the dependencies it did not have yet (NOT_YET) fail to import there."""
    from bench.cpu import baseline_tree

    path = baseline_tree(rev, into)
    for module, since in NOT_YET.items():
        had = subprocess.run(["git", "-C", str(ROOT), "merge-base", "--is-ancestor", since, rev],
                             capture_output=True).returncode == 0  # fmt: skip
        if not had:
            (path / f"{module}.py").write_text(f"raise ImportError('{module}: not in {rev}')\n")
    return path


SHORT = "Iran and Russia discussed health cooperation."
MARK = "@@N@@"  # where each request's own reference goes: no two requests send the same text


def numbered(text: str) -> str:
    """The article with a closing line that gives each request its own number and date, so
    that every request is a new text with its own candidates, as in an archive: nothing
    cached per text or per candidate shape (the answer model) is reused."""
    return f"{text}\n\nFiled with reference {MARK}."


def reference(n: int) -> str:
    """Request n's reference: its number and a date of its own (the same as WRK_SCRIPT's)."""
    day = dt.date(2000, 1, 1) + dt.timedelta(days=n)
    return f"{n} on {day.day} {day.strftime('%B %Y')}"


def wait_for(url: str, timeout: float = 30.0) -> None:
    import httpx2

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


async def load(
    base: str, concurrency: int, latency: float, seconds: float, text: str, *, burst: bool
) -> tuple[int, list[float]]:
    """Keep `concurrency` requests in flight for a warm-up and then `seconds`; the requests
    completed within the measured window, and their latencies.

    Slots start spread over one latency (arrivals as in steady traffic) unless `burst`: then all
    start at once, and since the fake answers after exactly the same time, they stay in step and
    queue for the CPU together on every round.
    """
    import httpx2

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    warm_up = 2 * latency + 1.0
    start = time.perf_counter()
    window = (start + warm_up, start + warm_up + seconds)
    latencies: list[float] = []
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def slot(n: int) -> None:
            if not burst:
                await asyncio.sleep(latency * n / concurrency)
            k = 0
            while (sent := time.perf_counter()) < window[1]:
                k += 1
                body = {"text": text.replace(MARK, reference(n * 100_000 + k)), "id": str(n)}
                response = await client.post("/v1/extract", json=body)
                done = time.perf_counter()
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                if window[0] <= done <= window[1]:  # completions in the window
                    latencies.append(done - sent)

        await asyncio.gather(*(slot(n) for n in range(concurrency)))
    return len(latencies), latencies


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local template = io.open(os.getenv("BENCH_BODY"), "rb"):read("*a")
local sent, slots, spread = 0, tonumber(os.getenv("BENCH_C")), tonumber(os.getenv("BENCH_SPREAD"))
local made = 0
function request()  -- each request its own text: the mark replaced by a number and a date
  made = made + 1
  local t = 946684800 + made * 86400  -- 2000-01-01 + made days
  local ref = string.format("%d on %d %s", made, os.date("!*t", t).day, os.date("!%B %Y", t))
  return wrk.format(nil, nil, nil, (template:gsub("@@N@@", ref)))
end
function delay()  -- the first request of each connection spread over one latency
  sent = sent + 1
  if sent <= slots then return math.floor(spread * (sent - 1) / slots) end
  return 0
end
"""


def wrk_load(base: str, concurrency: int, latency: float, seconds: float, text: str, *,
             burst: bool) -> tuple[int, list[float], float]:  # fmt: skip
    """The same load from `wrk` (C, one thread): a warm-up run, then the measured one.
    Returns the requests completed, the latency quantiles p50 and p99 (as a two-item list), and
    the load generator's CPU seconds."""
    import json
    import re
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        body, script = Path(tmp) / "body.json", Path(tmp) / "post.lua"
        body.write_text(json.dumps({"text": text, "id": "bench"}), "utf-8")
        script.write_text(WRK_SCRIPT, "utf-8")
        env = {**os.environ, "BENCH_BODY": str(body), "BENCH_C": str(concurrency),
               "BENCH_SPREAD": "0" if burst else str(int(latency * 1000))}  # fmt: skip

        def run(duration: float) -> tuple[str, float]:
            before = os.times()
            done = subprocess.run(
                ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency",
                 "--timeout", "60s", "-s", str(script), f"{base}/v1/extract"],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            after = os.times()
            return done.stdout, (after.children_user + after.children_system) - (
                before.children_user + before.children_system
            )

        run(2 * latency + 1.0)  # warm-up
        out, cpu = run(seconds)
    if "Non-2xx" in out:
        raise RuntimeError(f"the service answered errors:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]

    def quantile(q: str) -> float:
        m = re.search(rf"{q}%\s+([\d.]+)(us|ms|s)\b", out)
        scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]  # type: ignore[union-attr]
        return float(m.group(1)) * scale  # type: ignore[union-attr]

    return requests, [quantile("50"), quantile("99")], cpu


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and the processes it started have used so far
    (Linux /proc)."""
    from tests.support.procs import descendants

    total = 0.0
    for p in (pid, *descendants(pid)):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.25, help="fake model latency, s")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16, 32, 64])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="service worker processes (healthcoop serve --workers)",
    )
    parser.add_argument("--burst", action="store_true", help="start all slots at once")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also run the service of git revision REV (e.g. ac2bf2c), as it was installed, "
        "alternating with this tree's, run for run: the machine's speed drifts over minutes",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each row (a fresh service each), then their median ratio: with a fixed "
        "latency, requests that once fall into step stay in step, so one run's ratio varies",
    )
    parser.add_argument(
        "--answer",
        choices=["schema", "irrelevant"],
        default="schema",
        help="what the fake model answers: 'schema' (parties, meetings, agreements, mechanisms "
        "from each request's answer schema: a record with content to validate and assemble) "
        "or 'irrelevant' ({\"relevant\": false}: no assembly)",
    )
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (C; Debian package wrk) or this process (httpx2, asyncio)",
    )
    parser.add_argument(
        "--article",
        default="seed",
        help="what every request sends: 'seed' (seed 002 of ../shared, 3,100 characters), "
        "'short' (one sentence: the service's own cost), or a text file",
    )
    args = parser.parse_args()
    text = SHORT
    if args.article == "seed":
        seed = next(ROOT.parent.glob("shared/seeds/002_*.txt"), None)
        if seed is None:
            raise SystemExit("no ../shared/seeds/002_*.txt here; pass --article short or a file")
        text = seed.read_text("utf-8")
    elif args.article != "short":
        text = Path(args.article).read_text("utf-8")
    print(f"every request: {len(text):,} characters ({args.article}) and its own number; "
          f"answers: {args.answer}")  # fmt: skip
    text = numbered(text)

    spawn = multiprocessing.get_context("spawn")
    fake_port = free_port()
    fake = spawn.Process(target=run_fake, args=(fake_port, args.latency, args.answer),
                         daemon=True)  # fmt: skip
    fake.start()
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    start = "all at once" if args.burst else "spread over one latency"
    print(f"fake model latency {args.latency * 1000:.0f} ms, {args.seconds:g} s measured, {start}, "
          f"load from {args.client}")  # fmt: skip
    print(f"{'code':>8} {'W':>2} {'C':>4} {'requests':>8} {'req/s':>8} {'ideal':>8}", end=" ")
    print(f"{'ratio':>6}", end=" ")
    print(
        f"{'p50 ms':>7} {'p99 ms':>7} {'service CPU ms/req':>19} {'fake CPU ms/req':>16}", end=" "
    )
    print(f"{'load CPU ms/req':>16}")
    checkout = tempfile.TemporaryDirectory(prefix="healthcoop-before-")  # --before's package
    try:
        wait_for(f"{fake_url}/models")
        codes: list[tuple[str, Path | None]] = [("now", None)]
        if args.before:
            codes.insert(0, (args.before, before_path(args.before, Path(checkout.name))))
        rows = itertools.product(args.workers, args.concurrency, range(args.repeat), codes)
        ratios: dict[tuple[int, int, str], list[float]] = {}
        for workers, concurrency, run, (code, path) in rows:
            port = free_port()
            service = start_service(port, fake_url, concurrency, workers, path)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_for(f"{base}/healthz")
                time.sleep(2.0 if workers > 1 else 0.0)  # one worker answered; let all start
                cpu = (proc_cpu(service.pid), proc_cpu(fake.pid), time.process_time())
                if args.client == "wrk":
                    done, q, load_cpu = wrk_load(base, concurrency, args.latency, args.seconds,
                                                 text, burst=args.burst)  # fmt: skip
                else:
                    done, latencies = asyncio.run(
                        load(base, concurrency, args.latency, args.seconds, text, burst=args.burst)
                    )
                    q = [statistics.median(latencies), statistics.quantiles(latencies, n=100)[98]]
                    load_cpu = time.process_time() - cpu[2]
                # CPU over the warm-up and the window, per request of the window: an estimate
                sent = done * (1 + (2 * args.latency + 1.0) / args.seconds)
                cpu = [
                    (proc_cpu(p) - c) / sent * 1000
                    for p, c in zip((service.pid, fake.pid), cpu[:2], strict=True)
                ] + [load_cpu / sent * 1000]
            finally:
                service.terminate()
                service.wait(30)
            rps, ideal = done / args.seconds, concurrency / args.latency
            print(
                f"{code:>8} {workers:>2} {concurrency:>4} {done:>8} {rps:>8.1f} {ideal:>8.1f} "
                f"{rps / ideal:>6.3f} "
                f"{q[0] * 1000:>7.0f} {q[1] * 1000:>7.0f} {cpu[0]:>19.1f} {cpu[1]:>16.2f} "
                f"{cpu[2]:>16.2f}"
            )
            ratios.setdefault((workers, concurrency, code), []).append(rps / ideal)
            if args.repeat > 1 and run == args.repeat - 1 and code == codes[-1][0]:
                for c, _ in codes:
                    found = ratios[(workers, concurrency, c)]
                    print(f"{c:>8} {workers:>2} {concurrency:>4}  median ratio of {len(found)} "
                          f"runs {statistics.median(found):.3f} (from {min(found):.3f} to "
                          f"{max(found):.3f})")  # fmt: skip
    finally:
        fake.terminate()
        fake.join(10)
        checkout.cleanup()


if __name__ == "__main__":
    main()
