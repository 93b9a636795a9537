"""Real processes and real failures: a private PostgreSQL cluster to stop and start, servers to kill."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import GAZETTEER, REPO

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVICE_FINDER = Path(sys.executable).parent / "service-finder"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PrivatePostgres:
    """A throwaway cluster this test may stop and start without touching the shared server."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        self._ctl("-o", options, "-l", str(self.directory / "log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def _processes(self) -> list[int]:
        postmaster = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """A server that hangs rather than refuses: connections are accepted and queries never answered."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb is missing: install PostgreSQL 15 (make postgres)", pytrace=False)
    directory = Path(tempfile.mkdtemp(prefix="sf-pg-"))
    shutil.chown(directory, "postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(directory / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    cluster = PrivatePostgres(directory, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(directory / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_until(self, condition: str, check: object, timeout: float = 20.0) -> None:
        """Poll until `check()` is true; fail naming `condition` (no fixed sleeps: each poll is a request)."""
        assert callable(check)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)  # a poll interval, not a wait for a fixed time
        raise AssertionError(f"timed out waiting for {condition}")


def spawn_server(database_url: str, log: Path, port: int, **env: str) -> Server:
    """`service-finder serve` on `port` over this store, its output in `log`; not waited for."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(SERVICE_FINDER), "serve", "--port", str(port)],
            cwd=REPO,
            env={
                **os.environ,
                "SERVICE_FINDER_DATABASE_URL": database_url,
                "SERVICE_FINDER_GAZETTEER_PATH": str(GAZETTEER),
                "SERVICE_FINDER_INDEX_POLL_SECONDS": "0.3",
                "SERVICE_FINDER_RATE_LIMIT_ENABLED": "false",
                **env,
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


def start_server(database_url: str, log: Path, **env: str) -> Server:
    server = spawn_server(database_url, log, free_port(), **env)
    server.wait_until(
        "the server to start", lambda: httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200, 60
    )
    return server


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
