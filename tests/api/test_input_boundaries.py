"""Inputs a second review found read wrongly or answered with the wrong problem (/tmp/review2, findings 2-11, 16).

Each was a silent wrong answer (a number read as a Unix time, `3_4` read as 34), a problem of the wrong type, a
body that strict JSON parsers refuse, or a detail written in Python's repr. Input handling does not depend on the
store, so these run on SQLite only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import Message, Receive, Scope, Send

from service_finder.api.middleware import RequestIdMiddleware
from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.storage import repository
from tests.conftest import GAZETTEER, json_log
from tests.factories import service_data

PROBLEMS = "https://service-finder.invalid/problems/"
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    with TestClient(create_app(settings, engine=sqlite_engine), raise_server_exceptions=False) as test_client:
        yield test_client


def _refuse_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON: a strict parser (a browser's JSON.parse) refuses the whole body")


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem document, read as a strict parser reads it, checked for its status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = json.loads(response.content, parse_constant=_refuse_constant)
    assert document["type"] == PROBLEMS + slug, document
    return document


def field_and_value(document: dict[str, Any]) -> tuple[Any, Any]:
    return document["field"], document["value"]


# --- 2: the "ISO 8601 only" rule refuses every form of number, not only plain digits ----------------------------

NUMBERS_THAT_PYDANTIC_READS_AS_UNIX_TIME = [
    "1.7e9",
    "2.0e9",
    "1.7E9",
    "1.7e+9",
    "-1.7e9",
    "+1.7e9",
    "+1",
    "1700000000.5",
    "20261127",
]


@pytest.mark.parametrize("at", NUMBERS_THAT_PYDANTIC_READS_AS_UNIX_TIME)
def test_a_number_in_any_form_is_not_an_instant_to_search_at(client: TestClient, at: str) -> None:
    refused = problem(client.get("/v1/search", params={"postcode": "LS1", "at": at}), 422, "invalid-parameter")
    assert field_and_value(refused) == ("at", at)
    assert "ISO 8601" in refused["detail"]
    assert refused["safety_net"]
    posted = problem(client.post("/v1/search", json={"postcode": "LS1", "at": at}), 422, "invalid-parameter")
    assert field_and_value(posted) == ("at", at)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/services", {"modified_after": "1.7e9"}, "modified_after"),
        ("/hsds/services", {"modified_after": "1.7e9"}, "modified_after"),
        ("/v1/coverage", {"at": "1.7e9"}, "at.0"),
        ("/v1/coverage", {"week_of": "1.728e9", "window": "sat 02:00"}, "week_of"),
    ],
)
def test_every_date_parameter_refuses_a_number_in_exponent_form(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    refused = problem(client.get(path, params=params), 422, "invalid-parameter")
    value = params["week_of"] if field == "week_of" else params.get("modified_after", params.get("at"))
    assert field_and_value(refused) == (field, value)


def test_iso_8601_text_is_still_taken(client: TestClient) -> None:
    for at in ("2026-11-27", "2026-11-27T20:00:00", "2026-11-27T20:00:00+00:00", "2026-11-27 20:00"):
        response = client.get("/v1/search", params={"postcode": "LS1", "at": at})
        assert response.status_code == 200, (at, response.text)
    assert client.get("/v1/services", params={"modified_after": "2026-11-01T00:00:00Z"}).status_code == 200


# --- 3: the repeated-key problem is strict JSON, with the safety net -------------------------------------------


def test_a_key_given_twice_with_values_json_cannot_carry_is_answered_in_strict_json(client: TestClient) -> None:
    response = client.post("/v1/search", content=b'{"age": NaN, "age": 1e400}', headers=JSON_HEADERS)
    refused = problem(response, 422, "invalid-parameter")
    assert field_and_value(refused) == ("age", ["nan", "inf"])
    assert refused["detail"] == "'age' is given more than once in the body (NaN, Infinity): give it once"
    assert {"999", "116123"} <= {p["number"] for entry in refused["safety_net"] for p in entry["phones"]}


# --- 6: a body that cannot be read is malformed-body (or names the field), never the generic http-error ---------


def test_a_body_that_is_not_utf8_is_a_malformed_body(client: TestClient) -> None:
    latin1 = '{"postcode": "LS1 1UR", "language": "\xe9n"}'.encode("latin-1")
    response = client.post("/v1/search", content=latin1, headers={"Content-Type": "application/json; charset=latin-1"})
    refused = problem(response, 400, "malformed-body")
    assert field_and_value(refused) == ("body", None)
    assert "UTF-8" in refused["detail"]
    assert refused["safety_net"]


def test_an_integer_too_long_to_read_is_a_422_naming_its_field(client: TestClient) -> None:
    digits = "1" * 5000
    response = client.post("/v1/search", content=f'{{"age": {digits}}}'.encode(), headers=JSON_HEADERS)
    refused = problem(response, 422, "invalid-parameter")
    assert refused["field"] == "age"
    assert refused["value"] == digits[:197] + "..."
    assert "5000 digits" in refused["detail"]
    nested = client.post(
        "/v1/search", content=f'{{"postcode": "LS1", "needs": [{digits}]}}'.encode(), headers=JSON_HEADERS
    )
    assert problem(nested, 422, "invalid-parameter")["field"] == "needs.0"


@pytest.mark.parametrize("depth", [600, 5000])
def test_a_body_nested_too_deep_to_read_is_a_malformed_body(client: TestClient, depth: int) -> None:
    response = client.post("/v1/search", content=("[" * depth + "]" * depth).encode(), headers=JSON_HEADERS)
    refused = problem(response, 400, "malformed-body")
    assert refused["field"] == "body"
    assert "512 deep" in refused["detail"]


# --- 7: a body without Content-Type is 415, not a 422 about a dictionary ----------------------------------------


def test_a_json_body_without_a_content_type_is_415_saying_so(client: TestClient) -> None:
    response = client.post("/v1/search", content=b'{"postcode": "LS1"}')
    assert "content-type" not in response.request.headers
    refused = problem(response, 415, "unsupported-media-type")
    assert field_and_value(refused) == ("Content-Type", None)
    assert "no Content-Type" in refused["detail"]
    assert refused["safety_net"]
    assert client.post("/v1/search", content=b'{"postcode": "LS1"}', headers=JSON_HEADERS).status_code == 200


# --- 8: details are written for people, never in Python's repr -------------------------------------------------


@pytest.mark.parametrize(
    ("request_kwargs", "detail"),
    [
        ({"params": {"lat": "53.8"}}, "lon: give both lat and lon, or neither"),
        (
            {"params": [("lat", "53.8"), ("lon", "-1.55"), ("lat", "53.9")]},
            'lat ["53.8", "53.9"]: given 2 times: give it once',
        ),
        (
            {"params": {"postcode": "LS1\u200b1UR"}},
            "postcode 'LS1<U+200B>1UR' is not a UK postcode or postcode district: use letters and digits",
        ),
        (
            {"params": {"postcode": "LS1\x00"}},
            "postcode 'LS1<U+0000>' is not a UK postcode or postcode district: use letters and digits",
        ),
        (
            {"params": {"postcode": "LS1'"}},
            "postcode 'LS1'' is not a UK postcode or postcode district: use letters and digits",
        ),
        (
            {"params": {"postcode": "LS1", "open": "NOW"}},
            "open 'NOW': must be now, any, or within:<minutes> (1 to 9999), such as within:120",
        ),
        ({"json": {"postcode": "LS1", "age": True}}, "age true: a number is needed, not true or false"),
        ({"json": {"postcode": {"a": 1}}}, 'postcode {"a": 1}: Input should be a valid string'),
        ({"json": None}, "body: must be a JSON object"),
        (
            {"json": {"postcode": "LS1", "language": "EN"}},
            "language 'EN': must be an ISO 639-1 or ISO 639-3 language code in lower case, such as en or syl",
        ),
        (
            {"params": {"postcode": "LS1", "language": "zz"}},
            "language 'zz': no language has this code in ISO 639-1 (two letters) or ISO 639-3 (three letters), such "
            "as ur or syl",
        ),
    ],
)
def test_a_detail_names_the_value_as_people_read_it(
    client: TestClient, request_kwargs: dict[str, Any], detail: str
) -> None:
    method = "POST" if "json" in request_kwargs else "GET"
    if method == "POST":
        request_kwargs = {"content": json.dumps(request_kwargs["json"]).encode(), "headers": JSON_HEADERS}
    refused = problem(client.request(method, "/v1/search", **request_kwargs), 422, "invalid-parameter")
    assert refused["detail"] == detail


def test_a_coverage_choice_is_named_in_words_not_as_a_pattern(client: TestClient) -> None:
    refused = problem(client.get("/v1/coverage", params={"figure": "pie"}), 422, "invalid-parameter")
    assert field_and_value(refused) == ("figure", "pie")
    assert refused["detail"] == "figure 'pie': must be map or heatmap"


def test_an_unknown_hsds_id_is_named_as_people_read_it(client: TestClient) -> None:
    refused = problem(client.get("/hsds/services/no%E2%80%8Bsuch"), 404, "not-found")
    assert refused["detail"] == "service 'no<U+200B>such' is not in the directory"


# --- 9: digit separators are refused on every number parameter -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/search", {"postcode": "LS1", "age": "3_4"}, "age"),
        ("/v1/search", {"lat": "5_3", "lon": "-1.5"}, "lat"),
        ("/v1/search", {"lat": "53.8", "lon": "-1_5"}, "lon"),
        ("/v1/search", {"postcode": "LS1", "radius_km": "2_00"}, "radius_km"),
        ("/v1/search", {"postcode": "LS1", "limit": "1_0"}, "limit"),
        ("/v1/services", {"page": "1_0"}, "page"),
        ("/v1/services", {"per_page": "2_0"}, "per_page"),
        ("/hsds/services", {"page": "1_0"}, "page"),
        ("/hsds/services", {"minimum_age": "1_8"}, "minimum_age"),
        ("/hsds/organizations", {"per_page": "1_0"}, "per_page"),
        ("/hsds/service_at_locations", {"postcode": "LS1 1UR", "proximity": "1_000"}, "proximity"),
        ("/v1/coverage", {"age": "3_0"}, "age"),
        ("/v1/coverage", {"km": "1_0"}, "km"),
    ],
)
def test_a_number_written_with_separators_is_refused_naming_it(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    refused = problem(client.get(path, params=params), 422, "invalid-parameter")
    assert field_and_value(refused) == (field, params[field])
    assert refused["detail"] == f"{field} '{params[field]}': write the number in plain digits, without '_'"


def test_a_number_with_separators_in_a_search_body_is_refused(client: TestClient) -> None:
    refused = problem(client.post("/v1/search", json={"postcode": "LS1", "age": "3_4"}), 422, "invalid-parameter")
    assert field_and_value(refused) == ("age", "3_4")


def test_a_number_with_separators_in_a_record_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        key = repository.create_api_key(session, name="editor", scopes=["write"], now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    body = service_data("cafe")
    body["locations"][0]["latitude"] = "53.801_277"
    response = client.post("/v1/services", json=body, headers={"Authorization": f"Bearer {key}"})
    refused = problem(response, 422, "invalid-parameter")
    assert field_and_value(refused) == ("locations.0.latitude", "53.801_277")


def test_a_word_with_an_underscore_is_still_not_a_number_in_pydantics_words(client: TestClient) -> None:
    refused = problem(client.get("/v1/search", params={"age": "self_harm"}), 422, "invalid-parameter")
    assert field_and_value(refused) == ("age", "self_harm")
    assert "valid integer" in refused["detail"]


# --- 10, 11: a field is named by its place in the request ------------------------------------------------------


def test_a_key_repeated_inside_a_nested_object_is_named_by_its_path(client: TestClient) -> None:
    body = b'{"postcode": "LS1", "extra": {"age": 1, "age": 2}}'
    refused = problem(client.post("/v1/search", content=body, headers=JSON_HEADERS), 422, "invalid-parameter")
    assert field_and_value(refused) == ("extra.age", [1, 2])
    assert refused["detail"] == "'extra.age' is given more than once in the body (1, 2): give it once"
    listed = b'{"needs": [{"a": 1, "a": 2}]}'
    assert (
        problem(client.post("/v1/search", content=listed, headers=JSON_HEADERS), 422, "invalid-parameter")["field"]
        == "needs.0.a"
    )


@pytest.mark.parametrize("path", ["/v1/search", "/v1/services", "/hsds/services"])
def test_a_parameter_with_no_name_is_named_as_the_empty_string(client: TestClient, path: str) -> None:
    refused = problem(client.get(f"{path}?=LS1"), 400, "unknown-parameter")
    assert field_and_value(refused) == ("", "LS1")
    assert "query." not in refused["detail"]


# --- 16: a caller's request id is taken only in a safe shape ---------------------------------------------------


@pytest.mark.parametrize("sent", ["x" * 65, "LS1 1UR", "id,with,commas", "naïve", "LS1-1UR@34", 'quote"d'])
def test_a_request_id_of_another_shape_is_replaced_in_the_answer_and_the_log(client: TestClient, sent: str) -> None:
    with json_log() as log:
        response = client.get("/healthz", headers={b"X-Request-ID": sent.encode()})
    made = response.headers["x-request-id"]
    assert made != sent
    assert len(made) == 32
    logged = [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]
    assert [line["request_id"] for line in logged if line["message"] == "request"] == [made]


def test_a_request_id_of_the_safe_shape_is_echoed(client: TestClient) -> None:
    sent = "a-Z_0.9:" + "x" * 56  # 64 characters
    assert client.get("/healthz", headers={"X-Request-ID": sent}).headers["x-request-id"] == sent


def test_a_request_id_ending_in_a_line_break_is_replaced() -> None:
    # No HTTP client sends a header with a line break in it: the middleware is called as a server would call it.
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope["state"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    scope = {"type": "http", "headers": [(b"x-request-id", b"forged\n"), (b"x-correlation-id", b"ok-1")]}
    asyncio.run(RequestIdMiddleware(app)(scope, receive, send))
    assert len(seen["request_id"]) == 32  # one the server made
    assert seen["correlation_id"] == "ok-1"


def test_a_very_long_value_is_not_echoed_whole(client: TestClient) -> None:
    # A 60 KB postcode was repeated in detail, value and errors: a 182 KB answer to say it is wrong.
    postcode = "A" * 60_000
    response = client.get("/v1/search", params={"postcode": postcode})
    assert response.status_code == 422
    problem = response.json()
    assert problem["field"] == "postcode"
    assert problem["value"].startswith("AAAA")
    assert problem["value"].endswith("(60,000 characters)")
    assert len(response.content) < 20_000
    assert problem["safety_net"]


@pytest.mark.parametrize(
    ("param", "value", "words"),
    [("day", "funday", "a day of the week"), ("start_time", "25:00", "as HH:MM"), ("end_time", "24:01", "as HH:MM")],
)
def test_hsds_filters_say_in_words_what_they_take(client: TestClient, param: str, value: str, words: str) -> None:
    problem = client.get("/hsds/service_at_locations", params={param: value}).json()
    assert (problem["status"], problem["field"], problem["value"]) == (422, param, value)
    assert words in problem["detail"]


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        ("/v1/services/x%20y", 422),  # decoded, 'x y': a space, which no URI reference holds
        ("/v1/services/leeds%2Fcafe", 404),  # decoded, '/v1/services/leeds/cafe': another path than the one asked
        ("/v1/services/caf%C3%A9", 422),
        ("/v1/search/%3Cscript%3E", 404),
        ("/hsds/services/%00", 404),
    ],
)
def test_a_problems_instance_is_the_path_as_it_was_asked_for(client: TestClient, sent: str, status: int) -> None:
    # RFC 9457 3.1.5: `instance` is a URI reference. The decoded path named a resource nobody asked for, or was no
    # URI at all, so a client could neither log it as sent nor request it again.
    response = client.get(sent)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["instance"] == sent
