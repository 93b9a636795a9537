"""Coverage over a ring of postcodes whose answer is known by hand: the factory café at the centre opens Fridays
18:00-02:00, closed on bank holidays, for adults in Leeds; postcodes lie 2, 5, 8, 12 and 20 km north (Leeds) and
south (Wakefield); the reach is 10 km, so 2, 5 and 8 km are in reach and 12 and 20 km are not."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from service_finder.coverage.analysis import (
    GRIDS_KEPT,
    CoverageQuery,
    Profile,
    Reach,
    TravelMode,
    WindowError,
    compute,
    distinct_instants,
    points_in_geojson,
    window_instants,
)
from service_finder.coverage.report import to_report
from service_finder.domain.taxonomy import Need, ServiceKind
from service_finder.schemas import ServiceRecord
from service_finder.search.index import haversine_km
from tests.coverage.conftest import (
    CENTRE,
    FRIDAY,
    GOOD_FRIDAY,
    LONDON,
    RING_KM,
    centre_location,
    index_of,
    ring_population,
)
from tests.factories import make_record

QUERY = CoverageQuery(reach=Reach.straight_line(10.0))
IN_REACH = [km <= 10 for km in RING_KM]
NOBODY = [False] * len(RING_KM)


def cafe(service_id: str = "cafe", **overrides: Any) -> ServiceRecord:
    return make_record(service_id, locations=centre_location(service_id), **overrides)


def covered_at(records: list[ServiceRecord], at: datetime, query: CoverageQuery = QUERY) -> tuple[list[bool], ...]:
    """(north ring, south ring) covered flags at one instant."""
    result = compute(index_of(records), ring_population(), query, [at])
    hours = result.hours_covered.astype(bool).tolist()
    return hours[: len(RING_KM)], hours[len(RING_KM) :]


def test_the_ring_is_at_the_distances_it_claims() -> None:
    population = ring_population()
    distances = haversine_km(CENTRE[0], CENTRE[1], population.latitude, population.longitude)
    np.testing.assert_allclose(distances, [*RING_KM, *RING_KM], rtol=1e-3)


def test_an_open_service_covers_the_postcodes_in_reach_of_its_own_district_only() -> None:
    north, south = covered_at([cafe()], FRIDAY)
    assert north == IN_REACH
    assert south == NOBODY  # Wakefield is in reach but outside the café's catchment


def test_an_england_wide_catchment_covers_both_districts() -> None:
    north, south = covered_at([cafe(eligibility={"catchment": {"type": "england"}})], FRIDAY)
    assert north == south == IN_REACH


def test_an_unknown_catchment_counts_unless_strict() -> None:
    record = cafe(eligibility={"catchment": None})
    assert covered_at([record], FRIDAY)[1] == IN_REACH
    strict = CoverageQuery(profile=Profile(age=30, strict=True), reach=QUERY.reach)
    assert covered_at([record], FRIDAY, strict)[1] == NOBODY


def test_a_closed_service_covers_nobody() -> None:
    monday_noon = datetime(2026, 10, 12, 12, 0, tzinfo=LONDON)
    assert covered_at([cafe()], monday_noon) == (NOBODY, NOBODY)


def test_an_overnight_session_covers_until_it_closes_on_the_next_day() -> None:
    assert covered_at([cafe()], FRIDAY.replace(day=10, hour=1, minute=59))[0] == IN_REACH
    assert covered_at([cafe()], FRIDAY.replace(day=10, hour=2, minute=0))[0] == NOBODY


def test_a_service_closed_on_bank_holidays_covers_nobody_on_good_friday() -> None:
    assert covered_at([cafe()], GOOD_FRIDAY)[0] == NOBODY
    as_usual = cafe(
        schedules=[
            {
                "id": "cafe-hours",
                "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}],
                "bank_holidays": "as_usual",
            }
        ]
    )
    assert covered_at([as_usual], GOOD_FRIDAY)[0] == IN_REACH


@pytest.mark.parametrize(
    ("profile", "why"),
    [
        (Profile(age=16), "an adults-only service"),
        (Profile(age=30, intoxicated=True), "a service that turns away people who have been drinking"),
        (Profile(age=30, referral=Profile().referral, needs=(Need.eating_disorder,)), "a need it does not list"),
    ],
)
def test_a_person_the_service_would_turn_away_is_not_covered(profile: Profile, why: str) -> None:
    query = CoverageQuery(profile=profile, reach=QUERY.reach)
    assert covered_at([cafe()], FRIDAY, query)[0] == NOBODY, why


def test_help_with_alcohol_is_not_covered_by_a_service_that_turns_away_people_who_drink_or_use_drugs() -> None:
    # As search reads it: asking for help with alcohol is using it, so a café that turns users away is no option.
    refuses = cafe(needs=["alcohol"], eligibility={"accepts_substance_use": False})
    query = CoverageQuery(profile=Profile(age=30, needs=(Need.alcohol,)), reach=QUERY.reach)
    assert covered_at([refuses], FRIDAY, query)[0] == NOBODY
    accepts = cafe(needs=["alcohol"], eligibility={"accepts_substance_use": True})
    assert covered_at([accepts], FRIDAY, query)[0] == IN_REACH


def test_only_the_kinds_asked_for_count() -> None:
    query = CoverageQuery(kinds=(ServiceKind.crisis_house,), reach=QUERY.reach)
    assert covered_at([cafe()], FRIDAY, query)[0] == NOBODY


def test_reach_in_walking_minutes_uses_the_search_walking_speed() -> None:
    hour_walk = Reach.by_minutes(60, TravelMode.walking)  # 4.5 km
    assert covered_at([cafe()], FRIDAY, CoverageQuery(reach=hour_walk))[0] == [True] + [False] * 4
    with pytest.raises(ValueError, match="300"):
        Reach.by_minutes(300, TravelMode.walking)


def test_the_reach_label_states_the_distance_the_report_gives_as_reach_km() -> None:
    # A 2-minute walk is 0.15 km; the label said 0.1 km.
    walk = Reach.by_minutes(2, TravelMode.walking)
    assert walk.label == "about 2 min walking (estimated 0.15 km straight line)"
    ride = Reach.by_minutes(80, TravelMode.transport)
    assert ride.label == "about 80 min by public transport or car (estimated 26.667 km straight line)"
    assert Reach.straight_line(10).label == "10 km straight line"
    for reach in (walk, ride, Reach.straight_line(0.1234567)):
        report = to_report(compute(index_of([cafe()]), ring_population(), CoverageQuery(reach=reach), [FRIDAY]))
        assert f"{report.reach_km:g} km straight line" in report.reach


def test_a_remote_line_covers_its_whole_catchment_only_when_asked() -> None:
    line = make_record(
        "line",
        kind="crisis_line",
        locations=[],
        access={"contact_modes": ["phone"]},
        schedules=[{"id": "line-hours", "always_open": True}],
    )
    query = CoverageQuery(kinds=(ServiceKind.crisis_line,), reach=QUERY.reach)
    assert covered_at([line], FRIDAY, query) == (NOBODY, NOBODY)
    remote = CoverageQuery(kinds=(ServiceKind.crisis_line,), reach=QUERY.reach, include_remote=True)
    assert covered_at([line], FRIDAY, remote) == ([True] * 5, NOBODY)


def test_a_polygon_catchment_covers_the_postcodes_inside_it() -> None:
    # A box over the southern ring only, 1 to 30 km south of the centre.
    lat, lon = CENTRE
    box = [[lon - 0.1, lat - 0.3], [lon + 0.1, lat - 0.3], [lon + 0.1, lat - 0.01], [lon - 0.1, lat - 0.01]]
    record = cafe(eligibility={"catchment": {"type": "polygon", "geojson": {"type": "Polygon", "coordinates": [box]}}})
    assert covered_at([record], FRIDAY) == (NOBODY, IN_REACH)


def test_points_in_a_polygon_with_a_hole() -> None:
    outer = [[0, 0], [10, 0], [10, 10], [0, 10]]
    hole = [[4, 4], [6, 4], [6, 6], [4, 6]]
    inside = points_in_geojson(
        np.array([1.0, 5.0, 11.0]), np.array([1.0, 5.0, 5.0]), {"type": "Polygon", "coordinates": [outer, hole]}
    )
    assert inside.tolist() == [True, False, False]


def test_figures_by_instant_district_and_postcode() -> None:
    instants = window_instants("fri 17:00-21:00", date(2026, 10, 9))
    result = compute(index_of([cafe()]), ring_population(), QUERY, instants)
    assert [at.hour for at in result.instants] == [17, 18, 19, 20]
    assert result.covered.tolist() == [0, 3, 3, 3]
    assert result.open_services.tolist() == [0, 1, 1, 1]
    np.testing.assert_allclose(result.share(), [0, 0.3, 0.3, 0.3])
    # Columns: no district, Leeds, Wakefield.
    assert result.district_total.tolist() == [0, 5, 5]
    assert result.district_covered[:, 1].tolist() == [0, 3, 3, 3]
    assert result.district_covered[:, 2].tolist() == [0, 0, 0, 0]
    assert result.hours_covered.tolist() == [3, 3, 3, 0, 0] + [0] * 5
    assert result.demo is False


def test_a_week_is_168_hourly_instants_in_london_time() -> None:
    instants = window_instants("week", date(2026, 10, 7))
    assert len(instants) == 168
    assert instants[0] == datetime(2026, 10, 5, 0, 0, tzinfo=LONDON)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(instants))


def test_the_two_0130s_of_the_october_change_are_two_instants() -> None:
    # 00:30 and 01:30 UTC on 25 October 2026 are both 01:30 in London; sets of aware datetimes compare by wall time.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC).astimezone(LONDON)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).astimezone(LONDON)
    assert len({first, second}) == 1  # why distinct_instants exists
    assert distinct_instants([second, first, second]) == [first, second]
    assert [at.utcoffset() for at in distinct_instants([second, first])] == [timedelta(hours=1), timedelta(0)]


def test_a_night_window_runs_past_midnight() -> None:
    instants = window_instants("fri-sat 22:00-02:00", date(2026, 10, 9))
    assert [(at.strftime("%a"), at.hour) for at in instants] == [
        ("Fri", 22),
        ("Fri", 23),
        ("Sat", 0),
        ("Sat", 1),
        ("Sat", 22),
        ("Sat", 23),
        ("Sun", 0),
        ("Sun", 1),
    ]


@pytest.mark.parametrize(
    ("spec", "named"),
    [("someday 02:00", "someday"), ("sat 25:00", "25:00"), ("sat", "sat"), ("monkey 02:00", "monkey")],
)
def test_a_window_that_cannot_be_read_is_refused_by_name(spec: str, named: str) -> None:
    with pytest.raises(WindowError, match=named):
        window_instants(spec, date(2026, 10, 9))


def test_the_same_open_services_are_computed_once_but_counted_every_hour() -> None:
    # Every hour Monday to Thursday has the café closed: one distinct open set, counted 96 times.
    instants = window_instants("mon-thu 00:00-24:00", date(2026, 10, 9))
    result = compute(index_of([cafe()]), ring_population(), QUERY, instants)
    assert len(result.instants) == 96
    assert int(result.covered.sum()) == 0


def test_a_postcode_with_no_district_counts_a_district_catchment_as_the_search_does() -> None:
    # The search cannot rule a district catchment out where a postcode has no district ("check"): neither may
    # coverage, except in strict mode.
    population = ring_population()
    population = dataclasses.replace(population, district=np.full(len(population), -1, dtype=np.int16))
    result = compute(index_of([cafe()]), population, QUERY, [FRIDAY])
    assert result.hours_covered.astype(bool).tolist()[: len(RING_KM)] == IN_REACH
    strict = CoverageQuery(profile=Profile(age=30, strict=True), reach=QUERY.reach)
    assert not compute(index_of([cafe()]), population, strict, [FRIDAY]).hours_covered.any()


@pytest.mark.parametrize("modes", [["phone"], []])  # none recorded (other publishers' HSDS): a line all the same
def test_a_line_with_an_office_is_remote_not_a_place_to_walk_into(modes: list[str]) -> None:
    line = make_record(
        "line",
        kind="crisis_line",
        locations=centre_location("line"),
        access={"contact_modes": modes},
        schedules=[{"id": "line-hours", "always_open": True}],
    )
    query = CoverageQuery(kinds=(ServiceKind.crisis_line,), reach=QUERY.reach)
    assert covered_at([line], FRIDAY, query) == (NOBODY, NOBODY)
    remote = CoverageQuery(kinds=(ServiceKind.crisis_line,), reach=QUERY.reach, include_remote=True)
    assert covered_at([line], FRIDAY, remote) == ([True] * 5, NOBODY)  # its whole catchment, not 10 km of it
    # Nor is its office drawn on the map as a dot for a service counted.
    assert compute(index_of([line]), ring_population(), remote, [FRIDAY]).services_shown == ()


def test_a_line_with_an_office_and_no_catchment_is_not_a_place_to_walk_into_either() -> None:
    # Search offers such a line within the radius of its office (nothing else says where it serves): coverage
    # counts it there only with include_remote, as it counts every line; without, it was a door by the office.
    line = make_record(
        "line",
        kind="crisis_line",
        locations=centre_location("line"),
        access={"contact_modes": ["phone"]},
        eligibility={"catchment": None},
        schedules=[{"id": "line-hours", "always_open": True}],
    )
    query = CoverageQuery(kinds=(ServiceKind.crisis_line,), reach=QUERY.reach)
    assert covered_at([line], FRIDAY, query) == (NOBODY, NOBODY)
    remote = CoverageQuery(kinds=(ServiceKind.crisis_line,), reach=QUERY.reach, include_remote=True)
    assert covered_at([line], FRIDAY, remote)[0] == IN_REACH


def test_a_night_window_past_sunday_wraps_to_this_weeks_monday() -> None:
    instants = window_instants("sun 22:00-04:00", date(2026, 10, 5))
    assert [(at.strftime("%a %d"), at.hour) for at in instants] == [
        ("Mon 05", 0),
        ("Mon 05", 1),
        ("Mon 05", 2),
        ("Mon 05", 3),
        ("Sun 11", 22),
        ("Sun 11", 23),
    ]


def test_grids_for_many_reaches_are_not_all_kept() -> None:
    population = ring_population()
    for km in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        population.grid(km)
    assert len(population.memo["grids"]) == GRIDS_KEPT


def test_a_polygon_catchment_is_cast_only_where_it_could_hold_points_and_gives_the_same_answer() -> None:
    # A box over the southern ring, 1 to 30 km south: the bounding-box prefilter must not change who is inside.
    lat, lon = CENTRE
    box = [[lon - 0.1, lat - 0.3], [lon + 0.1, lat - 0.3], [lon + 0.1, lat - 0.01], [lon - 0.1, lat - 0.01]]
    geojson = {"type": "Polygon", "coordinates": [[*box, box[0]]]}
    population = ring_population()
    line = cafe(eligibility={"catchment": {"type": "polygon", "geojson": geojson}})
    result = compute(index_of([line]), population, QUERY, [FRIDAY])
    everywhere = points_in_geojson(population.longitude, population.latitude, geojson)
    in_reach = np.array([*IN_REACH, *IN_REACH])
    assert result.hours_covered.astype(bool).tolist() == (everywhere & in_reach).tolist()


def test_days_may_be_written_in_full_or_shortened() -> None:
    friday = date(2026, 10, 9)
    assert window_instants("monday-friday 09:00", friday) == window_instants("mon-fri 09:00", friday)
    assert window_instants("tues-thurs 09:00", friday) == window_instants("tue-thu 09:00", friday)


def test_a_window_over_octobers_repeated_hour_samples_both_of_its_01_00s() -> None:
    instants = window_instants("sun 00:00-03:00", date(2026, 10, 25))
    assert [(at.hour, at.utcoffset()) for at in instants] == [
        (0, timedelta(hours=1)),
        (1, timedelta(hours=1)),
        (1, timedelta(0)),
        (2, timedelta(0)),
    ]
    # March's skipped hour is one instant, not two: 01:00 does not exist and reads as 02:00 BST.
    march = window_instants("sun 00:00-03:00", date(2026, 3, 29))
    assert [(at.hour, at.utcoffset()) for at in march] == [(0, timedelta(0)), (2, timedelta(hours=1))]
