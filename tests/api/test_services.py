from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.storage import repository
from tests.factories import make_record

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _store(engine: Engine, *records: object) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="test", now=T0)  # type: ignore[arg-type]
        session.commit()


def test_health_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_service_is_returned_nested_with_its_derived_labels(client: TestClient, engine: Engine) -> None:
    _store(engine, make_record("demo-cafe", provenance={"source_name": "demo"}))
    body = client.get("/v1/services/demo-cafe").json()
    assert body["id"] == "demo-cafe"
    assert body["demo"] is True
    assert body["kind_label"] == "Crisis café, safe haven or sanctuary"
    assert body["mhsds_team_type"] == "A21"
    assert body["locations"][0]["postcode"] == "LS1 1UR"
    assert body["phones"][0] == {
        "number": "+441134960001",
        "display": "0113 496 0001",
        "type": "voice",
        "description": "",
    }
    assert body["eligibility"]["accepts_substance_use"] is None


def test_a_record_past_its_review_date_is_stale(client: TestClient, engine: Engine) -> None:
    _store(
        engine,
        # Checked yesterday, due a year on: a fixed review date, however far off, counts two years at most.
        make_record(
            "fresh",
            provenance={"verified_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(), "verify_due": None},
        ),
        make_record("overdue", provenance={"verify_due": "2020-01-01"}),
        make_record("never-checked", provenance={"verified_at": None, "verify_due": None}),
    )
    stale = {sid: client.get(f"/v1/services/{sid}").json()["stale"] for sid in ("fresh", "overdue", "never-checked")}
    assert stale == {"fresh": False, "overdue": True, "never-checked": True}


def test_an_unknown_service_is_a_problem_naming_the_id(client: TestClient) -> None:
    response = client.get("/v1/services/no-such-service", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["field"] == "service_id"
    assert body["value"] == "no-such-service"
    assert "no-such-service" in body["detail"]
    assert body["request_id"] == "req-123"
    assert response.headers["x-request-id"] == "req-123"


def test_list_is_paged_and_filtered(client: TestClient, engine: Engine) -> None:
    _store(engine, *(make_record(f"s-{i}", kind="crisis_house" if i < 2 else "crisis_cafe") for i in range(5)))
    page = client.get("/v1/services", params={"per_page": 2, "page": 3}).json()
    assert (page["total_items"], page["total_pages"], [s["id"] for s in page["items"]]) == (5, 3, ["s-4"])
    houses = client.get("/v1/services", params={"kind": "crisis_house"}).json()
    assert [s["id"] for s in houses["items"]] == ["s-0", "s-1"]


def test_bad_parameters_name_the_field_and_value(client: TestClient) -> None:
    response = client.get("/v1/services", params={"per_page": 1000})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["field"], body["value"]) == ("per_page", "1000")
    bad_kind = client.get("/v1/services", params={"kind": "pub"}).json()
    assert (bad_kind["field"], bad_kind["value"]) == ("kind", "pub")


def test_a_malformed_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


def test_reads_carry_an_etag_and_answer_304_when_unchanged(client: TestClient, engine: Engine) -> None:
    _store(engine, make_record("cafe"))
    first = client.get("/v1/services/cafe")
    etag = first.headers["etag"]
    assert etag == '"cafe-r1-fresh"'
    again = client.get("/v1/services/cafe", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    listing = client.get("/v1/services")
    assert client.get("/v1/services", headers={"If-None-Match": listing.headers["etag"]}).status_code == 304
    other_page = client.get("/v1/services", params={"per_page": 5}).headers["etag"]
    assert other_page != listing.headers["etag"]


def test_a_change_changes_the_etag(client: TestClient, engine: Engine) -> None:
    _store(engine, make_record("cafe"))
    before = client.get("/v1/services/cafe").headers["etag"]
    listing = client.get("/v1/services").headers["etag"]
    _store(engine, make_record("cafe", name="Renamed café"))
    assert client.get("/v1/services/cafe", headers={"If-None-Match": before}).status_code == 200
    assert client.get("/v1/services", headers={"If-None-Match": listing}).status_code == 200


def test_a_record_turning_stale_changes_its_etag(client: TestClient, engine: Engine) -> None:
    _store(engine, make_record("overdue", provenance={"verify_due": "2020-01-01"}))
    response = client.get("/v1/services/overdue")
    assert response.headers["etag"] == '"overdue-r1-stale"'
    assert response.json()["stale"] is True
