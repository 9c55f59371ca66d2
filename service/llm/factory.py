"""The one way to build a model client: settings in, an `OpenAILLM` out.

Every door (the Python API, CLI `extract`, `serve`, and the bulk runner in-process and in
worker processes) gets its client here and passes options; none builds one around it. The
factory resolves the endpoint (the configured one, or the embedded model server, started once
per process and stopped at exit), and the client then applies the dialect, timeouts,
connection limits and rate-limit hooks.
"""

from __future__ import annotations

import atexit
import contextlib
import threading

from ..settings import Settings
from .client import OpenAILLM
from .ratelimit import Limiter

_lock = threading.Lock()
_embedded: dict[str, Settings] = {}  # embedded model name → settings pointing at its server
_stack = contextlib.ExitStack()
atexit.register(_stack.close)

# connections kept beyond the run's concurrency: retries start before a failed one is reaped
SPARE_CONNECTIONS = 4


def endpoint_settings(settings: Settings) -> Settings:
    """Settings that name a reachable endpoint: as given, or the embedded model's server."""
    if not settings.uses_embedded:
        return settings
    from . import embedded  # the embedded engine is optional; only this path needs it

    with _lock:
        live = _embedded.get(settings.embedded_model)
        if live is None:
            live = _stack.enter_context(embedded.running(settings))
            _embedded[settings.embedded_model] = live
    return settings.model_copy(update=embedded.endpoint_update(settings, str(live.base_url)))


def build_llm(
    settings: Settings,
    *,
    concurrency: int | None = None,
    limiter: Limiter | None = None,
    aiohttp: bool = False,
    **transports: object,
) -> OpenAILLM:
    """The model client for `settings`. `concurrency` sizes the connection pool, `limiter`
    holds the run's rate limits and 429 pause, `aiohttp` is for a caller whose one event
    loop owns the client and closes it (`OpenAILLM`), `transports` (`transport=`,
    `async_transport=`) replace the network in tests."""
    return OpenAILLM(
        endpoint_settings(settings),
        connections=concurrency + SPARE_CONNECTIONS if concurrency else None,
        hooks=limiter.hooks() if limiter is not None else None,
        aiohttp=aiohttp,
        **transports,  # type: ignore[arg-type]
    )
