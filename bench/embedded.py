"""Seconds and tokens per article on the embedded models, over the four seed articles.

    python -m bench.embedded [--models qwen2.5-coder-1.5b qwen2.5-coder-0.5b] [--prompt candidates]
    python -m bench.embedded --samplers      # grammar-first check vs llama-cpp-python's sampler

Starts each embedded model's server, warms it up on a short text that is not a seed (that call
pays for the cached system prompt), extracts the four seeds, and prints one row per model side
by side. With
--samplers each model runs twice, with healthcoop's grammar-first sampler and with
llama-cpp-python's own (grammar over the whole vocabulary), and the records must be identical.
Needs the `embedded` (and `embedded-small`) extras. Run it on an idle machine: it measures wall
time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from healthcoop import Extractor
from healthcoop.llm import embedded
from healthcoop.llm.client import OpenAILLM
from healthcoop.settings import Settings

WARMUP = (
    "Kenya's Health Minister Jane Wanjiru met Chile's ambassador Ana Rojas in Nairobi on Monday; "
    "they agreed to draft a memorandum of understanding on vaccine production."
)
SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
PUBLISHED = {"002": "2025-04-28"}


def run(model: str, prompt: str, fast: bool, records: list[str]) -> dict[str, float]:
    settings = Settings(
        embedded_model=model, embedded_fast_grammar=fast, prompt=prompt, timeout=900, retries=0
    )
    seeds = sorted(SEEDS.glob("*.txt"))
    with embedded.running(settings) as live:
        ex = Extractor(OpenAILLM(live), live)
        # caches the system prompt; not a seed, so no seed's own text is cached before it runs
        ex.extract({"id": "warmup", "text": WARMUP})
        seconds, prompt_tokens, completion_tokens = [], [], []
        for path in seeds:
            article = {"id": path.stem[:3], "text": path.read_text("utf-8"),
                       "published": PUBLISHED.get(path.stem[:3])}  # fmt: skip
            started = time.perf_counter()
            rec = ex.extract(article)
            records.append(rec.model_dump_json(exclude={"provenance"}))
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
    ap.add_argument("--samplers", action="store_true", help="compare the grammar samplers")
    args = ap.parse_args()
    samplers = {"grammar-first": True, "whole-vocab": False} if args.samplers else {"": True}
    rows: dict[str, dict[str, float]] = {}
    outputs: dict[str, list[str]] = {}
    for m in args.models:
        for name, fast in samplers.items():
            label = f"{m} {name}".strip()
            outputs[label] = []
            rows[label] = run(m, args.prompt, fast, outputs[label])
    cols = list(next(iter(rows.values())))
    width = max(map(len, rows)) + 2
    print(f"{'model':{width}}" + "".join(f"{c:>14}" for c in cols))
    for label, row in rows.items():
        print(f"{label:{width}}" + "".join(f"{row[c]:14.1f}" for c in cols))
    first = next(iter(rows))
    base = rows[first]["s/article"]
    for label, row in rows.items():
        print(f"{label:{width}} time ratio vs {first}: {row['s/article'] / base:.2f}")
    if args.samplers:
        for m in args.models:
            a, b = (outputs[f"{m} {name}"] for name in samplers)
            same = sum(x == y for x, y in zip(a, b, strict=True))
            print(f"{m}: {same}/{len(a)} records identical with both samplers")


if __name__ == "__main__":
    main()
