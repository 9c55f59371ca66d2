"""Memory per article of a long run with the default (candidates) prompt, before and after.

    python -m bench.leak [--before 440a7a2] [--articles 3000]

Each column extracts `--articles` articles in one process through `Extractor.aextract` (32 at
a time) against the fake OpenAI-compatible server answering from each request's schema
(tests/support/fake_openai.py, `schema_answer`). Every article is seed 002 of ../shared with a
closing line of its own number and date, so each has its own candidates and answer schema,
as an archive's articles do. It prints the resident memory after the first 500 articles and
at the end, and the growth per article in between: what a run of 100,000 articles would add.
"before" imports the package of git revision `--before` from a checkout of it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # run from here: python -m bench.leak
WARM = 500


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(articles: int) -> dict:
    """In this process: RSS after WARM articles and after `articles`."""
    import healthcoop
    from bench.bulk import serve_fake
    from bench.service import MARK, numbered, reference
    from healthcoop.extraction import Extractor
    from healthcoop.llm.factory import build_llm
    from healthcoop.settings import Settings

    seed = next(ROOT.parent.glob("shared/seeds/002_*.txt"))
    text = numbered(seed.read_text("utf-8"))
    proc, url = serve_fake(0.01, schema=True)
    try:
        settings = Settings(base_url=url, model="fake", retries=0, concurrency=32)
        extractor = Extractor(build_llm(settings, concurrency=32), settings)

        async def run(first: int, last: int) -> None:
            slots = asyncio.Semaphore(32)

            async def one(i: int) -> None:
                async with slots:
                    await extractor.aextract(text.replace(MARK, reference(i)))

            await asyncio.gather(*(one(i) for i in range(first, last)))

        async def both() -> tuple[float, float]:  # one loop: the client's connections live in it
            await run(0, WARM)
            gc.collect()
            warm = rss_mib()
            await run(WARM, articles)
            gc.collect()
            return warm, rss_mib()

        warm, end = asyncio.run(both())
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    return {"where": str(Path(healthcoop.__file__).parent), "warm": warm, "end": end,
            "per_article_kib": (end - warm) / (articles - WARM) * 1024}  # fmt: skip


def column(args: argparse.Namespace, path: Path | None) -> dict:
    import os

    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
    out = subprocess.run([sys.executable, "-m", "bench.leak", "--child", str(args.articles)],
                         capture_output=True, text=True, cwd=ROOT, env=env)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench.cpu import baseline_tree

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", default="440a7a2", help="git revision for the 'before' column")
    p.add_argument("--articles", type=int, default=3000)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="healthcoop-before-") as d:
        before = column(args, baseline_tree(args.before, Path(d)))
        assert before["where"].startswith(d), before["where"]
    after = column(args, None)
    print(f"resident memory, one process, {args.articles} articles each with its own candidates")
    print(f"{'':30}{args.before:>12}{'worktree':>12}")
    for label, key, unit in (("after 500 articles", "warm", "MiB"),
                             (f"after {args.articles} articles", "end", "MiB"),
                             ("growth per article", "per_article_kib", "KiB")):  # fmt: skip
        print(f"{label:30}{before[key]:>8.1f} {unit}{after[key]:>8.1f} {unit}")


if __name__ == "__main__":
    main()
