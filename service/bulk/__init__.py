"""The bulk door: re-annotating archives, resumable, cached, concurrent and selective.

`runner` runs the two passes (annotate into the store, then write the output in input order),
`unit` is the unit of work (record → row → line), `dryrun` estimates a run, `pool` spreads a
run over worker processes, `store` is the SQLite result store, `archive` reads archives and
`report` draws progress and summaries.

May import `healthcoop.extraction`, `healthcoop.llm`, `healthcoop.core`, `healthcoop.errors`,
`healthcoop.files`, `healthcoop.settings` and `healthcoop.schemas`; never the HTTP service,
the CLI, scoring or analysis.
"""

from __future__ import annotations

from .dryrun import DryRun, plan
from .report import live_progress, plan_report, summary_report
from .runner import Progress, RunOptions, Summary, aannotate, annotate
from .unit import annotate_one

__all__ = [
    "DryRun",
    "Progress",
    "RunOptions",
    "Summary",
    "aannotate",
    "annotate",
    "annotate_one",
    "live_progress",
    "plan",
    "plan_report",
    "summary_report",
]
