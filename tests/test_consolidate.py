"""Consolidation across articles (issue 15): one synthetic case per rule, in our own wording.
The dev stories are scored in tests/test_consolidation_eval.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import healthcoop
from healthcoop.analysis.consolidate import consolidate, consolidate_file, quoted_dates
from healthcoop.cli import app

PROVENANCE = {
    "task": "health_cooperation",
    "prompt_version": "p1",
    "model": "fake",
    "input_sha256": "0" * 64,
    "created_at": "2030-01-01T00:00:00Z",
}


def span(text: str) -> list[dict[str, Any]]:
    return [{"start": 0, "end": len(text), "text": text}]


def meeting(
    text: str,
    parties: tuple[str, ...] = ("ALB", "NOR"),
    *,
    date: str | None = None,
    country: str | None = None,
    city: str | None = None,
    forum: str | None = None,
    officials: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "parties": list(parties),
        "officials": list(officials),
        "date": {"start": date, "end": date} if date else None,
        "location": {"city": city, "country": country} if country or city else None,
        "forum": forum,
        "evidence": span(text),
    }


def agreement(
    text: str,
    parties: tuple[str, ...] = ("ALB", "NOR"),
    *,
    instrument: str = "mou",
    status: str = "signed",
    date: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    return {
        "instrument": instrument,
        "status": status,
        "parties": list(parties),
        "date": date,
        "title": title,
        "evidence": span(text),
    }


def line(
    article_id: str,
    *,
    meetings: list[dict[str, Any]] = (),  # type: ignore[assignment]
    agreements: list[dict[str, Any]] = (),  # type: ignore[assignment]
    officials: list[dict[str, Any]] = (),  # type: ignore[assignment]
    relevant: bool = True,
    published: str | None = None,
) -> dict[str, Any]:
    """A bulk-runner line; `published` rides beside the extraction, as a bulk line may carry it."""
    out: dict[str, Any] = {
        "article_id": article_id,
        "status": "ok",
        "extraction": {
            "article_id": article_id,
            "relevant": relevant,
            "parties": [],
            "officials": list(officials),
            "meetings": list(meetings),
            "agreements": list(agreements),
            "provenance": PROVENANCE,
        },
    }
    if published:
        out["published"] = published
    return out


def groups(events: list[dict[str, Any]]) -> list[set[str]]:
    """Each event as the set of its mentions' "article_id/item"."""
    return [{f"{m['article_id']}/{m['item']}" for m in e["mentions"]} for e in events]


def together(events: list[dict[str, Any]], *mentions: str) -> bool:
    return any(set(mentions) <= g for g in groups(events))


def apart(events: list[dict[str, Any]], a: str, b: str) -> bool:
    return not together(events, a, b)


# ---------------------------------------------------------------- the events file


def test_every_meeting_and_agreement_of_relevant_records_is_in_exactly_one_event() -> None:
    lines = [
        line(
            "a",
            meetings=[meeting("The two ministers held talks in Tirana.", date="2030-03-02")],
            agreements=[
                agreement("They signed a memorandum on hospital twinning.", date="2030-03-02")
            ],
        ),
        line(
            "b",
            meetings=[
                meeting("Ministers from both countries talked in Tirana.", date="2030-03-02")
            ],
            agreements=[
                agreement("A memorandum on twinning hospitals was signed.", date="2030-03-02"),
                agreement(
                    "A second memorandum, on nurse training, was signed too.",
                    date="2030-03-02",
                    title="nurse training memorandum",
                ),
            ],
        ),
        line("c", meetings=[meeting("An irrelevant record's meeting.")], relevant=False),
        {"article_id": "d", "status": "error", "error": {"type": "llm_error", "message": "x"}},
    ]
    events = consolidate(lines)
    seen = [m for g in groups(events) for m in g]
    assert sorted(seen) == sorted(
        ["a/meetings[0]", "a/agreements[0]", "b/meetings[0]", "b/agreements[0]", "b/agreements[1]"]
    )
    assert len(seen) == len(set(seen))
    assert sum(len(g) == 1 for g in groups(events)) == 1  # the second memorandum, alone


def test_an_event_carries_the_fields_the_issue_lists_and_is_plain_json() -> None:
    events = consolidate(
        [
            line(
                "a",
                agreements=[
                    agreement(
                        "Signed today: a memorandum on blood banks.",
                        date="2030-05-04",
                        title="MoU on blood banks",
                    )
                ],
            ),
            line(
                "b",
                agreements=[
                    agreement("The blood bank memorandum was signed on Monday.", date="2030-05-04")
                ],
            ),
        ]
    )
    (event,) = events
    assert json.loads(json.dumps(event)) == event
    for key in (
        "event_id",
        "kind",
        "parties",
        "instrument",
        "date",
        "location",
        "status",
        "lifecycle",
        "title",
        "mentions",
        "because",
    ):
        assert key in event
    assert event["kind"] == "agreement" and event["parties"] == ["ALB", "NOR"]
    assert event["instrument"] == "mou" and event["status"] == "signed"
    assert event["date"] == "2030-05-04" and event["title"] == "MoU on blood banks"
    assert event["lifecycle"] == [{"status": "signed", "date": "2030-05-04", "article_id": "a"}]
    mention = event["mentions"][0]
    assert mention["item"] == "agreements[0]" and mention["status"] == "signed"
    assert mention["evidence"][0]["text"].startswith("Signed today")
    assert "same parties ALB+NOR" in event["because"] and "same date" in event["because"]


def test_a_singleton_is_an_event_and_says_so() -> None:
    (event,) = consolidate([line("a", meetings=[meeting("A phone call between ministers.")])])
    assert event["because"] == ["single mention"] and len(event["mentions"]) == 1


def test_event_ids_come_from_content_not_from_order() -> None:
    lines = [
        line("a", meetings=[meeting("Talks in Oslo.", date="2030-01-10")]),
        line("b", meetings=[meeting("The Oslo talks.", date="2030-01-10")]),
        line("c", meetings=[meeting("Talks in Bergen.", ("NOR", "SWE"), date="2030-02-01")]),
    ]
    ids = {e["event_id"] for e in consolidate(lines)}
    assert ids == {e["event_id"] for e in consolidate(list(reversed(lines)))}
    more = [*lines, line("z", meetings=[meeting("Unrelated.", ("FIN", "EST"), date="2031-01-01")])]
    assert ids < {e["event_id"] for e in consolidate(more)}


def test_the_python_api_exports_consolidate_and_takes_bare_records() -> None:
    bare = line("a", meetings=[meeting("Talks.")])["extraction"]
    assert healthcoop.consolidate([bare]) == consolidate([bare])
    assert "consolidate" in healthcoop.__all__


# ---------------------------------------------------------------- what must match


def test_mentions_with_different_party_sets_kinds_or_instruments_never_merge() -> None:
    same_day = "2030-06-01"
    events = consolidate(
        [
            line(
                "a",
                meetings=[meeting("Talks and a signing.", date=same_day)],
                agreements=[agreement("A memorandum was signed.", date=same_day)],
            ),
            line("b", meetings=[meeting("Talks and a signing.", ("ALB", "SWE"), date=same_day)]),
            line(
                "c",
                agreements=[agreement("A treaty was signed.", instrument="treaty", date=same_day)],
            ),
        ]
    )
    assert len(events) == 4
    assert apart(events, "a/meetings[0]", "b/meetings[0]")
    assert apart(events, "a/agreements[0]", "c/agreements[0]")


def test_two_items_of_one_article_are_never_one_event() -> None:
    events = consolidate(
        [
            line(
                "a",
                meetings=[
                    meeting("Morning talks.", date="2030-01-05"),
                    meeting("Morning talks, again.", date="2030-01-05"),
                ],
            )
        ]
    )
    assert len(events) == 2


# ---------------------------------------------------------------- dates


def test_same_day_reports_merge_and_reports_days_apart_do_not() -> None:
    events = consolidate(
        [
            line("a", meetings=[meeting("The ministers met.", date="2030-04-10")]),
            line("b", meetings=[meeting("A meeting of ministers.", date="2030-04-10")]),
            line("c", meetings=[meeting("The ministers met again.", date="2030-04-14")]),
        ]
    )
    assert together(events, "a/meetings[0]", "b/meetings[0]")
    assert apart(events, "a/meetings[0]", "c/meetings[0]")


def test_an_undated_report_is_dated_by_its_publication_as_an_upper_bound() -> None:
    lines = [
        line("dated", meetings=[meeting("Ministers talked on Friday.", date="2030-09-06")]),
        # published two days after: a report of that meeting
        line("after", meetings=[meeting("The ministers have talked.")], published="2030-09-08"),
        # published before the meeting happened: it cannot report it
        line("before", meetings=[meeting("The ministers talked.")], published="2030-08-20"),
    ]
    events = consolidate(lines)
    assert together(events, "dated/meetings[0]", "after/meetings[0]")
    assert apart(events, "dated/meetings[0]", "before/meetings[0]")
    assert "reported within 3 days" in next(e for e in events if len(e["mentions"]) == 2)["because"]


def test_publication_dates_can_come_from_a_mapping_instead_of_the_lines() -> None:
    lines = [
        line("dated", meetings=[meeting("Ministers talked on Friday.", date="2030-09-06")]),
        line("undated", meetings=[meeting("A conversation took place between the two.")]),
    ]
    assert len(consolidate(lines)) == 2  # no publication date: nothing ties them
    assert len(consolidate(lines, published={"undated": "2030-09-07"})) == 1


def test_undated_reports_published_half_a_year_apart_are_different_events() -> None:
    events = consolidate(
        [
            line(
                "spring",
                meetings=[meeting("Talks held.", officials=("Ana Hoxha",))],
                published="2030-03-01",
            ),
            line(
                "autumn",
                meetings=[meeting("Talks held.", officials=("Ana Hoxha",))],
                published="2030-10-01",
            ),
        ]
    )
    assert len(events) == 2


def test_dates_are_read_from_the_evidence_in_several_languages() -> None:
    assert quoted_dates("signé le 8 juin 2019 à Malé")[0] == quoted_dates("signed June 8, 2019")[0]
    assert quoted_dates("υπογράφηκε στις 8 Ιουνίου 2019")[0] == quoted_dates("2019-06-08")[0]
    assert quoted_dates("وقعت في 8 يونيو 2019")[0] == quoted_dates("8 June 2019")[0]


# ---------------------------------------------------------------- place, forum, officials


def test_meetings_in_different_countries_stay_apart() -> None:
    events = consolidate(
        [
            line("a", meetings=[meeting("They met.", country="ALB")], published="2030-01-02"),
            line("b", meetings=[meeting("They met.", country="NOR")], published="2030-01-02"),
        ]
    )
    assert len(events) == 2


def test_the_same_ministers_at_differently_numbered_assemblies_stay_apart() -> None:
    who = ("Ana Hoxha", "Ola Berg")
    events = consolidate(
        [
            line(
                "a",
                meetings=[
                    meeting(
                        "They met at the assembly.",
                        country="CHE",
                        forum="Sixtieth Health Assembly (60th)",
                        officials=who,
                    )
                ],
            ),
            line(
                "b",
                meetings=[
                    meeting(
                        "They met at the assembly.",
                        country="CHE",
                        forum="61st Health Assembly",
                        officials=who,
                    )
                ],
            ),
            line(
                "c",
                meetings=[
                    meeting(
                        "On the assembly's sidelines they met.",
                        country="CHE",
                        forum="61st Health Assembly",
                        officials=who,
                    )
                ],
            ),
        ]
    )
    assert apart(events, "a/meetings[0]", "b/meetings[0]")
    assert together(events, "b/meetings[0]", "c/meetings[0]")


def test_shared_officials_tie_two_undated_reports_published_days_apart() -> None:
    events = consolidate(
        [
            line(
                "a",
                meetings=[meeting("Talks held.", officials=("Ana Hoxha", "Ola Berg"))],
                published="2030-02-01",
            ),
            line(
                "b",
                meetings=[meeting("Discussions took place.", officials=("A. Hoxha",))],
                published="2030-02-08",
            ),
            line("c", meetings=[meeting("A visit happened.")], published="2030-02-12"),
        ]
    )
    assert together(events, "a/meetings[0]", "b/meetings[0]")
    assert "same officials" in next(e for e in events if len(e["mentions"]) == 2)["because"]
    assert apart(events, "a/meetings[0]", "c/meetings[0]")  # 7 days and nothing else


def test_without_any_time_only_strong_evidence_merges() -> None:
    events = consolidate(
        [
            line("a", meetings=[meeting("Delegations met at the border post.")]),
            line("b", meetings=[meeting("A delegation visit took place.")]),
        ]
    )
    assert len(events) == 2


# ---------------------------------------------------------------- counted instruments, titles


def test_two_mous_signed_the_same_day_stay_apart_and_each_finds_its_own_report() -> None:
    day = "2030-07-07"
    events = consolidate(
        [
            line(
                "a",
                agreements=[
                    agreement(
                        "A memorandum on vaccine production was signed.",
                        date=day,
                        title="Memorandum on vaccine production",
                    ),
                    agreement(
                        "Another covered the training of midwives.",
                        date=day,
                        title="Memorandum on the training of midwives",
                    ),
                ],
            ),
            line(
                "b",
                agreements=[
                    agreement(
                        "The midwife training memorandum was inked.",
                        date=day,
                        title="MoU on training of midwives",
                    ),
                    agreement(
                        "Vaccine production is the subject of a second memorandum.",
                        date=day,
                        title="MoU on vaccine production",
                    ),
                ],
            ),
        ]
    )
    assert len(events) == 2
    assert together(events, "a/agreements[0]", "b/agreements[1]")
    assert together(events, "a/agreements[1]", "b/agreements[0]")


def test_different_titles_in_one_language_keep_same_day_mous_apart() -> None:
    day = "2030-07-07"
    events = consolidate(
        [
            line(
                "a",
                agreements=[agreement("signed", date=day, title="Memorandum on cancer screening")],
            ),
            line(
                "b",
                agreements=[
                    agreement("signed", date=day, title="Memorandum on veterinary laboratories")
                ],
            ),
        ]
    )
    assert len(events) == 2


def test_an_agreement_that_renews_an_older_one_is_another_event() -> None:
    events = consolidate(
        [
            line(
                "old",
                agreements=[
                    agreement(
                        "The services agreement was signed.",
                        instrument="agreement",
                        date="2027-04-25",
                    )
                ],
            ),
            line(
                "new",
                agreements=[
                    agreement(
                        "The services agreement, first signed on 25 April "
                        "2027, was renewed and signed again.",
                        instrument="agreement",
                        date="2030-06-08",
                    )
                ],
            ),
            line(
                "then",
                agreements=[
                    agreement("A services agreement has been concluded.", instrument="agreement")
                ],
                published="2027-04-26",
            ),
        ]
    )
    assert apart(events, "old/agreements[0]", "new/agreements[0]")
    assert together(events, "old/agreements[0]", "then/agreements[0]")


# ---------------------------------------------------------------- lifecycles


def test_approved_then_signed_is_one_event_with_both_stages_in_order() -> None:
    title = "Memorandum on cooperation in medicine and public health"
    events = consolidate(
        [
            line(
                "cabinet",
                agreements=[
                    agreement(
                        "The cabinet approved signing the memorandum.",
                        status="approved",
                        date="2030-10-01",
                        title=title,
                    )
                ],
            ),
            line(
                "signing",
                agreements=[
                    agreement(
                        "Ministers signed the memorandum today.", date="2030-11-20", title=title
                    )
                ],
            ),
        ]
    )
    (event,) = events
    assert [s["status"] for s in event["lifecycle"]] == ["approved", "signed"]
    assert [s["article_id"] for s in event["lifecycle"]] == ["cabinet", "signing"]
    assert event["status"] == "signed" and event["date"] == "2030-11-20"


def test_signed_then_approved_after_the_fact_is_one_event_ending_approved() -> None:
    events = consolidate(
        [
            line(
                "signing",
                agreements=[agreement("Six pacts were signed; one on health.", date="2030-06-08")],
            ),
            line(
                "cabinet",
                agreements=[
                    agreement(
                        "The cabinet gave ex-post-facto approval; the "
                        "memorandum was signed on June 8, 2030.",
                        status="approved",
                    )
                ],
                published="2030-07-03",
            ),
        ]
    )
    (event,) = events
    assert [s["status"] for s in event["lifecycle"]] == ["signed", "approved"]
    assert event["lifecycle"][1] == {
        "status": "approved",
        "date": "2030-07-03",
        "article_id": "cabinet",
    }
    assert event["status"] == "approved" and event["date"] == "2030-06-08"


def test_a_proposal_reported_long_after_a_signing_is_another_instrument() -> None:
    events = consolidate(
        [
            line("signed", agreements=[agreement("A memorandum was signed.", date="2030-01-15")]),
            line(
                "later",
                agreements=[agreement("They agreed to draft a memorandum.", status="proposed")],
                published="2030-05-01",
            ),
        ]
    )
    assert len(events) == 2


# ---------------------------------------------------------------- files and the command


def test_the_command_streams_results_and_reads_publication_dates_from_the_archive(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text(
        "\n".join(
            json.dumps(x)
            for x in (
                line("a", meetings=[meeting("Ministers met.", date="2030-09-06")]),
                line("b", meetings=[meeting("The ministers met.")]),
            )
        )
    )
    archive = tmp_path / "archive.jsonl"
    archive.write_text(json.dumps({"id": "b", "text": "…", "published": "2030-09-07"}) + "\n")
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        app, ["consolidate", str(results), "-o", str(out), "--articles", str(archive)]
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(events) == 1 and len(events[0]["mentions"]) == 2
    assert "2 mentions → 1 events" in result.output


def test_the_command_refuses_a_missing_file_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["consolidate", str(tmp_path / "nope.jsonl"), "-o", "x"])
    assert result.exit_code == 2
    assert "InputError" in result.output and "Traceback" not in result.output


def test_the_baseline_merges_every_mention_of_one_block(tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(
        "\n".join(
            json.dumps(line(n, meetings=[meeting("Met.", date=d)]))
            for n, d in (("a", "2030-01-01"), ("b", "2031-01-01"))
        )
    )
    summary = consolidate_file(results, tmp_path / "e.jsonl", naive=True)
    assert summary.events == 1 and summary.mentions == 2


@pytest.mark.parametrize("bad", ["[1, 2]", '{"article_id": "x", "status": "maybe"}'])
def test_a_line_that_is_not_a_result_is_an_input_error(tmp_path: Path, bad: str) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(bad + "\n")
    result = CliRunner().invoke(app, ["consolidate", str(results), "-o", str(tmp_path / "e")])
    assert result.exit_code == 2 and "r.jsonl:1" in result.output


# ---------------------------------------------------------------- languages


def test_reports_in_two_languages_merge_on_dates_and_titles_do_not_count_against() -> None:
    day = "2030-03-15"
    events = consolidate(
        [
            line(
                "en",
                agreements=[
                    agreement(
                        "The two ministers signed a memorandum on blood transfusion services.",
                        date=day,
                        title="Memorandum on blood transfusion services",
                    )
                ],
            ),
            line(
                "fr",
                agreements=[
                    agreement(
                        "Les deux ministres ont signé un protocole d'accord sur la transfusion.",
                        date=day,
                        title="Protocole d'accord sur les services de transfusion sanguine",
                    )
                ],
            ),
        ]
    )
    assert len(events) == 1


def test_an_arabic_report_quoting_the_date_in_arabic_digits_joins_the_dated_one() -> None:
    events = consolidate(
        [
            line("en", meetings=[meeting("The ministers met in the capital.", date="2030-06-08")]),
            line("ar", meetings=[meeting("التقى الوزيران في ٨ يونيو ٢٠٣٠ في العاصمة")]),
            line("el", meetings=[meeting("Οι υπουργοί συναντήθηκαν στις 9 Ιουνίου 2030.")]),
            line("late", meetings=[meeting("التقى الوزيران في ٢٠ يونيو ٢٠٣٠")]),
        ]
    )
    assert together(events, "en/meetings[0]", "ar/meetings[0]", "el/meetings[0]")
    assert apart(events, "en/meetings[0]", "late/meetings[0]")


def test_an_article_written_twice_by_a_retried_run_counts_once_the_later_line_winning() -> None:
    first = line("a", meetings=[meeting("Talks.", date="2030-01-01")])
    again = line("a", meetings=[meeting("Talks, as reported again.", date="2030-01-01")])
    (event,) = consolidate([first, again])
    assert event["mentions"][0]["evidence"][0]["text"] == "Talks, as reported again."
    assert consolidate([first, line("a", relevant=False)]) == []


def test_a_stale_pending_report_the_day_after_a_signing_does_not_end_the_lifecycle() -> None:
    events = consolidate(
        [
            line(
                "a",
                agreements=[agreement("The health memorandum was signed.")],
                published="2030-06-08",
            ),
            line(
                "b",
                agreements=[agreement("The health memorandum is to be signed.", status="pending")],
                published="2030-06-09",
            ),
        ]
    )
    (event,) = events
    assert [s["status"] for s in event["lifecycle"]] == ["pending", "signed"]
    assert event["status"] == "signed"


def test_a_date_that_is_only_the_day_of_the_report_does_not_split_a_later_report() -> None:
    who = ("Ana Hoxha", "Ola Berg")
    events = consolidate(
        [
            line(
                "first",
                meetings=[meeting("The ministers met.", officials=who)],
                published="2030-12-28",
            ),
            # the extractor dated the meeting by the report's own dateline, days later
            line(
                "later",
                meetings=[meeting("The two ministers agreed.", date="2031-01-06", officials=who)],
                published="2031-01-06",
            ),
            # a meeting genuinely dated days after another dated one stays apart
            line(
                "other",
                meetings=[meeting("They met once more.", date="2031-01-09", officials=who)],
                published="2031-01-09",
            ),
        ]
    )
    assert together(events, "first/meetings[0]", "later/meetings[0]")
    assert apart(events, "later/meetings[0]", "other/meetings[0]")
