"""The index snapshot: vectorised distances against geopy, and the radius query that feeds every search."""

from __future__ import annotations

import numpy as np
import pytest
from geopy.distance import geodesic, great_circle
from hypothesis import given, settings
from hypothesis import strategies as st

from service_finder.schemas import ENGLAND_BOUNDS
from service_finder.search import engine
from service_finder.search.index import DISTRICT_MASKS, DirectoryIndex, _classes, haversine_km
from tests.factories import make_record
from tests.search.conftest import BUILT_AT, index_of, located

# Mainland England and a little beyond, so long north-south and east-west journeys are both drawn.
latitudes = st.floats(49.9, 55.8, allow_nan=False)
longitudes = st.floats(-6.4, 1.8, allow_nan=False)
points = st.tuples(latitudes, longitudes)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(origin=points, others=st.lists(points, min_size=1, max_size=20))
def test_vectorised_distance_is_within_half_a_percent_of_geopy(
    origin: tuple[float, float], others: list[tuple[float, float]]
) -> None:
    lats = np.array([p[0] for p in others])
    lons = np.array([p[1] for p in others])
    ours = haversine_km(origin[0], origin[1], lats, lons)
    for km, point in zip(ours, others, strict=True):
        # The ellipsoid is the truth a user's map shows; the sphere may differ by up to ~0.5 %.
        assert km == pytest.approx(geodesic(origin, point).km, rel=0.005, abs=0.001)
        assert km == pytest.approx(great_circle(origin, point).km, rel=1e-6, abs=1e-6)


def test_distance_across_england_matches_geopy() -> None:
    # Land's End to Berwick-upon-Tweed: the longest straight line a search in England can draw.
    lands_end, berwick = (50.0657, -5.7132), (55.7704, -2.0055)
    km = float(haversine_km(*lands_end, np.array([berwick[0]]), np.array([berwick[1]]))[0])
    assert km == pytest.approx(geodesic(lands_end, berwick).km, rel=0.005)
    assert 650 < km < 700


def _ring(centre: tuple[float, float], count: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    # Clipped to the box the schema accepts as England.
    south, north, west, east = ENGLAND_BOUNDS
    return [
        (min(max(centre[0] + float(dlat), south), north), min(max(centre[1] + float(dlon), west), east))
        for dlat, dlon in zip(rng.uniform(-0.6, 0.6, count), rng.uniform(-1.0, 1.0, count), strict=True)
    ]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    centre=st.tuples(st.floats(50.5, 55.0), st.floats(-4.5, 1.0)),
    radius=st.sampled_from([1.0, 5.0, 25.0, 60.0]),
)
def test_near_finds_exactly_the_services_inside_the_radius_nearest_first(
    seed: int, centre: tuple[float, float], radius: float
) -> None:
    spots = _ring(centre, 40, seed)
    records = [
        make_record(f"s-{i:02d}", locations=located(f"s-{i:02d}", round(lat, 6), round(lon, 6)))
        for i, (lat, lon) in enumerate(spots)
    ]
    index = index_of(records)
    units, distances = index.near(centre[0], centre[1], radius)
    services, locations = index.unit_service[units], index.unit_location[units]
    found = {index.services[int(s)].id: float(d) for s, d in zip(services, distances, strict=True)}
    assert list(distances) == sorted(distances)
    assert np.all(locations == 0)
    for record in records:
        location = record.locations[0]
        truth = great_circle(centre, (location.latitude, location.longitude)).km
        # Points within a hair of the edge may fall either way; everything else must be decided correctly.
        if truth < radius * 0.999:
            assert record.id in found, f"{record.id} at {truth:.3f} km is inside {radius} km but was not found"
            assert found[record.id] == pytest.approx(truth, rel=1e-6)
        elif truth > radius * 1.001:
            assert record.id not in found, f"{record.id} at {truth:.3f} km is outside {radius} km but was found"


def test_a_phone_lines_office_is_a_place_near_finds_but_not_a_site_to_search() -> None:
    # FHIR's Location search lists the office of a phone line near a point (it is a place in the record); the
    # search reads the line as remote, with no distance (tests/search/test_scenarios.py).
    line = make_record(
        "line",
        kind="crisis_line",
        access={"contact_modes": ["phone"]},
        locations=[{"id": "office", "postcode": "LS1 1UR", "latitude": 53.801, "longitude": -1.55}],
    )
    cafe = make_record("cafe", locations=located("cafe", 53.802, -1.55))
    index = index_of([line, cafe])
    units, _ = index.near(53.80, -1.55, 1)
    pairs = zip(index.unit_service[units].tolist(), index.unit_location[units].tolist(), strict=True)
    places = [(index.services[s].id, j) for s, j in pairs]
    assert places == [("line", 0), ("cafe", 0)]
    searched, _ = index.within(53.80, -1.55, 1)
    assert [index.services[s].id for s in index.unit_service[searched].tolist()] == ["cafe"]
    assert [index.services[s].id for s in index.unit_service[index.remote].tolist()] == ["line"]


def test_each_site_of_a_service_is_found_nearest_first() -> None:
    # Sites are found separately: one can be shut while another is open (the engine then shows the best one).
    record = make_record(
        "two-sites",
        locations=[
            {"id": "far-site", "postcode": "LS1 1UR", "latitude": 53.90, "longitude": -1.55},
            {"id": "near-site", "postcode": "LS1 1UR", "latitude": 53.801, "longitude": -1.55},
        ],
    )
    index = index_of([record])
    units, distances = index.near(53.80, -1.55, 30)
    assert index.unit_service[units].tolist() == [0, 0]
    assert [record.locations[int(i)].id for i in index.unit_location[units]] == ["near-site", "far-site"]
    assert float(distances[0]) == pytest.approx(great_circle((53.80, -1.55), (53.801, -1.55)).km, rel=1e-6)


def test_near_high_latitude_longitude_band_is_not_too_narrow() -> None:
    # East-west at 55.5 N a degree of longitude is only ~63 km: a box sized at the equator would miss this one.
    record = make_record("east", locations=located("east", 55.5, -1.0))
    index = index_of([record])
    km = great_circle((55.5, -1.6), (55.5, -1.0)).km
    assert index.unit_service[index.near(55.5, -1.6, km + 0.5)[0]].tolist() == [0]
    assert index.near(55.5, -1.6, km - 0.5)[0].tolist() == []


def test_build_does_not_depend_on_input_order() -> None:
    records = [make_record(f"svc-{i}", locations=located(f"svc-{i}", 53.8 + i / 100, -1.55)) for i in range(6)]
    forwards = index_of(records)
    backwards = index_of(list(reversed(records)))
    assert [r.id for r in forwards.services] == [r.id for r in backwards.services]
    ahead, behind = forwards.near(53.8, -1.55, 50), backwards.near(53.8, -1.55, 50)
    for column in range(2):
        assert ahead[column].tolist() == behind[column].tolist()


def test_empty_index_finds_nothing() -> None:
    index = DirectoryIndex.build([], version=0, built_at=index_of([]).built_at)
    assert len(index) == 0
    assert all(part.size == 0 for part in index.near(53.8, -1.55, 200))


def test_district_masks_are_remembered_whatever_else_the_snapshot_remembers() -> None:
    # Searches from a few hundred districts fill the snapshot's other memo (local crisis lines per district); the
    # masks used to share its bound, and were then rebuilt on almost every search.
    index = DirectoryIndex.build([make_record("leeds-cafe")], version=1, built_at=BUILT_AT)
    leeds = index.district_mask("E08000035")
    assert leeds.tolist() == [True]
    for number in range(400):
        engine._local_lines(index, f"E0{number:07d}")
    assert index.district_mask("E08000035") is leeds
    # Bounded: the least recently used mask goes first, the one just used stays.
    oldest = index.district_mask("E10000000")
    for number in range(1, DISTRICT_MASKS - 1):
        index.district_mask(f"E1{number:07d}")
    assert index.district_mask("E08000035") is leeds  # now the most recently used of a full set
    index.district_mask("E2")  # one more: the oldest goes
    assert index.district_mask("E08000035") is leeds
    assert index.district_mask("E10000000") is not oldest


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda width: st.lists(st.lists(st.integers(-3, 3), min_size=width, max_size=width), min_size=1, max_size=60)
    )
)
def test_services_share_a_class_exactly_when_their_columns_are_equal_and_each_class_names_its_first(
    rows: list[list[int]],
) -> None:
    # The classes stand in for their services (one criteria verdict and one score ceiling per class): two services
    # in one class with different columns would give one of them the other's verdicts.
    columns = [np.array(column, np.int64) for column in zip(*rows, strict=True)]
    classes, first = _classes(columns)
    for a, row in enumerate(rows):
        assert rows[first[classes[a]]] == row
        assert first[classes[a]] == rows.index(row)  # the class's first service in the directory's order
    assert sorted(set(classes.tolist())) == list(range(first.size))
