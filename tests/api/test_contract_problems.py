"""The error contract NHS 111 systems write clients from: every status and problem type the server can send is in
the OpenAPI document and docs/api.md, each type with one title, and the server behaves as both say."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service_finder import errors
from service_finder.config import Settings
from service_finder.errors import PROBLEM_BASE, PROBLEM_TYPES, ServiceFinderError
from service_finder.main import create_app
from service_finder.openapi import openapi_document
from tests.conftest import GAZETTEER

REPO = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}
METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


@pytest.fixture
def api(sqlite_engine: Engine) -> Iterator[TestClient]:
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    with TestClient(create_app(settings, engine=sqlite_engine), raise_server_exceptions=False) as client:
        yield client


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def _examples(response: dict[str, Any]) -> list[Any]:
    found = []
    for media in response.get("content", {}).values():
        if "example" in media:
            found.append(media["example"])
        found += [named["value"] for named in media.get("examples", {}).values()]
    return found


def _slugs(response: dict[str, Any]) -> set[str]:
    return {
        str(e["type"]).removeprefix(PROBLEM_BASE) for e in _examples(response) if isinstance(e, dict) and "type" in e
    }


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + slug, body
    assert body["title"] == PROBLEM_TYPES[slug].title
    return body


# --- 1: what the middleware sends is documented on every operation it can reach ----------------------------------


def test_406_is_documented_on_every_operation(document: dict[str, Any]) -> None:
    missing = [f"{m} {p}" for m, p, operation in _operations(document) if "406" not in operation["responses"]]
    assert missing == []
    assert "not-acceptable" in _slugs(document["paths"]["/v1/search"]["get"]["responses"]["406"])


def test_a_bad_key_and_the_rate_limit_are_documented_on_every_limited_operation(document: dict[str, Any]) -> None:
    probes = {"/healthz", "/readyz", "/metrics"}
    missing = [
        f"{method} {path} {status}"
        for method, path, operation in _operations(document)
        for status in ("401", "429")
        if path not in probes and status not in operation["responses"]
    ]
    assert missing == []
    read = document["paths"]["/v1/search"]["get"]["responses"]["401"]
    assert "WWW-Authenticate" in read["headers"]
    assert "unauthorised" in _slugs(read)


@pytest.mark.parametrize(("status", "header"), [("401", "WWW-Authenticate"), ("429", "Retry-After")])
def test_fhir_documents_401_and_429_as_operation_outcomes(document: dict[str, Any], status: str, header: str) -> None:
    for path in ("/fhir/metadata", "/fhir/Location", "/fhir/HealthcareService/{resource_id}"):
        response = document["paths"][path]["get"]["responses"][status]
        assert header in response["headers"], path
        assert list(response["content"]) == ["application/fhir+json"], path
        assert response["content"]["application/fhir+json"]["example"]["resourceType"] == "OperationOutcome"


def test_request_timeout_is_documented_exactly_where_it_can_happen(document: dict[str, Any]) -> None:
    timed = {
        f"{method} {path}"
        for method, path, operation in _operations(document)
        if "request-timeout" in _slugs(operation["responses"].get("503", {}))
        or any(
            e.get("resourceType") == "OperationOutcome" and "request-timeout" in e["issue"][0]["diagnostics"]
            for e in _examples(operation["responses"].get("503", {}))
        )
    }
    # Writes are never timed; GET /v1/search and the probes compute on the event loop and are never cut short.
    assert not {"GET /v1/search", "GET /healthz", "GET /readyz", "GET /metrics"} & timed
    assert not {m for m in timed if m.split()[0] in {"PUT", "PATCH", "DELETE"} or m == "POST /v1/services"}
    assert {
        "POST /v1/search",
        "GET /v1/services.geojson",
        "GET /hsds/services",
        "GET /fhir/metadata",
        "GET /v1/services/{service_id}/history",
        "GET /v1/services",
        "GET /v1/coverage",
    } <= timed
    post = document["paths"]["/v1/search"]["post"]["responses"]["503"]
    assert "body did not arrive" in post["description"]
    assert "Retry-After" in post["headers"]


def test_a_search_is_never_answered_request_timeout(sqlite_engine: Engine) -> None:
    # The documented truth: a tiny time limit still lets every GET search through.
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        rate_limit_enabled=False,
        request_timeout_seconds=0.001,
    )
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        statuses = {client.get("/v1/search", params={"postcode": "LS1 1UR", "explain": "true"}).status_code}
        statuses |= {client.get("/v1/search").status_code for _ in range(5)}
    assert statuses == {200}


def test_every_problem_type_is_listed_on_the_problem_schema(document: dict[str, Any]) -> None:
    described = document["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
    for slug in ("method-not-allowed", "not-acceptable", "malformed-body", "request-timeout", "http-error", "gone"):
        assert slug in PROBLEM_TYPES
    missing = [slug for slug in PROBLEM_TYPES if f"`{slug}`" not in described]
    assert missing == []


def test_every_error_class_is_a_listed_problem_type_and_is_raised() -> None:
    source = "\n".join(
        path.read_text(encoding="utf-8") for path in (REPO / "service_finder").rglob("*.py") if path.name != "errors.py"
    )
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ServiceFinderError)]
    for error in classes:
        listed = PROBLEM_TYPES[error.slug]
        assert (listed.status, listed.title) == (error.status, error.title), error.__name__
        if error is not ServiceFinderError:  # the base is the catch-all internal-error
            assert re.search(rf"\b{error.__name__}\(", source), f"{error.__name__} is never raised"


# --- 3 and 4: docs/api.md lists every type; each type has one title, in the document and on the wire -------------


def test_api_guide_has_a_row_for_every_problem_type() -> None:
    guide = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (\d+)", guide, flags=re.MULTILINE))
    assert rows == {slug: str(p.status) for slug, p in PROBLEM_TYPES.items()}
    required = (
        "method-not-allowed not-acceptable payload-too-large too-many-requests store-unavailable gazetteer-unavailable "
        "unauthorised forbidden conflict precondition-failed precondition-required internal-error record-unreadable "
        "http-error gone request-timeout malformed-body"
    )
    assert set(required.split()) <= set(rows)


def test_every_example_problem_has_the_title_the_server_sends(document: dict[str, Any]) -> None:
    wrong = [
        f"{method} {path} {status}: {example['title']!r}"
        for method, path, operation in _operations(document)
        for status, response in operation["responses"].items()
        if status[0] in "45"
        for example in _examples(response)
        if isinstance(example, dict)
        and "type" in example
        and example["title"] != PROBLEM_TYPES[str(example["type"]).removeprefix(PROBLEM_BASE)].title
    ]
    assert wrong == []


def test_not_found_has_one_title_for_an_unknown_path_and_an_unknown_id(api: TestClient) -> None:
    titles = {problem(api.get(path), 404, "not-found")["title"] for path in ("/nope", "/v1/services/nope")}
    assert titles == {"Not found"}


def test_a_method_not_allowed_is_the_documented_type(api: TestClient) -> None:
    refused = api.delete("/v1/search")
    problem(refused, 405, "method-not-allowed")
    assert refused.headers["allow"] == "GET, HEAD, POST"


# --- 2: a trailing slash is a 404, never a redirect built from the Host header -----------------------------------


@pytest.mark.parametrize("path", ["/v1/search/", "/v1/services/", "/fhir/metadata/"])
def test_a_trailing_slash_is_not_found_not_redirected(api: TestClient, path: str) -> None:
    response = api.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers


def test_a_search_at_a_mistyped_path_still_carries_the_safety_net(api: TestClient) -> None:
    # It was a redirect to real results; now a 404, which must still give the person numbers to call.
    response = api.get("/v1/search/", params={"postcode": "LS1 1UR"})
    assert response.status_code == 404
    assert {"emergency-999", "samaritans"} <= {line["id"] for line in response.json()["safety_net"]}
    # Refused by the middleware in front of the routes (here: a media type it cannot send), too.
    refused = api.get("/v1/search/", params={"postcode": "LS1 1UR"}, headers={"Accept": "text/html"})
    assert refused.status_code == 406
    assert {"emergency-999", "samaritans"} <= {line["id"] for line in refused.json()["safety_net"]}


@pytest.mark.parametrize("path", ["/", "/embed", "/embed/snippet", "/docs", "/redoc", "/hsds/"])
def test_the_pages_and_docs_are_still_served(api: TestClient, path: str) -> None:
    assert api.get(path, follow_redirects=False).status_code == 200


def test_the_hsds_base_url_answers_with_or_without_its_slash(api: TestClient) -> None:
    # ORUK clients are configured with a base URL, often written without the slash.
    bare = api.get("/hsds", follow_redirects=False)
    assert bare.status_code == 200
    assert bare.json() == api.get("/hsds/").json()


# --- 5: an X-Correlation-ID sent alone is the request id ---------------------------------------------------------


def test_a_correlation_id_sent_alone_is_the_request_id(api: TestClient) -> None:
    response = api.get("/v1/services/nope", headers={"X-Correlation-ID": "my-corr-123"})
    assert response.headers["x-request-id"] == "my-corr-123"
    assert response.headers["x-correlation-id"] == "my-corr-123"
    assert response.json()["request_id"] == "my-corr-123"
    both = api.get("/healthz", headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"})
    assert (both.headers["x-request-id"], both.headers["x-correlation-id"]) == ("req-1", "corr-1")


def test_both_id_headers_are_documented_on_every_response(document: dict[str, Any]) -> None:
    assert "X-Correlation-ID" in document["components"]["headers"]
    missing = [
        f"{method} {path} {status}"
        for method, path, operation in _operations(document)
        for status, response in operation["responses"].items()
        if not {"X-Request-ID", "X-Correlation-ID"} <= set(response.get("headers", {}))
    ]
    assert missing == []


# --- 6: bodies are read as the documentation says ----------------------------------------------------------------


def test_an_empty_json_body_is_a_malformed_body(api: TestClient) -> None:
    refused = problem(api.post("/v1/search", content=b"", headers=JSON), 400, "malformed-body")
    assert "empty" in refused["detail"]
    assert refused["safety_net"]
    assert api.post("/v1/search", content=b"{}", headers=JSON).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"postcode": "LS1 1UR"}'.encode("utf-16"),  # with its byte order mark
        '{"postcode": "LS1 1UR"}'.encode("utf-16-le"),
        '{"postcode": "LS1 1UR"}'.encode("utf-32"),
        '{"postcode": "LS1 1UR"}'.encode("utf-8-sig"),
    ],
    ids=["utf-16", "utf-16-le-no-bom", "utf-32", "utf-8-bom"],
)
def test_a_body_that_is_not_plain_utf8_is_a_malformed_body(api: TestClient, body: bytes) -> None:
    refused = problem(api.post("/v1/search", content=body, headers=JSON), 400, "malformed-body")
    assert refused["field"] == "body"
    if body.startswith(b"\xef\xbb\xbf"):
        assert "byte order mark" in refused["detail"]


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        ("[" * 512 + "]" * 512, 512),
        ('{"needs":' + "[" * 511 + "]" * 511 + "}", 512),
        ("[" * 513 + "]" * 513, 513),
        ('{"needs":' + "[" * 512 + "]" * 512 + "}", 513),
    ],
)
def test_the_nesting_limit_is_exactly_512(api: TestClient, body: str, deep: int) -> None:
    response = api.post("/v1/search", content=body.encode(), headers=JSON)
    if deep <= 512:
        assert response.status_code == 422, response.text  # read, and refused for what it says
    else:
        assert "more than 512 deep" in problem(response, 400, "malformed-body")["detail"]


def test_invalid_json_still_says_where_it_breaks(api: TestClient) -> None:
    refused = problem(api.post("/v1/search", content=b'{"postcode": }', headers=JSON), 400, "malformed-body")
    assert refused["detail"].startswith("the body is not valid JSON at character 13: ")


# --- 9: a browser may revalidate a public read, and never send a key or a write ----------------------------------


def test_a_preflight_allows_revalidation_but_never_a_key_or_a_write(api: TestClient) -> None:
    origin = {"Origin": "https://charity.example", "Access-Control-Request-Method": "GET"}
    for path in ("/v1/services/samaritans", "/v1/search", "/hsds/services"):
        preflight = api.options(path, headers={**origin, "Access-Control-Request-Headers": "if-none-match"})
        assert preflight.status_code == 204
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert "if-none-match" in allowed
        assert not {"authorization", "x-api-key"} & allowed
        assert "access-control-allow-credentials" not in preflight.headers
    methods = api.options("/v1/services", headers=origin).headers["access-control-allow-methods"]
    assert not {"POST", "PUT", "PATCH", "DELETE"} & {m.strip() for m in methods.split(",")}
    assert "POST" in api.options("/v1/search", headers=origin).headers["access-control-allow-methods"]
