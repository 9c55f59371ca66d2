from __future__ import annotations

import datetime as dt
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from healthcoop.extraction.candidates import find_candidates, find_dates, find_parties, find_people
from healthcoop.schemas import Area, PartyKind

TEXT = (
    "MOSCOW, May 5 (TASS) – Iran's Health Minister Karim Rahimi met Russian deputy health "
    "minister Anna Volkova on Monday on the sidelines of a Shanghai Cooperation Organisation "
    "meeting in Xi'an, China. The director general of the World Health Organization, "
    "Dr. Tedros Adhanom Ghebreyesus, joined them. The two sides agreed to set up a joint "
    "working group on communicable diseases and said a memorandum of understanding on "
    "medical education will be signed soon. Rahimi thanked Volkova."
)


def test_parties_are_found_by_name_demonym_and_organization_with_spans():
    parties = {p.code: p for p in find_parties(TEXT)}
    assert set(parties) == {"IRN", "RUS", "SCO", "CHN", "WHO"}
    assert parties["WHO"].kind is PartyKind.organization
    for p in parties.values():
        for span in p.mentions:
            assert TEXT[span.start : span.end] == span.text
    # "Shanghai" inside the organization's name is not China
    assert all("Shanghai" not in s.text for s in parties["CHN"].mentions)


def test_people_are_found_with_titles_and_the_party_their_title_names():
    people = {p.name: p for p in find_people(TEXT)}
    assert set(people) == {"Karim Rahimi", "Anna Volkova", "Tedros Adhanom Ghebreyesus"}
    assert people["Anna Volkova"].hint == "RUS"
    assert people["Karim Rahimi"].title == "Iran's Health Minister"
    assert people["Karim Rahimi"].hint == "IRN"
    assert people["Tedros Adhanom Ghebreyesus"].hint == "WHO"
    # a surname alone later in the text is another mention of the same person
    assert [s.text for s in people["Karim Rahimi"].mentions] == ["Karim Rahimi", "Rahimi"]


def test_titles_and_places_are_not_mistaken_for_people():
    names = {p.name for p in find_people("Prime Minister Keith Rowley visited Abu Dhabi.")}
    assert names == {"Keith Rowley"}


def test_a_names_key_is_its_surname_unless_two_people_share_it():
    people = find_people(
        "Minister Ali Rezaei met Deputy Minister Hassan Rezaei and Jane Smith, who said little."
    )
    assert sorted(p.key for p in people) == ["Ali Rezaei", "Hassan Rezaei", "Smith"]


def test_non_latin_names_do_not_crash_the_finder_and_latin_ones_around_them_are_found():
    people = find_people("Министр Михаил Мурашко met Minister Karim Rahimi in Tehran.")
    assert "Karim Rahimi" in {p.name for p in people}


def test_dateline_dates_are_not_meeting_date_candidates_and_weekdays_resolve():
    dates = {d.label: d for d in find_dates(TEXT, dt.date(2025, 5, 7))}
    assert "May 5" not in dates  # the dateline: when the story was filed
    assert dates["Monday"].range.start == dt.date(2025, 5, 5)


def test_instrument_mechanism_and_area_cues_come_with_their_sentence():
    c = find_candidates(TEXT, dt.date(2025, 5, 7))
    assert [i.kind for i in c.instruments] == ["mou"]
    assert [m.kind for m in c.mechanisms] == ["working_group"]
    mou = c.instruments[0]
    assert TEXT[mou.sentence.start : mou.sentence.end] == mou.sentence.text
    assert "will be signed soon" in mou.sentence.text
    assert {Area.communicable_diseases, Area.education_training} <= set(c.areas)


def test_places_include_cities_with_their_country():
    c = find_candidates(TEXT)
    places = {p.label: p.country for p in c.places}
    assert places["Xi'an"] == "CHN"
    assert "Shanghai" not in places


def test_communicable_and_non_communicable_are_two_areas_and_not_confused():
    c = find_candidates("They discussed communicable and non-communicable diseases.")
    assert {Area.communicable_diseases, Area.noncommunicable_diseases} <= set(c.areas)
    c = find_candidates("They discussed non-communicable diseases.")
    assert Area.communicable_diseases not in c.areas


def test_plural_memorandums_and_a_city_as_a_first_name_are_recognised():
    text = "Deputy minister Riyadh Abdul Amir said two memorandums of understanding are ready."
    c = find_candidates(text)
    assert [p.name for p in c.people] == ["Riyadh Abdul Amir"]
    assert [i.kind for i in c.instruments] == ["mou"]


def test_the_health_gate_sees_health_words_and_not_other_sectors():
    assert find_candidates("India and Brazil signed an MoU on oil and gas.").health is False
    assert find_candidates("India and Brazil will cooperate on vaccines.").health is True
    assert find_candidates("The WHO office in Tehran opened.").health is True
    assert (
        find_candidates("Iran and Iraq, who share a border, signed a trade deal.").health is False
    )


def test_words_before_an_institution_name_are_not_a_person():
    text = (
        "Africa CDC and the Oswaldo Cruz Foundation signed an MoU. The National Health and "
        "Family Planning Commission hosted Max Baucus, American Ambassador to China, and the "
        "Zimbabwe-Belarus Joint Permanent Commission met."
    )
    people = {p.name: p for p in find_people(text)}
    assert set(people) == {"Max Baucus"}
    assert people["Max Baucus"].hint == "USA"


def test_names_with_accented_capitals_are_found_whole():
    people = find_people("Cuban Minister José Ángel Portal Miranda met Dr. Özlem Yılmaz.")
    assert [p.name for p in people] == ["José Ángel Portal Miranda", "Özlem Yılmaz"]


def test_a_city_after_a_preposition_is_not_the_first_name_of_the_person_who_follows():
    people = find_people("He met the Zambian Ambassador in Cairo Topply M Lubaya on Sunday.")
    assert [(p.name, p.title, p.hint) for p in people] == [
        ("Topply M Lubaya", "Zambian Ambassador in Cairo", "ZMB")
    ]


def test_a_title_belongs_to_the_name_it_stands_next_to_not_to_a_neighbour_in_a_list():
    text = (
        "Guests included Permanent Secretary of the Ministry of Health and Social Affairs of "
        "Norway Ola Nordmann, Vice Minister of Public Health of Chile Ana Rojas, and Health "
        "Minister of Peru Luis Vega. Signing for the two governments were the Kenyan deputy "
        "health minister, Jane Wanjiru, and the deputy health minister of Ghana, Kofi Mensah."
    )
    hints = {p.name: p.hint for p in find_people(text)}
    assert hints == {
        "Ola Nordmann": "NOR",  # "and" inside the ministry's name does not end the title
        "Ana Rojas": "CHL",
        "Luis Vega": "PER",
        "Jane Wanjiru": "KEN",  # not ", and the deputy health minister of Ghana" after her
        "Kofi Mensah": "GHA",
    }


def test_a_title_over_another_persons_name_is_cut_after_that_name():
    text = (
        "Present were the Minister of Health of Chile, Ana Rojas, and the Peruvian ambassador "
        "in this country, Luis Vega."
    )
    people = {p.name: p for p in find_people(text)}
    assert people["Luis Vega"].hint == "PER"
    assert people["Luis Vega"].title == "Peruvian ambassador in this country"


def test_an_official_whose_title_names_no_country_is_of_the_datelines_country():
    text = (
        "NAIROBI, June 3 (KNA) – Ghana's health minister Kofi Mensah met deputy health minister "
        "Jane Wanjiru and the journalist Tom Baker. Mensah praised Kenya."
    )
    hints = {p.name: p.hint for p in find_candidates(text).people}
    assert hints == {"Kofi Mensah": "GHA", "Jane Wanjiru": "KEN"}  # a journalist is a source
    # no dateline, or a dateline whose country takes no part: no guess
    assert find_candidates(text.split("– ", 1)[1]).people[1].hint is None


def test_the_peoples_republic_of_china_without_its_apostrophe_is_china_not_taiwan():
    assert {p.code for p in find_parties("a vice-minister of the People Republic of China")} == {
        "CHN"
    }
    assert {p.code for p in find_parties("the Republic of China (Taiwan)")} == {"TWN"}


def test_capitalized_words_the_text_never_treats_as_a_person_are_not_people():
    text = (
        "The Workers Party and the Grant Aid scheme back the Healthy Futures plan. Minister "
        "Rosa Lind met Omar Farid in Accra. Tomas Berg, who leads the clinic, said so; Berg "
        "later left. Talks with Ines Kahl followed."
    )
    names = {p.name for p in find_people(text)}
    assert names == {"Rosa Lind", "Omar Farid", "Tomas Berg", "Ines Kahl"}


def test_a_spokesperson_and_a_cabinet_chair_do_not_act_in_the_cooperation():
    text = (
        "The cabinet chaired by Prime Minister Arjun Mehta approved an MoU with Chile on "
        "vaccines. Foreign ministry spokesperson Lena Duarte said the MoU will be signed by "
        "health minister Carlos Vega."
    )
    assert {p.name for p in find_people(text)} == {"Carlos Vega"}


def test_his_counterpart_is_a_title_that_names_the_counterparts_country():
    text = "Kenya's health minister Jane Wanjiru met her Chilean counterpart, Ana Rojas, on Monday."
    hints = {p.name: p.hint for p in find_people(text)}
    assert hints == {"Jane Wanjiru": "KEN", "Ana Rojas": "CHL"}


def test_prevention_of_a_named_disease_group_is_that_groups_area_not_health_promotion():
    areas = set(find_candidates("They agreed on the prevention of infectious diseases.").areas)
    assert Area.communicable_diseases in areas and Area.health_promotion not in areas
    areas = set(find_candidates("They agreed to work on disease prevention in schools.").areas)
    assert Area.health_promotion in areas  # prevention in general (rule 12)


def test_areas_come_from_health_parts_only_and_medicine_the_discipline_is_no_drug():
    text = (
        "The two navies opened a joint training centre for coastal surveillance. The health "
        "ministers agreed on the transfer of medical technology and cooperation in the field "
        "of medicine."
    )
    areas = set(find_candidates(text).areas)
    assert Area.medical_equipment in areas
    assert not areas & {Area.education_training, Area.communicable_diseases,
                        Area.pharmaceuticals}  # fmt: skip


def test_a_disease_named_as_what_a_vaccine_is_against_is_the_vaccines_area_only():
    areas = set(find_candidates("They will widen access to COVID-19 vaccines in the region.").areas)
    assert Area.vaccines in areas and Area.communicable_diseases not in areas


def test_medical_supplies_are_aid_not_equipment():
    areas = set(find_candidates("The deal covers the provision of medical supplies.").areas)
    assert Area.emergencies_humanitarian in areas and Area.medical_equipment not in areas


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "b", " ", ",", ", ", ".", ";", ":", "\n", "\u2013", "Dr", "H.E",
                         "HE ", "Mr. ", "minister ", "x" * 30, "  "]),
        max_size=40,
    ).map("".join)
)  # fmt: skip
def test_a_comma_ended_title_is_what_the_defining_pattern_captures(window):
    from healthcoop.extraction.candidates import _HONORIFIC, _comma_title

    defining = re.search(rf"([^.;:\n\u2013\u2014]{{3,140}}),\s*(?:{_HONORIFIC}\s+)*$", window)
    assert _comma_title(window) == (defining.group(1) if defining else None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 8)), max_size=40))
def test_taken_spans_overlap_as_the_pairwise_definition_says(spans):
    # find_parties keeps the spans given to a party disjoint and skips any that overlaps one
    from healthcoop.extraction.candidates import _Taken

    taken, pairs = _Taken(), []
    for start, length in spans:
        end = start + length
        expected = any(s < end and start < e for s, e in pairs)
        assert taken.overlaps(start, end) == expected
        if not expected:
            taken.add(start, end)
            pairs.append((start, end))
