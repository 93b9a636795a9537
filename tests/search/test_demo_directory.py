"""The shipped demo directory and national lines, searched from real postcodes through the real gazetteer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from geopy.distance import great_circle

from service_finder.schemas import ResolvedLocation, SearchRequest, ServiceRecord
from service_finder.search.engine import search
from service_finder.search.index import DirectoryIndex
from tests.search.conftest import BUILT_AT, LONDON

# Evenings, nights and a weekday morning, in winter and summer time, and the late-summer bank holiday.
INSTANTS = [
    datetime(2026, 10, 9, 20, 0, tzinfo=LONDON),
    datetime(2026, 10, 10, 1, 30, tzinfo=LONDON),
    datetime(2026, 12, 2, 10, 0, tzinfo=LONDON),
    datetime(2026, 8, 31, 19, 0, tzinfo=LONDON),
]


@pytest.fixture(scope="module")
def directory(demo_records: list[ServiceRecord], national_records: list[ServiceRecord]) -> DirectoryIndex:
    return DirectoryIndex.build([*demo_records, *national_records], version=3, built_at=BUILT_AT)


@pytest.fixture(scope="module")
def places(demo_records: list[ServiceRecord], gazetteer: Any) -> list[ResolvedLocation]:
    # Every 60th located demo service's postcode: spread across England, resolved as a person's postcode would be.
    postcodes = sorted({r.locations[0].postcode for r in demo_records if r.locations})[::60]
    resolved = []
    for postcode in postcodes:
        point = gazetteer.lookup(postcode)
        if point is None:
            continue
        resolved.append(
            ResolvedLocation(
                latitude=point.latitude,
                longitude=point.longitude,
                source="postcode",
                postcode=point.postcode,
                district_code=point.district_code,
                district_name=point.district_name,
            )
        )
    assert len(resolved) >= 4
    return resolved


@pytest.mark.parametrize("at", INSTANTS, ids=lambda at: at.strftime("%a-%d-%b-%H%M"))
def test_demo_searches_are_labelled_ranked_and_within_reach(
    directory: DirectoryIndex, places: list[ResolvedLocation], at: datetime, gazetteer: Any
) -> None:
    by_id = {record.id: record for record in directory.services}
    anything = 0
    for place in places:
        request = SearchRequest(open="within:120", radius_km=40, age=30, explain=True)
        response = search(
            directory, request, location=place, at=at, today=at.date(), district_name=gazetteer.district_name
        )
        anything += len(response.results)
        assert [r.rank for r in response.results] == list(range(1, len(response.results) + 1))
        assert [r.score for r in response.results] == sorted((r.score for r in response.results), reverse=True)
        assert {"emergency-999", "nhs-111-mental-health", "samaritans"} <= {e.id for e in response.safety_net}
        for found in response.results:
            record = by_id[found.service.id]
            # Demo data is never passed off as a real service.
            assert found.service.demo is record.is_demo
            assert found.eligibility.verdict.value != "ineligible"
            if found.open_now:
                assert found.closes_at is None or found.closes_at > at
            else:
                assert found.opens_next_at is not None
                assert at < found.opens_next_at <= at + timedelta(minutes=120)
            if found.distance_km is not None:
                here = (place.latitude, place.longitude)
                there = (found.service.latitude, found.service.longitude)
                assert found.distance_km <= 40.005
                assert found.distance_km == pytest.approx(great_circle(here, there).km, rel=0.005, abs=0.006)
    # Across several places and an evening, the demo directory has something to offer.
    assert anything > 0


def test_local_demo_crisis_lines_join_the_safety_net(directory: DirectoryIndex, gazetteer: Any) -> None:
    local_lines = [
        r
        for r in directory.services
        if r.kind.value == "crisis_line"
        and not r.safety_net
        and r.status.value == "active"
        and r.eligibility.catchment is not None
        and r.eligibility.catchment.type.value == "districts"
        and any(s.always_open for s in r.schedules)
    ]
    if not local_lines:
        pytest.skip("the demo directory has no district-bounded 24/7 crisis line")
    line = local_lines[0]
    district = line.eligibility.catchment.districts[0]  # type: ignore[union-attr]
    place = ResolvedLocation(latitude=53.0, longitude=-1.5, source="coordinates", district_code=district)
    response = search(directory, SearchRequest(), location=place, at=INSTANTS[0], today=INSTANTS[0].date())
    local = {e.id: e for e in response.safety_net if e.local}
    assert line.id in local
    # Fictional numbers are flagged as such wherever they appear, the safety net included; real lines are not.
    assert local[line.id].demo is line.is_demo is True
    assert not any(e.demo for e in response.safety_net if not e.local)
