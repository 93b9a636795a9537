"""Checks on schedule data that no other test pinned (found by hand mutation testing of domain/schedule.py).

Each test names the wrong schedule an editor or an importer could otherwise store, and what a person would then see.
"""

from __future__ import annotations

from datetime import date

import pytest

from service_finder.domain.schedule import (
    BankHolidayPolicy,
    DatedException,
    ScheduleError,
    Session,
    TimeRange,
    WeeklySchedule,
    format_hhmm,
    parse_hhmm,
)
from tests.domain.weekly import FRI, MON, SAT, SUN, TUE, WED, hm, weekly

# ---------------------------------------------------------------------------------------------------------------
# Reading and writing HH:MM.


@pytest.mark.parametrize("typed", ["18:60", "09:75", "23:99"])
def test_a_minute_past_59_is_refused_not_rolled_into_the_next_hour(typed: str) -> None:
    # "18:60" is a typing slip; read as 19:00 it would quietly move a closing time by an hour.
    with pytest.raises(ScheduleError, match=f"'{typed}' is not HH:MM"):
        parse_hhmm(typed)


def test_seconds_are_accepted_only_when_they_are_zero() -> None:
    # Some feeds write "18:30:00"; anything else is a time we cannot keep to the minute, so it is refused.
    assert parse_hhmm("18:30:00") == 18 * 60 + 30
    with pytest.raises(ScheduleError, match="'18:30:59' is not HH:MM"):
        parse_hhmm("18:30:59")


def test_24_00_ends_a_session_but_never_starts_one() -> None:
    assert parse_hhmm("24:00", is_close=True) == 1440
    with pytest.raises(ScheduleError, match="start it at 00:00"):
        parse_hhmm("24:00")


def test_midnight_at_the_end_of_a_day_is_written_24_00() -> None:
    # The API documents closes_at '24:00' as midnight; writing 09:00-24:00 back as "09:00-00:00" would change the record
    # on a round trip (TimeRange(540, 1440) is not TimeRange(540, 0)) and read like a session that runs overnight.
    assert format_hhmm(1440) == "24:00"
    assert TimeRange(hm("09:00"), 1440).label() == "09:00-24:00"
    for minute in range(1441):
        assert parse_hhmm(format_hhmm(minute), is_close=True) == minute


# ---------------------------------------------------------------------------------------------------------------
# Values a TimeRange, Session or DatedException must refuse.


def test_a_session_cannot_open_at_24_00() -> None:
    # 24:00 is the end of the day; a session "opening" then is tomorrow's 00:00 written on the wrong day.
    with pytest.raises(ScheduleError, match="opening time 1440 is not within a day"):
        TimeRange(1440, hm("02:00"))


def test_a_session_on_day_7_is_refused() -> None:
    # Days run 0 (Monday) to 6 (Sunday); an eighth day would start a week late and has no name to show.
    assert Session(SUN, TimeRange(hm("18:00"), hm("02:00"))).day == SUN
    with pytest.raises(ScheduleError, match="day 7 is not a weekday number"):
        Session(7, TimeRange(hm("18:00"), hm("02:00")))


def test_a_closure_whose_dates_are_backwards_is_refused() -> None:
    # Christmas closure typed 26 Dec to 24 Dec: stored, it would cover no day, and the service would show open.
    with pytest.raises(ScheduleError, match="ends 2026-12-24 before it starts 2026-12-26"):
        DatedException(date(2026, 12, 26), date(2026, 12, 24), reason="Christmas")
    one_day = DatedException(date(2026, 12, 25), date(2026, 12, 25))
    assert one_day.covers(date(2026, 12, 25))


def test_a_special_opening_needs_hours_and_a_closure_has_none() -> None:
    with pytest.raises(ScheduleError, match="special opening with no hours"):
        DatedException(date(2026, 12, 31), date(2026, 12, 31), closed=False)
    with pytest.raises(ScheduleError, match="is closed but has hours"):
        DatedException(date(2026, 12, 31), date(2026, 12, 31), hours=(TimeRange(hm("10:00"), hm("14:00")),))


# ---------------------------------------------------------------------------------------------------------------
# WeeklySchedule.problems(): what the editor and importers refuse to save.


def test_a_sound_schedule_has_no_problems() -> None:
    haven = weekly(
        (FRI, "18:00", "02:00"),
        (SAT, "18:00", "02:00"),
        bank_holidays=BankHolidayPolicy.special,
        bank_holiday_hours=(TimeRange(hm("10:00"), hm("14:00")),),
        exceptions=(
            DatedException(
                date(2026, 12, 31), date(2026, 12, 31), closed=False, hours=(TimeRange(hm("20:00"), hm("03:00")),)
            ),
        ),
        valid_from=date(2026, 6, 1),
        valid_to=date(2026, 6, 1),  # a one-day pilot: from and to the same day is fine
    )
    assert haven.problems() == []


def test_a_24_7_schedule_that_also_lists_sessions_is_a_problem() -> None:
    muddled = WeeklySchedule(always_open=True, sessions=(Session(MON, TimeRange(hm("09:00"), hm("17:00"))),))
    assert muddled.problems() == ["a 24/7 schedule must not also list weekly sessions"]


def test_validity_that_ends_before_it_starts_is_a_problem() -> None:
    backwards = weekly((MON, "09:00", "17:00"), valid_from=date(2026, 6, 30), valid_to=date(2026, 6, 1))
    assert backwards.problems() == ["valid_to 2026-06-01 is before valid_from 2026-06-30"]


def test_special_bank_holiday_hours_and_policy_go_together() -> None:
    no_hours = weekly((MON, "09:00", "17:00"), bank_holidays=BankHolidayPolicy.special)
    assert no_hours.problems() == ["bank_holidays is 'special' but no bank_holiday_hours are given"]
    # Hours with a "closed" policy would be ignored: the service would read closed all day when it meant to open.
    ignored = weekly(
        (MON, "09:00", "17:00"),
        bank_holidays=BankHolidayPolicy.closed,
        bank_holiday_hours=(TimeRange(hm("10:00"), hm("14:00")),),
    )
    assert ignored.problems() == ["bank_holiday_hours are given but bank_holidays is 'closed'"]


def test_overlapping_bank_holiday_hours_are_a_problem() -> None:
    line = weekly(
        (MON, "09:00", "17:00"),
        bank_holidays=BankHolidayPolicy.special,
        bank_holiday_hours=(TimeRange(hm("10:00"), hm("14:00")), TimeRange(hm("12:00"), hm("15:00"))),
    )
    # Said without a weekday: these are a bank holiday's hours, whatever day it falls on.
    assert line.problems() == ["bank_holiday_hours: hours 10:00-14:00 and 12:00-15:00 overlap"]


def test_overlapping_hours_in_a_special_opening_are_a_problem() -> None:
    new_year = DatedException(
        date(2026, 12, 31),
        date(2026, 12, 31),
        closed=False,
        hours=(TimeRange(hm("20:00"), hm("02:00")), TimeRange(hm("23:00"), hm("01:00"))),
    )
    assert weekly((TUE, "18:00", "22:00"), exceptions=(new_year,)).problems() == [
        "exception from 2026-12-31: hours 20:00-02:00 and 23:00-01:00 overlap"
    ]


def test_sunday_night_running_into_monday_overlaps_an_early_monday_session() -> None:
    # On the weekly circle Sunday 22:00-02:00 runs to Monday 02:00, so a Monday 01:00 start overlaps it...
    clash = weekly((SUN, "22:00", "02:00"), (MON, "01:00", "09:00"))
    assert clash.problems() == ["sessions Mo 01:00-09:00 and Su 22:00-02:00 overlap"]
    # ...but a Monday session starting at 02:00, the minute Sunday's ends, only touches it.
    handover = weekly((SUN, "22:00", "02:00"), (MON, "02:00", "09:00"))
    assert handover.problems() == []


def test_an_overlap_is_found_even_with_other_sessions_between_the_two() -> None:
    # Sorted by start, Monday 00:30 comes first and Sunday 22:00 last, with Wednesday between: the clash across the
    # end of the week must still be seen.
    clash = weekly((MON, "00:30", "08:00"), (WED, "09:00", "17:00"), (SUN, "22:00", "02:00"))
    assert clash.problems() == ["sessions Mo 00:30-08:00 and Su 22:00-02:00 overlap"]
    nested = weekly((MON, "09:00", "17:00"), (MON, "10:00", "11:00"), (MON, "12:00", "13:00"))
    assert len(nested.problems()) == 2  # 09:00-17:00 overlaps both


def test_one_session_written_to_end_at_24_00_and_at_00_00_is_named_as_an_overlap() -> None:
    # 18:00-24:00 and 18:00-00:00 are the same evening: the check raised TypeError comparing the two, and an editor's
    # write or an import of such hours answered 500 instead of naming them.
    twice = weekly((MON, "18:00", "24:00"), (MON, "18:00", "00:00"))
    assert twice.problems() == ["sessions Mo 18:00-24:00 and Mo 18:00-00:00 overlap"]
    holidays = weekly(
        (MON, "09:00", "17:00"),
        bank_holidays=BankHolidayPolicy.special,
        bank_holiday_hours=(TimeRange(hm("18:00"), 1440), TimeRange(hm("18:00"), 0)),
    )
    assert holidays.problems() == ["bank_holiday_hours: hours 18:00-24:00 and 18:00-00:00 overlap"]


@pytest.mark.parametrize("typed", ["1\u0668:30", "0\uff19:3\uff10", "\u0661\u0668:\u0660\u0660"])
def test_digits_other_than_ascii_are_refused(typed: str) -> None:
    # int() reads Arabic-Indic and full-width digits; a time typed with them is refused, as the API's patterns do.
    with pytest.raises(ScheduleError, match="is not HH:MM"):
        parse_hhmm(typed)
