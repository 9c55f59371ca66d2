"""core.scan: patterns tried only where a match can begin give finditer's matches exactly."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from healthcoop.core.scan import (
    Caseless,
    Scanner,
    Words,
    beginnings,
    lower_pattern,
    lowered,
    trie_alternation,
    word_spans,
)
from healthcoop.extraction.candidates import _compiled

CUES = [p for d in _compiled(lowered=True) for p in d.values()]
# made-up patterns with the constructs the analysis handles: branches, optional and repeated
# parts, classes, nested groups, lookarounds, a pattern that is all optional after one letter
SHAPES = [
    re.compile(r"(?<!\w)(?:ab|a(?:c|d)?e?|b[a-c]+x)(?!\w)"),
    re.compile(r"(?<!\w)(?:(?<!x-)ab\s+c|\bba)(?!\w)"),
    re.compile(r"(?<!\w)(?:a|b)(?:\s+(?:of|a))?(?!\w)"),
    re.compile(r"(?<!\w)(?:c(?:a|b)*a)(?!\w)"),
    re.compile(r"(?<!\w)x"),
]
ALPHABET = list("abcdeox- \n.,") + ["ab ", "ba ", "of ", "x-ab c", "cabba "]


def _words_of(patterns: list[re.Pattern[str]]) -> list[str]:
    words = set()
    for p in patterns:
        words.update(w for w in re.findall(r"[a-z]{2,}", p.pattern))
    return sorted(words)


CUE_WORDS = _words_of(CUES)


def _same(scanner: Scanner, text: str) -> None:
    starts = scanner.starts(text)
    for i, pattern in enumerate(scanner.patterns):
        got = [(m.start(), m.end()) for m in scanner.finditer(text, i, starts[i])]
        want = [(m.start(), m.end()) for m in pattern.finditer(text)]
        assert got == want, (pattern.pattern, text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join))
def test_made_up_patterns_match_as_finditer_does(text):
    _same(Scanner(SHAPES), text)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(CUE_WORDS), st.sampled_from([" ", "-", ", ", ". ", "\n", "s"])),
        max_size=60,
    ).map("".join)
)
def test_the_cue_patterns_match_as_finditer_does(text):
    _same(Scanner(CUES), text)


def test_every_cue_pattern_is_bounded_by_its_beginnings():
    # all of them are tried only at their beginnings: a new cue that is not shows up here
    assert all(beginnings(p) for p in CUES)


@pytest.mark.parametrize(
    "pattern",
    [
        re.compile(r"(?<!\w)(?:ab)", re.IGNORECASE),  # case-insensitive: not bounded here
        re.compile(r"ab"),  # need not start a word
        re.compile(r"(?<!\w)(?:.b)"),  # may begin with anything
        re.compile(r"(?<!\w)(?:\s*ab)"),  # may begin with a space
        re.compile(r"(?<!\w)(?:a?)"),  # may match nothing
    ],
)
def test_patterns_beyond_the_analysis_are_scanned_whole(pattern):
    assert beginnings(pattern) is None
    scanner = Scanner([pattern])
    text = "ab xab  ab\tb"
    _same(scanner, text)


# ---------------------------------------------------------------- Caseless


def _caseless_patterns() -> list[Caseless]:
    from healthcoop.extraction import assemble, candidates

    found = [v for m in (assemble, candidates) for v in vars(m).values() if isinstance(v, Caseless)]
    assert len(found) >= 10, "the status, sector and health patterns are Caseless"
    return found


CASELESS = _caseless_patterns()
# words of the patterns in mixed case, and the letters where lower() and IGNORECASE part ways
CASE_ALPHABET = [
    *{w for c in CASELESS for w in re.findall(r"[a-z]{3,}", c.pattern.pattern)},
    *"SIGNED Signed will to be . , \n-",
    *"12 2024 3rd 2024-05-01 of Sept. mAY".split(),  # dates
    *"\u017f\u0131\u0130\u212a\u00e9\u00c9",
]
# those words, each in lower, upper or title case
MIXED_CASE_TEXT = st.lists(
    st.sampled_from(CASE_ALPHABET).flatmap(lambda w: st.sampled_from([w, w.upper(), w.title()])),
    max_size=25,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(MIXED_CASE_TEXT, st.sampled_from(CASELESS))
def test_caseless_search_finds_what_ignorecase_finds(text, caseless):
    mine, theirs = caseless.search(text), caseless.pattern.search(text)
    assert (mine is None) == (theirs is None)
    if mine is not None:
        assert mine.span() == theirs.span()


@settings(max_examples=300, deadline=None)
@given(MIXED_CASE_TEXT, st.sampled_from(CASELESS))
def test_caseless_finditer_finds_what_ignorecase_finds(text, caseless):
    assert [m.span() for m in caseless.finditer(text)] == [
        m.span() for m in caseless.pattern.finditer(text)
    ]


@pytest.mark.parametrize("source", [r"\S+", r"a\Wb", r"\Bx", r"\N{DASH}"])
def test_patterns_that_lower_case_would_change_are_refused(source):
    with pytest.raises(ValueError):
        lower_pattern(source)


def test_texts_whose_lower_case_moves_offsets_or_matches_are_searched_with_ignorecase():
    assert lowered("\u0130stanbul") is None  # İ lowers to two characters
    assert lowered("mi\u017fsion") is None  # IGNORECASE matches ſ to s
    assert lowered("Signed") == "signed"
    assert Caseless("mission").search("MI\u017fSION") is not None


# words that overlap themselves ("anan" in "ananan"), word characters of other scripts and
# digits, underscores and punctuation on either side
WORD_ALPHABET = [*"an_ .'-\n", "\u00e9", "\u0661", "\u00b2", "\u4e2d", "Ali", "Ali's"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(WORD_ALPHABET), max_size=30).map("".join),
    st.lists(st.sampled_from(WORD_ALPHABET), max_size=4).map("".join),
)
def test_word_spans_are_the_whole_word_matches_of_a_regex(text, word):
    expected = [m.span() for m in re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", text)]
    assert list(word_spans(text, word)) == expected


def _gazetteer_words() -> list[tuple[re.Pattern[str], Words, str]]:
    from healthcoop.core.normalise import (
        city_index,
        country_index,
        gazetteer_words,
        organization_index,
    )

    folded, cased = gazetteer_words()
    out = []
    for name, index in (("country", country_index()), ("organization", organization_index()),
                        ("city", city_index())):  # fmt: skip
        out.append((index.pattern, folded, name))
        if index.pattern_cased is not None:
            out.append((index.pattern_cased, cased, name))
    return out


GAZETTEERS = _gazetteer_words()
# names and their pieces, overlapping names, possessives, word characters around them
NAME_ALPHABET = [
    "iran", "iranian", "islamic republic of iran", "russia", "russian federation", "oman",
    "romania", "niger", "nigeria", "nis", "tehran", "xi'an", "WHO", "UN", "UNICEF", "USA",
    "'", "'s", "s", " ", ", ", "-", "x", "_", "9", "\u00e9", "\n",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(NAME_ALPHABET), max_size=30).map("".join),
    st.sampled_from(range(len(GAZETTEERS))),
)
@example("iran's russia' oman'sx romania", 0)
def test_gazetteer_words_are_found_where_the_gazetteer_regex_finds_them(text, which):
    pattern, words, name = GAZETTEERS[which]
    if words.possessive:  # the folded names: matched in folded (lower-case) text
        text = text.lower()
    assert words.spans(text)[name] == [m.span() for m in pattern.finditer(text)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["ab", "abc", "b", "bc", "c"]), min_size=1, max_size=4),
    st.lists(st.sampled_from(["a", "b", "c", "'", "s", " ", "_"]), max_size=14).map("".join),
    st.booleans(),
)
@example(["ab"], "ab's ab' ab'sc ab_ ab", True)  # the possessive suffix, as long as it fits
@example(["ab", "abc"], "abc's abcs", True)
def test_words_choose_as_the_regex_does(words, text, possessive):
    suffix = "(?:'s?)?" if possessive else ""
    pattern = re.compile(rf"(?<!\w)(?:{trie_alternation(words)}){suffix}(?!\w)")
    found = Words({"a": words, "b": words[:1]}, possessive=possessive).spans(text)
    assert found["a"] == [m.span() for m in pattern.finditer(text)]
