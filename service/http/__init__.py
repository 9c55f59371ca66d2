"""The HTTP door (`healthcoop serve`): the extraction contract over HTTP with FastAPI.

`app` builds the application and its routes, `edge` is the ASGI layer every request passes
(request id, token, body limit, catch-all, log line), `errors` maps the error tree to HTTP,
`models` are the request and response models, `examples` the documented examples, `workers`
runs `serve --workers N` (N processes on one port, SO_REUSEPORT).

May import `healthcoop.extraction`, `healthcoop.llm`, `healthcoop.core`, `healthcoop.errors`,
`healthcoop.settings` and `healthcoop.schemas`; never the bulk runner, the CLI, scoring or
analysis.
"""

from __future__ import annotations

from .app import create_app
from .workers import serve as serve_workers
from .workers import supported as workers_supported

__all__ = ["create_app", "serve_workers", "workers_supported"]
