"""Property-based tests of the bulk door on malformed archives (issue 17): JSON Lines, CSV and
directories of files holding lone surrogates, invalid UTF-8, NULs, BOMs, wrong types and
missing fields go through the archive readers and the whole `annotate` path (against the fake
model server). Properties: no exception escapes, one output line per input record, and the
output is UTF-8 JSON with no lone surrogate in it.

`pytest --hypothesis-show-statistics` shows how many examples each ran; HEALTHCOOP_FUZZ_SCALE
multiplies them for a longer hunt.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import httpx2
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from healthcoop import archive, bulk
from healthcoop.errors import InputError
from healthcoop.extraction import Extractor
from healthcoop.llm.client import OpenAILLM
from healthcoop.settings import Settings
from tests.support.fake_openai import FakeOpenAI, serve
from tests.support.fuzz import (
    check_result_lines,
    examples,
    file_contents,
    has_surrogate,
    json_lines,
    jsonl_lines,
    records_in,
    strings,
    texts,
    to_bytes,
)


def fuzz(n: int) -> settings:
    """Hypothesis settings for `n` examples (scaled), with no deadline: a run takes what it
    takes on a loaded CI machine."""
    return settings(
        max_examples=examples(n),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


SUFFIXES = [".txt", ".html", ".json", ".TXT", ".md"]  # .md is not an article file


@pytest.fixture(scope="module")
def fake_url():
    with serve(FakeOpenAI()) as url:
        yield url


def run_settings(url: str, where: Path) -> Settings:
    return Settings(
        base_url=url,
        model="fake",
        timeout=5,
        retries=0,
        validation_retries=0,
        concurrency=4,
        max_chars=20_000,
        store=where / "store.sqlite",
        cache_dir=where / "cache",
    )


def check_items(items: list[archive.Item]) -> None:
    for item in items:
        item.article_id.encode("utf-8")  # strict
        if item.error is not None:
            item.error.message.encode("utf-8")
            assert item.article is None
        else:
            assert item.article is not None and item.key
            assert not has_surrogate(item.article.text)


# ---------------------------------------------------------------- the readers


jsonl_files = st.builds(
    lambda lines, sep, end: sep.join(lines) + end,
    st.lists(jsonl_lines, max_size=8),
    st.sampled_from([b"\n", b"\r\n"]),
    st.sampled_from([b"", b"\n"]),
)


@fuzz(400)
@given(data=jsonl_files)
def test_the_jsonl_reader_yields_one_item_per_record_whatever_the_bytes(data):
    note(f"input: {data!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.jsonl"
        path.write_bytes(data)
        items = list(archive.read(path))
        assert archive.count(path) == len(items) == records_in(data)
        check_items(items)


def csv_bytes(rows: list[list[str]], header: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return to_bytes(buffer.getvalue())


csv_rows = st.lists(st.lists(st.one_of(texts, strings), min_size=1, max_size=6), max_size=6)


@fuzz(300)
@given(rows=csv_rows)
def test_the_csv_reader_yields_one_item_per_row_whatever_the_cells_hold(rows):
    note(f"input: {rows!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.csv"
        path.write_bytes(csv_bytes(rows, ["id", "text", "title", "published", "extra"]))
        items = list(archive.read(path))
        assert archive.count(path) == len(items) == len(rows)
        check_items(items)


@fuzz(200)
@given(data=st.one_of(st.binary(max_size=300), file_contents))
def test_any_bytes_as_a_csv_are_items_or_one_input_error_about_the_whole_file(data):
    note(f"input: {data!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.csv"
        path.write_bytes(b"id,text\n" + data)
        try:
            items = list(archive.read(path))
        except InputError as exc:
            exc.message.encode("utf-8")
            return
        assert archive.count(path) == len(items)
        check_items(items)


file_names = st.binary(min_size=1, max_size=12).map(
    lambda b: b"f" + b.replace(b"/", b"_").replace(b"\0", b"_")
)
directory = st.dictionaries(
    st.tuples(file_names, st.sampled_from(SUFFIXES), st.booleans()),  # name, suffix, in a subdir
    file_contents,
    max_size=5,
)


def write_directory(root: Path, files: dict) -> int:
    """The files under root (names as raw bytes, maybe not UTF-8); how many are articles."""
    articles = 0
    for (name, suffix, nested), content in files.items():
        folder = os.path.join(os.fsencode(root), b"sub" if nested else b"")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name + suffix.encode()), "wb") as f:
            f.write(content)
        articles += suffix != ".md"
    return articles


@fuzz(150)
@given(files=directory)
def test_the_directory_reader_yields_one_item_per_article_file_whatever_its_name(files):
    note(f"input: {files!r}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "archive"
        root.mkdir()
        expected = write_directory(root, files)
        items = list(archive.read(root))
        assert archive.count(root) == len(items) == expected
        check_items(items)


# ---------------------------------------------------------------- the whole annotate path


def extractor(settings: Settings) -> Extractor:
    """The client the runner would build, less the CA bundle it loads for HTTPS (a fifth of
    a second, and the fake server speaks plain HTTP): new for each run, as its connection pool
    belongs to the run's event loop."""
    plain = {"transport": httpx2.HTTPTransport(verify=False),
             "async_transport": httpx2.AsyncHTTPTransport(verify=False)}  # fmt: skip
    return Extractor(OpenAILLM(settings, **plain), settings)


def annotate_and_check(source: Path, where: Path, url: str, expected: int) -> list[dict]:
    out = where / "out.jsonl"
    settings = run_settings(url, where)
    summary = bulk.annotate(source, out, settings=settings, extractor=extractor(settings))
    values = json_lines(out.read_bytes())
    check_result_lines(values)
    assert len(values) == summary.records == expected
    return values


@fuzz(80)
@given(data=jsonl_files)
def test_annotate_writes_one_utf8_json_line_per_jsonl_record(fake_url, data):
    note(f"input: {data!r}")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        (where / "a.jsonl").write_bytes(data)
        annotate_and_check(where / "a.jsonl", where, fake_url, records_in(data))


@fuzz(50)
@given(rows=csv_rows)
def test_annotate_writes_one_utf8_json_line_per_csv_row(fake_url, rows):
    note(f"input: {rows!r}")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        path = where / "a.csv"
        path.write_bytes(csv_bytes(rows, ["id", "text", "published"]))
        annotate_and_check(path, where, fake_url, len(rows))


@fuzz(40)
@given(files=directory)
def test_annotate_writes_one_utf8_json_line_per_file_of_a_directory(fake_url, files):
    note(f"input: {files!r}")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        (where / "archive").mkdir()
        expected = write_directory(where / "archive", files)
        annotate_and_check(where / "archive", where, fake_url, expected)
