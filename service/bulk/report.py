"""What `healthcoop annotate` shows: a live progress bar on stderr and the closing summary."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from .dryrun import DryRun
from .runner import Progress, ProgressFn, Summary


@contextlib.contextmanager
def live_progress(*, enabled: bool = True) -> Iterator[ProgressFn | None]:
    """A progress callback drawing done/total, rate, ETA, errors and tokens (on a terminal)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as Bar,
    )

    bar = Bar(
        TextColumn("{task.description:<10}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f}/s"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("[red]{task.fields[errors]} errors[/red]"),
        TextColumn("{task.fields[tokens]:,} tokens"),
        console=Console(stderr=True),
        refresh_per_second=4,
    )
    task = bar.add_task("annotating", total=None, rate=0.0, errors=0, tokens=0)

    def report(p: Progress) -> None:
        done = p.written if p.phase == "writing" else p.done
        rate = (p.annotated if p.phase == "annotating" else done) / max(p.elapsed, 1e-9)
        bar.update(
            task,
            description=p.phase,
            total=p.total,
            completed=done,
            rate=rate,
            errors=p.errors,
            tokens=p.tokens,
        )

    with bar:
        yield report


def summary_report(s: Summary) -> str:
    lines = [
        f"{s.records:,} records → {s.out}: {s.ok:,} ok, {s.errors:,} errors"
        + (f" ({_counts(s.error_types)})" if s.error_types else ""),
        f"{s.annotated:,} annotated now, {s.cached:,} from the store ({s.store})",
        f"tokens: {s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion; "
        f"{s.attempts:,} requests; {s.pauses:,} rate-limit pauses; {s.elapsed:.1f} s",
    ]
    if s.key is not None:
        lines.append(
            f"model {s.key.model}, prompt {s.key.prompt_version}, schema {s.key.schema_version}"
        )
    if s.errors:
        lines.append("retry the failures with: --only-errors")
    return "\n".join(lines)


def plan_report(p: DryRun) -> str:
    lines = [
        f"{p.records:,} records: {p.todo:,} to annotate, {p.cached:,} in the store, "
        f"{p.input_errors:,} unusable as input",
        f"requests: ≈{p.requests:,} (the rest are decided without the model)",
        f"tokens: ≈{p.prompt_tokens:,} prompt, ≤{p.completion_tokens_max:,} completion "
        "(max_tokens for each)",
    ]
    if p.cost_max is not None:
        prices = "Batch API prices: HEALTHCOOP_BATCH_PRICE_*, or half of HEALTHCOOP_PRICE_*"
        per = prices if p.batch else "HEALTHCOOP_PRICE_* per million tokens"
        lines.append(f"cost: ≤ ${p.cost_max:,.2f} (at {per})")
    else:
        lines.append(
            "cost: set HEALTHCOOP_PRICE_PROMPT and HEALTHCOOP_PRICE_COMPLETION (USD per "
            "million tokens) for an estimate"
        )
    if p.key is not None:
        lines.append(f"model {p.key.model}, prompt {p.key.prompt_version}, store {p.store}")
    return "\n".join(lines)


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {name}" for name, n in sorted(counter.items(), key=lambda kv: -kv[1]))
