"""Replicas that start together all migrate the same empty PostgreSQL database: they must take turns."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from service_finder.storage import migrate
from service_finder.storage.db import create_db_engine, normalise_url
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres

MIGRATE = (
    "import sys; from service_finder.storage import db, migrate; migrate.upgrade(db.create_db_engine(sys.argv[1]))"
)


@pytest.fixture
def empty_database() -> Iterator[str]:
    admin = sa.create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"service_finder_migrate_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(normalise_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_four_processes_migrating_one_empty_database_at_once_all_succeed(empty_database: str) -> None:
    # Real processes, started together, as replicas of one Deployment would be.
    processes = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, empty_database], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    failures = [error for process, error in zip(processes, errors, strict=True) if process.returncode != 0]
    assert failures == []
    engine = create_db_engine(empty_database)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
