from __future__ import annotations

from datetime import date

import pytest

from service_finder.domain.hours_text import describe_week, hours_today, time_words
from service_finder.domain.schedule import (
    ALWAYS_OPEN,
    BankHolidayPolicy,
    DatedException,
    Session,
    TimeRange,
    WeeklySchedule,
)


@pytest.mark.parametrize(
    ("minute", "words"),
    [(0, "midnight"), (1440, "midnight"), (720, "noon"), (540, "9am"), (1110, "6:30pm"), (60, "1am"), (750, "12:30pm")],
)
def test_time_words(minute: int, words: str) -> None:
    assert time_words(minute) == words


def test_weekdays_nine_to_five_closed_on_bank_holidays() -> None:
    office = WeeklySchedule(
        sessions=tuple(Session(d, TimeRange(540, 1020)) for d in range(5)), bank_holidays=BankHolidayPolicy.closed
    )
    assert describe_week(office) == ["Mondays to Fridays 9am to 5pm", "Closed on bank holidays"]


def test_overnight_weekend_and_split_days() -> None:
    haven = WeeklySchedule(
        sessions=(
            Session(4, TimeRange(1080, 120)),
            Session(5, TimeRange(1080, 120)),
            Session(1, TimeRange(1080, 1320)),
            Session(3, TimeRange(1080, 1320)),
        )
    )
    assert describe_week(haven) == ["Tuesdays and Thursdays 6pm to 10pm", "Fridays and Saturdays 6pm to 2am"]


def test_until_midnight_and_two_sessions() -> None:
    late = WeeklySchedule(sessions=(Session(0, TimeRange(540, 720)), Session(0, TimeRange(780, 1440))))
    assert describe_week(late) == ["Mondays 9am to noon and 1pm to midnight"]


def test_every_day_and_24_hours() -> None:
    assert describe_week(ALWAYS_OPEN) == ["Open 24 hours, every day"]
    daily = WeeklySchedule(sessions=tuple(Session(d, TimeRange(480, 1200)) for d in range(7)))
    assert describe_week(daily) == ["Every day 8am to 8pm"]


def test_special_hours_exceptions_and_validity() -> None:
    cafe = WeeklySchedule(
        sessions=(Session(1, TimeRange(1080, 1320)),),
        bank_holidays=BankHolidayPolicy.special,
        bank_holiday_hours=(TimeRange(600, 840),),
        exceptions=(DatedException(date(2026, 12, 24), date(2027, 1, 2), reason="Christmas"),),
        valid_to=date(2027, 3, 31),
    )
    assert describe_week(cafe) == [
        "Tuesdays 6pm to 10pm",
        "Bank holidays 10am to 2pm",
        "Closed 24 December 2026 to 2 January 2027 (Christmas)",
        "These hours apply until 31 March 2027",
    ]


def test_no_hours_says_so() -> None:
    assert describe_week(WeeklySchedule()) == ["No regular opening hours"]


def test_hours_today() -> None:
    assert hours_today([]) == "Closed today"
    assert hours_today([], reason="Good Friday") == "Closed today (Good Friday)"
    assert hours_today([TimeRange(0, 1440)]) == "Open 24 hours today"
    # A 24-hour schedule merged with another covers it: not "open 24 hours and 9am to 5pm".
    assert hours_today([TimeRange(540, 1020), TimeRange(0, 1440)]) == "Open 24 hours today"
    # ...but not one that runs on past midnight: when it closes tomorrow is still said.
    assert hours_today([TimeRange(10, 5), TimeRange(0, 1440)]) == "Open today open 24 hours and 12:10am to 12:05am"
    assert hours_today([TimeRange(780, 1020), TimeRange(540, 720)]) == "Open today 9am to noon and 1pm to 5pm"
