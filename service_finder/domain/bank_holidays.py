"""England bank holidays, as GOV.UK lists them for England and Wales.

Source: the `holidays` package (country GB, subdivision ENG), cached per year; nothing is fetched at run time.

Substitute days: when Christmas Day, Boxing Day or New Year's Day falls at a weekend, GOV.UK lists only the
substitute weekday (Boxing Day 2026 is a Saturday, so the bank holiday is Monday 28 December). The `holidays`
package lists the weekend date too. We follow GOV.UK: a weekend date is never a bank holiday here, so a service
"closed on bank holidays" keeps its usual Saturday and Sunday hours and closes on the substitute Monday or
Tuesday, which is the day its staff actually have off. Every bank holiday in England falls on a weekday or has a
weekday substitute, so dropping weekend dates loses nothing else.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

_SATURDAY = 5


@lru_cache(maxsize=64)
def _named(year: int) -> dict[date, str]:
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=year)
    return {day: str(name) for day, name in calendar.items() if day.year == year and day.weekday() < _SATURDAY}


def bank_holidays_in(year: int) -> frozenset[date]:
    """The dates GOV.UK lists as England-and-Wales bank holidays in `year`."""
    return frozenset(_named(year))


def is_bank_holiday(day: date) -> bool:
    return day in _named(day.year)


def bank_holiday_name(day: date) -> str | None:
    return _named(day.year).get(day)


def bank_holidays_between(start: date, end: date) -> list[date]:
    """Bank holidays from `start` to `end` inclusive, in order."""
    found = [day for year in range(start.year, end.year + 1) for day in bank_holidays_in(year)]
    return sorted(day for day in found if start <= day <= end)
