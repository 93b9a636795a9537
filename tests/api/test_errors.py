"""An unexpected exception in a route (security gap S4): the caller gets a 500 problem with nothing of the exception
in it; the log line lets an operator find the request and the code, and carries nothing of what the caller sent.

The route under test puts what the caller sent into its exception message, as real bugs do (`f"no {postcode}"`),
so the message is exactly what must never leave the process: not in the body, not in the log. Operators get the
exception's type and, where the code raised it, its stack as code locations (file, line, function): no message, no
arguments, no local variables.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service_finder.config import Settings
from service_finder.main import create_app
from tests.conftest import GAZETTEER, json_log

POSTCODE = "SW1A 2AA"


@pytest.fixture
def failing(sqlite_engine: Engine) -> Iterator[TestClient]:
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    app = create_app(settings, engine=sqlite_engine)

    @app.get("/test/fails")
    def fails(postcode: str) -> dict[str, str]:
        raise RuntimeError(f"could not place {postcode} for this person")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    with json_log() as stream:
        yield stream


def _fail(client: TestClient) -> Any:
    return client.get("/test/fails", params={"postcode": POSTCODE}, headers={"X-Request-ID": "boom-1"})


def _error_lines(logged: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    return [line for line in lines if line["level"] == "error"]


def test_an_unexpected_error_is_a_500_problem_that_says_nothing_of_the_exception(failing: TestClient) -> None:
    response = _fail(failing)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/internal-error")
    assert (problem["status"], problem["instance"], problem["request_id"]) == (500, "/test/fails", "boom-1")
    assert "999" in problem["detail"]  # even an error tells a person in crisis where to turn
    # Sent from outside every middleware, it still carries their headers: nothing may store it.
    assert (response.headers["cache-control"], response.headers["x-content-type-options"]) == ("no-store", "nosniff")
    for leak in ["RuntimeError", "could not place", "SW1A", "Traceback", "test_errors.py", "line "]:
        assert leak not in response.text, f"{leak!r} is in the 500 body"


def test_the_error_is_logged_once_with_the_request_id_and_type_but_not_the_message(
    failing: TestClient, logged: io.StringIO
) -> None:
    _fail(failing)
    errors = _error_lines(logged)
    assert len(errors) == 1, errors
    error = errors[0]
    assert (error["request_id"], error["route"], error["error"]) == ("boom-1", "/test/fails", "RuntimeError")
    everything = logged.getvalue()
    for leak in ["could not place", "SW1A", "2AA", "Traceback"]:
        assert leak not in everything, f"{leak!r} is in the log"


def test_the_error_log_line_carries_the_stack_as_code_locations_only(failing: TestClient, logged: io.StringIO) -> None:
    _fail(failing)
    error = _error_lines(logged)[0]
    stack: list[str] = error["stack"]
    assert any("tests/api/test_errors.py:" in frame and frame.endswith(" in fails") for frame in stack), stack
    assert POSTCODE not in json.dumps(error)


def test_the_500_carries_the_request_id_header_like_every_response(failing: TestClient) -> None:
    assert _fail(failing).headers.get("x-request-id") == "boom-1"


def test_the_500_carries_the_security_headers_of_every_other_error(failing: TestClient) -> None:
    # Rendered outside every middleware, it missed the policy docs/security.md promises on every error.
    headers = _fail(failing).headers
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert (headers["referrer-policy"], headers["x-content-type-options"]) == ("no-referrer", "nosniff")
