"""A site's own hours keep the service's dated closures (ServiceRecord.hours_at): search, and FHIR's Location,
never show a site open through a closure recorded once on the service's hours."""

from __future__ import annotations

from datetime import datetime

from service_finder.interop.fhir import location
from service_finder.schemas import ServiceRecord
from tests.factories import make_record
from tests.search.conftest import LONDON, exclusion_reasons, ids, index_of, run

# Sunday 27 December 2026, 20:00: inside the service's Christmas closure.
CHRISTMAS_SUNDAY = datetime(2026, 12, 27, 20, 0, tzinfo=LONDON)
SUNDAY_AFTER = datetime(2027, 1, 10, 20, 0, tzinfo=LONDON)


def _cafe() -> ServiceRecord:
    return make_record(
        "cafe",
        schedules=[
            {
                "id": "service-hours",
                "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "23:00"}],
                "exceptions": [
                    {"start_date": "2026-12-24", "end_date": "2027-01-02", "reason": "Christmas closure"},
                    # A special opening of the service is not the site's: it could only add hours it never keeps.
                    {
                        "start_date": "2027-01-10",
                        "end_date": "2027-01-10",
                        "closed": False,
                        "hours": [{"opens_at": "10:00", "closes_at": "12:00"}],
                    },
                ],
            },
            {
                "id": "site-hours",
                "location_id": "cafe-loc",
                "sessions": [{"day": "sunday", "opens_at": "18:00", "closes_at": "23:00"}],
            },
        ],
    )


def test_a_site_with_its_own_hours_is_closed_when_the_whole_service_is() -> None:
    index = index_of([_cafe()])
    assert ids(run(index, at=CHRISTMAS_SUNDAY)) == []
    reasons = exclusion_reasons(run(index, at=CHRISTMAS_SUNDAY, explain=True), "cafe")
    assert reasons == ["closed until Sun 03 Jan 18:00"]
    # After the closure, the site keeps its own Sunday evening.
    assert ids(run(index, at=SUNDAY_AFTER)) == ["cafe"]


def test_fhir_location_states_the_service_closure_at_a_site_with_its_own_hours() -> None:
    record = _cafe()
    resource = location([(record, record.locations[0])], today=CHRISTMAS_SUNDAY.date())
    assert "Christmas closure" in resource["availabilityExceptions"]
