"""What a run would do (`healthcoop annotate --dry-run`): records to do, requests, tokens and
cost; nothing is asked and nothing is stored."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..extraction import Extractor, Pipeline
from ..files import chunks
from ..llm.ratelimit import CHARS_PER_TOKEN
from ..settings import Settings
from .runner import CHUNK, Progress, RunOptions, model_name, run_options, store_path
from .store import ResultKey, Store
from .unit import result_key

SAMPLE = 200  # records a dry run prepares in full to estimate the others


@dataclass
class DryRun:
    """The estimate: what a run would annotate and what it would cost at most."""

    records: int = 0
    cached: int = 0
    todo: int = 0
    input_errors: int = 0
    requests: int = 0  # estimated: records to do that need a model call (not decided by rules)
    prompt_tokens: int = 0  # estimated, for those requests
    completion_tokens_max: int = 0  # the cap: max_tokens for each request
    cost_max: float | None = None  # USD, when prices are set
    batch: bool = False  # priced at Batch API prices
    store: Path | None = None
    key: ResultKey | None = None


def request_chars(pipeline: Pipeline, article: Any) -> int | None:
    """Characters one request for the article sends (messages and answer schema), or None
    when the rules answer without asking the model."""
    _, question = pipeline.ask(article)
    if question.response_model is None:
        return None
    schema = json.dumps(question.response_model.model_json_schema())
    return len(schema) + sum(len(m["content"]) for m in question.messages)


def plan(
    source: str | os.PathLike[str],
    *,
    settings: Settings | None = None,
    extractor: Extractor | None = None,
    options: RunOptions | None = None,
    **overrides: Any,
) -> DryRun:
    """Count what a run would annotate and estimate its tokens and cost; asks no model.

    Preparing a request costs real CPU (candidate finding), so only the first `SAMPLE`
    records to do are prepared in full; their share needing a model call and their prompt
    size beyond the article text (template, candidates, answer schema) are extrapolated.
    With `extractor`, the estimate is for `annotate(..., extractor=extractor)`.
    """
    opts = run_options(options, overrides)
    settings = opts.settings(settings)
    opts.check(settings)
    pipeline = extractor.pipeline if extractor is not None else Pipeline(settings)
    model = extractor.llm.model if extractor is not None else model_name(settings)
    key = result_key(settings, pipeline.prompt_version, model)
    result = DryRun(store=store_path(settings), key=key)
    stats = Progress(phase="planning")
    sampled = calls = overhead = text_chars = 0
    with contextlib.ExitStack() as stack:
        path = store_path(settings)
        db = stack.enter_context(Store(path)) if path.exists() else None
        for chunk in chunks(opts.read(source), CHUNK):
            keys = [i.key for i in chunk if i.article is not None]
            states = db.states(key, keys) if db is not None else {}
            for item in chunk:
                result.records += 1
                if item.article is None:
                    result.input_errors += 1
                    continue
                if not opts.selection.todo(states.get(item.key)):
                    result.cached += 1
                    continue
                if sampled < SAMPLE:
                    try:
                        chars = request_chars(pipeline, item.article)
                    except InputError:
                        result.input_errors += 1
                        continue
                    sampled += 1
                    if chars is not None:
                        calls += 1
                        overhead += chars - len(item.article.text)
                result.todo += 1
                text_chars += len(item.article.text)
            stats.done = result.records
            if opts.progress is not None:
                opts.progress(stats)
    share = calls / sampled if sampled else 0.0
    mean_overhead = overhead / calls if calls else 0.0
    result.requests = round(result.todo * share)
    result.prompt_tokens = round(
        share * (text_chars + result.todo * mean_overhead) / CHARS_PER_TOKEN
    )
    result.completion_tokens_max = result.requests * settings.max_tokens
    result.batch = opts.engine == "batch-api"
    prompt_price, completion_price = (
        settings.batch_prices() if result.batch
        else (settings.price_prompt, settings.price_completion)
    )  # fmt: skip
    if prompt_price is not None or completion_price is not None:
        result.cost_max = (
            result.prompt_tokens * (prompt_price or 0.0)
            + result.completion_tokens_max * (completion_price or 0.0)
        ) / 1e6
    return result
