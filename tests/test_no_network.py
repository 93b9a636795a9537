"""The running service never connects out (security gap S3): a real server in a network of its own, with only
loopback, and every outbound attempt from Python recorded and refused.

Two layers, because each misses something alone. The network namespace (`unshare --net`) blocks everything at the
kernel, C extensions included, so a service that needed the network would fail its requests here. The
sitecustomize on PYTHONPATH records every attempt Python code makes (a connect to, a datagram to, or a name
lookup of anything that is not loopback), so an attempt that fails quietly and is retried or swallowed still
shows. A control run proves the recorder sees what it must.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.conftest import GAZETTEER, REPO, seeded_store
from tests.factories import make_record

T = TypeVar("T")
SERVICE_FINDER = Path(sys.executable).parent / "service-finder"
PORT = 8000  # the server has a network of its own: no port can clash with anything outside it
CLONE_NEWNET = 0x40000000

GUARD = '''\
"""Records, then refuses, every attempt to reach anything but loopback. Loaded at start-up from PYTHONPATH."""
import errno, ipaddress, os, socket

_LOG = os.environ["NO_NETWORK_LOG"]


def _record(line):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {line}\\n")


def _ip(host):
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host).split("%")[0])
    except ValueError:
        return None


def _needs_dns(host):
    return host not in (None, "", "localhost", b"localhost") and _ip(host) is None


def _is_local(address):
    if not isinstance(address, tuple):
        return True  # a Unix socket path
    if address[0] in ("localhost", b"localhost"):
        return True
    ip = _ip(address[0])
    return ip is not None and (ip.is_loopback or ip.is_unspecified)


def _refused(self, kind, address):
    _record(f"{kind} {address!r}")
    return OSError(errno.ENETUNREACH, f"outbound {kind} to {address!r} refused by the no-network test")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_sendto, _sendmsg, _getaddrinfo = socket.socket.sendto, socket.socket.sendmsg, socket.getaddrinfo


def connect(self, address):
    if not _is_local(address):
        raise _refused(self, "connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if not _is_local(address):
        _refused(self, "connect", address)
        return errno.ENETUNREACH
    return _connect_ex(self, address)


def sendto(self, data, *rest):
    if not _is_local(rest[-1]):
        raise _refused(self, "sendto", rest[-1])
    return _sendto(self, data, *rest)


def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
    if address is not None and not _is_local(address):
        raise _refused(self, "sendmsg", address)
    return _sendmsg(self, buffers, ancdata, flags, *([address] if address is not None else []))


def getaddrinfo(host, *args, **kwargs):
    if _needs_dns(host):
        _record(f"resolve {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"name lookup of {host!r} refused by the no-network test")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.socket.sendto, socket.socket.sendmsg, socket.getaddrinfo = sendto, sendmsg, getaddrinfo
with open(os.environ["NO_NETWORK_ARMED"], "a", encoding="utf-8") as armed:
    armed.write(f"{os.getpid()}\\n")
'''

# The control: what the guard must catch, run the same way as the server.
CONTROL = """
import socket, urllib.request
for attempt in (
    lambda: urllib.request.urlopen("http://example.org/", timeout=2),
    lambda: socket.create_connection(("192.0.2.1", 443), timeout=2),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("198.51.100.1", 53)),
):
    try:
        attempt()
    except OSError:
        pass
"""


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: the no-network test needs util-linux and iproute2", pytrace=False)
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(guard), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "NO_NETWORK_LOG": str(tmp_path / "outbound.log"),
        "NO_NETWORK_ARMED": str(tmp_path / "armed.log"),
    }


def _isolated(*command: str) -> list[str]:
    """`command` in a new network namespace whose only interface is loopback (needs root, as tests/faults do)."""
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]


def _in_network_of(pid: int, work: Callable[[], T]) -> T:
    """Run `work` on a thread that has joined process `pid`'s network namespace (setns moves one thread only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict[str, T] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with open(f"/proc/{pid}/ns/net", "rb") as namespace:
                if libc.setns(namespace.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into the network of process {pid}")
            outcome["value"] = work()
        except BaseException as error:  # handed to the test's own thread
            failure.append(error)

    thread = threading.Thread(target=run, name="in-isolated-network")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome["value"]


@pytest.fixture
def isolated_server(isolated_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    seeded_store(url, [make_record("leeds-cafe")])
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _isolated(str(SERVICE_FINDER), "serve", "--port", str(PORT)),
            cwd=REPO,
            env={
                **isolated_env,
                "SERVICE_FINDER_DATABASE_URL": url,
                "SERVICE_FINDER_GAZETTEER_PATH": str(GAZETTEER),
                "SERVICE_FINDER_RATE_LIMIT_ENABLED": "false",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Until `unshare` has run, /proc/PID/ns/net is still this test's own network.
        deadline = time.monotonic() + 30
        while os.stat(f"/proc/{process.pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
            assert process.poll() is None, f"the isolated server did not start: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the server never entered a network of its own"
            time.sleep(0.01)  # a poll interval, not a wait for a fixed time
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _exercise(base: str) -> tuple[dict[str, int], list[str]]:
    """Start-up, searches, the directory, the pages and the documentation, with every asset the pages name: the
    status of each path, and the services a search found."""
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the isolated server never became ready"
            time.sleep(0.05)  # a poll interval, not a wait for a fixed time
        paths = [
            "/healthz",
            "/v1/search?postcode=LS1%201UR&age=30&needs=self_harm&explain=true",
            "/v1/search?lat=53.7997&lon=-1.5492&open=within:60",
            "/v1/services",
            "/v1/services/leeds-cafe",
            "/v1/services.geojson",
            "/hsds/services",
            "/fhir/HealthcareService",
            "/?postcode=LS1+1UR",
            "/embed",
            "/embed/snippet",
            "/docs",
            "/redoc",
            "/openapi.json",
            "/metrics",
        ]
        pages: list[str] = []
        for path in paths:
            response = client.get(path)
            statuses[path] = response.status_code
            if response.headers.get("content-type", "").startswith("text/html"):
                pages.append(response.text)
        assets = {a for page in pages for a in re.findall(r'(?:src|href)="(/[^"/][^"]*)"', page)}
        for asset in sorted(assets):
            statuses[asset] = client.get(asset).status_code
        found = client.get("/v1/search", params={"postcode": "LS1 1UR", "at": "2026-11-27T20:00:00"}).json()
    return statuses, [result["service"]["id"] for result in found["results"]]


def test_the_service_never_connects_out(isolated_server: subprocess.Popen[bytes], tmp_path: Path) -> None:
    statuses, found = _in_network_of(isolated_server.pid, lambda: _exercise(f"http://127.0.0.1:{PORT}"))
    assert found == ["leeds-cafe"]  # a real answer from the real index and gazetteer, not only the safety net
    assert {path: status for path, status in statuses.items() if status != 200} == {}
    assert any(path.startswith("/docs/static/") for path in statuses), "the documentation loaded no assets"
    assert str(isolated_server.pid) in (tmp_path / "armed.log").read_text().split(), "the guard was not loaded"
    outbound = tmp_path / "outbound.log"
    assert not outbound.exists(), f"the service tried to reach the network: {outbound.read_text()}"


def test_the_guard_records_what_it_must(isolated_env: dict[str, str], tmp_path: Path) -> None:
    subprocess.run(_isolated(sys.executable, "-c", CONTROL), env=isolated_env, check=True, timeout=60)
    attempts = (tmp_path / "outbound.log").read_text()
    assert "resolve 'example.org'" in attempts
    assert "connect ('192.0.2.1', 443)" in attempts
    assert "sendto ('198.51.100.1', 53)" in attempts
