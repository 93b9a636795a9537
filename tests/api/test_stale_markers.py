"""Every answer read from the in-memory index says when that index may be behind the store, in every format, not only
/v1/search; coverage computations queue no deeper than one per process; /metrics says how long the store has been
silent and whether a build failed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.api.routes import coverage
from service_finder.catalogue import Catalogue
from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.search.index import DirectoryIndex
from service_finder.storage import repository
from tests.conftest import GAZETTEER
from tests.factories import make_record

NOW = datetime(2026, 11, 1, tzinfo=UTC)
FRIDAY_EVENING = "2026-11-27T20:00:00"

# Every route answered from the index, with a query that answers 200.
INDEX_READS = [
    "/hsds/",
    "/hsds/services",
    "/hsds/service_at_locations?postcode=LS1+1UR&proximity=2000",
    "/fhir/HealthcareService",
    "/fhir/HealthcareService/leeds-cafe",
    "/fhir/Location",
    "/v1/services.geojson",
    f"/v1/coverage?at={FRIDAY_EVENING}&km=5",
]


def _store(engine: Engine, *records: Any) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, list(records), actor="test", now=NOW)
        session.commit()


@pytest.fixture
def api(sqlite_engine: Engine) -> Iterator[TestClient]:
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    _store(sqlite_engine, make_record("leeds-cafe"))
    with TestClient(create_app(settings, engine=sqlite_engine), raise_server_exceptions=False) as client:
        yield client


def _catalogue(client: TestClient) -> Catalogue:
    catalogue: Catalogue = client.app.state.service_finder.catalogue  # type: ignore[attr-defined]
    return catalogue


def _fail_next_build(client: TestClient, engine: Engine) -> None:
    """A newer version in the store that this process cannot build (a fault in the build itself: injected, as no
    stored data can cause one any more); the last index goes on answering, marked stale."""
    _store(engine, make_record("york-cafe"))
    with patch.object(DirectoryIndex, "build", side_effect=MemoryError):
        assert _catalogue(client).refresh() is False
    assert _catalogue(client).snapshot.stale


def _fhir_tags(body: dict[str, Any]) -> set[str]:
    return {tag["code"] for tag in body.get("meta", {}).get("tag", [])}


def _metric(client: TestClient, name: str) -> float:
    lines = client.get("/metrics").text.splitlines()
    return float(next(line.split()[-1] for line in lines if line.startswith(f"{name} ")))


@pytest.mark.parametrize("path", INDEX_READS)
def test_a_fresh_index_says_it_is_not_stale(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["x-index-stale"] == "false"


@pytest.mark.parametrize("path", INDEX_READS)
def test_an_index_behind_the_store_says_so_on_every_format(api: TestClient, sqlite_engine: Engine, path: str) -> None:
    _fail_next_build(api, sqlite_engine)
    response = api.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["x-index-stale"] == "true"


def test_the_bodies_say_it_where_the_format_has_a_place(api: TestClient, sqlite_engine: Engine) -> None:
    fresh_bundle = api.get("/fhir/HealthcareService").json()
    assert "index-stale" not in _fhir_tags(fresh_bundle)
    assert api.get("/v1/services.geojson").json()["stale_index"] is False

    _fail_next_build(api, sqlite_engine)
    assert "index-stale" in _fhir_tags(api.get("/fhir/HealthcareService").json())
    read = api.get("/fhir/HealthcareService/leeds-cafe").json()
    assert "index-stale" in _fhir_tags(read)
    assert read["id"] == "leeds-cafe"  # the resource itself is unchanged
    assert api.get("/v1/services.geojson").json()["stale_index"] is True
    report = api.get("/v1/coverage", params={"at": FRIDAY_EVENING, "km": 5}).json()
    assert report["stale_index"] is True
    assert any("may be out of date" in caveat for caveat in report["caveats"])
    figures = api.get("/v1/coverage", params={"at": FRIDAY_EVENING, "km": 5, "format": "geojson"}).json()
    assert figures["stale_index"] is True


def test_a_service_the_stale_index_lacks_is_a_404_that_says_the_index_is_stale(
    api: TestClient, sqlite_engine: Engine
) -> None:
    # york-cafe is in the store but not in the index: the 404 may be wrong, and the client is told so.
    _fail_next_build(api, sqlite_engine)
    for path in ("/fhir/HealthcareService/york-cafe", "/hsds/services/00000000-0000-4000-8000-000000000000"):
        missing = api.get(path)
        assert missing.status_code == 404
        assert missing.headers["x-index-stale"] == "true"
    assert _catalogue(api).refresh()  # the next poll builds it
    found = api.get("/fhir/HealthcareService/york-cafe")
    assert (found.status_code, found.headers["x-index-stale"]) == (200, "false")


def test_a_second_coverage_computation_is_refused_at_once_not_queued(api: TestClient) -> None:
    params: dict[str, str | int] = {"at": FRIDAY_EVENING, "km": 5}
    # Another request holds the process's one slot (taken as its computation would take it).
    with coverage.computing_slot():
        busy = api.get("/v1/coverage", params=params)
        assert busy.status_code == 503
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.headers["retry-after"] == str(coverage.BUSY_RETRY_SECONDS)
        assert busy.json()["type"].endswith("/busy")
        assert "one at a time" in busy.json()["detail"]
        assert "111" in busy.json()["detail"]
        # Searches are not held behind it.
        assert api.get("/v1/search", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).status_code == 200
    assert api.get("/v1/coverage", params=params).status_code == 200  # the slot is free again


def test_a_computation_that_fails_frees_the_slot(api: TestClient) -> None:
    params: dict[str, str | int] = {"at": FRIDAY_EVENING, "km": 5}
    with patch.object(coverage, "compute", side_effect=MemoryError):  # a fault injected into the computation
        assert api.get("/v1/coverage", params=params).status_code == 500
    assert api.get("/v1/coverage", params=params).status_code == 200


def test_metrics_say_how_long_the_store_has_been_silent_and_whether_a_build_failed(
    api: TestClient, sqlite_engine: Engine
) -> None:
    assert _metric(api, "service_finder_index_build_failed") == 0
    assert 0 <= _metric(api, "service_finder_store_checked_age_seconds") < 60
    _fail_next_build(api, sqlite_engine)
    assert _metric(api, "service_finder_index_build_failed") == 1
    assert _metric(api, "service_finder_store_checked_age_seconds") < 60  # the store answered; the build failed
    assert _catalogue(api).refresh()
    assert _metric(api, "service_finder_index_build_failed") == 0
