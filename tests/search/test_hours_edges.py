"""Hazard H01 at the edges of dated hours, through the search's own fast open-now pass (`CompiledWeek.open_for`),
each checked against the exact engine (`is_open`): the last day of a validity window, the day after it, and an
overnight session whose start day is closed or not yet valid."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from service_finder.domain.opening_hours import is_open
from tests.factories import make_record
from tests.search.conftest import LONDON, ids, index_of, located, run


def cafe(**schedule: Any) -> Any:
    return make_record(
        "edge-cafe",
        locations=located("edge-cafe", 53.8, -1.55),
        schedules=[{"id": "edge-hours", **schedule}],
        eligibility={"minimum_age": None},
    )


EVERY_DAY_9_TO_5 = [
    {"day": day, "opens_at": "09:00", "closes_at": "17:00"}
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
]


@pytest.mark.parametrize(
    ("schedule", "at", "open_now"),
    [
        # valid_to is the last day the hours apply: open on Monday 30 November, closed the day after.
        ({"sessions": EVERY_DAY_9_TO_5, "valid_to": "2026-11-30"}, datetime(2026, 11, 30, 10, 0), True),
        ({"sessions": EVERY_DAY_9_TO_5, "valid_to": "2026-11-30"}, datetime(2026, 12, 1, 10, 0), False),
        # Hours valid from Monday: Sunday night's session (22:00-02:00) is not one of them, after midnight either.
        (
            {"sessions": [{"day": "sunday", "opens_at": "22:00", "closes_at": "02:00"}], "valid_from": "2026-11-30"},
            datetime(2026, 11, 30, 1, 0),
            False,
        ),
        # Friday is closed (a dated closure of that day only): its overnight session does not run into Saturday.
        (
            {
                "sessions": [{"day": "friday", "opens_at": "22:00", "closes_at": "02:00"}],
                "exceptions": [{"start_date": "2026-11-27", "end_date": "2026-11-27", "reason": "Staff training"}],
            },
            datetime(2026, 11, 28, 1, 0),
            False,
        ),
        (  # the next Friday runs as usual
            {
                "sessions": [{"day": "friday", "opens_at": "22:00", "closes_at": "02:00"}],
                "exceptions": [{"start_date": "2026-11-27", "end_date": "2026-11-27", "reason": "Staff training"}],
            },
            datetime(2026, 12, 5, 1, 0),
            True,
        ),
    ],
)
def test_open_now_at_the_edges_of_dated_hours(schedule: dict[str, Any], at: datetime, open_now: bool) -> None:
    record = cafe(**schedule)
    at = at.replace(tzinfo=LONDON)
    assert is_open([s.to_domain() for s in record.schedules], at) is open_now
    index = index_of([record])
    assert ("edge-cafe" in ids(run(index, at=at, open="now"))) is open_now
    # The open-now filter and the state a result shows are worked out separately: both must agree.
    shown = [r.open_now for r in run(index, at=at, open="any").results if r.service.id == "edge-cafe"]
    assert shown == [open_now]
