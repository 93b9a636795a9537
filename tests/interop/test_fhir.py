from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.location import Location

from service_finder.interop.fhir import fhir_id, healthcare_service, is_fhir_id, location
from service_finder.schemas import ScheduleRecord
from tests.factories import make_record


def _hours(*sessions: tuple[str, str, str], **extra: Any) -> list[dict[str, Any]]:
    schedule = {"id": "hours", "sessions": [{"day": d, "opens_at": o, "closes_at": c} for d, o, c in sessions]}
    return [{**schedule, **extra}]


def _available(record_schedules: list[dict[str, Any]]) -> list[tuple[list[str | None], str, str]]:
    resource = healthcare_service(make_record(schedules=record_schedules))
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


def test_special_hours_and_bank_holiday_hours_are_stated() -> None:
    schedules = _hours(
        ("saturday", "10:00", "16:00"),
        bank_holidays="special",
        bank_holiday_hours=[{"opens_at": "12:00", "closes_at": "14:00"}],
        exceptions=[
            {
                "start_date": "2026-12-24",
                "end_date": "2026-12-24",
                "closed": False,
                "hours": [{"opens_at": "10:00", "closes_at": "13:00"}],
            }
        ],
    )
    service = HealthcareService.model_validate(healthcare_service(make_record(schedules=schedules)))
    assert "Bank holidays in England: open 12:00-14:00 only" in str(service.availabilityExceptions)
    [special] = service.notAvailable or []
    assert special.description == "Regular hours do not apply; open only 10:00-13:00"


def test_hours_kept_per_location_go_on_the_location() -> None:
    record = make_record(schedules=[{**_hours(("monday", "09:00", "17:00"))[0], "location_id": "leeds-test-cafe-loc"}])
    service = HealthcareService.model_validate(healthcare_service(record))
    assert service.availableTime is None
    assert "see each Location" in str(service.availabilityExceptions)
    place = Location.model_validate(location(record, record.locations[0]))
    assert [(h.daysOfWeek, str(h.openingTime)) for h in place.hoursOfOperation or []] == [(["mon"], "09:00:00")]


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
    place = Location.model_validate(location(record, record.locations[0]))
    text = str(place.availabilityExceptions)
    assert "Bank holidays in England: open 16:00-22:00 only" in text
    assert "until 2027-06-30" in text
    assert "Closed: Closed over Christmas (2026-12-24 to 2026-12-26)" in text


def test_a_schedule_record_is_unchanged_by_conversion() -> None:
    record = make_record()
    before = [s.model_dump() for s in record.schedules]
    healthcare_service(record)
    assert [ScheduleRecord.model_validate(s).model_dump() for s in before] == [s.model_dump() for s in record.schedules]


@pytest.mark.parametrize("our_id", ["samaritans", "a" * 64, "b" * 65, "c" * 80])
def test_every_identifier_maps_to_a_distinct_valid_fhir_id(our_id: str) -> None:
    assert is_fhir_id(fhir_id(our_id))
    assert (fhir_id(our_id) == our_id) == (len(our_id) <= 64)
    assert fhir_id(our_id) != fhir_id(our_id[:-1] + "z")
