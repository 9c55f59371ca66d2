from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from healthcoop.core.grounding import align, find_all, fold, sentence_around
from healthcoop.schemas import Alignment

TEXT = (
    "TEHRAN – Health Minister Mohammad-Reza Zafarqandi met Russia’s deputy health minister "
    "Oleg Salagay. Zafarqandi said Iran and Russia would sign an MoU. Zafarqandi added more."
)


def test_exact_span_offsets_point_at_the_quoted_text():
    span = align(TEXT, "Oleg Salagay")
    assert span is not None
    assert span.alignment is Alignment.exact
    assert TEXT[span.start : span.end] == span.text == "Oleg Salagay"


def test_repeated_mentions_are_all_found_in_order():
    spans = find_all(TEXT, "Zafarqandi")
    assert [TEXT[s.start : s.end] for s in spans] == ["Zafarqandi"] * 3
    assert [s.start for s in spans] == sorted(s.start for s in spans)


def test_whole_word_matching_does_not_find_a_name_inside_another_word():
    assert find_all("The Iranian delegation arrived.", "Iran") == []
    assert len(find_all("Iran and Iran's partners", "Iran")) == 2


def test_case_quote_and_whitespace_differences_align_as_normalized():
    span = align(TEXT, "russia's  DEPUTY health minister")
    assert span is not None
    assert span.alignment is Alignment.normalized
    assert span.text == "Russia’s deputy health minister"


def test_a_paraphrased_quote_aligns_fuzzily_to_the_closest_passage():
    span = align(TEXT, "Iran and Russia will sign an MoU", threshold=80)
    assert span is not None
    assert span.alignment is Alignment.fuzzy
    assert "sign an MoU" in span.text
    assert TEXT[span.start : span.end] == span.text


def test_an_invented_quote_is_not_grounded():
    assert align(TEXT, "Putin visited the Kremlin hospital") is None
    assert align(TEXT, "") is None


def test_arabic_and_cyrillic_text_keep_exact_offsets():
    text = (
        "التقى وزير الصحة حمد بن عبدالله مع نظيره. Министр здравоохранения Михаил Мурашко заявил."
    )
    for name in ("حمد بن عبدالله", "Михаил Мурашко"):
        span = align(text, name)
        assert span is not None and span.alignment is Alignment.exact
        assert text[span.start : span.end] == name


def test_accents_fold_so_an_unaccented_name_finds_the_accented_one():
    text = "La ministra María José Peñalver y el Dr. Tedros se reunieron."
    span = align(text, "Maria Jose Penalver")
    assert span is not None and span.alignment is Alignment.normalized
    assert span.text == "María José Peñalver"


def test_folding_keeps_a_map_back_to_source_offsets_even_when_length_changes():
    text = "Straße  der   Gesundheit"  # ß folds to "ss"; whitespace runs collapse
    folded = fold(text)
    start = folded.text.index("gesundheit")
    s, e = folded.source_span(start, start + len("gesundheit"))
    assert text[s:e] == "Gesundheit"


def test_sentence_around_returns_the_whole_sentence():
    span = align(TEXT, "sign an MoU")
    sentence = sentence_around(TEXT, span)
    assert sentence.text == "Zafarqandi said Iran and Russia would sign an MoU."
    assert TEXT[sentence.start : sentence.end] == sentence.text


@given(st.text(min_size=1, max_size=200), st.data())
def test_any_substring_grounds_to_offsets_that_slice_back_to_the_span(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    span = align(text, text[start:end])
    if text[start:end].strip():
        assert span is not None
        assert text[span.start : span.end] == span.text
