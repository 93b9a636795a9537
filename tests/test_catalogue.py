"""The live index: a store it cannot build from never leaves the process without answers, and two rebuilds never
install an older version over a newer one."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder import catalogue as catalogue_module
from service_finder.catalogue import Catalogue
from service_finder.models import Service
from service_finder.search.index import DirectoryIndex
from service_finder.storage import repository
from tests.factories import make_record

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _store(engine: Engine, *records: Any) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, list(records), actor="test", now=NOW)
        session.commit()


def _set_verified_at(engine: Engine, service_id: str, verified_at: datetime) -> None:
    """Written past the schema, as a write before the years were bounded could have (9999 froze the index)."""
    with Session(engine) as session:
        session.execute(
            sa.update(Service).where(Service.id == service_id).values(verified_at=verified_at)  # type: ignore[arg-type]
        )
        repository.bump_data_version(session, NOW)
        session.commit()


def test_a_store_the_index_cannot_be_built_from_keeps_the_last_index_answering(
    client: TestClient, engine: Engine
) -> None:
    _store(engine, make_record("leeds-cafe"))
    catalogue: Catalogue = client.app.state.service_finder.catalogue  # type: ignore[attr-defined]
    assert catalogue.refresh()
    built = catalogue.snapshot.index.version
    _set_verified_at(engine, "leeds-cafe", datetime(9999, 12, 31))

    assert catalogue.refresh() is False
    assert catalogue.snapshot.index.version == built  # still answering from the last good index
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert (ready.json()["index_stale"], ready.json()["store_reachable"]) == (True, True)
    search = client.get("/v1/search", params={"lat": 53.8, "lon": -1.55, "open": "any"}).json()
    assert search["stale_index"] is True
    assert [r["service"]["id"] for r in search["results"]] == ["leeds-cafe"]
    assert search["safety_net"]

    # Put right by an operator (the record cannot be read, so not through the API): the next poll rebuilds.
    _set_verified_at(engine, "leeds-cafe", datetime(2026, 10, 1, 9, 0))
    assert catalogue.refresh()
    assert client.get("/readyz").json()["index_stale"] is False


def test_two_rebuilds_never_install_an_older_version_over_a_newer_one(engine: Engine) -> None:
    # Rebuild A reads version n and is slow to build; meanwhile a write makes n + 1 and rebuild B starts. Without one
    # rebuild at a time B could install n + 1 and A then install n over it (seen under concurrent editor writes).
    _store(engine, make_record("a-cafe"))
    catalogue = Catalogue(engine, poll_seconds=3600)
    real_load = catalogue_module.load_index
    a_loading, a_may_finish = threading.Event(), threading.Event()
    installed: list[int] = []

    def load(store: Engine) -> DirectoryIndex:
        index = real_load(store)
        if threading.current_thread().name == "rebuild-a":
            a_loading.set()
            assert a_may_finish.wait(timeout=30)
        installed.append(index.version)
        return index

    # Rebuilds run one at a time (a lock), so B would wait for A; the lock is lifted here to show the second
    # guard: whatever the order they finish in, a build older than the index installed is dropped.
    with patch.object(catalogue_module, "load_index", load), patch.object(catalogue, "_lock", nullcontext()):
        first = threading.Thread(target=catalogue.refresh, name="rebuild-a")
        first.start()
        assert a_loading.wait(timeout=30)
        _store(engine, make_record("b-cafe"))  # version n + 1
        catalogue.refresh()  # rebuild B, complete while A is still building version n
        assert catalogue.snapshot.index.version == installed[-1]
        a_may_finish.set()
        first.join(timeout=30)
    with Session(engine) as session:
        newest = repository.data_version(session).version
    assert catalogue.snapshot.index.version == newest
    assert installed == sorted(installed, reverse=True)  # B built first, then A finished with the older version
    assert {r.id for r in catalogue.snapshot.index.services} == {"a-cafe", "b-cafe"}
