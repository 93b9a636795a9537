"""The search evaluates the most promising candidates first and stops when the rest cannot change the answer.

Pruning is only an optimisation: every answer must be exactly the one a full evaluation of every candidate gives
(results, scores, order, exclusions and their reasons). These tests force pruning onto small worlds by shrinking
the first slice to one row, and compare with pruning switched off.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import product
from typing import Any
from unittest.mock import patch

import numpy as np
from hypothesis import given

from service_finder.schemas import ResolvedLocation, SearchRequest, SearchResponse, ServiceRecord
from service_finder.search import engine
from service_finder.search import index as index_module
from service_finder.search.index import DirectoryIndex
from tests.factories import make_record
from tests.search.conftest import BUILT_AT, LONDON
from tests.search.test_invariants import SETTINGS, directories, instants, locations, requests


@contextmanager
def slices(first: int, nearest: int, per_result: int, ring_km: float = 10.0**9, *, box: bool = True) -> Iterator[None]:
    """Pruning forced as given; `box`: sites found by their grid rows' slices, as in a large directory, not by
    measuring every site (a small one's way, index.WHOLE_SCAN_SITES)."""
    with (
        patch.object(index_module, "WHOLE_SCAN_SITES", 0 if box else 10**9),
        patch.object(engine, "FIRST_SLICE", first),
        patch.object(engine, "EVALUATE_ALL", 0),  # ceilings and slices whatever the number of candidates
        patch.object(engine, "NEAREST_SLICE", nearest),
        patch.object(engine, "SLICE_PER_RESULT", per_result),
        patch.object(engine, "FIRST_RING_KM", ring_km),
        patch.object(engine, "FIRST_RING_SITES", 0),  # the ring is ring_km, whatever the directory's size
    ):
        yield


def answer(
    index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> dict[str, Any]:
    response: SearchResponse = engine.search(index, request, location=where, at=at, today=at.date())
    return response.model_dump(mode="json")


def pruned_and_full(
    index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    with slices(1, 1, 1, ring_km=0.5):
        pruned = answer(index, request, where, at)
    with slices(10**9, 10**9, 1, box=False):  # every site measured, no ring: nothing pruned, nothing boxed
        full = answer(index, request, where, at)
    return pruned, full


@SETTINGS
@given(records=directories(min_size=3, max_size=12), request=requests, where=locations, at=instants)
def test_pruned_answer_is_the_full_answer(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> None:
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    pruned, full = pruned_and_full(index, request, where, at)
    assert pruned == full


@SETTINGS
@given(records=directories(min_size=1, max_size=12), request=requests, where=locations, at=instants)
def test_no_result_scores_above_its_ceiling(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> None:
    # The ceiling is what makes pruning safe: every result's score is at most its site's ceiling, and a site
    # given no ceiling (-inf, a hard filter) is never a result.
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    radius = request.radius_km * (engine.EXPLAIN_RADIUS_FACTOR if request.explain else 1.0)
    candidates = engine._candidates(index, where, radius)
    ceiling = engine._ceilings(index, candidates, request, where, at, at.date())
    with slices(10**9, 10**9, 1):
        response = engine.search(index, request, location=where, at=at, today=at.date())
    for result in response.results:
        service = index.position[result.service.id]
        rows = np.flatnonzero(candidates.service == service)
        sites = [
            row
            for row in rows
            if candidates.location[row] < 0
            or index.no_premises[service]  # a line found by its offices is shown with no place: any of them
            or index.services[service].locations[candidates.location[row]].latitude == result.service.latitude
        ]
        assert sites, result.service.id
        assert max(float(ceiling[row]) for row in sites) >= result.score


def test_pruning_on_the_demo_directory_changes_nothing(
    demo_records: list[ServiceRecord], national_records: list[ServiceRecord], gazetteer: Any
) -> None:
    # Hundreds of real-shaped services around real postcodes: the shipped slice sizes, and a tiny first slice
    # that forces several widening rounds, must both give the full evaluation's answer.
    index = DirectoryIndex.build([*demo_records, *national_records], version=1, built_at=BUILT_AT)
    places = []
    for postcode in ("LS1 1UR", "M1 1AE", "B1 1BB", "NE1 4ST", "BS1 4DJ"):
        point = gazetteer.lookup(postcode)
        assert point is not None, postcode
        places.append(
            ResolvedLocation(
                latitude=point.latitude,
                longitude=point.longitude,
                source="postcode",
                district_code=point.district_code,
            )
        )
    people = [
        {},
        {"age": 17, "needs": ["self_harm"], "uses_substances": True},
        {"intoxicated": True, "referral": "professional", "explain": True, "limit": 3},
        {"open": "within:120", "needs": ["suicidal_thoughts", "anxiety_depression"], "explain": True},
        {"open": "any", "age": 70, "radius_km": 80, "limit": 20},
    ]
    at_times = [datetime(2026, 10, 9, 20, 0, tzinfo=LONDON), datetime(2026, 12, 28, 3, 0, tzinfo=LONDON)]
    compared = 0
    for place, person, at in product(places, people, at_times):
        request = SearchRequest.model_validate(person)
        full = None
        with slices(10**9, 10**9, 1):
            full = answer(index, request, place, at)
        assert answer(index, request, place, at) == full, (place, person, at, "as shipped")
        for sizes in ((1, 1, 1, 0.5), (1, 1, 1, 3.0), (engine.FIRST_SLICE, engine.NEAREST_SLICE, 4, 4.0)):
            with slices(*sizes):
                assert answer(index, request, place, at) == full, (place, person, at, sizes)
        compared += bool(full["results"])
    assert compared > 20  # the comparisons were about real answers, not empty ones


def test_a_closed_hour_rules_a_site_out_before_its_hours_are_read() -> None:
    # The ceiling's open bit is a superset of open now. The factory café opens Fridays 18:00-02:00: on a Monday
    # morning, with open=now, it has no ceiling at all (it cannot be a result); with open=any it keeps one (it can
    # be listed, closed); on Friday evening it keeps one either way.
    index = DirectoryIndex.build([make_record("cafe")], version=1, built_at=BUILT_AT)
    where = ResolvedLocation(latitude=53.8, longitude=-1.55, source="coordinates", district_code=None)
    candidates = engine._candidates(index, where, 25.0)
    assert candidates.unit.size == 1

    def ceiling(open_: str, at: datetime) -> float:
        request = SearchRequest(open=open_)
        return float(engine._ceilings(index, candidates, request, where, at, at.date())[0])

    monday_morning = datetime(2026, 10, 12, 10, 0, tzinfo=LONDON)
    friday_evening = datetime(2026, 10, 9, 20, 0, tzinfo=LONDON)
    assert ceiling("now", monday_morning) == -np.inf
    assert ceiling("any", monday_morning) > -np.inf
    assert ceiling("now", friday_evening) > ceiling("any", monday_morning)


LEEDS_CENTRE = ResolvedLocation(latitude=53.8, longitude=-1.55, source="coordinates", district_code="E08000035")
FRIDAY_EVENING = datetime(2026, 10, 9, 20, 0, tzinfo=LONDON)  # the factory café is open (Fridays 18:00-02:00)


def _cafe(service_id: str, km_north: float, **overrides: Any) -> ServiceRecord:
    latitude = round(53.8 + km_north / 111.2, 6)
    where = [{"id": f"{service_id}-loc", "postcode": "LS1 1UR", "latitude": latitude, "longitude": -1.55}]
    return make_record(service_id, locations=where, **overrides)


def test_a_better_service_beyond_the_first_ring_still_wins() -> None:
    # Next door: a café whose record is past its review date (stale ranks lower). 10 km away: the same café,
    # verified. The far one scores higher even after 15 points for distance, so the search must look past its
    # first ring, and far enough (it widens to where a perfect service could still win, ~13.5 km here).
    near = _cafe("a-near-stale", 0.2, provenance={"verify_due": "2026-01-01"})
    far = _cafe("b-far-verified", 10.0)
    index = DirectoryIndex.build([near, far], version=1, built_at=BUILT_AT)
    request = SearchRequest(age=30, limit=1)
    with patch.object(engine, "FIRST_RING_SITES", 0):  # a 4 km first ring: two sites alone would fill the radius
        response = engine.search(index, request, location=LEEDS_CENTRE, at=FRIDAY_EVENING, today=FRIDAY_EVENING.date())
    assert [r.service.id for r in response.results] == ["b-far-verified"]
    assert response.results[0].stale is False


def test_services_left_out_beyond_the_first_ring_are_still_listed() -> None:
    # With explain, the nearest services left out are listed even when the first ring already holds the results:
    # a café for all ages next door answers a 15-year-old; one for adults next door and one 12 km away are left
    # out, and both must be listed.
    for_all_ages = _cafe("for-all-ages", 0.3, eligibility={"minimum_age": None})
    records = [for_all_ages, _cafe("near", 0.2), _cafe("far", 12.0)]
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    request = SearchRequest(age=15, explain=True, limit=1)
    with patch.object(engine, "FIRST_RING_SITES", 0):  # a 4 km first ring: three sites alone would fill the radius
        response = engine.search(index, request, location=LEEDS_CENTRE, at=FRIDAY_EVENING, today=FRIDAY_EVENING.date())
    assert [r.service.id for r in response.results] == ["for-all-ages"]
    assert [item.id for item in response.excluded or []] == ["near", "far"]


def test_the_first_ring_shrinks_as_the_directory_grows_and_never_below_its_floor() -> None:
    # A regional directory of a few hundred sites is searched in one pass over the default 25 km radius; a national
    # one of a million starts near the 4 km floor, where a town's answer usually is.
    sizes = [590, 10_000, 100_000, 1_000_000, 10_000_000]
    rings = [engine.first_ring_km(n) for n in sizes]
    assert rings == sorted(rings, reverse=True)
    assert rings[0] > 25.0
    assert engine.FIRST_RING_KM < rings[2] < 25.0
    assert rings[-1] == engine.FIRST_RING_KM
