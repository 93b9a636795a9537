from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from service_finder.config import Settings
from service_finder.main import UnsafeSettings, create_app
from service_finder.observability import JsonFormatter
from tests.conftest import GAZETTEER, json_log


@pytest.fixture
def log_lines(client: TestClient) -> Iterator[io.StringIO]:
    with json_log() as stream:
        yield stream


def test_logs_carry_request_ids_and_no_personal_data(client: TestClient, log_lines: io.StringIO) -> None:
    distinctive: list[dict[str, str | int | float | list[str]]] = [
        {"postcode": "SW1A 2AA", "age": 87, "needs": ["eating_disorder", "perinatal"], "intoxicated": "true"},
        {"lat": 51.50354, "lon": -0.12768, "age": 93, "needs": ["veterans"]},
        {"postcode": "ZZ9 9ZZ", "age": 61},  # an error answer must not log it either
        {"postcode": "TD15 1AA", "age": 79},
    ]
    for number, params in enumerate(distinctive):
        client.get("/v1/search", params=params, headers={"X-Request-ID": f"privacy-{number}"})
    client.post(
        "/v1/search",
        json={"postcode": "SW1A 2AA", "age": 87, "needs": ["eating_disorder"]},
        headers={"X-Request-ID": "privacy-post"},
    )
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    # Timestamps and durations are the only free-form numbers a line may carry.
    logged = json.dumps([{k: v for k, v in line.items() if k not in {"time", "duration_ms"}} for line in lines])
    for secret in ["SW1A", "2AA", "ZZ9", "TD15", "eating_disorder", "perinatal", "veterans", "intoxicated"]:
        assert secret not in logged, f"{secret!r} appeared in the logs"
    for figure in ["87", "93", "61", "79", "51.50", "0.127"]:
        assert not re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d])", logged), f"{figure} appeared in the logs"
    requests = [line for line in lines if line["message"] == "request"]
    assert {line["request_id"] for line in requests} >= {f"privacy-{n}" for n in range(4)}
    assert {line["route"] for line in requests} == {"/v1/search"}
    assert {line["status"] for line in requests} == {200, 422}


def test_a_uvicorn_line_has_no_terminal_colour_codes() -> None:
    # uvicorn adds a coloured copy of some messages for terminals; in a JSON log it is only noise (and escapes).
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Finished server process [%d]", (7,), None)
    record.color_message = "Finished server process [\x1b[36m%d\x1b[0m]"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "Finished server process [7]"
    assert "color_message" not in line
    assert "\x1b" not in json.dumps(line)


def test_readiness_reports_index_and_gazetteer(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["index_built"], body["gazetteer_loaded"]) == ("ready", True, True)
    assert body["store_reachable"] is True
    assert body["gazetteer_version"] == "2025.2.0"


def test_not_ready_without_a_gazetteer(sqlite_engine: Engine, tmp_path: object) -> None:
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=Path("missing/england.npz"))
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"


def test_metrics_are_labelled_by_route_template(client: TestClient) -> None:
    client.get("/v1/services/some-service")
    client.get("/v1/search")
    text = client.get("/metrics").text
    assert 'service_finder_request_seconds_count{method="GET",route="/v1/services/{service_id}"} 1.0' in text
    assert 'service_finder_responses_total{route="/v1/services/{service_id}",status="4xx"} 1.0' in text
    assert "service_finder_data_version" in text
    assert "some-service" not in text


def test_unsafe_production_settings_refuse_to_start(sqlite_engine: Engine) -> None:
    with pytest.raises(ValidationError, match="DEBUG must be off"):
        Settings(environment="production", debug=True)
    for everyone in (["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["::/1"], ["::ffff:0:0/96"]):
        with pytest.raises(ValidationError, match="trusts every address"):
            Settings(trusted_proxies=everyone)
    assert Settings(trusted_proxies=["10.0.0.0/8", "fd00::/48", "::ffff:10.0.0.0/104"]).trusted_proxies
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        Settings(environment="production")  # snippets would point at whatever host a client named, over http
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        environment="production",
        public_base_url="https://finder.example.org",
    )
    with (
        pytest.raises(UnsafeSettings, match="no admin API key"),
        TestClient(create_app(settings, engine=sqlite_engine)),
    ):
        pass


def test_fastapi_telemetry_never_records_what_was_searched_for() -> None:
    # FastAPI's own OpenTelemetry switches on when any tracer provider exists and records each request's query
    # string: here a provider that records every span's attributes, then a search with distinctive inputs.
    recorded: list[object] = []

    class Span(NonRecordingSpan):
        def set_attribute(self, key: str, value: object) -> None:
            recorded.append((key, value))

        def is_recording(self) -> bool:
            return True

    class Tracer(trace.Tracer):
        def start_span(self, name: str, *args: Any, attributes: Any = None, **kwargs: Any) -> Span:
            recorded.append(attributes)
            return Span(INVALID_SPAN_CONTEXT)

        @contextlib.contextmanager
        def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Iterator[Span]:  # type: ignore[override]
            yield self.start_span(name, **kwargs)

    class Provider(trace.TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
            return Tracer()

    app = create_app(Settings(database_url="sqlite://", gazetteer_path=GAZETTEER, rate_limit_enabled=False))
    app._telemetry["tracer_provider"] = Provider()  # as if one were configured: the app's own switch decides
    with TestClient(app) as fresh:
        assert fresh.get("/v1/search", params={"postcode": "SW1A 2AA", "age": 47}).status_code == 200
    assert "SW1A" not in repr(recorded)


def test_security_headers_and_cors_only_on_public_reads(client: TestClient) -> None:
    search = client.get("/v1/search")
    assert search.headers["cache-control"] == "no-store"  # health data, and true only for this minute
    assert search.headers["x-content-type-options"] == "nosniff"
    assert search.headers["referrer-policy"] == "no-referrer"
    assert search.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in search.headers
    assert "frame-ancestors 'none'" in search.headers["content-security-policy"]
    preflight = client.options(
        "/v1/search", headers={"Origin": "https://charity.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert "authorization" not in preflight.headers["access-control-allow-headers"].lower()
    write = client.post("/v1/services", json={})
    assert "access-control-allow-origin" not in write.headers
    https = TestClient(client.app, base_url="https://testserver").get("/healthz")
    assert https.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in client.get("/healthz").headers


@pytest.mark.parametrize(
    "path", ["/hsds/services", "/hsds/services/no-such-service", "/fhir/HealthcareService", "/v1/services.geojson"]
)
def test_a_page_on_another_site_can_read_whether_an_answer_may_be_out_of_date(client: TestClient, path: str) -> None:
    # A browser lets a cross-origin page read only the headers an answer exposes: X-Index-Stale was not among them,
    # and HSDS answers exposed none at all.
    answer = client.get(path, headers={"Origin": "https://charity.example"})
    assert answer.status_code == (404 if "no-such" in path else 200)
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["x-index-stale"] == "false"
    exposed = {name.strip().lower() for name in answer.headers["access-control-expose-headers"].split(",")}
    assert {"x-index-stale", "etag", "x-request-id"} <= exposed


def test_answers_from_the_middleware_are_counted_and_logged_under_their_route(sqlite_engine: Engine) -> None:
    # Routing names the route only when it runs: a refusal before it, and /openapi.json, were all "unmatched".
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        rate_limit_anonymous_per_minute=60,
        rate_limit_anonymous_burst=4,
    )
    with TestClient(create_app(settings, engine=sqlite_engine)) as client, json_log() as log:
        assert client.get("/v1/services/samaritans", headers={"Accept": "text/csv"}).status_code == 406
        assert client.post("/v1/search", content=b"postcode=LS1").status_code == 415
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/no/such/path").status_code == 404
        assert client.get("/v1/search").status_code == 429
        metrics = client.get("/metrics").text
    for route, status in [
        ("/v1/services/{service_id}", "4xx"),
        ("/v1/search", "4xx"),
        ("/openapi.json", "2xx"),
        ("unmatched", "4xx"),  # a path the app has no route for
    ]:
        assert f'service_finder_responses_total{{route="{route}",status="{status}"}}' in metrics
    assert 'service_finder_request_seconds_count{method="POST",route="/v1/search"} 1.0' in metrics
    assert "samaritans" not in metrics
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    logged = {(line["route"], line["status"]) for line in lines if line["message"] == "request"}
    assert {("/v1/services/{service_id}", 406), ("/v1/search", 415), ("/v1/search", 429)} <= logged
