"""Opening-hours data as the directory stores it: weekly sessions in Europe/London wall time.

Times are minutes after local midnight. A session whose `closes` is not after `opens` ends the next
day (Fri 18:00-02:00 is `Session(4, 1080, 120)`); `closes == 1440` is "until midnight" (24:00).
The engine that answers "open now?" lives in `opening_hours`; this module only describes and checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_CODES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")

_HHMM = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])(?::00)?$")  # ASCII digits only: int() reads others too


class ScheduleError(ValueError):
    """A schedule value that cannot be right; the message names the value."""


class BankHolidayPolicy(StrEnum):
    # Open as on any other day of that weekday.
    as_usual = "as_usual"
    closed = "closed"
    # Open only during `bank_holiday_hours` on a bank holiday.
    special = "special"


def parse_hhmm(value: str, *, is_close: bool = False) -> int:
    """'18:30' -> 1110. '24:00' is accepted only as a closing time."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ScheduleError(f"time {value!r} is not HH:MM (00:00 to 24:00)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    total = hours * 60 + minutes
    if total > MINUTES_PER_DAY:
        raise ScheduleError(f"time {value!r} is after 24:00")
    if total == MINUTES_PER_DAY and not is_close:
        raise ScheduleError(f"time {value!r}: 24:00 can only end a session; start it at 00:00")
    return total


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class TimeRange:
    opens: int
    closes: int

    def __post_init__(self) -> None:
        if not 0 <= self.opens < MINUTES_PER_DAY:
            raise ScheduleError(f"opening time {self.opens} is not within a day (0 to 1439 minutes)")
        if not 0 <= self.closes <= MINUTES_PER_DAY:
            raise ScheduleError(f"closing time {self.closes} is not within a day (0 to 1440 minutes)")
        if self.opens == self.closes or (self.opens == 0 and self.closes == 0):
            raise ScheduleError(
                f"session {format_hhmm(self.opens)}-{format_hhmm(self.closes)} has no length; "
                "write a whole day as 00:00-24:00"
            )

    @property
    def crosses_midnight(self) -> bool:
        return self.closes < self.opens

    @property
    def length(self) -> int:
        """Wall-clock minutes (a clock change makes the real duration differ by an hour)."""
        return self.closes - self.opens if not self.crosses_midnight else MINUTES_PER_DAY - self.opens + self.closes

    def label(self) -> str:
        return f"{format_hhmm(self.opens)}-{format_hhmm(self.closes)}"


@dataclass(frozen=True, slots=True)
class Session:
    """A weekly session that starts on `day` (0 = Monday) and may run past midnight."""

    day: int
    hours: TimeRange

    def __post_init__(self) -> None:
        if not 0 <= self.day <= 6:
            raise ScheduleError(f"day {self.day} is not a weekday number (0 = Monday to 6 = Sunday)")

    def week_interval(self) -> tuple[int, int]:
        """[start, end) in minutes after Monday 00:00; `end` may pass the end of the week."""
        start = self.day * MINUTES_PER_DAY + self.hours.opens
        return start, start + self.hours.length


@dataclass(frozen=True, slots=True)
class DatedException:
    """Dates (inclusive) on which the weekly pattern does not apply.

    `closed=True`: shut all day (closures for Christmas, refurbishment). Otherwise `hours` replace the
    pattern on each of those dates (special openings).
    """

    start: date
    end: date
    closed: bool = True
    hours: tuple[TimeRange, ...] = ()
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ScheduleError(f"exception ends {self.end.isoformat()} before it starts {self.start.isoformat()}")
        if not self.closed and not self.hours:
            raise ScheduleError(
                f"exception {self.start.isoformat()}..{self.end.isoformat()} is a special opening with no hours"
            )
        if self.closed and self.hours:
            raise ScheduleError(f"exception {self.start.isoformat()}..{self.end.isoformat()} is closed but has hours")

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    sessions: tuple[Session, ...] = ()
    always_open: bool = False
    bank_holidays: BankHolidayPolicy = BankHolidayPolicy.as_usual
    bank_holiday_hours: tuple[TimeRange, ...] = ()
    exceptions: tuple[DatedException, ...] = ()
    valid_from: date | None = None
    valid_to: date | None = None
    notes: str = field(default="", compare=False)

    def problems(self) -> list[str]:
        """Everything wrong with this schedule, each naming the value; empty when it is sound."""
        found: list[str] = []
        if self.always_open and self.sessions:
            found.append("a 24/7 schedule must not also list weekly sessions")
        if self.always_open and self.bank_holidays is not BankHolidayPolicy.as_usual:
            # A 24/7 schedule is open on bank holidays too (day_plan reads it so): a record saying both would be
            # shown open on the days it says it is closed.
            found.append(
                f"a 24/7 schedule is open on bank holidays too, but bank_holidays is {self.bank_holidays.value!r}: "
                "for every day but bank holidays, give sessions Mo-Su 00:00-24:00 instead"
            )
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            found.append(f"valid_to {self.valid_to.isoformat()} is before valid_from {self.valid_from.isoformat()}")
        if self.bank_holidays is BankHolidayPolicy.special and not self.bank_holiday_hours:
            found.append("bank_holidays is 'special' but no bank_holiday_hours are given")
        if self.bank_holidays is not BankHolidayPolicy.special and self.bank_holiday_hours:
            found.append(f"bank_holiday_hours are given but bank_holidays is {self.bank_holidays.value!r}")
        found.extend(_overlaps(self.sessions))
        found.extend(_day_overlaps("bank_holiday_hours", self.bank_holiday_hours))
        for exception in self.exceptions:
            found.extend(_day_overlaps(f"exception from {exception.start.isoformat()}", exception.hours))
        return found

    def gives_hours(self, today: date) -> bool:
        """True when these hours say the service opens on some day from `today` on. False for notes alone ("Ring to
        check times"), hours that have ended (valid_to, or a special opening, in the past) or nothing at all: such
        hours are not known, which is not known to be closed (hazard log H02)."""
        if self.valid_to is not None and self.valid_to < today:
            return False
        if (
            self.always_open
            or self.sessions
            or (self.bank_holidays is BankHolidayPolicy.special and self.bank_holiday_hours)
        ):
            return True
        first = max(today, self.valid_from) if self.valid_from else today
        last = self.valid_to or date.max
        return any(not e.closed and e.end >= first and e.start <= last for e in self.exceptions)


def gives_hours(schedules: Sequence[WeeklySchedule], today: date) -> bool:
    """Whether any of a service's schedules says when it is open from `today` on; when none does, show its hours as
    not known, never as closed or open."""
    return any(schedule.gives_hours(today) for schedule in schedules)


def _overlaps(sessions: tuple[Session, ...]) -> list[str]:
    # Compare on the weekly circle: a Sunday 22:00-02:00 session overlaps a Monday 01:00 start. Sorted by the
    # interval alone: 18:00-24:00 and 18:00-00:00 are one interval, and sessions have no order to fall back on.
    intervals = sorted(((*s.week_interval(), s) for s in sessions), key=lambda found: found[:2])
    found: list[str] = []
    for i, (start_a, end_a, a) in enumerate(intervals):
        for start_b, end_b, b in intervals[i + 1 :]:
            if start_b < end_a or end_b - MINUTES_PER_WEEK > start_a:
                found.append(
                    f"sessions {DAY_CODES[a.day]} {a.hours.label()} and {DAY_CODES[b.day]} {b.hours.label()} overlap"
                )
    return found


def _day_overlaps(what: str, ranges: tuple[TimeRange, ...]) -> list[str]:
    # Hours of one day (a bank holiday, a dated exception): no weekday to name, and a session past midnight runs on
    # into the next morning.
    spans = sorted(((r.opens, r.opens + r.length, r) for r in ranges), key=lambda found: found[:2])
    return [
        f"{what}: hours {a.label()} and {b.label()} overlap"
        for i, (_, end_a, a) in enumerate(spans)
        for start_b, _, b in spans[i + 1 :]
        if start_b < end_a
    ]


def next_day_overlaps(schedule: WeeklySchedule) -> list[str]:
    """Hours that run past midnight into the same hours' next day: on back-to-back bank holidays (Christmas Day and
    Boxing Day) or on consecutive days of one dated exception. Not refused, as `problems` refuses overlaps within a
    day: stored records with them would turn unreadable, and the open state is the union of the sessions either way,
    so nothing is shown wrongly open or closed. A data-quality finding for a directory manager instead."""
    found = []
    if schedule.bank_holidays is BankHolidayPolicy.special:
        found += _spills("bank_holiday_hours", "the next bank holiday's", schedule.bank_holiday_hours)
    for exception in schedule.exceptions:
        if exception.end > exception.start:
            found += _spills(f"exception from {exception.start.isoformat()}", "the next day's", exception.hours)
    return found


def _spills(what: str, next_day: str, ranges: tuple[TimeRange, ...]) -> list[str]:
    return [
        f"{what}: hours {a.label()} run into {next_day} {b.label()}"
        for a in ranges
        if a.crosses_midnight
        for b in ranges
        if b.opens < a.closes
    ]


ALWAYS_OPEN = WeeklySchedule(always_open=True)
