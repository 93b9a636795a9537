"""Hazard "text and data disagree": each sentence a result carries says what its structured fields say, around the
clock changes too. Each case here was once wrong."""

from __future__ import annotations

from datetime import datetime

from service_finder.domain.opening_hours import HOURS_NOT_RECORDED
from tests.factories import make_record
from tests.search.conftest import LEEDS, LONDON, index_of, located, result, run, sessions

HERE = located("cafe", 53.8, -1.55)


def cafe(service_id: str, *spans: tuple[str, str, str]) -> object:
    return make_record(
        service_id,
        name=service_id,
        locations=located(service_id, 53.8, -1.55),
        schedules=sessions(service_id, *spans),
        eligibility={"minimum_age": None},
    )


def test_a_wall_time_the_clocks_skip_is_one_instant_for_every_part_of_the_answer() -> None:
    # 01:30 on 29 March 2026 never happens in London (01:00 GMT -> 02:00 BST); it is read as 02:30 BST.
    late = cafe("late-cafe", ("saturday", "22:00", "02:00"))
    early = cafe("early-hours", ("sunday", "02:00", "05:00"))
    index = index_of([late, early])  # type: ignore[list-item]
    response = run(index, at=datetime(2026, 3, 29, 1, 30), open="now", explain=True)
    assert [r.service.id for r in response.results] == ["early-hours"]
    assert result(response, "early-hours").open_now is True
    assert response.query.at == datetime(2026, 3, 29, 2, 30, tzinfo=LONDON)
    assert "late-cafe" in {e.id for e in response.excluded or []}


def test_opening_tomorrow_names_the_day_even_when_the_clocks_go_forward_tonight() -> None:
    index = index_of([cafe("sunday-cafe", ("sunday", "10:00", "16:00"))])  # type: ignore[list-item]
    # Saturday 28 March 09:30: Sunday 10:00 is 23.5 hours away, and "opens at 10:00" would read as in 30 minutes.
    reasons = result(run(index, at=datetime(2026, 3, 28, 9, 30, tzinfo=LONDON), open="any"), "sunday-cafe")
    assert reasons.match_reasons[0] == "opens at 10:00 on Sun 29 Mar"
    same_day = result(run(index, at=datetime(2026, 3, 29, 9, 30, tzinfo=LONDON), open="any"), "sunday-cafe")
    assert same_day.match_reasons[0] == "opens at 10:00"


def test_open_until_names_the_day_when_it_closes_more_than_a_day_away() -> None:
    weekend = cafe("weekend", *((day, "00:00", "24:00") for day in ("friday", "saturday", "sunday")))
    index = index_of([weekend])  # type: ignore[list-item]
    friday = result(run(index, at=datetime(2026, 10, 9, 20, 0, tzinfo=LONDON)), "weekend")
    assert friday.closes_at == datetime(2026, 10, 12, 0, 0, tzinfo=LONDON)
    assert friday.match_reasons[0] == "open now until 00:00 on Mon 12 Oct"
    sunday = result(run(index, at=datetime(2026, 10, 11, 20, 0, tzinfo=LONDON)), "weekend")
    assert sunday.match_reasons[0] == "open now until 00:00"


def test_a_service_with_no_hours_recorded_is_not_said_to_be_closed_today() -> None:
    unknown = make_record("no-hours", locations=located("no-hours", 53.8, -1.55), schedules=[])
    found = result(run(index_of([unknown]), open="any"), "no-hours")
    assert found.open_now is False
    assert found.hours_today == HOURS_NOT_RECORDED


def test_a_service_left_out_for_distance_is_never_shown_at_the_radius() -> None:
    # About 10.003 km north of the person: 10.0 when rounded, beside "further than 10 km".
    far = make_record("far-cafe", locations=located("far-cafe", LEEDS.latitude + 0.08996, LEEDS.longitude))
    response = run(index_of([far]), open="any", radius_km=10, explain=True)
    left_out = {e.id: e for e in response.excluded or []}["far-cafe"]
    assert left_out.reasons == ["further than 10 km"]
    assert left_out.distance_km is not None
    assert left_out.distance_km > 10


def test_a_place_shown_as_2_km_away_is_a_walk_as_the_rule_says() -> None:
    # About 2.003 km north: shown as 2.0 km, and "walking up to 2 km" must judge that same 2.0.
    near = make_record("near-cafe", locations=located("near-cafe", LEEDS.latitude + 0.018014, LEEDS.longitude))
    found = result(run(index_of([near]), open="any"), "near-cafe")
    assert found.distance_km == 2.0
    assert found.travel is not None
    assert (found.travel.mode, found.travel.minutes) == ("walking", 27)


def test_ages_not_recorded_are_not_called_any_age_and_from_birth_limits_no_one() -> None:
    unrecorded = make_record("no-ages", locations=located("no-ages", 53.8, -1.55), eligibility={"minimum_age": None})
    from_birth = make_record("from-birth", locations=located("from-birth", 53.8, -1.55), eligibility={"minimum_age": 0})
    response = run(index_of([unrecorded, from_birth]), open="any")  # no age given
    reasons = {r.service.id: {c.criterion: c.reason for c in r.eligibility.criteria} for r in response.results}
    assert reasons["no-ages"]["age"] == "no age limit recorded"
    assert reasons["from-birth"]["age"] == "accepts people of any age"
    assert result(response, "from-birth").eligibility.verdict.value == "eligible"
