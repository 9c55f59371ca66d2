from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from healthcoop.core.grounding import align, find_all, fold, sentence_around
from healthcoop.schemas import Alignment, Span

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


def _sentence_by_scanning(text: str, start: int, end: int) -> tuple[int, int]:
    """The definition `sentence_around` keeps: scan back up to 600 characters for the last
    stop followed by spaces and a sentence opener (all of it before the span), and forward for
    the next stop; a line break also ends a sentence."""
    stop = re.compile(r"[.!?](?=\s+[A-Z\"'\u201c\u2018(])")
    last = -1
    for m in stop.finditer(text, max(0, start - 600), start):
        last = m.start()
    begin = max(text.rfind("\n", 0, start), last) + 1
    ahead = stop.search(text, end)
    ends = [i for i in (text.find("\n", end), ahead.start() + 1 if ahead else -1) if i != -1]
    finish = min(ends) if ends else len(text)
    while begin < finish and text[begin].isspace():
        begin += 1
    while finish > begin and text[finish - 1].isspace():
        finish -= 1
    return begin, finish


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=list('ab. !?\n\t"(A\u201c'), min_size=1, max_size=80),
    st.data(),
)
def test_sentence_around_finds_the_sentence_the_scanning_definition_gives(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    got = sentence_around(text, Span(start=start, end=end, text=text[start:end]))
    assert (got.start, got.end) == _sentence_by_scanning(text, start, end)


def test_sentence_around_looks_back_600_characters_at_most():
    text = "One. Two " + "x" * 700 + " tail"  # the stop after "One" is 700 characters back
    got = sentence_around(text, Span(start=len(text) - 4, end=len(text), text="tail"))
    assert (got.start, got.end) == _sentence_by_scanning(text, len(text) - 4, len(text))
    assert got.start == 0  # no stop within reach: the text's start


@settings(max_examples=300)
@given(
    st.text(
        alphabet=st.sampled_from(list("aZ é\u00a0\t\n\u2019\u201c\u2013ßİﬁ.,Ωж ") + ["\u0301"]),
        max_size=60,
    )
    | st.text(max_size=60)
)
def test_folding_by_table_gives_what_folding_each_character_gives(text):
    from healthcoop.core.grounding import _fold_by_char

    fast, slow = fold.__wrapped__(text), _fold_by_char(text)
    assert fast.text == slow.text
    n = len(fast.text) + 1
    assert [fast.offset(i) for i in range(n)] == [slow.offset(i) for i in range(n)]
