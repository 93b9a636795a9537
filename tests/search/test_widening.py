"""Widening the search ring, and the score ceilings remembered per snapshot, never change an answer.

A search looks near the person first and widens its ring only when something further could still change the answer.
A widened ring measures only the sites it adds (DirectoryIndex.sites_within with `inner`), and the ceilings that
decide what to evaluate come partly from memos kept on the index (per kind of request, and per hour and day). These
tests check, on one index reused across many searches as the service reuses it, that:

- the sites a chain of widenings gathers are exactly the sites a search of the outer radius finds, at the same
  distances, however the radii fall against the grid rows and the box edges;
- every answer (results, scores, order, sites shown, exclusions) is the one a full evaluation on a fresh index
  gives, with services sharing sites at equal distances, district catchments, stale records and instants on both
  clock-change nights, `today` not the date of `at`;
- no result scores above the ceiling its site was given, whatever searches the index answered before.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from service_finder.domain.taxonomy import AccessFeature, ContactMode, Need, ServiceKind
from service_finder.schemas import PersonGender, PersonSex, Referral, ResolvedLocation, SearchRequest, ServiceRecord
from service_finder.search import engine
from service_finder.search import index as index_module
from service_finder.search.index import GRID_ROW_DEG, DirectoryIndex
from tests.factories import make_record
from tests.search.conftest import BUILT_AT, LEEDS_DISTRICT, WAKEFIELD_DISTRICT, located
from tests.search.test_invariants import (
    CENTRE,
    IDS,
    SERVICE_FIELDS,
    SETTINGS,
    WELSH_DISTRICT,
    _service,
    instants,
    requests,
)
from tests.search.test_pruning import slices

# Each example here is a few searches on one index: cheap enough to draw more of them than the suite's default.
MANY = settings(SETTINGS, max_examples=300)

# --- sites_within with an inner ring ------------------------------------------------------------------------------

SOUTH, NORTH, WEST, EAST = 49.85, 55.82, -6.45, 1.77  # schemas.ENGLAND_BOUNDS
# Centres anywhere in the box, a hair either side of a grid row's edge, and on the box's own edges.
CENTRE_LATITUDES = st.one_of(
    st.floats(SOUTH, NORTH),
    st.tuples(
        st.integers(int(SOUTH / GRID_ROW_DEG) + 1, int(NORTH / GRID_ROW_DEG)), st.sampled_from([-1e-9, 0.0, 1e-9])
    ).map(lambda pair: pair[0] * GRID_ROW_DEG + pair[1]),
    st.sampled_from([SOUTH, NORTH]),
)
CENTRE_LONGITUDES = st.one_of(st.floats(WEST, EAST), st.sampled_from([WEST, EAST, -1.55]))
RADII = st.one_of(st.floats(0.01, 200.0), st.sampled_from([0.01, 0.5, 4.0, 25.0, 37.5, 200.0]))


@settings(SETTINGS, max_examples=100)
@given(
    centre=st.tuples(CENTRE_LATITUDES, CENTRE_LONGITUDES),
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 40),
    spread=st.sampled_from([0.02, 0.2, 1.0]),
    on_a_lattice=st.booleans(),
    radii=st.lists(RADII, min_size=1, max_size=5),
    repeat=st.booleans(),
    box=st.booleans(),
)
def test_a_widened_ring_adds_exactly_the_sites_a_search_of_its_radius_finds(
    centre: tuple[float, float],
    seed: int,
    count: int,
    spread: float,
    on_a_lattice: bool,
    radii: list[float],
    repeat: bool,
    box: bool,
) -> None:
    # A site missed by a widening is a service never offered; one added twice is evaluated twice. Each ring of a
    # chain (an inner radius equal to the outer one included) must add exactly the sites between the two, and the
    # sites gathered so far must be the sites within the outer radius, at the distances a search of it gives.
    rng = np.random.default_rng(seed)
    latitudes = np.clip(centre[0] + rng.uniform(-spread, spread, count), SOUTH, NORTH)
    longitudes = np.clip(centre[1] + rng.uniform(-1.7 * spread, 1.7 * spread, count), WEST, EAST)
    if on_a_lattice:  # several sites on one spot: equal distances
        latitudes, longitudes = np.round(latitudes, 2), np.round(longitudes, 2)
    records = [
        make_record(f"s-{i:02d}", locations=located(f"s-{i:02d}", round(float(lat), 6), round(float(lon), 6)))
        for i, (lat, lon) in enumerate(zip(latitudes, longitudes, strict=True))
    ]
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    chain = sorted(radii + radii[-1:] if repeat else radii)
    gathered: dict[int, float] = {}
    sites = None
    for radius in chain:
        # Found by grid-row slices (a large directory's way) or by measuring every site (a small one's): the
        # same sites either way, at the same distances, in the same order.
        with patch.object(index_module, "WHOLE_SCAN_SITES", 0 if box else 10**9):
            sites = index.sites_within(centre[0], centre[1], radius, sites)
        for entry, km in zip(sites.inside.tolist(), sites.distance.tolist(), strict=True):
            assert entry not in gathered, f"site {entry} added again at {radius} km"
            gathered[entry] = km
        found = []
        for threshold in (0, 10**9):
            with patch.object(index_module, "WHOLE_SCAN_SITES", threshold):
                units, distance = index.within(centre[0], centre[1], radius)
                whole = index.sites_within(centre[0], centre[1], radius)
            assert np.array_equal(index.entry_unit[whole.inside], units)
            found.append((whole.inside.tolist(), distance.tolist()))
        (entries, distances), other = found
        assert other == (entries, distances), radius
        assert sorted(gathered) == sorted(entries), radius
        assert [gathered[entry] for entry in entries] == distances


# --- answers on one index reused across searches ------------------------------------------------------------------

# A lattice of spots about 1 km apart around Leeds: services share spots, so sites tie on distance, and a service's
# sites may sit at the same distance from the person.
LATTICE = [
    (round(CENTRE[0] + 0.009 * i, 6), round(CENTRE[1] + 0.015 * j, 6)) for i in range(-3, 4) for j in range(-3, 4)
]
SPOTS = st.sampled_from(LATTICE)
FIELDS = st.tuples(SERVICE_FIELDS, st.lists(SPOTS, max_size=4)).map(lambda pair: {**pair[0], "points": pair[1]})
CLUSTERED = st.lists(st.tuples(IDS, FIELDS), unique_by=lambda pair: pair[0], min_size=2, max_size=16).map(
    lambda pairs: [ServiceRecord.model_validate(_service(name, fields)) for name, fields in pairs]
)
DISTRICT_SETS = [
    (),
    (LEEDS_DISTRICT,),
    (WAKEFIELD_DISTRICT,),
    ("E08000032",),
    (LEEDS_DISTRICT, WAKEFIELD_DISTRICT),
    (LEEDS_DISTRICT, WELSH_DISTRICT),
]
PLACES = st.none() | st.builds(
    lambda spot, codes: ResolvedLocation(
        latitude=spot[0],
        longitude=spot[1],
        source="coordinates" if len(codes) < 2 else "postcode_district",
        district_code=codes[0] if codes else None,
        district_codes=list(codes),
    ),
    SPOTS,
    st.sampled_from(DISTRICT_SETS),
)
# Both clock-change nights, minute by minute, as well as any instant.
NIGHTS = st.one_of(
    instants,
    st.datetimes(datetime(2026, 3, 28, 22, 0), datetime(2026, 3, 29, 4, 0), timezones=st.just(UTC)),
    st.datetimes(datetime(2026, 10, 24, 22, 0), datetime(2026, 10, 25, 4, 0), timezones=st.just(UTC)),
)
# (first slice, nearest slice, slice per result, first ring km): tiny slices and rings force several widenings.
PRUNING = st.tuples(
    st.sampled_from([1, 2, 3]),
    st.sampled_from([1, 2, 40]),
    st.sampled_from([1, 2]),
    st.one_of(st.sampled_from([0.001, 0.5, 1.0, 1.5, 3.0]), st.floats(0.001, 5.0)),
)
# Searches on one index as a day's traffic makes them: a person, then the same person with one or two things
# changed (age, open window, explain, limit, radius, place), a few minutes, an hour, a day or a week later, so that
# the memos' keys (kind of request; UTC hour and date) meet both their own entries and their neighbours'.
CHANGE: dict[str, st.SearchStrategy[Any]] = {
    "age": st.none() | st.integers(0, 90),
    "sex": st.none() | st.sampled_from(PersonSex),
    "gender": st.none() | st.sampled_from(PersonGender),
    "needs": st.lists(st.sampled_from(Need), unique=True, max_size=2),
    "intoxicated": st.none() | st.booleans(),
    "uses_substances": st.none() | st.booleans(),
    "referral": st.sampled_from(Referral),
    "kinds": st.lists(st.sampled_from(ServiceKind), unique=True, max_size=2),
    "modes": st.lists(st.sampled_from(ContactMode), unique=True, max_size=1),
    "access": st.lists(st.sampled_from(AccessFeature), unique=True, max_size=1),
    "open": st.sampled_from(["now", "any", "within:30", "within:600"]),
    "explain": st.booleans(),
    "limit": st.sampled_from([1, 3, 10]),
    "radius_km": st.sampled_from([2.0, 10.0, 25.0]),
}
# One or two things changed: the rest of the memos' keys stays the same.
CHANGES = st.lists(
    st.sampled_from(sorted(CHANGE)).flatmap(lambda name: CHANGE[name].map(lambda value: (name, value))), max_size=2
).map(dict)
# The caller's date: usually the date of `at`, but not always (so a record's review date falls either side).
TODAY = st.sampled_from([0, 0, -1, 1, -200, 200, -500])
LATER = st.tuples(st.sampled_from([0, 0, 1, -1, 24, 25, 48, 168, -168]), st.integers(0, 59)).map(
    lambda pair: timedelta(hours=pair[0], minutes=pair[1])
)
Search = tuple[SearchRequest, ResolvedLocation | None, datetime, date, tuple[int, int, int, float]]


@st.composite
def day_of_searches(draw: st.DrawFn) -> list[Search]:
    person, place, at = draw(requests), draw(PLACES), draw(NIGHTS)
    searches = []
    for _ in range(draw(st.integers(1, 6))):
        request = SearchRequest.model_validate({**person.model_dump(mode="json"), **draw(CHANGES)})
        when = at + draw(LATER)
        where = draw(st.sampled_from([place, place, draw(PLACES)]))
        today = when.date() + timedelta(days=draw(TODAY))
        searches.append((request, where, when, today, draw(PRUNING)))
    return searches


def _answer(
    index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None, at: datetime, today: date
) -> dict[str, Any]:
    return engine.search(index, request, location=where, at=at, today=today).model_dump(mode="json")


def _ceiling_of_each_result(
    index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None, at: datetime, today: date
) -> list[tuple[str, float, float]]:
    """(service id, score, ceiling of the site shown) for each result of a full evaluation."""
    radius = request.radius_km * (engine.EXPLAIN_RADIUS_FACTOR if request.explain else 1.0)
    candidates = engine._candidates(index, where, radius)
    ceiling = engine._ceilings(index, candidates, request, where, at, today)
    with slices(10**9, 10**9, 1):
        response = engine.search(index, request, location=where, at=at, today=today)
    found = []
    for result in response.results:
        service = index.position[result.service.id]
        rows = [
            int(row)
            for row in np.flatnonzero(candidates.service == service)
            if candidates.location[row] < 0
            # A line found by its offices is shown with no place (engine._summary): any office it was found by.
            or index.no_premises[service]
            or (
                index.services[service].locations[candidates.location[row]].latitude == result.service.latitude
                and index.services[service].locations[candidates.location[row]].longitude == result.service.longitude
            )
        ]
        assert rows, result.service.id
        found.append((result.service.id, result.score, max(float(ceiling[row]) for row in rows)))
    return found


@MANY
@given(records=CLUSTERED, searches=day_of_searches())
def test_searches_on_a_reused_index_give_a_fresh_full_evaluations_answer(
    records: list[ServiceRecord], searches: list[Search]
) -> None:
    # The service answers every search of a snapshot from one index, so the ceilings remembered for one search
    # serve the next: a ceiling left from another kind of request, another hour or another day would prune a
    # service a full evaluation shows. Each pruned, widened answer must be a fresh index's full evaluation.
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    for request, where, at, today, pruning in searches:
        with slices(*pruning):
            pruned = _answer(index, request, where, at, today)
        fresh = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
        with slices(10**9, 10**9, 1):
            full = _answer(fresh, request, where, at, today)
        assert pruned == full, (request, where, at, today, pruning)


@MANY
@given(records=CLUSTERED, searches=day_of_searches())
def test_no_result_scores_above_its_remembered_ceiling(records: list[ServiceRecord], searches: list[Search]) -> None:
    # The ceilings come from memos filled by earlier searches (other requests, hours and days): each must still be
    # at least the score its site earns, or pruning could drop a service that belongs in the answer.
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    for request, where, at, today, pruning in searches:
        with slices(*pruning):
            _answer(index, request, where, at, today)  # fills the memos as a live search would
        for service_id, score, ceiling in _ceiling_of_each_result(index, request, where, at, today):
            assert ceiling >= score, (service_id, request, where, at, today)


def test_every_quarter_hour_of_both_clock_change_nights_on_one_index() -> None:
    # The hour-and-day terms are remembered per UTC hour: on the night the clocks go back, London's 01:00-02:00
    # happens twice (two UTC hours), and on the night they go forward it never happens. Sessions around those hours,
    # searched every quarter hour through both nights on one index, must give the full evaluation's answer.
    spots = LATTICE[::4]
    hours = [
        ("sunday", "01:00", "02:00"),
        ("sunday", "01:30", "03:00"),
        ("saturday", "23:00", "01:30"),
        ("sunday", "00:00", "01:15"),
        ("sunday", "02:00", "04:00"),
        ("saturday", "22:00", "02:30"),
    ]
    records = []
    for i, (day, opens, closes) in enumerate(hours):
        for j in range(2):
            service_id = f"night-{i}-{j}"
            spot = spots[(2 * i + j) % len(spots)]
            records.append(
                make_record(
                    service_id,
                    eligibility={"minimum_age": None, "catchment": {"type": "england"}},
                    locations=located(service_id, *spot),
                    schedules=[
                        {
                            "id": f"{service_id}-hours",
                            "sessions": [{"day": day, "opens_at": opens, "closes_at": closes}],
                            "bank_holidays": "as_usual",
                        }
                    ],
                    provenance={"verify_due": "2026-03-28" if j else "2027-01-01"},
                )
            )
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    fresh = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    where = ResolvedLocation(
        latitude=CENTRE[0], longitude=CENTRE[1], source="coordinates", district_code=LEEDS_DISTRICT
    )
    compared = 0
    for night in (datetime(2026, 3, 28, 22, 0, tzinfo=UTC), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)):
        for quarter in range(6 * 4):
            at = night + timedelta(minutes=15 * quarter)
            for open_, days in (("now", 0), ("within:30", 1), ("any", -1)):
                request = SearchRequest(open=open_, limit=3, explain=open_ == "now")
                today = at.date() + timedelta(days=days)
                with slices(1, 1, 1, ring_km=0.5):
                    pruned = _answer(index, request, where, at, today)
                with slices(10**9, 10**9, 1):
                    full = _answer(fresh, request, where, at, today)
                assert pruned == full, (at, open_, today)
                compared += bool(full["results"])
    assert compared > 50  # the sessions were open (or opening) for much of both nights
