from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service_finder.domain.bank_holidays import is_bank_holiday
from service_finder.domain.hours_formats import parse_osm
from service_finder.domain.hours_text import time_words
from service_finder.domain.opening_hours import (
    HOURS_NOT_RECORDED,
    CompiledWeek,
    intervals,
    is_open,
    open_between,
    open_state,
    to_london,
)
from service_finder.domain.schedule import (
    ALWAYS_OPEN,
    MINUTES_PER_DAY,
    BankHolidayPolicy,
    DatedException,
    Session,
    TimeRange,
    WeeklySchedule,
    format_hhmm,
)
from service_finder.schemas import ScheduleRecord
from tests.domain.weekly import FRI, MON, SAT, SUN, THU, TUE, WED, hm, weekly

LDN = ZoneInfo("Europe/London")


def london(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LDN, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------------------
# The oracle: minute-by-minute in wall time, independent of the engine. "Which session covers this wall minute on
# its start date?" The only shared piece is `is_bank_holiday`, which test_bank_holidays pins to GOV.UK's list.


def oracle_ranges(schedule: WeeklySchedule, day: date) -> list[tuple[int, int]]:
    if schedule.valid_from and day < schedule.valid_from:
        return []
    if schedule.valid_to and day > schedule.valid_to:
        return []
    hits = [e for e in schedule.exceptions if e.start <= day <= e.end]
    if any(e.closed for e in hits):
        return []
    if hits:
        return [(r.opens, r.opens + r.length) for e in hits for r in e.hours]
    if schedule.always_open:
        return [(0, 1440)]
    if is_bank_holiday(day) and schedule.bank_holidays == BankHolidayPolicy.closed:
        return []
    if is_bank_holiday(day) and schedule.bank_holidays == BankHolidayPolicy.special:
        return [(r.opens, r.opens + r.length) for r in schedule.bank_holiday_hours]
    return [(s.hours.opens, s.hours.opens + s.hours.length) for s in schedule.sessions if s.day == day.weekday()]


def oracle_open(schedules: Sequence[WeeklySchedule], instant: datetime) -> bool:
    wall = instant.astimezone(LDN).replace(tzinfo=None)
    for start_day in (wall.date() - timedelta(days=1), wall.date()):
        minute = (wall - datetime.combine(start_day, datetime.min.time())) // timedelta(minutes=1)
        for schedule in schedules:
            if any(a <= minute < b for a, b in oracle_ranges(schedule, start_day)):
                return True
    return False


def ambiguous(instant: datetime) -> bool:
    wall = instant.astimezone(LDN).replace(tzinfo=None)
    return wall.replace(tzinfo=LDN, fold=0).utcoffset() != wall.replace(tzinfo=LDN, fold=1).utcoffset()


def agrees(engine: bool, oracle: bool, instant: datetime) -> bool:
    # In the repeated October hour the engine keeps each session one continuous stretch and may be shorter than
    # the wall clock's reading, never longer: open there implies open by the wall clock.
    return engine == oracle or (ambiguous(instant) and oracle and not engine)


# ---------------------------------------------------------------------------------------------------------------
# Named edge cases.


def test_friday_overnight_is_open_saturday_0159_and_closed_at_0200() -> None:
    haven = weekly((FRI, "18:00", "02:00"))
    assert open_state([haven], london(2026, 1, 10, 1, 59)).open_now
    state = open_state([haven], london(2026, 1, 10, 2, 0))
    assert not state.open_now
    assert state.opens_next_at == london(2026, 1, 16, 18, 0)
    assert not open_state([haven], london(2026, 1, 9, 17, 59)).open_now


def test_several_sessions_a_day() -> None:
    clinic = weekly((MON, "09:00", "12:00"), (MON, "13:00", "17:00"))
    lunch = open_state([clinic], london(2026, 1, 5, 12, 30))
    assert not lunch.open_now
    assert lunch.opens_next_at == london(2026, 1, 5, 13, 0)
    assert lunch.minutes_until_open == 30
    assert lunch.hours_today == "Open today 9am to noon and 1pm to 5pm"
    morning = open_state([clinic], london(2026, 1, 5, 11, 0))
    assert morning.closes_at == london(2026, 1, 5, 12, 0)
    assert morning.minutes_until_close == 60


def test_always_open_never_closes_and_ignores_bank_holidays() -> None:
    state = open_state([ALWAYS_OPEN], london(2026, 12, 25, 3, 0))
    assert state.open_now
    assert state.closes_at is None
    assert state.hours_today == "Open 24 hours today"
    closed_on_holidays = WeeklySchedule(always_open=True, bank_holidays=BankHolidayPolicy.closed)
    assert is_open([closed_on_holidays], london(2026, 12, 25, 12, 0))


@pytest.mark.parametrize(
    ("policy", "holiday_hours"), [(BankHolidayPolicy.closed, ()), (BankHolidayPolicy.special, (TimeRange(600, 840),))]
)
def test_a_24_7_schedule_that_says_it_closes_on_bank_holidays_is_refused(
    policy: BankHolidayPolicy, holiday_hours: tuple[TimeRange, ...]
) -> None:
    # Read as 24/7 it would show open on Christmas Day a service whose record says it is closed then.
    contradictory = WeeklySchedule(always_open=True, bank_holidays=policy, bank_holiday_hours=holiday_hours)
    assert any("open on bank holidays too" in problem for problem in contradictory.problems())
    with pytest.raises(ValidationError, match="open on bank holidays too"):
        ScheduleRecord(id="s1", always_open=True, bank_holidays=policy, bank_holiday_hours=[])
    # What it means is said with sessions, and is closed on the day.
    every_day = parse_osm("24/7; PH off")
    assert every_day.problems() == []
    assert not is_open([every_day], london(2026, 12, 25, 12, 0))
    assert is_open([every_day], london(2026, 12, 24, 12, 0))


def test_always_open_still_honours_a_dated_closure() -> None:
    refit = WeeklySchedule(always_open=True, exceptions=(DatedException(date(2026, 6, 1), date(2026, 6, 2)),))
    assert not is_open([refit], london(2026, 6, 1, 12, 0))
    assert open_state([refit], london(2026, 5, 31, 12, 0)).closes_at == london(2026, 6, 1, 0, 0)


def test_until_midnight_merges_with_the_next_day() -> None:
    late = weekly((MON, "09:00", "24:00"), (TUE, "00:00", "09:00"))
    state = open_state([late], london(2026, 1, 5, 23, 0))
    assert state.closes_at == london(2026, 1, 6, 9, 0)
    assert state.minutes_until_close == 600


def test_touching_sessions_of_two_schedules_merge() -> None:
    branch_a = weekly((MON, "09:00", "13:00"))
    branch_b = weekly((MON, "13:00", "17:00"))
    assert open_state([branch_a, branch_b], london(2026, 1, 5, 10, 0)).closes_at == london(2026, 1, 5, 17, 0)


def test_march_change_session_0000_to_0300_lasts_two_real_hours() -> None:
    night = weekly((SUN, "00:00", "03:00"))
    found = intervals([night], london(2026, 3, 29, 0, 0), london(2026, 3, 30, 0, 0))
    assert found == [(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0))]


def test_march_change_session_starting_in_the_gap_opens_at_0200() -> None:
    night = weekly((SUN, "01:30", "04:00"))
    found = intervals([night], london(2026, 3, 29, 0, 0), london(2026, 3, 30, 0, 0))
    assert found == [(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 3, 0))]
    assert found[0][0].astimezone(LDN).hour == 2
    wholly_in_gap = weekly((SUN, "01:10", "01:50"))
    assert intervals([wholly_in_gap], london(2026, 3, 29), london(2026, 3, 30)) == []


def test_october_change_session_0000_to_0300_lasts_four_real_hours() -> None:
    night = weekly((SUN, "00:00", "03:00"))
    ((start, end),) = intervals([night], london(2026, 10, 25, 0, 0), london(2026, 10, 26, 0, 0))
    assert end - start == timedelta(hours=4)


def test_october_change_ambiguous_close_takes_the_first_occurrence() -> None:
    evening = weekly((SAT, "22:00", "01:30"))
    ((_, end),) = intervals([evening], london(2026, 10, 24, 12), london(2026, 10, 25, 12))
    assert end == utc(2026, 10, 25, 0, 30)  # 01:30 BST, the first 01:30
    # (aware datetimes in the repeated hour never compare equal across zones, so compare in UTC)
    assert not is_open([evening], london(2026, 10, 25, 1, 15, fold=1))


def test_october_change_ambiguous_open_takes_the_second_occurrence() -> None:
    early = weekly((SUN, "01:30", "06:00"))
    ((start, _),) = intervals([early], london(2026, 10, 25), london(2026, 10, 26))
    assert start == utc(2026, 10, 25, 1, 30)  # 01:30 GMT, the second 01:30
    assert not is_open([early], london(2026, 10, 25, 1, 45, fold=0))


def test_october_change_session_wholly_in_the_repeated_hour_takes_the_first() -> None:
    brief = weekly((SUN, "01:10", "01:50"))
    found = intervals([brief], london(2026, 10, 25), london(2026, 10, 26))
    assert found == [(utc(2026, 10, 25, 0, 10), utc(2026, 10, 25, 0, 50))]  # 01:10-01:50 BST


def test_overnight_session_before_good_friday_runs_on_but_none_starts_on_it() -> None:
    # A session belongs to the day it starts: Thursday's shift is not cut short by Good Friday.
    haven = weekly(*((day, "18:00", "02:00") for day in range(7)), bank_holidays=BankHolidayPolicy.closed)
    assert is_open([haven], london(2026, 4, 3, 1, 30))
    state = open_state([haven], london(2026, 4, 3, 2, 0))
    assert not state.open_now
    assert state.opens_next_at == london(2026, 4, 4, 18, 0)
    assert state.hours_today == "Closed today (Good Friday)"
    assert not is_open([haven], london(2026, 4, 3, 20, 0))
    # Easter Monday is closed too; Sunday's session still runs into it.
    assert is_open([haven], london(2026, 4, 6, 1, 0))
    assert not is_open([haven], london(2026, 4, 6, 19, 0))


def test_open_in_last_nights_session_never_reads_closed_today() -> None:
    # A Friday 18:00-02:00 café at Saturday 01:30: open now, and nothing starts on Saturday. The words must not
    # say "Closed today" beside "open now" (hazard H11); on Good Friday the reason stays.
    cafe = weekly((4, "18:00", "02:00"))
    state = open_state([cafe], london(2026, 10, 10, 1, 30))
    assert state.open_now
    assert state.closes_at == london(2026, 10, 10, 2, 0)
    assert state.hours_today == "Open until 2am (from yesterday), then closed today"
    assert open_state([cafe], london(2026, 10, 10, 2, 0)).hours_today == "Closed today"
    haven = weekly(*((day, "18:00", "02:00") for day in range(7)), bank_holidays=BankHolidayPolicy.closed)
    good_friday = open_state([haven], london(2026, 4, 3, 1, 30))
    assert good_friday.hours_today == "Open until 2am (from yesterday), then closed today (Good Friday)"


def test_open_in_last_nights_session_says_so_when_tonight_has_one_too() -> None:
    # Friday and Saturday 20:00-03:00, at Saturday 00:30: open until 3am in Friday's session. Tonight's hours alone
    # ("Open today 8pm to 3am") beside "open now, closes 3am" read as if the 8pm session were the open one.
    sanctuary = weekly((4, "20:00", "03:00"), (5, "20:00", "03:00"))
    state = open_state([sanctuary], london(2026, 11, 28, 0, 30))
    assert state.closes_at == london(2026, 11, 28, 3, 0)
    assert state.hours_today == "Open until 3am (from yesterday), then open today 8pm to 3am"
    assert open_state([sanctuary], london(2026, 11, 28, 21, 0)).hours_today == "Open today 8pm to 3am"


def test_a_session_running_on_past_today_is_told_by_todays_hours_not_last_nights_closing_time() -> None:
    # Open all weekend, Friday 18:00 to Monday 09:00, on Sunday morning: "Open until 9am (from yesterday)" named no
    # day, and read as this morning beside a card saying it closes at 9am tomorrow.
    weekend = weekly((4, "18:00", "24:00"), (5, "00:00", "24:00"), (6, "00:00", "24:00"), (0, "00:00", "09:00"))
    sunday = open_state([weekend], london(2026, 11, 29, 10, 0))
    assert sunday.closes_at == london(2026, 11, 30, 9, 0)
    assert sunday.hours_today == "Open 24 hours today"
    weekdays = weekly(*((day, "00:00", "24:00") for day in range(5)))
    wednesday = open_state([weekdays], london(2026, 11, 25, 10, 0))
    assert wednesday.closes_at == london(2026, 11, 28, 0, 0)
    assert "yesterday" not in wednesday.hours_today
    # Its last morning does end today, and says so; nothing opens again that day.
    monday = open_state([weekend], london(2026, 11, 30, 8, 0))
    assert monday.hours_today == "Open until 9am (from yesterday), then closed for the rest of today"


def test_a_session_carried_past_midnight_is_not_told_as_a_second_opening_today() -> None:
    # Friday 20:00-24:00 and Saturday 00:00-09:00 are one night: at Saturday 02:00, "then open today midnight to
    # 9am" read as if it opened again after 9am.
    night = weekly((FRI, "20:00", "24:00"), (SAT, "00:00", "09:00"))
    state = open_state([night], london(2026, 11, 28, 2, 0))
    assert state.closes_at == london(2026, 11, 28, 9, 0)
    assert state.hours_today == "Open until 9am (from yesterday), then closed for the rest of today"
    # With a second opening that evening, today's hours are still given.
    two = weekly((FRI, "20:00", "24:00"), (SAT, "00:00", "09:00"), (SAT, "20:00", "23:00"))
    evening = open_state([two], london(2026, 11, 28, 2, 0))
    assert evening.hours_today.startswith("Open until 9am (from yesterday), then open today")
    assert "8pm to 11pm" in evening.hours_today


def test_weekday_service_closed_on_bank_holidays_reopens_after_easter() -> None:
    office = weekly(*((day, "09:00", "17:00") for day in range(5)), bank_holidays=BankHolidayPolicy.closed)
    state = open_state([office], london(2026, 4, 2, 17, 30))
    assert state.opens_next_at == london(2026, 4, 7, 9, 0)


def test_substitute_day_not_the_weekend_day_is_the_bank_holiday() -> None:
    cafe = weekly((SAT, "10:00", "16:00"), (MON, "10:00", "16:00"), bank_holidays=BankHolidayPolicy.closed)
    assert is_open([cafe], london(2026, 12, 26, 12, 0))  # Boxing Day, a Saturday: usual Saturday hours
    assert not is_open([cafe], london(2026, 12, 28, 12, 0))  # the substitute Monday


def test_special_bank_holiday_hours_replace_the_day() -> None:
    line = weekly(
        (MON, "09:00", "21:00"), bank_holidays=BankHolidayPolicy.special, bank_holiday_hours=(TimeRange(600, 840),)
    )
    assert not is_open([line], london(2026, 8, 31, 9, 30))
    state = open_state([line], london(2026, 8, 31, 10, 30))
    assert state.closes_at == london(2026, 8, 31, 14, 0)
    assert state.hours_today == "Open today 10am to 2pm (Late Summer Bank Holiday)"


def test_as_usual_on_bank_holidays() -> None:
    line = weekly((MON, "09:00", "21:00"))
    assert is_open([line], london(2026, 8, 31, 9, 30))


def test_dated_closure_and_special_opening_override_the_week() -> None:
    cafe = weekly(
        (TUE, "18:00", "22:00"),
        (THU, "18:00", "22:00"),
        exceptions=(
            DatedException(date(2026, 12, 24), date(2027, 1, 2), reason="Christmas"),
            DatedException(date(2026, 12, 31), date(2026, 12, 31), closed=False, hours=(TimeRange(1200, 120),)),
            DatedException(date(2026, 11, 3), date(2026, 11, 3), closed=False, hours=(TimeRange(600, 720),)),
        ),
    )
    assert not is_open([cafe], london(2026, 12, 29, 19, 0))  # a Tuesday inside the closure
    assert not is_open([cafe], london(2026, 12, 31, 21, 0))  # closure wins over the special opening
    assert open_state([cafe], london(2026, 12, 24, 12)).opens_next_at == london(2027, 1, 5, 18, 0)
    assert open_state([cafe], london(2026, 12, 29, 12)).hours_today == "Closed today (Christmas)"
    assert is_open([cafe], london(2026, 11, 3, 11, 0))  # the special morning on a Tuesday
    assert not is_open([cafe], london(2026, 11, 3, 19, 0))  # replaces the usual evening


def test_closure_leaves_the_overnight_session_of_the_evening_before() -> None:
    haven = weekly((WED, "18:00", "02:00"), exceptions=(DatedException(date(2026, 12, 24), date(2026, 12, 26)),))
    assert is_open([haven], london(2026, 12, 24, 1, 0))


def test_validity_window() -> None:
    pilot = weekly((MON, "09:00", "17:00"), valid_from=date(2026, 6, 1), valid_to=date(2026, 6, 30))
    assert not is_open([pilot], london(2026, 5, 25, 10))
    assert is_open([pilot], london(2026, 6, 1, 10))
    assert is_open([pilot], london(2026, 6, 29, 10))
    assert not is_open([pilot], london(2026, 7, 6, 10))
    assert open_state([pilot], london(2026, 5, 20, 10)).opens_next_at == london(2026, 6, 1, 9)


def test_the_day_after_hours_end_reads_as_hours_not_recorded_not_closed() -> None:
    # Thursdays 09:00-17:00 until Thursday 8 October: on Friday it read "closed, and not open in the next 14 days"
    # (hours were looked for from yesterday), on Saturday "not recorded", as hours that have ended are (H02).
    ended = weekly((THU, "09:00", "17:00"), valid_to=date(2026, 10, 8))
    for at in (london(2026, 10, 9, 20, 0), london(2026, 10, 10, 20, 0)):
        state = open_state([ended], at)
        assert (state.open_now, state.opens_next_at, state.hours_today) == (False, None, HOURS_NOT_RECORDED)


def test_a_night_session_of_the_last_day_of_hours_runs_on_into_the_next_morning() -> None:
    # Thursdays 20:00-02:00 until Thursday 8 October: open at 01:00 on Friday, in the session that began on the
    # last day; once it has closed, the hours have ended and say nothing of Friday.
    ended = weekly((THU, "20:00", "02:00"), valid_to=date(2026, 10, 8))
    running = open_state([ended], london(2026, 10, 9, 1, 0))
    assert running.open_now
    assert running.closes_at == london(2026, 10, 9, 2, 0)
    assert running.hours_today.startswith("Open until 2am (from yesterday)"), running.hours_today
    assert open_state([ended], london(2026, 10, 9, 3, 0)).hours_today == HOURS_NOT_RECORDED


def test_temporarily_closed_is_never_open() -> None:
    state = open_state([ALWAYS_OPEN], london(2026, 5, 20, 10), temporarily_closed=True)
    assert not state.open_now
    assert state.opens_next_at is None
    assert state.hours_today == "Temporarily closed"
    compiled = CompiledWeek.compile([[ALWAYS_OPEN], [ALWAYS_OPEN]], temporarily_closed=[True, False])
    assert compiled.open_now(london(2026, 5, 20, 10)).tolist() == [False, True]


def test_instants_in_any_offset_and_naive_as_london_wall_time() -> None:
    office = weekly((MON, "09:00", "17:00"))
    assert is_open([office], datetime(2026, 7, 6, 9, 0))  # naive: 09:00 BST
    assert not is_open([office], datetime(2026, 7, 6, 7, 59, tzinfo=UTC))  # 08:59 BST
    assert is_open([office], datetime(2026, 7, 6, 8, 0, tzinfo=UTC))  # 09:00 BST
    assert is_open([office], datetime(2026, 7, 6, 13, 0, tzinfo=timezone(timedelta(hours=5))))  # 09:00 BST
    assert to_london(datetime(2026, 1, 5, 12, tzinfo=UTC)) == london(2026, 1, 5, 12)


def test_opens_next_beyond_the_horizon_is_unknown() -> None:
    later = weekly((MON, "09:00", "17:00"), valid_from=date(2026, 3, 2))
    at = london(2026, 2, 2, 10)
    assert open_state([later], at).opens_next_at is None
    assert open_state([later], at, horizon_days=40).opens_next_at == london(2026, 3, 2, 9)


def test_minutes_are_rounded_up() -> None:
    office = weekly((MON, "09:00", "17:00"))
    state = open_state([office], london(2026, 1, 5, 16, 59, 30))
    assert state.minutes_until_close == 1


def test_open_between_the_next_two_hours() -> None:
    evening = weekly((TUE, "18:00", "22:00"))
    assert open_between([evening], london(2026, 1, 6, 16, 30), london(2026, 1, 6, 18, 30))
    assert not open_between([evening], london(2026, 1, 6, 15, 0), london(2026, 1, 6, 17, 0))
    assert not open_between([evening], london(2026, 1, 6, 16, 0), london(2026, 1, 6, 18, 0))  # end excluded


# ---------------------------------------------------------------------------------------------------------------
# Properties against the oracle.

times = st.integers(0, 94).map(lambda q: q * 15)
lengths = st.sampled_from([15, 30, 60, 90, 120, 240, 480, 600, 720, 1440])


@st.composite
def schedules(draw: st.DrawFn) -> WeeklySchedule:
    if draw(st.integers(0, 9)) == 0:
        sessions: tuple[Session, ...] = ()
        always = True
    else:
        always = False
        candidates = draw(st.lists(st.tuples(st.integers(0, 6), times, lengths), max_size=6))
        chosen: list[Session] = []
        for day, opens, length in candidates:
            end = opens + (length if length < 1440 or opens == 0 else 720)
            session = Session(day, TimeRange(opens, end if end <= 1440 else end - 1440))
            if not WeeklySchedule(sessions=(*chosen, session)).problems():
                chosen.append(session)
        sessions = tuple(chosen)
    policy = draw(st.sampled_from(list(BankHolidayPolicy)))
    holiday_hours = (TimeRange(600, 840),) if policy is BankHolidayPolicy.special else ()
    exceptions: list[DatedException] = []
    for _ in range(draw(st.integers(0, 2))):
        first = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
        last = first + timedelta(days=draw(st.integers(0, 3)))
        if draw(st.booleans()):
            exceptions.append(DatedException(first, last))
        else:
            opens = draw(times)
            exceptions.append(DatedException(first, last, closed=False, hours=(TimeRange(opens, (opens + 60) % 1440),)))
    valid_from = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 364))) if draw(st.booleans()) else None
    return WeeklySchedule(
        sessions=sessions,
        always_open=always,
        bank_holidays=policy,
        bank_holiday_hours=holiday_hours,
        exceptions=tuple(exceptions),
        valid_from=valid_from,
    )


# Both 2026 clock-change weekends, Easter, Christmas and ordinary weeks.
ANCHORS = [utc(2026, 3, 28), utc(2026, 10, 24), utc(2026, 4, 2), utc(2026, 12, 23), utc(2026, 6, 10)]
instants = st.builds(
    lambda anchor, minutes: anchor + timedelta(minutes=minutes), st.sampled_from(ANCHORS), st.integers(0, 4 * 1440)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(schedules(), min_size=1, max_size=2), instants)
def test_open_now_matches_the_oracle(service: list[WeeklySchedule], at: datetime) -> None:
    assert agrees(is_open(service, at), oracle_open(service, at), at)
    state = open_state(service, at)
    assert state.open_now == is_open(service, at)
    # Python subtracts from London-aware datetimes in wall time, so step back in UTC.
    if state.closes_at is not None:
        closes = state.closes_at.astimezone(UTC)
        last_open = closes - timedelta(minutes=1)
        assert oracle_open(service, last_open) or ambiguous(last_open)
        assert not oracle_open(service, closes) or ambiguous(closes)
    if state.opens_next_at is not None:
        opens = state.opens_next_at.astimezone(UTC)
        assert oracle_open(service, opens)
        assert not is_open(service, opens - timedelta(minutes=1))


@settings(max_examples=15, deadline=None)
@given(st.lists(schedules(), min_size=1, max_size=2), st.sampled_from(ANCHORS))
def test_intervals_match_the_oracle_minute_by_minute(service: list[WeeklySchedule], anchor: datetime) -> None:
    # Noon to 18:00 the next day: overnight sessions and, on the change weekends, the clock change itself.
    start, end = anchor + timedelta(hours=12), anchor + timedelta(hours=42)
    found = intervals(service, start, end)
    starts = [a for a, _ in found]
    for a, b in itertools.pairwise(found):
        assert a[1] < b[0]  # merged: no two touch
    minute = start
    while minute < end:
        index = bisect.bisect_right(starts, minute) - 1
        engine = index >= 0 and found[index][0] <= minute < found[index][1]
        assert agrees(engine, oracle_open(service, minute), minute), minute
        minute += timedelta(minutes=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(schedules(), min_size=1, max_size=2), min_size=1, max_size=8), instants)
def test_vectorised_open_now_matches_the_exact_path(services: list[list[WeeklySchedule]], at: datetime) -> None:
    compiled = CompiledWeek.compile(services)
    assert compiled.open_now(at).tolist() == [is_open(service, at) for service in services]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(schedules(), min_size=0, max_size=2), min_size=1, max_size=8),
    instants,
    st.data(),
)
def test_open_for_a_subset_matches_open_now(
    services: list[list[WeeklySchedule]], at: datetime, data: st.DataObject
) -> None:
    # The search evaluates only the services near a person, in any order, possibly repeated.
    compiled = CompiledWeek.compile(services, temporarily_closed=[i % 5 == 4 for i in range(len(services))])
    owners = data.draw(st.lists(st.integers(0, len(services) - 1), max_size=12))
    subset = compiled.open_for(at, np.array(owners, dtype=np.int32))
    assert subset.tolist() == compiled.open_now(at)[owners].tolist()


# ---------------------------------------------------------------------------------------------------------------
# A year, every 15 minutes, real-looking schedules: zero mismatches.

SAFE_HAVEN = weekly((FRI, "18:00", "02:00"), (SAT, "18:00", "02:00"), (SUN, "18:00", "02:00"))
OFFICE = weekly(*((day, "09:00", "17:00") for day in range(5)), bank_holidays=BankHolidayPolicy.closed)
CAFE = weekly(
    (TUE, "18:00", "22:00"),
    (THU, "18:00", "22:00"),
    exceptions=(DatedException(date(2026, 12, 24), date(2027, 1, 2), reason="Christmas"),),
)
# Sessions that start and end within hours, back to back (one whole hour made of two sessions) and overnight across
# the end of the week: the hours open_for reads from its per-hour bits, and those whose rows it must test.
SPLIT = weekly(
    (MON, "09:30", "12:15"),
    (MON, "12:15", "16:45"),
    (WED, "23:45", "00:15"),
    (SUN, "22:30", "01:30"),
    bank_holidays=BankHolidayPolicy.closed,
)
REAL = [SAFE_HAVEN, OFFICE, ALWAYS_OPEN, CAFE, SPLIT]


def test_a_year_every_15_minutes_has_zero_mismatches() -> None:
    start, end = utc(2026, 1, 1), utc(2027, 1, 1)
    compiled = CompiledWeek.compile([[s] for s in REAL])
    found = [intervals([s], start, end) for s in REAL]
    starts = [[a for a, _ in f] for f in found]
    mismatches = []
    at = start
    owners = np.arange(len(REAL), dtype=np.int32)
    while at < end:
        vector = compiled.open_now(at).tolist()
        subset = compiled.open_for(at, owners).tolist()  # the search's path
        for i, schedule in enumerate(REAL):
            index = bisect.bisect_right(starts[i], at) - 1
            exact = index >= 0 and found[i][index][0] <= at < found[i][index][1]
            expected = oracle_open([schedule], at)
            if not exact == vector[i] == subset[i] == expected:
                mismatches.append((i, at))
        at += timedelta(minutes=15)
    assert mismatches == []


# The October change night, every 5 minutes from 00:00 UTC (01:00 BST) to 03:00 UTC: both passes of the repeated hour.
OCTOBER_NIGHT = [utc(2026, 10, 25) + timedelta(minutes=m) for m in range(0, 180, 5)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(schedules(), min_size=0, max_size=2), min_size=1, max_size=6),
    instants | st.sampled_from(OCTOBER_NIGHT),
    st.sampled_from([15, 60, 120, 600]),
)
def test_the_cheap_passes_never_miss_a_service_the_exact_engine_finds(
    services: list[list[WeeklySchedule]], at: datetime, window: int
) -> None:
    # may_be_open and may_open_within narrow the search before the exact engine: a service they leave out is never
    # looked at again, so each must keep every service the exact engine would find open, or opening in the window.
    compiled = CompiledWeek.compile(services)
    owners = np.arange(len(services), dtype=np.int32)
    could_be_open = compiled.may_be_open(at, owners)
    could_open = compiled.may_open_within(at, owners, window)
    for i, service in enumerate(services):
        state = open_state(service, at)
        if state.open_now:
            assert could_be_open[i], (i, at)
        elif state.minutes_until_open is not None and state.minutes_until_open <= window:
            assert could_open[i], (i, at, state.minutes_until_open)


def test_a_session_coming_round_again_in_octobers_repeated_hour_is_found_opening_soon() -> None:
    # At the first 01:45 (BST) a session starting Sunday 01:30 opens at the second 01:30 (GMT), 45 minutes later.
    service = [weekly((SUN, "01:30", "08:00"))]
    first_0145 = utc(2026, 10, 25) + timedelta(minutes=45)
    state = open_state(service, first_0145)
    assert (state.open_now, state.minutes_until_open) == (False, 45)
    compiled = CompiledWeek.compile([service])
    assert compiled.may_open_within(first_0145, np.array([0], dtype=np.int32), 60).tolist() == [True]


def test_a_closure_on_one_of_a_sites_schedules_does_not_shut_its_others_in_the_vectorised_pass() -> None:
    # Monday 16 November 2026: the weekday schedule runs 09:00-17:00; the evening one (18:00-22:00) is closed that
    # day for staff training. At 10:00 the site is open. The coverage reports count sites with this pass.
    weekday = weekly((MON, "09:00", "17:00"))
    evening = weekly(
        (MON, "18:00", "22:00"),
        exceptions=(DatedException(date(2026, 11, 16), date(2026, 11, 16), reason="staff training"),),
    )
    site, evening_only = [weekday, evening], [evening]
    compiled = CompiledWeek.compile([site, evening_only])
    for at, expected in ((london(2026, 11, 16, 10), [True, False]), (london(2026, 11, 16, 19), [False, False])):
        assert [is_open(site, at), is_open(evening_only, at)] == expected
        assert compiled.open_now(at).tolist() == expected
        assert compiled.open_for(at, np.array([0, 1], dtype=np.int32)).tolist() == expected


def test_march_change_words_say_the_times_the_clock_will_show() -> None:
    # 01:00-01:59 never happen that night: the words name the times closes_at and opens_next_at give, and a session
    # wholly inside the missing hour is not promised at all.
    saturday_night = open_state([weekly((SAT, "18:00", "01:00"))], london(2026, 3, 28, 22, 0))
    assert (saturday_night.hours_today, saturday_night.closes_at) == ("Open today 6pm to 2am", london(2026, 3, 29, 2))
    starting_in_the_gap = open_state([weekly((SUN, "01:30", "03:00"))], london(2026, 3, 29, 0, 45))
    assert starting_in_the_gap.hours_today == "Open today 2am to 3am"
    assert starting_in_the_gap.opens_next_at == london(2026, 3, 29, 2, 0)
    wholly_in_gap = open_state([weekly((SUN, "01:00", "02:00"))], london(2026, 3, 29, 0, 45))
    assert (wholly_in_gap.hours_today, wholly_in_gap.opens_next_at) == ("Closed today", london(2026, 4, 5, 1, 0))
    # October has no missing hour: the same times, with the repeated hour's 1:30am said to be the first.
    october = open_state([weekly((SAT, "18:00", "01:30"))], london(2026, 10, 24, 22, 0))
    assert october.hours_today == "Open today 6pm to 1:30am (BST)"


@pytest.mark.parametrize("day", [date(2026, 3, 28), date(2026, 3, 29), date(2026, 10, 24), date(2026, 10, 25)])
def test_every_session_is_described_on_the_clock_change_weekends(day: date) -> None:
    # Every session on a half-hour grid, on the days either side of both clock changes, has its words written: a
    # session of a day or more by the clock once raised, and search answered 500 all that day. Its words always
    # name when it opens.
    grid = range(0, MINUTES_PER_DAY, 30)
    noon = datetime.combine(day, time(12), tzinfo=LDN)
    for opens, closes in itertools.product(grid, [*grid[1:], MINUTES_PER_DAY]):
        if opens != closes:
            words = open_state([weekly((day.weekday(), format_hhmm(opens), format_hhmm(closes)))], noon).hours_today
            assert words == "Closed today" or words.startswith("Open "), (opens, closes, words)


def test_march_change_a_session_of_a_day_by_the_clock_is_said_as_recorded() -> None:
    for opens in ("01:45", "02:00"):
        state = open_state([weekly((SAT, opens, "01:00"))], london(2026, 3, 28, 12, 0))
        assert state.open_now
        assert state.closes_at == london(2026, 3, 29, 2, 0)
        assert state.hours_today == f"Open today {time_words(hm(opens))} to 1am"


def test_hours_today_gives_a_reason_only_when_it_explains_the_whole_day() -> None:
    # New hours from 1 January, stored as two schedules with validity windows: every day read "Open today 9am to
    # 5pm (these hours do not apply on this date)", the reason of the schedule not yet in force.
    every_day = [(day, "09:00", "17:00") for day in range(7)]
    winter = weekly(*every_day, valid_to=date(2026, 12, 31))
    spring = weekly(*[(day, "10:00", "16:00") for day in range(7)], valid_from=date(2027, 1, 1))
    friday_noon = datetime(2026, 11, 27, 12, 0, tzinfo=LDN)
    assert open_state([winter, spring], friday_noon).hours_today == "Open today 9am to 5pm"
    # A closure on one of two schedules does not explain the other's hours.
    training = DatedException(start=date(2026, 11, 27), end=date(2026, 11, 27), reason="Staff training")
    site = weekly((FRI, "17:00", "22:00"), exceptions=(training,))
    assert "Staff training" not in open_state([weekly(*every_day), site], friday_noon).hours_today
    # Closed all day for one reason, beside hours not in force: the reason stands.
    closed = weekly(*every_day, exceptions=(training,))
    assert open_state([closed, spring], friday_noon).hours_today == "Closed today (Staff training)"


def test_a_closing_time_in_octobers_repeated_hour_says_which_one() -> None:
    # Saturday 23:00 to Sunday 01:30 on the night the clocks go back: at 00:30 BST, "until 1:30am" could be one
    # hour or two. The closing is the first 1:30 (never shown open when the hours could mean closed).
    night = weekly((SAT, "23:00", "01:30"))
    state = open_state([night], datetime(2026, 10, 24, 23, 30, tzinfo=UTC))
    assert state.closes_at is not None
    assert state.closes_at.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert state.hours_today.startswith("Open until 1:30am (BST) (from yesterday)"), state.hours_today
    # Any other night, no zone: the time alone cannot be misread.
    ordinary = open_state([night], datetime(2026, 10, 17, 23, 30, tzinfo=UTC))
    assert ordinary.hours_today.startswith("Open until 1:30am (from yesterday)"), ordinary.hours_today


@pytest.mark.parametrize(
    ("session", "words"),
    [
        # Shut at the first 1:30am: at the second 1:15am, "12:30am to 1:30am" read as open another quarter hour.
        ((SUN, "00:30", "01:30"), "Open today 12:30am to 1:30am (BST)"),
        ((SUN, "01:30", "05:00"), "Open today 1:30am (GMT) to 5am"),  # opens at the second
        ((SUN, "01:10", "01:50"), "Open today 1:10am (BST) to 1:50am (BST)"),
    ],
)
def test_todays_hours_say_which_pass_of_octobers_repeated_hour_they_mean(
    session: tuple[int, str, str], words: str
) -> None:
    second_0115 = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    assert open_state([weekly(session)], second_0115).hours_today == words


def test_the_evening_before_a_night_ending_in_octobers_repeated_hour_says_which_pass() -> None:
    saturday = open_state([weekly((SAT, "20:00", "01:30"))], datetime(2026, 10, 24, 21, tzinfo=UTC))
    assert saturday.hours_today == "Open today 8pm to 1:30am (BST)"
    # 2am happens once: no zone.
    assert open_state([weekly((SUN, "02:00", "05:00"))], datetime(2026, 10, 25, 1, 15, tzinfo=UTC)).hours_today == (
        "Open today 2am to 5am"
    )
