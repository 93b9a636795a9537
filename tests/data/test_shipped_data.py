"""What people rely on in the shipped data: real national lines exactly as published, and a demo directory that
can never be mistaken for real services or ring a real person."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from geopy.distance import great_circle

from service_finder.domain.taxonomy import (
    AccessFeature,
    CatchmentType,
    ContactMode,
    Gender,
    PhoneType,
    ServiceKind,
    ServiceStatus,
)
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.schemas import ServiceRecord
from tests.data.conftest import DEMO_FILE, Generator

# Ofcom's numbers reserved for drama (TV, radio, film), as E.164: never allocated to a real line.
DRAMA_NUMBERS = re.compile(
    r"^\+44(?:"
    r"11[3-8]4960\d{3}|1214960\d{3}|1314960\d{3}|1414960\d{3}|1514960\d{3}|1614960\d{3}|1914980\d{3}"
    r"|2079460\d{3}|2896496\d{3}|2920180\d{3}|1632960\d{3}|7700900\d{3}|8081570\d{3}|9098790\d{3}|3069990\d{3}"
    r")$"
)
MAX_POSTCODE_OFFSET_KM = 0.05


def test_every_demo_record_says_it_is_demonstration_data(demo_records: list[ServiceRecord]) -> None:
    unlabelled = [
        r.id
        for r in demo_records
        if not (
            r.is_demo
            and r.name.endswith(" (demo)")
            and r.description.startswith("Demonstration record: not a real service.")
            and r.organisation.name.endswith(" (demo)")
            and r.provenance.source_url is None
        )
    ]
    assert unlabelled == []


def test_national_lines_are_real_records_not_demo(national_records: list[ServiceRecord]) -> None:
    assert all(not r.is_demo and r.provenance.source_url for r in national_records)
    assert all("(demo)" not in r.name for r in national_records)


def test_demo_directory_is_big_and_spread_across_england(demo_records: list[ServiceRecord]) -> None:
    assert len(demo_records) >= 300
    towns = {location.city for r in demo_records for location in r.locations}
    assert len(towns) >= 40
    for city in ("London", "Leeds", "Manchester", "Birmingham", "Bristol", "Plymouth", "Norwich", "Carlisle", "Truro"):
        assert city in towns


def test_demo_directory_has_every_local_kind_and_leaves_national_kinds_to_the_real_lines(
    demo_records: list[ServiceRecord],
) -> None:
    kinds = Counter(r.kind for r in demo_records)
    assert set(kinds) == set(ServiceKind) - {ServiceKind.emergency, ServiceKind.helpline}
    # Realistic proportions: evening cafés are common, dual-diagnosis clinics are few.
    assert kinds[ServiceKind.crisis_cafe] > kinds[ServiceKind.dual_diagnosis]
    assert all(count >= 10 for count in kinds.values())


def test_ids_are_unique_across_both_files(
    demo_records: list[ServiceRecord], national_records: list[ServiceRecord]
) -> None:
    ids = [r.id for r in [*demo_records, *national_records]]
    assert len(ids) == len(set(ids))
    location_ids = [loc.id for r in demo_records for loc in r.locations]
    assert len(location_ids) == len(set(location_ids))


def test_every_demo_phone_number_is_an_ofcom_drama_number(demo_records: list[ServiceRecord]) -> None:
    numbers = [phone.number for r in demo_records for phone in r.phones]
    assert numbers
    assert [n for n in numbers if not DRAMA_NUMBERS.match(n)] == []
    assert len(numbers) == len(set(numbers)), "two demo services share a phone number"


def test_demo_links_and_email_addresses_stay_on_example_org(demo_records: list[ServiceRecord]) -> None:
    urls = [u for r in demo_records for u in (r.url, r.organisation.url) if u is not None]
    emails = [e for r in demo_records for e in (r.email, r.organisation.email) if e is not None]
    assert urls
    assert emails
    assert [u for u in urls if not u.startswith("https://example.org/")] == []
    assert [e for e in emails if not e.endswith("@example.org")] == []


def test_demo_locations_sit_at_their_real_postcode_and_district(
    demo_records: list[ServiceRecord], gazetteer: Gazetteer
) -> None:
    wrong: list[str] = []
    for record in demo_records:
        for location in record.locations:
            point = gazetteer.lookup(location.postcode)
            if point is None:
                wrong.append(f"{location.id}: postcode {location.postcode} is not in the gazetteer")
                continue
            offset = great_circle((point.latitude, point.longitude), (location.latitude, location.longitude)).km
            if offset > MAX_POSTCODE_OFFSET_KM or point.district_code != location.district_code:
                wrong.append(f"{location.id}: {offset * 1000:.0f} m and district {location.district_code} off")
    assert wrong == []


def test_demo_catchments_include_the_district_the_service_stands_in(demo_records: list[ServiceRecord]) -> None:
    # Otherwise someone living next door to a café would be told it is not for them.
    for record in demo_records:
        catchment = record.eligibility.catchment
        if catchment is not None and catchment.type is CatchmentType.districts:
            assert {loc.district_code for loc in record.locations} <= set(catchment.districts), record.id


def test_demo_hours_look_like_the_kind_of_service(demo_records: list[ServiceRecord]) -> None:
    for record in demo_records:
        schedule = record.schedules[0]
        if record.kind in {ServiceKind.crisis_line, ServiceKind.crisis_house}:
            assert schedule.always_open, record.id
        if record.kind is ServiceKind.crisis_cafe:
            # Cafés are an out-of-hours alternative to A&E: every one is open at some point after 17:00.
            assert any(s.closes_at > "17:00" or s.closes_at < s.opens_at for s in schedule.sessions), record.id
        if record.kind is ServiceKind.crisis_line:
            assert record.locations == []
            assert record.access.contact_modes == [ContactMode.phone]
            assert record.eligibility.catchment is not None
            assert record.eligibility.catchment.districts


def test_demo_accessibility_flags_do_not_contradict_each_other(demo_records: list[ServiceRecord]) -> None:
    # Someone using a wheelchair relies on "wheelchair accessible" meaning they can get in without steps.
    contradictions = [
        r.id
        for r in demo_records
        if r.access.accessibility.get(AccessFeature.wheelchair)
        and r.access.accessibility.get(AccessFeature.step_free) is False
    ]
    assert contradictions == []


def test_women_only_services_say_so_in_their_access_details(demo_records: list[ServiceRecord]) -> None:
    women_only = [r for r in demo_records if r.eligibility.genders == [Gender.women]]
    assert women_only
    assert all(r.access.accessibility.get(AccessFeature.women_only_space) for r in women_only)


def test_some_demo_records_are_stale_closed_or_unknown(demo_records: list[ServiceRecord], generator: Generator) -> None:
    reference = generator.REFERENCE_DATE
    stale = [r for r in demo_records if r.provenance.verify_due is None or r.provenance.verify_due < reference]
    assert 0.05 <= len(stale) / len(demo_records) <= 0.15
    closed = [r for r in demo_records if r.status is not ServiceStatus.active]
    assert {r.status for r in closed} == {ServiceStatus.temporarily_closed, ServiceStatus.inactive}
    assert all(r.alert for r in closed)
    assert any(r.eligibility.accepts_intoxicated is None for r in demo_records)
    assert any(r.eligibility.accepts_intoxicated is False for r in demo_records)
    assert any(r.eligibility.catchment is None for r in demo_records)


def test_generator_is_reproducible_and_the_committed_file_is_current(
    generator: Generator, gazetteer: Gazetteer
) -> None:
    first = generator.render(generator.generate(gazetteer))
    second = generator.render(generator.generate(gazetteer))
    assert first == second
    assert DEMO_FILE.read_text(encoding="utf-8") == first, (
        "data/demo/directory.json is out of date: run `.venv/bin/python scripts/generate_demo.py` and commit it"
    )


def test_a_different_seed_gives_a_different_directory(generator: Generator, gazetteer: Gazetteer) -> None:
    assert generator.render(generator.generate(gazetteer, seed=1)) != generator.render(generator.generate(gazetteer))


NATIONAL_NUMBERS = {
    "emergency-999": "999",
    "nhs-111-mental-health": "111",
    "samaritans": "116123",
    "shout": "85258",
    "papyrus-hopeline247": "+448000684141",
    "calm-helpline": "+44800585858",
}


def test_national_lines_carry_exactly_the_published_numbers(national_records: list[ServiceRecord]) -> None:
    assert {r.id: [p.number for p in r.phones] for r in national_records} == {
        service_id: [number] for service_id, number in NATIONAL_NUMBERS.items()
    }
    displays = {r.id: r.phones[0].display for r in national_records}
    assert displays["samaritans"] == "116 123"
    assert displays["papyrus-hopeline247"] == "0800 068 4141"
    assert displays["calm-helpline"] == "0800 58 58 58"


@pytest.mark.parametrize("service_id", ["emergency-999", "nhs-111-mental-health", "samaritans", "shout"])
def test_round_the_clock_lines_are_24_7_safety_nets(national_records: list[ServiceRecord], service_id: str) -> None:
    record = next(r for r in national_records if r.id == service_id)
    assert record.safety_net
    assert record.status is ServiceStatus.active
    assert [s.always_open for s in record.schedules] == [True]
    assert record.eligibility.catchment is not None
    assert record.eligibility.catchment.type is CatchmentType.england


def test_national_lines_say_how_to_reach_them(national_records: list[ServiceRecord]) -> None:
    by_id = {r.id: r for r in national_records}
    assert by_id["emergency-999"].kind is ServiceKind.emergency
    assert by_id["nhs-111-mental-health"].kind is ServiceKind.crisis_line
    assert "option 2" in by_id["nhs-111-mental-health"].phones[0].description
    shout = by_id["shout"]
    assert shout.phones[0].type is PhoneType.text
    assert shout.access.contact_modes == [ContactMode.text]
    assert "SHOUT" in shout.phones[0].description
    assert by_id["papyrus-hopeline247"].eligibility.maximum_age == 34
    assert by_id["papyrus-hopeline247"].safety_net


def test_calm_is_open_17_to_midnight_and_not_offered_as_an_always_there_line(
    national_records: list[ServiceRecord],
) -> None:
    calm = next(r for r in national_records if r.id == "calm-helpline")
    assert not calm.safety_net
    sessions = calm.schedules[0].sessions
    assert sorted(s.day for s in sessions) == sorted(
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    )
    assert {(s.opens_at, s.closes_at) for s in sessions} == {("17:00", "24:00")}


def test_national_lines_name_their_publisher_and_review_date(national_records: list[ServiceRecord]) -> None:
    for record in national_records:
        assert "(publisher's website)" in record.provenance.source_name
        assert record.provenance.source_url is not None
        assert record.provenance.source_url.startswith("https://")
        assert record.provenance.verify_due is not None
        assert record.provenance.verify_due.isoformat() == "2027-03-31"
        assert record.eligibility.referral_routes is not None
