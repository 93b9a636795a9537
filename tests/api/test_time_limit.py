"""The per-request time limit (security gap S2), against a real uvicorn serving an app built by create_app.

A real server, not the TestClient: the TestClient returns only when the whole ASGI call has returned, so it could
not show a caller getting its 503 while the handler is still stuck.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

import anyio
import httpx
import pytest
import uvicorn
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine

from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.storage import repository
from tests.conftest import GAZETTEER

LIMIT_SECONDS = 1.0
LEEDS = {"lat": 53.7997, "lon": -1.5492}


@dataclass
class Stuck:
    """A handler blocked in the thread pool until the test releases it."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


@dataclass
class Served:
    url: str
    stuck: Stuck
    engine: Engine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(sqlite_engine: Engine) -> Iterator[Served]:
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        rate_limit_enabled=False,
        request_timeout_seconds=LIMIT_SECONDS,
    )
    app = create_app(settings, engine=sqlite_engine)
    stuck = Stuck()

    @app.get("/test/never-answers")
    async def never_answers() -> dict[str, str]:
        await anyio.sleep_forever()
        return {}

    @app.get("/test/starts-then-stalls")
    async def starts_then_stalls() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first part;"
            await anyio.sleep(LIMIT_SECONDS * 1.5)  # past the limit, with the response already started
            yield b"second part"

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/test/blocks-a-thread")
    def blocks_a_thread() -> dict[str, str]:
        stuck.entered.set()
        stuck.release.wait(timeout=60)
        stuck.finished.set()
        return {"late": "answer"}

    @app.put("/v1/services/test/slow-write")
    def slow_write() -> dict[str, bool]:
        # A write whose store took longer than the time limit (waiting for a lock, say): it commits in the end.
        stuck.release.wait(timeout=LIMIT_SECONDS * 1.5)
        return {"committed": True}

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the server thread exited during start-up"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)  # a poll interval, not a wait for a fixed time
    try:
        yield Served(f"http://127.0.0.1:{port}", stuck, sqlite_engine)
    finally:
        stuck.release.set()
        server.should_exit = True
        thread.join(timeout=30)


def _assert_time_limit_problem(response: httpx.Response, *, request_id: str, path: str) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-request-id"] == request_id
    problem = response.json()
    assert problem["type"].endswith("/request-timeout")
    assert (problem["status"], problem["instance"], problem["request_id"]) == (503, path, request_id)
    assert "999" in problem["detail"]


def test_a_request_over_the_time_limit_gets_503_and_the_process_keeps_serving(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        slow = client.get("/test/never-answers", headers={"X-Request-ID": "over-the-limit"})
        _assert_time_limit_problem(slow, request_id="over-the-limit", path="/test/never-answers")
        # Same client, same keep-alive connection: the process and the connection both carry on.
        search = client.get("/v1/search", params=LEEDS)
        assert search.status_code == 200
        assert search.json()["safety_net"]
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
    assert 'service_finder_responses_total{route="/test/never-answers",status="5xx"} 1.0' in metrics


def test_a_handler_stuck_in_the_thread_pool_still_gets_its_503_on_time(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        slow = client.get("/test/blocks-a-thread", headers={"X-Request-ID": "stuck-thread"})
        # The answer came while the handler was still blocked: the caller did not wait for the thread.
        assert served.stuck.entered.is_set()
        assert not served.stuck.finished.is_set()
        _assert_time_limit_problem(slow, request_id="stuck-thread", path="/test/blocks-a-thread")

        served.stuck.release.set()
        assert served.stuck.finished.wait(timeout=30), "the released handler never finished"
        # Its late answer went nowhere: the next response on the same connection is the search's own.
        search = client.get("/v1/search", params=LEEDS)
        assert search.status_code == 200
        assert "late" not in search.json()
        assert search.json()["safety_net"]


def test_a_response_already_started_is_left_to_finish_past_the_limit(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        started = time.monotonic()
        stalled = client.get("/test/starts-then-stalls")
        assert time.monotonic() - started > LIMIT_SECONDS  # it did run past the limit
        # A half-sent body cannot become a 503: the caller gets the whole answer it was already receiving.
        assert stalled.status_code == 200
        assert stalled.text == "first part;second part"
        assert client.get("/v1/search", params=LEEDS).status_code == 200


def test_a_write_is_never_told_to_try_again_while_it_may_still_commit(served: Served) -> None:
    # A 503 "try again" for a write that then commits sends the retry into 412 for its own change: writes run to
    # their end and answer what happened.
    with httpx.Client(base_url=served.url, timeout=30) as client:
        write = client.put("/v1/services/test/slow-write")
    assert (write.status_code, write.json()) == (200, {"committed": True})


def test_a_timed_out_read_returns_its_connection_to_the_pool(served: Served) -> None:
    # A store slow to answer one read: the caller gets its 503 while the handler's thread waits. The thread then
    # goes on with its session; it used to be closed under it by the cancelled request, so the thread checked out
    # a connection that nothing returned, and under load every connection of the pool was lost for good.
    real = repository.list_services

    def slow_store(*args: Any, **kwargs: Any) -> Any:
        served.stuck.entered.set()
        served.stuck.release.wait(timeout=60)
        found = real(*args, **kwargs)
        served.stuck.finished.set()
        return found

    with httpx.Client(base_url=served.url, timeout=30) as client, patch.object(repository, "list_services", slow_store):
        slow = client.get("/v1/services", headers={"X-Request-ID": "slow-store"})
        _assert_time_limit_problem(slow, request_id="slow-store", path="/v1/services")
        served.stuck.release.set()
        assert served.stuck.finished.wait(timeout=30)
        deadline = time.monotonic() + 10
        while served.engine.pool.checkedout() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)  # polling the handler's thread to its end, not waiting for a fixed time
        assert served.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert client.get("/v1/services").status_code == 200
