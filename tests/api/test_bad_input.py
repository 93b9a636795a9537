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
