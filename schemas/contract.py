"""Contract v1: what an article becomes. The field names are the public promise; see
`shared/spec/contract.md`. Models may add fields, never drop or rename the contract's."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .gazetteer import is_country_code, is_organization_code
from .vocab import (
    AgreementStatus,
    Alignment,
    Area,
    Instrument,
    MechanismKind,
    MechanismStatus,
    PartyKind,
)

SCHEMA_VERSION = "1.0.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


def _check_code(code: str) -> str:
    """A party code: ISO alpha-3, a gazetteer code, or "?Name" for a party with neither."""
    if code.startswith("?") or is_country_code(code) or is_organization_code(code):
        return code
    raise ValueError(f"{code!r} is neither an ISO 3166-1 alpha-3 code nor a gazetteer code")


PartyCode = Annotated[str, AfterValidator(_check_code)]


# ---------------------------------------------------------------- input

# A text must hold something to read: a character that is neither whitespace, nor a control
# character (extraction removes those), nor an invisible mark (BOM, zero-width space, bidi
# controls). In the JSON Schema too, so generated requests know it.
TEXT_PATTERN = r"[^\s\x00-\x1f\x7f-\x9f\xad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
_READABLE = re.compile(TEXT_PATTERN)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _surrogate_at(text: str) -> int | None:
    """Index of the first lone surrogate (valid as a JSON escape, not Unicode), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _escaped(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return repr(_escaped(value[:40]))
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return {list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


class Article(_Model):
    """One article to extract from."""

    id: str | None = Field(default=None, description="caller's id; default: sha256 of the text")
    text: str = Field(
        description="plain text (HTML is stripped before extraction)",
        json_schema_extra={"minLength": 1, "pattern": TEXT_PATTERN},
    )
    title: str | None = None
    url: str | None = None
    source: str | None = Field(default=None, description="outlet, e.g. tehrantimes.com")
    published: dt.date | None = Field(
        default=None, description="resolves relative dates such as 'on Sunday'"
    )
    language: str | None = Field(default=None, description="BCP-47 tag; detected when absent")

    @model_validator(mode="before")
    @classmethod
    def _field_names_are_unicode(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data:
                if isinstance(name, str) and _surrogate_at(name) is not None:
                    raise ValueError(
                        f"the field name '{_escaped(name)}' holds a lone surrogate, which is "
                        "not Unicode"
                    )
        return data

    @field_validator("id", "text", "title", "url", "source", "language", mode="before")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        # a lone surrogate cannot be hashed, stored or written as UTF-8: refuse it here, where
        # the message can say which field and where in it
        if isinstance(value, str) and (at := _surrogate_at(value)) is not None:
            raise ValueError(
                f"holds a lone surrogate ({_escaped(value[at])}) at character {at}, which is "
                "not Unicode; fix the encoding of the source"
            )
        return value

    @field_validator("published", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        # pydantic alone would read 0 or "0" as a Unix time: 1970-01-01
        if value is None or isinstance(value, dt.date):
            return value
        if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
            return value.strip()
        raise ValueError(f"expected a date as YYYY-MM-DD, got {_kind(value)}")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, text: str) -> str:
        if not _READABLE.search(text):
            raise ValueError(
                "text is empty or only whitespace, control characters or invisible marks; send "
                "the article's text"
            )
        return text

    @model_validator(mode="after")
    def _default_id(self) -> Article:
        if not self.id:
            self.id = self.sha256()[:16]
        return self

    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- output


class Span(_Model):
    """Character offsets into the article text: text[start:end] == span.text."""

    # immutable: one span may stand as evidence in several places (grounding shares them)
    model_config = ConfigDict(extra="forbid", use_enum_values=False, frozen=True)

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    alignment: Alignment = Alignment.exact

    @model_validator(mode="after")
    def _consistent(self) -> Span:
        if self.end < self.start or self.end - self.start != len(self.text):
            raise ValueError("span offsets do not match the length of its text")
        return self


class _Grounded(_Model):
    evidence: list[Span] = Field(default_factory=list)
    grounded: bool = Field(
        default=True, description="false when no evidence was found in the text (flag policy)"
    )


class Party(_Grounded):
    name: str = Field(description="as written in the text")
    kind: PartyKind
    code: str | None = Field(
        default=None, description="ISO 3166-1 alpha-3 (country) or gazetteer code (organization)"
    )

    @model_validator(mode="after")
    def _code_matches_kind(self) -> Party:
        if self.code is None:
            return self
        if self.kind is PartyKind.country and not is_country_code(self.code):
            raise ValueError(f"{self.code!r} is not an ISO 3166-1 alpha-3 country code")
        if self.kind is PartyKind.organization and not is_organization_code(self.code):
            raise ValueError(f"{self.code!r} is not a code of the organizations gazetteer")
        return self


class Official(_Grounded):
    name: str = Field(description="as written, without honorifics")
    title: str | None = None
    party: PartyCode | None = Field(default=None, description="code of the party they act for")


class DateRange(_Model):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError("date range ends before it starts")
        return self


class Location(_Model):
    city: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-3")

    @field_validator("country")
    @classmethod
    def _iso(cls, code: str | None) -> str | None:
        if code is not None and not is_country_code(code):
            raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-3 country code")
        return code


class Meeting(_Grounded):
    parties: list[PartyCode] = Field(default_factory=list)
    officials: list[str] = Field(default_factory=list)
    date: DateRange | None = None
    location: Location | None = None
    forum: str | None = None


class Agreement(_Grounded):
    instrument: Instrument
    status: AgreementStatus
    parties: list[PartyCode] = Field(default_factory=list)
    date: dt.date | None = None
    title: str | None = None


class Mechanism(_Grounded):
    kind: MechanismKind
    status: MechanismStatus
    parties: list[PartyCode] = Field(default_factory=list)
    description: str = ""


class Usage(_Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Provenance(_Model):
    task: str
    schema_version: str = SCHEMA_VERSION
    prompt_version: str
    model: str
    endpoint: str | None = Field(default=None, description="host only, never a key")
    input_sha256: str
    created_at: dt.datetime
    usage: Usage = Field(default_factory=Usage)
    attempts: int = 1
    latency_ms: int = 0


class ArticleExtraction(_Model):
    """The record one article becomes."""

    article_id: str
    relevant: bool
    parties: list[Party] = Field(default_factory=list)
    officials: list[Official] = Field(default_factory=list)
    meetings: list[Meeting] = Field(default_factory=list)
    agreements: list[Agreement] = Field(default_factory=list)
    mechanisms: list[Mechanism] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)
    summary: str = ""
    provenance: Provenance
    text: str | None = Field(
        default=None,
        description="the text the offsets point into, when it differs from Article.text "
        "(HTML stripped)",
    )
