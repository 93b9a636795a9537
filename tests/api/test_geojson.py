from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.interop.geojson import BBOX_PATTERN
from service_finder.schemas import ServiceRecord
from service_finder.storage import repository
from tests.factories import make_record

LONDON_PLACE = {
    "id": "london-loc",
    "name": "Somewhere in London",
    "address": "1 Whitehall",
    "city": "London",
    "postcode": "SW1A 2AA",
    "latitude": 51.50354,
    "longitude": -0.127695,
}


def _store(engine: Engine, client: TestClient, *records: ServiceRecord) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    assert client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]


def _collection(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/services.geojson", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "FeatureCollection"
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        assert len(feature["geometry"]["coordinates"]) == 2
    return body


def test_one_point_per_location_in_longitude_latitude_order(client: TestClient, engine: Engine) -> None:
    two_places = make_record(
        "two-places",
        name="Two Places",
        locations=[
            LONDON_PLACE,
            {
                **LONDON_PLACE,
                "id": "leeds-loc",
                "name": "Civic Hall",
                "postcode": "LS1 1UR",
                "latitude": 53.801277,
                "longitude": -1.548567,
            },
        ],
        schedules=[],
    )
    phone_only = make_record("phone-only", kind="crisis_line", locations=[], schedules=[])
    _store(engine, client, two_places, phone_only)
    features = _collection(client)["features"]
    assert {f["id"]: f["geometry"]["coordinates"] for f in features} == {
        "two-places/london-loc": [-0.127695, 51.50354],
        "two-places/leeds-loc": [-1.548567, 53.801277],
    }
    properties = next(f["properties"] for f in features if f["id"] == "two-places/london-loc")
    assert properties == {
        "id": "two-places",
        "location_id": "london-loc",
        "name": "Two Places",
        "kind": "crisis_cafe",
        "kind_label": "Crisis café, safe haven or sanctuary",
        "demo": False,
        "status": "active",
        "phones": ["0113 496 0001"],
        "phone_numbers": [{"display": "0113 496 0001", "type": "voice"}],
        "url": None,
        "address": "Somewhere in London, 1 Whitehall, London",
        "postcode": "SW1A 2AA",
        "verified_at": "2026-10-01T09:00:00Z",
        "stale": client.get("/v1/services/two-places").json()["stale"],  # as every other answer says
    }


def test_two_services_at_one_place_are_two_features_with_their_own_ids(client: TestClient, engine: Engine) -> None:
    _store(
        engine,
        client,
        make_record("night-cafe", locations=[LONDON_PLACE], schedules=[]),
        make_record("day-cafe", locations=[LONDON_PLACE], schedules=[]),
    )
    features = _collection(client)["features"]
    assert sorted(f["id"] for f in features) == ["day-cafe/london-loc", "night-cafe/london-loc"]
    assert [f["properties"]["location_id"] for f in features] == ["london-loc", "london-loc"]


def test_demonstration_records_say_so(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("demo-cafe", provenance={"source_name": "demo"}))
    [feature] = _collection(client)["features"]
    assert feature["properties"]["demo"] is True


def test_a_stale_record_is_marked_on_the_map_as_in_every_other_answer(client: TestClient, engine: Engine) -> None:
    # A map built from the GeoJSON showed a record past its review date, and its numbers, as current.
    checked = datetime.now(UTC) - timedelta(days=30)
    fresh = {"source_name": "test", "verified_at": checked.isoformat(), "verify_due": "2199-01-01"}
    overdue = fresh | {"verify_due": (checked + timedelta(days=7)).date().isoformat()}
    _store(engine, client, make_record("fresh-cafe", provenance=fresh), make_record("overdue-cafe", provenance=overdue))
    stale = {f["properties"]["id"]: f["properties"]["stale"] for f in _collection(client)["features"]}
    assert stale == {"fresh-cafe": False, "overdue-cafe": True}
    assert stale["overdue-cafe"] is client.get("/v1/services/overdue-cafe").json()["stale"]


def test_kind_and_bbox_filters(client: TestClient, engine: Engine) -> None:
    _store(
        engine,
        client,
        make_record("leeds-cafe"),
        make_record("london-house", kind="crisis_house", locations=[LONDON_PLACE], schedules=[]),
    )
    assert [f["properties"]["id"] for f in _collection(client, kind="crisis_house")["features"]] == ["london-house"]
    around_leeds = _collection(client, bbox="-1.7,53.7,-1.4,53.9")["features"]
    assert [f["properties"]["id"] for f in around_leeds] == ["leeds-cafe"]
    assert _collection(client, bbox="-1.7,53.7,-1.4,53.9", kind="crisis_house")["features"] == []


def test_a_box_across_the_antimeridian_and_latitudes_in_either_order(client: TestClient, engine: Engine) -> None:
    _store(
        engine,
        client,
        make_record("leeds-cafe"),
        make_record("london-house", kind="crisis_house", locations=[LONDON_PLACE], schedules=[]),
    )
    # West edge east of the east edge (RFC 7946 5.2): everything but the strip between -1.7 and -1.4, so London.
    across = _collection(client, bbox="-1.4,50,-1.7,56")["features"]
    assert [f["properties"]["id"] for f in across] == ["london-house"]
    # The same band between two parallels, whichever is written first.
    upside_down = _collection(client, bbox="-1.7,53.9,-1.4,53.7")["features"]
    assert [f["properties"]["id"] for f in upside_down] == ["leeds-cafe"]


def test_the_documented_bbox_pattern_is_what_the_route_accepts(client: TestClient) -> None:
    parameter = next(
        p
        for p in client.get("/openapi.json").json()["paths"]["/v1/services.geojson"]["get"]["parameters"]
        if p["name"] == "bbox"
    )
    assert parameter["schema"]["pattern"] == BBOX_PATTERN
    assert client.get("/v1/services.geojson", params={"bbox": "-180,-90,180,90.0"}).status_code == 200


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "1e1,2,3,4", "-181,50,1,51", "-1,50,1,91", " -1,50,1,51"])
def test_a_bad_bbox_is_a_problem_naming_it(client: TestClient, bbox: str) -> None:
    response = client.get("/v1/services.geojson", params={"bbox": bbox})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["field"], response.json()["value"]) == ("bbox", bbox)
    assert repr(bbox) in response.json()["detail"]
