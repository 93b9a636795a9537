from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.storage import repository
from service_finder.storage.repository import Change
from tests.factories import make_record

# A Friday evening in November (GMT): the factory café opens Fridays 18:00-02:00.
FRIDAY_EVENING = "2026-11-27T20:00:00"


def _store(engine: Engine, client: TestClient, *records: Any) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    # The app's catalogue polls the data version; refresh it now rather than wait for the next poll.
    assert client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]


def test_get_and_post_give_the_same_answer(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))
    params: dict[str, str | int | list[str]] = {
        "postcode": "LS1 1UR",
        "at": FRIDAY_EVENING,
        "age": 30,
        "needs": ["self_harm"],
    }
    got = client.get("/v1/search", params=params)
    posted = client.post("/v1/search", json=params)
    assert got.status_code == posted.status_code == 200
    assert got.json()["results"] == posted.json()["results"]
    assert [r["service"]["id"] for r in got.json()["results"]] == ["leeds-cafe"]


def test_a_result_says_when_it_closes_and_why_it_fits(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))
    body = client.get("/v1/search", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "age": 30}).json()
    result = body["results"][0]
    assert result["open_now"] is True
    assert result["closes_at"] == "2026-11-28T02:00:00Z"
    assert "walk-in, no referral needed" in result["match_reasons"]
    assert result["eligibility"]["verdict"] == "eligible"
    assert result["distance_basis"] == "straight line"
    assert body["query"]["location"]["district_name"] == "Leeds"
    assert body["query"]["at"] == "2026-11-27T20:00:00Z"


def test_a_closed_service_is_left_out_and_explained(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))
    monday = {"postcode": "LS1 1UR", "at": "2026-11-30T12:00:00", "explain": "true"}
    body = client.get("/v1/search", params=monday).json()
    assert body["results"] == []
    assert body["excluded"][0]["id"] == "leeds-cafe"
    assert body["excluded"][0]["reasons"] == ["closed until Fri 04 Dec 18:00"]
    assert [s["id"] for s in body["safety_net"]][:4] == [
        "emergency-999",
        "nhs-111-mental-health",
        "samaritans",
        "shout",
    ]


def test_an_empty_directory_still_answers_with_the_safety_net(client: TestClient) -> None:
    body = client.get("/v1/search").json()
    assert body["results"] == []
    numbers = {p["number"] for entry in body["safety_net"] for p in entry["phones"]}
    assert {"999", "111", "116123", "85258"} <= numbers


def test_the_data_version_moves_when_the_store_changes(client: TestClient, engine: Engine) -> None:
    before = client.get("/v1/search").json()["data_version"]
    _store(engine, client, make_record("new-service"))
    assert client.get("/v1/search").json()["data_version"] == before + 1


def test_location_problems_name_the_field_and_value(client: TestClient) -> None:
    cases = {
        "EH1 1YZ": "postcode 'EH1 1YZ' is in Scotland, outside England",
        "ZZ9 9ZZ": "postcode 'ZZ9 9ZZ' is not a known postcode",
        "12345": "postcode '12345' is not a UK postcode or postcode district",
        # A postcode sector: with its space dropped it read as the district CA15, 40 km away.
        "CA1 5": "postcode 'CA1 5' is not a UK postcode or postcode district: give the whole postcode or its "
        "district 'CA1'",
    }
    for postcode, detail in cases.items():
        response = client.get("/v1/search", params={"postcode": postcode})
        assert response.status_code == 422
        assert response.json()["detail"] == detail
        assert (response.json()["field"], response.json()["value"]) == ("postcode", postcode)
    paris = client.get("/v1/search", params={"lat": 48.85, "lon": 2.35})
    assert paris.status_code == 422
    assert paris.json()["field"] == "lat"


def test_bad_values_and_contradictions_are_422(client: TestClient) -> None:
    cases: list[tuple[dict[str, str | int | list[str]], str]] = [
        ({"age": -3}, "age"),
        ({"radius_km": 10000}, "radius_km"),
        ({"open": "soon"}, "open"),
        ({"limit": 51}, "limit"),
        ({"needs": "flying"}, "needs.0"),
        ({"at": "1700000000"}, "at"),
        ({"at": "1900-01-01T00:00:00+14:00"}, "at"),  # an instant of 1899, in UTC and in London
        ({"modes": ["phone", "sms"]}, "modes.1"),
    ]
    for params, field in cases:
        response = client.get("/v1/search", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field
    both = client.get("/v1/search", params={"lat": 53.8, "lon": -1.5, "postcode": "LS1 1UR"})
    assert both.status_code == 422
    assert "not both" in both.json()["detail"]
    half = client.get("/v1/search", params={"lat": 53.8})
    assert "give both lat and lon" in half.json()["detail"]


def test_a_value_repeated_counts_once_against_a_lists_limit(client: TestClient) -> None:
    # Repeats mean the same as once (docs/api.md), so all four modes with one of them twice are four, not five.
    modes = ["phone", "phone", "text", "online", "in_person"]
    response = client.get("/v1/search", params={"modes": modes})
    assert response.status_code == 200, response.text
    assert response.json()["query"]["request"]["modes"] == ["phone", "text", "online", "in_person"]
    assert client.post("/v1/search", json={"modes": modes}).json()["query"]["request"]["modes"] == [
        "phone",
        "text",
        "online",
        "in_person",
    ]


def test_unknown_parameters_are_400_naming_them(client: TestClient) -> None:
    response = client.get("/v1/search", params={"postcod": "LS1 1UR"})
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["value"]) == ("postcod", "LS1 1UR")
    body = client.post("/v1/search", json={"postcod": "LS1 1UR"})
    assert body.status_code == 400  # the same answer whether the misspelt name came in the query or the body
    assert (body.json()["type"], body.json()["field"]) == (response.json()["type"], "postcod")


def test_an_update_reaches_search_after_refresh(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))
    params: dict[str, str | int] = {"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "age": 16}
    assert client.get("/v1/search", params=params).json()["results"] == []
    with Session(engine) as session:
        outcome = repository.upsert_services(
            session, [make_record("leeds-cafe", eligibility={"minimum_age": 16})], actor="t"
        )
        session.commit()
    assert outcome == {Change.updated: 1}
    assert client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    assert [r["service"]["id"] for r in client.get("/v1/search", params=params).json()["results"]] == ["leeds-cafe"]


def test_a_search_by_coordinates_knows_the_district(client: TestClient, engine: Engine) -> None:
    local_line = make_record(
        "leeds-crisis-line",
        kind="crisis_line",
        locations=[],
        schedules=[{"id": "always", "always_open": True}],
        access={"contact_modes": ["phone"]},
    )
    _store(engine, client, make_record("leeds-cafe"), local_line)
    body = client.get("/v1/search", params={"lat": 53.8008, "lon": -1.5491, "at": FRIDAY_EVENING, "age": 30}).json()
    assert body["query"]["location"]["district_code"] == "E08000035"
    cafe = next(r for r in body["results"] if r["service"]["id"] == "leeds-cafe")
    assert cafe["eligibility"]["verdict"] == "eligible"
    assert [s["id"] for s in body["safety_net"] if s["local"]] == ["leeds-crisis-line"]


def test_coordinates_in_wales_are_answered_but_england_wide_services_are_not_confirmed(
    client: TestClient, engine: Engine
) -> None:
    # The postcode CF10 1EP is refused (422, outside England); the same place as coordinates (an app's location,
    # which near a border cannot be refused on a guess) is answered, with the safety net, but a service for
    # anyone in England cannot be "eligible" there.
    england_line = make_record(
        "england-wide-line",
        kind="helpline",
        locations=[],
        schedules=[{"id": "always", "always_open": True}],
        access={"contact_modes": ["phone"]},
        eligibility={"catchment": {"type": "england"}},
    )
    _store(engine, client, england_line)
    assert client.get("/v1/search", params={"postcode": "CF10 1EP"}).status_code == 422
    cardiff: dict[str, str | float | int] = {"lat": 51.4816, "lon": -3.1791, "at": FRIDAY_EVENING, "age": 30}
    response = client.get("/v1/search", params=cardiff)
    assert response.status_code == 200
    body = response.json()
    assert body["query"]["location"]["country"] == "wales"
    assert body["safety_net"]
    line = next(r for r in body["results"] if r["service"]["id"] == "england-wide-line")
    assert line["eligibility"]["verdict"] == "check"
    [catchment] = [c for c in line["eligibility"]["criteria"] if c["criterion"] == "catchment"]
    assert catchment["result"] == "unknown"
    assert "may be outside England" in catchment["reason"]
    # In Leeds the same service is confirmed.
    leeds = client.get("/v1/search", params={"lat": 53.8008, "lon": -1.5491, "at": FRIDAY_EVENING, "age": 30}).json()
    assert leeds["query"]["location"]["country"] == "england"
    confirmed = next(r for r in leeds["results"] if r["service"]["id"] == "england-wide-line")
    assert confirmed["eligibility"]["verdict"] == "eligible"


def test_a_postcode_district_spanning_two_authorities_is_not_taken_for_one_of_them(
    client: TestClient, engine: Engine
) -> None:
    # BA3 is in Bath and North East Somerset (most of its postcodes) and in Somerset. Someone who types "BA3" may
    # live in either: a Somerset-only service must not be ruled out, nor a B&NES-only one confirmed; a service for
    # both is. Each authority's 24/7 line is offered.
    bnes, somerset = "E06000022", "E06000066"

    def cafe(service_id: str, districts: list[str]) -> Any:
        return make_record(
            service_id,
            eligibility={"minimum_age": None, "catchment": {"type": "districts", "districts": districts}},
            locations=[
                {"id": f"{service_id}-loc", "postcode": "BA3 2RX", "latitude": 51.288731, "longitude": -2.498839}
            ],
            schedules=[{"id": f"{service_id}-hours", "always_open": True}],
        )

    _store(
        engine,
        client,
        cafe("bnes-only", [bnes]),
        cafe("somerset-only", [somerset]),
        cafe("both", [bnes, somerset]),
        _line("bnes-line", [bnes]),
        _line("somerset-line", [somerset]),
    )
    body = client.get("/v1/search", params={"postcode": "BA3", "at": FRIDAY_EVENING, "explain": "true"}).json()
    assert body["query"]["location"]["district_codes"] == [bnes, somerset]
    verdicts = {r["service"]["id"]: r["eligibility"]["verdict"] for r in body["results"]}
    assert verdicts == {
        "both": "eligible",
        "bnes-only": "check",
        "somerset-only": "check",
        "bnes-line": "check",  # the lines are also results (remote); each covers only part of BA3
        "somerset-line": "check",
    }
    assert {s["id"] for s in body["safety_net"] if s["local"]} == {"bnes-line", "somerset-line"}
    # A full postcode in the Somerset part is one authority: certain either way.
    full = client.get("/v1/search", params={"postcode": "BA3 2RX", "at": FRIDAY_EVENING, "explain": "true"}).json()
    assert full["query"]["location"]["district_codes"] == [somerset]
    assert {r["service"]["id"]: r["eligibility"]["verdict"] for r in full["results"]} == {
        "both": "eligible",
        "somerset-only": "eligible",
        "somerset-line": "eligible",
    }
    assert [e["id"] for e in full["excluded"] if e["id"] == "bnes-only"] == ["bnes-only"]


def _line(service_id: str, districts: list[str]) -> Any:
    return make_record(
        service_id,
        kind="crisis_line",
        locations=[],
        schedules=[{"id": f"{service_id}-hours", "always_open": True}],
        access={"contact_modes": ["phone"]},
        eligibility={"minimum_age": None, "catchment": {"type": "districts", "districts": districts}},
    )


def test_coordinates_far_from_any_postcode_offer_the_local_line_not_other_towns(
    client: TestClient, engine: Engine
) -> None:
    # Central Dartmoor is more than a kilometre from every postcode. Once the district was unknown there, and every
    # town's local line came back "check" in A-Z order (Barrow's first); now the districts around the point decide.
    _store(engine, client, _line("barrow-line", ["E06000063"]), _line("west-devon-line", ["E07000047"]))
    body = client.get("/v1/search", params={"lat": 50.57, "lon": -3.92, "at": FRIDAY_EVENING, "explain": "true"})
    assert body.status_code == 200
    found = body.json()
    assert found["query"]["location"]["district_code"] == "E07000047"
    shown = [r["service"]["id"] for r in found["results"]] + [s["id"] for s in found["safety_net"] if s["local"]]
    assert "west-devon-line" in shown
    assert "barrow-line" not in shown


def test_coordinates_in_wales_do_not_offer_english_towns_lines(client: TestClient, engine: Engine) -> None:
    _store(engine, client, _line("barrow-line", ["E06000063"]))
    found = client.get("/v1/search", params={"lat": 51.4816, "lon": -3.1791, "at": FRIDAY_EVENING}).json()
    assert found["query"]["location"]["country"] == "wales"
    assert "barrow-line" not in [r["service"]["id"] for r in found["results"]]
    assert found["safety_net"]


def test_coordinates_off_great_britain_are_422_with_the_safety_net(client: TestClient) -> None:
    # Northern Ireland lies inside England's bounding box; no postcode in Great Britain is within 15 km.
    response = client.get("/v1/search", params={"lat": 54.6, "lon": -5.93})
    assert response.status_code == 422
    problem = response.json()
    assert (problem["field"], problem["value"]) == ("lat", 54.6)
    assert "Northern Ireland" in problem["detail"]
    assert problem["safety_net"]


def test_a_referrer_names_who_refers_and_needs_referral_professional(client: TestClient, engine: Engine) -> None:
    house = make_record("crisis-house", eligibility={"referral_routes": ["nhs_111"]})
    _store(engine, client, house)
    params: dict[str, str | int] = {
        "postcode": "LS1 1UR",
        "at": FRIDAY_EVENING,
        "open": "any",
        "referral": "professional",
        "age": 30,
    }
    named = client.get("/v1/search", params={**params, "referrer": "nhs_111"}).json()
    [found] = [r for r in named["results"] if r["service"]["id"] == "crisis-house"]
    assert found["eligibility"]["verdict"] == "eligible"
    refused = client.get("/v1/search", params={"postcode": "LS1 1UR", "referrer": "gp"})
    assert refused.status_code == 422
    assert (refused.json()["field"], refused.json()["value"]) == ("referrer", "gp")
