"""Is it open now, and if not, when? Schedules evaluated in Europe/London, answers as real instants.

Decisions (also in docs/opening-hours.md, each pinned by a named test in tests/domain/test_opening_hours.py):

- Time zone: every schedule is London wall time. Aware datetimes in any offset are accepted and converted;
  a naive datetime is read as London wall time (an ambiguous naive time is its first occurrence, as PEP 495 fold=0).
  `intervals` returns UTC instants; `OpenState` reports London-aware datetimes.
- A session belongs to the day it STARTS. Fri 18:00-02:00 is open Saturday 01:59 and closed Saturday 02:00.
  Whatever decides a day (bank holiday, closure, special opening, validity window) decides only the sessions that
  start on it: the Thursday 18:00-02:00 session before Good Friday runs to 02:00 on Good Friday even when the
  service is closed on bank holidays, and no session starts on Good Friday itself. A closure from 24 December
  likewise leaves the 23 December overnight session alone. Reason: staff plan a shift by the day it begins,
  and cutting a shift at midnight would invent a closing time nobody published.
- Precedence for a day: outside valid_from..valid_to -> nothing starts; a dated closure -> nothing starts; a
  special opening -> its hours replace the day (a closure wins over a special opening on the same date); 24/7 ->
  open all day (24/7 ignores bank holidays but not closures or validity); a bank holiday -> the policy
  (closed / as usual / special hours); otherwise the weekly sessions of that weekday.
- March clock change (01:00 GMT jumps to 02:00 BST): wall times 01:00-01:59 do not exist. A session boundary in
  the gap moves to 02:00 BST, the first moment that exists, so a session 00:00-03:00 that night lasts two real
  hours and one starting at 01:30 opens at 02:00. A session wholly inside the gap never opens.
- October clock change (02:00 BST falls back to 01:00 GMT): wall times 01:00-01:59 happen twice. A session is one
  continuous stretch of real time; an ambiguous opening time takes its second occurrence and an ambiguous
  closing time its first, so the service is never shown open at a moment its published hours could mean closed.
  A session 00:00-03:00 that night lasts four real hours. If both ends are ambiguous and that would leave nothing
  (01:10-01:50), both take the first occurrence.
- A temporarily closed service is never open and never opens.
- Merging: a service with several schedules (one per location) is open when any is; touching sessions merge, so
  Mon 09:00-24:00 + Tue 00:00-09:00 closes Tue 09:00 and 24/7 has no closing time within the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from service_finder.domain.bank_holidays import bank_holiday_name, is_bank_holiday
from service_finder.domain.hours_text import WHOLE_DAY, time_words
from service_finder.domain.hours_text import hours_today as hours_today_text
from service_finder.domain.schedule import (
    MINUTES_PER_DAY,
    MINUTES_PER_WEEK,
    BankHolidayPolicy,
    TimeRange,
    WeeklySchedule,
    gives_hours,
)

LONDON = ZoneInfo("Europe/London")
_ONE_DAY = timedelta(days=1)
_OCTOBER = 10
_CLOCK_CHANGE_MONTHS = (3, _OCTOBER)  # the UK's clocks change on the last Sundays of March and October

Interval = tuple[datetime, datetime]


def to_london(at: datetime) -> datetime:
    """`at` as a London-aware datetime that names a real instant; a naive `at` is London wall time.

    Through UTC, always: a wall time the clocks skip (01:30 on the last Sunday of March) would otherwise stay as
    given, and the fast open-now pass (which reads the wall clock) and the exact one (which reads the instant) would
    disagree about it. zoneinfo reads it with the offset before the change (fold=0), so it becomes 02:30 BST, the
    instant a clock that had not yet been put forward would show as 01:30."""
    if at.tzinfo is LONDON and at.month not in _CLOCK_CHANGE_MONTHS:
        return at  # no skipped or repeated wall time outside March and October: already one real instant
    if at.tzinfo is None:
        at = at.replace(tzinfo=LONDON)
    return at.astimezone(UTC).astimezone(LONDON)


def to_utc(at: datetime) -> datetime:
    return to_london(at).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DayPlan:
    """The sessions that start on one date, and why they differ from the weekly pattern (empty when they don't)."""

    ranges: tuple[TimeRange, ...]
    reason: str = ""


NOT_IN_FORCE = "these hours do not apply on this date"


def zone_if_repeated(local: datetime) -> str:
    """' (BST)' or ' (GMT)' for a London time in the hour the clocks repeat in October, else ''. "Until 1:30am"
    said at 1:15am BST could mean 15 minutes or an hour and a quarter."""
    wall = local.replace(tzinfo=None)
    if wall.replace(tzinfo=LONDON, fold=0).utcoffset() == wall.replace(tzinfo=LONDON, fold=1).utcoffset():
        return ""
    return f" ({local.tzname()})"


def day_plan(schedule: WeeklySchedule, day: date) -> DayPlan:
    if (schedule.valid_from and day < schedule.valid_from) or (schedule.valid_to and day > schedule.valid_to):
        return DayPlan((), NOT_IN_FORCE)
    covering = [e for e in schedule.exceptions if e.covers(day)]
    if covering:
        closures = [e for e in covering if e.closed]
        if closures:
            return DayPlan((), closures[0].reason or "closed on this date")
        special = tuple(sorted({r for e in covering for r in e.hours}, key=lambda r: r.opens))
        return DayPlan(special, covering[0].reason or "special opening hours")
    if schedule.always_open:
        return DayPlan((WHOLE_DAY,))
    if schedule.bank_holidays is not BankHolidayPolicy.as_usual and is_bank_holiday(day):
        name = bank_holiday_name(day) or "bank holiday"
        if schedule.bank_holidays is BankHolidayPolicy.closed:
            return DayPlan((), name)
        return DayPlan(tuple(sorted(schedule.bank_holiday_hours, key=lambda r: r.opens)), name)
    weekday = day.weekday()
    return DayPlan(tuple(sorted((s.hours for s in schedule.sessions if s.day == weekday), key=lambda r: r.opens)))


@lru_cache(maxsize=4096)
def _steady_offset(day: date) -> timedelta | None:
    """London's UTC offset all day on `day`, or None on a clock-change day."""
    midnight = datetime.combine(day, time(0), tzinfo=LONDON).utcoffset()
    late = datetime.combine(day, time(23, 59), tzinfo=LONDON).utcoffset()
    return midnight if midnight == late else None


def _wall_to_utc(day: date, minute: int, *, later: bool) -> tuple[datetime, bool]:
    """Real instant of wall time `minute` after midnight starting `day` (may pass into the next day).

    Returns the instant and whether the wall time was ambiguous; `later` picks the second occurrence then.
    A wall time in the spring-forward gap becomes the first moment after the gap.
    """
    day = day + timedelta(days=minute // MINUTES_PER_DAY)
    minute %= MINUTES_PER_DAY
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    offset = _steady_offset(day)
    if offset is not None:
        return (naive - offset).replace(tzinfo=UTC), False
    while True:
        first = naive.replace(tzinfo=LONDON, fold=0).astimezone(UTC)
        second = naive.replace(tzinfo=LONDON, fold=1).astimezone(UTC)
        if first == second:
            return first, False
        if first < second:
            return (second if later else first), True
        naive += timedelta(minutes=1)


@lru_cache(maxsize=65536)
def _session_interval(day: date, hours: TimeRange) -> Interval | None:
    start, start_ambiguous = _wall_to_utc(day, hours.opens, later=True)
    end, end_ambiguous = _wall_to_utc(day, hours.opens + hours.length, later=False)
    if end <= start and start_ambiguous and end_ambiguous:
        start, _ = _wall_to_utc(day, hours.opens, later=False)
    return (start, end) if end > start else None


@lru_cache(maxsize=4096)
def _midnight_utc(day: date) -> datetime:
    return _wall_to_utc(day, 0, later=False)[0]


def _weekly_ranges(schedule: WeeklySchedule) -> tuple[tuple[TimeRange, ...], ...] | None:
    """The sessions of each weekday when nothing but bank holidays can change them (the common case), else None."""
    if schedule.valid_from or schedule.valid_to or schedule.exceptions or schedule.always_open:
        return None
    by_day: list[list[TimeRange]] = [[] for _ in range(7)]
    for session in schedule.sessions:
        by_day[session.day].append(session.hours)
    return tuple(tuple(sorted(ranges, key=_range_key)) for ranges in by_day)


def _plain_always_open(schedule: WeeklySchedule) -> bool:
    return schedule.always_open and not (schedule.valid_from or schedule.valid_to or schedule.exceptions)


Prepared = tuple[tuple[WeeklySchedule, tuple[tuple[TimeRange, ...], ...] | None], ...]


def _prepare(schedules: Sequence[WeeklySchedule]) -> Prepared:
    return tuple((schedule, _weekly_ranges(schedule)) for schedule in schedules)


def _ranges_on(
    schedule: WeeklySchedule, table: tuple[tuple[TimeRange, ...], ...] | None, day: date
) -> tuple[TimeRange, ...]:
    if table is None or (schedule.bank_holidays is not BankHolidayPolicy.as_usual and is_bank_holiday(day)):
        return day_plan(schedule, day).ranges
    return table[day.weekday()]


def _iter_intervals(weekly: Prepared, first_day: date, last_day: date) -> Iterator[Interval]:
    """Merged open intervals of sessions starting from `first_day` to `last_day`, in order, computed lazily."""
    pending: list[Interval] = []
    day = first_day
    while day <= last_day:
        for schedule, table in weekly:
            for hours in _ranges_on(schedule, table, day):
                interval = _session_interval(day, hours)
                if interval is not None:
                    pending.append(interval)
        if len(pending) > 1:
            pending = _merge(pending)
        # Sessions starting later begin at or after the next midnight, so anything ending before it is final.
        boundary = _midnight_utc(day + _ONE_DAY)
        while pending and pending[0][1] < boundary:
            yield pending.pop(0)
        day += _ONE_DAY
    yield from pending


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intervals(schedules: Sequence[WeeklySchedule], start: datetime, end: datetime) -> list[Interval]:
    """Real (UTC) stretches of time within [start, end) when any schedule is open, merged and clipped."""
    start_utc, end_utc = to_utc(start), to_utc(end)
    if end_utc <= start_utc:
        return []
    first_day = start_utc.astimezone(LONDON).date() - _ONE_DAY
    last_day = end_utc.astimezone(LONDON).date()
    found: list[Interval] = []
    for a, b in _iter_intervals(_prepare(schedules), first_day, last_day):
        if b <= start_utc:
            continue
        if a >= end_utc:
            break
        found.append((max(a, start_utc), min(b, end_utc)))
    return found


def is_open(schedules: Sequence[WeeklySchedule], at: datetime) -> bool:
    return _is_open(_prepare(schedules), at)


def _is_open(prepared: Prepared, at: datetime) -> bool:
    at_utc = to_utc(at)
    today = at_utc.astimezone(LONDON).date()
    for day in (today - _ONE_DAY, today):
        for schedule, table in prepared:
            for hours in _ranges_on(schedule, table, day):
                interval = _session_interval(day, hours)
                if interval is not None and interval[0] <= at_utc < interval[1]:
                    return True
    return False


def open_between(schedules: Sequence[WeeklySchedule], start: datetime, end: datetime) -> bool:
    """Open at any moment in [start, end): 'is anything open in the next two hours?'."""
    return bool(intervals(schedules, start, end))


@dataclass(frozen=True, slots=True)
class OpenState:
    """Datetimes are London-aware. `closes_at` is None when open for the whole horizon (24/7);
    `opens_next_at` is None when open now, or when it does not open within the horizon."""

    open_now: bool
    closes_at: datetime | None
    opens_next_at: datetime | None
    minutes_until_close: int | None
    minutes_until_open: int | None
    hours_today: str


def _minutes_between(earlier: datetime, later: datetime) -> int:
    # Rounded up: "closes in 1 minute" at 16:59:30, never "closes in 0 minutes" while still open.
    return math.ceil((later - earlier).total_seconds() / 60)


def describe_today(schedules: Sequence[WeeklySchedule], at: datetime, *, temporarily_closed: bool = False) -> str:
    return _describe_today(_prepare(schedules), to_london(at), temporarily_closed=temporarily_closed)


def _describe_today(prepared: Prepared, at: datetime, *, temporarily_closed: bool) -> str:
    """Today's hours in words, as they stand at `at` (London)."""
    if temporarily_closed:
        return "Temporarily closed"
    today = at.date()
    # No hours recorded, or none that say when it opens from today on (notes alone, hours that ended): not known to
    # be closed, and never shown as open. Hours that ended yesterday still have a say while a session that began
    # last night runs on; read from yesterday all day, the day after hours ended was "closed, and not open in the
    # next 14 days" where the day after that was "not recorded".
    if not gives_hours([schedule for schedule, _ in prepared], today) and not _open_from_yesterday(prepared, at):
        return HOURS_NOT_RECORDED
    if all(table is not None and not is_bank_holiday(today) for _, table in prepared):
        ranges = sorted({r for _, table in prepared if table for r in table[today.weekday()]}, key=_range_key)
        return _today_words(today, ranges)
    plans = [day_plan(schedule, today) for schedule, _ in prepared]
    ranges = sorted({r for plan in plans for r in plan.ranges}, key=_range_key)
    return _today_words(today, ranges, reason=_reason_for_the_day(plans))


def _today_words(today: date, ranges: list[TimeRange], *, reason: str = "") -> str:
    shown = _as_the_clock_shows(today, ranges)
    return hours_today_text(shown, reason=reason, zones=_zones_in_the_repeated_hour(today, shown))


def _zones_in_the_repeated_hour(today: date, ranges: list[TimeRange]) -> dict[TimeRange, tuple[str, str]]:
    """' (BST)' or ' (GMT)' after each time of today's sessions in the hour the clocks repeat in October, as closes_at
    and opens_next_at are said. At the second 1:15am, "Open today 12:30am to 1:30am" read as open for another quarter
    of an hour: that session closed at the first 1:30am."""
    if _steady_offset(today) is not None and _steady_offset(today + _ONE_DAY) is not None:
        return {}
    found = {}
    for hours in ranges:
        interval = _session_interval(today, hours)
        if interval is not None:
            start, end = (moment.astimezone(LONDON) for moment in interval)
            found[hours] = (zone_if_repeated(start), zone_if_repeated(end))
    return found


def _open_from_yesterday(prepared: Prepared, at: datetime) -> bool:
    """Open at `at` in a session that began the day before."""
    at_utc = at.astimezone(UTC)
    return any(
        start <= at_utc < end for start, end in _iter_intervals(prepared, at.date() - _ONE_DAY, at.date() - _ONE_DAY)
    )


def _reason_for_the_day(plans: list[DayPlan]) -> str:
    """The one reason that explains the whole day, or none. Open: every schedule giving hours today must give
    them for that reason ("Open today 9am to 5pm (these hours do not apply on this date)" came from winter hours
    beside the spring's not yet in force). Closed: the reason of the schedules that say why, leaving out those
    only not in force."""
    giving = [plan.reason for plan in plans if plan.ranges]
    if giving:
        return giving[0] if giving[0] and len(set(giving)) == 1 else ""
    reasons = {plan.reason for plan in plans if plan.reason}
    said = reasons - {NOT_IN_FORCE} or reasons
    return said.pop() if len(said) == 1 else ""


def _as_the_clock_shows(today: date, ranges: list[TimeRange]) -> list[TimeRange]:
    """Today's sessions as the clock will read when they start and end. On the night the clocks go forward, 01:00
    to 01:59 never happen: a session ending at 1am ends at 2am by the clock (closes_at says 02:00), and one that
    starts and ends inside that hour does not happen at all. Said otherwise, the words and closes_at disagree."""
    if _steady_offset(today) is not None and _steady_offset(today + _ONE_DAY) is not None:
        return ranges  # no clock change before today's last session ends
    shown = []
    for hours in ranges:
        opens = _clock_minute(today, hours.opens)
        closes = _clock_minute(today, hours.opens + hours.length)
        if closes <= opens:
            continue  # wholly in the missing hour: it never happens
        if closes - opens >= MINUTES_PER_DAY:
            # A day or more by the clock (Saturday 01:30 to Sunday's 1am, which is 2am): one day's range cannot say
            # so, and "1:30am to 2am" would read as half an hour. Said as recorded, as on any other day.
            shown.append(hours)
            continue
        shown.append(TimeRange(opens, closes - MINUTES_PER_DAY if closes > MINUTES_PER_DAY else closes))
    return sorted(set(shown), key=_range_key)


def _clock_minute(day: date, minute: int) -> int:
    """Minutes after `day`'s midnight that the clock reads when wall time `minute` comes (it may be tomorrow): the
    same minute, except in the spring-forward gap, which the clock reads as its end."""
    instant, _ = _wall_to_utc(day, minute, later=False)
    local = instant.astimezone(LONDON)
    return (local.date() - day).days * MINUTES_PER_DAY + local.hour * 60 + local.minute


_CLOSED_TODAY = "Closed today"
HOURS_NOT_RECORDED = "Opening hours not recorded: phone to check"
# How far ahead the next opening is looked for: beyond it, `opens_next_at` is None (and the page says so).
LOOK_AHEAD_DAYS = 14


def _range_key(hours: TimeRange) -> tuple[int, int]:
    return hours.opens, hours.closes


def open_state(
    schedules: Sequence[WeeklySchedule],
    at: datetime,
    *,
    temporarily_closed: bool = False,
    horizon_days: int = LOOK_AHEAD_DAYS,
) -> OpenState:
    return _open_state(_prepare(schedules), at, temporarily_closed=temporarily_closed, horizon_days=horizon_days)


def _open_state(prepared: Prepared, at: datetime, *, temporarily_closed: bool, horizon_days: int) -> OpenState:
    at_london = to_london(at)
    at_utc = at_london.astimezone(UTC)
    today = at_london.date()
    text = _describe_today(prepared, at_london, temporarily_closed=temporarily_closed)
    if temporarily_closed:
        return OpenState(False, None, None, None, None, text)
    if any(_plain_always_open(schedule) for schedule, _ in prepared):
        return OpenState(True, None, None, None, None, text)
    horizon = at_utc + timedelta(days=horizon_days)
    last_day = horizon.astimezone(LONDON).date()
    found = _iter_intervals(prepared, today - _ONE_DAY, last_day)
    for start, end in found:
        if end <= at_utc:
            continue
        if start >= horizon:
            break
        if start <= at_utc:
            if end >= horizon:
                return OpenState(True, None, None, None, None, text)
            closes = end.astimezone(LONDON)
            began_yesterday = start.astimezone(LONDON).date() == today - _ONE_DAY
            if began_yesterday and closes.date() == today and not text.startswith(HOURS_NOT_RECORDED):
                # Open now in a session that began yesterday evening and ends this morning: today's hours alone
                # ("Closed today", or tonight's "Open today 8pm to 3am") beside "open now until 3am" would not say
                # which session is open, so say what is true now and what follows. A session running on past
                # today (open all weekend) is told by today's hours and closes_at: "until 9am" would name no day.
                until = time_words(closes.hour * 60 + closes.minute) + zone_if_repeated(closes)
                following = next(found, None)
                later_today = following is not None and following[0].astimezone(LONDON).date() == today
                if text.startswith(_CLOSED_TODAY) or later_today:
                    then = text[0].lower() + text[1:]
                else:
                    # Today's only hours are this session's own (Saturday 00:00-09:00 after Friday 20:00-24:00):
                    # "then open today midnight to 9am" would read as a second opening.
                    then = "closed for the rest of today"
                text = f"Open until {until} (from yesterday), then {then}"
            return OpenState(True, closes, None, _minutes_between(at_utc, end), None, text)
        return OpenState(False, None, start.astimezone(LONDON), None, _minutes_between(at_utc, start), text)
    return OpenState(False, None, None, None, None, text)


# ---------------------------------------------------------------------------------------------------------------
# Vectorised open-now for the search index.

IntArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


def _is_october_repeat(at_london: datetime) -> bool:
    """True when `at` is a wall time that happens twice (the October fall-back hour)."""
    if at_london.month != _OCTOBER:
        return False
    naive = at_london.replace(tzinfo=None)
    return naive.replace(tzinfo=LONDON, fold=0).utcoffset() != naive.replace(tzinfo=LONDON, fold=1).utcoffset()


# Wall minutes of the week, Sunday 01:00 to 02:00: a boundary there needs the exact path during the repeated hour.
HOURS_PER_WEEK = MINUTES_PER_WEEK // 60
_REPEAT_FROM = 6 * MINUTES_PER_DAY + 60
_REPEAT_TO = 6 * MINUTES_PER_DAY + 120


@dataclass(frozen=True, slots=True, eq=False)
class CompiledWeek:
    """Many services' weekly patterns as sorted wall-minute intervals in numpy arrays, for one-pass open-now.

    Rows are [start, end) minutes after Monday 00:00 London wall time (sessions over Sunday midnight are split).
    `row_day` is the weekday the session starts (-1 for 24/7); `row_bh_off` marks sessions that do not start on a
    bank holiday (policy closed or special); `bh_*` rows are bank-holiday special hours, one copy per weekday.
    Dated closures are applied per query (no session starts on a closed date); special openings and validity-window
    edges are not compiled: those services take the exact path on those dates.
    """

    schedules: tuple[tuple[WeeklySchedule, ...], ...]
    prepared: tuple[Prepared, ...]
    temporarily_closed: BoolArray
    row_start: IntArray
    row_end: IntArray
    row_owner: IntArray
    row_day: IntArray
    row_bh_off: BoolArray
    bh_start: IntArray
    bh_end: IntArray
    bh_owner: IntArray
    bh_day: IntArray
    valid_from: IntArray
    valid_to: IntArray
    exception_owner: IntArray
    exception_start: IntArray
    exception_end: IntArray
    exception_closed: BoolArray
    always_open: BoolArray
    repeat_hour_owners: IntArray
    # Per owner: has any dated exception; has a session edge in the October repeated hour (the subset paths test
    # membership by indexing these, not by searching the owner lists).
    has_exception: BoolArray
    repeat_hour: BoolArray
    # Per owner: more than one schedule (a site's dated closure is recorded on one of them and shuts only that one,
    # so such owners take the exact path on a closed date rather than the vectorised closure).
    several_schedules: BoolArray
    # Per owner, the hours of the week (wall clock) in which any of its weekly sessions runs, as 168 bits in three
    # words (shape (3, owners): each word contiguous); `hour_loose` marks owners whose weekly rows do not tell the
    # whole story (dated exceptions, validity windows, bank-holiday special hours): see may_be_open.
    hour_bits: npt.NDArray[np.uint64]
    hour_loose: BoolArray
    # The same, for the hours its weekly sessions cover from the first minute to the last: open all through them on
    # an ordinary day, so open_for tests rows only for owners whose sessions start or end within the hour.
    hour_full: npt.NDArray[np.uint64]
    # Each owner's rows are one slice, [offset[owner], offset[owner + 1]): the subset paths gather by indexing.
    row_offset: IntArray
    bh_offset: IntArray
    # Per date (ordinal), the owners whose weekly rows do not decide that day (a validity window or a dated
    # exception on it or the day before): the same for every search on that date, so worked out once per date.
    _irregular_days: dict[int, BoolArray] = field(default_factory=dict, repr=False)

    @classmethod
    def compile(
        cls, services: Sequence[Sequence[WeeklySchedule]], temporarily_closed: Sequence[bool] | None = None
    ) -> CompiledWeek:
        rows: list[tuple[int, int, int, int, bool]] = []
        bh_rows: list[tuple[int, int, int, int]] = []
        valid_from: list[int] = []
        valid_to: list[int] = []
        exceptions: list[tuple[int, int, int, int]] = []
        always = np.zeros(len(services), dtype=np.bool_)
        full_hours: list[int] = []
        full_by_schedules: dict[tuple[WeeklySchedule, ...], int] = {}
        for owner, schedules in enumerate(services):
            first_row = len(rows)
            for schedule in schedules:
                exceptions.extend(
                    (owner, e.start.toordinal(), e.end.toordinal(), int(e.closed)) for e in schedule.exceptions
                )
                if schedule.always_open:
                    always[owner] = True
                    rows.append((0, MINUTES_PER_WEEK, owner, -1, False))
                    continue
                bh_off = schedule.bank_holidays is not BankHolidayPolicy.as_usual
                for session in schedule.sessions:
                    start, end = session.week_interval()
                    rows.extend((a, b, owner, session.day, bh_off) for a, b in _split_week(start, end))
                if schedule.bank_holidays is BankHolidayPolicy.special:
                    for day in range(5):
                        for hours in schedule.bank_holiday_hours:
                            start = day * MINUTES_PER_DAY + hours.opens
                            bh_rows.extend((a, b, owner, day) for a, b in _split_week(start, start + hours.length))
            key = tuple(schedules)
            full = full_by_schedules.get(key)
            if full is None:
                full = full_by_schedules[key] = _full_hours(rows[first_row:])
            full_hours.append(full)
            # A service whose schedules have different windows takes the exact path outside their intersection.
            valid_from.append(
                max((s.valid_from.toordinal() if s.valid_from else 0) for s in schedules) if schedules else 0
            )
            valid_to.append(
                min((s.valid_to.toordinal() if s.valid_to else date.max.toordinal()) for s in schedules)
                if schedules
                else date.max.toordinal()
            )
        row = _int_rows(rows, 5)
        bh = _int_rows(bh_rows, 4)
        exc = _int_rows(exceptions, 4)
        closed = np.zeros(len(services), dtype=np.bool_)
        if temporarily_closed is not None:
            closed[:] = np.asarray(temporarily_closed, dtype=np.bool_)
        at_repeat = ((row[:, 0] >= _REPEAT_FROM) & (row[:, 0] < _REPEAT_TO)) | (
            (row[:, 1] >= _REPEAT_FROM) & (row[:, 1] < _REPEAT_TO)
        )
        at_repeat_bh = ((bh[:, 0] >= _REPEAT_FROM) & (bh[:, 0] < _REPEAT_TO)) | (
            (bh[:, 1] >= _REPEAT_FROM) & (bh[:, 1] < _REPEAT_TO)
        )
        repeat = np.unique(np.concatenate([row[at_repeat, 2], bh[at_repeat_bh, 2]]))
        return cls(
            schedules=tuple(tuple(s) for s in services),
            prepared=_prepare_all(services),
            temporarily_closed=closed,
            row_start=row[:, 0].astype(np.int32),
            row_end=row[:, 1].astype(np.int32),
            row_owner=row[:, 2].astype(np.int32),
            row_day=row[:, 3].astype(np.int32),
            row_bh_off=row[:, 4].astype(np.bool_),
            bh_start=bh[:, 0].astype(np.int32),
            bh_end=bh[:, 1].astype(np.int32),
            bh_owner=bh[:, 2].astype(np.int32),
            bh_day=bh[:, 3].astype(np.int32),
            valid_from=np.array(valid_from, dtype=np.int32),
            valid_to=np.array(valid_to, dtype=np.int32),
            exception_owner=exc[:, 0].astype(np.int32),
            exception_start=exc[:, 1].astype(np.int32),
            exception_end=exc[:, 2].astype(np.int32),
            exception_closed=exc[:, 3].astype(np.bool_),
            always_open=always,
            repeat_hour_owners=repeat.astype(np.int32),
            has_exception=np.isin(np.arange(len(services)), exc[:, 0]),
            repeat_hour=np.isin(np.arange(len(services)), repeat),
            several_schedules=np.array([len(schedules) > 1 for schedules in services], dtype=np.bool_),
            hour_bits=_hour_bits(len(services), row),
            hour_full=_as_words(full_hours),
            hour_loose=np.isin(np.arange(len(services)), np.concatenate([exc[:, 0], bh[:, 2]]))
            | (np.array(valid_from, dtype=np.int64).reshape(-1) > 0)
            | (np.array(valid_to, dtype=np.int64).reshape(-1) < date.max.toordinal()),
            row_offset=np.searchsorted(row[:, 2], np.arange(len(services) + 1)).astype(np.int32),
            bh_offset=np.searchsorted(bh[:, 2], np.arange(len(services) + 1)).astype(np.int32),
        )

    def __len__(self) -> int:
        return len(self.schedules)

    def open_now(self, at: datetime) -> BoolArray:
        """Open-state of every service at `at`, one numpy pass plus the exact path for irregular services."""
        at_london = to_london(at)
        today = at_london.date()
        yesterday = today - _ONE_DAY
        weekday = today.weekday()
        minute = weekday * MINUTES_PER_DAY + at_london.hour * 60 + at_london.minute
        hit = (self.row_start <= minute) & (minute < self.row_end)
        bh_today, bh_yesterday = is_bank_holiday(today), is_bank_holiday(yesterday)
        if bh_today or bh_yesterday:
            # A row hit at this minute started today if its day is today's weekday, else yesterday.
            starts_on_bh = np.where(self.row_day == weekday, bh_today, bh_yesterday)
            hit &= ~(self.row_bh_off & starts_on_bh)
        bh_hit = np.zeros(0, dtype=np.bool_)
        if (bh_today or bh_yesterday) and self.bh_start.size:
            bh_hit = (self.bh_start <= minute) & (minute < self.bh_end)
            bh_hit &= np.where(self.bh_day == weekday, bh_today, bh_yesterday)
        today_ordinal = today.toordinal()
        irregular = (self.valid_from > today_ordinal - 1) | (self.valid_to < today_ordinal)
        if self.exception_owner.size:
            covers_today = (self.exception_start <= today_ordinal) & (self.exception_end >= today_ordinal)
            covers_yesterday = (self.exception_start <= today_ordinal - 1) & (self.exception_end >= today_ordinal - 1)
            touching = covers_today | covers_yesterday
            if touching.any():
                # Closures are vectorised (no session starts on a closed date); special openings take the exact path.
                irregular[self.exception_owner[touching & ~self.exception_closed]] = True
                closed_today = np.zeros(len(self), dtype=np.bool_)
                closed_yesterday = np.zeros(len(self), dtype=np.bool_)
                closed_today[self.exception_owner[covers_today & self.exception_closed]] = True
                closed_yesterday[self.exception_owner[covers_yesterday & self.exception_closed]] = True
                irregular |= (self.always_open | self.several_schedules) & (closed_today | closed_yesterday)
                hit &= ~np.where(
                    self.row_day == weekday, closed_today[self.row_owner], closed_yesterday[self.row_owner]
                )
                if bh_hit.size:
                    bh_hit &= ~np.where(
                        self.bh_day == weekday, closed_today[self.bh_owner], closed_yesterday[self.bh_owner]
                    )
        result = np.zeros(len(self), dtype=np.bool_)
        result[self.row_owner[hit]] = True
        if bh_hit.size:
            result[self.bh_owner[bh_hit]] = True
        if _is_october_repeat(at_london):
            irregular[self.repeat_hour_owners] = True
        for index in np.flatnonzero(irregular & ~self.temporarily_closed):
            result[index] = _is_open(self.prepared[index], at_london)
        result &= ~self.temporarily_closed
        return result

    def open_for(self, at: datetime, owners: IntArray) -> BoolArray:
        """Open-state at `at` of just these services (aligned with `owners`): the search path, which only ever
        looks at the few hundred services near a person. Same rules as `open_now`, on the owners' rows only."""
        at_london = to_london(at)
        today = at_london.date()
        yesterday = today - _ONE_DAY
        weekday = today.weekday()
        minute = weekday * MINUTES_PER_DAY + at_london.hour * 60 + at_london.minute
        bh_today, bh_yesterday = is_bank_holiday(today), is_bank_holiday(yesterday)
        if bh_today or bh_yesterday:
            result = np.zeros(owners.size, dtype=np.bool_)
            # Rows are stored grouped by owner (compile appends them service by service), so each owner's rows are
            # one slice: gather them all with one repeat/arange instead of a Python loop.
            rows, position = _gather(self.row_offset, owners)
            hit = (self.row_start[rows] <= minute) & (minute < self.row_end[rows])
            starts_on_bh = np.where(self.row_day[rows] == weekday, bh_today, bh_yesterday)
            hit &= ~(self.row_bh_off[rows] & starts_on_bh)
            result[position[hit]] = True
        else:
            # An ordinary day: open all through this hour, or not in it at all, tells most owners apart from two
            # bits; the rows are tested only for the owners with a session starting or ending within the hour.
            word, bit = divmod(minute // 60, 64)
            shift, one = np.uint64(bit), np.uint64(1)
            full = (self.hour_full[word][owners] >> shift) & one
            result = full.astype(np.bool_)
            partial = np.flatnonzero(((self.hour_bits[word][owners] >> shift) & one) != full)
            if partial.size:
                rows, position = _gather(self.row_offset, owners[partial])
                hit = (self.row_start[rows] <= minute) & (minute < self.row_end[rows])
                result[partial[position[hit]]] = True
        if (bh_today or bh_yesterday) and self.bh_start.size:
            bh_rows, bh_position = _gather(self.bh_offset, owners)
            bh_hit = (self.bh_start[bh_rows] <= minute) & (minute < self.bh_end[bh_rows])
            bh_hit &= np.where(self.bh_day[bh_rows] == weekday, bh_today, bh_yesterday)
            result[bh_position[bh_hit]] = True
        irregular = self._irregular_on(today.toordinal())[owners]
        if _is_october_repeat(at_london):
            irregular |= self.repeat_hour[owners]
        closed = self.temporarily_closed[owners]
        for position_index in np.flatnonzero(irregular & ~closed):
            result[position_index] = _is_open(self.prepared[owners[position_index]], at_london)
        result &= ~closed
        return result

    def _irregular_on(self, today_ordinal: int) -> BoolArray:
        """Owners outside their validity window on this date, or with a dated exception touching it or the day
        before (a session from yesterday may run into today): open_for takes the exact path for those."""
        found = self._irregular_days.get(today_ordinal)
        if found is None:
            found = (self.valid_from > today_ordinal - 1) | (self.valid_to < today_ordinal)
            if self.exception_owner.size:
                touching = (self.exception_start <= today_ordinal) & (self.exception_end >= today_ordinal - 1)
                found[self.exception_owner[touching]] = True
            if len(self._irregular_days) >= IRREGULAR_DAYS:
                self._irregular_days.clear()
            self._irregular_days[today_ordinal] = found
        return found

    def may_be_open(self, at: datetime, owners: IntArray) -> BoolArray:
        """A superset of `open_for(at, owners)`, from one bit per owner: could it be open at all in this hour of the
        week? For pruning (a score ceiling), never for an answer. Owners with dated exceptions, validity windows or
        bank-holiday special hours, and every owner in the October repeated hour, are always marked."""
        at_london = to_london(at)
        if _is_october_repeat(at_london):
            return ~self.temporarily_closed[owners]
        hour = at_london.weekday() * 24 + at_london.hour
        word, bit = divmod(hour, 64)
        result: BoolArray = ((self.hour_bits[word][owners] >> np.uint64(bit)) & np.uint64(1)).astype(np.bool_)
        result |= self.hour_loose[owners]
        return result & ~self.temporarily_closed[owners]

    def may_open_within(self, at: datetime, owners: IntArray, minutes: int) -> BoolArray:
        """A superset of the services (aligned with `owners`) that could start a session within `minutes` after
        `at`: cheap, for narrowing. The exact engine (`open_states`) decides for the ones marked. Services whose
        bank-holiday hours, dated exceptions or validity windows could change the answer are always marked, and an
        hour of slack covers a clock change in the window."""
        if minutes >= MINUTES_PER_WEEK - 60:
            return ~self.temporarily_closed[owners]
        at_london = to_london(at)
        minute = at_london.weekday() * MINUTES_PER_DAY + at_london.hour * 60 + at_london.minute
        end = minute + minutes + 60
        if _is_october_repeat(at_london):
            # The hour is about to happen again: a session starting up to an hour behind on the wall clock (01:30,
            # seen at the first 01:45) comes round again within the window.
            minute -= 60
        result = np.zeros(owners.size, dtype=np.bool_)
        for offsets, starts in ((self.row_offset, self.row_start), (self.bh_offset, self.bh_start)):
            rows, position = _gather(offsets, owners)
            start = starts[rows]
            # On the weekly circle: a start early next week is also start + one week.
            hit = ((start > minute) & (start <= end)) | (
                (start + MINUTES_PER_WEEK > minute) & (start + MINUTES_PER_WEEK <= end)
            )
            result[position[hit]] = True
        bounded = (self.valid_from[owners] > 0) | (self.valid_to[owners] < date.max.toordinal())
        result |= bounded | self.has_exception[owners]
        return result & ~self.temporarily_closed[owners]

    def open_states(
        self, indices: Sequence[int], at: datetime, *, horizon_days: int = LOOK_AHEAD_DAYS
    ) -> list[OpenState]:
        """Full open-state (closes_at, opens_next_at, hours today) for a few services, e.g. the top results."""
        return [
            _open_state(
                self.prepared[i], at, temporarily_closed=bool(self.temporarily_closed[i]), horizon_days=horizon_days
            )
            for i in indices
        ]


def _prepare_all(services: Sequence[Sequence[WeeklySchedule]]) -> tuple[Prepared, ...]:
    # Owners with equal hours share one prepared form (and equal schedules are usually one object already).
    cache: dict[tuple[WeeklySchedule, ...], Prepared] = {}
    prepared: list[Prepared] = []
    for schedules in services:
        key = tuple(schedules)
        if key not in cache:
            cache[key] = _prepare(key)
        prepared.append(cache[key])
    return tuple(prepared)


def _hour_bits(owners: int, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """Per owner, bit h set when a weekly row [start, end) touches hour-of-week h (rows never pass the week's end)."""
    masks = [0] * owners
    for start, end, owner in zip(rows[:, 0].tolist(), rows[:, 1].tolist(), rows[:, 2].tolist(), strict=True):
        masks[owner] |= (1 << min(-(-end // 60), HOURS_PER_WEEK)) - (1 << (start // 60))
    return _as_words(masks)


def _as_words(masks: Sequence[int]) -> npt.NDArray[np.uint64]:
    """168-bit masks, one per owner, as three 64-bit words (shape (3, owners), each word contiguous)."""
    word = (1 << 64) - 1
    bits = np.array([(m & word, (m >> 64) & word, m >> 128) for m in masks], dtype=np.uint64).reshape(len(masks), 3)
    return np.ascontiguousarray(bits.T)


_WHOLE_HOUR = (1 << 60) - 1
# Dates whose irregular owners are kept (one byte per owner each); searches are about today, give or take.
IRREGULAR_DAYS = 16


def _full_hours(rows: Sequence[tuple[int, int, int, int, bool]]) -> int:
    """Bit h set when these weekly rows [start, end) together cover every minute of hour-of-week h."""
    minutes = 0
    for start, end, *_ in rows:
        minutes |= (1 << end) - (1 << start)
    return sum(1 << hour for hour in range(HOURS_PER_WEEK) if (minutes >> (60 * hour)) & _WHOLE_HOUR == _WHOLE_HOUR)


def _gather(offset: IntArray, owners: IntArray) -> tuple[IntArray, IntArray]:
    """Indices of the rows belonging to `owners` (each owner's rows a slice given by `offset`), and each row's
    position in `owners`."""
    first = offset[owners]
    counts = offset[owners + 1] - first
    total = int(counts.sum())
    starts = np.repeat(first - (np.cumsum(counts) - counts), counts)
    rows = (np.arange(total) + starts).astype(np.int32)
    position = np.repeat(np.arange(owners.size, dtype=np.int32), counts)
    return rows, position


def _int_rows(rows: Sequence[tuple[int, ...]], width: int) -> npt.NDArray[np.int64]:
    """The rows as one int64 array, converted a slice at a time: numpy converts a list holding the GIL, and the
    whole of a 100,000-service directory's hours took 0.15 s, during which every search in flight waited for a
    rebuild (benchmarks/bench_rebuild.py). Between slices other threads run."""
    parts = [
        np.array(rows[i : i + ROWS_AT_ONCE], dtype=np.int64).reshape(-1, width)
        for i in range(0, len(rows), ROWS_AT_ONCE)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, width), np.int64)


ROWS_AT_ONCE = 8192


def _split_week(start: int, end: int) -> list[tuple[int, int]]:
    if end <= MINUTES_PER_WEEK:
        return [(start, end)]
    return [(start, MINUTES_PER_WEEK), (0, end - MINUTES_PER_WEEK)]
