"""Extraction: an article in, a grounded, normalized record out.

`extractor.Pipeline` is the pure part (prepare the text, decide what to ask, assemble the
answer); `extractor.Extractor` adds a model. Strategies: `candidates` (the candidate layer
finds what the text names: `candidates`, `answer`, `assemble`) and `draft` (free drafting,
grounded afterwards). `shared_extractor` keeps one extractor per distinct settings in a
process, for the doors that extract one article at a time.

May import `healthcoop.core`, `healthcoop.llm`, `healthcoop.errors`, `healthcoop.settings`,
`healthcoop.schemas` and `healthcoop.prompts`; never a front door, scoring or analysis.
"""

from __future__ import annotations

import threading

from ..settings import Settings
from .extractor import Extractor, Pipeline, Question, prompt_version

__all__ = ["Extractor", "Pipeline", "Question", "prompt_version", "shared_extractor"]

_extractors: dict[tuple[str, str], Extractor] = {}
_lock = threading.Lock()
MAX_SHARED = 8  # distinct settings kept at once; a ninth clears the rest


def shared_extractor(settings: Settings) -> Extractor:
    """One extractor (and HTTP client) per distinct settings in this process, reused across
    calls. With no endpoint set, the embedded model is started on first use."""
    from ..llm.factory import build_llm

    secret = settings.api_key.get_secret_value() if settings.api_key else ""
    key = (settings.model_dump_json(), secret)  # the dump masks the key: add it back (memory only)
    with _lock:
        if key not in _extractors:
            if len(_extractors) >= MAX_SHARED:
                _extractors.clear()
            _extractors[key] = Extractor(build_llm(settings), settings)
        return _extractors[key]
