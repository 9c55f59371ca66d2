"""The extraction pipeline: Article → prompt → validated answer → grounded, normalized record.

A prompt template names its strategy: `candidates` (default: the candidate layer finds what
the text names, the model chooses among it) or `draft` (the model writes names as written,
grounding searches for them). `Pipeline` is everything but the model call: what to ask about
an article (a `Question`, or none when rules decide) and how to assemble the answer; it is
pure, so a dry run uses it without any model. `Extractor` adds the model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from healthcoop.schemas import SCHEMA_VERSION, Article, ArticleExtraction, Provenance, Usage
from healthcoop.schemas.draft import Draft

from ..core import prompting
from ..core.text import clean_text, decode
from ..errors import InputError, PromptError, describe, problems
from ..llm.base import LLM, Completion, Message, ResponseModel
from ..settings import Settings, get_settings
from .answer import answer_model
from .assemble import Source, assemble_answer, assemble_draft
from .candidates import Candidates, find_candidates
from .shapes import cached_answer_model

OFFLOAD_CHARS = 12_000  # longer articles take tens of ms to prepare: a thread keeps the loop free


def _length(article: Article | Mapping[str, Any] | str) -> int:
    text = article if isinstance(article, str) else getattr(article, "text", None)
    if text is None and isinstance(article, Mapping):
        text = article.get("text")
    return len(text) if isinstance(text, str) else 0


@dataclass(frozen=True)
class Prepared:
    """An article checked and cleaned, with the text every offset will point into."""

    article: Article
    text: str
    changed: bool  # text differs from article.text (HTML stripped, controls removed)

    @property
    def source(self) -> Source:
        a = self.article
        return Source(a.id or "", self.text, a.published, self.changed)


def to_article(value: Article | Mapping[str, Any] | str | bytes) -> Article:
    """Accept an Article, its JSON-like dict, bare text, or UTF-8 bytes."""
    if isinstance(value, Article):
        return value
    if isinstance(value, (bytes, bytearray)):
        value = decode(bytes(value), what="article text")
    try:
        if isinstance(value, str):
            return Article(text=value)
        return Article.model_validate(value)
    except ValidationError as exc:
        found = problems(exc)
        raise InputError(f"invalid article: {describe(found)}", field=found[0]["field"]) from None


def prepare(value: Article | Mapping[str, Any] | str, settings: Settings) -> Prepared:
    article = to_article(value)
    text, changed = clean_text(article.text, max_chars=settings.max_chars)
    return Prepared(article, text, changed)


def render(prepared: Prepared, template: prompting.Template, **extra: object) -> list[Message]:
    a = prepared.article
    return template.render(
        text=prepared.text,
        title=a.title,
        published=a.published.isoformat() if a.published else None,
        source=a.source,
        **extra,
    )


# ---------------------------------------------------------------- strategies


@dataclass(frozen=True)
class Question:
    """What to ask the model about one article (nothing, when rules already decide)."""

    response_model: ResponseModel | None
    messages: list[Message]
    candidates: Candidates | None = None


class Strategy(Protocol):
    def question(self, prepared: Prepared, template: prompting.Template) -> Question: ...

    def assemble(self, answer: Any, question: Question, prepared: Prepared, *, settings: Settings,
                 provenance: Provenance) -> ArticleExtraction: ...  # fmt: skip

    def schema_fingerprint(self) -> str: ...


class DraftStrategy:
    """The model names things as written; grounding and normalization do the rest."""

    def question(self, prepared: Prepared, template: prompting.Template) -> Question:
        return Question(Draft, render(prepared, template))

    def assemble(self, answer: Any, question: Question, prepared: Prepared, *, settings: Settings,
                 provenance: Provenance) -> ArticleExtraction:  # fmt: skip
        return assemble_draft(answer, prepared.source, settings=settings, provenance=provenance)

    def schema_fingerprint(self) -> str:
        return json.dumps(Draft.model_json_schema(), sort_keys=True)


# A fixed text whose candidates exercise every part of the answer model: its schema stands for
# the strategy's shape in the prompt version (the real schema differs per article).
_FINGERPRINT_TEXT = (
    "On Sunday, Iran's health minister Ali Rezaei met WHO Director-General Jane Smith in Doha "
    "and they signed a memorandum of understanding and agreed to set up a working group."
)


class CandidateStrategy:
    """The candidate layer finds what the text names; the model chooses among it."""

    # Bump when the candidate layer or assembly changes what a record says for the same answer:
    # it is part of the prompt version, so the bulk runner re-runs what it changes.
    revision = 5

    def question(self, prepared: Prepared, template: prompting.Template) -> Question:
        c = find_candidates(prepared.text, prepared.article.published)
        if len(c.parties) < 2 or not c.health:
            # international health cooperation needs two parties and some health at all;
            # without them no question is worth a model call
            return Question(None, [], c)
        # one model class per candidate shape: the LLM client builds its request once per class
        return Question(cached_answer_model(c), render(prepared, template, candidates=c), c)

    def assemble(self, answer: Any, question: Question, prepared: Prepared, *, settings: Settings,
                 provenance: Provenance) -> ArticleExtraction:  # fmt: skip
        assert question.candidates is not None
        return assemble_answer(
            answer, question.candidates, prepared.source, settings=settings, provenance=provenance
        )

    def schema_fingerprint(self) -> str:
        model = answer_model(find_candidates(_FINGERPRINT_TEXT, dt.date(2025, 1, 1)))
        return json.dumps(model.model_json_schema(), sort_keys=True) + f"|rev{self.revision}"


STRATEGIES: dict[str, Strategy] = {"draft": DraftStrategy(), "candidates": CandidateStrategy()}


def strategy_for(template: prompting.Template) -> Strategy:
    try:
        return STRATEGIES[template.strategy]
    except KeyError:
        raise PromptError(
            f"prompt {template.name!r} names strategy {template.strategy!r}; "
            f"known: {', '.join(STRATEGIES)}"
        ) from None


def prompt_version(name: str) -> str:
    """Version of a prompt: hash of its template and of the answer shape it asks for."""
    template = prompting.load(name)
    return template.version(strategy_for(template).schema_fingerprint())


# ---------------------------------------------------------------- the pipeline

_NO_CALL = Completion(value=None, prompt_tokens=0, completion_tokens=0, attempts=0, latency_ms=0)


class Pipeline:
    """Everything of extraction but the model: the prompt, its strategy and its version."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.template = prompting.load(self.settings.prompt)
        self.strategy = strategy_for(self.template)
        self.prompt_version = prompt_version(self.settings.prompt)

    def ask(self, article: Article | Mapping[str, Any] | str) -> tuple[Prepared, Question]:
        """The article checked and cleaned, and what to ask the model about it."""
        prepared = prepare(article, self.settings)
        return prepared, self.strategy.question(prepared, self.template)

    def finish(self, question: Question, prepared: Prepared, done: Completion[Any], *,
               model: str, endpoint: str | None) -> ArticleExtraction:  # fmt: skip
        """The record from the model's answer (or from the rules, when nothing was asked)."""
        return self.strategy.assemble(
            done.value,
            question,
            prepared,
            settings=self.settings,
            provenance=self._provenance(prepared, done, model, endpoint),
        )

    def _provenance(self, prepared: Prepared, done: Completion[Any], model: str,
                    endpoint: str | None) -> Provenance:  # fmt: skip
        return Provenance(
            task=self.settings.task,
            schema_version=SCHEMA_VERSION,
            prompt_version=self.prompt_version,
            model=model,
            endpoint=endpoint,
            input_sha256=prepared.article.sha256(),
            created_at=dt.datetime.now(dt.timezone.utc),
            usage=Usage(prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens),
            attempts=done.attempts,
            latency_ms=done.latency_ms,
        )


class Extractor:
    """Extraction with one model and one set of settings; reuse it for many articles."""

    def __init__(self, llm: LLM, settings: Settings | None = None) -> None:
        self.llm = llm
        self.pipeline = Pipeline(settings)
        self.settings = self.pipeline.settings

    @property
    def prompt_version(self) -> str:
        return self.pipeline.prompt_version

    def _finish(self, question: Question, prepared: Prepared,
                done: Completion[Any]) -> ArticleExtraction:  # fmt: skip
        return self.pipeline.finish(
            question, prepared, done, model=self.llm.model, endpoint=self.llm.endpoint
        )

    def extract(self, article: Article | Mapping[str, Any] | str) -> ArticleExtraction:
        prepared, question = self.pipeline.ask(article)
        done = (
            self.llm.complete(question.messages, question.response_model)
            if question.response_model is not None
            else _NO_CALL
        )
        return self._finish(question, prepared, done)

    async def aextract(
        self, article: Article | Mapping[str, Any] | str, *, offload: bool | None = None
    ) -> ArticleExtraction:
        """`extract`, for asyncio code. With `offload` candidate finding and assembly run in
        threads, so the loop answers other requests meanwhile; without it they run on the loop:
        no thread hand-offs, and no waiting for the GIL on every socket call while a thread
        holds it. By default (None) only articles longer than OFFLOAD_CHARS are offloaded: a
        news article's few milliseconds cost less on the loop than two hand-offs (the service
        at c=32: 17.4 → 15.4 ms of CPU a request); a bulk run, whose loop does nothing else,
        passes False."""
        if offload is None:
            offload = _length(article) > OFFLOAD_CHARS
        if offload:
            prepared, question = await asyncio.to_thread(self.pipeline.ask, article)
        else:
            prepared, question = self.pipeline.ask(article)
        done = (
            await self.llm.acomplete(question.messages, question.response_model)
            if question.response_model is not None
            else _NO_CALL
        )
        if offload:
            return await asyncio.to_thread(self._finish, question, prepared, done)
        return self._finish(question, prepared, done)
