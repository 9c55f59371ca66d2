"""Which model a call talks to: the configured endpoint, or the embedded model started on first
use and stopped when the process exits."""

from __future__ import annotations

import atexit
import contextlib
import threading

from .llm_client import OpenAILLM
from .settings import Settings

_lock = threading.Lock()
_embedded: dict[str, Settings] = {}  # embedded model name → settings pointing at its server
_stack = contextlib.ExitStack()
atexit.register(_stack.close)


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


def open_llm(settings: Settings) -> OpenAILLM:
    return OpenAILLM(endpoint_settings(settings))
