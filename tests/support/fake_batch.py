"""A local fake of an OpenAI-compatible Batch API (files and batches endpoints), a named fixture
for the `--batch-api` path: it stands in for a paid service that cannot be made to fail.

POST /v1/files (multipart upload), GET /v1/files/{id}/content, POST /v1/batches,
GET /v1/batches/{id}, GET /v1/batches. A batch is `validating`, then `in_progress` for
`polls` retrievals (or until `release()` when `hold` is set), then `completed`, or whatever
`end` says (`expired`, `failed`); its output and error files are made when it ends. Each
request is answered with `answer` as the message content (the json_schema response format
asks for content), unless a `LineFault` whose marker the request's messages contain says
otherwise: `garbage` (HTTP 200, content that is not JSON), `server_error` (HTTP 500, in the
error file) or `missing` (no line at all, as for a request an expired batch never ran).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy

from tests.support.fake_openai import _send, completion, read_body


@dataclass(frozen=True)
class LineFault:
    marker: str  # a request whose messages contain this text gets the fault
    kind: str  # "garbage" | "server_error" | "missing"


@dataclass
class FakeBatchAPI:
    """ASGI app: the files and batches endpoints of the OpenAI API."""

    answer: dict = field(default_factory=lambda: {"relevant": False})
    polls: int = 1  # retrievals a batch stays in_progress
    hold: bool = False  # stay in_progress until release()
    end: str = "completed"  # or "expired", "failed"
    faults: list[LineFault] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict] = field(default_factory=dict)
    uploads: int = 0
    requests: int = 0  # requests run by batches so far
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _seen: dict[str, int] = field(default_factory=dict)

    def release(self) -> None:
        self.hold = False

    def uploaded_lines(self) -> list[dict]:
        """Every request line of every uploaded file."""
        return [json.loads(raw) for content in self._inputs() for raw in content.splitlines()]

    def _inputs(self) -> list[bytes]:
        return [self.files[b["input_file_id"]] for b in self.batches.values()]

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] == "lifespan":
            while (msg := await receive())["type"] != "lifespan.shutdown":
                await send({"type": msg["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = await read_body(receive)
        method, path = scope["method"], scope["path"].removeprefix("/v1")
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if method == "POST" and path == "/files":
            await self._json(send, self._upload(headers.get("content-type", ""), body))
        elif method == "GET" and path.startswith("/files/") and path.endswith("/content"):
            content = self.files.get(path.split("/")[2])
            if content is None:
                await _send(send, 404, json.dumps({"error": {"message": "no such file"}}))
            else:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"application/octet-stream")],
                    }
                )
                await send({"type": "http.response.body", "body": content})
        elif method == "POST" and path == "/batches":
            await self._json(send, self._create(json.loads(body)))
        elif method == "GET" and path == "/batches":
            data = list(self.batches.values())
            await self._json(send, {"object": "list", "data": data, "has_more": False})
        elif method == "GET" and path.startswith("/batches/"):
            batch = self.batches.get(path.split("/")[2])
            if batch is None:
                await _send(send, 404, json.dumps({"error": {"message": "no such batch"}}))
            else:
                await self._json(send, self._advance(batch))
        else:
            await _send(send, 404, json.dumps({"error": {"message": f"no route {path}"}}))

    async def _json(self, send, data: dict) -> None:  # noqa: ANN001 - ASGI
        await _send(send, 200, json.dumps(data))

    def _upload(self, content_type: str, body: bytes) -> dict:
        message = BytesParser(policy=email_policy).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        content = parts["file"].get_payload(decode=True)
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = content
        self.uploads += 1
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": parts["file"].get_filename(),
            "purpose": parts["purpose"].get_content().strip(),
            "status": "processed",
        }

    def _create(self, request: dict) -> dict:
        batch_id = f"batch-{next(self._ids)}"
        total = len(self.files[request["input_file_id"]].splitlines())
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "input_file_id": request["input_file_id"],
            "completion_window": request["completion_window"],
            "status": "validating",
            "created_at": int(time.time()),
            "metadata": request.get("metadata"),
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": total, "completed": 0, "failed": 0},
        }
        self._seen[batch_id] = 0
        return self.batches[batch_id]

    def _advance(self, batch: dict) -> dict:
        if batch["status"] in ("completed", "expired", "failed"):
            return batch
        self._seen[batch["id"]] += 1
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
        elif not self.hold and self._seen[batch["id"]] > self.polls:
            self._run(batch)
        return batch

    def _run(self, batch: dict) -> None:
        if self.end == "failed":
            batch["status"] = "failed"
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": "the requests file was refused"}],
            }
            return
        out, err = [], []
        for raw in self.files[batch["input_file_id"]].splitlines():
            request = json.loads(raw)
            kind = self._fault(request)
            if kind == "missing" or self.end == "expired" and kind is None and out:
                continue  # an expired batch runs only its first request
            self.requests += 1
            line = {
                "id": f"req-{next(self._ids)}",
                "custom_id": request["custom_id"],
                "error": None,
            }
            if kind == "server_error":
                body = {"error": {"message": "the model server failed", "type": "server_error"}}
                line["response"] = {"status_code": 500, "request_id": "r", "body": body}
                err.append(line)
                continue
            content = "this is not JSON" if kind == "garbage" else self.answer
            answer = completion(content, model=request["body"]["model"], as_content=True)
            line["response"] = {"status_code": 200, "request_id": "r", "body": answer}
            out.append(line)
        batch["request_counts"].update(completed=len(out), failed=len(err))
        batch["status"] = self.end
        for name, lines in (("output_file_id", out), ("error_file_id", err)):
            if lines:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
                batch[name] = file_id

    def _fault(self, request: dict) -> str | None:
        text = json.dumps(request["body"]["messages"])
        return next((f.kind for f in self.faults if f.marker in text), None)
