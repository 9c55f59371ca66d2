"""The per-article answer model: what the model may say about one article, as a JSON Schema
whose enums are that article's candidates, carried by a pydantic class that holds answers to
it (`answer_model`).

With grammar-constrained servers (llama.cpp) the enums are enforced while the model writes;
elsewhere instructor validates them and re-asks with the error. Either way the model cannot
name a party, person, date or place the text does not contain. The JSON Schema is kept
compact (no titles, inline enums) because every schema token is prompt time on a small CPU.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from healthcoop.schemas import AgreementStatus, MechanismStatus

from ..llm.base import Bound
from .candidates import Candidates

NONE = "none"
# Bounds on the answer's lists. A grammar-constrained small model can otherwise repeat list
# items until max_tokens cuts it off; maxItems makes the grammar close the list instead.
MAX_MEETINGS = 12


_STATUS = [s.value for s in AgreementStatus]
_MECHANISM_STATUS = [s.value for s in MechanismStatus]
_DESCRIPTION = "Health cooperation in the article."


def unhinted_people(c: Candidates) -> list[int]:
    """Indexes of the people whose title names no candidate party: the ones the model is
    asked about."""
    codes = {p.code for p in c.parties}
    return [i for i, p in enumerate(c.people) if p.hint not in codes]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _array(items: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {"items": items, "maxItems": max_items, "type": "array"}


def answer_schema(c: Candidates) -> dict[str, Any]:
    """The JSON Schema of the answer for one article's candidates, written out directly: an
    enum ($defs P, Q, D, L, I, K) per kind of candidate, no titles, fields in order. It is
    the schema the earlier per-article pydantic classes gave, key for key (a test compares
    them), for a twentieth of the CPU: building those classes cost about 5 ms an article."""
    labels = [p.label for p in c.parties]
    asked = unhinted_people(c) if labels else []
    defs: dict[str, list[str]] = {}
    properties: dict[str, Any] = {"relevant": {"type": "boolean"}}
    required = ["relevant"]
    if labels:
        defs["P"] = labels
        party = _array(_ref("P"), len(labels))
        if asked:
            defs["Q"] = [*labels, NONE]
            keys = [c.people[i].key for i in asked]
            properties["people"] = {
                "properties": {k: _ref("Q") for k in keys},
                "required": keys,
                "type": "object",
            }
            required.append("people")
        properties["parties"] = party
        meeting: dict[str, Any] = {"with": party}
        if c.dates:
            defs["D"] = [*(d.label for d in c.dates), NONE]
            meeting["date"] = _ref("D")
        if c.places:
            defs["L"] = [*(p.label for p in c.places), NONE]
            meeting["place"] = _ref("L")
        properties["meetings"] = _array({"properties": meeting, "type": "object"}, MAX_MEETINGS)
        if c.instruments:
            defs["I"] = [i.kind for i in c.instruments]
            agreement = {"type": _ref("I"), "status": {"enum": _STATUS}, "with": party}
            properties["agreements"] = _array(
                {"properties": agreement, "required": ["type", "status"], "type": "object"},
                len(c.instruments),
            )
    if c.mechanisms:
        defs["K"] = [m.kind for m in c.mechanisms]
        mechanism = {"kind": _ref("K"), "status": {"enum": _MECHANISM_STATUS}}
        properties["mechanisms"] = _array(
            {"properties": mechanism, "required": ["kind", "status"], "type": "object"},
            len(c.mechanisms),
        )
    schema: dict[str, Any] = {}
    if defs:
        schema["$defs"] = {k: {"enum": list(dict.fromkeys(defs[k]))} for k in sorted(defs)}
    schema.update(description=_DESCRIPTION, properties=properties, required=required,
                  type="object", title="Answer")  # fmt: skip
    return schema


# ---------------------------------------------------------------- validating an answer


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Meeting(_Part):
    with_: list[str] = Field(default=[], alias="with")
    date: str = NONE
    place: str = NONE


class Agreement(_Part):
    type: str
    status: str
    with_: list[str] = Field(default=[], alias="with")


class Mechanism(_Part):
    kind: str
    status: str


class _Problems:
    """What an answer breaks of its schema, said as `where: what` (the re-ask quotes it)."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.found: list[str] = []

    def one_of(self, where: str, value: str, allowed: list[str] | dict[str, Any]) -> None:
        values = allowed if isinstance(allowed, list) else self.defs[allowed["$ref"][8:]]["enum"]
        if value not in values:
            self.found.append(f"{where}: {value!r} is not one of {values}")

    def at_most(self, where: str, items: list[Any], schema: dict[str, Any]) -> None:
        if len(items) > schema["maxItems"]:
            self.found.append(f"{where}: more than {schema['maxItems']} items")


# The answer of every article: validation holds it to the article's schema, found in the
# validation context (`llm.base.Bound`: one class for all articles) or, for a subclass that
# carries one, in `request_schema`: the enums, the list lengths, the people required. A field
# the article's schema lacks is ignored, as an extra key is.
class Answer(_Part):
    """Health cooperation in the article."""

    request_schema: ClassVar[dict[str, Any]] = {}

    relevant: bool
    people: dict[str, str] = {}
    parties: list[str] = []
    meetings: list[Meeting] = []
    agreements: list[Agreement] = []
    mechanisms: list[Mechanism] = []

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return copy.deepcopy(cls.request_schema)

    @classmethod
    def _schema(cls, info: ValidationInfo) -> dict[str, Any]:
        context = info.context if isinstance(info.context, dict) else {}
        schema = context.get("schema") or cls.request_schema
        if not schema:
            raise ValueError(
                "an answer is validated against its article's schema: use answer_model"
            )
        return schema

    @model_validator(mode="before")
    @classmethod
    def _irrelevant_needs_no_people(cls, data: Any, info: ValidationInfo) -> Any:
        """The schema keeps `people` required, so a grammar makes the model answer for
        everyone; an answer that the article is irrelevant is complete without it."""
        people = cls._schema(info)["properties"].get("people")
        if isinstance(data, dict) and data.get("relevant") is False and "people" not in data:
            data = {**data, "people": dict.fromkeys(people["required"], NONE) if people else {}}
        return data

    @model_validator(mode="after")
    def _within_the_schema(self, info: ValidationInfo) -> Answer:
        schema = self._schema(info)
        props = schema["properties"]
        check = _Problems(schema.get("$defs", {}))
        for name in ("people", "parties", "meetings", "agreements", "mechanisms"):
            if name not in props:  # not offered: ignored, as an extra key is
                setattr(self, name, {} if name == "people" else [])
        if "people" in props:
            asked = props["people"]
            missing = [k for k in asked["required"] if k not in self.people]
            if missing:
                check.found.append(f"people: missing {missing}")
            self.people = {k: v for k, v in self.people.items() if k in asked["properties"]}
            for key, party in self.people.items():
                check.one_of(f"people.{key}", party, asked["properties"][key])
        if "parties" in props:
            check.at_most("parties", self.parties, props["parties"])
            for i, party in enumerate(self.parties):
                check.one_of(f"parties.{i}", party, props["parties"]["items"])
        self._check_items(check, props)
        if check.found:
            raise ValueError("; ".join(check.found))
        return self

    def _check_items(self, check: _Problems, props: dict[str, Any]) -> None:
        for name in ("meetings", "agreements", "mechanisms"):
            if name in props:
                check.at_most(name, getattr(self, name), props[name])
        meeting = props.get("meetings", {}).get("items", {}).get("properties", {})
        for i, m in enumerate(self.meetings):
            check.at_most(f"meetings.{i}.with", m.with_, meeting["with"])
            for j, party in enumerate(m.with_):
                check.one_of(f"meetings.{i}.with.{j}", party, meeting["with"]["items"])
            for field in ("date", "place"):
                value = getattr(m, field)
                if field not in meeting:
                    setattr(m, field, NONE)
                elif value != NONE:
                    check.one_of(f"meetings.{i}.{field}", value, meeting[field])
        agreement = props.get("agreements", {}).get("items", {}).get("properties", {})
        for i, a in enumerate(self.agreements):
            check.one_of(f"agreements.{i}.type", a.type, agreement["type"])
            check.one_of(f"agreements.{i}.status", a.status, _STATUS)
            check.at_most(f"agreements.{i}.with", a.with_, agreement["with"])
            for j, party in enumerate(a.with_):
                check.one_of(f"agreements.{i}.with.{j}", party, agreement["with"]["items"])
        mechanism = props.get("mechanisms", {}).get("items", {}).get("properties", {})
        for i, k in enumerate(self.mechanisms):
            check.one_of(f"mechanisms.{i}.kind", k.kind, mechanism["kind"])
            check.one_of(f"mechanisms.{i}.status", k.status, _MECHANISM_STATUS)


def answer_model(c: Candidates) -> Bound[Answer]:
    """The answer model for one article's candidates: `Answer`, bound to the article's schema
    (no class of its own: building one cost about 1 ms, and the earlier model of per-article
    enums and nested classes about 5)."""
    return Bound(Answer, answer_schema(c))
