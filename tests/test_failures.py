"""The failure paths of issue 11 §4: each ends in a clear error, loses nothing, prints no
traceback and exits with the documented code (0 ok, 1 some records failed, 2 the command could
not do its work). Fault servers are named faults of tests/support/fake_openai.py."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

import healthcoop
from healthcoop import archive, bulk
from healthcoop.bulk.store import Store
from healthcoop.cli import app
from healthcoop.errors import BadResponse, ConfigError, ConnectionFailed, redact
from healthcoop.http import create_app
from healthcoop.llm.client import QUOTE_LIMIT, OpenAILLM, upstream_detail
from healthcoop.settings import Settings, get_settings
from tests.support.fake_openai import FakeOpenAI, Fault, free_port, serve

CLI = [sys.executable, "-c", "from healthcoop.cli import main; main()"]
TEXT = "Iran and Oman agreed on health item {i}."
# a fake key, built at run time: no key-shaped literal in the repo
SECRET = "sk-" + "live" + "Q" * 28
runner = CliRunner()


class Answer(BaseModel):
    relevant: bool


@pytest.fixture
def fake():
    app_ = FakeOpenAI(latency=0.01)
    with serve(app_) as url:
        app_.url = url
        yield app_


@pytest.fixture
def env(fake, tmp_path, monkeypatch):
    """The CLI's environment: the fake server, a store in tmp_path, no retries."""
    for name, value in {"BASE_URL": fake.url, "MODEL": "fake", "RETRIES": "0",
                        "VALIDATION_RETRIES": "0", "CONCURRENCY": "2", "API_KEY": SECRET,
                        "STORE": str(tmp_path / "store.sqlite")}.items():  # fmt: skip
        monkeypatch.setenv(f"HEALTHCOOP_{name}", value)
    get_settings.cache_clear()
    return tmp_path / "store.sqlite"


def write_archive(path: Path, n: int, start: int = 0) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(start, start + n):
            f.write(json.dumps({"id": f"r{i}", "text": TEXT.format(i=i)}) + "\n")
    return path


def stored(store: Path) -> int:
    if not store.exists():
        return 0
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def wait_until(condition, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def annotate(*args: str):
    result = runner.invoke(app, ["annotate", *args, "--no-progress"])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


# ---------------------------------------------------------------- two runs on one --out


def test_a_second_run_on_the_same_out_refuses_at_once_naming_the_run_that_holds_it(
    tmp_path, fake, env
):
    src, out = write_archive(tmp_path / "a.jsonl", 40), tmp_path / "out.jsonl"
    cmd = [*CLI, "annotate", str(src), "--out", str(out), "--no-progress"]
    lock = tmp_path / "out.jsonl.lock"

    fake.held.set()  # the first run's requests stay in flight until the second has answered
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: first.poll() is not None or fake.requests > 0, "the first run")
        assert lock.read_text()  # it holds the lock, with its note
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the second run waited for the first instead of refusing"
        asked = fake.requests
    finally:
        fake.held.clear()
        _, first_err = first.communicate(timeout=120)

    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr
    message = second.stderr.strip()
    assert message.startswith("OutputLocked: another run is writing")
    assert f"pid {first.pid} on {socket.gethostname()}, started " in message
    assert first.returncode == 0, first_err
    assert [line["article_id"] for line in lines_of(out)] == [f"r{i}" for i in range(40)]
    assert asked <= 2 and fake.requests == 40  # the refused run asked nothing
    assert not lock.exists() and not list(tmp_path.glob("out.jsonl.partial-*"))


def test_a_lock_left_by_a_killed_run_does_not_block_the_next_one(tmp_path, fake, env):
    src, out = write_archive(tmp_path / "a.jsonl", 150), tmp_path / "out.jsonl"
    cmd = [*CLI, "annotate", str(src), "--out", str(out), "--no-progress"]
    killed = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: killed.poll() is not None or stored(env) >= 10, "answers stored")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    lock = tmp_path / "out.jsonl.lock"
    assert f'"pid": {killed.pid}' in lock.read_text()  # left behind, naming a dead run
    (tmp_path / f"out.jsonl.partial-{killed.pid}").write_text("half a line")  # as a kill leaves

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert len(lines_of(out)) == 150 and not lock.exists()
    assert not list(tmp_path.glob("out.jsonl.partial-*"))  # the dead run's partial is gone


def test_the_lock_is_held_in_process_too_and_released_after_a_failed_run(tmp_path):
    from healthcoop.bulk.lock import output_lock
    from healthcoop.errors import OutputLocked

    out = tmp_path / "out.jsonl"
    with output_lock(out), pytest.raises(OutputLocked, match=f"pid {os.getpid()}"):  # noqa: SIM117
        with output_lock(out):  # a second run in the same process is refused as well
            pass
    with pytest.raises(RuntimeError), output_lock(out):
        raise RuntimeError("the run failed")
    with output_lock(out):  # free again
        pass


def test_an_out_that_is_a_directory_or_the_archive_itself_is_refused_before_asking(
    tmp_path, fake, env
):
    src = write_archive(tmp_path / "a.jsonl", 2)
    before = src.read_bytes()
    (tmp_path / "results").mkdir()
    into_dir = annotate(str(src), "--out", str(tmp_path / "results"))
    assert into_dir.exit_code == 2 and "is a directory; name a file" in into_dir.stderr
    over_input = annotate(str(src), "--out", str(src))
    assert over_input.exit_code == 2 and "is the archive being read" in over_input.stderr
    os.mkfifo(tmp_path / "pipe.jsonl")
    into_pipe = annotate(str(src), "--out", str(tmp_path / "pipe.jsonl"))
    assert into_pipe.exit_code == 2 and "not a regular file" in into_pipe.stderr
    assert src.read_bytes() == before and fake.requests == 0


def test_a_json_archive_holding_an_array_is_refused_with_the_command_that_converts_it(
    tmp_path, fake, env
):
    src = tmp_path / "articles.json"
    src.write_text(json.dumps([{"id": "a", "text": TEXT.format(i=0)}], indent=2))
    result = annotate(str(src), "--out", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 2 and "holds a JSON array" in result.stderr
    assert "jq -c '.[]'" in result.stderr and fake.requests == 0


# ---------------------------------------------------------------- directories


def article_dir(root: Path) -> Path:
    (root / "locked").mkdir(parents=True)
    (root / "a.txt").write_text(TEXT.format(i=1))
    (root / "locked" / "b.txt").write_text(TEXT.format(i=2))
    (root / "z.txt").write_text(TEXT.format(i=3))
    return root


def test_an_unreadable_subdirectory_is_one_error_record_and_the_rest_is_annotated(
    tmp_path, env, monkeypatch
):
    root = article_dir(tmp_path / "archive")
    real_scandir = os.scandir

    def scandir(path):  # the tests run as root, whom chmod does not stop: refuse as EACCES
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(archive.os, "scandir", scandir)
    out = tmp_path / "out.jsonl"
    result = annotate(str(root), "--out", str(out))
    assert result.exit_code == 1, result.output
    lines = lines_of(out)
    assert [(x["article_id"], x["status"]) for x in lines] == [
        ("a", "ok"), ("locked", "error"), ("z", "ok")
    ]  # fmt: skip
    assert (
        "locked: the directory cannot be read (Permission denied)" in (lines[1]["error"]["message"])
    )


def test_the_archive_directory_itself_unreadable_is_a_usage_error(tmp_path, env, monkeypatch):
    root = article_dir(tmp_path / "archive")
    monkeypatch.setattr(archive.os, "scandir", lambda path: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied", str(path))))  # fmt: skip
    result = annotate(str(root), "--out", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 2 and "InputError" in result.stderr
    assert "cannot be read: Permission denied" in result.stderr


def test_a_fifo_in_an_archive_directory_is_an_error_record_and_never_hangs_the_run(tmp_path, env):
    root = article_dir(tmp_path / "archive")
    os.mkfifo(root / "stuck.txt")  # nobody ever writes to it
    out = tmp_path / "out.jsonl"
    done = subprocess.run([*CLI, "annotate", str(root), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = lines_of(out)
    assert [(x["article_id"], x["status"]) for x in lines] == [
        ("a", "ok"), ("locked/b", "ok"), ("stuck", "error"), ("z", "ok")
    ]  # fmt: skip
    assert "not a regular file" in lines[2]["error"]["message"]


# ---------------------------------------------------------------- a full disk


def test_a_full_disk_for_out_keeps_the_old_output_and_every_answer_and_exits_2(
    tmp_path, fake, env, monkeypatch
):
    src, out = write_archive(tmp_path / "a.jsonl", 3), tmp_path / "out.jsonl"
    assert annotate(str(src), "--out", str(out)).exit_code == 0
    before = out.read_bytes()
    write_archive(src, 4)  # one record more

    from healthcoop.bulk import runner as bulk_runner

    with monkeypatch.context() as patch:
        # every write goes to /dev/full: the kernel answers ENOSPC, as a full disk does
        patch.setattr(bulk_runner, "open_write",
                      lambda path, gz=None: open("/dev/full", "w", encoding="utf-8"))  # noqa: SIM115  # fmt: skip
        result = annotate(str(src), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"StorageError: cannot write {out}: No space left on device")
    assert "left as it was" in result.stderr
    assert out.read_bytes() == before  # the old output is intact
    assert stored(env) == 4  # the new answer is kept
    assert not list(tmp_path.glob("out.jsonl.*"))  # no partial file, no lock left behind

    assert annotate(str(src), "--out", str(out)).exit_code == 0
    assert len(lines_of(out)) == 4 and fake.requests == 4  # written from the store


def test_a_full_disk_for_the_store_keeps_what_it_held_and_exits_2(tmp_path, fake, env, monkeypatch):
    src, out = write_archive(tmp_path / "a.jsonl", 3), tmp_path / "out.jsonl"
    assert annotate(str(src), "--out", str(out)).exit_code == 0
    before = out.read_bytes()
    write_archive(src, 60)

    real_init = Store.__init__

    def full_store(self, path):
        real_init(self, path)
        # SQLite's own "database or disk is full": the file may not grow by a page
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count={pages}")

    monkeypatch.setattr(Store, "__init__", full_store)
    result = annotate(str(src), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"StorageError: cannot write to the result store {env}")
    assert "database or disk is full" in result.stderr
    assert "answers stored before are kept" in result.stderr
    assert stored(env) >= 3 and out.read_bytes() == before

    monkeypatch.setattr(Store, "__init__", real_init)
    assert annotate(str(src), "--out", str(out)).exit_code == 0
    assert [x["article_id"] for x in lines_of(out)] == [f"r{i}" for i in range(60)]


# ---------------------------------------------------------------- garbage answers, counts


def run_settings(tmp_path: Path, url: str, **overrides) -> Settings:
    base = {"base_url": url, "model": "fake", "timeout": 5, "retries": 0, "validation_retries": 0,
            "store": tmp_path / "store.sqlite", "concurrency": 1}  # fmt: skip
    return Settings(**{**base, **overrides})


@pytest.mark.parametrize("fault", [Fault.html_page, Fault.malformed_json, Fault.no_choices])
def test_a_200_that_is_not_a_completion_is_retryable_and_a_plain_rerun_retries_it(
    tmp_path, fake, fault
):
    src, out = write_archive(tmp_path / "a.jsonl", 2), tmp_path / "out.jsonl"
    settings = run_settings(tmp_path, fake.url)
    fake.script(fault())
    first = healthcoop.annotate(src, out, settings=settings)
    lines = lines_of(out)
    assert [x["status"] for x in lines] == ["error", "ok"]
    error = lines[0]["error"]
    assert (error["type"], error["kind"], error["retryable"]) == ("llm_error", "bad_response", True)
    assert "answered HTTP 200 with no usable completion" in error["message"]
    assert first.error_types == {"llm_error": 1}

    again = healthcoop.annotate(src, out, settings=settings)  # a plain re-run
    assert [x["status"] for x in lines_of(out)] == ["ok", "ok"]
    assert (again.annotated, fake.requests) == (1, 3)


def test_the_summary_counts_every_request_of_server_failures(tmp_path, fake):
    src, out = write_archive(tmp_path / "a.jsonl", 2), tmp_path / "out.jsonl"
    fake.script(*[Fault.server_error()] * 3)
    summary = healthcoop.annotate(src, out, settings=run_settings(tmp_path, fake.url, retries=2))
    assert [x["status"] for x in lines_of(out)] == ["error", "ok"]
    assert summary.attempts == fake.requests == 4
    assert "4 requests" in bulk.summary_report(summary)


def test_the_summary_counts_every_request_of_connection_failures(tmp_path):
    src, out = write_archive(tmp_path / "a.jsonl", 2), tmp_path / "out.jsonl"
    settings = run_settings(tmp_path, f"http://127.0.0.1:{free_port()}/v1", retries=1)
    summary = healthcoop.annotate(src, out, settings=settings)
    assert {x["error"]["kind"] for x in lines_of(out)} == {"connection"}
    assert summary.attempts == 4  # two records, each asked twice
    assert "4 requests" in bulk.summary_report(summary)


def test_a_connection_cut_mid_answer_is_not_reported_as_refused(fake):
    fake.script(Fault.cut_short())
    llm = OpenAILLM(run_settings(Path("."), fake.url))
    with pytest.raises(ConnectionFailed) as err:
        llm.complete([{"role": "user", "content": "x"}], Answer)
    assert "closed the connection before a whole answer arrived" in err.value.message
    assert "refused" not in err.value.message and err.value.retryable

    refused = OpenAILLM(run_settings(Path("."), f"http://127.0.0.1:{free_port()}/v1"))
    with pytest.raises(ConnectionFailed, match="refused the connection"):
        refused.complete([{"role": "user", "content": "x"}], Answer)


def test_bad_response_is_retried_within_a_call_like_a_server_error(fake):
    fake.script(Fault.html_page(), Fault.no_choices())
    llm = OpenAILLM(run_settings(Path("."), fake.url, retries=2))
    done = llm.complete([{"role": "user", "content": "x"}], Answer)
    assert done.attempts == 3 and fake.requests == 3
    fake.script(*[Fault.malformed_json()] * 2)
    with pytest.raises(BadResponse) as err:
        OpenAILLM(run_settings(Path("."), fake.url, retries=1)).complete(
            [{"role": "user", "content": "x"}], Answer
        )
    assert err.value.attempts == 2


# ---------------------------------------------------------------- CLI extract


@pytest.fixture
def texts(tmp_path) -> tuple[Path, Path]:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(TEXT.format(i=1))
    second.write_text(TEXT.format(i=2))
    return first, second


def extract(*paths: Path | str):
    result = runner.invoke(app, ["extract", "--compact", *map(str, paths)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_extract_exits_2_on_rejected_credentials_and_stops(env, fake, texts):
    fake.script(Fault.unauthorized())
    result = extract(*texts)
    assert result.exit_code == 2
    assert result.stderr.startswith("AuthRejected:") and "HEALTHCOOP_API_KEY" in result.stderr
    assert result.stdout == "" and fake.requests == 1  # the second file was not tried


def test_extract_on_a_directory_says_it_is_one_and_goes_on(env, texts, tmp_path):
    (tmp_path / "folder").mkdir()
    result = extract(tmp_path / "folder", texts[0])
    assert result.exit_code == 1
    assert "folder is a directory" in result.stderr and "no such file" not in result.stderr
    assert json.loads(result.stdout)["article_id"] == "first"


def test_extract_on_an_unreadable_file_is_an_input_error_and_the_next_file_is_read(
    env, texts, monkeypatch
):
    real = Path.read_bytes

    def read_bytes(self):  # the tests run as root, whom chmod does not stop
        if self.name == "first.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = extract(*texts)
    assert result.exit_code == 1
    assert "first.txt: InputError:" in result.stderr and "Permission denied" in result.stderr
    assert json.loads(result.stdout)["article_id"] == "second"


def test_extract_of_a_json_file_holding_an_array_is_an_input_error(env, texts, tmp_path):
    array = tmp_path / "many.json"
    array.write_text(json.dumps([{"text": TEXT.format(i=0)}]))
    result = extract(array, texts[1])
    assert result.exit_code == 1
    assert "many.json: InputError:" in result.stderr and "healthcoop annotate" in result.stderr
    assert json.loads(result.stdout)["article_id"] == "second"


# ---------------------------------------------------------------- the service token


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_service_token_refuses_to_start(token):
    with pytest.raises(ConfigError, match="HEALTHCOOP_SERVICE_TOKEN is set but empty"):
        create_app(Settings(service_token=token), llm=object())


def test_healthcoop_serve_with_an_empty_token_exits_2_with_the_reason(fake):
    environ = {**os.environ, "HEALTHCOOP_SERVICE_TOKEN": "", "HEALTHCOOP_BASE_URL": fake.url}
    done = subprocess.run([*CLI, "serve", "--port", str(free_port())], capture_output=True,
                          text=True, timeout=60, env=environ)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("ConfigError: HEALTHCOOP_SERVICE_TOKEN is set but empty")
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- secrets in upstream errors


def test_an_upstream_echoing_the_key_leaks_it_nowhere(tmp_path, fake):
    src, out = write_archive(tmp_path / "a.jsonl", 1), tmp_path / "out.jsonl"
    fake.script(Fault.echo_credentials())
    settings = run_settings(tmp_path, fake.url, api_key=SECRET)
    healthcoop.annotate(src, out, settings=settings)
    (line,) = lines_of(out)
    message = line["error"]["message"]
    assert "upstream failure" in message and "[redacted]" in message
    assert SECRET not in out.read_text() and SECRET[3:20] not in out.read_text()
    db = sqlite3.connect(tmp_path / "store.sqlite")
    stored_text = " ".join(
        f"{a} {b}" for a, b in db.execute("SELECT article_id, body FROM results")
    )
    db.close()
    assert "[redacted]" in stored_text and SECRET not in stored_text
    quoted = message.split("HTTP 500: ", 1)[1]
    assert len(quoted) <= QUOTE_LIMIT


def test_an_upstream_echoing_the_key_leaks_it_not_to_service_clients(fake):
    settings = run_settings(Path("."), fake.url, api_key=SECRET)
    fake.script(Fault.echo_credentials())

    async def call() -> httpx2.Response:
        application = create_app(settings, llm=OpenAILLM(settings))
        transport = httpx2.ASGITransport(app=application)
        async with httpx2.AsyncClient(transport=transport, base_url="http://service") as client:
            text = "Iran and Qatar signed a memorandum on health cooperation in Doha."
            return await client.post("/v1/extract", json={"text": text})

    response = asyncio.run(call())
    assert response.status_code == 502 and "[redacted]" in response.text
    assert SECRET not in response.text


def test_redact_removes_the_configured_key_and_anything_shaped_like_a_credential():
    bearer = "Bearer " + "abc123" * 5
    text = (f"key {SECRET} header {bearer} api_key=hunter2hunter2 "
            f"token: 'tok-{'z' * 16}' and mine {'custom-secret-value'}")  # fmt: skip
    cleaned = redact(text, "custom-secret-value")
    for leaked in (SECRET, "abc123abc123", "hunter2", "z" * 16, "custom-secret-value"):
        assert leaked not in cleaned
    assert cleaned.count("[redacted]") >= 5


def test_upstream_detail_quotes_only_the_json_error_message_briefly():
    long = {"error": {"message": "model overloaded " + "x" * 500, "trace": "secret internals"}}
    detail = upstream_detail(httpx2.Response(500, json=long))
    assert detail.startswith("model overloaded") and len(detail) <= QUOTE_LIMIT
    assert "internals" not in detail
    page = "<html><body>" + "Gateway error " * 100 + "</body></html>"
    assert re.fullmatch(r"an HTML page of [\d,]+ characters", upstream_detail(
        httpx2.Response(502, text=page)))  # fmt: skip


def test_a_fifo_given_as_the_archive_or_to_extract_is_refused_without_reading_it(tmp_path, env):
    fifo = tmp_path / "stream.jsonl"
    os.mkfifo(fifo)  # nobody writes to it: reading would block forever
    result = annotate(str(fifo), "--out", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 2 and "not a regular file or a directory" in result.stderr
    extracted = extract(fifo)
    assert extracted.exit_code == 1 and "is not a regular file" in extracted.stderr
