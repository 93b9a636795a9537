from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.location import Location

from service_finder.domain.opening_hours import LONDON, is_open
from service_finder.interop.fhir import (
    HORIZON_DAYS,
    fhir_id,
    healthcare_service,
    is_fhir_id,
    line_schedule_records,
    location,
)
from service_finder.schemas import ScheduleRecord, ServiceRecord
from service_finder.search.index import line_schedules
from tests.factories import make_record

TODAY = date(2026, 11, 24)


def _service(record: ServiceRecord, today: date = TODAY) -> dict[str, Any]:
    return healthcare_service(record, today=today)


def _place(record: ServiceRecord, today: date = TODAY) -> dict[str, Any]:
    return location([(record, record.locations[0])], today=today)


def _hours(*sessions: tuple[str, str, str], **extra: Any) -> list[dict[str, Any]]:
    schedule = {"id": "hours", "sessions": [{"day": d, "opens_at": o, "closes_at": c} for d, o, c in sessions]}
    return [{**schedule, **extra}]


def _available(record_schedules: list[dict[str, Any]]) -> list[tuple[list[str | None], str, str]]:
    resource = _service(make_record(schedules=record_schedules))
    service = HealthcareService.model_validate(resource)
    return [
        (t.daysOfWeek or [], str(t.availableStartTime), str(t.availableEndTime)) for t in service.availableTime or []
    ]


@pytest.mark.parametrize(
    ("sessions", "expected"),
    [
        ([("sunday", "22:00", "06:00")], [(["mon"], "00:00:00", "06:00:00"), (["sun"], "22:00:00", "23:59:59")]),
        ([("friday", "18:00", "00:00")], [(["fri"], "18:00:00", "23:59:59")]),
        ([("monday", "09:00", "24:00")], [(["mon"], "09:00:00", "23:59:59")]),
        (
            [("monday", "09:00", "17:00"), ("tuesday", "09:00", "17:00"), ("tuesday", "18:00", "20:00")],
            [(["mon", "tue"], "09:00:00", "17:00:00"), (["tue"], "18:00:00", "20:00:00")],
        ),
    ],
)
def test_weekly_sessions_become_available_times(
    sessions: list[tuple[str, str, str]], expected: list[tuple[list[str | None], str, str]]
) -> None:
    assert _available(_hours(*sessions)) == expected


def test_a_special_opening_is_unavailable_for_the_usual_hours_that_day_and_its_own_hours_are_stated() -> None:
    # New Year's Eve: the usual Thursday 09:00-17:00 does not apply, 18:00-04:00 does. Listing the special opening
    # as "not available" on the whole date would tell a machine reader the service is shut that night.
    schedules = _hours(
        ("thursday", "09:00", "17:00"),
        exceptions=[
            {
                "start_date": "2026-12-31",
                "end_date": "2026-12-31",
                "closed": False,
                "hours": [{"opens_at": "18:00", "closes_at": "04:00"}],
                "reason": "New Year's Eve",
            }
        ],
    )
    resource = _service(make_record(schedules=schedules))
    service = HealthcareService.model_validate(resource)
    eve = [n for n in resource["notAvailable"] if n["during"]["start"].startswith("2026-12-31")]
    assert eve == [
        {
            "description": "Closed: New Year's Eve",
            "during": {"start": "2026-12-31T09:00:00+00:00", "end": "2026-12-31T17:00:00+00:00"},
        }
    ]
    assert "Also open outside these hours: Thu 31 Dec 2026 18:00 to Fri 01 Jan 04:00 (New Year's Eve)" in str(
        service.availabilityExceptions
    )


def test_bank_holidays_closed_are_dated_periods_and_an_overnight_session_before_one_still_runs() -> None:
    # Sunday 22:00-06:00, closed on bank holidays: the Sunday session before Easter Monday (29 March 2027) runs to
    # 06:00 as usual (a session belongs to the day it starts), and none starts on the Monday itself: so no period
    # at all for that Monday. Good Friday's session would start Friday: there is none on Fridays either.
    # Christmas Day 2026 is a Friday, Boxing Day's substitute Monday 28 December: also nothing to close.
    schedules = _hours(("sunday", "22:00", "06:00"), bank_holidays="closed")
    service = HealthcareService.model_validate(_service(make_record(schedules=schedules)))
    assert service.notAvailable is None
    assert "Closed on bank holidays in England" in str(service.availabilityExceptions)
    # Monday sessions do start on bank holidays: each is a period, on the day, with its name.
    mondays = _hours(("monday", "09:00", "17:00"), bank_holidays="closed")
    resource = _service(make_record(schedules=mondays))
    HealthcareService.model_validate(resource)
    assert [(n["description"], n["during"]["start"]) for n in resource["notAvailable"]] == [
        ("Closed: Boxing Day (observed)", "2026-12-28T09:00:00+00:00")
    ]


def test_special_bank_holiday_hours_are_stated() -> None:
    schedules = _hours(
        ("saturday", "10:00", "16:00"),
        bank_holidays="special",
        bank_holiday_hours=[{"opens_at": "12:00", "closes_at": "14:00"}],
    )
    service = HealthcareService.model_validate(_service(make_record(schedules=schedules)))
    assert "Bank holidays in England: open 12:00-14:00 only" in str(service.availabilityExceptions)


def test_hours_that_have_not_begun_are_not_todays_hours() -> None:
    # The reviewer's record: Monday 09:00-17:00 until the end of 2026, then 24/7. Today it is not open all day.
    schedules = [
        {**_hours(("monday", "09:00", "17:00"))[0], "valid_to": "2026-12-31"},
        {"id": "later", "always_open": True, "valid_from": "2027-01-01"},
    ]
    resource = _service(make_record(schedules=schedules))
    service = HealthcareService.model_validate(resource)
    assert [(t.daysOfWeek, t.allDay) for t in service.availableTime or []] == [(["mon"], None)]
    assert "From 2027-01-01: open 24 hours, every day" in str(service.availabilityExceptions)
    assert "These hours apply until 2026-12-31" in str(service.availabilityExceptions)
    # From the new year the Monday hours no longer apply; nothing says closed where it is open (24/7 then).
    assert service.notAvailable is None


def test_hours_that_have_ended_are_not_shown() -> None:
    schedules = [
        {**_hours(("monday", "09:00", "17:00"))[0], "valid_to": "2025-12-31"},
        {**_hours(("tuesday", "10:00", "12:00"))[0], "id": "now", "valid_from": "2026-01-01"},
    ]
    service = HealthcareService.model_validate(_service(make_record(schedules=schedules)))
    assert [t.daysOfWeek for t in service.availableTime or []] == [["tue"]]
    assert "2025" not in str(service.availabilityExceptions)


def test_a_weeks_closure_is_one_period_and_two_closures_for_the_same_reason_are_two() -> None:
    week = {"start_date": "2026-12-07", "end_date": "2026-12-13", "reason": "Refurbishment"}
    later = {"start_date": "2027-01-04", "end_date": "2027-01-04", "reason": "Refurbishment"}
    schedules = _hours(
        *[(day, "09:00", "17:00") for day in ("monday", "tuesday", "wednesday")], exceptions=[week, later]
    )
    resource = _service(make_record(schedules=schedules))
    HealthcareService.model_validate(resource)
    assert [(n["during"]["start"], n["during"]["end"]) for n in resource["notAvailable"]] == [
        ("2026-12-07T09:00:00+00:00", "2026-12-09T17:00:00+00:00"),
        ("2027-01-04T09:00:00+00:00", "2027-01-04T17:00:00+00:00"),
    ]


def test_a_location_states_its_bank_holiday_hours_validity_and_dated_closures() -> None:
    # R4 Location has no notAvailable: what its weekly hours do not say must be in availabilityExceptions, with
    # dates, or a reader would take the site to keep its usual hours on a bank holiday or over Christmas.
    schedule = {
        **_hours(("friday", "18:00", "02:00"))[0],
        "location_id": "leeds-test-cafe-loc",
        "bank_holidays": "special",
        "bank_holiday_hours": [{"opens_at": "16:00", "closes_at": "22:00"}],
        "valid_to": "2027-06-30",
        "exceptions": [{"start_date": "2026-12-24", "end_date": "2026-12-26", "reason": "Closed over Christmas"}],
    }
    record = make_record(schedules=[schedule])
    place = Location.model_validate(_place(record))
    text = str(place.availabilityExceptions)
    assert "Bank holidays in England: open 16:00-22:00 only" in text
    assert "until 2027-06-30" in text
    assert "Closed: Closed over Christmas (Fri 25 Dec 2026 18:00 to Sat 26 Dec 02:00)" in text


def test_a_service_whose_sites_keep_the_same_hours_states_them_itself() -> None:
    # Most services have one site with its own hours. Their HealthcareService had no availableTime and no
    # notAvailable (only "see each Location"), and R4 Location cannot say "closed on Christmas Day": a client
    # reading the HealthcareService showed a café open all Christmas.
    christmas = {"start_date": "2026-12-24", "end_date": "2026-12-26", "reason": "Christmas"}
    own = {**_hours(("friday", "18:00", "02:00"), exceptions=[christmas])[0], "location_id": "leeds-test-cafe-loc"}
    resource = _service(make_record(schedules=[own]))
    HealthcareService.model_validate(resource)
    first = resource["availableTime"][0]
    assert (first["daysOfWeek"], first["availableStartTime"]) == (["fri"], "18:00:00")
    assert any(n["during"]["start"].startswith("2026-12-25T18:00") for n in resource["notAvailable"])
    assert "each Location" not in resource.get("availabilityExceptions", "")
    # Two sites with different hours: the service's own words say to read each Location, as before.
    second = {"id": "second-loc", "postcode": "LS1 1UR", "latitude": 53.80, "longitude": -1.55}
    other = {
        **own,
        "id": "second-hours",
        "location_id": "second-loc",
        "sessions": [_hours(("monday", "09:00", "12:00"))[0]["sessions"][0]],
    }
    record = make_record(
        schedules=[own, other], locations=[*make_record().model_dump(mode="json")["locations"], second]
    )
    resource = _service(record)
    assert "availableTime" not in resource
    assert "each Location" in resource["availabilityExceptions"]


# The hazard this guards: a FHIR client that reads availableTime and notAvailable alone (as any would) must never
# see the service open at a moment the search's own opening-hours engine says it is closed. Checked every 15
# minutes over the whole horizon, from days that take in Christmas, the March clock change with Easter, and
# October's.
_ORACLE_SCHEDULES = {
    "overnight, closures and a special night": _hours(
        ("friday", "18:00", "02:00"),
        ("sunday", "22:00", "06:00"),
        bank_holidays="closed",
        exceptions=[
            {"start_date": "2026-12-24", "end_date": "2026-12-26", "reason": "Christmas"},
            {
                "start_date": "2026-12-31",
                "end_date": "2026-12-31",
                "closed": False,
                "hours": [{"opens_at": "18:00", "closes_at": "04:00"}],
            },
            {"start_date": "2027-04-02", "end_date": "2027-04-03"},
        ],
    ),
    "hours that change": [
        {**_hours(("monday", "09:00", "17:00"), ("saturday", "23:00", "01:30"))[0], "valid_to": "2027-01-31"},
        {"id": "later", "always_open": True, "valid_from": "2027-02-01"},
    ],
    "special bank holiday hours": _hours(
        ("monday", "09:00", "17:00"),
        ("friday", "20:00", "03:00"),
        bank_holidays="special",
        bank_holiday_hours=[{"opens_at": "12:00", "closes_at": "14:00"}],
    ),
    "24/7 with a closure": [
        {
            "id": "line",
            "always_open": True,
            "exceptions": [{"start_date": "2027-03-28", "end_date": "2027-03-28", "reason": "Move"}],
        }
    ],
}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _fhir_says_open(resource: dict[str, Any], at: datetime) -> bool:
    """How a FHIR client reads HealthcareService hours: notAvailable first, then availableTime in local time."""
    for item in resource.get("notAvailable", []):
        during = item.get("during")
        if during is None or datetime.fromisoformat(during["start"]) <= at < datetime.fromisoformat(during["end"]):
            return False
    clock = at.strftime("%H:%M:%S")
    for time in resource.get("availableTime", []):
        if _DAYS[at.weekday()] in time["daysOfWeek"] and (
            time.get("allDay")
            or time["availableStartTime"] <= clock < time["availableEndTime"]
            or (time["availableEndTime"] == "23:59:59" and clock >= time["availableStartTime"])
        ):
            return True
    return False


@pytest.mark.parametrize("today", [TODAY, date(2027, 3, 20), date(2026, 10, 20)], ids=str)
@pytest.mark.parametrize("name", list(_ORACLE_SCHEDULES))
def test_fhir_hours_never_show_open_when_the_engine_says_closed(name: str, today: date) -> None:
    record = make_record(schedules=_ORACLE_SCHEDULES[name])
    resource = _service(record, today)
    HealthcareService.model_validate(resource)
    schedules = [s.to_domain() for s in record.schedules]
    start = datetime.combine(today, datetime.min.time(), tzinfo=LONDON).astimezone(UTC)
    wrong, agreed, shown_open = [], 0, 0
    for step in range(HORIZON_DAYS * 96):
        # October's repeated hour included: a wall-clock reader cannot tell its two 01:30s apart, so notAvailable
        # must say (by instant) which of them is closed.
        at = (start + timedelta(minutes=15 * step)).astimezone(LONDON)
        engine, fhir = is_open(schedules, at), _fhir_says_open(resource, at)
        if fhir and not engine:
            wrong.append(at.isoformat())
        agreed += engine == fhir
        shown_open += fhir
    assert wrong == []
    # Not by saying closed everywhere: it shows open hours, and agrees with the engine most of the time (openings
    # beyond today's weekly hours, such as 24/7 from a later date, are stated in words instead).
    assert shown_open > 0
    assert agreed > 0.5 * HORIZON_DAYS * 96


def test_a_night_closing_in_octobers_repeated_hour_is_not_available_the_second_time_round() -> None:
    # Saturday 20:00-01:30 closes at the first 1:30am (BST) on 25 October 2026. availableTime says "sun 00:00-01:30"
    # on the wall clock, which a client read as open again from 1am GMT to 1:30am GMT, with the café shut.
    record = make_record(schedules=_hours(("saturday", "20:00", "01:30")))
    resource = _service(record, date(2026, 10, 20))
    HealthcareService.model_validate(resource)
    first, second = (datetime(2026, 10, 25, 1, 15, tzinfo=LONDON, fold=fold) for fold in (0, 1))
    assert (_fhir_says_open(resource, first), _fhir_says_open(resource, second)) == (True, False)
    assert {
        "description": "Closed: the clocks go back, and this hour of the weekly hours is open only once",
        "during": {"start": "2026-10-25T01:00:00+00:00", "end": "2026-10-25T01:30:00+00:00"},
    } in resource["notAvailable"]
    assert "(Sun 25 Oct 2026 01:00 GMT to 01:30 GMT)" in _place(record, date(2026, 10, 20))["availabilityExceptions"]


def test_a_schedule_record_is_unchanged_by_conversion() -> None:
    record = make_record()
    before = [s.model_dump() for s in record.schedules]
    _service(record)
    assert [ScheduleRecord.model_validate(s).model_dump() for s in before] == [s.model_dump() for s in record.schedules]


@pytest.mark.parametrize("our_id", ["samaritans", "a" * 64, "b" * 65, "c" * 80])
def test_every_identifier_maps_to_a_distinct_valid_fhir_id(our_id: str) -> None:
    assert is_fhir_id(fhir_id(our_id))
    assert (fhir_id(our_id) == our_id) == (len(our_id) <= 64)
    assert fhir_id(our_id) != fhir_id(our_id[:-1] + "z")


def _line_with_an_office(office_hours: list[dict[str, Any]]) -> ServiceRecord:
    office = [{**s, "id": f"office-{i}", "location_id": "leeds-test-cafe-loc"} for i, s in enumerate(office_hours)]
    return make_record(
        kind="crisis_line",
        access={"contact_modes": ["phone"]},
        schedules=[{"id": "line", "always_open": True}, *office],
    )


def test_a_24_7_line_whose_office_keeps_weekday_hours_is_available_all_week() -> None:
    # The office's hours are not the line's: published as Mon-Fri 9-5, a client told a caller at 3am on Sunday
    # that the 24/7 line was closed.
    resource = _service(_line_with_an_office(_hours(*[(d, "09:00", "17:00") for d in _WEEKDAYS])))
    HealthcareService.model_validate(resource)
    assert resource["availableTime"] == [{"daysOfWeek": list(_DAYS), "allDay": True}]
    assert "notAvailable" not in resource
    assert "each Location" not in resource.get("availabilityExceptions", "")


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


@pytest.mark.parametrize("with_line_hours", [True, False])
def test_a_lines_fhir_hours_are_the_hours_search_reads(with_line_hours: bool) -> None:
    record = _line_with_an_office(_hours(("monday", "09:00", "17:00")))
    if not with_line_hours:
        record = record.model_copy(update={"schedules": record.schedules[1:]})
    assert tuple(s.to_domain() for s in line_schedule_records(record)) == line_schedules(record)


def test_service_wide_hours_no_site_keeps_are_not_published_as_the_services() -> None:
    # Sites A (Fri evening) and B (Sat evening) keep their own hours; the service's own Mon-Fri 9-5 applies at
    # neither. Published as availableTime, a client showed the service open on Monday morning, when search (and
    # every site) says closed.
    second = {"id": "second-loc", "address": "Park Row", "postcode": "LS1 1UR", "latitude": 53.80, "longitude": -1.55}
    record = make_record(
        locations=[*make_record().model_dump(mode="json")["locations"], second],
        schedules=[
            {**_hours(*[(d, "09:00", "17:00") for d in _WEEKDAYS])[0], "id": "office"},
            {**_hours(("friday", "18:00", "23:00"))[0], "id": "a", "location_id": "leeds-test-cafe-loc"},
            {**_hours(("saturday", "18:00", "23:00"))[0], "id": "b", "location_id": "second-loc"},
        ],
    )
    resource = _service(record)
    HealthcareService.model_validate(resource)
    monday_morning = datetime(2026, 11, 30, 10, 0, tzinfo=LONDON)
    assert not _fhir_says_open(resource, monday_morning)
    assert "availableTime" not in resource
    assert "each Location" in resource["availabilityExceptions"]
    # A third site with no hours of its own does keep the service's: then they are stated.
    third = {"id": "third-loc", "address": "Vicar Lane", "postcode": "LS1 1UR", "latitude": 53.81, "longitude": -1.56}
    with_third = record.model_copy(update={"locations": [*record.locations, record.locations[1].model_validate(third)]})
    assert _service(with_third)["availableTime"][0]["availableStartTime"] == "09:00:00"


def test_a_lines_office_is_not_published_as_a_place_open_to_visitors() -> None:
    # Published with the line's 24/7 hours, a FHIR client sent people to knock on an office door at 3am.
    record = _line_with_an_office(_hours(("monday", "09:00", "17:00")))
    place = _place(record)
    Location.model_validate(place)
    assert "hoursOfOperation" not in place
    assert "not open to visitors: phone" in place["availabilityExceptions"]
    assert "not open to visitors: phone" in place["description"]
    # A place a service with a door also uses is still open to visitors, in that service's hours.
    cafe = make_record("cafe", locations=[record.locations[0].model_dump(mode="json")])
    shared = location([(record, record.locations[0]), (cafe, cafe.locations[0])], today=TODAY)
    assert "not open to visitors" not in shared["availabilityExceptions"]


def test_a_crisis_house_you_phone_to_be_referred_to_is_published_as_a_place_to_stay() -> None:
    # Its record lists only the phone its referrals come by: it was published as "An office, not open to visitors".
    house = make_record(
        kind="crisis_house",
        eligibility={"referral_routes": ["professional"]},
        access={"contact_modes": ["phone"]},
        schedules=[{"id": "hours", "always_open": True}],
    )
    place = _place(house)
    Location.model_validate(place)
    assert "not open to visitors" not in place.get("description", "")
    assert place["hoursOfOperation"] == [
        {"allDay": True, "daysOfWeek": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    ]


@pytest.mark.parametrize(
    ("status", "why"),
    [("temporarily_closed", "Temporarily closed"), ("inactive", "Not operating"), ("defunct", "Closed permanently")],
)
def test_a_service_that_is_not_active_is_never_available(status: str, why: str) -> None:
    # A client reading availableTime and notAvailable alone showed a defunct café open every Friday night.
    resource = _service(make_record(status=status))
    HealthcareService.model_validate(resource)
    assert resource["notAvailable"][0] == {"description": why}
    assert not _fhir_says_open(resource, datetime(2026, 11, 27, 20, 0, tzinfo=LONDON))


def test_eligibility_says_what_the_record_does_not_know() -> None:
    # Left out, an unknown criterion read as "no restriction": a client sent someone who had been drinking to a
    # service that may turn them away, with nothing saying to check (search calls each of these unknown).
    unknown = {
        "minimum_age": None,
        "maximum_age": None,
        "referral_routes": None,
        "gp_registration_required": None,
        "accepts_intoxicated": None,
        "accepts_substance_use": None,
    }
    comment = _service(make_record(eligibility=unknown))["eligibility"][0]["comment"]
    for words in (
        "No age limit recorded",
        "How to get referred is not recorded: call first",
        "Not recorded whether you must be registered with a GP in its area: check before travelling",
        "Not recorded whether it accepts people who have been drinking or using drugs: check first",
        "Not recorded whether it accepts people who use drugs or alcohol: check first",
    ):
        assert words in comment
    known = _service(make_record(eligibility={"accepts_substance_use": True}))["eligibility"][0]["comment"]
    assert "not recorded" not in known.lower()


def test_a_line_with_no_catchment_recorded_is_not_told_to_be_checked_before_travelling() -> None:
    # Nobody travels to a phone line: its words are search's, "check that it serves your area".
    line = make_record(kind="helpline", eligibility={"catchment": None}, access={"contact_modes": []})
    assert "Catchment area not recorded: check that it serves your area" in _service(line)["eligibility"][0]["comment"]
    cafe = make_record(eligibility={"catchment": None})
    assert "Catchment area not recorded: check before travelling" in _service(cafe)["eligibility"][0]["comment"]


def test_a_location_with_neither_name_nor_address_is_referred_to_by_id_alone() -> None:
    # An empty `display` is not valid FHIR: the resource failed validation in any strict client.
    place = {"id": "bare-site", "postcode": "LS1 1UR", "latitude": 53.8, "longitude": -1.55, "address": ""}
    resource = _service(make_record(locations=[place]))
    HealthcareService.model_validate(resource)
    assert resource["location"] == [{"reference": "Location/bare-site"}]
