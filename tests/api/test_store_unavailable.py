"""A store that stops being a database (a SQLite file overwritten or corrupted on disk): the API answers as for a
store that cannot be reached, 503 `store-unavailable` with Retry-After, and search goes on from the last index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.storage import repository
from tests.conftest import GAZETTEER
from tests.factories import make_record, service_data

NOW = datetime(2026, 11, 1, tzinfo=UTC)
FRIDAY_EVENING = {"postcode": "LS1 1UR", "at": "2026-11-27T19:00:00+00:00"}


def _key(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        key = repository.create_api_key(session, name="editor", scopes=["write"], now=NOW)
        session.commit()
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def corrupted(sqlite_engine: Engine) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    """A server over a store holding one café, then overwritten with bytes that are no database; with a write key
    it has used before and one it has never seen."""
    with Session(sqlite_engine) as session:
        repository.upsert_services(session, [make_record("cafe")], actor="test", now=NOW)
        session.commit()
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER)
    with TestClient(create_app(settings, engine=sqlite_engine), raise_server_exceptions=False) as client:
        seen, unseen = _key(sqlite_engine), _key(sqlite_engine)
        assert client.patch(
            "/v1/services/cafe", json={"alert": "x"}, headers={**seen, "If-Match": '"cafe-r1"'}
        ).is_success
        sqlite_engine.dispose()
        Path(str(sqlite_engine.url.database)).write_bytes(b"not a database at all " * 500)
        yield client, seen, unseen


def _store_unavailable(response: Any) -> None:  # the test client's response
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/store-unavailable")
    assert int(response.headers["retry-after"]) > 0
    for leak in ("DatabaseError", "not a database", "Traceback"):
        assert leak not in response.text


def test_a_store_that_is_no_database_any_more_is_503_on_reads_and_writes_not_500(
    corrupted: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    # "file is not a database" is SQLite's DatabaseError, not OperationalError: every read and write of the store
    # was a 500 "something went wrong", which a client does not retry, and an editor reported as a bug.
    client, seen, unseen = corrupted
    _store_unavailable(client.get("/v1/services/cafe"))
    _store_unavailable(
        client.put("/v1/services/cafe", json=service_data("cafe"), headers={**seen, "If-Match": '"cafe-r2"'})
    )
    _store_unavailable(client.delete("/v1/services/cafe", headers={**seen, "If-Match": '"cafe-r2"'}))
    # A key this process has not seen is looked up in the store before the write: that lookup fails the same way.
    _store_unavailable(client.post("/v1/services", json=service_data("new-cafe"), headers=unseen))


def test_search_goes_on_from_the_last_index_and_readyz_says_the_store_cannot_be_reached(
    corrupted: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, _, unseen = corrupted
    # A search sent with a key the process has not seen looks it up for its rate tier: it was a 500 with no results
    # and no safety net.
    search = client.get("/v1/search", params=FRIDAY_EVENING, headers=unseen)
    assert search.status_code == 200, search.text
    assert [r["service"]["id"] for r in search.json()["results"]] == ["cafe"]
    assert not client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    ready = client.get("/readyz")
    assert ready.status_code == 200  # search still answers: not a reason to take the process out of service
    assert (ready.json()["status"], ready.json()["store_reachable"]) == ("degraded", False)
    assert client.get("/v1/search", params=FRIDAY_EVENING, headers=unseen).json()["stale_index"] is True


def test_a_production_server_over_a_store_that_is_no_database_starts_and_answers_with_the_safety_net(
    sqlite_engine: Engine,
) -> None:
    # The admin key check at start caught only an unreachable store: over a corrupted file the process would not
    # start at all, and nobody answered with the safety net.
    sqlite_engine.dispose()
    Path(str(sqlite_engine.url.database)).write_bytes(b"not a database at all " * 500)
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        environment="production",
        public_base_url="https://finder.example.org",
    )
    with TestClient(create_app(settings, engine=sqlite_engine), raise_server_exceptions=False) as client:
        search = client.get("/v1/search", params=FRIDAY_EVENING)
        assert search.status_code == 200
        assert "samaritans" in [entry["id"] for entry in search.json()["safety_net"]]
        assert client.get("/readyz").json()["store_reachable"] is False
