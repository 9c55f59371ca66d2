"""Many regular expressions over one text, tried only where a match can begin.

The cue patterns are `(?<!\\w)(?:…)(?!\\w)`: a match begins at the start of a word, with one of
a few short beginnings ("mou", "mem", "tre", …). `re.finditer` tries every position of the
text for every pattern (30 patterns × 3,000 characters for a news article). A `Scanner` works
out once which beginnings (up to PREFIX characters) a match of each pattern can have; for a
text it finds the starts of words once, looks their first characters up, and tries each
pattern only there. The matches are those of `pattern.finditer(text)`, in the same order and
non-overlapping in the same way; a pattern whose beginnings it cannot bound (one that need not
start a word, or may start with anything) is run with finditer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

try:  # the parser of the re module (Python ≥ 3.11), else its older name
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

PREFIX = 3  # characters of a beginning looked at
SMALL_SET = 40  # a character class with more members ends a beginning there
_REPEATS = tuple(
    op for op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)) if op
)

# A beginning is (text, open): `open` while later elements may still extend it.
Beginnings = set[tuple[str, bool]]


def _extend(states: Beginnings, seq: Iterable) -> Beginnings:
    for op, av in seq:
        if not any(is_open for _, is_open in states):
            break
        states = _step(states, op, av)
    return states


def _close(states: Beginnings) -> Beginnings:
    return {(s, False) for s, _ in states}


def _step(states: Beginnings, op: object, av: object) -> Beginnings:  # noqa: PLR0911
    done = {(s, o) for s, o in states if not o}
    live = {s for s, o in states if o}
    if op in (_c.ASSERT, _c.ASSERT_NOT, _c.AT):
        return states  # zero width
    if op is _c.LITERAL:
        chars: set[str] | None = {chr(av)}  # type: ignore[arg-type]
    elif op is _c.IN:
        chars = _charset(av)  # type: ignore[arg-type]
    else:
        chars = None
    if chars is not None:
        out = set(done)
        for s in live:
            for ch in chars:
                t = s + ch
                out.add((t, len(t) < PREFIX))
        return out
    if op is _c.BRANCH:
        out = set(done)
        for alternative in av[1]:  # type: ignore[index]
            out |= _extend({(s, True) for s in live}, alternative)
        return out
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, seq = av  # type: ignore[misc]
        if add_flags:  # (?i) and the like inside: a beginning ends here
            return _close(states)
        return done | _extend({(s, True) for s in live}, seq)
    if op in _REPEATS:
        low, _high, seq = av  # type: ignore[misc]
        once = _close(_extend({(s, True) for s in live}, seq))  # one or more: end there
        return done | once | ({(s, True) for s in live} if low == 0 else set())
    return _close(states)  # anything else (., groups referred to, …) ends a beginning here


def _charset(items: list) -> set[str] | None:
    out: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            out.add(chr(av))
        elif op is _c.RANGE and av[1] - av[0] < SMALL_SET:
            out.update(chr(i) for i in range(av[0], av[1] + 1))
        else:
            return None  # a category (\s, \w), a negation, a wide range
    return out if len(out) <= SMALL_SET else None


def beginnings(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """How a match of `pattern` may begin: a set of strings of 1 to PREFIX characters, each
    starting with a word character, such that every match starts with one of them; None when
    they cannot be bounded so (case-insensitive patterns, matches that need not start a word,
    or may begin with anything)."""
    if pattern.flags & (re.IGNORECASE | re.LOCALE | re.VERBOSE):
        return None
    if not pattern.pattern.startswith("(?<!\\w)"):
        return None
    try:
        states = _extend({("", True)}, _parser.parse(pattern.pattern, pattern.flags))
    except (re.error, TypeError, ValueError, RecursionError):
        return None
    found = frozenset(s for s, _ in states)
    if not found or any(not s or not (s[0].isalnum() or s[0] == "_") for s in found):
        return None
    return found


def trie_alternation(words: list[str]) -> str:
    """A regex that matches the same as the alternation of `words` longest first, written as
    a trie: names share their prefixes, so the engine tries a handful of branches at each
    position instead of a thousand names (one gazetteer pass went from 2.7 ms to 0.2 ms on a
    3,000-character article). At each node the longer continuations come first and ending
    there last, so backtracking still gives the longest name that fits what follows."""
    trie: dict[str, dict] = {}
    for word in words:
        if word:
            node = trie
            for ch in word:
                node = node.setdefault(ch, {})
            node[""] = {}  # a name ends here

    def emit(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        if "" not in node:
            return body
        return f"(?:{body})?" if len(branches) == 1 else f"{body}?"

    return emit(trie)


class Scanner:
    """Runs a fixed list of patterns over texts, each only where its matches can begin."""

    def __init__(self, patterns: Iterable[re.Pattern[str]]) -> None:
        self.patterns = list(patterns)
        self.index: dict[str, list[int]] = {}  # beginning → patterns (by position in the list)
        self.whole: set[int] = set()  # patterns run with finditer
        for i, pattern in enumerate(self.patterns):
            found = beginnings(pattern)
            if found is None:
                self.whole.add(i)
                continue
            for b in found:
                self.index.setdefault(b, []).append(i)
        # the beginnings in one Aho-Corasick automaton: one pass in C over the text
        self.automaton = _automaton({b: tuple(ids) for b, ids in self.index.items()})

    def starts(self, text: str) -> list[list[int]]:
        """For each pattern, the word starts of `text` where a match may begin (ascending)."""
        where: list[list[int]] = [[] for _ in self.patterns]
        hits: dict[int, set[int]] = {}  # word start → the patterns a beginning there names
        for p, _, ids in _at_word_starts(self.automaton, text):
            hits.setdefault(p, set()).update(ids)
        for p in sorted(hits):
            for i in hits[p]:
                where[i].append(p)
        return where

    def finditer(self, text: str, i: int, starts: list[int]) -> Iterator[re.Match[str]]:
        """`self.patterns[i].finditer(text)`, trying only `starts` (from `self.starts`)."""
        pattern = self.patterns[i]
        if i in self.whole:
            yield from pattern.finditer(text)
            return
        end = 0
        for p in starts:
            if p < end:
                continue  # inside the previous match: finditer goes on after it
            m = pattern.match(text, p)
            if m is not None:
                yield m
                end = m.end()


# ---------------------------------------------------------------- one word, cheaply


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"  # what \w matches in a str pattern


def _automaton(keys: dict[str, Any]) -> Any:
    """An Aho-Corasick automaton (pyahocorasick) of `keys`, each found with (its length, its
    value); None if there are none."""
    import ahocorasick

    if not keys:
        return None
    automaton = ahocorasick.Automaton()
    for key, value in keys.items():
        automaton.add_word(key, (len(key), value))
    automaton.make_automaton()
    return automaton


def _at_word_starts(automaton: Any, text: str) -> Iterator[tuple[int, int, Any]]:
    """(start, end, value) of every key of `automaton` in `text` that starts a word (follows
    no word character: a pattern's `(?<!\\w)`), found in one pass in C."""
    if automaton is None:
        return
    for last, (length, value) in automaton.iter(text):
        start = last + 1 - length
        if start == 0 or not _is_word_char(text[start - 1]):
            yield start, last + 1, value


def word_spans(text: str, word: str) -> Iterator[tuple[int, int]]:
    """Where `word` stands in `text` as a whole word: the (start, end) of each match of
    `re.finditer(rf"(?<!\\w){re.escape(word)}(?!\\w)", text)`, found with `str.find` (a
    pattern that opens with a lookbehind is tried at every position of the text: 70 µs for a
    surname in a news article, against a few here)."""
    if not word:
        yield from ((m.start(), m.end()) for m in re.finditer(r"(?<!\w)(?!\w)", text))
        return
    n, size = len(word), len(text)
    i = text.find(word)
    while i != -1:
        j = i + n
        if (i == 0 or not _is_word_char(text[i - 1])) and (j == size or not _is_word_char(text[j])):
            yield i, j
            i = text.find(word, j)
        else:
            i = text.find(word, i + 1)


class Words:
    """Whole words from long lists (gazetteers' names) in a text: for each list, the matches
    of `re.compile(rf"(?<!\\w)(?:{trie_alternation(words)}){suffix}(?!\\w)").finditer(text)`,
    where `suffix` is `(?:'s?)?` if `possessive` else nothing, as (start, end) pairs; found by
    one Aho-Corasick automaton over all the lists (pyahocorasick), one pass in C over the
    text, where the regex engine tries a list's trie at every position of the text (0.1-0.2
    ms a gazetteer on a news article).

    The regex's choice is kept: the leftmost start that follows no word character; there the
    longest word whose end the suffix and (?!\\w) accept, the suffix taken as long as it fits;
    then on from the match's end."""

    def __init__(self, lists: dict[str, Iterable[str]], *, possessive: bool = False) -> None:
        self.possessive = possessive
        self.names = list(lists)
        owners: dict[str, list[str]] = {}  # word → the lists that hold it
        for name, words in lists.items():
            for word in words:
                if word and name not in owners.setdefault(word, []):
                    owners[word].append(name)
        self.automaton = _automaton({word: tuple(names) for word, names in owners.items()})

    def _end(self, text: str, end: int) -> int | None:
        """Where a match whose word ends at `end` ends, or None if none may end there."""
        size = len(text)
        if self.possessive and end < size and text[end] == "'":
            if (end + 1 < size and text[end + 1] == "s") and (
                end + 2 == size or not _is_word_char(text[end + 2])
            ):
                return end + 2
            if end + 1 == size or not _is_word_char(text[end + 1]):
                return end + 1
        if end == size or not _is_word_char(text[end]):
            return end
        return None

    def spans(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """Each list's matches in `text`."""
        # per list: word start → the ends of the list's words that start there
        ends: dict[str, dict[int, list[int]]] = {name: {} for name in self.names}
        for start, end, names in _at_word_starts(self.automaton, text):
            for name in names:
                ends[name].setdefault(start, []).append(end)
        return {name: self._choose(text, found) for name, found in ends.items()}

    def _choose(self, text: str, ends: dict[int, list[int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        done = 0
        for start in sorted(ends):
            if start < done:
                continue
            for end in sorted(ends[start], reverse=True):
                found = self._end(text, end)
                if found is not None:
                    out.append((start, found))
                    done = found
                    break
        return out


# ---------------------------------------------------------------- case-insensitive, cheaply

# letters that IGNORECASE matches to an ASCII letter but str.lower() leaves alone
_FOLDS_APART = ("\u017f", "\u0131")  # long s, dotless i
_UPPER_ESCAPE = re.compile(r"\\[A-Z]")  # \S \W \B \D \A \Z \N{...}: lower case changes them


def lowered(text: str) -> str | None:
    """`text` in lower case when that keeps every offset and every case-insensitive match of
    an ASCII pattern; None otherwise ("İ" lowers to two characters; IGNORECASE matches "ſ" to
    "s", lower() keeps it)."""
    low = text.lower()
    if len(low) != len(text) or any(c in text for c in _FOLDS_APART):
        return None
    return low


def lower_pattern(source: str) -> str:
    """A case-insensitive pattern's source in lower case, for lower-cased texts (`lowered`):
    its escapes must be lower case already (\\b \\s \\w \\d)."""
    if _UPPER_ESCAPE.search(source) or len(source.lower()) != len(source):
        raise ValueError(f"cannot lower this pattern: {source[:60]!r}")
    return source.lower()


class Caseless:
    """A case-insensitive regular expression that searches the lower-cased text with a
    lower-cased copy of itself: the same matches (offsets; the matched text is in lower
    case) at a third to a half of IGNORECASE's cost, which tries case variants at every
    position. A text `lowered` refuses is searched with IGNORECASE."""

    def __init__(self, source: str) -> None:
        self.pattern = re.compile(source, re.IGNORECASE)
        self.low = re.compile(lower_pattern(source))

    def search(self, text: str) -> re.Match[str] | None:
        low = lowered(text)
        return self.pattern.search(text) if low is None else self.low.search(low)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """The matches of `self.pattern.finditer(text)`: their offsets, that is (take the text
        from `text`: a match's own group is in lower case)."""
        low = lowered(text)
        return self.pattern.finditer(text) if low is None else self.low.finditer(low)


__all__ = [
    "PREFIX",
    "Caseless",
    "Scanner",
    "beginnings",
    "lower_pattern",
    "lowered",
    "word_spans",
    "Words",
]
