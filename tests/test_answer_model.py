"""The per-article answer model: its JSON Schema is written out directly, and validation holds
an answer to that schema (the enums, the list bounds, the people asked about)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from healthcoop.extraction.answer import NONE, answer_model, answer_schema
from healthcoop.extraction.candidates import find_candidates

TEXT = (
    "TEHRAN – Iran's Health Minister Karim Rahimi met his Qatari counterpart Laila Al-Mansouri "
    "on Tuesday in Doha. The two sides agreed to set up a joint working group on communicable "
    "diseases, and a memorandum of understanding on medical education will be signed soon. "
    "Reporting by Tom Baker."
)
C = find_candidates(TEXT, dt.date(2024, 3, 7))
GOOD = {
    "relevant": True,
    "people": {"Baker": "none"},
    "parties": ["Iran", "Qatar"],
    "meetings": [{"with": ["Iran", "Qatar"], "date": "Tuesday", "place": "Doha"}],
    "agreements": [{"type": "mou", "status": "pending", "with": ["Iran", "Qatar"]}],
    "mechanisms": [{"kind": "working_group", "status": "proposed"}],
}


def test_the_schema_names_each_kind_of_candidate_once_and_refers_to_it():
    schema = answer_schema(C)
    assert list(schema) == ["$defs", "description", "properties", "required", "type", "title"]
    assert schema["$defs"] == {
        "D": {"enum": ["Tuesday", NONE]},
        "I": {"enum": ["mou"]},
        "K": {"enum": ["working_group"]},
        "L": {"enum": ["TEHRAN", "Doha", "Iran", "Qatar", NONE]},
        "P": {"enum": ["Iran", "Qatar"]},
        "Q": {"enum": ["Iran", "Qatar", NONE]},
    }
    props = schema["properties"]
    assert list(props) == ["relevant", "people", "parties", "meetings", "agreements", "mechanisms"]
    assert props["people"] == {
        "properties": {"Baker": {"$ref": "#/$defs/Q"}},
        "required": ["Baker"],
        "type": "object",
    }
    assert props["meetings"]["items"]["properties"] == {
        "with": {"items": {"$ref": "#/$defs/P"}, "maxItems": 2, "type": "array"},
        "date": {"$ref": "#/$defs/D"},
        "place": {"$ref": "#/$defs/L"},
    }
    assert schema["required"] == ["relevant", "people"] and schema["title"] == "Answer"


def test_an_article_without_parties_is_asked_only_what_it_names():
    c = find_candidates("Malaria vaccines were discussed by a working group.", None)
    assert json.dumps(answer_schema(c)) == json.dumps({
        "$defs": {"K": {"enum": ["working_group"]}},
        "description": "Health cooperation in the article.",
        "properties": {
            "relevant": {"type": "boolean"},
            "mechanisms": {
                "items": {"properties": {"kind": {"$ref": "#/$defs/K"},
                                         "status": {"enum": ["established", "proposed"]}},
                          "required": ["kind", "status"], "type": "object"},
                "maxItems": 1, "type": "array",
            },
        },
        "required": ["relevant"], "type": "object", "title": "Answer",
    })  # fmt: skip


def test_the_model_gives_the_schema_and_a_copy_each_time():
    model = answer_model(C)
    one = model.model_json_schema()
    one["properties"].clear()
    assert model.model_json_schema() == answer_schema(C)
    assert model.name == "Answer" and model.model.__doc__ == "Health cooperation in the article."


def test_a_class_that_carries_the_schema_validates_as_the_bound_model_does():
    model = answer_model(C)
    carrier = model.as_class()
    assert carrier.request_schema is model.schema and carrier.__name__ == "Answer"
    assert carrier.model_validate(GOOD).model_dump() == model.model_validate(GOOD).model_dump()
    with pytest.raises(ValidationError, match="'Oman' is not one of"):
        carrier.model_validate({**GOOD, "parties": ["Oman"]})


def test_an_answer_within_the_schema_validates():
    answer = answer_model(C).model_validate_json(json.dumps(GOOD), strict=True)
    assert answer.parties == ["Iran", "Qatar"] and answer.people == {"Baker": NONE}
    assert answer.meetings[0].with_ == ["Iran", "Qatar"] and answer.meetings[0].date == "Tuesday"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"parties": ["Iran", "Oman"]}, "parties.1: 'Oman' is not one of"),
        ({"parties": ["Iran", "Qatar", "Iran"]}, "parties: more than 2 items"),
        ({"people": {}}, "people: missing ['Baker']"),
        ({"people": {"Baker": "Oman"}}, "people.Baker: 'Oman'"),
        ({"meetings": [{"with": ["Iran", "Oman"]}]}, "meetings.0.with.1: 'Oman'"),
        ({"meetings": [{"with": ["Iran"], "date": "Friday"}]}, "meetings.0.date: 'Friday'"),
        ({"meetings": [{"with": ["Iran"], "place": "Muscat"}]}, "meetings.0.place: 'Muscat'"),
        ({"meetings": [{"with": []}] * 13}, "meetings: more than 12 items"),
        ({"agreements": [{"type": "treaty", "status": "signed"}]}, "agreements.0.type: 'treaty'"),
        ({"agreements": [{"type": "mou", "status": "done"}]}, "agreements.0.status: 'done'"),
        ({"agreements": [{"type": "mou", "status": "signed"}] * 2}, "agreements: more than 1"),
        ({"mechanisms": [{"kind": "network", "status": "proposed"}]}, "mechanisms.0.kind"),
        ({"mechanisms": [{"kind": "working_group", "status": "x"}]}, "mechanisms.0.status: 'x'"),
    ],
)
def test_an_answer_outside_the_schema_is_refused_and_the_error_says_where(change, said):
    with pytest.raises(ValidationError) as refused:
        answer_model(C).model_validate({**GOOD, **change})
    assert said in str(refused.value)


def test_a_required_field_missing_or_of_the_wrong_type_is_refused():
    model = answer_model(C)
    for bad in ({"parties": ["Iran"]}, {"relevant": "yes", "people": {"Baker": NONE}}):
        with pytest.raises(ValidationError):
            model.model_validate_json(json.dumps(bad), strict=True)


def test_what_the_schema_does_not_offer_is_ignored_as_an_extra_key_is():
    c = find_candidates("Iran's minister met Iraq's minister to discuss health.", None)
    model = answer_model(c)
    assert "mechanisms" not in model.model_json_schema()["properties"]
    answer = model.model_validate({
        "relevant": True, "parties": ["Iran", "Iraq"], "extra": 1,
        "mechanisms": [{"kind": "network", "status": "proposed"}],
        "meetings": [{"with": ["Iran", "Iraq"], "date": "Friday"}],
        "people": {"Nobody": "Iran"},
    })  # fmt: skip
    assert answer.mechanisms == [] and answer.people == {}
    assert answer.meetings[0].date == NONE  # the text names no date: none is offered


def test_relevant_false_alone_is_a_complete_answer():
    answer = answer_model(C).model_validate({"relevant": False})
    assert answer.people == {"Baker": NONE} and answer.parties == []


def test_the_answer_class_alone_refuses_to_validate_without_a_schema():
    from healthcoop.extraction.answer import Answer

    with pytest.raises(ValidationError, match="against its article's schema"):
        Answer.model_validate(GOOD)
