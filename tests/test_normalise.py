from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthcoop.core.normalise import (
    city_country,
    clean_person_name,
    country_code,
    explicit_day,
    organization_code,
    parse_date,
    resolve_party,
)
from healthcoop.schemas import PartyKind


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Iran", "IRN"),
        ("Qatari", "QAT"),
        ("Uzbek", "UZB"),
        ("the Russian Federation", "RUS"),
        ("Russia's", "RUS"),
        ("Islamic Republic of Iran", "IRN"),
        ("Türkiye", "TUR"),
        ("UAE", "ARE"),
        ("South Korea", "KOR"),
        ("Iraqi Ministry of Health", "IRQ"),
        ("counselor of the Iranian Embassy in the Russian Federation", "IRN"),
    ],
)
def test_country_names_short_forms_and_demonyms_map_to_alpha3(name, code):
    assert country_code(name) == code


def test_a_non_country_has_no_country_code():
    assert country_code("Western countries") is None
    assert country_code("Latin America") is None


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("World Health Organization", "WHO"),
        ("WHO EMRO", "WHO"),
        ("World Health Assembly", "WHO"),
        ("Regional Office for the Eastern Mediterranean", "WHO"),
        ("Organization of Islamic Cooperation", "OIC"),
        ("Shanghai Cooperation Organisation", "SCO"),
        ("Africa CDC", "AFRICA_CDC"),
        ("the Global Fund", "GLOBAL_FUND"),
    ],
)
def test_organizations_and_their_sub_bodies_map_to_gazetteer_codes(name, code):
    assert organization_code(name) == code


def test_acronyms_are_case_sensitive_so_a_pronoun_is_not_the_who():
    assert organization_code("who") is None


def test_state_bodies_resolve_to_their_country_and_organizations_stay_organizations():
    assert resolve_party("Abu Dhabi Public Health Centre") == (PartyKind.country, "ARE")
    assert resolve_party("Russia's Ministry of Health") == (PartyKind.country, "RUS")
    assert resolve_party("WHO Regional Office for Europe") == (PartyKind.organization, "WHO")
    assert resolve_party("Shanghai Cooperation Organization") == (PartyKind.organization, "SCO")
    assert resolve_party("some private company") is None


def test_cities_give_their_country():
    assert city_country("Doha") == "QAT"
    assert city_country("Xi'an") == "CHN"
    assert city_country("Atlantis") is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Dr. Tedros Adhanom Ghebreyesus", "Tedros Adhanom Ghebreyesus"),
        ("H.E. Dr. Hanan Al Kuwari", "Hanan Al Kuwari"),
        ("Prof. Mohammad-Hossein Niknam", "Mohammad-Hossein Niknam"),
        ("Mr Oleg Salagay", "Oleg Salagay"),
        ("Jane Doe, MD", "Jane Doe"),
        ("Drew Barrymore", "Drew Barrymore"),
        ("Shri Narendra Modi", "Narendra Modi"),
    ],
)
def test_honorifics_are_stripped_from_names(raw, clean):
    assert clean_person_name(raw) == clean


PUBLISHED = dt.date(2025, 4, 28)  # a Monday


def test_a_weekday_resolves_to_the_last_such_day_before_publication():
    r = parse_date("on Sunday", PUBLISHED)
    assert r is not None and r.start == r.end == dt.date(2025, 4, 27)


def test_a_yearless_date_takes_the_year_of_publication_without_going_past_it():
    assert parse_date("January 17", PUBLISHED).start == dt.date(2025, 1, 17)
    assert parse_date("Oct. 19", dt.date(2025, 10, 20)).start == dt.date(2025, 10, 19)


def test_without_a_publication_date_a_relative_or_yearless_date_stays_unknown():
    assert parse_date("on Sunday", None) is None
    assert parse_date("Oct. 19", None) is None


def test_full_dates_and_ranges_resolve_to_iso():
    assert parse_date("17 January 2025").start == dt.date(2025, 1, 17)
    r = parse_date("October 14 to 17, 2024")
    assert (r.start, r.end) == (dt.date(2024, 10, 14), dt.date(2024, 10, 17))
    r = parse_date("14-17 October 2024")
    assert (r.start, r.end) == (dt.date(2024, 10, 14), dt.date(2024, 10, 17))


def test_vague_dates_are_not_turned_into_days():
    assert parse_date("recently", PUBLISHED) is None
    assert parse_date("last year", PUBLISHED) is None
    assert parse_date("", PUBLISHED) is None


_SPELLINGS = [
    "{d} {B} {Y}", "{B} {d}, {Y}", "{b}. {d}, {Y}", "{d}{th} of {B} {Y}", "{d} {b} {Y}",
    "{B} {d}{th}, {Y}", "{b} {d} {Y}", "{Y}-{m:02d}-{d:02d}", "{d} {B}, {Y}",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
    st.sampled_from(_SPELLINGS),
    st.booleans(),
)
def test_a_date_written_out_in_full_is_the_day_dateparser_finds(day, spelling, upper):
    import dateparser

    th = "th" if day.day in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10, "th")
    text = spelling.format(d=day.day, m=day.month, Y=day.year, B=day.strftime("%B"),
                           b=day.strftime("%b"), th=th)  # fmt: skip
    text = text.upper() if upper else text
    parsed = dateparser.parse(text, languages=["en"], settings={"REQUIRE_PARTS": ["day"]})
    assert explicit_day(text) == (parsed.date() if parsed else None)


@pytest.mark.parametrize("text", ["January 6", "6 January", "31 February 2024", "2024-02-31",
                                  "Smarch 6, 2000", "the 6 January 2000", "6/1/2000"])  # fmt: skip
def test_what_is_not_a_whole_date_is_left_to_dateparser(text):
    assert explicit_day(text) is None
