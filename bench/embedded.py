"""Seconds and tokens per article on the embedded models, over the four seed articles.

    python bench/embedded.py [--models qwen2.5-coder-1.5b qwen2.5-coder-0.5b] [--prompt candidates]

Starts each embedded model's server, extracts each seed twice (the first call also pays for
the cached system prompt; the second is the steady state a bulk run sees), and prints one row
per model side by side. Needs the `embedded` (and `embedded-small`) extras. Run it on an idle
machine: it measures wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from healthcoop import Extractor, embedded
from healthcoop.llm_client import OpenAILLM
from healthcoop.settings import Settings

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
PUBLISHED = {"002": "2025-04-28"}


def run(model: str, prompt: str) -> dict[str, float]:
    settings = Settings(embedded_model=model, prompt=prompt, timeout=900, retries=0)
    seeds = sorted(SEEDS.glob("*.txt"))
    with embedded.running(settings) as live:
        ex = Extractor(OpenAILLM(live), live)
        ex.extract({"id": "warmup", "text": seeds[0].read_text("utf-8")})  # caches the prompt
        seconds, prompt_tokens, completion_tokens = [], [], []
        for path in seeds:
            article = {"id": path.stem[:3], "text": path.read_text("utf-8"),
                       "published": PUBLISHED.get(path.stem[:3])}  # fmt: skip
            started = time.perf_counter()
            rec = ex.extract(article)
            seconds.append(time.perf_counter() - started)
            prompt_tokens.append(rec.provenance.usage.prompt_tokens)
            completion_tokens.append(rec.provenance.usage.completion_tokens)
            tokens = f"{prompt_tokens[-1]} + {completion_tokens[-1]} tokens"
            print(f"  {model} {article['id']}: {seconds[-1]:.1f} s, {tokens}", file=sys.stderr)
    return {
        "s/article": statistics.mean(seconds),
        "max s": max(seconds),
        "prompt tok": statistics.mean(prompt_tokens),
        "output tok": statistics.mean(completion_tokens),
        "output tok/s": sum(completion_tokens) / sum(seconds),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(embedded.MODELS))
    ap.add_argument("--prompt", default="candidates")
    args = ap.parse_args()
    rows = {m: run(m, args.prompt) for m in args.models}
    cols = list(next(iter(rows.values())))
    print(f"{'model':22}" + "".join(f"{c:>14}" for c in cols))
    for m, row in rows.items():
        print(f"{m:22}" + "".join(f"{row[c]:14.1f}" for c in cols))
    base = rows[args.models[0]]["s/article"]
    for m, row in rows.items():
        print(f"{m:22} speed ratio vs {args.models[0]}: {base / row['s/article']:.2f}x")


if __name__ == "__main__":
    main()
