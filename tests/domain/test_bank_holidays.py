from __future__ import annotations

from datetime import date, timedelta

import pytest

from service_finder.domain.bank_holidays import (
    bank_holiday_name,
    bank_holidays_between,
    bank_holidays_in,
    is_bank_holiday,
)

# Written out by hand from GOV.UK's England and Wales list, https://www.gov.uk/bank-holidays
GOV_UK = {
    2025: ["01-01", "04-18", "04-21", "05-05", "05-26", "08-25", "12-25", "12-26"],
    2026: ["01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"],
    2027: ["01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"],
    2028: ["01-03", "04-14", "04-17", "05-01", "05-29", "08-28", "12-25", "12-26"],
}


@pytest.mark.parametrize("year", sorted(GOV_UK))
def test_every_gov_uk_bank_holiday_and_nothing_else(year: int) -> None:
    expected = {date.fromisoformat(f"{year}-{md}") for md in GOV_UK[year]}
    assert bank_holidays_in(year) == expected


@pytest.mark.parametrize("day", [date(2026, 4, 6), date(2026, 8, 31), date(2026, 12, 28), date(2027, 12, 27)])
def test_named_bank_holidays(day: date) -> None:
    assert is_bank_holiday(day)
    assert bank_holiday_name(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 2),  # a Scottish bank holiday, not an English one
        date(2026, 3, 17),  # St Patrick's Day: Northern Ireland only
        date(2026, 7, 13),  # Battle of the Boyne (observed): Northern Ireland only
        date(2026, 12, 26),  # Boxing Day on a Saturday: GOV.UK lists the substitute Monday instead
        date(2027, 12, 25),  # Christmas on a Saturday
        date(2027, 12, 26),
        date(2028, 1, 1),  # New Year's Day on a Saturday: the bank holiday is Monday 3 January
        date(2026, 4, 5),  # Easter Sunday
    ],
)
def test_non_holidays(day: date) -> None:
    assert not is_bank_holiday(day)
    assert bank_holiday_name(day) is None


def test_between_spans_years_in_order() -> None:
    found = bank_holidays_between(date(2026, 12, 20), date(2027, 1, 5))
    assert found == [date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)]


def test_no_bank_holiday_falls_at_a_weekend() -> None:
    day = date(2020, 1, 1)
    while day.year < 2035:
        if is_bank_holiday(day):
            assert day.weekday() < 5, day
        day += timedelta(days=1)
