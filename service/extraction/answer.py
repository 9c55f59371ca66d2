"""The per-article answer model: what the model may say about one article, as pydantic types
whose enums are that article's candidates.

With grammar-constrained servers (llama.cpp) the enums are enforced while the model writes;
elsewhere instructor validates them and re-asks with the error. Either way the model cannot
name a party, person, date or place the text does not contain. The JSON Schema is kept
compact (no titles, inline enums) because every schema token is prompt time on a small CPU.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from healthcoop.schemas import AgreementStatus, MechanismStatus

from .candidates import Candidates

NONE = "none"
# Bounds on the answer's lists. A grammar-constrained small model can otherwise repeat list
# items until max_tokens cuts it off; maxItems makes the grammar close the list instead.
MAX_MEETINGS = 12


def _strip_noise(node: Any) -> Any:
    """Drop what neither the model nor the grammar needs: titles, defaults, and the type
    beside an enum (the enum says it all)."""
    if isinstance(node, dict):
        return {
            k: _strip_noise(v)
            for k, v in node.items()
            if k not in ("title", "default") and not (k == "type" and "enum" in node)
        }
    if isinstance(node, list):
        return [_strip_noise(v) for v in node]
    return node


def _inline_models(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs to objects (used once); keep $refs to enums (used many times)."""
    if isinstance(node, dict):
        if "$ref" in node and len(node) == 1:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            if "enum" not in target:
                return _inline_models(target, defs)
        return {k: _inline_models(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_models(v, defs) for v in node]
    return node


class Compact(BaseModel):
    """Base of answer models: a JSON Schema without titles, fields in declared order."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        schema = super().model_json_schema(*args, **kwargs)
        defs = schema.get("$defs", {})
        compact = _strip_noise(_inline_models(schema, defs))
        if defs:
            compact["$defs"] = {k: v for k, v in compact["$defs"].items() if "enum" in v}
        compact["title"] = cls.__name__  # instructor names the tool after it
        return compact


def _enum(name: str, values: list[str]) -> Any:
    """A string enum; pydantic puts it in $defs once and refers to it by $ref."""
    members = list(dict.fromkeys(values))
    return Enum(name, {f"v{i}": v for i, v in enumerate(members)}, type=str)  # type: ignore[misc]


def unhinted_people(c: Candidates) -> list[int]:
    """Indexes of the people whose title names no candidate party: the ones the model is
    asked about."""
    codes = {p.code for p in c.parties}
    return [i for i, p in enumerate(c.people) if p.hint not in codes]


def _people_field(c: Candidates, labels: list[str], asked: list[int]) -> Any:
    """For each person asked about, the party they act for (or none)."""
    choice = _enum("Q", [*labels, NONE])
    people = create_model(  # type: ignore[call-overload]
        "People",
        __base__=Compact,
        **{f"p{i}": (choice, Field(alias=c.people[i].key)) for i in asked},
    )
    return (people, ...)


def _meetings_field(c: Candidates, party: Any, n: int) -> Any:
    """Meetings: who met, and the day and place among those the text names."""
    meeting: dict[str, Any] = {"with": (list[party], Field(default_factory=list, max_length=n))}
    if c.dates:
        meeting["date"] = (_enum("D", [*(d.label for d in c.dates), NONE]), NONE)
    if c.places:
        meeting["place"] = (_enum("L", [*(p.label for p in c.places), NONE]), NONE)
    model = create_model("Meeting", __base__=Compact, **meeting)  # type: ignore[call-overload]
    return (list[model], Field(default_factory=list, max_length=MAX_MEETINGS))


def _agreements_field(c: Candidates, party: Any, n: int) -> Any:
    """Agreements: an instrument kind the text names, a status, the parties."""
    agreement = create_model(  # type: ignore[call-overload]
        "Agreement",
        __base__=Compact,
        type=(_enum("I", [i.kind for i in c.instruments]), ...),
        status=(Literal[tuple(s.value for s in AgreementStatus)], ...),
        with_=(list[party], Field(default_factory=list, alias="with", max_length=n)),
    )
    # each agreement is grounded on its own cue word: more than that cannot be kept
    return (list[agreement], Field(default_factory=list, max_length=len(c.instruments)))


def _mechanisms_field(c: Candidates) -> Any:
    """Mechanisms: a kind the text names and a status."""
    mechanism = create_model(  # type: ignore[call-overload]
        "Mechanism",
        __base__=Compact,
        kind=(_enum("K", [m.kind for m in c.mechanisms]), ...),
        status=(Literal[tuple(s.value for s in MechanismStatus)], ...),
    )
    return (list[mechanism], Field(default_factory=list, max_length=len(c.mechanisms)))


def _irrelevant_needs_no_people(people_keys: list[str]) -> Any:
    """The schema keeps `people` required, so a grammar makes the model answer for everyone;
    an answer that the article is irrelevant is complete without it."""

    def fill(cls: type, data: Any) -> Any:
        if isinstance(data, dict) and data.get("relevant") is False and "people" not in data:
            data = {**data, "people": dict.fromkeys(people_keys, NONE)}
        return data

    return model_validator(mode="before")(fill)


def answer_model(c: Candidates) -> type[Compact]:
    """The answer model for one article's candidates."""
    labels = [p.label for p in c.parties]
    # a person whose title names a party acts for it (assembly decides, at no token cost);
    # the model is asked only about the others
    asked = unhinted_people(c) if labels else []
    fields: dict[str, Any] = {"relevant": (bool, ...)}
    if labels:
        party = _enum("P", labels)
        n = len(labels)
        if asked:
            fields["people"] = _people_field(c, labels, asked)
        fields["parties"] = (list[party], Field(default_factory=list, max_length=n))
        fields["meetings"] = _meetings_field(c, party, n)
        if c.instruments:
            fields["agreements"] = _agreements_field(c, party, n)
    if c.mechanisms:
        fields["mechanisms"] = _mechanisms_field(c)
    return create_model(  # type: ignore[call-overload]
        "Answer",
        __base__=Compact,
        __doc__="Health cooperation in the article.",
        __validators__={"_fill": _irrelevant_needs_no_people([c.people[i].key for i in asked])},
        **fields,
    )
