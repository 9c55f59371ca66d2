"""Seconds and tokens per article on the embedded models, over the four seed articles.

    python -m bench.embedded [--models qwen2.5-coder-1.5b qwen2.5-coder-0.5b] [--prompt candidates]
    python -m bench.embedded --samplers      # grammar-first check vs llama-cpp-python's sampler
    python -m bench.embedded --against a82ee67   # this code against an older revision's, one model

Starts each embedded model's server, warms it up on a short text that is not a seed (that call
pays for the cached system prompt), extracts the four seeds, and prints one row per model side
by side. With
--samplers each model runs twice, with healthcoop's grammar-first sampler and with
llama-cpp-python's own (grammar over the whole vocabulary), and the records must be identical.
With --against REV the first model runs twice, on REV's code (exported with `git archive` and
put first on the import path) and on this working tree's, each in its own process with its
own server, and the time ratio of this code to REV's is printed. Needs the `embedded` (and
`embedded-small`) extras. Run it on an idle machine: it measures wall time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
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


def _layout(rev: str, into: Path) -> Path:
    """REV's package as an importable tree: healthcoop/ (service), its schemas and prompts."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", rev, "service", "schemas", "prompts"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / "src", filter="data")
    pkg = into / "healthcoop"
    shutil.copytree(into / "src" / "service", pkg)
    shutil.copytree(into / "src" / "schemas", pkg / "schemas")
    shutil.copytree(into / "src" / "prompts", pkg / "prompts")
    return into


def _child_row(model: str, prompt: str, path: Path | None) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(path)} if path else dict(os.environ)
    done = subprocess.run(
        [sys.executable, __file__, "--models", model, "--prompt", prompt, "--row-json"],
        env=env, stdout=subprocess.PIPE, check=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def against(rev: str, model: str, prompt: str) -> None:
    """This working tree's code against REV's, on one model, each with its own server."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = {rev: _child_row(model, prompt, _layout(rev, Path(tmp))),
                "this tree": _child_row(model, prompt, None)}  # fmt: skip
    cols = list(rows[rev])
    print(f"{model} {'code':12}" + "".join(f"{c:>14}" for c in cols))
    for label, row in rows.items():
        print(f"{model} {label:12}" + "".join(f"{row[c]:14.1f}" for c in cols))
    ratio = rows["this tree"]["s/article"] / rows[rev]["s/article"]
    print(f"time ratio, this tree / {rev}: {ratio:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(embedded.MODELS))
    ap.add_argument("--prompt", default="candidates")
    ap.add_argument("--samplers", action="store_true", help="compare the grammar samplers")
    ap.add_argument("--against", metavar="REV", help="compare with an older revision's code")
    ap.add_argument("--row-json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.against:
        against(args.against, args.models[0], args.prompt)
        return
    if args.row_json:
        print(json.dumps(run(args.models[0], args.prompt, True, [])))
        return
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
