"""Real server processes sharing one PostgreSQL: what replicas behind a load balancer do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from service_finder.storage import repository
from tests.conftest import GAZETTEER, REPO
from tests.factories import make_record

SERVICE_FINDER = Path(sys.executable).parent / "service-finder"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            continue
    raise AssertionError(f"{url} did not start")


@pytest.fixture
def shared_store(postgres_engine: Engine) -> Engine:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return postgres_engine


@pytest.fixture
def two_servers(shared_store: Engine, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "SERVICE_FINDER_DATABASE_URL": shared_store.url.render_as_string(hide_password=False),
        "SERVICE_FINDER_GAZETTEER_PATH": str(GAZETTEER),
        "SERVICE_FINDER_INDEX_POLL_SECONDS": "0.5",
    }
    processes, urls, logs = [], [], []
    try:
        for number in range(2):
            port = _free_port()
            logs.append(tmp_path / f"server-{number}.log")
            with logs[-1].open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [str(SERVICE_FINDER), "serve", "--port", str(port)],
                        cwd=REPO,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for url, process, log_path in zip(urls, processes, logs, strict=True):
            _wait_until_up(url, process, log_path, deadline)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def test_a_change_in_the_shared_store_reaches_both_processes_within_5_seconds(
    shared_store: Engine, two_servers: list[str]
) -> None:
    params = {"postcode": "LS1 1UR", "at": "2026-11-27T20:00:00", "open": "now"}
    for url in two_servers:
        assert httpx.get(f"{url}/v1/search", params=params).json()["results"] == []
    with Session(shared_store) as session:
        repository.upsert_services(session, [make_record("late-addition")], actor="test")
        session.commit()
    written = time.monotonic()
    seen_after: dict[str, float] = {}
    while len(seen_after) < len(two_servers) and time.monotonic() - written < 10:
        for url in two_servers:
            if url not in seen_after:
                results = httpx.get(f"{url}/v1/search", params=params).json()["results"]
                if [r["service"]["id"] for r in results] == ["late-addition"]:
                    seen_after[url] = time.monotonic() - written
    assert set(seen_after) == set(two_servers), "a process never served the new service"
    assert max(seen_after.values()) < 5.0, seen_after
