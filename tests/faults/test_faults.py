"""Faults survived, each against real processes: PostgreSQL stopping under a server, an import killed with SIGKILL,
a full disk and a read-only file under SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from service_finder.storage import migrate, repository
from service_finder.storage.db import create_db_engine
from tests.conftest import REPO
from tests.factories import make_record, service_data
from tests.faults.conftest import SERVICE_FINDER, PrivatePostgres, Server, start_server, stop_server

LEEDS_FRIDAY = {"postcode": "LS1 1UR", "at": "2026-11-27T20:00:00"}


def _leeds_cafe_and_keys(url: str) -> tuple[str, str]:
    """A store holding one café, an editor's key and a partner's (read) key: (editor, partner)."""
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        repository.upsert_services(session, [make_record("leeds-cafe")], actor="setup")
        editor = repository.create_api_key(session, name="editor", scopes=["write"], now=datetime.now(UTC))
        partner = repository.create_api_key(session, name="nhs-111", scopes=["read"], now=datetime.now(UTC))
        session.commit()
    engine.dispose()
    return editor, partner


def _start_rate_limited(url: str, tmp_path: Path) -> Server:
    # Rate limiting on, as in production: it is what looks up the key of every request that sends one.
    return start_server(url, tmp_path / "server.log", SERVICE_FINDER_RATE_LIMIT_ENABLED="true")


def test_postgres_outage_search_keeps_answering_writes_get_503_and_all_recovers(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    key, partner = _leeds_cafe_and_keys(private_postgres.url)
    server = _start_rate_limited(private_postgres.url, tmp_path)
    editor = {"Authorization": f"Bearer {key}"}
    try:
        assert [
            r["service"]["id"] for r in httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY).json()["results"]
        ] == ["leeds-cafe"]
        private_postgres.stop()
        server.wait_until(
            "readyz to report the store down", lambda: httpx.get(f"{server.url}/readyz").json()["status"] == "degraded"
        )
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 200  # still serving searches: not taken out of the load balancer
        assert ready.json()["index_stale"] is True
        answer = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY)
        assert answer.status_code == 200
        assert answer.json()["stale_index"] is True
        assert [r["service"]["id"] for r in answer.json()["results"]] == ["leeds-cafe"]
        # A partner's key that this process cannot check now still gets its search answered (it was a 500).
        keyed = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY, headers={"X-API-Key": partner}, timeout=30)
        assert (keyed.status_code, keyed.json()["stale_index"]) == (200, True)
        write = httpx.post(f"{server.url}/v1/services", json=service_data("new-one"), headers=editor, timeout=30)
        assert write.status_code == 503
        assert write.headers["content-type"] == "application/problem+json"
        assert int(write.headers["retry-after"]) > 0

        private_postgres.start()
        server.wait_until("readyz to recover", lambda: httpx.get(f"{server.url}/readyz").json()["status"] == "ready")
        created = httpx.post(f"{server.url}/v1/services", json=service_data("new-one"), headers=editor, timeout=30)
        assert created.status_code == 201
        after = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY).json()
        assert after["stale_index"] is False
        assert {r["service"]["id"] for r in after["results"]} == {"leeds-cafe", "new-one"}
    finally:
        stop_server(server)


def test_a_store_that_hangs_is_reported_stale_and_searches_go_on(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    _, partner = _leeds_cafe_and_keys(private_postgres.url)
    server = _start_rate_limited(private_postgres.url, tmp_path)
    try:
        server.wait_until("readyz to be ready", lambda: httpx.get(f"{server.url}/readyz").json()["status"] == "ready")
        # Requests at once leave connections idle in the pool: a lookup then waits on one of them, for ever.
        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(lambda _: httpx.get(f"{server.url}/v1/services").status_code, range(8))) == {200}
        private_postgres.freeze()
        try:
            # A key this process has not checked yet, sent as the store hangs: its lookup used to hold the event
            # loop, and every request of every caller with it, for as long as the store hung.
            with ThreadPoolExecutor(1) as pool:
                keyed = pool.submit(
                    httpx.get,
                    f"{server.url}/v1/search",
                    params=LEEDS_FRIDAY,
                    headers={"X-API-Key": partner},
                    timeout=20,
                )
                anonymous = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY, timeout=20)
                assert anonymous.status_code == 200
                assert [r["service"]["id"] for r in keyed.result().json()["results"]] == ["leeds-cafe"]
            # It used to say "ready", store reachable and answers fresh for as long as the store hung.
            server.wait_until(
                "readyz to report the hung store",
                lambda: httpx.get(f"{server.url}/readyz", timeout=5).json()["status"] == "degraded",
                timeout=30,
            )
            answer = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY, timeout=5)
            assert (answer.status_code, answer.json()["stale_index"]) == (200, True)
            assert [r["service"]["id"] for r in answer.json()["results"]] == ["leeds-cafe"]
            assert "service_finder_store_up 0" in httpx.get(f"{server.url}/metrics", timeout=5).text
        finally:
            private_postgres.thaw()
        server.wait_until("readyz to recover", lambda: httpx.get(f"{server.url}/readyz").json()["status"] == "ready")
    finally:
        stop_server(server)


def _snapshot(engine: sa.Engine) -> dict[str, object]:
    with Session(engine) as session:
        services = [s.record.model_dump(mode="json") for s in repository.iter_all_services(session)]
        version = repository.data_version(session).version
    with engine.connect() as connection:
        counts = {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("service", "location", "schedule", "phone", "audit_entry", "organization")
        }
    return {"services": services, "version": version, "counts": counts}


def test_an_import_killed_with_sigkill_leaves_the_store_exactly_as_before(
    tmp_path: Path, postgres_engine: sa.Engine
) -> None:
    # A throwaway database of its own on the shared server: the import runs in another process.
    name = f"sigkill_{os.getpid()}"
    admin = sa.create_engine(postgres_engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = postgres_engine.url.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    try:
        migrate.upgrade(engine)
        with Session(engine) as session:
            repository.upsert_services(session, [make_record("existing")], actor="setup")
            session.commit()
        before = _snapshot(engine)
        big = tmp_path / "big.json"
        big.write_text(json.dumps([service_data(f"bulk-{i:05d}") for i in range(6000)]), encoding="utf-8")
        process = subprocess.Popen(
            [str(SERVICE_FINDER), "import", str(big)],
            cwd=REPO,
            env={**os.environ, "SERVICE_FINDER_DATABASE_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill it once it has written rows inside its open transaction: it then holds a row-exclusive lock on the
        # service table until it commits (seen from the server side, so nothing is guessed from timing).
        writing = sa.text(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'service' AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = :name)"
        )
        mid_import = False
        with engine.connect() as connection:
            while process.poll() is None and not mid_import:
                mid_import = connection.execute(writing, {"name": name}).scalar_one() > 0
                connection.rollback()
        assert mid_import, "the import finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        engine.dispose()
        assert _snapshot(engine) == before
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def small_disk() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="sf-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)], check=False, capture_output=True
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs for the disk-full test: {mounted.stderr.decode()}", pytrace=False)
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False, capture_output=True)
        directory.rmdir()


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SERVICE_FINDER), *args],
        cwd=REPO,
        env={**os.environ, "SERVICE_FINDER_DATABASE_URL": url},
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )


def test_a_full_disk_gives_a_clear_error_and_no_corruption(small_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{small_disk / 'store.sqlite3'}"
    first = tmp_path / "first.json"
    first.write_text(json.dumps([service_data("existing")]), encoding="utf-8")
    assert _cli(url, "import", str(first)).returncode == 0
    engine = create_db_engine(url)
    before = _snapshot(engine)
    engine.dispose()
    big = tmp_path / "big.json"
    big.write_text(json.dumps([service_data(f"bulk-{i:05d}", description="x" * 2000) for i in range(2000)]))
    result = _cli(url, "import", str(big))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "disk" in (result.stdout + result.stderr).lower()
    engine = create_db_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
    assert _snapshot(engine) == before
    engine.dispose()


def test_a_read_only_store_gives_a_clear_error_and_no_corruption(small_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{small_disk / 'store.sqlite3'}"
    first = tmp_path / "first.json"
    first.write_text(json.dumps([service_data("existing")]), encoding="utf-8")
    assert _cli(url, "import", str(first)).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    second = tmp_path / "second.json"
    second.write_text(json.dumps([service_data("another")]), encoding="utf-8")
    result = _cli(url, "import", str(second))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "read-only" in (result.stdout + result.stderr).lower()
    # Read the file as it lies on the read-only disk (immutable: no WAL or lock files are needed).
    with closing(sqlite3.connect(f"file:{small_disk / 'store.sqlite3'}?immutable=1", uri=True)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT id FROM service").fetchall() == [("existing",)]


def test_every_sqlite_commit_is_synced_to_disk_before_it_is_answered(tmp_path: Path) -> None:
    # With WAL, synchronous=NORMAL lets a commit already answered "saved" roll back after a power cut: an editor's
    # change lost with no error. FULL syncs the log at every commit; a power cut cannot be staged here, so the test
    # reads the setting every connection of the store runs with.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        with engine.connect() as connection:
            pragmas = [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("journal_mode", "synchronous")
            ]
        assert pragmas == ["wal", 2]  # 2: FULL
    finally:
        engine.dispose()


def test_an_export_to_a_full_disk_keeps_the_previous_export_whole(small_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    first = tmp_path / "first.json"
    first.write_text(json.dumps([service_data("existing")]), encoding="utf-8")
    assert _cli(url, "import", str(first)).returncode == 0
    export = small_disk / "directory.json"
    assert _cli(url, "export", "--format", "native", "-o", str(export)).returncode == 0
    before = export.read_bytes()
    big = tmp_path / "big.json"
    big.write_text(json.dumps([service_data(f"bulk-{i:04d}", description="x" * 2000) for i in range(600)]))
    assert _cli(url, "import", str(big)).returncode == 0
    result = _cli(url, "export", "--format", "native", "-o", str(export))  # ~1.5 MB more than the 2 MB disk holds
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "nothing written" in result.stderr
    assert export.read_bytes() == before
    assert [p.name for p in small_disk.iterdir()] == ["directory.json"]  # no partial file left behind
