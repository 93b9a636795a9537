"""Shared data for the search tests: a fixed instant, a person in Leeds, and small helpers to build an index
from factory records and run one search."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service_finder.schemas import ResolvedLocation, SearchRequest, SearchResponse, SearchResult, ServiceRecord
from service_finder.search.engine import search
from service_finder.search.index import DirectoryIndex
from tests.conftest import REPO

LONDON = ZoneInfo("Europe/London")
BUILT_AT = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
# Friday 9 October 2026, 20:00 in London: the factory café (Fridays 18:00-02:00) is open.
FRIDAY_EVENING = datetime(2026, 10, 9, 20, 0, tzinfo=LONDON)
LEEDS_DISTRICT = "E08000035"
WAKEFIELD_DISTRICT = "E08000036"
# Leeds city centre, about 150 m from the factory café at Civic Hall.
LEEDS = ResolvedLocation(latitude=53.8, longitude=-1.55, source="coordinates", district_code=LEEDS_DISTRICT)
NATIONAL_FILE = REPO / "data" / "national_lines.json"
DEMO_FILE = REPO / "data" / "demo" / "directory.json"


def index_of(records: Sequence[ServiceRecord], *, version: int = 1) -> DirectoryIndex:
    return DirectoryIndex.build(records, version=version, built_at=BUILT_AT)


def run(
    index: DirectoryIndex,
    *,
    at: datetime = FRIDAY_EVENING,
    location: ResolvedLocation | None = LEEDS,
    today: date | None = None,
    stale_index: bool = False,
    **fields: Any,
) -> SearchResponse:
    request = SearchRequest.model_validate(fields)
    return search(
        index,
        request,
        location=location,
        at=at,
        today=today or at.astimezone(LONDON).date(),
        stale_index=stale_index,
    )


def ids(response: SearchResponse) -> list[str]:
    return [result.service.id for result in response.results]


def result(response: SearchResponse, service_id: str) -> SearchResult:
    found = [r for r in response.results if r.service.id == service_id]
    assert found, f"{service_id!r} is not among the results {ids(response)}"
    return found[0]


def exclusion_reasons(response: SearchResponse, service_id: str) -> list[str]:
    assert response.excluded is not None, "explain=true should list exclusions"
    found = [e.reasons for e in response.excluded if e.id == service_id]
    assert found, f"{service_id!r} is not among the exclusions {[e.id for e in response.excluded]}"
    return found[0]


def always_open(service_id: str) -> list[dict[str, Any]]:
    return [{"id": f"{service_id}-hours", "always_open": True}]


def sessions(service_id: str, *spans: tuple[str, str, str], bank_holidays: str = "as_usual") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{service_id}-hours",
            "sessions": [{"day": day, "opens_at": opens, "closes_at": closes} for day, opens, closes in spans],
            "bank_holidays": bank_holidays,
        }
    ]


def located(service_id: str, latitude: float, longitude: float, postcode: str = "LS1 1UR") -> list[dict[str, Any]]:
    return [{"id": f"{service_id}-loc", "postcode": postcode, "latitude": latitude, "longitude": longitude}]


def load_records(path: Any) -> list[ServiceRecord]:
    return [ServiceRecord.model_validate(item) for item in json.loads(path.read_text(encoding="utf-8"))]


@pytest.fixture(scope="session")
def national_records() -> list[ServiceRecord]:
    return load_records(NATIONAL_FILE)


@pytest.fixture(scope="session")
def demo_records() -> list[ServiceRecord]:
    return load_records(DEMO_FILE)
