from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import opening_hours
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service_finder.domain.hours_formats import OsmHoursError, parse_osm, to_osm
from service_finder.domain.opening_hours import is_open
from service_finder.domain.schedule import (
    ALWAYS_OPEN,
    BankHolidayPolicy,
    DatedException,
    ScheduleError,
    Session,
    TimeRange,
    WeeklySchedule,
)

LDN = ZoneInfo("Europe/London")


def test_weekday_overnight_closed_on_bank_holidays() -> None:
    schedule = parse_osm("Mo-Fr 18:00-02:00; PH off")
    assert schedule.sessions == tuple(Session(d, TimeRange(1080, 120)) for d in range(5))
    assert schedule.bank_holidays is BankHolidayPolicy.closed
    assert is_open([schedule], datetime(2026, 1, 10, 1, 59, tzinfo=LDN))  # Friday night into Saturday


def test_later_rule_replaces_the_days_it_names() -> None:
    schedule = parse_osm("Mo-Fr 09:00-17:00; We 10:00-12:00")
    assert [s for s in schedule.sessions if s.day == 2] == [Session(2, TimeRange(600, 720))]
    assert len(schedule.sessions) == 5


def test_past_midnight_hours_and_wrapping_day_ranges() -> None:
    schedule = parse_osm("Sa-Mo 22:00-26:00")
    assert sorted(schedule.sessions, key=lambda s: s.day) == [Session(d, TimeRange(1320, 120)) for d in (0, 5, 6)]


def test_24_7_and_every_day_all_day_are_always_open() -> None:
    assert parse_osm("24/7") == ALWAYS_OPEN
    assert parse_osm("Mo-Su 00:00-24:00") == ALWAYS_OPEN
    assert to_osm(ALWAYS_OPEN) == "24/7"


def test_special_bank_holiday_hours_and_dated_exceptions() -> None:
    text = 'Tu,Th 18:00-22:00; PH 10:00-14:00; 2026 Dec 24-2027 Jan 02 off "Christmas"; 2026 Nov 03 10:00-12:00'
    schedule = parse_osm(text)
    assert schedule.bank_holidays is BankHolidayPolicy.special
    assert schedule.bank_holiday_hours == (TimeRange(600, 840),)
    assert schedule.exceptions == (  # in date order
        DatedException(date(2026, 11, 3), date(2026, 11, 3), closed=False, hours=(TimeRange(600, 720),)),
        DatedException(date(2026, 12, 24), date(2027, 1, 2), reason="Christmas"),
    )
    assert parse_osm(to_osm(schedule)) == schedule


def test_off_alone_means_no_hours() -> None:
    assert parse_osm("off") == WeeklySchedule()
    assert to_osm(WeeklySchedule()) == "off"


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("Mo-Fx 18:00-20:00", 4, "'Fx' is not a weekday"),
        ("Dec 24-Jan 02 off", 1, "need a year"),
        ("Mo 09:00-17:00,Tu 10:00-12:00", 15, "unexpected ','"),
        ("Mo 09:00-17:00;", 15, "followed by another rule"),
        ("SH off", 1, "'SH' is not supported"),
        ("sunrise-sunset", 1, "'sunrise' is not supported"),
        ("Mo 25:00-26:00", 4, "after 23:59"),
        ("2026 Feb 30 off", 10, "is not a date"),
        ("Mo 09:00-17:00 || PH unknown", 16, "unexpected '|'"),
        ("Mo 09:00-09:00", 4, "no length"),
        ("Mo 09:00-12:00,11:00-13:00", 1, "overlap"),
        ("", 1, "empty"),
        # A later weekday rule overrides PH in OSM (open on a Monday bank holiday): held here it would be misread.
        ("PH off; Mo-Fr 09:00-17:00", 9, "PH rule after the weekday rules"),
        ("PH 10:00-20:00; Mo-Fr 09:00-12:00", 17, "PH rule after the weekday rules"),
        # Later rules override in OSM: closed on Saturday 26 Dec, open on Monday 28 Dec. A dated exception here
        # outranks the weekly hours, so these would be misread.
        ("Mo-Fr 09:00-17:00; 2026 Dec 26 10:00-14:00; Sa off", 45, "put dated rules last"),
        ("Mo-Fr 09:00-17:00; 2026 Dec 28 off; Mo 10:00-11:00", 37, "put dated rules last"),
        ("2026 Dec 25 off; PH 10:00-14:00", 18, "put dated rules last"),
        # Only a dated rule keeps its comment (as the reason); a weekly one would silently lose it.
        ('Mo-Fr 18:00-23:00 "by referral only - call first"', 1, "'by referral only - call first' would be lost"),
        ('PH off "ring first"', 1, "'ring first' would be lost"),
    ],
)
def test_invalid_strings_name_the_string_and_the_position(text: str, position: int, words: str) -> None:
    with pytest.raises(OsmHoursError) as caught:
        parse_osm(text)
    assert caught.value.position == position
    assert repr(text) in str(caught.value)
    assert words in str(caught.value)
    assert isinstance(caught.value, ScheduleError)


ranges = st.tuples(st.integers(0, 47), st.integers(1, 47)).map(
    lambda pair: TimeRange(pair[0] * 30, (pair[0] * 30 + pair[1] * 30) % 1440 or 1440)
)


@st.composite
def schedules(draw: st.DrawFn) -> WeeklySchedule:
    chosen: list[Session] = []
    for day, hours in draw(st.lists(st.tuples(st.integers(0, 6), ranges), max_size=8)):
        session = Session(day, hours)
        if hours.opens == 0 and hours.closes == 1440:
            continue  # every day 00:00-24:00 reads back as 24/7, which is the same hours but not the same value
        if not WeeklySchedule(sessions=(*chosen, session)).problems():
            chosen.append(session)
    policy = draw(st.sampled_from(list(BankHolidayPolicy)))
    exceptions = []
    for _ in range(draw(st.integers(0, 2))):
        start = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 700)))
        end = start + timedelta(days=draw(st.integers(0, 20)))
        reason = draw(st.sampled_from(["", "Christmas", "staff training"]))
        if draw(st.booleans()):
            exceptions.append(DatedException(start, end, reason=reason))
        else:
            exceptions.append(DatedException(start, end, closed=False, hours=(draw(ranges),), reason=reason))
    return WeeklySchedule(
        sessions=tuple(sorted(chosen, key=lambda s: (s.day, s.hours.opens))),
        bank_holidays=policy,
        bank_holiday_hours=(draw(ranges),) if policy is BankHolidayPolicy.special else (),
        exceptions=tuple(sorted(exceptions, key=lambda e: (e.start, e.end))),
    )


@settings(max_examples=200, deadline=None)
@given(schedules())
def test_round_trip_is_lossless_and_valid_osm(schedule: WeeklySchedule) -> None:
    text = to_osm(schedule)
    assert opening_hours.validate(text), text
    assert parse_osm(text) == schedule
