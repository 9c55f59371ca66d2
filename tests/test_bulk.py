"""Bulk annotation: every record exactly once, cached, selective, and robust to faults."""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

import healthcoop
from healthcoop import bulk
from healthcoop.archive import count as archive_count
from healthcoop.bulk.store import Store
from healthcoop.core import prompting
from healthcoop.errors import ConfigError, ExtractionError, LLMError
from healthcoop.extraction import Extractor, shared_extractor
from healthcoop.settings import Settings
from tests.conftest import seed_text
from tests.support.fake_openai import FakeOpenAI, Fault, serve
from tests.support.instant import Crash, InstantLLM
from tests.support.settings import fake_settings


def article(i: int) -> dict:
    return {"id": f"a{i:03d}", "text": f"Iran and Qatar signed health memorandum number {i}."}


def write_jsonl(path: Path, records: list, *, raw_lines: tuple[bytes, ...] = ()) -> Path:
    with open(path, "wb") as f:
        for r in records:
            f.write(json.dumps(r).encode() + b"\n")
        for line in raw_lines:
            f.write(line + b"\n")
    return path


def read_out(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def ids(lines: list[dict]) -> list[str]:
    return [line["article_id"] for line in lines]


@pytest.fixture
def fake():
    app = FakeOpenAI()
    with serve(app) as url:
        app.url = url
        yield app


@pytest.fixture
def settings_for(tmp_path):
    def make(url: str, **overrides) -> Settings:
        base = {"retries": 2, "store": tmp_path / "store.sqlite", "concurrency": 4}
        return fake_settings(url, **{**base, **overrides})

    return make


def instant_extractor(tmp_path: Path, llm: InstantLLM, **overrides) -> tuple[Extractor, Settings]:
    settings = Settings(store=tmp_path / "store.sqlite", concurrency=4, **overrides)
    return Extractor(llm, settings), settings


def with_prompt_edit(extractor: Extractor, extra: str) -> Extractor:
    """The same extractor with its prompt template edited (so its prompt version changes)."""
    p = extractor.pipeline
    p.template = prompting.parse(p.template.name, p.template.source + extra)
    p.prompt_version = p.template.version(p.strategy.schema_fingerprint())
    return extractor


# ---------------------------------------------------------------- one line per record


def test_every_record_becomes_one_line_in_input_order_and_bad_ones_are_error_lines(
    tmp_path, fake, settings_for
):
    archive = write_jsonl(
        tmp_path / "archive.jsonl",
        [article(0), {"id": "empty", "text": "   "}, article(1), ["not", "an", "object"]],
        raw_lines=(b'{"id": "cut", "text": "Iran and', b"\xff\xfe not utf-8", b"", b"  "),
    )
    summary = healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings_for(fake.url))
    lines = read_out(tmp_path / "out.jsonl")
    assert ids(lines) == ["a000", "empty", "a001", "line 4", "line 5", "line 6"]
    assert [line["status"] for line in lines] == ["ok", "error", "ok", "error", "error", "error"]
    assert lines[0]["extraction"]["article_id"] == "a000"
    assert {line["error"]["type"] for line in lines if line["status"] == "error"} == {"input_error"}
    assert "not valid JSON" in lines[4]["error"]["message"]
    assert "UTF-8" in lines[5]["error"]["message"]
    assert (summary.records, summary.ok, summary.errors) == (6, 2, 4)
    assert fake.requests == 2


def test_a_second_run_asks_nothing_and_writes_the_same_lines(tmp_path, fake, settings_for):
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(20)])
    settings = settings_for(fake.url)
    healthcoop.annotate(archive, tmp_path / "first.jsonl", settings=settings)
    asked = fake.requests
    summary = healthcoop.annotate(archive, tmp_path / "second.jsonl", settings=settings)
    assert asked == 20 and fake.requests == 20
    assert (summary.cached, summary.annotated) == (20, 0)
    first, second = (tmp_path / "first.jsonl").read_text(), (tmp_path / "second.jsonl").read_text()
    assert first == second


def test_the_same_text_under_two_ids_is_asked_once_and_written_under_each_id(tmp_path):
    text = "Iran and Qatar signed a health memorandum."
    archive = write_jsonl(
        tmp_path / "archive.jsonl", [{"id": "x", "text": text}, {"id": "y", "text": text}]
    )
    llm = InstantLLM()
    extractor, settings = instant_extractor(tmp_path, llm)
    healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings, extractor=extractor)
    lines = read_out(tmp_path / "out.jsonl")
    assert len(llm.asked) == 1
    assert ids(lines) == ["x", "y"]
    assert [line["extraction"]["article_id"] for line in lines] == ["x", "y"]


def test_metadata_that_the_model_sees_is_part_of_the_key(tmp_path):
    text = "The health ministers of Iran and Qatar met on Sunday."
    records = [{"id": "a", "text": text}, {"id": "b", "text": text, "published": "2025-04-28"}]
    archive = write_jsonl(tmp_path / "archive.jsonl", records)
    llm = InstantLLM()
    extractor, settings = instant_extractor(tmp_path, llm)
    healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings, extractor=extractor)
    assert len(llm.asked) == 2


# ---------------------------------------------------------------- selective re-annotation


def test_a_prompt_change_re_annotates_exactly_the_records_it_affects(tmp_path):
    first_half = write_jsonl(tmp_path / "half.jsonl", [article(i) for i in range(10)])
    whole = write_jsonl(tmp_path / "whole.jsonl", [article(i) for i in range(20)])
    llm = InstantLLM()
    v1, settings = instant_extractor(tmp_path, llm)
    v2 = with_prompt_edit(Extractor(llm, settings), "\nBe terse.")
    assert v1.prompt_version != v2.prompt_version

    healthcoop.annotate(first_half, None, settings=settings, extractor=v1)
    assert len(llm.asked) == 10
    healthcoop.annotate(whole, tmp_path / "v2.jsonl", settings=settings, extractor=v2)
    assert len(llm.asked) == 30  # the new prompt: every record once
    healthcoop.annotate(whole, tmp_path / "v1.jsonl", settings=settings, extractor=v1)
    assert len(llm.asked) == 40  # back to the old prompt: only the 10 it never saw
    healthcoop.annotate(whole, tmp_path / "v2.jsonl", settings=settings, extractor=v2)
    assert len(llm.asked) == 40
    versions = {
        line["extraction"]["provenance"]["prompt_version"]
        for line in read_out(tmp_path / "v1.jsonl")
    }
    assert versions == {v1.prompt_version}


def test_a_model_change_or_force_re_annotates_everything(tmp_path):
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(5)])
    old, new = InstantLLM("model-a"), InstantLLM("model-b")
    ex_old, settings = instant_extractor(tmp_path, old)
    healthcoop.annotate(archive, None, settings=settings, extractor=ex_old)
    healthcoop.annotate(archive, None, settings=settings, extractor=Extractor(new, settings))
    assert (len(old.asked), len(new.asked)) == (5, 5)
    healthcoop.annotate(archive, None, settings=settings, extractor=ex_old)
    assert len(old.asked) == 5
    healthcoop.annotate(archive, None, settings=settings, extractor=ex_old, force=True)
    assert len(old.asked) == 10


def test_only_errors_retries_the_failures_and_nothing_else(tmp_path):
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(6)])
    failing = {"number 1.", "number 4."}

    def fail(text: str) -> ExtractionError | None:
        if any(f in text for f in failing):
            return ExtractionError("the model's answer did not validate", attempts=1)
        return None

    llm = InstantLLM(fail=fail)
    extractor, settings = instant_extractor(tmp_path, llm)
    out = tmp_path / "out.jsonl"
    summary = healthcoop.annotate(archive, out, settings=settings, extractor=extractor)
    assert summary.errors == 2 and summary.error_types == {"extraction_error": 2}

    healthcoop.annotate(archive, out, settings=settings, extractor=extractor)
    assert len(llm.asked) == 6  # a model that cannot answer is a result: not asked again

    failing.clear()
    summary = healthcoop.annotate(
        archive, out, settings=settings, extractor=extractor, only_errors=True
    )
    assert len(llm.asked) == 8 and summary.errors == 0
    assert [line["status"] for line in read_out(out)] == ["ok"] * 6


def test_force_and_only_errors_together_are_a_usage_error(tmp_path):
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(0)])
    extractor, settings = instant_extractor(tmp_path, InstantLLM())
    with pytest.raises(ConfigError):
        healthcoop.annotate(
            archive, None, settings=settings, extractor=extractor, force=True, only_errors=True
        )


# ---------------------------------------------------------------- faults from the server


def test_a_429_with_retry_after_is_waited_out_and_counted_in_provenance(
    tmp_path, fake, settings_for
):
    fake.script(Fault.rate_limit(retry_after=0.2))
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(3)])
    progress: list[int] = []
    summary = healthcoop.annotate(
        archive,
        tmp_path / "out.jsonl",
        settings=settings_for(fake.url, concurrency=1),
        progress=lambda p: progress.append(p.pauses),
    )
    lines = read_out(tmp_path / "out.jsonl")
    assert [line["status"] for line in lines] == ["ok"] * 3
    attempts = [line["extraction"]["provenance"]["attempts"] for line in lines]
    assert attempts == [2, 1, 1]
    assert summary.attempts == 4 and fake.requests == 4
    assert summary.pauses == 1 and progress[-1] == 1  # every worker waited it out


def test_500s_past_the_retry_bound_are_a_retryable_error_that_a_plain_rerun_retries(
    tmp_path, fake, settings_for
):
    fake.script(*[Fault.server_error()] * 3)
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(3)])
    settings = settings_for(fake.url, concurrency=1, retries=2)
    out = tmp_path / "out.jsonl"
    healthcoop.annotate(archive, out, settings=settings)
    first = read_out(out)
    assert [line["status"] for line in first] == ["error", "ok", "ok"]
    assert first[0]["error"]["type"] == "llm_error" and first[0]["error"]["kind"] == "server"
    assert fake.requests == 5

    summary = healthcoop.annotate(archive, out, settings=settings)
    assert fake.requests == 6 and summary.annotated == 1
    assert [line["status"] for line in read_out(out)] == ["ok"] * 3


def test_a_hanging_server_times_out_into_an_error_line_and_the_run_goes_on(
    tmp_path, fake, settings_for
):
    fake.script(Fault.hang(3))
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(3)])
    settings = settings_for(fake.url, concurrency=1, retries=0, timeout=0.5)
    healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings)
    lines = read_out(tmp_path / "out.jsonl")
    assert [line["status"] for line in lines] == ["error", "ok", "ok"]
    assert lines[0]["error"]["kind"] == "timeout" and lines[0]["error"]["retryable"] is True


def test_garbage_replies_are_extraction_error_lines_not_retried_by_a_plain_rerun(
    tmp_path, fake, settings_for
):
    # the model's answer is garbage (a model fault, kept); a 200 whose body is not a
    # completion at all is the server's fault and retried: tests/test_failures.py
    fake.script(Fault.garbage(), Fault.garbage())
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(3)])
    settings = settings_for(fake.url, concurrency=1, retries=0, validation_retries=0)
    out = tmp_path / "out.jsonl"
    healthcoop.annotate(archive, out, settings=settings)
    lines = read_out(out)
    assert [line["status"] for line in lines] == ["error", "error", "ok"]
    assert {lines[0]["error"]["type"], lines[1]["error"]["type"]} == {"extraction_error"}
    healthcoop.annotate(archive, out, settings=settings)
    assert fake.requests == 3


def test_rejected_credentials_stop_the_run_instead_of_failing_every_record(
    tmp_path, fake, settings_for
):
    fake.script(Fault(status=401, body='{"error": {"message": "bad key"}}'))
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(50)])
    with pytest.raises(LLMError) as err:
        healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings_for(fake.url))
    assert err.value.kind == "auth"
    assert not (tmp_path / "out.jsonl").exists()
    with Store(tmp_path / "store.sqlite") as store:
        assert all(row_status == "ok" for row_status in _statuses(store))


def _statuses(store: Store) -> list[str]:
    return [r[0] for r in store._db.execute("SELECT status FROM results")]


# ---------------------------------------------------------------- crashes and exactly once


def test_a_crashed_run_keeps_its_answers_and_the_next_run_writes_each_record_once(tmp_path):
    records = [article(i) for i in range(40)] + [article(3), {"id": "bad"}]
    archive = write_jsonl(tmp_path / "archive.jsonl", records)
    crashing = InstantLLM(crash_after=25)
    extractor, settings = instant_extractor(tmp_path, crashing)
    with pytest.raises(Crash):
        healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings, extractor=extractor)
    assert not (tmp_path / "out.jsonl").exists()
    with Store(tmp_path / "store.sqlite") as store:
        kept = store.count()  # answers in flight when it crashed are lost, and asked again
    assert 0 < kept <= 25

    llm = InstantLLM()
    healthcoop.annotate(
        archive, tmp_path / "out.jsonl", settings=settings, extractor=Extractor(llm, settings)
    )
    lines = read_out(tmp_path / "out.jsonl")
    assert ids(lines) == [r.get("id") for r in records]
    assert len(llm.asked) == 40 - kept  # nothing stored is asked again
    assert [line["status"] for line in lines].count("ok") == 41


# ---------------------------------------------------------------- archive formats


def test_csv_gzipped_jsonl_and_a_directory_of_files_are_archives(tmp_path):
    llm = InstantLLM()
    extractor, settings = instant_extractor(tmp_path, llm)
    text = seed_text("002")

    with open(tmp_path / "a.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["doc", "body", "published", "author"])
        w.writeheader()
        w.writerow({"doc": "s002", "body": text, "published": "2025-04-28", "author": "x"})
        w.writerow({"doc": "blank", "body": "", "published": "", "author": ""})
    healthcoop.annotate(
        tmp_path / "a.csv",
        tmp_path / "csv.jsonl",
        settings=settings,
        extractor=extractor,
        text_field="body",
        id_field="doc",
    )
    assert [(x["article_id"], x["status"]) for x in read_out(tmp_path / "csv.jsonl")] == [
        ("s002", "ok"),
        ("blank", "error"),
    ]

    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "g1", "text": text}) + "\n")
    healthcoop.annotate(
        tmp_path / "a.jsonl.gz", tmp_path / "gz.jsonl.gz", settings=settings, extractor=extractor
    )
    assert ids(read_out(tmp_path / "gz.jsonl.gz")) == ["g1"]

    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "b.txt").write_text(text, encoding="utf-8")
    (tmp_path / "dir" / "sub" / "a.html").write_text(f"<html><body><p>{text}</p></body></html>")
    (tmp_path / "dir" / "notes.md").write_text("not an article")
    healthcoop.annotate(
        tmp_path / "dir", tmp_path / "dir.jsonl", settings=settings, extractor=extractor
    )
    assert ids(read_out(tmp_path / "dir.jsonl")) == ["b", "sub/a"]


def test_a_csv_without_the_text_column_says_which_option_names_it(tmp_path):
    (tmp_path / "a.csv").write_text("id,body\n1,hello\n")
    extractor, settings = instant_extractor(tmp_path, InstantLLM())
    with pytest.raises(healthcoop.InputError, match="--text-field"):
        healthcoop.annotate(tmp_path / "a.csv", None, settings=settings, extractor=extractor)


# ---------------------------------------------------------------- dry run and the unit of work


def test_a_dry_run_counts_and_estimates_without_asking_or_storing(tmp_path):
    archive = write_jsonl(
        tmp_path / "archive.jsonl", [article(i) for i in range(4)] + [{"id": "x"}]
    )
    llm = InstantLLM()
    extractor, settings = instant_extractor(tmp_path, llm, price_prompt=1.0, price_completion=2.0)
    healthcoop.annotate(
        write_jsonl(tmp_path / "one.jsonl", [article(0)]),
        None,
        settings=settings,
        extractor=extractor,
    )

    plan = bulk.plan(archive, settings=settings, extractor=extractor)
    assert (plan.records, plan.cached, plan.todo, plan.input_errors) == (5, 1, 3, 1)
    assert plan.prompt_tokens > 3 * 100  # the prompt and the response schema, for three records
    assert plan.completion_tokens_max == 3 * settings.max_tokens
    expected = (plan.prompt_tokens * 1.0 + plan.completion_tokens_max * 2.0) / 1e6
    assert plan.cost_max == pytest.approx(expected)
    assert len(llm.asked) == 1


def test_a_dry_run_on_a_new_store_creates_nothing(tmp_path):
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(0)])
    settings = Settings(base_url="http://127.0.0.1:9/v1", model="m", store=tmp_path / "s.sqlite")
    plan = bulk.plan(archive, settings=settings)
    assert plan.todo == 1 and plan.key.model == "m"
    assert not (tmp_path / "s.sqlite").exists()


def test_the_unit_of_work_maps_one_record_to_its_output_line():
    llm = InstantLLM()
    extractor = Extractor(llm, Settings())
    line = bulk.annotate_one(article(7), extractor=extractor)
    assert line["article_id"] == "a007" and line["status"] == "ok"
    assert line["extraction"]["provenance"]["model"] == "instant"
    bad = bulk.annotate_one({"id": "e", "text": ""}, extractor=extractor)
    assert bad["status"] == "error" and bad["error"]["type"] == "input_error"


@settings_h(max_examples=25, deadline=None)
@given(
    texts=st.lists(st.sampled_from(["", "a", "b", "c", "d", "e", "f", None]), max_size=30),
    crash_after=st.integers(min_value=0, max_value=12),
    failing=st.sets(st.sampled_from(["a", "d", "f"])),
    concurrency=st.integers(min_value=1, max_value=5),
)
def test_exactly_once_whatever_crashes_failures_and_repeats_the_archive_holds(
    texts, crash_after, failing, concurrency
):
    def text(t: str | None) -> str | None:
        return f"Iran and Qatar discussed health item {t}." if t else t

    def item(message: str) -> str:
        return re.search(r"health item (\w)\.", message).group(1)

    records = [{"id": f"r{i}", "text": text(t)} for i, t in enumerate(texts)]

    def fail(message: str) -> ExtractionError | None:
        return ExtractionError("no") if item(message) in failing else None

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        archive = write_jsonl(tmp_path / "archive.jsonl", records, raw_lines=(b"{broken",))
        settings = Settings(store=tmp_path / "store.sqlite", concurrency=concurrency)
        first = InstantLLM(fail=fail, crash_after=crash_after)
        with contextlib.suppress(Crash):
            healthcoop.annotate(
                archive, None, settings=settings, extractor=Extractor(first, settings)
            )
        second = InstantLLM(fail=fail)
        out = tmp_path / "out.jsonl"
        healthcoop.annotate(archive, out, settings=settings, extractor=Extractor(second, settings))
        lines = read_out(out)

    assert ids(lines) == [r["id"] for r in records] + [f"line {len(records) + 1}"]
    asked_second = [item(m) for m in second.asked]
    assert len(set(asked_second)) == len(asked_second)  # no text asked twice in a run
    assert {item(m) for m in first.asked} | set(asked_second) == {t for t in texts if t}
    for t, line in zip(texts, lines[:-1], strict=True):
        assert line["status"] == ("ok" if t and t not in failing else "error")


def test_a_missing_or_damaged_archive_is_an_input_error_not_a_traceback(tmp_path):
    extractor, settings = instant_extractor(tmp_path, InstantLLM())
    with pytest.raises(healthcoop.InputError, match="no such archive"):
        healthcoop.annotate(tmp_path / "nope.jsonl", None, settings=settings, extractor=extractor)
    (tmp_path / "bad.jsonl.gz").write_bytes(b"this is not gzip")
    with pytest.raises(healthcoop.InputError, match="cannot be read"):
        healthcoop.annotate(tmp_path / "bad.jsonl.gz", None, settings=settings, extractor=extractor)
    with pytest.raises(healthcoop.InputError, match="cannot be read"):
        archive_count(tmp_path / "bad.jsonl.gz")


def test_the_progress_total_counts_records_in_every_format(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [article(0), article(1)], raw_lines=(b"", b"{bad"))
    (tmp_path / "a.csv").write_text('id,text\n1,"two\nlines"\n\n2,x\n')
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("x")
    assert [archive_count(tmp_path / n) for n in ("a.jsonl", "a.csv", "d")] == [3, 2, 1]


def test_the_unit_of_work_reuses_one_extractor_per_settings(fake, settings_for):
    settings = settings_for(fake.url)
    first = bulk.annotate_one(article(1), settings)
    second = bulk.annotate_one(article(2), settings.model_copy())
    assert (first["status"], second["status"]) == ("ok", "ok")
    assert shared_extractor(settings) is shared_extractor(settings.model_copy())


# ---------------------------------------------------------------- worker processes


def test_worker_processes_write_every_record_once_and_share_a_429_pause(
    tmp_path, fake, settings_for
):
    fake.script(Fault.rate_limit(retry_after=0.2))
    records = [article(i) for i in range(40)]
    archive = write_jsonl(tmp_path / "archive.jsonl", records, raw_lines=(b"{broken",))
    settings = settings_for(fake.url, concurrency=4, processes=2)
    summary = healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings)
    lines = read_out(tmp_path / "out.jsonl")
    assert ids(lines) == [r["id"] for r in records] + ["line 41"]
    assert (summary.ok, summary.errors, summary.pauses) == (40, 1, 1)
    assert summary.attempts == 41 and fake.requests == 41

    again = healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings)
    assert again.annotated == 0 and fake.requests == 41


def test_rejected_credentials_stop_a_run_with_worker_processes(tmp_path, fake, settings_for):
    fake.script(*[Fault(status=401, body='{"error": {"message": "bad key"}}')] * 4)
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(i) for i in range(20)])
    settings = settings_for(fake.url, concurrency=2, processes=2)
    with pytest.raises(LLMError) as err:
        healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings)
    assert err.value.kind == "auth"
    assert not (tmp_path / "out.jsonl").exists()


def test_worker_processes_need_settings_not_an_extractor_and_enough_concurrency(tmp_path):
    archive = write_jsonl(tmp_path / "archive.jsonl", [article(0)])
    extractor, settings = instant_extractor(tmp_path, InstantLLM())
    with pytest.raises(ConfigError, match="processes=1"):
        healthcoop.annotate(archive, None, settings=settings, extractor=extractor, processes=2)
    with pytest.raises(ConfigError, match="concurrency of at least 3"):
        healthcoop.annotate(archive, None, settings=settings, concurrency=2, processes=3)


def test_an_output_line_carries_the_articles_publication_date_for_consolidation(tmp_path):
    records = [
        {"id": "dated", "text": "Iran and Qatar met on health.", "published": "2024-05-01"},
        {"id": "undated", "text": "Iran and Qatar met on health."},
    ]
    archive = write_jsonl(tmp_path / "archive.jsonl", records)
    met = {
        "relevant": True,
        "parties": ["Iran", "Qatar"],
        "meetings": [{"with": ["Iran", "Qatar"]}],
    }
    extractor, settings = instant_extractor(tmp_path, InstantLLM(answer=met))
    healthcoop.annotate(archive, tmp_path / "out.jsonl", settings=settings, extractor=extractor)
    lines = {x["article_id"]: x for x in read_out(tmp_path / "out.jsonl")}
    assert lines["dated"]["published"] == "2024-05-01"
    assert "published" not in lines["undated"]
    from_line = healthcoop.consolidate([lines["dated"]])
    assert from_line and from_line == healthcoop.consolidate(
        [lines["dated"]["extraction"]], published={"dated": "2024-05-01"}
    )
    assert from_line != healthcoop.consolidate([lines["dated"]["extraction"]])
