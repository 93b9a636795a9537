"""The client examples in docs/examples/ work against a real server with the demonstration directory loaded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GAZETTEER, REPO

BIN = Path(sys.executable).parent
EXAMPLES = REPO / "docs" / "examples"
POSTCODE = "LS1 1UR"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("client-examples")
    env = {
        **os.environ,
        "SERVICE_FINDER_DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
        "SERVICE_FINDER_GAZETTEER_PATH": str(GAZETTEER),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    subprocess.run([BIN / "service-finder", "demo", "load"], cwd=REPO, env=env, check=True, capture_output=True)
    url = f"http://127.0.0.1:{_free_port()}"
    log = work / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [BIN / "service-finder", "serve", "--port", url.rsplit(":", 1)[1]],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited early: {log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{url} did not start: {log.read_text()}") from None
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def expected(server: str) -> dict[str, Any]:
    # What the API itself answers, to check the examples print it (rather than copying names into the test).
    answer: dict[str, Any] = httpx.get(
        f"{server}/v1/search", params={"postcode": POSTCODE, "open": "now", "limit": 5}, timeout=10
    ).json()
    return answer


def _run(command: list[str], server: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SERVICE_FINDER_URL": server, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["bash", str(EXAMPLES / "search.sh")], id="curl"),
        pytest.param([sys.executable, str(EXAMPLES / "search.py")], id="httpx"),
    ],
)
def test_the_example_prints_the_results_and_the_safety_net(
    server: str, expected: dict[str, Any], command: list[str]
) -> None:
    run = _run([*command, POSTCODE], server)
    assert run.returncode == 0, run.stderr
    # The demonstration directory has 24/7 crisis lines around Leeds, so something is open at any hour.
    assert expected["results"], "the demonstration directory should have something open near LS1 1UR"
    assert expected["results"][0]["service"]["name"] in run.stdout
    for line in expected["safety_net"]:
        assert line["name"] in run.stdout
    for number in ("999", "111", "116 123", "85258"):
        assert number in run.stdout


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["bash", str(EXAMPLES / "search.sh")], id="curl"),
        pytest.param([sys.executable, str(EXAMPLES / "search.py")], id="httpx"),
    ],
)
def test_the_example_says_what_was_wrong_with_a_bad_postcode(server: str, command: list[str]) -> None:
    run = _run([*command, "EH1 1YZ"], server)
    assert run.returncode != 0
    assert "EH1 1YZ" in run.stdout + run.stderr
    assert "outside England" in run.stdout + run.stderr
    # A refused search carries the safety net, and the example shows it: an integrator copying it must too.
    for number in ("999", "111", "116 123", "85258"):
        assert number in run.stdout, run.stdout
