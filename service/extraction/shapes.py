"""Answer models cached by candidate shape: an article whose candidates were seen before
(a wire story reprinted, a template text) reuses the model class and the request the LLM
client built for it (about 1 ms: the class, its schema, the request's bytes).

An article's answer model depends on what its candidates say (labels, kinds, people, dates,
places), never on where in the text they stand. `shape_key` is everything a `Candidates`
holds except its spans, so articles whose candidates differ only in offsets (a wire story
reprinted, a template text) share one model class, and with it the request the LLM client
built for that class. Anything else misses and builds its own, as before.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from pydantic import BaseModel

from healthcoop.schemas import Span

from .answer import answer_model
from .candidates import Candidates

MAX_SHAPES = 512  # answer models kept; a few hundred KiB


_ATOMS = (str, int, float, bool, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, looked up once


def _frozen(value: Any) -> Hashable:
    """A hashable picture of `value` without its spans."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is Span:
        return None
    if kind is list or kind is tuple:
        return tuple(_frozen(v) for v in value if type(v) is not Span)
    if kind is dict:
        return tuple(sorted(((_frozen(k), _frozen(v)) for k, v in value.items()), key=repr))
    if isinstance(value, enum.Enum):
        return value.value
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return (kind.__name__, *(_frozen(getattr(value, n)) for n in names))
    if isinstance(value, BaseModel):
        return (kind.__name__, _frozen(value.model_dump()))
    return value


def shape_key(c: Candidates) -> Hashable:
    """What the answer model of `c` can depend on: every candidate field but the offsets."""
    return _frozen(c)


class AnswerModels:
    """A bounded, thread-safe cache of answer models by candidate shape."""

    def __init__(self, size: int = MAX_SHAPES) -> None:
        self.size = size
        self._models: OrderedDict[Hashable, type[BaseModel]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, c: Candidates) -> type[BaseModel]:
        key = shape_key(c)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                self.hits += 1
                return model
        model = answer_model(c)
        with self._lock:
            self.misses += 1
            model = self._models.setdefault(key, model)  # a racing thread's class wins
            if len(self._models) > self.size:
                self._models.popitem(last=False)
        return model


ANSWER_MODELS = AnswerModels()


def cached_answer_model(c: Candidates) -> type[BaseModel]:
    """`answer.answer_model(c)`, built once per candidate shape in this process."""
    return ANSWER_MODELS.get(c)
