"""Answer models cached by candidate shape: an article whose candidates were seen before
(a wire story reprinted, a template text) reuses the bound model and the request the LLM
client built for it (the request's bytes, serialized once).

An article's answer model depends on what its candidates say (labels, kinds, people, dates,
places), never on where in the text they stand: it is its JSON Schema, and `shape_key` is
that schema, so articles whose candidates differ only in offsets share one bound model, and
with it the request the LLM client built for it. Anything else misses and builds
its own.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from ..llm.base import Bound
from .answer import Answer, answer_schema
from .candidates import Candidates

# answer models kept (each with its prepared request): a reprint seen soon after its first
# printing is what the cache is for
MAX_SHAPES = 64


def _key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def shape_key(c: Candidates) -> str:
    """What the answer model of `c` depends on: its JSON Schema, as compact JSON (tens of µs;
    the candidates' labels, kinds, people, dates and places, never their offsets)."""
    return _key(answer_schema(c))


class AnswerModels:
    """A bounded, thread-safe cache of answer models by candidate shape."""

    def __init__(self, size: int = MAX_SHAPES) -> None:
        self.size = size
        self._models: OrderedDict[str, Bound[Answer]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, c: Candidates) -> Bound[Answer]:
        schema = answer_schema(c)
        key = _key(schema)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                self.hits += 1
                return model
        model = Bound(Answer, schema)
        with self._lock:
            self.misses += 1
            model = self._models.setdefault(key, model)  # a racing thread's model wins
            if len(self._models) > self.size:
                self._models.popitem(last=False)
        return model


ANSWER_MODELS = AnswerModels()


def cached_answer_model(c: Candidates) -> Bound[Answer]:
    """`answer.answer_model(c)`, built once per candidate shape in this process."""
    return ANSWER_MODELS.get(c)
