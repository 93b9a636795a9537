"""When a record stops counting as verified."""

from __future__ import annotations

from datetime import date, datetime, timedelta

# A record with no review date is due a year after a person last checked it.
DEFAULT_REVIEW_INTERVAL = timedelta(days=365)


def review_due(verified_at: datetime | None, verify_due: date | None) -> date | None:
    if verify_due is not None:
        return verify_due
    if verified_at is not None:
        try:
            return (verified_at + DEFAULT_REVIEW_INTERVAL).date()
        except OverflowError:  # a check dated at the end of the calendar is nonsense: never treat it as verified
            return date.min
    return None


def is_stale(verified_at: datetime | None, verify_due: date | None, today: date) -> bool:
    """Never verified, or past its review date: never presented as verified."""
    due = review_due(verified_at, verify_due)
    return verified_at is None or due is None or due < today
