"""Scoring against gold records: pure tests on small synthetic gold and predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from healthcoop.errors import InputError
from healthcoop.scoring.evaluate import FIELDS, Report, match, person_score, score

PROVENANCE = {
    "task": "health_cooperation",
    "prompt_version": "p1",
    "model": "fake",
    "input_sha256": "0" * 64,
    "created_at": "2025-01-01T00:00:00Z",
    "usage": {"prompt_tokens": 1000, "completion_tokens": 200},
    "latency_ms": 2000,
}


def gold(article_id: str = "a1", relevant: bool = True, **fields: Any) -> dict[str, Any]:
    return {"id": article_id, "relevant": relevant, **fields}


def record(article_id: str = "a1", relevant: bool = True, **fields: Any) -> dict[str, Any]:
    """A predicted ArticleExtraction as JSON."""
    return {"article_id": article_id, "relevant": relevant, "provenance": PROVENANCE, **fields}


def ok(article_id: str = "a1", relevant: bool = True, **fields: Any) -> dict[str, Any]:
    """A bulk-runner success line."""
    return {
        "article_id": article_id,
        "status": "ok",
        "extraction": record(article_id, relevant, **fields),
    }


def error(article_id: str = "a1") -> dict[str, Any]:
    return {
        "article_id": article_id,
        "status": "error",
        "error": {"type": "llm_error", "message": "endpoint refused the connection"},
    }


def country(code: str | None, name: str = "Somewhere") -> dict[str, Any]:
    return {"name": name, "kind": "country", "code": code}


def org(code: str | None, name: str = "Some body") -> dict[str, Any]:
    return {"name": name, "kind": "organization", "code": code}


def counts(report: Report, field: str) -> tuple[int, int, int]:
    c = report.fields[field]
    return c.tp, c.fp, c.fn


# ---------------------------------------------------------------- relevance


def test_relevance_counts_hits_false_alarms_and_misses_but_not_agreeing_negatives():
    report = score(
        [gold("a", True), gold("b", False), gold("c", True), gold("d", False)],
        [ok("a", True), ok("b", True), ok("c", False), ok("d", False)],
    )
    assert counts(report, "relevance") == (1, 1, 1)


def test_an_error_line_predicts_nothing_and_keeps_its_message():
    report = score(
        [gold(countries=["IRN", "RUS"], areas=["vaccines"])],
        [error()],
    )
    assert counts(report, "relevance") == (0, 0, 1)
    assert counts(report, "countries") == (0, 0, 2)
    assert counts(report, "areas") == (0, 0, 1)
    (article,) = report.articles
    assert article.status == "error"
    assert "refused" in (article.error or "")


def test_an_article_without_a_prediction_predicts_nothing():
    report = score([gold("a1", countries=["IRN"]), gold("a2", relevant=False)], [ok("a1")])
    assert [a.status for a in report.articles] == ["ok", "missing"]
    assert counts(report, "countries") == (0, 0, 1)
    assert counts(report, "relevance") == (1, 0, 0)


def test_a_successful_retry_replaces_an_earlier_error_for_the_same_article():
    report = score([gold(countries=["IRN"])], [error(), ok(parties=[country("IRN")])])
    assert report.articles[0].status == "ok"
    assert counts(report, "countries") == (1, 0, 0)


def test_predictions_for_articles_without_gold_are_listed_not_scored():
    report = score([gold("a1")], [ok("a1"), ok("stray", parties=[country("IRN")])])
    assert report.unscored == ["stray"]
    assert counts(report, "countries") == (0, 0, 0)


def test_bare_article_extraction_records_are_scored_like_bulk_lines():
    report = score([gold(countries=["IRN"])], [record(parties=[country("IRN")])])
    assert counts(report, "countries") == (1, 0, 0)


# ---------------------------------------------------------------- parties


def test_countries_compare_codes_and_a_repeated_code_counts_once():
    report = score(
        [gold(countries=["IRN", "RUS"])],
        [ok(parties=[country("IRN", "Iran"), country("IRN", "Iranian"), country("CHN")])],
    )
    assert counts(report, "countries") == (1, 1, 1)
    fields = report.articles[0].fields["countries"]
    assert fields.missed == ["RUS"] and fields.spurious == ["CHN"]


def test_organization_without_a_code_matches_the_gold_question_mark_name_by_name():
    report = score(
        [gold(organizations=["WHO", "?COVAX"])],
        [ok(parties=[org("WHO"), org(None, "the COVAX Facility")])],
    )
    assert counts(report, "organizations") == (2, 0, 0)


def test_organization_without_a_code_does_not_match_a_different_name():
    report = score([gold(organizations=["?COVAX"])], [ok(parties=[org(None, "CEPI Alliance")])])
    assert counts(report, "organizations") == (0, 1, 1)


def test_country_without_a_code_matches_the_gold_question_mark_country_by_acronym():
    report = score(
        [gold(countries=["TUR", "?Turkish Republic of Northern Cyprus"])],
        [ok(parties=[country("TUR"), country(None, "TRNC")])],
    )
    assert counts(report, "countries") == (2, 0, 0)


def test_a_gazetteer_code_never_matches_a_question_mark_name():
    report = score(
        [gold(countries=["?Turkish Republic of Northern Cyprus"])],
        [ok(parties=[country("CYP", "Northern Cyprus")])],
    )
    assert counts(report, "countries") == (0, 1, 1)


def test_an_organization_is_not_scored_as_a_country():
    report = score([gold(countries=["IRN"])], [ok(parties=[country("IRN"), org("WHO")])])
    assert counts(report, "countries") == (1, 0, 0)
    assert counts(report, "organizations") == (0, 1, 0)


# ---------------------------------------------------------------- officials


def test_transliterated_names_are_the_same_official():
    assert person_score("Mohammad-Reza Zafarqandi", "Mohammadreza Zafarghandi") is not None
    report = score(
        [gold(officials=[{"name": "Mohammad-Reza Zafarqandi", "party": "IRN"}])],
        [ok(officials=[{"name": "Mohammadreza Zafarghandi", "party": "IRN"}])],
    )
    assert counts(report, "officials") == (1, 0, 0)


def test_honorifics_are_stripped_before_names_are_compared():
    assert person_score("Tedros Adhanom Ghebreyesus", "Dr. Tedros Adhanom Ghebreyesus") == 100
    assert person_score("Oleg Salagay", "H.E. Oleg Salagay") == 100


def test_surname_rule_matches_a_name_without_its_middle_name():
    assert person_score("Tedros Adhanom Ghebreyesus", "Tedros Ghebreyesus") is not None
    assert person_score("Salih Al Marri", "Saleh bin Mohammed Al-Marri") is not None


def test_a_shared_surname_with_another_given_name_is_another_person():
    assert person_score("Mohammad Eskandari", "Mahmoud Eskandari") is None
    assert person_score("Masoud Pezeshkian", "Vladimir Putin") is None


def test_officials_are_matched_one_to_one():
    report = score(
        [gold(officials=[{"name": "Oleg Salagay", "party": "RUS"}])],
        [
            ok(
                officials=[
                    {"name": "Oleg Salagay", "party": "RUS"},
                    {"name": "Oleg Salagai", "party": "RUS"},
                ]
            )
        ],
    )
    assert counts(report, "officials") == (1, 1, 0)


def test_official_party_is_scored_only_among_matched_officials():
    report = score(
        [
            gold(
                officials=[
                    {"name": "Oleg Salagay", "party": "RUS"},
                    {"name": "Hadi Goudarzi", "party": "IRN"},
                    {"name": "Vladimir Putin", "party": "RUS"},
                ]
            )
        ],
        [
            ok(
                officials=[
                    {"name": "Oleg Salagay", "party": "RUS"},  # right party
                    {"name": "Hadi Goudarzi", "party": "RUS"},  # wrong party: FP and FN
                ]
            )
        ],
    )
    assert counts(report, "officials") == (2, 0, 1)
    assert counts(report, "official_party") == (1, 1, 1)  # Putin, unmatched, is not counted here
    party = report.articles[0].fields["official_party"]
    assert party.missed == ["Hadi Goudarzi: IRN"] and party.spurious == ["Hadi Goudarzi: RUS"]


def test_an_official_predicted_without_a_party_misses_the_gold_party():
    report = score(
        [gold(officials=[{"name": "Oleg Salagay", "party": "RUS"}])],
        [ok(officials=[{"name": "Oleg Salagay", "party": None}])],
    )
    assert counts(report, "official_party") == (0, 0, 1)


# ---------------------------------------------------------------- meetings


def meeting(parties: list[str], start: str | None = None, country: str | None = None) -> dict:
    return {
        "parties": parties,
        "date": {"start": start, "end": start} if start else None,
        "location": {"city": None, "country": country} if country else None,
    }


def test_meetings_match_by_party_set_whatever_the_order_date_or_place():
    report = score(
        [gold(meetings=[{"parties": ["IRN", "RUS"], "date": "2025-04-27"}])],
        [ok(meetings=[meeting(["RUS", "IRN"], "2025-04-28", "CHN")])],
    )
    assert counts(report, "meetings") == (1, 0, 0)
    assert counts(report, "meeting_date") == (0, 1, 1)


def test_a_meeting_with_another_party_set_is_a_miss_and_a_false_alarm():
    report = score(
        [gold(meetings=[{"parties": ["IRN", "QAT"]}])],
        [ok(meetings=[meeting(["IRN", "QAT", "IRQ"])])],
    )
    assert counts(report, "meetings") == (0, 1, 1)


def test_meeting_date_counts_right_wrong_invented_and_missing_days():
    gold_meetings = [
        {"parties": ["IRN", "QAT"], "date": "2025-10-14"},  # right
        {"parties": ["IRN", "IRQ"], "date": "2025-10-15"},  # wrong day: FP and FN
        {"parties": ["IRN", "OMN"], "date": None},  # invented by the model: FP
        {"parties": ["IRN", "KWT"], "date": "2025-10-16"},  # not given: FN
        {"parties": ["IRN", "SAU"], "date": None},  # unknown on both sides: not counted
    ]
    predicted = [
        meeting(["IRN", "QAT"], "2025-10-14"),
        meeting(["IRN", "IRQ"], "2025-10-17"),
        meeting(["IRN", "OMN"], "2025-10-19"),
        meeting(["IRN", "KWT"]),
        meeting(["IRN", "SAU"]),
    ]
    report = score([gold(meetings=gold_meetings)], [ok(meetings=predicted)])
    assert counts(report, "meetings") == (5, 0, 0)
    assert counts(report, "meeting_date") == (1, 2, 2)


def test_meetings_of_the_same_parties_pair_up_by_their_days():
    report = score(
        [
            gold(
                meetings=[
                    {"parties": ["IRN", "RUS"], "date": "2025-01-17"},
                    {"parties": ["IRN", "RUS"], "date": "2025-04-27"},
                ]
            )
        ],
        [
            ok(
                meetings=[
                    meeting(["IRN", "RUS"], "2025-04-27"),
                    meeting(["IRN", "RUS"], "2025-01-17"),
                ]
            )
        ],
    )
    assert counts(report, "meetings") == (2, 0, 0)
    assert counts(report, "meeting_date") == (2, 0, 0)


def test_meeting_parties_without_a_code_match_by_name():
    report = score(
        [gold(meetings=[{"parties": ["TUR", "?Turkish Republic of Northern Cyprus"]}])],
        [ok(meetings=[meeting(["TUR", "?Turkish Republic of Northern Cyprus"])])],
    )
    assert counts(report, "meetings") == (1, 0, 0)


# ---------------------------------------------------------------- agreements and mechanisms


def agreement(instrument: str, status: str, parties: list[str]) -> dict[str, Any]:
    return {"instrument": instrument, "status": status, "parties": parties}


def test_an_agreement_must_match_instrument_status_and_parties():
    report = score(
        [gold(agreements=[agreement("mou", "proposed", ["IRN", "RUS"])])],
        [
            ok(
                agreements=[
                    agreement("mou", "signed", ["IRN", "RUS"]),  # status differs
                    agreement("treaty", "proposed", ["IRN", "RUS"]),  # instrument differs
                    agreement("mou", "proposed", ["IRN", "CHN"]),  # parties differ
                ]
            )
        ],
    )
    assert counts(report, "agreements") == (0, 3, 1)


def test_two_identical_gold_mous_need_two_predictions():
    two = [agreement("mou", "pending", ["IRN", "QAT"])] * 2
    one_predicted = score([gold(agreements=two)], [ok(agreements=two[:1])])
    assert counts(one_predicted, "agreements") == (1, 0, 1)
    three_predicted = score([gold(agreements=two)], [ok(agreements=two * 2)])
    assert counts(three_predicted, "agreements") == (2, 2, 0)


def test_mechanisms_match_by_kind_and_status_as_a_multiset():
    report = score(
        [
            gold(
                mechanisms=[
                    {"kind": "working_group", "status": "established"},
                    {"kind": "working_group", "status": "proposed"},
                ]
            )
        ],
        [
            ok(
                mechanisms=[
                    {"kind": "working_group", "status": "proposed", "description": "a"},
                    {"kind": "working_group", "status": "proposed", "description": "b"},
                ]
            )
        ],
    )
    assert counts(report, "mechanisms") == (1, 1, 1)


def test_a_record_marked_not_relevant_is_still_scored_on_its_items():
    report = score([gold(relevant=False)], [ok(relevant=False, areas=["vaccines"])])
    assert counts(report, "areas") == (0, 1, 0)


def test_areas_are_compared_as_sets():
    report = score(
        [gold(areas=["vaccines", "research"])],
        [ok(areas=["vaccines", "vaccines", "mental_health"])],
    )
    assert counts(report, "areas") == (1, 1, 1)


# ---------------------------------------------------------------- arithmetic


def test_micro_f1_sums_the_counts_of_every_field():
    report = score(
        [gold(countries=["IRN", "RUS"], areas=["vaccines"])],
        [ok(parties=[country("IRN"), country("CHN")], areas=["research"])],
    )
    # relevance 1/0/0, countries 1/1/1, areas 0/1/1, everything else 0/0/0
    assert set(report.fields) == set(FIELDS)
    micro = report.micro
    assert (micro.tp, micro.fp, micro.fn) == (2, 2, 2)
    assert micro.precision == pytest.approx(0.5)
    assert micro.recall == pytest.approx(0.5)
    assert micro.f1 == pytest.approx(0.5)
    assert report.fields["countries"].f1 == pytest.approx(0.5)


def test_scores_with_nothing_to_divide_by_are_undefined_not_zero():
    report = score([gold(relevant=False)], [ok(relevant=False)])
    organizations = report.fields["organizations"]
    assert organizations.precision is None
    assert organizations.recall is None
    assert organizations.f1 is None
    missed = score([gold(organizations=["WHO"])], [ok()]).fields["organizations"]
    assert missed.precision is None and missed.recall == 0 and missed.f1 == 0


def test_matching_is_maximum_even_when_the_best_pair_blocks_another():
    # gold 0 likes pred 0 best, but only gold 0 can take pred 1: both must be paired
    scores = {(0, 0): 5.0, (0, 1): 4.0, (1, 0): 3.0}
    assert match(2, 2, lambda i, j: scores.get((i, j))) == [(0, 1), (1, 0)]


# ---------------------------------------------------------------- evidence and cost


TEXT = "Iran and Russia met in Moscow."


def span(start: int, end: int, text: str, alignment: str = "exact") -> dict[str, Any]:
    return {"start": start, "end": end, "text": text, "alignment": alignment}


def test_evidence_share_counts_exact_spans_whose_offsets_hold_in_the_text():
    parties = [
        {**country("IRN", "Iran"), "evidence": [span(0, 4, "Iran")]},  # exact and true
        {**country("RUS", "Russia"), "evidence": [span(9, 15, "russia", "normalized")]},
        {**country("CHN", "China"), "evidence": [span(23, 29, "Moscow")]},  # exact and true
        {**country("KAZ", "Kazakhstan"), "evidence": [span(1, 5, "Iran")]},  # offsets are off
        {**country("UZB", "Uzbekistan"), "evidence": []},
    ]
    report = score([gold()], [ok(parties=parties)], texts={"a1": TEXT})
    ev = report.evidence
    assert (ev.spans, ev.exact, ev.offsets_checked) == (4, 2, 4)
    assert ev.items_without_evidence == 1
    assert ev.exact_share == pytest.approx(0.5)


def test_evidence_without_the_text_trusts_the_alignment_label():
    parties = [{**country("IRN", "Iran"), "evidence": [span(0, 5, "Iran ")]}]
    report = score([gold()], [ok(parties=parties)])
    assert (report.evidence.exact, report.evidence.offsets_checked) == (1, 0)


def test_seconds_and_tokens_per_article_come_from_provenance_of_successes():
    report = score([gold("a1"), gold("a2")], [ok("a1"), error("a2")])
    cost = report.to_dict()["cost"]
    assert cost["articles"] == 1
    assert cost["seconds_per_article"] == pytest.approx(2.0)
    assert cost["tokens_per_article"] == pytest.approx(1200)


# ---------------------------------------------------------------- malformed input


def test_a_misspelt_gold_key_is_an_input_error_naming_the_article():
    with pytest.raises(InputError, match="a7"):
        score([gold("a7", mechanism=[])], [])


def test_two_gold_records_for_one_article_are_refused():
    with pytest.raises(InputError, match="two records"):
        score([gold("a1"), gold("a1")], [])


def test_a_prediction_line_with_an_unknown_status_is_refused():
    with pytest.raises(InputError, match="status"):
        score([gold()], [{"article_id": "a1", "status": "skipped"}])


# ---------------------------------------------------------------- the command


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_command_scores_a_predictions_file_as_json(tmp_path: Path):
    from healthcoop.cli import app

    gold_file = write_jsonl(
        tmp_path / "gold.jsonl", [gold("a1", countries=["IRN", "RUS"]), gold("a2")]
    )
    predictions = write_jsonl(
        tmp_path / "run.jsonl", [ok("a1", parties=[country("IRN"), country("RUS")]), error("a2")]
    )
    result = CliRunner().invoke(
        app, ["eval", "--predictions", str(predictions), "--gold", str(gold_file), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["fields"]["countries"]["tp"] == 2
    assert out["fields"]["relevance"] == {
        "tp": 1, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3)
    }  # fmt: skip
    assert (out["ok"], out["errors"], out["missing"]) == (1, 1, 0)
    assert "per_article" not in out


def test_eval_command_prints_a_table_and_what_each_article_lost(tmp_path: Path):
    from healthcoop.cli import app

    gold_file = write_jsonl(tmp_path / "gold.jsonl", [gold("a1", countries=["IRN", "RUS"])])
    predictions = write_jsonl(tmp_path / "run.jsonl", [ok("a1", parties=[country("IRN")])])
    result = CliRunner().invoke(
        app,
        ["eval", "--predictions", str(predictions), "--gold", str(gold_file), "--per-article"],
    )
    assert result.exit_code == 0, result.output
    assert "micro (all fields)" in result.output
    assert "countries" in result.output and "RUS" in result.output
    assert "s/article" in result.output


def test_eval_command_needs_articles_or_predictions(tmp_path: Path):
    from healthcoop.cli import app

    gold_file = write_jsonl(tmp_path / "gold.jsonl", [gold()])
    result = CliRunner().invoke(app, ["eval", "--gold", str(gold_file)])
    assert result.exit_code == 2


def test_eval_command_with_a_missing_file_is_a_usage_error(tmp_path: Path):
    from healthcoop.cli import app

    result = CliRunner().invoke(
        app, ["eval", "--predictions", str(tmp_path / "nope.jsonl"), "--gold", "nope"]
    )
    assert result.exit_code == 2
    assert "no such" in result.output


def test_eval_command_extracts_saves_a_rescorable_run_and_exits_1_on_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import healthcoop
    from healthcoop.cli import app
    from healthcoop.errors import ConnectionFailed

    class FakeExtractor:
        def extract(self, article: dict[str, Any]) -> healthcoop.ArticleExtraction:
            if article["id"] == "a2":
                raise ConnectionFailed("endpoint refused the connection")
            return healthcoop.ArticleExtraction.model_validate(
                record(article["id"], parties=[country("IRN", "Iran")])
            )

    monkeypatch.setattr(healthcoop, "extractor", lambda settings=None, **kw: FakeExtractor())
    articles = write_jsonl(
        tmp_path / "articles.jsonl",
        [{"id": "a1", "text": "Iran and Russia."}, {"id": "a2", "text": "Qatar."}],
    )
    gold_file = write_jsonl(
        tmp_path / "gold.jsonl", [gold("a1", countries=["IRN"]), gold("a2", countries=["QAT"])]
    )
    saved = tmp_path / "results.jsonl"
    args = ["eval", "--articles", str(articles), "--gold", str(gold_file), "--json"]
    run = CliRunner().invoke(app, [*args, "--save", str(saved)])
    assert run.exit_code == 1
    lines = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [(x["article_id"], x["status"]) for x in lines] == [("a1", "ok"), ("a2", "error")]
    assert lines[1]["error"]["type"] == "llm_error"

    again = CliRunner().invoke(
        app, ["eval", "--predictions", str(saved), "--gold", str(gold_file), "--json"]
    )
    assert again.exit_code == 0
    assert (
        json.loads(again.output)["fields"]["countries"]
        == json.loads(run.stdout[run.stdout.index("{") :])["fields"]["countries"]
    )


def test_an_organization_code_outside_the_contract_gazetteer_scores_like_a_gold_question_name():
    from healthcoop.schemas import ArticleExtraction
    from healthcoop.scoring.evaluate import predicted_facts

    record = ArticleExtraction.model_validate(
        {
            "article_id": "x",
            "relevant": True,
            "parties": [
                {"name": "COVAX", "kind": "organization", "code": "COVAX"},
                {"name": "WHO", "kind": "organization", "code": "WHO"},
            ],
            "agreements": [{"instrument": "mou", "status": "signed", "parties": ["COVAX", "WHO"]}],
            "provenance": {"task": "t", "prompt_version": "p", "model": "m",
                           "input_sha256": "0", "created_at": "2025-01-01T00:00:00Z"},
        }
    )  # fmt: skip
    facts = predicted_facts(record)
    assert set(facts.organizations) == {"?COVAX", "WHO"}
    assert set(facts.agreements[0].parties) == {"?COVAX", "WHO"}
