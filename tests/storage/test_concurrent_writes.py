"""Two writers at once on a real PostgreSQL, with two connections. SQLite serialises writers at BEGIN IMMEDIATE, so
these races are PostgreSQL's: there READ COMMITTED lets a second writer check before the first commits and write
after it. Each test holds the first writer's transaction open until the second is waiting for it (seen in
pg_locks, never timed), then commits it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from service_finder.api.routes import editor
from service_finder.config import Settings
from service_finder.errors import Conflict
from service_finder.main import create_app
from service_finder.storage import repository
from service_finder.storage.db import write_session
from tests.conftest import GAZETTEER
from tests.factories import make_record, service_data

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres_engine: Engine) -> Engine:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return postgres_engine


@pytest.fixture
def client(store: Engine) -> Iterator[TestClient]:
    settings = Settings(database_url=str(store.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    with TestClient(create_app(settings, engine=store), raise_server_exceptions=False) as test_client:
        yield test_client


def _write_key(engine: Engine) -> dict[str, str]:
    with write_session(engine) as session:
        key = repository.create_api_key(session, name="editor", scopes=["write"], now=datetime.now(UTC))
        session.commit()
    return {"Authorization": f"Bearer {key}"}


def _until_waiting(engine: Engine, worker: threading.Thread) -> None:
    """Returns once a connection to this test's database waits for a lock (or `worker` has finished without)."""
    query = sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_locks JOIN pg_stat_activity USING (pid) "
        "WHERE NOT granted AND datname = current_database())"
    )
    with engine.connect() as watcher:
        while worker.is_alive() and not watcher.execute(query).scalar_one():
            pass


def _while_open(
    engine: Engine,
    first: Callable[[Session], object],
    second: Callable[[], object],
    meanwhile: Callable[[], object] = lambda: None,
) -> dict[str, Any]:
    """`first` in one transaction; while it is still open, `second` in a thread. Once something waits for the first,
    `meanwhile`, then the first commits. What the second returned or raised, under "result" or "error"."""
    outcome: dict[str, Any] = {}

    def run_second() -> None:
        try:
            outcome["result"] = second()
        except Exception as error:  # the test reads it
            outcome["error"] = error

    with write_session(engine) as session:
        first(session)
        worker = threading.Thread(target=run_second)
        worker.start()
        _until_waiting(engine, worker)
        meanwhile()
        session.commit()
    worker.join()
    return outcome


def _in_a_transaction(engine: Engine, write: Callable[[Session], object]) -> Callable[[], object]:
    def run() -> object:
        with write_session(engine) as session:
            result = write(session)
            session.commit()
        return result

    return run


SITE = service_data("a")["locations"][0]
CAFE = service_data("cafe", organisation={"id": "cafe-org", "name": "Cafe Charity"})


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (
            {"locations": [{**SITE, "id": "new-site", "address": "1 First Street"}]},
            {"locations": [{**SITE, "id": "new-site", "address": "99 Other Road"}]},
            "locations.0.address",
        ),
        (
            {"organisation": {"id": "new-org", "name": "First Charity"}},
            {"organisation": {"id": "new-org", "name": "Another Charity"}},
            "organisation.name",
        ),
    ],
)
def test_two_editors_creating_services_that_name_one_new_place_cannot_both_write_it(
    store: Engine, first: dict[str, Any], second: dict[str, Any], field: str
) -> None:
    # Both name a location (or organisation) that does not exist yet, with different details. The second checked
    # before the first committed, found nothing to share, and its upsert then overwrote the first's new row: the
    # first service showed the other's address, at revision 1, with only "create" in its history.
    a, b = make_record("a", **first), make_record("b", **second)

    def create(record: Any) -> Callable[[Session], object]:
        return lambda session: repository.upsert_services(
            session, [record], actor="editor", create_only=True, own_rows_only=True
        )

    outcome = _while_open(store, create(a), _in_a_transaction(store, create(b)))

    assert isinstance(outcome.get("error"), Conflict), outcome
    assert outcome["error"].field == field
    with Session(store) as session:
        stored = repository.get_service(session, "a")
        assert repository.get_service(session, "b") is None
        history = [entry.action for entry in repository.service_history(session, "a")]
    assert stored is not None
    assert (stored.record.locations, stored.record.organisation) == (a.locations, a.organisation)
    assert (stored.revision, history) == (1, ["create"])


def test_two_editors_restoring_one_deleted_service_get_a_conflict_not_a_stale_etag(store: Engine) -> None:
    # POST restores a deleted service. The second of two at once answered 412, which POST does not document (it
    # sends no If-Match): it is the 409 any creation of an existing service gets.
    with write_session(store) as session:
        repository.upsert_services(session, [make_record("cafe")], actor="setup")
        repository.delete_service(session, "cafe", expected_revision=1, actor="setup", now=datetime.now(UTC))
        session.commit()

    def restore(alert: str) -> Callable[[Session], object]:
        return lambda session: repository.upsert_services(
            session, [make_record("cafe", alert=alert)], actor=alert, create_only=True, own_rows_only=True
        )

    outcome = _while_open(store, restore("one"), _in_a_transaction(store, restore("two")))

    assert isinstance(outcome.get("error"), Conflict), outcome
    assert (outcome["error"].field, outcome["error"].value) == ("id", "cafe")
    with Session(store) as session:
        stored = repository.get_service(session, "cafe")
    assert stored is not None
    assert (stored.record.alert, stored.revision) == ("one", 3)


def test_an_edit_waiting_too_long_behind_an_import_is_a_503_with_retry_after(store: Engine, client: TestClient) -> None:
    # An import holds the directory for as long as it writes; an edit waits for it, and past WRITE_LOCK_WAIT is told
    # to come back, with nothing written, rather than a 500.
    headers = _write_key(store)
    with write_session(store) as importing, patch.object(editor, "WRITE_LOCK_WAIT", timedelta(milliseconds=1)):
        # Should the edit wait for ever (a regression), the server ends the import after a while, so the test fails
        # rather than hangs.
        importing.connection().execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = '60s'"))
        repository.upsert_services(importing, [make_record("imported")], actor="cli:import:file.json")
        response = client.post("/v1/services", json=CAFE, headers=headers)
        importing.commit()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert client.get("/v1/services/cafe").status_code == 404
    assert client.post("/v1/services", json=CAFE, headers=headers).status_code == 201


def test_a_removal_waiting_behind_an_import_is_seen_by_a_poll_made_while_it_waited(
    store: Engine, client: TestClient
) -> None:
    # The removal was stamped when the request came, before it waited for the import: a poll made while it waited
    # saw nothing, and the next, from that poll's time, never listed the removal, so a partner went on offering it.
    with write_session(store) as session:
        repository.upsert_services(session, [make_record("cafe")], actor="setup")
        session.commit()
    headers = {**_write_key(store), "If-Match": '"cafe-r1"'}
    polled_at: list[datetime] = []

    def import_a_file(session: Session) -> None:
        repository.upsert_services(session, [make_record("imported")], actor="cli:import:file.json")

    def poll() -> None:
        polled_at.append(datetime.now(UTC))
        assert client.get("/v1/services", params={"modified_after": polled_at[0].isoformat()}).json()["removed"] == []

    outcome = _while_open(store, import_a_file, lambda: client.delete("/v1/services/cafe", headers=headers), poll)

    assert outcome["result"].status_code == 204
    removed = client.get("/v1/services", params={"modified_after": polled_at[0].isoformat()}).json()["removed"]
    assert [r["id"] for r in removed] == ["cafe"]
