"""A rolling restart of two server processes behind a balancer, while clients search without pause: no request
fails, and a request already in flight when SIGTERM arrives is answered.

The balancer is a small round-robin TCP proxy in this file, doing the least a real one does: it health-checks
each backend's /readyz (a backend is in rotation only while it answers 200), takes a backend out at once when it
refuses a connection and tries the next, and retries nothing else. A request that reached a backend and got no
answer reaches the client as the failure it is. SO_REUSEPORT (both processes listening on one port, the kernel
spreading connections) was the other candidate and was rejected: nothing can take a process out of the kernel's
rotation before it closes its socket, and closing a listening socket resets the connections queued on it, so it
cannot restart without failures whatever the server does.

The servers run with SERVICE_FINDER_SHUTDOWN_DRAIN_SECONDS: on SIGTERM each answers /readyz with 503 and closes
connections after each response, while still serving, until the balancer has moved traffic away; only then does
uvicorn stop accepting and finish what is in flight (`service_finder/main.py: DrainingServer`).
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import seeded_store
from tests.factories import make_record
from tests.faults.conftest import Server, free_port, spawn_server

LEEDS_FRIDAY = {"postcode": "LS1 1UR", "at": "2026-11-27T20:00:00"}
# Long enough for the balancer (which checks every 50 ms) to see /readyz turn 503 many times over.
DRAIN_SECONDS = "2"
HEALTH_CHECK_SECONDS = 0.05
PACE_SECONDS = 0.005


def _wait_for(condition: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.02)  # a poll interval, not a wait for a fixed time


class Balancer:
    """Round-robin TCP balancing over backends on 127.0.0.1, with /readyz health checks (see the module text)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.in_rotation = dict.fromkeys(ports, False)
        self.connections = dict.fromkeys(ports, 0)
        # Ports whose /readyz this balancer has seen answer 503 "draining": how it knew to take them out.
        self.seen_draining: set[int] = set()
        self._turn = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [
            threading.Thread(target=self._check_health, name="balancer-health", daemon=True),
            threading.Thread(target=self._accept, name="balancer-accept", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()

    def _check_health(self) -> None:
        with httpx.Client(timeout=1) as client:
            while not self._stopping.is_set():
                for port in self.ports:
                    try:
                        response = client.get(f"http://127.0.0.1:{port}/readyz")
                        ready = response.status_code == 200
                        draining = response.status_code == 503 and response.json()["status"] == "draining"
                    except httpx.TransportError:
                        ready = draining = False
                    with self._lock:
                        self.in_rotation[port] = ready
                        if draining:
                            self.seen_draining.add(port)
                self._stopping.wait(HEALTH_CHECK_SECONDS)

    def _candidates(self) -> list[int]:
        with self._lock:
            self._turn += 1
            order = self.ports[self._turn % len(self.ports) :] + self.ports[: self._turn % len(self.ports)]
            return [port for port in order if self.in_rotation[port]]

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._forward, args=(client,), name="balancer-conn", daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        for port in self._candidates():
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except ConnectionRefusedError:
                with self._lock:
                    self.in_rotation[port] = False
                continue
            with self._lock:
                self.connections[port] += 1
            _pump(client, upstream, self._stopping)
            return
        client.close()  # no backend: the client sees its connection closed, and counts a failure


def _pump(one: socket.socket, other: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until either side closes; then close both, as a TCP balancer does."""
    with one, other:
        while not stopping.is_set():
            readable, _, _ = select.select([one, other], [], [], 0.2)
            for source in readable:
                try:
                    data = source.recv(65536)
                    if not data:
                        return
                    (other if source is one else one).sendall(data)
                except OSError:
                    return


@dataclass
class Clients:
    """Threads searching through the balancer without pause; every outcome is kept."""

    url: str
    outcomes: list[str] = field(default_factory=list)
    # Answers that told the client to close its connection: only a draining worker sends those.
    told_to_reconnect: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        # Two keep-alive clients (a connection stays on one backend until it is told to close) and one that opens a
        # new connection for every request (so round-robin spreads it over both backends).
        for keep_alive in (True, True, False):
            thread = threading.Thread(target=self._search, args=(keep_alive,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _search(self, keep_alive: bool) -> None:
        limits = httpx.Limits(max_keepalive_connections=None if keep_alive else 0)
        with httpx.Client(base_url=self.url, limits=limits, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    response = client.get("/v1/search", params=LEEDS_FRIDAY)
                    ids = [r["service"]["id"] for r in response.json()["results"]] if response.is_success else []
                    outcome = "ok" if ids == ["leeds-cafe"] else f"{response.status_code}: {response.text[:200]}"
                    if keep_alive and response.headers.get("connection") == "close":
                        self.told_to_reconnect.append(response.status_code)
                except httpx.HTTPError as error:
                    outcome = f"{type(error).__name__}: {error}"
                self.outcomes.append(outcome)
                # Steady traffic rather than a flood: on two shared cores a flood would starve the restarting worker.
                self.stop.wait(PACE_SECONDS)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _spawn_worker(port: int, database_url: str, log: Path) -> Server:
    return spawn_server(database_url, log, port, SERVICE_FINDER_SHUTDOWN_DRAIN_SECONDS=DRAIN_SECONDS)


def _wait_ready(server: Server) -> Server:
    server.wait_until("the worker to be ready", lambda: httpx.get(f"{server.url}/readyz").status_code == 200, 60)
    return server


class SlowUpload:
    """A search whose client sends its body late: in flight from the moment the server reads its headers."""

    BODY = json.dumps(LEEDS_FRIDAY).encode()

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(self.BODY)
        )
        # Uvicorn sends 100 Continue when the application first asks for the body: the request is being handled.
        interim = b""
        try:
            while b"\r\n\r\n" not in interim:
                chunk = self.sock.recv(1024)
                assert chunk, "the server closed the connection before handling the request"
                interim += chunk
            assert interim.startswith(b"HTTP/1.1 100 "), interim
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> SlowUpload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()  # also when the test fails half-way: a socket left to the collector fails a later test

    def finish(self) -> tuple[int, dict[str, str], bytes]:
        self.sock.sendall(self.BODY)
        raw = b""
        while chunk := self.sock.recv(65536):  # the server closes the connection after the response
            raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
        return int(status_line.split()[1]), headers, body


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    seeded_store(url, [make_record("leeds-cafe")])
    return url


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    started = [_spawn_worker(free_port(), database_url, tmp_path / f"worker-{n}-first.log") for n in (1, 2)]
    try:
        for server in started:
            _wait_ready(server)
        yield started  # the test replaces entries as it restarts them
    finally:
        for server in started:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()


def _signal_disposition(pid: int) -> str:
    """The process's blocked, ignored and caught signal masks: why a SIGTERM might not have been acted on."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "process gone"
    return ", ".join(line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def _restart(old: Server, port: int, *, balancer: Balancer, clients: Clients, database_url: str, log: Path) -> Server:
    """SIGTERM with a request in flight, wait for the exit, start again on the same port, wait until it serves."""
    served_before = balancer.connections[port]
    _wait_for(f"worker on {port} to get traffic", lambda: balancer.connections[port] > served_before)
    with SlowUpload(port) as slow:
        old.process.send_signal(signal.SIGTERM)
        # The worker's own log says when it starts draining: a poll of /readyz from here could miss the whole
        # drain on a starved machine. Whether /readyz said "draining" is what the balancer saw (asserted below).
        try:
            _wait_for("the worker to start draining", lambda: "SIGTERM: not ready" in old.log.read_text())
        except AssertionError as error:
            detail = f"{_signal_disposition(old.process.pid)}; log: {old.log.read_text()[-1500:]}"
            raise AssertionError(f"{error} ({detail})") from None
        _wait_for("the worker to stop accepting", lambda: _refuses_connections(port))
        # Only now, with the listening socket closed, does the slow client send its body.
        status, headers, body = slow.finish()
    assert status == 200, body[:500]
    assert headers["connection"] == "close"
    assert [r["service"]["id"] for r in json.loads(body)["results"]] == ["leeds-cafe"]
    assert old.process.wait(timeout=30) == -signal.SIGTERM  # uvicorn re-raises the signal once it is done
    assert port in balancer.seen_draining  # /readyz said so while it still served, and the balancer listened

    answered = len(clients.outcomes)
    _wait_for("searches to carry on while the worker is down", lambda: len(clients.outcomes) > answered + 20)
    assert old.process.poll() is not None  # so the other worker alone answered them

    served_before = balancer.connections[port]
    new = _wait_ready(_spawn_worker(port, database_url, log))
    _wait_for("the restarted worker to get traffic", lambda: balancer.connections[port] > served_before)
    return new


def test_a_rolling_restart_of_two_workers_fails_no_request(
    workers: list[Server], database_url: str, tmp_path: Path
) -> None:
    ports = [int(server.url.rsplit(":", 1)[1]) for server in workers]
    balancer = Balancer(ports)
    clients = Clients(balancer.url)
    try:
        _wait_for("both workers in rotation", lambda: all(balancer.in_rotation.values()))
        clients.start()
        for index, port in enumerate(ports):
            workers[index] = _restart(
                workers[index],
                port,
                balancer=balancer,
                clients=clients,
                database_url=database_url,
                log=tmp_path / f"worker-{index + 1}-second.log",
            )
    finally:
        clients.finish()
        balancer.close()

    failures = [outcome for outcome in clients.outcomes if outcome != "ok"]
    assert not failures, f"{len(failures)} of {len(clients.outcomes)} searches failed: {failures[:5]}"
    assert len(clients.outcomes) > 100
    # The second worker held both keep-alive clients when it was stopped: it answered them while draining.
    assert clients.told_to_reconnect
    for number in (1, 2):
        log = (tmp_path / f"worker-{number}-first.log").read_text()
        messages = [json.loads(line)["message"] for line in log.splitlines() if line.startswith("{")]
        drains = [m for m in messages if m.startswith("SIGTERM: not ready")]
        assert len(drains) == 1, messages
        assert "(0 requests in flight)" not in drains[0]  # the slow upload, at least, was in flight
        assert not any("timeout graceful shutdown exceeded" in m for m in messages)


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Block SIGTERM and SIGINT in this thread while it starts a child, which inherits the mask."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def test_a_worker_started_with_stop_signals_blocked_still_drains_on_sigterm(database_url: str, tmp_path: Path) -> None:
    # A signal mask is inherited: a supervisor or CI runner that blocks SIGTERM in its own threads passes that on,
    # and a server that kept it would never drain nor stop when an orchestrator asks.
    log = tmp_path / "worker.log"
    with _stop_signals_blocked():
        spawned = spawn_server(database_url, log, free_port(), SERVICE_FINDER_SHUTDOWN_DRAIN_SECONDS="0.5")
    worker = _wait_ready(spawned)
    try:
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=15) == -signal.SIGTERM, _signal_disposition(worker.process.pid)
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()
    assert "SIGTERM: not ready" in log.read_text()
