"""A stand-in for the embedded model server, for the process-lifecycle tests: no compile, no
weights. It is a named fixture, not a model: it answers `GET /v1/models` (the readiness probe)
and holds every other request open forever, so the healthcoop process that started it is
busy with an article when the test stops it.

    python standin_model_server.py --host H --port P --state-dir D [--ignore-term]

It writes D/standin.pid and D/standin.port once listening and touches D/standin.busy when a
request is held. `--ignore-term` ignores SIGTERM, so only the owner's hard kill ends it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state-dir", type=Path, required=True)
    ap.add_argument("--ignore-term", action="store_true")
    args, _ = ap.parse_known_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    state: Path = args.state_dir
    forever = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = json.dumps({"object": "list", "data": [{"id": "standin"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            (state / "standin.busy").touch()
            forever.wait()

    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    (state / "standin.port").write_text(str(server.server_address[1]))
    (state / "standin.pid").write_text(str(os.getpid()))
    server.serve_forever()


if __name__ == "__main__":
    main()
