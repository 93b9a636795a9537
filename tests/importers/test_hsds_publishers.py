"""Other publishers' HSDS: each input is read with the meaning HSDS gives it, or refused naming record, field and
value; never read as something else."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from service_finder.domain.hours_text import describe_week
from service_finder.domain.opening_hours import is_open
from service_finder.domain.phones import tel_uri
from service_finder.domain.taxonomy import AccessFeature
from service_finder.importers.hsds import parse_hsds
from service_finder.schemas import ServiceRecord

LDN = ZoneInfo("Europe/London")
CRISIS_CAFE = [{"taxonomy_term": {"name": "Crisis cafe", "code": "A21", "taxonomy": "MHSDS team type"}}]
LEEDS = ("LS1 2TW", 53.797195, -1.554248)
YORK = ("YO1 7BS", 53.96059, -1.077823)


def _location(location_id: str, place: tuple[str, float, float], **fields: Any) -> dict[str, Any]:
    postcode, latitude, longitude = place
    address = {"address_1": "1 Example Street", "city": "X", "postal_code": postcode, "address_type": "physical"}
    return {
        "id": location_id,
        "name": location_id,
        "location_type": "physical",
        "latitude": latitude,
        "longitude": longitude,
        "addresses": [address],
        **fields,
    }


def _service(**fields: Any) -> dict[str, Any]:
    return {"id": "s1", "name": "S", "organization": {"id": "o1", "name": "O"}, "attributes": CRISIS_CAFE, **fields}


def _weekly(byday: str, opens: str, closes: str, **fields: Any) -> dict[str, Any]:
    return {"freq": "WEEKLY", "byday": byday, "opens_at": opens, "closes_at": closes, **fields}


def _record(service: dict[str, Any]) -> ServiceRecord:
    [parsed] = parse_hsds([service])
    assert parsed.record is not None, parsed.problems
    return parsed.record


def _open_at(record: ServiceRecord, location_id: str | None, at: datetime) -> bool:
    return is_open([s.to_domain() for s in record.hours_at(location_id)], at.replace(tzinfo=LDN))


def _problems(service: dict[str, Any]) -> set[tuple[str, str]]:
    [parsed] = parse_hsds([service])
    assert parsed.record is None
    return {(p.field, p.value) for p in parsed.problems}


TUESDAY_EVENING = datetime(2026, 1, 6, 19, 30)
MONDAY_MORNING = datetime(2026, 1, 5, 10, 30)


def test_schedules_on_the_service_naming_a_site_are_that_sites_hours() -> None:
    # Leeds every evening, York on Monday mornings: read as the whole service's, York showed open on Tuesday evening.
    service = _service(
        schedules=[
            _weekly("MO,TU,WE,TH,FR,SA,SU", "18:00", "23:00", service_at_location_id="sal-a"),
            _weekly("MO", "10:00", "11:00", location_id="york"),
        ],
        service_at_locations=[
            {"id": "sal-a", "location": _location("leeds", LEEDS)},
            {"id": "sal-b", "location": _location("york", YORK)},
        ],
    )

    record = _record(service)

    assert not _open_at(record, "york", TUESDAY_EVENING)
    assert _open_at(record, "york", MONDAY_MORNING)
    assert _open_at(record, "leeds", TUESDAY_EVENING)
    assert not _open_at(record, "leeds", MONDAY_MORNING)
    assert [s.location_id for s in record.schedules] == ["leeds", "york"]


def test_a_schedule_row_listed_on_the_service_and_under_its_site_is_read_once() -> None:
    # The same HSDS row (one id) on service.schedules, naming its service_at_location, and nested under it: added
    # twice, its sessions overlapped themselves and the whole record was refused.
    row = {**_weekly("MO,TU", "18:00", "23:00", service_at_location_id="sal-a"), "id": "sch-1"}
    nested = {key: value for key, value in row.items() if key != "service_at_location_id"}
    for copy in (row, nested):
        service = _service(
            schedules=[row],
            service_at_locations=[{"id": "sal-a", "schedules": [copy], "location": _location("leeds", LEEDS)}],
        )

        record = _record(service)

        assert [(s.location_id, describe_week(s.to_domain())) for s in record.schedules] == [
            ("leeds", ["Mondays and Tuesdays 6pm to 11pm"])
        ]


def test_schedule_rows_that_share_an_id_but_give_other_hours_are_each_read() -> None:
    # Only the same row listed twice is read once: dropping one of two that differ would guess which is the
    # publisher's, and lose a Wednesday evening.
    row = {**_weekly("MO,TU", "18:00", "23:00", service_at_location_id="sal-a"), "id": "sch-1"}
    other = {**row, "byday": "WE"}
    service = _service(
        schedules=[row],
        service_at_locations=[{"id": "sal-a", "schedules": [other], "location": _location("leeds", LEEDS)}],
    )

    record = _record(service)

    assert [describe_week(s.to_domain()) for s in record.schedules] == [["Mondays to Wednesdays 6pm to 11pm"]]


def test_two_different_schedule_rows_that_overlap_are_still_refused() -> None:
    first = {**_weekly("MO,TU", "18:00", "23:00", service_at_location_id="sal-a"), "id": "sch-1"}
    second = {**_weekly("MO", "20:00", "22:00"), "id": "sch-2"}
    service = _service(
        schedules=[first],
        service_at_locations=[{"id": "sal-a", "schedules": [second], "location": _location("leeds", LEEDS)}],
    )

    [parsed] = parse_hsds([service])

    assert parsed.record is None
    assert any("overlap" in problem.message for problem in parsed.problems)


def test_a_schedule_naming_a_site_the_service_does_not_list_is_refused() -> None:
    service = _service(
        schedules=[_weekly("MO", "10:00", "11:00", service_at_location_id="sal-gone")],
        service_at_locations=[{"id": "sal-a", "location": _location("leeds", LEEDS)}],
    )

    assert _problems(service) == {("schedules.0.service_at_location_id", "'sal-gone'")}


def test_a_buildings_own_hours_are_refused_never_read_as_the_services() -> None:
    # A Tuesday-evening café in a hub open Monday to Friday 09:00-17:00: the hub's hours were added to the café's,
    # which showed open on Wednesday morning.
    hub = _location("hub", LEEDS, schedules=[_weekly("MO,TU,WE,TH,FR", "09:00", "17:00")])
    service = _service(
        service_at_locations=[{"id": "sal-a", "schedules": [_weekly("TU", "18:00", "22:00")], "location": hub}]
    )

    [parsed] = parse_hsds([service])

    assert parsed.record is None
    [problem] = parsed.problems
    assert problem.field == "service_at_locations.0.location.schedules"
    assert "building's hours, not the service's" in problem.message

    del hub["schedules"]
    record = _record(service)
    assert not _open_at(record, "hub", datetime(2026, 1, 7, 11))
    assert _open_at(record, "hub", TUESDAY_EVENING)


def test_accessibility_one_site_lists_is_not_given_to_the_whole_service() -> None:
    # A first-floor site with no lift was offered to a wheelchair user because the ground-floor one was accessible.
    ground = _location("ground", LEEDS, accessibility=[{"description": "Wheelchair accessible"}])
    upstairs = _location("upstairs", YORK, accessibility=[{"description": "First floor, no lift"}])
    service = _service(service_at_locations=[{"id": "a", "location": ground}, {"id": "b", "location": upstairs}])

    record = _record(service)

    assert AccessFeature.wheelchair not in record.access.accessibility  # unknown: check before travelling
    descriptions = {location.id: location.description for location in record.locations}
    assert descriptions == {
        "ground": "Accessibility at this site: Wheelchair accessible.",
        "upstairs": "Accessibility at this site: First floor, no lift.",
    }

    upstairs["accessibility"].append({"description": "wheelchair accessible"})
    record = _record(service)
    assert record.access.accessibility == {AccessFeature.wheelchair: True}  # every site says so
    assert record.locations[1].description == "Accessibility at this site: First floor, no lift."


ONS = "http://statistics.data.gov.uk/id/statistical-geography/"


def test_an_area_that_cannot_be_read_refuses_the_record_rather_than_shrinking_its_catchment() -> None:
    # Kept as Leeds only, the catchment left out everyone in Derbyshire and Wakefield.
    areas = [
        {"name": "Leeds", "uri": ONS + "E08000035"},
        {"name": "Derbyshire", "uri": ONS + "E10000007"},
        {"name": "Wakefield"},
    ]

    problems = _problems(_service(service_areas=areas))

    assert problems == {
        ("service_areas.1", repr({"name": "Derbyshire", "uri": ONS + "E10000007"})),
        ("service_areas.2", repr({"name": "Wakefield"})),
    }
    [parsed] = parse_hsds([_service(service_areas=areas)])
    assert "county: list its districts" in parsed.problems[0].message

    record = _record(_service(service_areas=[areas[0], {"name": "Wakefield", "uri": ONS + "E08000036"}]))
    assert record.eligibility.catchment is not None
    assert record.eligibility.catchment.districts == ["E08000035", "E08000036"]


def test_a_district_written_as_https_with_a_trailing_slash_or_in_lowercase_is_read() -> None:
    # Each of these refused the whole record, so the service vanished from the directory.
    areas = [
        {"name": "Leeds", "uri": "https://statistics.data.gov.uk/id/statistical-geography/E08000035"},
        {"name": "Wakefield", "uri": ONS + "E08000036/"},
        {"name": "e08000034"},
    ]

    record = _record(_service(service_areas=areas))

    assert record.eligibility.catchment is not None
    assert record.eligibility.catchment.districts == ["E08000035", "E08000036", "E08000034"]


def test_two_drawn_areas_are_one_catchment_covering_both() -> None:
    square = [[[-1.6, 53.7], [-1.5, 53.7], [-1.5, 53.8], [-1.6, 53.7]]]
    other = [[[-1.2, 53.9], [-1.1, 53.9], [-1.1, 54.0], [-1.2, 53.9]]]
    areas = [
        {"name": f"area {n}", "extent": json.dumps({"type": "Polygon", "coordinates": shape}), "extent_type": "geojson"}
        for n, shape in enumerate((square, other))
    ]

    record = _record(_service(service_areas=areas))

    assert record.eligibility.catchment is not None
    assert record.eligibility.catchment.geojson == {"type": "MultiPolygon", "coordinates": [square, other]}

    # Districts beside a drawn area: the catchment holds one kind, and either alone leaves the other's people out.
    mixed = [{"name": "Leeds", "uri": ONS + "E08000035"}, areas[0]]
    assert _problems(_service(service_areas=mixed)) == {("service_areas", "")}


def test_a_phone_extension_is_kept_so_the_link_rings_the_desk() -> None:
    # Dropped, the tel: link rang the switchboard, not the crisis desk.
    record = _record(_service(phones=[{"number": "0113 496 0500", "extension": 2, "type": "voice"}]))

    [phone] = record.phones
    assert phone.display == "0113 496 0500 x2"
    assert tel_uri(phone.number, phone.display) == "tel:+441134960500;ext=2"
    assert _problems(_service(phones=[{"number": "0113 496 0500", "extension": "two"}])) == {
        ("phones.0.extension", "'two'")
    }


def test_location_and_contact_phones_are_kept_saying_whose_they_are() -> None:
    centre = _location("centre", LEEDS, phones=[{"number": "0113 496 0777"}, {"number": "0113 496 0500"}])
    service = _service(
        phones=[{"number": "0113 496 0500"}],
        contacts=[{"name": "Duty worker", "phones": [{"number": "0113 496 0600", "description": "Nights"}]}],
        service_at_locations=[{"id": "a", "location": centre}],
    )

    record = _record(service)

    assert [(p.display, p.description) for p in record.phones] == [
        ("0113 496 0500", ""),  # the centre lists the service's own number too: once, as the service's
        ("0113 496 0600", "Contact: Duty worker: Nights"),
        ("0113 496 0777", "At centre"),
    ]


def test_words_about_the_hours_are_kept_with_them() -> None:
    # "Closed on bank holidays" in a row's notes was dropped: shown open on a bank holiday with nothing to say why not.
    record = _record(_service(schedules=[_weekly("MO,TU,WE,TH,FR", "09:00", "17:00", notes="Closed on bank holidays")]))

    [schedule] = record.schedules
    assert schedule.notes == "Closed on bank holidays"


def test_a_schedule_of_words_alone_is_refused_rather_than_lost() -> None:
    service = _service(schedules=[{"description": "Mon-Fri 9am-5pm, closed bank holidays"}])

    assert _problems(service) == {("schedules.0", "'Mon-Fri 9am-5pm, closed bank holidays'")}


def test_a_language_given_only_by_name_is_refused_rather_than_dropped() -> None:
    service = _service(languages=[{"name": "Polish"}])

    assert _problems(service) == {("languages.0.name", "'Polish'")}


def test_a_virtual_locations_numbers_and_hours_are_the_services_ways_in() -> None:
    # A line published with its hours and number on a virtual service_at_location: dropped, it read as "opening
    # hours not recorded" with no number to ring. The physical site keeps its own hours.
    line: dict[str, Any] = {
        "id": "sal-line",
        "location": {"id": "online", "name": "Phone line", "location_type": "virtual"},
    }
    line["schedules"] = [_weekly("MO,TU,WE,TH,FR,SA,SU", "17:00", "23:00")]
    line["phones"] = [{"id": "p1", "number": "0113 496 0999"}]
    site: dict[str, Any] = {"id": "sal-a", "location": _location("leeds", LEEDS)}
    site["schedules"] = [_weekly("MO", "10:00", "11:00")]
    record = _record(_service(service_at_locations=[line, site]))

    assert [phone.display for phone in record.phones] == ["0113 496 0999"]
    [place] = record.locations
    assert place.id == "leeds"
    assert _open_at(record, None, TUESDAY_EVENING)  # the line's hours, the service's
    assert not _open_at(record, "leeds", TUESDAY_EVENING)  # the café keeps its own
    assert _open_at(record, "leeds", MONDAY_MORNING)
