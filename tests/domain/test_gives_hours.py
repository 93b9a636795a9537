"""gives_hours: whether a service's schedules say when it opens from a day on (hazard log H02)."""

from __future__ import annotations

from datetime import date

from service_finder.domain.schedule import (
    BankHolidayPolicy,
    DatedException,
    Session,
    TimeRange,
    WeeklySchedule,
    gives_hours,
)

TODAY = date(2026, 11, 1)
EVENING = Session(4, TimeRange(18 * 60, 2 * 60))
MORNING = TimeRange(10 * 60, 14 * 60)


def _opening(start: date, end: date) -> DatedException:
    return DatedException(start, end, closed=False, hours=(MORNING,))


def test_weekly_24_7_and_bank_holiday_hours_give_hours() -> None:
    assert gives_hours([WeeklySchedule(sessions=(EVENING,))], TODAY)
    assert gives_hours([WeeklySchedule(always_open=True)], TODAY)
    assert gives_hours([WeeklySchedule(bank_holidays=BankHolidayPolicy.special, bank_holiday_hours=(MORNING,))], TODAY)
    # Hours that start later are known hours: closed until then.
    assert gives_hours([WeeklySchedule(sessions=(EVENING,), valid_from=date(2027, 1, 1))], TODAY)
    assert gives_hours([WeeklySchedule(sessions=(EVENING,), valid_to=TODAY)], TODAY)


def test_notes_alone_ended_hours_and_nothing_give_no_hours() -> None:
    assert not gives_hours([], TODAY)
    assert not gives_hours([WeeklySchedule(notes="Ring to check times")], TODAY)
    assert not gives_hours([WeeklySchedule(sessions=(EVENING,), valid_to=date(2026, 10, 31))], TODAY)
    assert not gives_hours([WeeklySchedule(always_open=True, valid_to=date(2026, 10, 31))], TODAY)
    closures = (DatedException(date(2026, 12, 24), date(2026, 12, 26)),)
    assert not gives_hours([WeeklySchedule(exceptions=closures)], TODAY)


def test_special_openings_count_only_on_or_after_today_and_while_in_force() -> None:
    assert gives_hours([WeeklySchedule(exceptions=(_opening(TODAY, TODAY),))], TODAY)
    assert not gives_hours([WeeklySchedule(exceptions=(_opening(date(2026, 10, 1), date(2026, 10, 31)),))], TODAY)
    outside = WeeklySchedule(exceptions=(_opening(date(2027, 2, 1), date(2027, 2, 1)),), valid_to=date(2027, 1, 31))
    assert not gives_hours([outside], TODAY)
    before = WeeklySchedule(exceptions=(_opening(date(2026, 12, 1), date(2026, 12, 1)),), valid_from=date(2027, 1, 1))
    assert not gives_hours([before], TODAY)


def test_any_schedule_giving_hours_is_enough() -> None:
    ended = WeeklySchedule(sessions=(EVENING,), valid_to=date(2026, 10, 31))
    assert gives_hours([ended, WeeklySchedule(sessions=(EVENING,))], TODAY)
