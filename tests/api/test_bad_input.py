"""Inputs found to give a 500 by review: each must be a 4xx problem+json naming the field, never a 500.

Dates at the ends of the calendar overflowed the hours engine's look-ahead or a time zone's offset; the handler for a
bad value could not itself encode NaN, infinity or a lone surrogate; a superscript digit passed `isdigit()`.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

GET_CASES = [
    ("/v1/search", {"at": "9999-12-31T23:59:59"}, "at"),
    ("/v1/search", {"at": "0001-01-01T00:00:00+14:00"}, "at"),
    ("/v1/services", {"modified_after": "9999-12-31T23:59:59-14:00"}, "modified_after"),
    ("/v1/services", {"modified_after": "0001-01-01T00:00:00+14:00"}, "modified_after"),
    ("/hsds/services", {"modified_after": "9999-12-31T23:59:59-14:00"}, "modified_after"),
    ("/v1/coverage", {"at": "0001-01-01T00:00:00"}, "at.0"),
    ("/v1/coverage", {"at": "1700000000"}, "at.0"),  # a Unix time, refused as everywhere else
    ("/v1/coverage", {"window": "sat 02:00", "week_of": "9999-12-31"}, "week_of"),
]


@pytest.mark.parametrize(("path", "params", "field"), GET_CASES)
def test_dates_at_the_ends_of_the_calendar_are_refused_naming_the_field(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ('{"lat": 1e400, "lon": 1}', "lat", "inf"),
        ('{"lat": NaN, "lon": 1}', "lat", "nan"),
        ('{"postcode": "\\ud800"}', "postcode", "?"),
        ('{"at": "9999-12-31T23:59:59"}', "at", "9999-12-31T23:59:59"),
    ],
)
def test_a_value_json_cannot_carry_is_echoed_as_text(client: TestClient, body: str, field: str, value: Any) -> None:
    response = client.post("/v1/search", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["field"], problem["value"]) == (field, value)


@pytest.mark.parametrize(("age", "shown"), [("\N{SUPERSCRIPT TWO}", "²"), ("\N{ARABIC-INDIC DIGIT THREE}", "٣")])
def test_the_page_asks_again_for_an_age_in_other_digits(client: TestClient, age: str, shown: str) -> None:
    page = client.get("/", params={"postcode": "LS1", "age": age})
    assert page.status_code == 200
    assert "Enter your age in years as a number" in page.text
    assert shown in page.text


def test_the_page_asks_again_for_a_time_outside_the_years_it_can_answer_for(client: TestClient) -> None:
    page = client.get("/", params={"postcode": "LS1", "at": "9999-12-31T23:59:59"})
    assert page.status_code == 200
    assert "between 1900 and 2199" in page.text


# --- the contract's errors, as a review found them (each was a silent wrong answer or the wrong status) --------


def test_a_query_string_beside_a_post_body_is_refused_not_ignored(client: TestClient) -> None:
    response = client.post("/v1/search", params={"postcode": "LS1 1UR", "age": 30}, json={})
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["value"]) == ("postcode", "LS1 1UR")
    assert [e["field"] for e in response.json()["errors"]] == ["postcode", "age"]


@pytest.mark.parametrize("field", ["age", "limit", "radius_km", "lat"])
def test_json_true_and_false_are_not_numbers(client: TestClient, field: str) -> None:
    # Read leniently, {"age": false} was age 0: a baby.
    body: dict[str, Any] = {field: False} if field != "lat" else {"lat": True, "lon": -1.55}
    response = client.post("/v1/search", json=body)
    assert response.status_code == 422, response.text
    assert (response.json()["field"], response.json()["value"]) == (field, body[field])


def test_contradictions_name_the_field_to_change(client: TestClient) -> None:
    alone = client.get("/v1/search", params={"lat": 53.8})
    assert (alone.status_code, alone.json()["field"]) == (422, "lon")
    both = client.post("/v1/search", json={"lat": 53.8, "lon": -1.55, "postcode": "LS1 1UR"})
    assert (both.status_code, both.json()["field"], both.json()["value"]) == (422, "postcode", "LS1 1UR")


def test_a_body_that_is_not_json_is_400_and_one_that_says_it_is_not_json_is_415(client: TestClient) -> None:
    broken = client.post("/v1/search", content=b"nonjson", headers={"Content-Type": "application/json"})
    assert (broken.status_code, broken.json()["type"].rsplit("/", 1)[1]) == (400, "malformed-body")
    assert "not valid JSON" in broken.json()["detail"]
    form = client.post("/v1/search", content=b'{"age": 30}', headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    assert form.json()["value"] == "text/plain"
    merge = client.post("/v1/search", content=b"{}", headers={"Content-Type": "application/merge-patch+json"})
    assert merge.status_code == 200  # any +json type is JSON


@pytest.mark.parametrize(
    "path", ["/v1/services", "/v1/services/samaritans", "/v1/services.geojson", "/v1/services/samaritans/history"]
)
def test_reads_without_a_query_model_refuse_unknown_parameters_too(client: TestClient, path: str) -> None:
    response = client.get(path, params={"pag": "2"})
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["value"]) == ("pag", "2")


def test_other_authorization_schemes_are_not_keys_and_a_401_says_how_to_send_one(client: TestClient) -> None:
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert client.get("/v1/search", headers=basic).status_code == 200  # a proxy's credentials: answered as anyone
    write = client.post("/v1/services", json={}, headers=basic)
    assert write.status_code == 401
    assert write.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in write.json()["detail"]


def test_the_problem_type_sent_for_a_large_body_is_the_one_documented(client: TestClient) -> None:
    from service_finder.api.docs import problem_example

    response = client.post("/v1/search", content=b" " * (2 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["type"] == problem_example(413, detail="", instance="/")["type"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/search", [("age", "3"), ("age", "40")], "age"),
        ("/v1/search", [("postcode", "LS1"), ("lat", "53.8"), ("postcode", "LS2")], "postcode"),
        ("/v1/services", [("page", "1"), ("page", "2")], "page"),
    ],
)
def test_a_single_value_parameter_given_twice_is_refused_naming_both_values(
    client: TestClient, path: str, params: list[tuple[str, str | int | float | bool | None]], field: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["value"] == [value for name, value in params if name == field]
    assert client.get("/v1/search", params=[("needs", "self_harm"), ("needs", "alcohol")]).status_code == 200


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/search", "GET, HEAD, POST"),
        ("/v1/services/samaritans", "DELETE, GET, HEAD, PATCH, PUT"),
        ("/v1/services", "GET, HEAD, POST"),
    ],
)
def test_a_405_names_every_method_the_path_takes_and_head_works_where_get_does(
    client: TestClient, path: str, allowed: str
) -> None:
    refused = client.request("TRACE", path)
    assert refused.status_code == 405
    assert refused.headers["allow"] == allowed
    head = client.head(path)
    got = client.get(path)
    assert head.status_code == got.status_code
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    # Counted under its route, not as unmatched.
    template = path.replace("samaritans", "{service_id}")
    assert f'method="HEAD",route="{template}"' in client.get("/metrics").text


def test_a_405_from_a_mount_sends_no_empty_allow(client: TestClient) -> None:
    refused = client.post("/docs/static/swagger-ui.css")
    assert refused.status_code == 405
    assert refused.headers.get("allow") != ""


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("GET", {"params": {"postcode": "ZZ99 9ZZ"}}, 422),
        ("GET", {"params": {"postcod": "LS1 1UR"}}, 400),
        ("POST", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ],
)
def test_a_refused_search_still_gives_the_numbers_to_call(
    client: TestClient, method: str, kwargs: dict[str, Any], status: int
) -> None:
    response = client.request(method, "/v1/search", **kwargs)
    assert response.status_code == status
    numbers = {p["number"] for entry in response.json()["safety_net"] for p in entry["phones"]}
    assert {"999", "116123"} <= {n.removeprefix("+44") for n in numbers} | numbers
    assert "safety_net" not in client.get("/v1/services/no-such-service").json()  # only search answers carry it


@pytest.mark.parametrize(
    ("path", "params", "field", "value"),
    [
        ("/v1/search", {"lat": "NaN", "lon": "-1.55"}, "lat", "NaN"),
        ("/v1/search", {"lat": "53.8", "lon": "-Infinity"}, "lon", "-Infinity"),
        ("/v1/search", {"postcode": "LS1", "radius_km": "1e309"}, "radius_km", "1e309"),
        ("/v1/coverage", {"km": "NaN"}, "km", "NaN"),
        ("/v1/coverage", {"minutes": "inf"}, "minutes", "inf"),
    ],
)
def test_nan_and_infinity_are_said_to_be_no_number_not_out_of_range(
    client: TestClient, path: str, params: dict[str, str], field: str, value: str
) -> None:
    # NaN fails every comparison, so the first bound checked answered for it: "lat 'NaN': Input should be less than or
    # equal to 90", sending a developer to look at the range rather than at where the NaN came from.
    response = client.get(path, params=params)

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{field} '{value}': Input should be a finite number"


def test_a_body_with_nan_is_said_to_be_no_number(client: TestClient) -> None:
    response = client.post("/v1/search", content='{"lat": NaN, "lon": 1}', headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "lat NaN: Input should be a finite number"
