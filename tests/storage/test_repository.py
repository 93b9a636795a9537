from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from service_finder.errors import Conflict
from service_finder.storage import migrate, repository
from service_finder.storage.db import write_session
from service_finder.storage.repository import Change
from tests.factories import make_record

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_a_stored_record_reads_back_identical_including_unknowns(engine: Engine) -> None:
    record = make_record(
        eligibility={"accepts_substance_use": None, "gp_registration_required": None, "accepts_intoxicated": False},
        schedules=[
            {
                "id": "hours",
                "sessions": [
                    {"day": "friday", "opens_at": "18:00", "closes_at": "02:00"},
                    {"day": "sunday", "opens_at": "12:00", "closes_at": "24:00"},
                ],
                "bank_holidays": "special",
                "bank_holiday_hours": [{"opens_at": "12:00", "closes_at": "16:00"}],
                "exceptions": [{"start_date": "2026-12-24", "end_date": "2027-01-02", "reason": "Christmas"}],
                "valid_from": "2026-01-01",
            }
        ],
    )
    with Session(engine) as session:
        assert repository.upsert_services(session, [record], actor="test", now=T0)[Change.created] == 1
        session.commit()
    with Session(engine) as session:
        stored = repository.get_service(session, record.id)
    assert stored is not None
    assert stored.record == record
    assert stored.record.eligibility.accepts_substance_use is None
    assert stored.record.eligibility.accepts_intoxicated is False
    assert stored.created_at == T0
    assert stored.revision == 1


def test_a_check_time_with_an_offset_reads_back_as_the_same_instant(engine: Engine) -> None:
    # 09:00 at +05:00 is 04:00 UTC. SQLite keeps no offset: stored as given, it came back as 09:00 UTC, five hours
    # later, so the record was treated as checked (and due for review) later than it was.
    record = make_record(provenance={"verified_at": "2026-10-01T09:00:00+05:00", "verify_due": None})
    with Session(engine) as session:
        repository.upsert_services(session, [record], actor="test", now=T0)
        session.commit()
    with Session(engine) as session:
        stored = repository.get_service(session, record.id)
    assert stored is not None
    assert stored.record.provenance.verified_at == datetime(2026, 10, 1, 4, 0, tzinfo=UTC)
    # And saving it again is not a change.
    with Session(engine) as session:
        assert repository.upsert_services(session, [record], actor="test", now=T0)[Change.unchanged] == 1


def test_reimporting_the_same_record_changes_nothing(engine: Engine) -> None:
    record = make_record()
    with Session(engine) as session:
        repository.upsert_services(session, [record], actor="test", now=T0)
        session.commit()
        version = repository.data_version(session).version
        outcome = repository.upsert_services(session, [record], actor="test", now=T0 + timedelta(hours=1))
        session.commit()
        assert outcome == {Change.unchanged: 1}
        assert repository.data_version(session).version == version
        assert len(repository.service_history(session, record.id)) == 1
        stored = repository.get_service(session, record.id)
    assert stored is not None
    assert stored.last_modified == T0


def test_an_update_is_audited_field_by_field_and_bumps_revision(engine: Engine) -> None:
    before = make_record()
    after = make_record(eligibility={"minimum_age": 16}, name="Leeds Test Café (evenings)")
    with Session(engine) as session:
        repository.upsert_services(session, [before], actor="alice", now=T0)
        session.commit()
        version = repository.data_version(session).version
        outcome = repository.upsert_services(session, [after], actor="bob", now=T0 + timedelta(days=1))
        session.commit()
        history = repository.service_history(session, before.id)
        stored = repository.get_service(session, before.id)
        assert repository.data_version(session).version == version + 1
    assert outcome == {Change.updated: 1}
    changes = {(h.actor, h.action, h.field, h.old_value, h.new_value) for h in history}
    assert ("alice", "create", "", None, None) in changes
    assert ("bob", "update", "eligibility.minimum_age", 18, 16) in changes
    assert ("bob", "update", "name", "Leeds Test Café", "Leeds Test Café (evenings)") in changes
    assert stored is not None
    assert stored.record == after
    assert stored.revision == 2
    assert stored.last_modified == T0 + timedelta(days=1)


def test_removing_a_location_and_phone_on_update_leaves_no_orphans(engine: Engine) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, [make_record()], actor="test", now=T0)
        repository.upsert_services(session, [make_record(locations=[], phones=[], schedules=[])], actor="t", now=T0)
        session.commit()
        stored = repository.get_service(session, "leeds-test-cafe")
    assert stored is not None
    assert stored.record.locations == []
    assert stored.record.phones == []


def test_list_pages_filters_by_kind_and_change_time(engine: Engine) -> None:
    records = [make_record(f"service-{i:02d}", kind="crisis_cafe" if i % 2 else "crisis_house") for i in range(7)]
    with Session(engine) as session:
        repository.upsert_services(session, records[:5], actor="test", now=T0)
        repository.upsert_services(session, records[5:], actor="test", now=T0 + timedelta(hours=2))
        session.commit()
        first = repository.list_services(session, offset=0, limit=3)
        last = repository.list_services(session, offset=6, limit=3)
        houses = repository.list_services(session, kind="crisis_house")
        recent = repository.list_services(session, modified_after=T0 + timedelta(hours=1))
    assert first.total == 7
    assert [s.record.id for s in first.items] == ["service-00", "service-01", "service-02"]
    assert [s.record.id for s in last.items] == ["service-06"]
    assert {s.record.id for s in houses.items} == {"service-00", "service-02", "service-04", "service-06"}
    assert [s.record.id for s in recent.items] == ["service-05", "service-06"]


def test_a_poll_made_while_a_long_write_runs_is_followed_by_one_that_sees_all_of_it(engine: Engine) -> None:
    # A poll reads committed rows only: one made while an import of minutes is writing sees none of it. The next
    # asks for what changed after that poll, and the import's changes, stamped when it began, were never listed.
    polled_at: list[datetime] = []

    def poll_meanwhile(_written: int) -> None:
        polled_at.append(datetime.now(UTC))
        with Session(engine) as reader:
            assert repository.list_services(reader, modified_after=T0).items == []

    with write_session(engine) as session:
        repository.upsert_services(
            session, [make_record("a"), make_record("b")], actor="cli:import:file.json", progress=poll_meanwhile
        )
        session.commit()
    with Session(engine) as reader:
        page = repository.list_services(reader, modified_after=polled_at[-1])
        changed_at = [entry.changed_at for entry in repository.service_history(reader, "a")]
    assert [s.record.id for s in page.items] == ["a", "b"]
    assert all(s.created_at == s.last_modified for s in page.items)
    assert min(at.replace(tzinfo=at.tzinfo or UTC) for at in changed_at) > polled_at[-1]


def test_iterating_every_service_crosses_batches_in_id_order(engine: Engine) -> None:
    records = [make_record(f"svc-{i:03d}") for i in range(25)]
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="test", now=T0)
        session.commit()
        ids = [s.record.id for s in repository.iter_all_services(session, batch=7)]
    assert ids == sorted(r.id for r in records)


def test_a_changed_organisation_or_location_is_stored_and_an_unchanged_one_is_left_alone(engine: Engine) -> None:
    first = make_record("a")
    renamed = make_record(
        "a",
        organisation={"id": "test-org", "name": "Renamed Organisation"},
        locations=[{**first.locations[0].model_dump(), "name": "New Civic Hall"}],
    )
    with Session(engine) as session:
        repository.upsert_services(session, [first, make_record("b")], actor="test", now=T0)
        repository.upsert_services(session, [renamed], actor="test", now=T0 + timedelta(hours=1))
        session.commit()
        stored_a, stored_b = repository.get_service(session, "a"), repository.get_service(session, "b")
    assert stored_a is not None
    assert stored_b is not None
    assert stored_a.record.organisation.name == "Renamed Organisation"
    assert stored_a.record.locations[0].name == "New Civic Hall"
    # The organisation is shared: "b" now shows the new name too. That is a change to "b" as its callers see it,
    # so it gets a new revision (its ETag and `modified_after` polling move) and an audit entry saying what
    # changed; its location (its own id, not shared) is untouched.
    assert stored_b.record.organisation.name == "Renamed Organisation"
    assert stored_b.record.locations[0].name == first.locations[0].name
    assert stored_b.revision == 2
    assert stored_b.last_modified == T0 + timedelta(hours=1)
    with Session(engine) as session:
        history = [(e.action, e.field, e.new_value) for e in repository.service_history(session, "b")]
    assert history[-1] == ("update", "organisation.name", "Renamed Organisation")


def test_a_schedule_id_another_writer_took_at_the_same_time_is_a_conflict_and_nothing_is_written(
    engine: Engine,
) -> None:
    # Two writers can both look for a new schedule id before either writes (PostgreSQL lets them): the second's
    # insert meets the first's row. It was a 500; it is a 409, and the second service is not half-written.
    # Simulated by a look that finds nothing.
    hours = [{"id": "evening-hours", "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "23:00"}]}]
    with Session(engine) as session:
        repository.upsert_services(session, [make_record("first", schedules=hours)], actor="first", now=T0)
        session.commit()
    nothing_found = patch.object(repository, "_refuse_schedule_ids_of_others", lambda session, records: None)
    with Session(engine) as session, nothing_found, pytest.raises(Conflict) as raised:
        repository.upsert_services(session, [make_record("second", schedules=hours)], actor="second", now=T0)
    assert raised.value.status == 409
    assert "taken by another service at the same time" in raised.value.detail
    if engine.dialect.name == "postgresql":  # SQLite serialises writers (no race) and does not name the key
        assert (raised.value.field, raised.value.value) == ("schedules.0.id", "evening-hours")
    with Session(engine) as session:
        assert repository.get_service(session, "second") is None
        first = repository.get_service(session, "first")
    assert first is not None
    assert [s.id for s in first.record.schedules] == ["evening-hours"]


def test_a_location_shared_with_another_service_moves_it_too_and_says_so(engine: Engine) -> None:
    # One building, two services: a write with the building's new address, allowed to change shared rows (an import
    # with shared updates asked for), changes the other's too; the other gets a new revision and an audit entry for
    # it. Without that, an import refuses it (tests/importers/test_pipeline.py).
    shared = {"id": "shared-hall", "postcode": "LS1 1UR", "latitude": 53.801277, "longitude": -1.548567}
    a, b = make_record("a", locations=[shared]), make_record("b", locations=[shared])
    moved = make_record("a", locations=[{**shared, "address": "2 New Street"}])
    with Session(engine) as session:
        repository.upsert_services(session, [a, b], actor="test", now=T0)
        repository.upsert_services(session, [moved], actor="test", now=T0 + timedelta(hours=1))
        session.commit()
        stored_b = repository.get_service(session, "b")
        history = [(e.field, e.old_value, e.new_value) for e in repository.service_history(session, "b")]
    assert stored_b is not None
    assert stored_b.record.locations[0].address == "2 New Street"
    assert stored_b.revision == 2
    assert history[-1] == ("locations[shared-hall].address", "", "2 New Street")


def test_a_creation_another_writer_got_in_first_is_a_conflict_naming_the_id(engine: Engine) -> None:
    # Two creators can both look before either writes (PostgreSQL lets them): the second's insert meets the first's
    # row. Simulated by a look that finds nothing.
    with Session(engine) as session:
        repository.upsert_services(session, [make_record("cafe", name="First")], actor="first", now=T0)
        session.commit()
    nothing_found = patch.object(repository, "get_services", lambda session, ids: dict[str, object]())
    with Session(engine) as session, nothing_found, pytest.raises(Conflict) as raised:
        repository.upsert_services(session, [make_record("cafe", name="Second")], actor="second", create_only=True)
    assert (raised.value.field, raised.value.value) == ("id", "cafe")
    assert "written by someone else at the same time" in raised.value.detail
    with Session(engine) as session:
        stored = repository.get_service(session, "cafe")
    assert stored is not None
    assert stored.record.name == "First"
