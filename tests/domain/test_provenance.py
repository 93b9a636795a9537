from __future__ import annotations

from datetime import UTC, date, datetime

from service_finder.domain.provenance import is_stale, review_due

TODAY = date(2026, 11, 24)


def test_a_review_date_centuries_after_the_check_does_not_keep_it_verified() -> None:
    # Stored before the write-time limit: a check from 1901 "due" in 2199 was fresh in every answer.
    assert is_stale(datetime(1901, 1, 1, tzinfo=UTC), date(2199, 12, 31), TODAY) is True
    assert review_due(datetime(1901, 1, 1, tzinfo=UTC), date(2199, 12, 31)) == date(1903, 1, 2)


def test_a_check_counts_until_its_own_review_date_when_that_is_sooner() -> None:
    checked = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    assert is_stale(checked, date(2027, 4, 1), TODAY) is False
    assert is_stale(checked, date(2026, 11, 23), TODAY) is True
    # Two years (731 days) at the most: fresh on the last day, stale the day after.
    assert is_stale(checked, date(2199, 1, 1), date(2028, 10, 1)) is False
    assert is_stale(checked, date(2199, 1, 1), date(2028, 10, 2)) is True


def test_without_a_review_date_a_check_counts_a_year_and_never_checked_is_stale() -> None:
    checked = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    assert review_due(checked, None) == date(2027, 10, 1)
    assert is_stale(None, date(2199, 1, 1), TODAY) is True
