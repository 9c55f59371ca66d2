"""Property-based test of `healthcoop extract` on malformed files (issue 17): files whose bytes
are anything (not UTF-8, lone surrogates as JSON escapes or raw, NULs, BOMs, JSON of the wrong
shape), against the fake model server. Properties: no traceback, exit 0 or 1, each file ends
as one record on stdout (UTF-8 JSON, no lone surrogate) or one message on stderr."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from healthcoop.cli import app
from healthcoop.settings import get_settings
from tests.support.fake_openai import FakeOpenAI, serve
from tests.support.fuzz import check_result_lines, examples, file_contents, json_lines

runner = CliRunner()
files = st.lists(
    st.tuples(st.sampled_from([".txt", ".html", ".json", ""]), file_contents),
    min_size=1,
    max_size=3,
)


@pytest.fixture
def endpoint(monkeypatch):
    """The fake server, named by the environment for every example (one extractor serves
    them all, as in one `healthcoop extract` over many files)."""
    with serve(FakeOpenAI()) as url:
        for name, value in {"BASE_URL": url, "MODEL": "fake", "RETRIES": "0",
                            "VALIDATION_RETRIES": "0", "MAX_CHARS": "20000"}.items():  # fmt: skip
            monkeypatch.setenv(f"HEALTHCOOP_{name}", value)
        get_settings.cache_clear()
        yield url


@settings(
    max_examples=examples(100),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    # the environment is the same for every example: a function-scoped fixture is right
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(inputs=files)
def test_extract_prints_one_record_or_one_message_per_file_whatever_it_holds(endpoint, inputs):
    note(f"input: {inputs!r}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n, (suffix, content) in enumerate(inputs):
            path = os.path.join(tmp, f"f{n}{suffix}")
            Path(path).write_bytes(content)
            paths.append(path)
        result = runner.invoke(app, ["extract", "--compact", *paths])
    assert result.exit_code in (0, 1), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    records = json_lines(result.stdout_bytes)
    check_result_lines([{"article_id": r.get("article_id"), "status": "ok", "extraction": r}
                        for r in records])  # fmt: skip
    failures = [line for line in result.stderr.splitlines() if line.startswith(tuple(paths))]
    assert len(records) + len(failures) == len(paths), result.output
    assert result.exit_code == (1 if failures else 0)
