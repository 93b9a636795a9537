"""Open states are remembered per snapshot per minute: never across two different real minutes."""

from __future__ import annotations

from datetime import UTC, datetime

from service_finder.domain.opening_hours import open_state
from tests.factories import make_record
from tests.search.conftest import LEEDS, index_of, run

# Saturday night into Sunday 25 October 2026, when the clocks go back at 02:00 BST: wall time 01:00-02:00 happens
# twice. The café closes at 01:45 wall time, which is the first 01:45 (00:45 UTC).
CAFE = make_record(
    "late-cafe",
    schedules=[{"id": "late", "sessions": [{"day": "saturday", "opens_at": "20:00", "closes_at": "01:45"}]}],
)


def test_the_two_0130s_of_the_october_repeat_are_not_one_minute() -> None:
    index = index_of([CAFE])
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST: open, closes in 15 minutes
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 01:30 GMT, an hour later: closed
    for at in (first, second, first):  # the same index each time, so the memo is in play
        response = run(index, at=at, location=LEEDS, open="any")
        [result] = response.results
        truth = open_state([s.to_domain() for s in CAFE.schedules], at)
        assert result.open_now is truth.open_now
        assert result.closes_at == truth.closes_at
        assert result.opens_next_at == truth.opens_next_at
    assert run(index, at=first, location=LEEDS, open="any").results[0].open_now
    assert not run(index, at=second, location=LEEDS, open="any").results[0].open_now


def test_seconds_into_a_minute_give_the_exact_states() -> None:
    # A state worked out at 21:00:00 is reused at 21:00:59; the answer must be what the exact engine says then.
    index = index_of([CAFE])
    for second in (0, 1, 30, 59):
        at = datetime(2026, 10, 24, 20, 59, second, 999_999 if second == 59 else 0, tzinfo=UTC)
        [result] = run(index, at=at, location=LEEDS, open="any").results
        truth = open_state([s.to_domain() for s in CAFE.schedules], at)
        assert (result.open_now, result.closes_at, result.hours_today) == (
            truth.open_now,
            truth.closes_at,
            truth.hours_today,
        )
        assert any(f"until {truth.closes_at:%H:%M}" in reason for reason in result.match_reasons)
