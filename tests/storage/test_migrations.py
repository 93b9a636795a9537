"""Data migrations keep what each stored record says, in a form the current rules accept, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.catalogue import load_index
from service_finder.domain.opening_hours import is_open, to_london
from service_finder.storage import migrate, repository
from tests.factories import make_record

CHRISTMAS_NOON = to_london(datetime(2026, 12, 25, 12, 0, tzinfo=UTC))
CHRISTMAS_EVE_NOON = to_london(datetime(2026, 12, 24, 12, 0, tzinfo=UTC))


def test_a_24_7_schedule_stored_as_closed_on_bank_holidays_is_kept_readable_and_closed_on_them(
    engine: Engine,
) -> None:
    always = {"id": "line-hours", "always_open": True, "sessions": [], "bank_holidays": "as_usual"}
    with Session(engine) as session:
        repository.upsert_services(session, [make_record("line", schedules=[always])], actor="setup")
        session.commit()
        before = repository.get_service(session, "line")
        version = repository.data_version(session).version
    assert before is not None
    # As the API accepted before 0003: 24/7, yet closed on bank holidays (written past today's validation).
    migrate.downgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE schedule SET bank_holidays = 'closed' WHERE id = 'line-hours'"))

    migrate.upgrade(engine)

    loaded = load_index(engine)
    assert loaded.unreadable == ()  # not dropped from search as unreadable
    (record,) = loaded.index.services
    (hours,) = [schedule.to_domain() for schedule in record.schedules]
    assert not is_open([hours], CHRISTMAS_NOON)  # what its record said
    assert is_open([hours], CHRISTMAS_EVE_NOON)
    with Session(engine) as session:
        after = repository.get_service(session, "line")
        assert after is not None
        assert after.revision == before.revision + 1  # ETags and modified_after pollers see the change
        assert repository.data_version(session).version > version  # running processes rebuild
        audit = [e for e in repository.service_history(session, "line") if e.actor == "migration:0003"]
    assert [(e.action, e.field) for e in audit] == [("update", "schedules[line-hours]")]


def test_the_migration_leaves_every_other_schedule_alone(engine: Engine) -> None:
    records = [make_record("cafe"), make_record("line", schedules=[{"id": "l", "always_open": True, "sessions": []}])]
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="setup")
        session.commit()
        version = repository.data_version(session).version
    before = load_index(engine).index.services
    migrate.downgrade(engine, "0002")
    migrate.upgrade(engine)
    assert load_index(engine).index.services == before
    with Session(engine) as session:
        assert repository.data_version(session).version == version


def test_link_ids_stored_before_0004_are_rewritten_and_the_pair_that_collided_can_be_saved(engine: Engine) -> None:
    site = make_record("x").locations[0].model_dump() | {"id": "bb--cc"}
    with Session(engine) as session:
        repository.upsert_services(session, [make_record("aa", locations=[site])], actor="setup")
        session.commit()
    migrate.downgrade(engine, "0003")  # links as 0003 stored them
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id FROM service_at_location")).scalars().all() == ["aa--bb--cc"]

    migrate.upgrade(engine)

    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id FROM service_at_location")).scalars().all() == ["aa/bb--cc"]
    # Once 'aa--bb--cc' too: now saved beside it, and the first still reads and saves.
    other = make_record("aa--bb", locations=[site | {"id": "cc"}])
    moved = make_record("aa", name="Renamed", locations=[site])
    with Session(engine) as session:
        repository.upsert_services(session, [other, moved], actor="test")
        session.commit()
        stored = repository.get_services(session, ["aa", "aa--bb"])
    assert {sid: [loc.id for loc in s.record.locations] for sid, s in stored.items()} == {  # type: ignore[union-attr]
        "aa": ["bb--cc"],
        "aa--bb": ["cc"],
    }
