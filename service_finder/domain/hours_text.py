"""Plain-English opening hours, generated from the structured schedule so the words and the data cannot disagree.

"Fridays 6pm to 2am", "Mondays to Fridays 9am to 5pm", "Open 24 hours", "Closed on bank holidays".
Times read as people say them: 9am, 5:30pm, noon, midnight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from service_finder.domain.schedule import (
    DAY_NAMES,
    MINUTES_PER_DAY,
    BankHolidayPolicy,
    TimeRange,
    WeeklySchedule,
)

_NOON = 720
WHOLE_DAY = TimeRange(0, MINUTES_PER_DAY)
# Words after a range's opening and closing times (" (BST)", " (GMT)"), for ranges that need them.
Zones = Mapping[TimeRange, tuple[str, str]]
_NO_ZONES: Zones = {}


def time_words(minute: int) -> str:
    """540 -> '9am', 1110 -> '6:30pm', 720 -> 'noon', 0 or 1440 -> 'midnight'."""
    minute %= MINUTES_PER_DAY
    if minute == 0:
        return "midnight"
    if minute == _NOON:
        return "noon"
    hours, minutes = divmod(minute, 60)
    suffix = "am" if hours < 12 else "pm"
    clock = hours % 12 or 12
    return f"{clock}{suffix}" if minutes == 0 else f"{clock}:{minutes:02d}{suffix}"


def range_words(hours: TimeRange, zones: tuple[str, str] = ("", "")) -> str:
    if hours == WHOLE_DAY:
        return "open 24 hours"
    return f"{time_words(hours.opens)}{zones[0]} to {time_words(hours.closes)}{zones[1]}"


def ranges_words(ranges: Sequence[TimeRange], zones: Zones = _NO_ZONES) -> str:
    """'9am to 1pm and 2pm to 5pm'; ranges are written in order of opening."""
    parts = [range_words(r, zones.get(r, ("", ""))) for r in sorted(ranges, key=lambda r: r.opens)]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def date_words(day: date) -> str:
    return f"{day.day} {day.strftime('%B')} {day.year}"


def hours_today(
    ranges: Sequence[TimeRange], *, always_open: bool = False, reason: str = "", zones: Zones = _NO_ZONES
) -> str:
    """What today looks like: 'Open today 9am to 5pm', 'Open 24 hours', 'Closed today (Good Friday)'.

    `ranges` are the sessions that start today; one that began yesterday evening is not today's. `zones` says which
    of a repeated hour's times a range means ('12:30am to 1:30am (BST)').
    """
    # A 24-hour session covers any other that ends today; one that runs past midnight still has to be said.
    if always_open or (WHOLE_DAY in ranges and all(r == WHOLE_DAY or r.opens < r.closes for r in ranges)):
        text = "Open 24 hours today"
    elif not ranges:
        text = "Closed today"
    else:
        text = f"Open today {ranges_words(ranges, zones)}"
    return f"{text} ({reason})" if reason else text


def _day_list(days: Sequence[int]) -> str:
    """Days as a phrase: [0..4] -> 'Mondays to Fridays', [1, 3] -> 'Tuesdays and Thursdays'."""
    if len(days) == 7:
        return "Every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = [
        f"{DAY_NAMES[run[0]]}s to {DAY_NAMES[run[-1]]}s"
        if len(run) >= 3
        else " and ".join(f"{DAY_NAMES[d]}s" for d in run)
        for run in runs
    ]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def group_days(schedule: WeeklySchedule) -> list[tuple[list[int], tuple[TimeRange, ...]]]:
    """Days sharing identical sessions, in weekday order of their first day; days with no sessions are left out."""
    by_day: dict[int, tuple[TimeRange, ...]] = {}
    for day in range(7):
        ranges = tuple(sorted((s.hours for s in schedule.sessions if s.day == day), key=lambda r: r.opens))
        if ranges:
            by_day[day] = ranges
    groups: dict[tuple[TimeRange, ...], list[int]] = {}
    for day, ranges in by_day.items():
        groups.setdefault(ranges, []).append(day)
    return sorted(((days, ranges) for ranges, days in groups.items()), key=lambda group: group[0][0])


def describe_week(schedule: WeeklySchedule) -> list[str]:
    """One line per group of days, then bank holidays, dated exceptions and the validity window."""
    lines: list[str] = []
    if schedule.always_open:
        lines.append("Open 24 hours, every day")
    else:
        groups = group_days(schedule)
        if not groups:
            lines.append("No regular opening hours")
        for days, ranges in groups:
            words = ranges_words(ranges)
            lines.append(f"{_day_list(days)}: {words}" if ranges == (WHOLE_DAY,) else f"{_day_list(days)} {words}")
        if schedule.bank_holidays is BankHolidayPolicy.closed:
            lines.append("Closed on bank holidays")
        elif schedule.bank_holidays is BankHolidayPolicy.special:
            lines.append(f"Bank holidays {ranges_words(schedule.bank_holiday_hours)}")
    for exception in sorted(schedule.exceptions, key=lambda e: e.start):
        when = (
            date_words(exception.start)
            if exception.start == exception.end
            else f"{date_words(exception.start)} to {date_words(exception.end)}"
        )
        because = f" ({exception.reason})" if exception.reason else ""
        if exception.closed:
            lines.append(f"Closed {when}{because}")
        else:
            lines.append(f"Open {ranges_words(exception.hours)} on {when}{because}")
    if schedule.valid_from and schedule.valid_to:
        lines.append(f"These hours apply from {date_words(schedule.valid_from)} to {date_words(schedule.valid_to)}")
    elif schedule.valid_from:
        lines.append(f"These hours apply from {date_words(schedule.valid_from)}")
    elif schedule.valid_to:
        lines.append(f"These hours apply until {date_words(schedule.valid_to)}")
    return lines
