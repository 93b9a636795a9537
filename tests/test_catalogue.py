"""The live index: a store it cannot build from never leaves the process without answers, and two rebuilds never
install an older version over a newer one."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from datetime import UTC, datetime
from time import perf_counter
from types import SimpleNamespace
from typing import Any, ClassVar
from unittest.mock import patch

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder import catalogue as catalogue_module
from service_finder.catalogue import Catalogue, load_index
from service_finder.errors import RecordUnreadable
from service_finder.models import Service
from service_finder.schemas import ServiceRecord
from service_finder.search import packed as packed_module
from service_finder.search.index import DirectoryIndex
from service_finder.search.packed import PackedRecords, Packer
from service_finder.storage import repository
from tests.factories import make_record, service_data

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _store(engine: Engine, *records: Any) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, list(records), actor="test", now=NOW)
        session.commit()


def _editor(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        key = repository.create_api_key(session, name="editor", scopes=["write"], now=NOW)
        session.commit()
    return {"Authorization": f"Bearer {key}"}


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
    _store(engine, make_record("york-cafe"))
    # A fault in the build itself (a bug, memory): injected, as no stored data can cause one any more.
    with patch.object(DirectoryIndex, "build", side_effect=MemoryError):
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

    assert catalogue.refresh()  # the next poll builds it
    assert client.get("/readyz").json()["index_stale"] is False
    assert {r.id for r in catalogue.snapshot.index.services} == {"leeds-cafe", "york-cafe"}


def test_a_record_that_no_longer_validates_keeps_its_last_readable_version_and_stops_nothing_else(
    client: TestClient, engine: Engine
) -> None:
    editor_headers = _editor(engine)
    _store(engine, make_record("leeds-cafe"), make_record("york-cafe"))
    catalogue: Catalogue = client.app.state.service_finder.catalogue  # type: ignore[attr-defined]
    assert catalogue.refresh()
    _set_verified_at(engine, "leeds-cafe", datetime(9999, 12, 31))  # unreadable now
    _store(engine, make_record("york-cafe", name="York Crisis Cafe (renamed)"))  # an ordinary change meanwhile

    assert catalogue.refresh()  # the rest of the directory moves on
    index = catalogue.snapshot.index
    assert index.services[index.position["york-cafe"]].name == "York Crisis Cafe (renamed)"
    kept = index.services[index.position["leeds-cafe"]]
    assert kept.provenance.verified_at is not None
    assert kept.provenance.verified_at.year < 2100  # its last readable version
    ready = client.get("/readyz").json()
    assert (ready["status"], ready["unreadable_records"], ready["index_stale"]) == ("degraded", ["leeds-cafe"], False)
    assert "service_finder_unreadable_records 1.0" in client.get("/metrics").text

    # The record itself: a problem naming it, the fields at fault and the ETag to repair it with.
    problem = client.get("/v1/services/leeds-cafe")
    assert problem.status_code == 500
    body = problem.json()
    assert body["type"].endswith("/record-unreadable")
    assert (body["value"], body["fields"]) == ("leeds-cafe", ["provenance.verified_at"])
    assert "9999" not in problem.text  # where it fails, not what it holds
    # Paging the directory is not stopped by it: named, and left out of the items.
    listing = client.get("/v1/services").json()
    assert ([i["id"] for i in listing["items"]], listing["unreadable"]) == (["york-cafe"], ["leeds-cafe"])
    assert client.post("/v1/services", json=service_data("leeds-cafe"), headers=editor_headers).status_code == 409

    moved = service_data("leeds-cafe")
    moved["locations"][0]["address"] = "1 New Street"
    repaired = client.put("/v1/services/leeds-cafe", json=moved, headers={**editor_headers, "If-Match": body["etag"]})
    assert repaired.status_code == 200, repaired.text
    assert client.get("/v1/services/leeds-cafe").status_code == 200
    ready = client.get("/readyz").json()
    assert (ready["status"], ready["unreadable_records"]) == ("ready", [])
    history = client.get("/v1/services/leeds-cafe/history").json()
    repair = [e for e in history if e["action"] == "repair"]
    assert [e["field"] for e in repair] == ["provenance.verified_at"]
    # What the repair changed is in the history too, compared with the rows as they were stored.
    changes = {e["field"]: (e["old_value"], e["new_value"]) for e in history[history.index(repair[0]) + 1 :]}
    assert changes["verified_at"][0].startswith("9999-12-31")
    # Every change and nothing else: the site it moved (left out before), and no instant "changed" to itself.
    assert set(changes) == {"verified_at", "locations"}
    assert [place["address"] for place in changes["locations"][1]] == ["1 New Street"]


def test_at_start_up_an_unreadable_record_is_left_out_and_everything_else_is_served(
    client: TestClient, engine: Engine
) -> None:
    editor_headers = _editor(engine)
    _store(engine, make_record("leeds-cafe"), make_record("york-cafe"))
    _set_verified_at(engine, "leeds-cafe", datetime(9999, 12, 31))
    fresh = Catalogue(engine, poll_seconds=3600)  # a process starting now has no earlier version to keep
    assert fresh.refresh()
    assert [r.id for r in fresh.snapshot.index.services] == ["york-cafe"]
    assert fresh.snapshot.unreadable == ("leeds-cafe",)
    assert fresh.snapshot.stale is False

    # An editor can also remove it, by its revision alone.
    etag = client.get("/v1/services/leeds-cafe").json()["etag"]
    gone = client.delete("/v1/services/leeds-cafe", headers={**editor_headers, "If-Match": etag})
    assert gone.status_code == 204, gone.text
    assert fresh.refresh()
    assert not fresh.snapshot.unreadable


def test_an_export_refuses_rather_than_silently_leaving_an_unreadable_record_out(engine: Engine) -> None:
    _store(engine, make_record("leeds-cafe"), make_record("york-cafe"))
    _set_verified_at(engine, "leeds-cafe", datetime(9999, 12, 31))
    with Session(engine) as session, pytest.raises(RecordUnreadable, match="leeds-cafe"):
        list(repository.iter_all_services(session))


def test_two_rebuilds_never_install_an_older_version_over_a_newer_one(engine: Engine) -> None:
    # Rebuild A reads version n and is slow to build; meanwhile a write makes n + 1 and rebuild B starts. Without one
    # rebuild at a time B could install n + 1 and A then install n over it (seen under concurrent editor writes).
    _store(engine, make_record("a-cafe"))
    catalogue = Catalogue(engine, poll_seconds=3600)
    real_load = catalogue_module.load_index
    a_loading, a_may_finish = threading.Event(), threading.Event()
    installed: list[int] = []

    def load(store: Engine, previous: DirectoryIndex | None = None, **watched: Any) -> catalogue_module.Loaded:
        loaded = real_load(store, previous, **watched)
        if threading.current_thread().name == "rebuild-a":
            a_loading.set()
            assert a_may_finish.wait(timeout=30)
        installed.append(loaded.index.version)
        return loaded

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


def _stalling(gate: threading.Event, stalled: threading.Event) -> Any:
    """repository.iter_all_services as a store that stops answering after its first service, until `gate` opens."""
    real = repository.iter_all_services

    def stalling(session: Session, **options: Any) -> Any:
        for n, service in enumerate(real(session, **options)):
            if n == 1:
                stalled.set()
                assert gate.wait(timeout=30)
            yield service

    return stalling


def test_a_store_that_stops_answering_in_the_middle_of_a_rebuild_is_reported(engine: Engine) -> None:
    # It used to be watched only while the version was read: a hang in the rebuild's reads that follow left the
    # index saying it was fresh, and /readyz ready, for as long as the store hung.
    _store(engine, make_record("a-cafe"))
    catalogue = Catalogue(engine, poll_seconds=3600)
    assert catalogue.refresh()
    _store(engine, make_record("b-cafe"), make_record("c-cafe"))
    gate, stalled = threading.Event(), threading.Event()
    with (
        patch.object(repository, "iter_all_services", _stalling(gate, stalled)),
        patch.object(catalogue_module, "STORE_CHECK_DEADLINE_SECONDS", 0.0),  # overdue at once: no sleeping
    ):
        rebuild = threading.Thread(target=catalogue.refresh)
        rebuild.start()
        assert stalled.wait(timeout=30)
        catalogue.check_overdue()  # what the poller runs when a refresh has not finished in time
        assert catalogue.snapshot.stale
        assert catalogue.snapshot.store_unreachable
        gate.set()
        rebuild.join(timeout=30)
    assert not catalogue.snapshot.stale
    assert {r.id for r in catalogue.snapshot.index.services} == {"a-cafe", "b-cafe", "c-cafe"}


def test_a_long_build_after_the_store_has_answered_is_not_taken_for_a_hang(engine: Engine) -> None:
    # Building a million services takes seconds of CPU after the reads: the store is not what is slow then.
    _store(engine, make_record("a-cafe"))
    catalogue = Catalogue(engine, poll_seconds=3600)
    assert catalogue.refresh()
    _store(engine, make_record("b-cafe"))
    building, may_finish = threading.Event(), threading.Event()
    real_build = DirectoryIndex.build

    def slow_build(records: Iterable[ServiceRecord], **kwargs: Any) -> DirectoryIndex:
        read = list(records)  # the records are streamed into the build: every one read from the store
        building.set()
        assert may_finish.wait(timeout=30)
        return real_build(read, **kwargs)

    with (
        patch.object(DirectoryIndex, "build", side_effect=slow_build),
        patch.object(catalogue_module, "STORE_CHECK_DEADLINE_SECONDS", 0.0),
    ):
        rebuild = threading.Thread(target=catalogue.refresh)
        rebuild.start()
        assert building.wait(timeout=30)
        catalogue.check_overdue()
        assert not catalogue.snapshot.stale
        may_finish.set()
        rebuild.join(timeout=30)
    assert {r.id for r in catalogue.snapshot.index.services} == {"a-cafe", "b-cafe"}


def test_an_index_build_reads_the_store_as_it_was_at_one_moment(engine: Engine) -> None:
    # Read in batches, each a statement of its own: on PostgreSQL an organisation renamed while the index was being
    # read showed two names across its services (and the index claimed a data version it did not match).
    org = {"id": "shared-org", "name": "Old Name"}
    _store(engine, *(make_record(f"cafe-{n}", organisation=org) for n in range(3)))
    real = repository.iter_all_services

    def renamed_after_the_first(session: Session, **options: Any) -> Any:
        for position, service in enumerate(real(session, batch=1, **options)):
            if position == 0:
                _store(engine, make_record("cafe-0", organisation={**org, "name": "New Name"}))
            yield service

    with patch.object(repository, "iter_all_services", renamed_after_the_first):
        loaded = catalogue_module.load_index(engine)
    assert {record.organisation.name for record in loaded.index.services} == {"Old Name"}
    assert loaded.index.version < catalogue_module.load_index(engine).index.version


def test_the_index_knows_when_each_stored_service_last_changed(engine: Engine) -> None:
    # Read from the store while the index is built from the same stream: HSDS, FHIR and /v1/services say it.
    _store(engine, make_record("a-cafe"), make_record("b-cafe"))
    index = load_index(engine).index
    assert [index.last_modified[index.position[service]] for service in ("a-cafe", "b-cafe")] == [NOW, NOW]


def test_a_rebuild_growing_past_the_packing_threshold_is_not_taken_for_a_hung_store(engine: Engine) -> None:
    # Above PACK_ABOVE the records are packed as they stream in. Decided part-way, the switch repacked every record
    # kept so far between two store answers (~6 s at 200,000): /readyz, metrics and answers said the store was down.
    _store(engine, *(make_record(f"cafe-{n}") for n in range(3)))
    catalogue = Catalogue(engine, poll_seconds=3600)
    assert catalogue.refresh()
    _store(engine, *(make_record(f"cafe-{n}") for n in range(3, 7)))
    clock = [1000.0]
    real_add = Packer.add
    stale: list[bool] = []

    def slow_add(self: Packer, record: ServiceRecord) -> None:
        clock[0] += 1.6  # each record packed stands for 50,000: 1.6 s of CPU, no store involved
        real_add(self, record)
        catalogue.check_overdue()  # what the poller runs meanwhile
        stale.append(catalogue.snapshot.store_unreachable)

    with (
        patch.object(catalogue_module, "time", SimpleNamespace(monotonic=lambda: clock[0], perf_counter=perf_counter)),
        patch.object(packed_module, "PACK_ABOVE", 3),
        patch.object(Packer, "add", slow_add),
    ):
        assert catalogue.refresh()
    assert isinstance(catalogue.snapshot.index.services, PackedRecords)
    assert len(stale) == 7
    assert not any(stale)


class _Watched(DirectoryIndex):
    """Notes, at each build, whether the cyclic garbage collector could run."""

    collector_enabled: ClassVar[list[bool]] = []

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> DirectoryIndex:
        _Watched.collector_enabled.append(gc.isenabled())
        return DirectoryIndex.build(*args, **kwargs)


def test_a_rebuild_is_not_stalled_by_the_collector_and_leaves_it_running_even_when_it_fails(engine: Engine) -> None:
    # A full collection mid-build walked the whole new index (~0.5 s at 100,000 services) while holding the GIL:
    # every search in flight waited. The collector must come back on afterwards, or memory would only ever grow.
    _store(engine, make_record("a-cafe"))
    catalogue = Catalogue(engine, poll_seconds=3600)
    _Watched.collector_enabled.clear()
    with patch.object(catalogue_module, "DirectoryIndex", _Watched):
        assert load_index(engine).index.position.keys() == {"a-cafe"}
        assert gc.isenabled()
        with patch.object(_Watched, "build", side_effect=ValueError("a record the index cannot take")):
            assert catalogue.refresh() is False
    assert catalogue.snapshot.build_failed
    assert _Watched.collector_enabled == [False]
    assert gc.isenabled()


@pytest.fixture
def frozen_after() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks[:] = [c for c in gc.callbacks if getattr(c, "__name__", "") != "walked_by"]
        gc.unfreeze()


@pytest.mark.usefixtures("frozen_after")
def test_with_gc_freeze_no_collection_ever_walks_a_rebuilt_index_and_the_one_it_replaced_is_freed(
    engine: Engine,
) -> None:
    # Each collection walks every object in the generations it collects, holding the GIL: at 100,000 services a
    # rebuilt index kept ~1 s of searches waiting, during the build or just after it (benchmarks/bench_rebuild.py).
    _store(engine, make_record("a-cafe"))
    catalogue = Catalogue(engine, poll_seconds=3600, freeze=True)
    assert catalogue.refresh()
    first = weakref.ref(catalogue.snapshot.index)
    _store(engine, make_record("b-cafe"))
    built: list[ServiceRecord] = []
    walked: list[bool] = []

    def walked_by(phase: str, info: dict[str, int]) -> None:  # the first collection once the build is done
        if phase == "start" and built and not walked:
            walked.append(any(tracked is built[0] for tracked in gc.get_objects()))

    class Noted(DirectoryIndex):
        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> DirectoryIndex:
            index = DirectoryIndex.build(*args, **kwargs)
            built.append(index.services[index.position["b-cafe"]])
            return index

    gc.callbacks.append(walked_by)
    gc.set_threshold(1)  # a collection at the first allocation the collector is allowed to answer
    with patch.object(catalogue_module, "DirectoryIndex", Noted):
        assert catalogue.refresh()
    gc.collect(0)
    assert walked == [False]
    assert catalogue.snapshot.index.services[catalogue.snapshot.index.position["b-cafe"]] is built[0]
    # Freezing stops the collector walking objects, not reference counting freeing them.
    assert first() is None

    unfrozen = Catalogue(engine, poll_seconds=3600)
    assert unfrozen.refresh()
    record = unfrozen.snapshot.index.services[0]
    assert any(tracked is record for tracked in gc.get_objects())
