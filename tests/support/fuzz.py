"""Hypothesis strategies for malformed input, and the checks every door's output must pass.

The strings carry what scraped archives carry: lone surrogates (valid JSON escapes, not
Unicode), NUL and other controls, BOMs, non-NFC and right-to-left text, and long lines. Records
carry wrong types and missing fields; files carry bytes that are not UTF-8 at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

# A text the candidate layer sends to the model: two parties and some health.
HEALTH = "Iran and Qatar signed a memorandum on health cooperation in Doha."
ODD = [
    "\ud800", "\udfff", "\udc80", "\udcff", "\x00", "\x1b", "\x7f", "\x85", "\ufeff", "\u200b",
    "\u202e", "\u2028", "\u2029", "e\u0301", "\uffff", "\U0010ffff", "\r", "\r\n", "\t", "\n",
    "مرحبا بالعالم", "עִבְרִית", "\\", '"', "{", "<p>", "<html>",
]  # fmt: skip
EXAMPLES_SCALE = float(os.environ.get("HEALTHCOOP_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    """`n` examples, scaled by HEALTHCOOP_FUZZ_SCALE for a longer hunt."""
    return max(1, int(n * EXAMPLES_SCALE))


any_char = st.characters(exclude_categories=())  # every code point, surrogates included
strings = st.one_of(
    st.text(any_char, max_size=30),
    st.lists(st.sampled_from(ODD) | st.text(any_char, max_size=4), max_size=6).map("".join),
)
texts = st.one_of(
    strings,
    st.builds(lambda a, b: a + HEALTH + b, strings, strings),  # reaches the model
    st.builds(lambda s, n: HEALTH + (s or "x") * n, strings, st.integers(100, 4000)),  # long
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), strings
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(strings, kids, max_size=3),
    max_leaves=6,
)
dates = st.one_of(
    st.sampled_from(["2024-03-07", "0", "1700000000", "2024-13-01", "", "2024-03-07T00:00:00"]),
    st.integers(-(2**40), 2**40),
    strings,
)
FIELDS = ("id", "text", "title", "published", "language", "url", "source", "extra")
_field_values = {
    "id": st.one_of(strings, st.integers(), json_values),
    "text": st.one_of(texts, texts, json_values),
    "title": st.one_of(strings, json_values),
    "published": dates,
    "language": st.one_of(strings, json_values),
    "url": strings,
    "source": strings,
    "extra": json_values,
}
clean = st.text(st.characters(), max_size=20)  # any code point but a surrogate
good_records = st.fixed_dictionaries(
    {"id": clean, "text": st.builds(lambda a, b: a + HEALTH + b, clean, clean)},
    optional={"published": st.just("2024-03-07"), "title": clean},
)


LONE = ["\ud800", "\udbff", "\udc00", "\udfff", "\udc80", "\udcff"]  # lone surrogates
# a readable string with one odd character in it, a lone surrogate half the time
odd_strings = st.builds(
    lambda a, odd, b: a + odd + b, clean, st.sampled_from(LONE) | st.sampled_from(ODD), clean
)


@st.composite
def one_field_off(draw: st.DrawFn) -> dict[str, Any]:
    """A good record with one field taken away, given an odd string, or any value."""
    record = draw(good_records)
    name = draw(st.sampled_from(FIELDS))
    how = draw(st.sampled_from(["delete", "odd", "any"]))
    if how == "delete":
        record.pop(name, None)
    elif how == "odd":
        record[name] = draw(odd_strings)
    else:
        record[name] = draw(_field_values[name])
    return record


records = st.one_of(
    good_records,
    one_field_off(),
    one_field_off(),
    st.fixed_dictionaries({}, optional=_field_values),
)


def encode(value: Any, how: str) -> bytes:
    """One JSON document as bytes: escaped (lone surrogates as \\ud800 escapes), raw UTF-8 with
    surrogates written as such (not UTF-8 then), or behind a BOM."""
    if how == "raw":
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    data = json.dumps(value).encode("ascii")
    return b"\xef\xbb\xbf" + data if how == "bom" else data


documents = st.builds(
    encode, st.one_of(records, records, json_values), st.sampled_from(["escaped", "raw", "bom"])
)
jsonl_lines = st.one_of(
    documents,
    documents,
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")),  # not JSON, maybe not UTF-8
)


def to_bytes(text: str) -> bytes:
    """`text` as file bytes: U+DC80..U+DCFF become the raw bytes they stand for (as Python's
    surrogateescape decodes them), other surrogates their 3-byte encoding: neither is UTF-8."""
    out = bytearray()
    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            out.append(ord(ch) - 0xDC00)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


file_contents = st.one_of(
    st.binary(max_size=200),
    texts.map(to_bytes),
    documents,
    *[st.builds(encode, one_field_off(), st.sampled_from(["escaped", "raw", "bom"]))] * 3,
    st.builds(lambda d: d + b"\n" + d, documents),  # more than one JSON document
)


def records_in(jsonl: bytes) -> int:
    """How many records a JSON Lines file holds: its non-blank lines."""
    return sum(1 for line in jsonl.split(b"\n") if line.strip())


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def json_lines(data: bytes) -> list[Any]:
    """The JSON values of JSON Lines output, checked: the bytes are UTF-8 (strictly), every line
    parses, and no parsed string holds a lone surrogate (which `\\ud800` escapes could carry)."""
    text = data.decode("utf-8")  # strict: raises on anything that is not UTF-8
    lines = text.split("\n")
    assert lines[-1] == "", "output must end with a newline"
    values = [json.loads(line) for line in lines[:-1]]
    for value in values:
        bad = [s for s in _strings(value) if has_surrogate(s)]
        assert not bad, f"a lone surrogate in the output: {bad[0]!r}"
    return values


def check_result_lines(values: list[Any]) -> None:
    """Each value is a bulk output line: an article id, and a record or an error."""
    for value in values:
        assert isinstance(value, dict) and isinstance(value.get("article_id"), str), value
        assert value["status"] in ("ok", "error"), value
        if value["status"] == "ok":
            assert isinstance(value["extraction"], dict)
        else:
            assert isinstance(value["error"].get("message"), str)
