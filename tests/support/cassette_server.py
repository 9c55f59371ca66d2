"""Door cassettes: recorded traffic of the real embedded model server, replayed over HTTP.

A door (the Python API, CLI `extract`, `serve`, `annotate` in-process and with worker
processes) is run on the embedded default: no endpoint set, so the door starts "the embedded
model" through `llm.embedded.running`, exactly as for a user. Only that start is replaced: it
yields settings pointing at a `CassetteServer`, a local HTTP server that

- when replaying (the default, and in CI), answers each request from the cassette file with
  vcrpy's `record_mode="none"`, matched on method, path and body: a door whose request
  differs from the recorded one gets no answer, and the test fails naming the difference;
- when recording (`HEALTHCOOP_RECORD=1`), forwards each request to a real embedded model
  server and appends the exchange to the cassette. The server is the one `embedded.running`
  starts (needs the `embedded` extra), or an already running one given by
  `HEALTHCOOP_RECORD_URL` (e.g. `healthcoop serve-model --port 8080`, same command line).

Because the server sits on the wire, worker processes and in-process doors are recorded
alike, after the llama.cpp dialect has rewritten the request. What is stored: the request with
each user message (the article text) replaced by its sha256 and length, so no article text is
copied into the project, and no headers but the content type; the response as the server
sent it. Re-record all door cassettes with:

    HEALTHCOOP_RECORD=1 .venv/bin/python -m pytest tests/test_doors.py
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from vcr import matchers
from vcr.cassette import Cassette
from vcr.errors import UnhandledHTTPRequestError
from vcr.record_mode import RecordMode
from vcr.request import Request as VcrRequest

from tests.support.fake_openai import free_port, read_body

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
RECORDING = os.environ.get("HEALTHCOOP_RECORD") == "1"
RECORD_URL = os.environ.get("HEALTHCOOP_RECORD_URL")
MATCH_ON = (matchers.method, matchers.path, matchers.body)
_DIGEST = "<user message: sha256 "


def scrub(body: bytes) -> bytes:
    """The request body with each user message replaced by its digest: what is stored and
    what is matched (the rest of the request, system prompt and answer schema included, is
    kept as sent)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    for message in data.get("messages", []) if isinstance(data, dict) else []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = str(message.get("content", ""))
            if content.startswith(_DIGEST):
                continue  # scrubbed already: scrubbing twice changes nothing
            digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
            message["content"] = f"{_DIGEST}{digest}, {len(content)} characters>"
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")


class CassetteServer:
    """An OpenAI-compatible endpoint answering from (or recording into) one cassette file."""

    def __init__(self, path: Path, *, upstream: str | None = None) -> None:
        self.path = path
        self.upstream = upstream  # a real server's base URL: record; None: replay
        self.recording = upstream is not None
        if upstream is not None:
            path.unlink(missing_ok=True)  # record afresh, never beside an old recording
        mode = RecordMode.ALL if upstream is not None else RecordMode.NONE
        self.cassette = Cassette.load(path=str(path), record_mode=mode, match_on=MATCH_ON)
        self.unmatched: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        self.url = ""

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        path = scope["path"]
        if scope["method"] == "GET" and path.endswith("/models"):
            await _send(send, 200, json.dumps({"object": "list", "data": [{"id": "cassette"}]}))
            return
        status, headers, answer = await self._answer(scope["method"], path, body)
        await _send(send, status, answer, headers)

    async def _answer(self, method: str, path: str, body: bytes) -> tuple[int, list, bytes]:
        request = VcrRequest(
            method, f"http://cassette{path}", scrub(body), {"content-type": "application/json"}
        )
        with self._lock:
            self.requests += 1
        if self.upstream is not None:
            return await self._record(request, method, path, body)
        try:
            with self._lock:
                response = self.cassette.play_response(request)
        except UnhandledHTTPRequestError:
            with self._lock:
                self.unmatched.append(f"{method} {path}: {scrub(body)[:300]!r}…")
            error = {"error": {"message": "no recorded answer for this request (cassette)"}}
            return 599, [], json.dumps(error).encode()
        headers = [(k, v) for k, values in response["headers"].items() for v in values]
        raw = response["body"]["string"]
        return response["status"]["code"], headers, raw.encode() if isinstance(raw, str) else raw

    async def _record(self, request: VcrRequest, method: str, path: str,
                      body: bytes) -> tuple[int, list, bytes]:  # fmt: skip
        url = self.upstream.rstrip("/") + path.removeprefix("/v1")
        async with httpx2.AsyncClient(timeout=1800) as client:
            answer = await client.request(
                method, url, content=body, headers={"content-type": "application/json"}
            )
        content_type = answer.headers.get("content-type", "application/json")
        response = {
            "status": {"code": answer.status_code, "message": answer.reason_phrase},
            "headers": {"content-type": [content_type]},
            "body": {"string": answer.content.decode("utf-8")},
        }
        with self._lock:
            self.cassette.append(request, response)
        return answer.status_code, [("content-type", content_type)], answer.content

    def replay_what_was_answered(self) -> None:
        """From now on answer only from the recording (what was just recorded included), as
        often as asked: a second client then gets exactly the answers the first one got."""
        self.upstream = None
        self.cassette.allow_playback_repeats = True

    # ------------------------------------------------------------ lifetime

    @contextlib.contextmanager
    def running(self) -> Iterator[CassetteServer]:
        port = free_port()
        config = uvicorn.Config(self, host="127.0.0.1", port=port, log_level="error",
                                lifespan="off")  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the cassette server did not start")
            threading.Event().wait(0.01)
        self.url = f"http://127.0.0.1:{port}/v1"
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            if self.recording:
                self.cassette._save(force=True)

    def check(self) -> None:
        """Every request was answered from the recording, and every recording was used."""
        if self.recording:
            return
        assert not self.unmatched, (
            f"{self.path.name}: requests not in the recording (re-record with "
            f"HEALTHCOOP_RECORD=1 if the change is intended):\n" + "\n".join(self.unmatched)
        )
        assert self.cassette.all_played, f"{self.path.name}: a recorded request was not replayed"


async def _send(send: Any, status: int, body: bytes | str, headers: Any = ()) -> None:
    raw = body.encode() if isinstance(body, str) else body
    headers = [(k.encode(), v.encode()) for k, v in headers if k.lower() != "content-length"]
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(raw)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": raw})


@contextlib.contextmanager
def recording_upstream() -> Iterator[str | None]:
    """The real embedded server to record from: HEALTHCOOP_RECORD_URL, or one started here
    (and stopped after); None when replaying."""
    if not RECORDING:
        yield None
        return
    if RECORD_URL:
        yield RECORD_URL
        return
    from healthcoop.llm import embedded
    from healthcoop.settings import Settings

    with embedded.running(Settings()) as live:
        yield str(live.base_url)
