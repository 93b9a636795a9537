"""Engines for the two supported stores: a SQLite file (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session


def normalise_url(url: str) -> str:
    # People write postgresql://...; SQLAlchemy would pick psycopg2, which is not installed. Use psycopg 3.
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    # A short connect timeout: when PostgreSQL is down, a write should fail fast with 503, not hang. TCP keepalives
    # and a user timeout: when the network to it drops packets, a connection fails in seconds, not at the
    # kernel's retransmission timeout (about 15 minutes).
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={
            "connect_timeout": 3,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
            "tcp_user_timeout": 10_000,  # milliseconds
        },
    )


def write_session(engine: Engine) -> Session:
    """A session for changing data. On SQLite its transaction takes the write lock at BEGIN (IMMEDIATE), so two
    writers queue instead of one failing when it tries to upgrade a stale read snapshot; the second then sees the
    first's commit, and its revision check refuses a lost update cleanly. On PostgreSQL the repository takes an
    advisory lock for the same end (repository.lock_directory)."""
    return Session(engine.execution_options(sqlite_immediate=True))


def snapshot_session(engine: Engine) -> Session:
    """A read-only session whose reads all see the store as it was at the first. PostgreSQL's default (READ
    COMMITTED) gives each statement a snapshot of its own, so a read in batches (an export) taken while an editor
    renamed a shared organisation showed both names, and could not be imported again. SQLite's read transaction
    keeps one snapshot already."""
    if is_sqlite(engine):
        return Session(engine)
    return Session(engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True))


def _sqlite_begin(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # SQLAlchemy's recipe: stop the sqlite3 module issuing its own BEGIN, so the "begin" event decides the kind.
    connection.isolation_level = None
    cursor = connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers carry on while an import writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: with WAL, NORMAL lets a commit already answered "saved" roll back after a power cut. Writes are an
    # editor's change or an import, rare enough that a sync per commit costs nothing anyone sees.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
