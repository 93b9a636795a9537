"""When a record stops counting as verified."""

from __future__ import annotations

from datetime import date, datetime, timedelta

# A record with no review date is due a year after a person last checked it.
DEFAULT_REVIEW_INTERVAL = timedelta(days=365)
# The longest a check counts, whatever review date the record gives: twice the default interval (731 days, so
# two years from any day, leap day or not, fit). A publisher's own date may be sooner, never later: a review date
# of 2199 on a check from 1901 kept the record "verified" in every answer. The national lines are reviewed
# within 15 months and the demonstration data yearly, so none of them reaches it.
MAX_REVIEW_INTERVAL = timedelta(days=731)


def latest_review_due(verified_at: datetime) -> date:
    """The last day a check at `verified_at` can count for (its date as given: records hold UTC)."""
    try:
        return (verified_at + MAX_REVIEW_INTERVAL).date()
    except OverflowError:  # a check dated at the end of the calendar is nonsense: never treat it as verified
        return date.min


def review_due(verified_at: datetime | None, verify_due: date | None) -> date | None:
    if verified_at is None:
        return verify_due
    # A review date further off than the longest interval counts only as far as it: records stored before that
    # limit was checked on write are then stale in time too.
    if verify_due is not None:
        return min(verify_due, latest_review_due(verified_at))
    try:
        return (verified_at + DEFAULT_REVIEW_INTERVAL).date()
    except OverflowError:  # a check dated at the end of the calendar is nonsense: never treat it as verified
        return date.min


def is_stale(verified_at: datetime | None, verify_due: date | None, today: date) -> bool:
    """Never verified, or past its review date (or the longest a check counts): never presented as verified."""
    due = review_due(verified_at, verify_due)
    return verified_at is None or due is None or due < today
