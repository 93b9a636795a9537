"""What a person reads and what the engine decides must agree (hazard H11): the words of `hours_today`, `open_now`,
`closes_at` and `opens_next_at` for the same service at the same instant, on random schedules and instants around
both 2026 clock changes and the bank holidays.

The words are read back with a small parser of the sentences `hours_text` writes ("Open today 9am to 1pm and 6pm
to 2am (Good Friday)"), so the check is on the text a person sees, not on the ranges it was written from. Only the
public functions of `service_finder.domain.opening_hours` are used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from service_finder.domain.opening_hours import HOURS_NOT_RECORDED, describe_today, intervals, is_open, open_state
from service_finder.domain.schedule import (
    BankHolidayPolicy,
    DatedException,
    Session,
    TimeRange,
    WeeklySchedule,
)

LDN = ZoneInfo("Europe/London")
DAY = 1440
HORIZON_DAYS = 14

# ---------------------------------------------------------------------------------------------------------------
# Reading the words back.

_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?(am|pm)")


def _minute(word: str, *, closing: bool) -> int:
    if word == "midnight":
        return DAY if closing else 0
    if word == "noon":
        return 720
    match = _CLOCK.fullmatch(word)
    assert match, f"{word!r} is not a time as hours_text writes it"
    hour = int(match.group(1)) % 12 + (12 if match.group(3) == "pm" else 0)
    return hour * 60 + int(match.group(2) or 0)


_ZONE = re.compile(r" \((BST|GMT)\)")


def said_ranges(text: str) -> list[tuple[int, int]]:
    """Wall-minute stretches after the day's midnight the sentence promises; an end past 1440 runs into tomorrow."""
    return [(opens, closes) for opens, closes, _, _ in said_zoned_ranges(text)]


def said_zoned_ranges(text: str) -> list[tuple[int, int, str, str]]:
    """said_ranges, with the zone said after each time ('BST' or 'GMT' in October's repeated hour, else '')."""
    text = _ZONE.sub(r"@\1", text)  # '1:30am (BST)' -> '1:30am@BST', so the reason alone is in brackets
    sentence = text.split(" (", 1)[0]  # the reason in brackets ('Good Friday') says why, not when
    if sentence in {"Closed today", "Temporarily closed", HOURS_NOT_RECORDED}:
        return []  # no hours in force (notes alone, hours that ended) promise no opening
    if sentence == "Open 24 hours today":
        return [(0, DAY, "", "")]
    assert sentence.startswith("Open today "), text
    found = []
    for part in re.split(r", | and ", sentence.removeprefix("Open today ")):
        if part == "open 24 hours":
            found.append((0, DAY, "", ""))
            continue
        (opens_word, _, opens_zone), (closes_word, _, closes_zone) = (
            half.partition("@") for half in part.split(" to ")
        )
        opens, closes = _minute(opens_word, closing=False), _minute(closes_word, closing=True)
        found.append((opens, closes if closes > opens else closes + DAY, opens_zone, closes_zone))
    return found


def said_on(service: Sequence[WeeklySchedule], day: date) -> list[tuple[int, int]]:
    return said_ranges(describe_today(service, datetime.combine(day, time(12), tzinfo=LDN)))


def wall_minutes_after(day: date, at: datetime) -> float:
    """Minutes on the wall clock from midnight starting `day` to `at` (what a person reading the hours counts)."""
    wall = at.astimezone(LDN).replace(tzinfo=None)
    return (wall - datetime.combine(day, time(0))) / timedelta(minutes=1)


def clock_change_day(day: date) -> bool:
    start = datetime.combine(day, time(0), tzinfo=LDN).utcoffset()
    return start != datetime.combine(day, time(23, 59), tzinfo=LDN).utcoffset()


def _instant(day: date, minute: int, zone: str, *, closing: bool) -> datetime:
    """The instant of a wall minute after `day`'s midnight. In the repeated hour, the pass its zone names; with none
    named, a reader cannot tell, and may take the first pass of an opening time and the second of a closing time."""
    wall = datetime.combine(day, time(0)) + timedelta(minutes=minute)
    fold = {"BST": 0, "GMT": 1}.get(zone, 1 if closing else 0)
    return wall.replace(tzinfo=LDN, fold=fold).astimezone(UTC)


def promised_then(service: Sequence[WeeklySchedule], at: datetime) -> bool:
    """The words of today or yesterday cover the instant `at`, reading a time in October's repeated hour as the
    pass its '(BST)' or '(GMT)' names."""
    today = at.astimezone(LDN).date()
    for day in (today - timedelta(days=1), today):
        text = describe_today(service, datetime.combine(day, time(12), tzinfo=LDN))
        for opens, closes, opens_zone, closes_zone in said_zoned_ranges(text):
            if _instant(day, opens, opens_zone, closing=False) <= at < _instant(day, closes, closes_zone, closing=True):
                return True
    return False


def promised(service: Sequence[WeeklySchedule], at: datetime) -> bool:
    """The words of today (or yesterday's overnight session, which runs on) cover `at` by the wall clock."""
    today = at.astimezone(LDN).date()
    yesterday = today - timedelta(days=1)
    minute = wall_minutes_after(today, at)
    if any(a <= minute < b for a, b in said_on(service, today)):
        return True
    return any(a <= minute + DAY < b for a, b in said_on(service, yesterday))


# ---------------------------------------------------------------------------------------------------------------
# Random schedules and instants.

CLOCK_CHANGES = (date(2026, 3, 29), date(2026, 10, 25))
BANK_HOLIDAYS = (
    date(2026, 1, 1),
    date(2026, 4, 3),
    date(2026, 4, 6),
    date(2026, 5, 4),
    date(2026, 5, 25),
    date(2026, 8, 31),
    date(2026, 12, 25),
    date(2026, 12, 28),  # the substitute for Boxing Day, a Saturday in 2026
)
FOCUS = (*CLOCK_CHANGES, *BANK_HOLIDAYS, date(2026, 12, 26), date(2026, 6, 10))

minutes_of_day = st.one_of(st.integers(0, 287).map(lambda f: f * 5), st.sampled_from([0, 30, 60, 90, 120, 150, 720]))
lengths = st.one_of(
    st.sampled_from([30, 60, 90, 120, 240, 480, 600, 720, DAY]), st.integers(1, 287).map(lambda f: f * 5)
)


def _range(opens: int, length: int) -> TimeRange:
    closes = opens + length
    return TimeRange(opens, closes if closes <= DAY else closes - DAY)


@st.composite
def schedules(draw: st.DrawFn, around: date) -> WeeklySchedule:
    sessions: tuple[Session, ...] = ()
    always = draw(st.integers(0, 9)) == 0
    if not always:
        chosen: list[Session] = []
        for day, opens, length in draw(st.lists(st.tuples(st.integers(0, 6), minutes_of_day, lengths), max_size=7)):
            if length == DAY and opens != 0:
                continue  # a whole day must be written 00:00-24:00
            session = Session(day, _range(opens, length))
            if not WeeklySchedule(sessions=(*chosen, session)).problems():
                chosen.append(session)
        sessions = tuple(chosen)
    policy = draw(st.sampled_from(list(BankHolidayPolicy)))
    holiday_hours = (_range(draw(minutes_of_day), draw(st.sampled_from([60, 240, 600]))),)
    near = st.integers(-2, 2).map(lambda shift: around + timedelta(days=shift))
    exceptions = []
    for _ in range(draw(st.integers(0, 2))):
        first = draw(near)
        last = first + timedelta(days=draw(st.integers(0, 2)))
        reason = draw(st.sampled_from(["", "staff training", "Christmas"]))
        if draw(st.booleans()):
            exceptions.append(DatedException(first, last, reason=reason))
        else:
            hours = (_range(draw(minutes_of_day), draw(st.sampled_from([60, 180, 600]))),)
            exceptions.append(DatedException(first, last, closed=False, hours=hours, reason=reason))
    return WeeklySchedule(
        sessions=sessions,
        always_open=always,
        bank_holidays=policy,
        bank_holiday_hours=holiday_hours if policy is BankHolidayPolicy.special else (),
        exceptions=tuple(exceptions),
        valid_from=draw(st.none() | near),
        valid_to=draw(st.none() | near.map(lambda d: d + timedelta(days=3))),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[WeeklySchedule], datetime, bool]:
    around = draw(st.sampled_from(FOCUS) | st.dates(date(2026, 1, 1), date(2026, 12, 31)))
    midnight = datetime.combine(around, time(0), tzinfo=LDN).astimezone(UTC)
    if around in CLOCK_CHANGES and draw(st.booleans()):
        # The hours either side of the change, to the second.
        at = midnight + timedelta(seconds=draw(st.integers(-3 * 3600, 5 * 3600)))
    else:
        at = midnight + timedelta(seconds=draw(st.integers(-6 * 3600, 36 * 3600)))
    service = draw(st.lists(schedules(around), min_size=1, max_size=3))
    return service, at, draw(st.integers(0, 9)) == 0


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC)


# ---------------------------------------------------------------------------------------------------------------
# The properties.

FRIDAY_NIGHT = WeeklySchedule(sessions=(Session(4, TimeRange(1080, 120)),))
# Found by these tests: 24/7 hours merged with a Wednesday session running past midnight once read only "Open 24
# hours today", which hid that the service stays open until 00:05 on Thursday (when the 24/7 hours are closed).
ALWAYS_BUT_THURSDAY = WeeklySchedule(
    always_open=True, exceptions=(DatedException(start=date(2026, 6, 11), end=date(2026, 6, 11), closed=True),)
)
WEDNESDAY_TO_THURSDAY = WeeklySchedule(sessions=(Session(0, TimeRange(0, 30)), Session(2, TimeRange(10, 5))))


@settings(max_examples=400, deadline=None)
@given(cases())
@example(([FRIDAY_NIGHT], datetime(2026, 1, 10, 1, 30, tzinfo=UTC), False))  # Saturday 01:30, yesterday's session
@example(
    (  # Good Friday, closed on bank holidays: Thursday night runs on, nothing starts on Friday
        [WeeklySchedule(sessions=(Session(3, TimeRange(1080, 120)),), bank_holidays=BankHolidayPolicy.closed)],
        datetime(2026, 4, 3, 0, 30, tzinfo=UTC),
        False,
    )
)
@example(
    ([WeeklySchedule(sessions=(Session(6, TimeRange(0, 180)),))], datetime(2026, 10, 25, 1, 30, tzinfo=UTC), False)
)
@example(([ALWAYS_BUT_THURSDAY, WEDNESDAY_TO_THURSDAY], datetime(2026, 6, 10, 23, 2, tzinfo=UTC), False))
# The second 1:15am (GMT) on 25 October 2026: Sunday 00:30-01:30 closed at the first 1:30am, and its words said
# "Open today 12:30am to 1:30am".
@example(
    ([WeeklySchedule(sessions=(Session(6, TimeRange(30, 90)),))], datetime(2026, 10, 25, 1, 15, tzinfo=UTC), False)
)
def test_the_words_and_the_open_state_agree(case: tuple[list[WeeklySchedule], datetime, bool]) -> None:
    service, at, temporarily_closed = case
    state = open_state(service, at, temporarily_closed=temporarily_closed, horizon_days=HORIZON_DAYS)

    assert state.open_now == (is_open(service, at) and not temporarily_closed)
    if temporarily_closed:
        assert state.hours_today == "Temporarily closed"
        assert state.closes_at is None
        assert state.opens_next_at is None
        return

    # Open now: the session it is in is one the words of today promise, or yesterday's overnight session; and the
    # words shown now never say "Closed today" while it is open.
    if state.open_now:
        assert promised(service, at), (state.hours_today, at)
        assert not state.hours_today.startswith("Closed today"), (state.hours_today, at)
    # And the other way: if the words promise this moment, it is open. In October's repeated hour too: the words
    # say which 1:30am they mean ('12:30am to 1:30am (BST)'), as the engine ends the session at the first.
    if promised_then(service, at):
        assert state.open_now, (state.hours_today, at)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_closes_at_and_opens_next_at_are_after_now_and_true(case: tuple[list[WeeklySchedule], datetime, bool]) -> None:
    service, at, _ = case
    state = open_state(service, at, horizon_days=HORIZON_DAYS)
    at_utc = _utc(at)
    horizon = at_utc + timedelta(days=HORIZON_DAYS)

    if state.open_now:
        assert state.opens_next_at is None
        assert state.minutes_until_open is None
        if state.closes_at is None:
            # "Open, no closing time": open for the whole horizon without a break.
            assert intervals(service, at_utc, horizon) == [(at_utc, horizon)]
            assert state.minutes_until_close is None
        else:
            closes = _utc(state.closes_at)
            assert closes > at_utc
            assert state.minutes_until_close == math.ceil((closes - at_utc).total_seconds() / 60) >= 1
            assert intervals(service, at_utc, closes) == [(at_utc, closes)]  # open all the way to it
            assert not is_open(service, closes)  # and shut at it
    else:
        assert state.closes_at is None
        assert state.minutes_until_close is None
        if state.opens_next_at is None:
            assert intervals(service, at_utc, horizon) == []
            assert state.minutes_until_open is None
        else:
            opens = _utc(state.opens_next_at)
            assert opens > at_utc
            assert state.minutes_until_open == math.ceil((opens - at_utc).total_seconds() / 60) >= 1
            assert intervals(service, at_utc, opens) == []  # shut all the way to it
            assert is_open(service, opens)


def _said_boundaries(service: Sequence[WeeklySchedule], day: date) -> tuple[set[int], set[int]]:
    """Wall minutes after `day`'s midnight at which the words of `day` and the day before say something opens or
    closes."""
    today, yesterday = said_on(service, day), said_on(service, day - timedelta(days=1))
    opens = {a for a, _ in today}
    closes = {b for _, b in today if b <= DAY} | {b - DAY for _, b in yesterday if b >= DAY}
    return opens, closes


@settings(max_examples=300, deadline=None)
@given(cases())
@example(([ALWAYS_BUT_THURSDAY, WEDNESDAY_TO_THURSDAY], datetime(2026, 6, 9, 23, 0, tzinfo=UTC), False))
# The night the clocks go forward: Saturday 18:00-01:00 closes at 02:00 by the clock; Sunday 01:30-03:00 opens at
# 02:00. The words said "6pm to 1am" and "1:30am to 3am".
@example(([WeeklySchedule(sessions=(Session(5, TimeRange(1080, 60)),))], datetime(2026, 3, 28, 22, tzinfo=UTC), False))
@example(
    ([WeeklySchedule(sessions=(Session(6, TimeRange(90, 180)),))], datetime(2026, 3, 29, 0, 45, tzinfo=UTC), False)
)
def test_the_times_shown_are_times_the_words_of_that_day_give(
    case: tuple[list[WeeklySchedule], datetime, bool],
) -> None:
    # "Closes 5pm" must be a closing time in that day's words, and "opens Fri 6pm" an opening time in Friday's. On
    # the night the clocks go forward too: a session written to end at 1am ends at 2am by the clock, and its words
    # say 2am.
    service, at, _ = case
    state = open_state(service, at, horizon_days=HORIZON_DAYS)
    if state.closes_at is not None:
        day = state.closes_at.date()
        _, closes = _said_boundaries(service, day)
        assert wall_minutes_after(day, state.closes_at) in closes, (state.closes_at, closes)
    if state.opens_next_at is not None:
        day = state.opens_next_at.date()
        opens, _ = _said_boundaries(service, day)
        assert wall_minutes_after(day, state.opens_next_at) in opens, (state.opens_next_at, opens)
