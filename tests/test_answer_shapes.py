"""Answer models cached by candidate shape (issue 16): articles whose candidates differ only in
where they stand share one model; any other difference gets its own."""

from __future__ import annotations

import json

from healthcoop.extraction.answer import answer_model
from healthcoop.extraction.candidates import find_candidates
from healthcoop.extraction.shapes import AnswerModels, shape_key

STORY = (
    "Ghana's health minister Kofi Mensah received the WHO regional director in Accra on "
    "Monday, and the two signed a memorandum of understanding on malaria control."
)


def _schema(model: type) -> str:
    return json.dumps(model.model_json_schema(), sort_keys=True)


def test_the_same_story_at_other_offsets_shares_one_answer_model():
    cache = AnswerModels()
    here, there = find_candidates(STORY), find_candidates("Reprinted.\n\n" + STORY)
    assert here.parties[0].mentions[0].start != there.parties[0].mentions[0].start
    assert shape_key(here) == shape_key(there)
    assert cache.get(here) is cache.get(there)
    assert (cache.hits, cache.misses) == (1, 1)
    assert _schema(cache.get(there)) == _schema(answer_model(there))


def test_another_party_gets_its_own_answer_model():
    cache = AnswerModels()
    other = STORY.replace("Ghana's", "Togo's")
    one, two = cache.get(find_candidates(STORY)), cache.get(find_candidates(other))
    assert one is not two
    assert "Togo" in _schema(two) and "Togo" not in _schema(one)


def test_the_cache_keeps_at_most_its_size():
    cache = AnswerModels(size=2)
    for country in ("Ghana", "Togo", "Benin"):
        cache.get(find_candidates(STORY.replace("Ghana", country)))
    assert len(cache._models) == 2
