"""What a snapshot remembers between searches: open states per minute (never across two different real minutes),
and eligibility words (never one person's details in another's answer)."""

from __future__ import annotations

from datetime import UTC, datetime

from service_finder.domain.opening_hours import open_state
from service_finder.schemas import SearchRequest, SearchResult
from service_finder.search.engine import FAIL, PASS, _eligibility
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


def _age_reason(result: SearchResult) -> str:
    return next(c.reason for c in result.eligibility.criteria if c.criterion == "age")


def test_remembered_eligibility_words_never_carry_one_persons_details_into_anothers_answer() -> None:
    # One index, so the eligibility memo is shared by every search below; the café takes people aged 18 and over.
    index = index_of([make_record("adult-cafe")])
    for _ in range(2):
        [adult] = run(index, age=30).results
        assert (adult.eligibility.verdict.value, _age_reason(adult)) == ("eligible", "accepts people aged 18 and over")
        [unknown] = run(index).results
        assert (unknown.eligibility.verdict.value, _age_reason(unknown)) == (
            "check",
            "only for people aged 18 and over; age not given",
        )
        assert run(index, age=15).results == []  # ineligible: left out, never shown as a result


def test_a_failed_age_is_worded_with_each_persons_own_age() -> None:
    # Results are never ineligible, but the memo must not rely on it: a failed age names the age given.
    index = index_of([make_record("adult-cafe")])
    failed = {"age": FAIL, "gender": PASS, "catchment": PASS, "referral": PASS}

    def district_name(code: str) -> str | None:  # one function for every call: it is part of the memo's key
        return None

    for age in (12, 15, 12):
        request = SearchRequest(age=age)
        words = _eligibility(index, 0, failed, 0, request, LEEDS, district_name)
        assert words.verdict.value == "ineligible"
        assert words.criteria[0].reason == f"only for people aged 18 and over (age given: {age})"


def test_a_caller_changing_its_answer_does_not_change_the_next_answer() -> None:
    # Eligibility is remembered whole between searches; a web page or integration that trims its own copy of the
    # criteria must not leave the next person a verdict with no criteria behind it.
    index = index_of([make_record("adult-cafe"), make_record("other-cafe")])
    first = run(index, age=30)
    for result in first.results:
        result.eligibility.criteria.clear()
    again = run(index, age=30)
    assert [len(r.eligibility.criteria) for r in again.results] == [4, 4]
