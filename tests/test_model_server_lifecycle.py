"""Issue 18: a healthcoop process that started the embedded model server never leaves it
running, however it is stopped.

Each command runs as a real subprocess (`tests/support/standin_healthcoop.py`: the product's
CLI with only the server's command line swapped for a stand-in server that needs no compile
and no weights). Once the command is busy (an article in flight, or the service up), the test
sends SIGTERM, SIGINT to the process alone (started with SIGINT ignored, as `cmd &` in a
script does), SIGINT to its process group (Ctrl-C at a terminal) or SIGKILL, and asserts that
every process it started is gone within a few seconds and the model server's port is free.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from healthcoop.llm import child
from tests.support.fake_openai import free_port
from tests.support.procs import alive, descendants, port_free, wait_gone

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's"
)

SUPPORT = Path(__file__).parent / "support"
LAUNCHER = SUPPORT / "standin_healthcoop.py"
# a synthetic article that passes the health gate, so its extraction asks the model
ARTICLE = {
    "id": "a1",
    "text": "The health ministers of Iran and Russia met in Geneva on Sunday and agreed to "
    "draft a memorandum of understanding on medical cooperation and vaccine supplies.",
    "published": "2025-05-20",
}
STOPPED_WITHIN = 10.0  # seconds: the grace period (3 s) and a loaded CI machine's slack


def _command(name: str, tmp: Path) -> tuple[list[str], str]:
    """The healthcoop arguments for `name`, and what 'busy' means for it."""
    archive = tmp / "archive.jsonl"
    archive.write_text(json.dumps(ARTICLE) + "\n")
    article = tmp / "a1.txt"
    article.write_text(ARTICLE["text"])
    gold = tmp / "gold.jsonl"
    gold.write_text(json.dumps({"id": "a1", "relevant": True}) + "\n")
    out = str(tmp / "out.jsonl")
    port = str(free_port())
    return {
        "extract": (["extract", str(article)], "request"),
        "serve": (["serve", "--port", port, "--log-level", "warning"], f"service:{port}"),
        "serve --workers 2": (
            ["serve", "--port", port, "--log-level", "warning", "--workers", "2"],
            f"service:{port}",
        ),
        "serve-model": (["serve-model", "--port", port], "server"),
        "annotate": (["annotate", str(archive), "--out", out, "--no-progress"], "request"),
        "annotate --processes 2": (
            ["annotate", str(archive), "--out", out, "--no-progress", "--processes", "2"],
            "request",
        ),
        "eval --articles": (["eval", "--gold", str(gold), "--articles", str(archive)], "request"),
    }[name]


def _wait(condition, what: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the command exited ({proc.returncode}) before {what}:\n{out}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _service_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _start(name: str, tmp: Path, *, ignore_sigint: bool = False, ignore_term: bool = False):
    args, busy = _command(name, tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
    env.update(STANDIN_STATE_DIR=str(tmp), HEALTHCOOP_CACHE_DIR=str(tmp / "cache"))
    if ignore_term:
        env["STANDIN_IGNORE_TERM"] = "1"

    def pre_exec() -> None:
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, str(LAUNCHER), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, like a job at a terminal
        preexec_fn=pre_exec,  # noqa: PLW1509
    )
    pid_file = tmp / "standin.pid"
    _wait(pid_file.exists, "the model server started", proc)
    _wait(lambda: (tmp / "standin.port").exists(), "the model server listened", proc)
    if busy == "request":
        _wait((tmp / "standin.busy").exists, "an article reached the model", proc)
    elif busy.startswith("service:"):
        port = int(busy.split(":")[1])
        _wait(lambda: _service_up(port), "the service listened", proc)
    server = int(pid_file.read_text())
    return proc, server, int((tmp / "standin.port").read_text())


def _stop_and_check(proc: subprocess.Popen, server: int, port: int, how: str) -> str:
    family = descendants(proc.pid)
    assert server in family
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    elif how == "SIGINT":
        proc.send_signal(signal.SIGINT)
    elif how == "SIGINT to the group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGKILL)
    try:
        out, _ = proc.communicate(timeout=STOPPED_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the command did not exit within {STOPPED_WITHIN} s of {how}:\n{out}")
    left = wait_gone(family, port, STOPPED_WITHIN)
    if left - {-1}:
        for p in left - {-1}:
            os.kill(p, signal.SIGKILL)
        pytest.fail(f"processes {sorted(left - {-1})} outlived the command after {how}:\n{out}")
    if left:
        held = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
        pytest.fail(f"the model server's port {port} is still taken after {how}:\n{held}")
    return out


COMMANDS = ["extract", "serve", "serve --workers 2", "serve-model", "annotate",
            "annotate --processes 2", "eval --articles"]  # fmt: skip
EXIT_CODES = {"SIGTERM": 128 + 15, "SIGINT": 130, "SIGINT to the group": 130, "SIGKILL": -9}


@pytest.mark.parametrize("how", list(EXIT_CODES))
@pytest.mark.parametrize("name", COMMANDS)
def test_a_stopped_command_takes_its_model_server_down(name, how, tmp_path):
    # SIGINT "to the process alone": as a background job of a script, started with it ignored
    proc, server, port = _start(name, tmp_path, ignore_sigint=how == "SIGINT")
    out = _stop_and_check(proc, server, port, how)
    # the service ends a SIGINT or SIGTERM with a graceful shutdown and exits 0, as uvicorn does
    graceful = name.split()[0] == "serve" and how != "SIGKILL"
    assert proc.returncode == (0 if graceful else EXIT_CODES[how]), out
    assert "Traceback" not in out, out


@pytest.mark.parametrize("name", ["serve-model", "annotate"])
def test_a_server_that_ignores_sigterm_is_killed_after_the_grace_period(name, tmp_path):
    proc, server, port = _start(name, tmp_path, ignore_term=True)
    started = time.monotonic()
    _stop_and_check(proc, server, port, "SIGTERM")
    assert time.monotonic() - started >= child.STOP_GRACE * 0.9  # it was asked politely first
    assert proc.returncode == 143


@pytest.mark.parametrize("article", ["not about health", "missing"])
def test_a_command_that_ends_by_itself_stops_its_model_server(article, tmp_path):
    # extract starts the server up front; an article the health gate answers without the
    # model (exit 0), or a file that is not there (an error, exit 1), ends the command
    path = tmp_path / "b.txt"
    if article != "missing":
        path.write_text("The city council approved a new football stadium on Tuesday.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
    env.update(STANDIN_STATE_DIR=str(tmp_path), HEALTHCOOP_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), "extract", str(path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == (0 if article != "missing" else 1), done.stderr
    server = int((tmp_path / "standin.pid").read_text())
    port = int((tmp_path / "standin.port").read_text())
    assert not alive(server), "the model server outlived a command that ended by itself"
    assert port_free(port)


def test_a_server_started_from_a_short_lived_thread_outlives_the_thread(tmp_path):
    # PR_SET_PDEATHSIG follows the forking *thread*: a server forked from asyncio.to_thread's
    # or a user's worker thread would die when that thread ends, under a live process
    started: list[subprocess.Popen] = []
    t = threading.Thread(
        target=lambda: started.append(
            child.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
        )
    )
    t.start()
    t.join()
    proc = started[0]
    try:
        time.sleep(0.5)
        assert proc.poll() is None, "the server died with the thread that started it"
    finally:
        assert child.stop(proc) is not None
    assert proc.poll() is not None


def test_stop_asks_politely_then_kills_within_the_grace_period():
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = child.spawn([sys.executable, "-c", stubborn], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    started = time.monotonic()
    assert child.stop(proc, grace=0.5) == -signal.SIGKILL
    assert 0.4 <= time.monotonic() - started < 5


def test_serve_with_two_workers_answers_from_both_on_one_port(tmp_path):
    # the workers share the port through SO_REUSEPORT: each connection lands on one of them,
    # and every answer is the service's; a SIGTERM stops them all
    from tests.support.fake_openai import FakeOpenAI, serve

    port = free_port()
    with serve(FakeOpenAI(arguments={"relevant": False})) as base_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
        env.update(HEALTHCOOP_BASE_URL=base_url, HEALTHCOOP_MODEL="fake",
                   HEALTHCOOP_CACHE_DIR=str(tmp_path / "cache"))  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "serve", "--port", str(port), "--workers", "2",
             "--log-level", "warning"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait(lambda: _service_up(port), "the service listened", proc)
            workers = {p for p in descendants(proc.pid) if alive(p)}
            deadline = time.monotonic() + 30
            served: set[int] = set()
            while len(served) < 2 and time.monotonic() < deadline:
                # a fresh connection each time; which worker took it shows in /proc
                with socket.create_connection(("127.0.0.1", port)) as s:
                    local = s.getsockname()[1]
                    taken = time.monotonic() + 5
                    holder = set()
                    while not holder and time.monotonic() < taken:
                        holder = {w for w in workers if _holds_peer(w, local)}
                    served |= holder
                    body = json.dumps(ARTICLE).encode()
                    s.sendall(b"POST /v1/extract HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              b"application/json\r\nConnection: close\r\nContent-Length: "
                              + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip
                    answer = b""
                    while chunk := s.recv(65536):
                        answer += chunk
                assert holder, "no worker accepted the connection"
                assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
                assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["relevant"] is False
            assert len(served) == 2, "one worker took every connection"
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=STOPPED_WITHIN)
        assert proc.returncode == 0, out
        assert not wait_gone(workers, port, STOPPED_WITHIN)


def _holds_peer(pid: int, peer_port: int) -> bool:
    """Whether process `pid` has a TCP socket connected to local port `peer_port` (the
    client's side of a connection it accepted), from /proc/<pid>/net/tcp and its fds."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        rows = open(f"/proc/{pid}/net/tcp").read().splitlines()[1:]  # noqa: SIM115
    except (FileNotFoundError, PermissionError):
        return False
    for row in rows:
        fields = row.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == peer_port and fields[9] in inodes:
            return True
    return False


def test_a_python_program_that_dies_of_an_exception_stops_its_model_server(tmp_path):
    # the Python API starts the server on first use; an uncaught exception ends the program
    program = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import standin_healthcoop, healthcoop\n"
        "healthcoop.extractor()\n"
        "raise RuntimeError('the analyst script failed')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
    env.update(STANDIN_STATE_DIR=str(tmp_path), HEALTHCOOP_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", program, str(SUPPORT)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and "the analyst script failed" in done.stderr, done.stderr
    server = int((tmp_path / "standin.pid").read_text())
    port = int((tmp_path / "standin.port").read_text())
    assert not wait_gone([server], port, STOPPED_WITHIN)
