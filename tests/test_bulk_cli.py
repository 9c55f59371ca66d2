"""`healthcoop annotate` as a process: killed with SIGKILL mid-run, run again, every record once."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthcoop.cli import app
from tests.support.fake_openai import FakeOpenAI, serve

CLI = [sys.executable, "-c", "from healthcoop.cli import main; main()"]


@pytest.fixture
def fake():
    app_ = FakeOpenAI(latency=0.02)
    with serve(app_) as url:
        app_.url = url
        yield app_


@pytest.fixture
def env(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHCOOP_BASE_URL", fake.url)
    monkeypatch.setenv("HEALTHCOOP_MODEL", "fake")
    monkeypatch.setenv("HEALTHCOOP_STORE", str(tmp_path / "store.sqlite"))
    monkeypatch.setenv("HEALTHCOOP_CONCURRENCY", "4")
    from healthcoop.settings import get_settings

    get_settings.cache_clear()


def archive(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(
                json.dumps({"id": f"r{i}", "text": f"Iran and Oman agreed on health item {i}."})
            )
            f.write("\n")
    return path


def stored(store: Path) -> int:
    if not store.exists():
        return 0
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0
    finally:
        db.close()


def wait_until(condition, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def test_a_run_killed_with_sigkill_resumes_and_writes_every_record_exactly_once(
    tmp_path, fake, env
):
    src, out, store = (
        archive(tmp_path / "a.jsonl", 400),
        tmp_path / "out.jsonl",
        tmp_path / "store.sqlite",
    )
    cmd = [*CLI, "annotate", str(src), "--out", str(out), "--no-progress"]

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: stored(store) >= 40 or proc.poll() is not None, "answers in the store")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    kept = stored(store)
    assert 40 <= kept < 400
    assert not out.exists()

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    annotated = int(re.search(r"([\d,]+) annotated now", again.stderr).group(1).replace(",", ""))
    assert annotated == 400 - kept  # nothing stored was asked again

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["article_id"] for line in lines] == [f"r{i}" for i in range(400)]
    assert {line["status"] for line in lines} == {"ok"}
    assert stored(store) == 400


def test_annotate_exits_1_when_some_records_failed_and_2_on_usage_errors(tmp_path, env):
    src = tmp_path / "a.jsonl"
    src.write_text('{"id": "ok", "text": "Iran and Oman met."}\n{"id": "bad"}\n')
    runner = CliRunner()
    result = runner.invoke(app, ["annotate", str(src), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1, result.output
    assert "1 ok, 1 errors" in result.output

    both = runner.invoke(app, ["annotate", str(src), "-o", "x.jsonl", "--force", "--only-errors"])
    assert both.exit_code == 2 and "ConfigError" in both.output
    missing = runner.invoke(app, ["annotate", str(src)])
    assert missing.exit_code == 2 and "--out" in missing.output


def test_dry_run_prints_counts_tokens_and_cost_and_asks_nothing(tmp_path, fake, env, monkeypatch):
    monkeypatch.setenv("HEALTHCOOP_PRICE_PROMPT", "0.5")
    monkeypatch.setenv("HEALTHCOOP_PRICE_COMPLETION", "1.5")
    from healthcoop.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(
        app, ["annotate", str(archive(tmp_path / "a.jsonl", 3)), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "3 records: 3 to annotate" in result.output
    assert "cost: ≤ $" in result.output
    assert fake.requests == 0


def test_diff_command_prints_the_per_field_report(tmp_path):
    def line(i: int, areas: list[str]) -> str:
        extraction = {"article_id": f"r{i}", "relevant": True, "areas": areas}
        return json.dumps({"article_id": f"r{i}", "status": "ok", "extraction": extraction})

    (tmp_path / "old.jsonl").write_text(line(1, ["vaccines"]) + "\n" + line(2, []) + "\n")
    (tmp_path / "new.jsonl").write_text(line(1, ["vaccines", "research"]) + "\n")
    result = CliRunner().invoke(
        app, ["diff", str(tmp_path / "old.jsonl"), str(tmp_path / "new.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert "1 changed" in result.output and "1 dropped" in result.output
    assert "+research 1" in result.output
