"""Bank-holiday behaviour no other test pinned (found by hand mutation testing of domain/bank_holidays.py)."""

from __future__ import annotations

from datetime import date

import pytest

from service_finder.domain.bank_holidays import bank_holiday_name, bank_holidays_between, bank_holidays_in

# Written out by hand from GOV.UK's England and Wales list, https://www.gov.uk/bank-holidays: the years where Christmas
# Day (2022) and New Year's Day (2023) fall on a Sunday, and the one-off holidays of those years.
GOV_UK = {
    2022: ["01-03", "04-15", "04-18", "05-02", "06-02", "06-03", "08-29", "09-19", "12-26", "12-27"],
    2023: ["01-02", "04-07", "04-10", "05-01", "05-08", "05-29", "08-28", "12-25", "12-26"],
}


@pytest.mark.parametrize("year", sorted(GOV_UK))
def test_sunday_holidays_and_one_off_holidays_match_gov_uk(year: int) -> None:
    # Christmas on Sunday 25 December 2022: Boxing Day is Monday 26 and the substitute for Christmas is Tuesday 27.
    expected = {date.fromisoformat(f"{year}-{md}") for md in GOV_UK[year]}
    assert bank_holidays_in(year) == expected


def test_the_one_off_holidays_are_named() -> None:
    # A service "closed on bank holidays" shows why it is closed; a one-off holiday must not read as a plain weekday.
    for day in (date(2022, 6, 3), date(2022, 9, 19), date(2023, 5, 8)):
        assert bank_holiday_name(day), day


def test_between_includes_both_ends() -> None:
    # Good Friday 3 April to Easter Monday 6 April 2026: a range that starts and ends on a bank holiday keeps both.
    assert bank_holidays_between(date(2026, 4, 3), date(2026, 4, 6)) == [date(2026, 4, 3), date(2026, 4, 6)]
    assert bank_holidays_between(date(2026, 12, 28), date(2026, 12, 28)) == [date(2026, 12, 28)]
    # Boxing Day 2026 is a Saturday: a range of just that day holds no bank holiday.
    assert bank_holidays_between(date(2026, 12, 26), date(2026, 12, 26)) == []
