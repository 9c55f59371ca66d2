"""The Ray Data engine (issue 16) on a local Ray instance against the fake server: every record
exactly once, resume after the driver is killed, the selective re-runs, shared rate limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import healthcoop
from healthcoop.bulk.store import Store
from healthcoop.settings import Settings
from tests.support.fake_openai import FakeOpenAI, Fault, serve

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module: starting one costs seconds."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def fake():
    app = FakeOpenAI()
    with serve(app) as url:
        app.url = url
        yield app


def _archive(path: Path, n: int, *, extra: tuple[bytes, ...] = ()) -> Path:
    with open(path, "wb") as f:
        for i in range(n):
            text = f"Chile and Peru agreed on joint vaccine research, statement {i}."
            f.write(json.dumps({"id": f"r{i:03d}", "text": text}).encode() + b"\n")
        for line in extra:
            f.write(line + b"\n")
    return path


def _settings(fake: FakeOpenAI, tmp_path: Path, **overrides) -> Settings:
    values = {"base_url": fake.url, "model": "fake", "store": tmp_path / "store.sqlite",
              "concurrency": 4, "processes": 2, "retries": 0, **overrides}  # fmt: skip
    return Settings(**values)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_every_record_becomes_exactly_one_line_in_input_order(fake, tmp_path):
    twin = json.dumps({"id": "twin", "text": "Chile and Peru agreed on joint vaccine "
                       "research, statement 3."})  # fmt: skip
    archive = _archive(tmp_path / "in.jsonl", 12, extra=(twin.encode(), b"{not json"))
    out = tmp_path / "out.jsonl"
    summary = healthcoop.annotate(archive, out, settings=_settings(fake, tmp_path), engine="ray")
    lines = _lines(out)
    assert [line["article_id"] for line in lines] == [
        *(f"r{i:03d}" for i in range(12)),
        "twin",
        "line 14",
    ]
    assert [line["status"] for line in lines] == ["ok"] * 13 + ["error"]
    assert fake.requests == 12  # the twin's text is asked once and written under both ids
    assert (summary.ok, summary.errors, summary.annotated) == (13, 1, 12)


def test_re_runs_ask_nothing_stored_only_the_errors_or_everything(fake, tmp_path):
    archive, out = _archive(tmp_path / "in.jsonl", 10), tmp_path / "out.jsonl"
    settings = _settings(fake, tmp_path, validation_retries=0)
    fake.script(*[Fault.garbage()] * 3)  # the first three answers never validate
    first = healthcoop.annotate(archive, out, settings=settings, engine="ray")
    assert (first.ok, first.errors, fake.requests) == (7, 3, 10)

    again = healthcoop.annotate(archive, out, settings=settings, engine="ray")
    assert (again.cached, again.annotated, fake.requests) == (10, 0, 10)

    retried = healthcoop.annotate(archive, out, settings=settings, engine="ray", only_errors=True)
    assert (retried.annotated, retried.ok, fake.requests) == (3, 10, 13)

    forced = healthcoop.annotate(archive, out, settings=settings, engine="ray", force=True)
    assert (forced.annotated, fake.requests) == (10, 23)
    assert [line["status"] for line in _lines(out)] == ["ok"] * 10


DRIVER = """
import sys
from pathlib import Path
import healthcoop
from healthcoop.settings import Settings
url, store, archive, out, address = sys.argv[1:]
settings = Settings(base_url=url, model="fake", store=Path(store), concurrency=2, processes=2,
                    retries=0)
healthcoop.annotate(archive, out, settings=settings, engine="ray", ray_address=address)
"""


def test_a_run_whose_driver_is_killed_resumes_and_writes_each_record_once(local_ray, tmp_path):
    app = FakeOpenAI(latency=0.2)
    with serve(app) as url:
        archive, out = _archive(tmp_path / "in.jsonl", 40), tmp_path / "out.jsonl"
        store = tmp_path / "store.sqlite"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, url, str(store), str(archive), str(out), local_ray],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while _stored(store) < 6:
                assert driver.poll() is None, "the driver ended before it could be killed"
                assert time.monotonic() < deadline, "the driver stored nothing in time"
                time.sleep(0.2)
            driver.send_signal(signal.SIGKILL)
        finally:
            driver.wait(timeout=30)
        stored = _stored(store)
        assert 6 <= stored < 40 and not out.exists()

        settings = Settings(base_url=url, model="fake", store=store, concurrency=4, processes=2,
                            retries=0)  # fmt: skip
        summary = healthcoop.annotate(archive, out, settings=settings, engine="ray")
    lines = _lines(out)
    assert [line["article_id"] for line in lines] == [f"r{i:03d}" for i in range(40)]
    assert all(line["status"] == "ok" for line in lines)
    assert summary.cached >= stored and summary.cached + summary.annotated == 40


def _stored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with Store(store) as db:
            return db.count()
    except Exception:  # noqa: BLE001 - the driver may hold a write lock for a moment
        return 0


def test_a_429_with_retry_after_pauses_the_run_once_for_every_worker(fake, tmp_path):
    archive, out = _archive(tmp_path / "in.jsonl", 8), tmp_path / "out.jsonl"
    fake.script(Fault.rate_limit(retry_after=0.5))
    settings = _settings(fake, tmp_path, retries=2)
    summary = healthcoop.annotate(archive, out, settings=settings, engine="ray")
    assert (summary.ok, summary.pauses) == (8, 1)
    assert summary.attempts == 9  # the limited request was asked again
