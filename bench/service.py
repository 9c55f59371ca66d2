"""Throughput of the HTTP service against a fake model server with a fixed latency.

    python -m bench.service [--latency 0.25] [--concurrency 4 16 32 64] [--burst]

Three processes, so none shares a GIL with another: the fake OpenAI-compatible server
(tests/support/fake_openai.py, answering after `latency` seconds), the service (uvicorn, as
`healthcoop serve` runs it) with HEALTHCOOP_SERVICE_CONCURRENCY = C, and this load generator
keeping C requests in flight. The ideal is C / latency requests per second: the model is the
bottleneck, and the service should add next to nothing to it. Each row also shows the CPU the
service and the fake server spent per request.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # run from here: python -m bench.service


def run_fake(port: int, latency: float) -> None:
    import uvicorn

    from tests.support.fake_openai import FakeOpenAI

    uvicorn.run(
        FakeOpenAI(latency=latency),
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="off",
        backlog=2048,
    )


def run_service(port: int, fake_url: str, concurrency: int) -> None:
    import uvicorn

    from healthcoop.http import create_app
    from healthcoop.settings import Settings

    logging.getLogger("healthcoop.service").setLevel(logging.WARNING)  # no per-request lines
    settings = Settings(base_url=fake_url, model="fake", retries=0, service_concurrency=concurrency)
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        backlog=2048,
    )


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
            while (sent := time.perf_counter()) < window[1]:
                response = await client.post("/v1/extract", json={"text": text, "id": str(n)})
                done = time.perf_counter()
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                if window[0] <= done <= window[1]:  # completions in the window
                    latencies.append(done - sent)

        await asyncio.gather(*(slot(n) for n in range(concurrency)))
    return len(latencies), latencies


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.25, help="fake model latency, s")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16, 32, 64])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    parser.add_argument("--burst", action="store_true", help="start all slots at once")
    args = parser.parse_args()
    text = next(ROOT.parent.glob("shared/seeds/002_*.txt"), None)
    text = text.read_text("utf-8") if text else "Iran and Russia discussed health cooperation."

    spawn = multiprocessing.get_context("spawn")
    fake_port = free_port()
    fake = spawn.Process(target=run_fake, args=(fake_port, args.latency), daemon=True)
    fake.start()
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    start = "all at once" if args.burst else "spread over one latency"
    print(f"fake model latency {args.latency * 1000:.0f} ms, {args.seconds:g} s measured, {start}")
    print(f"{'C':>4} {'requests':>8} {'req/s':>8} {'ideal':>8} {'ratio':>6}", end=" ")
    print(f"{'p50 ms':>7} {'p99 ms':>7} {'service CPU ms/req':>19} {'fake CPU ms/req':>16}")
    try:
        wait_for(f"{fake_url}/models")
        for concurrency in args.concurrency:
            port = free_port()
            service = spawn.Process(
                target=run_service, args=(port, fake_url, concurrency), daemon=True
            )
            service.start()
            try:
                base = f"http://127.0.0.1:{port}"
                wait_for(f"{base}/healthz")
                cpu = (proc_cpu(service.pid), proc_cpu(fake.pid))
                done, latencies = asyncio.run(
                    load(base, concurrency, args.latency, args.seconds, text, burst=args.burst)
                )
                # CPU over the warm-up and the window, per request of the window: an estimate
                sent = done * (1 + (2 * args.latency + 1.0) / args.seconds)
                cpu = [
                    (proc_cpu(p) - c) / sent * 1000
                    for p, c in zip((service.pid, fake.pid), cpu, strict=True)
                ]
            finally:
                service.terminate()
                service.join(10)
            rps, ideal = done / args.seconds, concurrency / args.latency
            q = statistics.quantiles(latencies, n=100)
            print(
                f"{concurrency:>4} {done:>8} {rps:>8.1f} {ideal:>8.1f} {rps / ideal:>6.3f} "
                f"{q[49] * 1000:>7.0f} {q[98] * 1000:>7.0f} {cpu[0]:>19.1f} {cpu[1]:>16.2f}"
            )
    finally:
        fake.terminate()
        fake.join(10)


if __name__ == "__main__":
    main()
