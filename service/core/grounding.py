"""Grounding: finding each extracted item's evidence in the article, as character offsets.

Alignment is tried exactly first, then on folded text (case, quotes, dashes, whitespace), then
fuzzily with rapidfuzz; how a span was found is kept on the span (`Alignment`).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from healthcoop.schemas import Alignment, Span

_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Folded:
    """A text folded for loose matching, with a map from each folded char to its source offset:
    `index` (index[i] = offset of folded char i; len = len(text)+1), or, when no character
    folded to several, `jumps`: where the offsets jump (the folded positions after collapsed
    whitespace runs, ascending) and by how much in all from there on; neither: the identity."""

    text: str
    index: tuple[int, ...] | None = None
    jumps: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def offset(self, i: int) -> int:
        """The source offset of folded char `i` (of the text's end, for len(text))."""
        if self.index is not None:
            return self.index[i]
        if self.jumps is None:
            return i
        at, shift = self.jumps
        k = bisect.bisect_right(at, i)
        return i + shift[k - 1] if k else i

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        return self.offset(start), self.offset(end - 1) + 1 if end > start else self.offset(start)


@lru_cache(maxsize=8192)  # a text repeats few distinct characters; folding each is the cost
def _fold_char(ch: str) -> str:
    ch = ch.translate(_FOLD)
    # strip accents so "Zafarqandí" meets "Zafarqandi"; keep non-Latin scripts as they are
    decomposed = unicodedata.normalize("NFD", ch)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return (base or ch).casefold()


@lru_cache(maxsize=64)
def fold(text: str) -> Folded:
    """Fold case, accents, quotes and dashes; collapse whitespace runs to one space."""
    return _fold_by_table(text) or _fold_by_char(text)


_SEVERAL = "several"  # a character that folds, or lowers, to several


@lru_cache(maxsize=8192)
def _fold_after_lower(ch: str) -> str | None:
    """What `ch.lower()` still needs to become `ch`'s fold: None if nothing, _SEVERAL if
    either is longer than one character."""
    f = " " if ch.isspace() else _fold_char(ch)
    low = ch.lower()
    if len(f) != 1 or len(low) != 1 or (f == " " and not ch.isspace()):
        return _SEVERAL
    return f if f != low else None


def _fold_by_table(text: str) -> Folded | None:
    """`fold` for a text whose every character folds to one character (most texts), without a
    loop over its characters: `str.lower`, then a substitution of the few characters whose
    fold differs from their lower case (accents, quotes, dashes, whitespace), then the
    whitespace runs (about 0.75 ms → 0.1 ms on a news article). None when some character
    folds, or lowers, to several ("ß" → "ss")."""
    table: dict[str, str] = {}
    for ch in set(text):
        f = _fold_after_lower(ch)
        if f is None:
            continue
        low = ch.lower()
        if f is _SEVERAL or table.get(low, f) != f:
            return None
        table[low] = f
    flat = text.lower()
    for low, f in table.items():  # whitespace is " " after this, and only whitespace is
        flat = flat.replace(low, f)
    at: list[int] = []
    shift: list[int] = []
    pieces: list[str] = []
    cut = 0  # source characters dropped so far
    kept = 0  # where the text not yet in `pieces` begins
    run = flat.find("  ")
    while run != -1:  # one space of each run stays, at folded position run - cut
        end = run + 2
        while end < len(flat) and flat[end] == " ":
            end += 1
        pieces.append(flat[kept : run + 1])
        at.append(run - cut + 1)
        cut += end - run - 1
        shift.append(cut)
        kept = end
        run = flat.find("  ", end)
    if not at:
        return Folded(flat)
    pieces.append(flat[kept:])
    return Folded("".join(pieces), jumps=(tuple(at), tuple(shift)))


def _fold_by_char(text: str) -> Folded:
    out: list[str] = []
    index: list[int] = []
    in_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if in_space:
                continue
            in_space = True
            out.append(" ")
            index.append(i)
            continue
        in_space = False
        for f in _fold_char(ch):
            out.append(f)
            index.append(i)
    index.append(len(text))
    return Folded("".join(out), index=tuple(index))


def _bounded(text: str, start: int, end: int) -> bool:
    """True when text[start:end] does not cut a word in two."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() and text[start].isalnum()) and not (
        after.isalnum() and text[end - 1].isalnum()
    )


def _span(text: str, start: int, end: int, how: Alignment) -> Span:
    return Span(start=start, end=end, text=text[start:end], alignment=how)


def find_all(text: str, needle: str, *, whole_words: bool = True, limit: int = 50) -> list[Span]:
    """Every exact, then every folded, occurrence of `needle` (repeated mentions all count)."""
    needle = needle.strip()
    if not needle:
        return []
    spans: list[Span] = []
    for m in re.finditer(re.escape(needle), text):
        if not whole_words or _bounded(text, m.start(), m.end()):
            spans.append(_span(text, m.start(), m.end(), Alignment.exact))
            if len(spans) >= limit:
                return spans
    if spans:
        return spans
    folded, key = fold(text), fold(needle).text.strip()
    if not key:
        return []
    for m in re.finditer(re.escape(key), folded.text):
        start, end = folded.source_span(m.start(), m.end())
        if not whole_words or _bounded(text, start, end):
            spans.append(_span(text, start, end, Alignment.normalized))
            if len(spans) >= limit:
                break
    return spans


def align(text: str, quote: str, *, threshold: float = 85.0) -> Span | None:
    """The best single span for `quote`: exact, else folded, else fuzzy (score >= threshold)."""
    quote = quote.strip()
    if not quote:
        return None
    found = find_all(text, quote, whole_words=False, limit=1)
    if found:
        return found[0]
    folded, key = fold(text), fold(quote).text.strip()
    if len(key) < 4 or len(key) > len(folded.text):
        return None
    hit = fuzz.partial_ratio_alignment(key, folded.text, score_cutoff=threshold)
    if hit is None or hit.dest_end <= hit.dest_start:
        return None
    start, end = folded.source_span(hit.dest_start, hit.dest_end)
    start, end = _trim(text, start, end)
    if end <= start:
        return None
    return _span(text, start, end, Alignment.fuzzy)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_around(text: str, span: Span) -> Span:
    """The sentence (or line) that holds `span`: the evidence a reader checks a fact against."""
    return _sentences(text).around(span.start, span.end, span.alignment)


_STOP = re.compile(r"[.!?](?=\s+[A-Z\"'\u201c\u2018(])")
_NOT_SPACE = re.compile(r"\S")
LOOKBACK = 600  # characters searched back for the stop that opens a sentence


class _Sentences:
    """One text's sentence stops, found once, and the sentences handed out so far: a news
    article asks for the same few dozen sentences about 90 times, from as many spans."""

    def __init__(self, text: str) -> None:
        self.text = text
        # every sentence stop and, for each, where the next sentence begins (the first
        # character after the stop's spaces); both ascend
        self.stops: list[int] = []
        self.opens: list[int] = []
        for m in _STOP.finditer(text):
            self.stops.append(m.start())
            self.opens.append(_NOT_SPACE.search(text, m.start() + 1).start())  # type: ignore[union-attr]
        self.asked: dict[tuple[int, int, Alignment], Span] = {}  # a span's → its sentence
        self.spans: dict[tuple[int, int, Alignment], Span] = {}  # bounds → the sentence

    def around(self, span_start: int, span_end: int, alignment: Alignment) -> Span:
        key = (span_start, span_end, alignment)
        found = self.asked.get(key)
        if found is not None:
            return found
        text, stops = self.text, self.stops
        # back to the last stop whose next sentence begins before the span (within
        # LOOKBACK characters) or the last line break; on to the next stop or line break
        i = bisect.bisect_left(self.opens, span_start) - 1
        last = stops[i] if i >= 0 and stops[i] >= span_start - LOOKBACK else -1
        start = max(text.rfind("\n", 0, span_start), last) + 1
        j = bisect.bisect_left(stops, span_end)
        ends = [e for e in (text.find("\n", span_end), stops[j] + 1 if j < len(stops) else -1)
                if e != -1]  # fmt: skip
        end = min(ends) if ends else len(text)
        bounds = (*_trim(text, start, end), alignment)
        sentence = self.spans.get(bounds)
        if sentence is None:
            sentence = self.spans[bounds] = _span(text, *bounds)
        self.asked[key] = sentence
        return sentence


# the texts being worked on (as `fold`): a text is asked about before and after its model call,
# with the other requests in flight (32 in the benchmarks) in between
@lru_cache(maxsize=64)
def _sentences(text: str) -> _Sentences:
    return _Sentences(text)
