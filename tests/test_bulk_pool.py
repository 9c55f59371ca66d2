"""Worker processes (issue 16 starts them from a fork server): they exit when the main process
is killed, though the fork server, not the main process, is their OS parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI, serve

ROOT = Path(__file__).resolve().parent.parent
RUN = """
import sys
from pathlib import Path
import healthcoop
from healthcoop.settings import Settings
url, store, archive = sys.argv[1:]
settings = Settings(base_url=url, model="fake", store=Path(store), concurrency=4, processes=2)
healthcoop.annotate(archive, None, settings=settings)
"""


def _children(pid: int) -> set[int]:
    """Every living descendant of `pid` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[0] != "Z":  # a zombie has exited already
                parents[int(entry.name)] = int(stat[1])
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")
def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    app = FakeOpenAI(latency=0.5)
    with serve(app) as url:
        archive = tmp_path / "in.jsonl"
        with open(archive, "w") as f:
            for i in range(400):
                text = f"Chile and Peru agreed on vaccine research, note {i}."
                f.write(json.dumps({"id": str(i), "text": text}) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
        main = subprocess.Popen(
            [sys.executable, "-c", RUN, url, str(tmp_path / "s.sqlite"), str(archive)],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while app.requests < 8:  # both workers are answering
            assert main.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        workers = _children(main.pid)
        assert len(workers) >= 2
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=10)
        deadline = time.monotonic() + 20
        while alive := [p for p in workers if Path(f"/proc/{p}").exists() and _running(p)]:
            assert time.monotonic() < deadline, f"still running: {alive}"
            time.sleep(0.2)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
