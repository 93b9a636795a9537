"""Fixtures shared by the whole suite: the two real stores, the real gazetteer, an app client."""

from __future__ import annotations

import io
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.observability import JsonFormatter
from service_finder.schemas import ServiceRecord
from service_finder.storage import migrate, repository
from service_finder.storage.db import create_db_engine, normalise_url

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("SERVICE_FINDER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
GAZETTEER = REPO / "data" / "gazetteer" / "england.npz"


def seeded_store(url: str, records: list[ServiceRecord]) -> str:
    """Migrate the store at `url` and save `records` in it, as a server under test would find it."""
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="setup")
        session.commit()
    engine.dispose()
    return url


@contextmanager
def json_log() -> Iterator[io.StringIO]:
    """Everything the service logs meanwhile, as its JSON lines. The test's own HTTP client logs the URLs it
    requests, so its loggers are quietened: the server is what is under test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    client_loggers = [logging.getLogger(name) for name in ("httpx", "httpx2")]
    levels = [logger.level for logger in client_loggers]
    for logger in client_loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        for logger, level in zip(client_loggers, levels, strict=True):
            logger.setLevel(level)
        logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Migrate once, copy the file per test: a fresh, fully migrated database in microseconds.
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """A throwaway database on the real PostgreSQL server, migrated once for the whole run."""
    admin_url = normalise_url(POSTGRES_URL)
    name = f"service_finder_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({error.orig}); run `make postgres` (or `make test`, "
            "which starts it) or set SERVICE_FINDER_TEST_POSTGRES_URL",
            pytrace=False,
        )
    engine = create_db_engine(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """The same test runs on SQLite (the embedded default) and on a real PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        shutil.copyfile(sqlite_template, path)
        sqlite = create_db_engine(f"sqlite:///{path}")
        yield sqlite
        sqlite.dispose()
        return
    postgres: Engine = request.getfixturevalue("postgres_engine")
    _truncate(postgres)
    yield postgres


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    # Rate limits have their own tests (tests/api/test_limits.py); here they would only make suites flaky.
    settings = Settings(database_url=str(engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def gazetteer() -> Any:
    """The real Code-Point Open gazetteer that `make gazetteer` builds (make test builds it first)."""
    from service_finder.geocoding.gazetteer import Gazetteer

    if not GAZETTEER.exists():
        pytest.fail(f"the gazetteer {GAZETTEER} is missing: run `make gazetteer`", pytrace=False)
    return Gazetteer.load(GAZETTEER)
