"""GET /v1/coverage over the real gazetteer, and one smoke run of the demonstration directory over all of England."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.coverage.analysis import CoverageQuery, Population, compute, window_instants
from service_finder.coverage.report import to_report
from service_finder.schemas import ServiceRecord
from service_finder.search.index import DirectoryIndex
from service_finder.storage import repository
from tests.conftest import REPO
from tests.coverage.conftest import LEEDS
from tests.factories import make_record

# Friday 27 November 2026, 20:00: the factory café (Leeds, Fridays 18:00-02:00) is open.
FRIDAY_EVENING = "2026-11-27T20:00:00"


def _store(engine: Engine, client: TestClient, *records: Any) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    assert client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]


def test_coverage_of_england_from_one_cafe_in_leeds(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))
    response = client.get("/v1/coverage", params={"at": FRIDAY_EVENING, "km": 5, "age": 30})
    assert response.status_code == 200, response.text
    body = response.json()
    instant = body["instants"][0]
    assert instant["open_services"] == 1
    assert 0 < instant["covered"] < instant["postcodes"]
    leeds = next(d for d in body["districts"] if d["code"] == LEEDS)
    assert leeds["name"] == "Leeds"
    assert 0 < leeds["mean_share"] < 1
    # Only Leeds is in the café's catchment: every other district is uncovered.
    assert all(d["mean_share"] == 0 for d in body["districts"] if d["code"] != LEEDS)
    closed = client.get("/v1/coverage", params={"at": "2026-11-30T12:00:00", "km": 5}).json()
    assert closed["instants"][0]["covered"] == 0


def test_coverage_as_a_figure_and_as_csv(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))
    params: dict[str, str | int] = {"window": "fri 19:00-21:00", "week_of": "2026-11-27", "km": 5}
    png = client.get("/v1/coverage", params=params | {"format": "png", "figure": "heatmap"})
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client.get("/v1/coverage", params=params | {"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"Crown copyright" in svg.content
    rows = client.get("/v1/coverage", params=params | {"format": "csv"}).text.splitlines()
    assert rows[0] == "district_code,district_name,at,postcodes,covered,share"
    assert sum(1 for r in rows if r.startswith(LEEDS)) == 2


def test_a_request_is_bounded_and_bad_input_is_named(client: TestClient) -> None:
    week = client.get("/v1/coverage", params={"window": "daily 00:00-24:00"})
    assert week.status_code == 422
    assert "168 instants" in week.json()["detail"]
    bad = client.get("/v1/coverage", params={"window": "someday 02:00"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "window"
    assert "someday" in bad.json()["detail"]
    both = client.get("/v1/coverage", params={"km": 5, "minutes": 20})
    assert both.status_code == 422
    assert client.get("/v1/coverage", params={"kms": 5}).status_code == 400


@pytest.mark.parametrize(
    ("query", "field", "values"),
    [
        ("window=sat%2002:00&age=16&age=40", "age", ["16", "40"]),
        ("km=10&km=50", "km", ["10", "50"]),
        ("window=sat%2002:00&window=sun%2003:00", "window", ["sat 02:00", "sun 03:00"]),
    ],
)
def test_a_repeated_single_value_parameter_is_refused_naming_both_values(
    client: TestClient, query: str, field: str, values: list[str]
) -> None:
    response = client.get(f"/v1/coverage?{query}")
    assert response.status_code == 422, response.text
    assert (response.json()["field"], response.json()["value"]) == (field, values)


def test_list_parameters_still_repeat(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))
    params: dict[str, list[str] | int] = {"at": [FRIDAY_EVENING, "2026-11-30T12:00:00"], "km": 5}
    response = client.get("/v1/coverage", params=params)
    assert response.status_code == 200, response.text
    assert [instant["covered"] > 0 for instant in response.json()["instants"]] == [True, False]


def test_the_demo_directory_over_every_english_postcode(gazetteer: Any) -> None:
    records = [
        ServiceRecord.model_validate(item)
        for path in (REPO / "data" / "national_lines.json", REPO / "data" / "demo" / "directory.json")
        for item in json.loads(path.read_text())
    ]
    index = DirectoryIndex.build(records, version=1, built_at=datetime(2026, 1, 1, tzinfo=UTC))
    population = Population.from_gazetteer(gazetteer)
    assert len(population) == 1_489_121
    saturday_2am, friday_8pm = window_instants("sat 02:00; fri 20:00", date(2026, 10, 9))[::-1]
    result = compute(index, population, CoverageQuery(), [friday_8pm, saturday_2am])
    report = to_report(result)
    assert report.demo is True
    assert report.postcodes == 1_489_121
    evening, night = report.instants
    assert evening.at < night.at
    # The demonstration directory's cafés open in the evening: more of England is covered at 8pm than at 2am,
    # and neither covers everyone.
    assert 0 < night.share < evening.share < 1
    assert night.open_services < evening.open_services
    assert sum(d.postcodes for d in report.districts) == report.postcodes


@pytest.mark.parametrize("preset", ["week", "weekday-evenings", "nights", "weekend", "Nights"])
def test_a_window_preset_is_refused_by_name_and_pointed_to_the_command_line(client: TestClient, preset: str) -> None:
    # The presets are more hours than a request may take: named, with the command that runs them.
    response = client.get("/v1/coverage", params={"window": f"sat 02:00; {preset}"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["field"], problem["value"]) == ("window", f"sat 02:00; {preset}")
    assert f"window {preset!r} is a command-line preset" in problem["detail"]
    assert f"service-finder coverage --window {preset.lower()}" in problem["detail"]


def test_the_window_description_offers_no_preset_a_request_can_take(client: TestClient) -> None:
    parameters = client.get("/openapi.json").json()["paths"]["/v1/coverage"]["get"]["parameters"]
    window = next(p for p in parameters if p["name"] == "window")
    assert "refused here" in window["description"]
    assert "'nights'" not in window["description"]


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [("window=%20", "window", ""), ("window=", "window", ""), ("week_of=2026-12-21", "week_of", "2026-12-21")],
)
def test_a_blank_window_or_a_week_of_without_one_is_refused_not_computed_for_now(
    client: TestClient, query: str, field: str, value: str
) -> None:
    # Both were ignored: the figures were for now, not the hours or week asked about.
    response = client.get(f"/v1/coverage?{query}&at={FRIDAY_EVENING}")
    assert response.status_code == 422, response.text
    assert (response.json()["field"], response.json()["value"]) == (field, value)
    assert response.json()["detail"].startswith(f"{field} ")
