from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.api.deps import get_today
from service_finder.api.routes.fhir import FhirRoute
from service_finder.config import Settings
from service_finder.interop.fhir import KIND_SYSTEM, MHSDS_TEAM_TYPE_SYSTEM
from service_finder.main import create_app
from service_finder.openapi import openapi_document
from service_finder.schemas import ServiceRecord
from service_finder.storage import repository
from service_finder.storage.db import write_session
from tests.conftest import GAZETTEER
from tests.factories import make_record

FHIR_JSON = "application/fhir+json"
LONDON_PLACE = {
    "id": "london-loc",
    "name": "Somewhere in London",
    "address": "1 Whitehall",
    "city": "London",
    "postcode": "SW1A 2AA",
    "latitude": 51.50354,
    "longitude": -0.127695,
}


@pytest.fixture(autouse=True)
def _today(client: TestClient) -> Iterator[None]:
    # FHIR states the hours that apply today and the dated changes to come: pinned, so the tests do not age.
    client.app.dependency_overrides[get_today] = lambda: date(2026, 11, 24)  # type: ignore[attr-defined]
    yield
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def _store(engine: Engine, client: TestClient, *records: ServiceRecord) -> None:
    with Session(engine) as session:
        repository.upsert_services(session, records, actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    assert client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]


def _fhir(
    client: TestClient,
    path: str,
    params: dict[str, Any] | list[tuple[str, str]] | None = None,
    *,
    status: int = 200,
    **more: Any,
) -> dict[str, Any]:
    query: Any = [*(params.items() if isinstance(params, dict) else params or []), *more.items()]
    response = client.get(path, params=query) if query else client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body: dict[str, Any] = response.json()
    return body


def _bundle_names(body: dict[str, Any]) -> list[str]:
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset"
    resources = [HealthcareService.model_validate(e["resource"]) for e in body.get("entry", [])]
    return [str(r.name) for r in resources]


def test_a_service_reads_as_a_valid_healthcare_service(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe", url="https://example.org/cafe", email="cafe@example.org"))
    body = _fhir(client, "/fhir/HealthcareService/leeds-cafe")
    service = HealthcareService.model_validate(body)
    assert service.name == "Leeds Test Café"
    assert service.active is True
    assert service.providedBy is not None
    assert service.providedBy.display == "Test Organisation"
    type_codes = {(c.system, c.code) for concept in service.type or [] for c in concept.coding or []}
    assert "A21" in {code for _, code in type_codes}
    assert any(code == "crisis_cafe" for _, code in type_codes)
    telecom = {(t.system, t.value) for t in service.telecom or []}
    assert telecom == {("phone", "0113 496 0001"), ("url", "https://example.org/cafe"), ("email", "cafe@example.org")}
    assert [loc.reference for loc in service.location or []] == ["Location/leeds-cafe-loc"]
    assert {c.coding[0].code for c in service.communication or [] if c.coding} == {"en", "pl"}
    assert {c.coding[0].code for c in service.referralMethod or [] if c.coding} == {"walk_in", "self_referral"}
    assert service.eligibility is not None
    assert "Ages 18 and over" in str(service.eligibility[0].comment)


def test_an_overnight_session_is_split_at_midnight(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe"))  # Fridays 18:00-02:00, closed on bank holidays
    service = HealthcareService.model_validate(_fhir(client, "/fhir/HealthcareService/leeds-cafe"))
    hours = [(t.daysOfWeek, str(t.availableStartTime), str(t.availableEndTime)) for t in service.availableTime or []]
    assert hours == [(["fri"], "18:00:00", "23:59:59"), (["sat"], "00:00:00", "02:00:00")]
    # Closed on bank holidays: Christmas Day and New Year's Day 2027 are Fridays, each its own dated period.
    assert [n.description for n in service.notAvailable or []] == ["Closed: Christmas Day", "Closed: New Year's Day"]
    assert "Closed on bank holidays in England" in str(service.availabilityExceptions)


def test_24_7_is_all_day_and_a_dated_closure_is_not_available_during_it(client: TestClient, engine: Engine) -> None:
    schedule = {
        "id": "line-hours",
        "always_open": True,
        "exceptions": [{"start_date": "2026-12-25", "end_date": "2026-12-26", "reason": "Christmas"}],
    }
    _store(engine, client, make_record("line", kind="crisis_line", locations=[], schedules=[schedule]))
    body = _fhir(client, "/fhir/HealthcareService/line")
    service = HealthcareService.model_validate(body)
    [week] = service.availableTime or []
    assert week.allDay is True
    assert len(week.daysOfWeek or []) == 7
    # The exact stretch: from midnight starting Christmas Day to midnight ending Boxing Day, London time.
    assert body["notAvailable"] == [
        {
            "description": "Closed: Christmas",
            "during": {"start": "2026-12-25T00:00:00+00:00", "end": "2026-12-27T00:00:00+00:00"},
        }
    ]


def test_a_temporarily_closed_service_is_never_active(client: TestClient, engine: Engine) -> None:
    shut_record = make_record("shut-cafe", name="Shut", status="temporarily_closed")
    _store(engine, client, make_record("open-cafe", name="Open"), shut_record)
    shut = HealthcareService.model_validate(_fhir(client, "/fhir/HealthcareService/shut-cafe"))
    assert shut.active is False
    assert "Temporarily closed" in [n.description for n in shut.notAvailable or []]
    assert _bundle_names(_fhir(client, "/fhir/HealthcareService", active="true")) == ["Open"]
    assert _bundle_names(_fhir(client, "/fhir/HealthcareService", active="false")) == ["Shut"]


def test_search_by_service_type_in_our_codes_or_mhsds(client: TestClient, engine: Engine) -> None:
    _store(
        engine,
        client,
        make_record("cafe", name="Café"),
        make_record("line", name="Line", kind="crisis_line", locations=[], schedules=[]),
    )
    assert _bundle_names(_fhir(client, "/fhir/HealthcareService", {"service-type": "crisis_cafe"})) == ["Café"]
    assert _bundle_names(_fhir(client, "/fhir/HealthcareService", {"service-type": "A19"})) == ["Line"]
    both = _fhir(client, "/fhir/HealthcareService", {"service-type": "A19,crisis_cafe"})
    assert (both["total"], sorted(_bundle_names(both))) == (2, ["Café", "Line"])
    wrong_system = _fhir(client, "/fhir/HealthcareService", {"service-type": "http://other.example|A21"})
    assert _bundle_names(wrong_system) == []


def test_a_system_with_no_code_finds_every_service_coded_in_that_system(client: TestClient, engine: Engine) -> None:
    # FHIR token search: `system|` is any code in that system. Read as the code "", it found nothing: a client
    # asking for every service with an MHSDS team type was told there are none.
    _store(
        engine,
        client,
        make_record("peers", name="Peers", kind="peer_support"),
        make_record("line", name="Line", kind="crisis_line", locations=[], schedules=[]),
    )
    ours = _fhir(client, "/fhir/HealthcareService", {"service-type": f"{KIND_SYSTEM}|"})
    assert (ours["total"], sorted(_bundle_names(ours))) == (2, ["Line", "Peers"])
    mhsds = _fhir(client, "/fhir/HealthcareService", {"service-type": f"{MHSDS_TEAM_TYPE_SYSTEM}|"})
    assert _bundle_names(mhsds) == ["Line"]
    assert _fhir(client, "/fhir/HealthcareService", {"service-type": "http://other.example|"})["total"] == 0


def test_search_near_a_point_leaves_out_what_is_far_and_pages(client: TestClient, engine: Engine) -> None:
    _store(
        engine,
        client,
        make_record("leeds-cafe", name="Leeds"),
        make_record("london-cafe", name="London", locations=[LONDON_PLACE]),
    )
    near = _fhir(client, "/fhir/HealthcareService", {"location.near": "53.80|-1.55|5|km"})
    assert _bundle_names(near) == ["Leeds"]
    metres = _fhir(client, "/fhir/HealthcareService", {"location.near": "51.5|-0.13|3000|m"})
    assert _bundle_names(metres) == ["London"]
    first = _fhir(client, "/fhir/HealthcareService", _count=1)
    assert (first["total"], len(first["entry"])) == (2, 1)
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = _fhir(client, next_url.removeprefix("http://testserver"))
    assert _bundle_names(first) + _bundle_names(second) == ["Leeds", "London"]


def test_locations_read_and_search(client: TestClient, engine: Engine) -> None:
    _store(
        engine,
        client,
        make_record("leeds-cafe"),
        make_record("london-cafe", locations=[LONDON_PLACE], schedules=[]),
    )
    place = Location.model_validate(_fhir(client, "/fhir/Location/leeds-cafe-loc"))
    assert place.position is not None
    assert (str(place.position.latitude), str(place.position.longitude)) == ("53.801277", "-1.548567")
    assert place.address is not None
    assert place.address.postalCode == "LS1 1UR"
    hours = [(h.daysOfWeek, str(h.openingTime), str(h.closingTime)) for h in place.hoursOfOperation or []]
    assert hours == [(["fri"], "18:00:00", "23:59:59"), (["sat"], "00:00:00", "02:00:00")]
    body = _fhir(client, "/fhir/Location", near="51.5|-0.13|2")
    Bundle.model_validate(body)
    assert [Location.model_validate(e["resource"]).id for e in body["entry"]] == ["london-loc"]
    assert _fhir(client, "/fhir/Location")["total"] == 2


def test_a_long_identifier_becomes_a_valid_fhir_id(client: TestClient, engine: Engine) -> None:
    long_id = "a-very-long-service-identifier-" + "x" * 45  # 76 characters: FHIR ids stop at 64
    _store(engine, client, make_record(long_id, schedules=[{"id": "long-hours", "always_open": True}]))
    found = _fhir(client, "/fhir/HealthcareService")["entry"][0]["resource"]
    service = HealthcareService.model_validate(found)
    assert service.id is not None
    assert len(service.id) <= 64
    assert _fhir(client, f"/fhir/HealthcareService/{service.id}") == found
    assert _fhir(client, f"/fhir/HealthcareService/{long_id}") == found


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/fhir/HealthcareService/nobody", {}, 404, "not-found"),
        ("/fhir/Location/nowhere", {}, 404, "not-found"),
        ("/fhir/HealthcareService", {"active": "maybe"}, 400, "invalid"),
        ("/fhir/HealthcareService", {"location.near": "53.8|-1.5|5|miles"}, 400, "invalid"),
        ("/fhir/HealthcareService", {"location.near": "10|10|5"}, 400, "invalid"),
        ("/fhir/HealthcareService", {"_count": "lots"}, 400, "invalid"),
        ("/fhir/HealthcareService", {"name": "cafe"}, 400, "not-supported"),
        ("/fhir/Location", {"near": "53.8"}, 400, "invalid"),
        ("/fhir/Location", {"near": "-1.55|53.80|5|km"}, 400, "invalid"),  # swapped: not in England
        ("/fhir/Location", {"near": "53.8|-1.5|201|km"}, 400, "invalid"),
        ("/fhir/Location", {"near": "53.8|-1.5|0|km"}, 400, "invalid"),
        ("/fhir/Location", {"near": "53.8|-1.5|200001|m"}, 400, "invalid"),
        ("/fhir/Location", {"_count": "501"}, 400, "invalid"),
        ("/fhir/Location", {"_offset": "-1"}, 400, "invalid"),
        ("/fhir/HealthcareService", [("active", "true"), ("active", "false")], 400, "invalid"),
        ("/fhir/Location", [("near", "53.80|-1.55|5|km"), ("near", "51.5|-0.1|5|km")], 400, "invalid"),
        ("/fhir/HealthcareService/nobody", {"foo": "1"}, 400, "not-supported"),
        ("/fhir/HealthcareService", {"_format": "xml"}, 406, "not-supported"),
        ("/fhir/Location/nowhere", {"_format": "html"}, 406, "not-supported"),
    ],
)
def test_errors_are_operation_outcomes(
    client: TestClient, path: str, params: dict[str, str] | list[tuple[str, str]], status: int, code: str
) -> None:
    outcome = OperationOutcome.model_validate(_fhir(client, path, params, status=status))
    [issue] = outcome.issue
    assert (issue.severity, issue.code) == ("error", code)
    assert issue.diagnostics


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/fhir/Nothing", 404, "not-found"), ("DELETE", "/fhir/Location", 405, "not-supported")],
)
def test_an_unknown_fhir_path_or_method_is_an_operation_outcome_too(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/fhir+json")
    [issue] = OperationOutcome.model_validate(response.json()).issue
    assert (issue.severity, issue.code) == ("error", code)


def test_paging_left_blank_is_the_default(client: TestClient, engine: Engine) -> None:
    # An empty _count or _offset widens nothing: it is taken as left out.
    _store(engine, client, make_record("leeds-cafe", name="Leeds"), make_record("shut", name="Shut", status="inactive"))
    blank = {"_count": "", "_offset": ""}
    assert sorted(_bundle_names(_fhir(client, "/fhir/HealthcareService", blank))) == ["Leeds", "Shut"]
    assert _fhir(client, "/fhir/Location", blank)["total"] == 2


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/fhir/HealthcareService", "service-type"),
        ("/fhir/HealthcareService", "active"),
        ("/fhir/HealthcareService", "location.near"),
        ("/fhir/Location", "near"),
    ],
)
@pytest.mark.parametrize("sent", ["", " "])
def test_a_filter_given_with_no_value_is_refused_naming_it(
    client: TestClient, engine: Engine, path: str, name: str, sent: str
) -> None:
    # `service-type=` (a client's unset variable) answered with every service, as if all were of the type asked for.
    _store(engine, client, make_record("leeds-cafe", name="Leeds"), make_record("shut", name="Shut", status="inactive"))
    body = _fhir(client, path, {name: sent}, status=400)
    [issue] = OperationOutcome.model_validate(body).issue
    assert (issue.severity, issue.code, issue.expression) == ("error", "invalid", [name])
    assert issue.diagnostics == (
        f"search parameter {name} '{sent}': has no value: give one, or leave the parameter out for no filter"
    )


def test_a_service_type_of_commas_alone_names_no_type_and_is_refused(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe", name="Leeds"))
    body = _fhir(client, "/fhir/HealthcareService", {"service-type": ", ,"}, status=400)
    assert body["issue"][0]["expression"] == ["service-type"]
    # A code beside an empty one still names a type.
    assert _bundle_names(_fhir(client, "/fhir/HealthcareService", {"service-type": "crisis_cafe,"})) == ["Leeds"]


def test_near_takes_a_default_distance_and_metres_up_to_the_limit(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("leeds-cafe", name="Leeds"), make_record("london", locations=[LONDON_PLACE]))
    assert _bundle_names(_fhir(client, "/fhir/HealthcareService", {"location.near": "53.80|-1.55||km"})) == ["Leeds"]
    widest = _fhir(client, "/fhir/HealthcareService", {"location.near": "53.80|-1.55|200000|m"})
    assert _bundle_names(widest) == ["Leeds"]  # London is some 270 km away


@pytest.mark.parametrize(
    ("path", "name", "accepted", "refused"),
    [
        ("/fhir/HealthcareService", "location.near", "56|-7|200|km", "56.1|-1|5|km"),
        ("/fhir/Location", "near", "49.0|2.0|0.5", "53|2.1|5"),
        ("/fhir/Location", "_count", "500", "5000"),
        ("/fhir/HealthcareService", "active", "false", "False"),
    ],
)
def test_the_documented_pattern_is_what_the_route_accepts(
    client: TestClient, path: str, name: str, accepted: str, refused: str
) -> None:
    operation = client.get("/openapi.json").json()["paths"][path]["get"]
    [parameter] = [p for p in operation["parameters"] if p["name"] == name]
    pattern = parameter["schema"]["pattern"]
    assert re.fullmatch(pattern, accepted)
    assert not re.fullmatch(pattern, refused)
    assert client.get(path, params={name: accepted}).status_code == 200
    assert client.get(path, params={name: refused}).status_code == 400


def test_a_request_the_framework_refuses_is_an_operation_outcome_too() -> None:
    # No FHIR route has a parameter FastAPI itself can refuse; this one does, to show what a FHIR client would get.
    router = APIRouter(route_class=FhirRoute)

    @router.get("/probe")
    def probe(number: int) -> dict[str, int]:
        return {"number": number}

    app = FastAPI()
    app.include_router(router)
    response = TestClient(app).get("/probe", params={"number": "many"})
    assert (response.status_code, response.headers["content-type"]) == (422, FHIR_JSON)
    [issue] = OperationOutcome.model_validate(response.json()).issue
    assert (issue.code, issue.expression) == ("invalid", ["number"])
    assert "'many'" in str(issue.diagnostics)


def test_a_place_shared_by_two_services_is_one_location_that_never_reads_closed_for_the_open_one(
    client: TestClient, engine: Engine
) -> None:
    # A 24/7 crisis house and a temporarily closed therapy service at one place: the Location is active, once,
    # and gives no hours of its own (theirs differ), sending the reader to each service.
    place = {**LONDON_PLACE, "id": "shared-place"}
    house = make_record(
        "house", name="House", kind="crisis_house", locations=[place], schedules=[{"id": "h", "always_open": True}]
    )
    therapy = make_record("therapy", name="Therapy", locations=[place], status="temporarily_closed")
    _store(engine, client, house, therapy)
    body = _fhir(client, "/fhir/Location/shared-place")
    location = Location.model_validate(body)
    assert location.status == "active"
    assert location.hoursOfOperation is None
    assert "House" in str(location.availabilityExceptions)
    assert "Therapy" in str(location.availabilityExceptions)
    found = _fhir(client, "/fhir/Location", near="51.5|-0.13|2")
    assert [e["fullUrl"].rsplit("/", 1)[1] for e in found["entry"]] == ["shared-place"]
    assert found["total"] == 1
    # With the same hours, the place states them.
    _store(
        engine,
        client,
        house,
        make_record("therapy", name="Therapy", locations=[place], schedules=[{"id": "t", "always_open": True}]),
    )
    same = Location.model_validate(_fhir(client, "/fhir/Location/shared-place"))
    assert [h.allDay for h in same.hoursOfOperation or []] == [True]


def test_a_stale_record_is_tagged_and_says_when_it_was_checked(client: TestClient, engine: Engine) -> None:
    old = {"source_name": "test", "verified_at": "2024-01-10T09:00:00Z", "verify_due": "2025-01-10"}
    _store(engine, client, make_record("old-cafe", provenance=old), make_record("new-cafe"))
    stale = _fhir(client, "/fhir/HealthcareService/old-cafe")
    HealthcareService.model_validate(stale)
    assert [tag["code"] for tag in stale["meta"]["tag"]] == ["stale"]
    assert {e["url"].rsplit("/", 1)[1]: e for e in stale["extension"]}["review-due"]["valueDate"] == "2025-01-10"
    fresh = _fhir(client, "/fhir/HealthcareService/new-cafe")
    assert "tag" not in fresh["meta"]
    assert {e["url"].rsplit("/", 1)[1]: e for e in fresh["extension"]}["verified-at"]["valueDateTime"].startswith(
        "2026-10-01T09:00:00"
    )


def test_a_textphone_is_told_apart_from_a_voice_line(client: TestClient, engine: Engine) -> None:
    phones = [
        {"number": "0113 496 0001"},
        {"number": "0113 496 0002", "type": "textphone", "description": "Textphone for Deaf callers"},
    ]
    _store(engine, client, make_record("cafe", phones=phones))
    body = _fhir(client, "/fhir/HealthcareService/cafe")
    HealthcareService.model_validate(body)
    voice, textphone = body["telecom"][:2]
    assert "extension" not in voice
    assert textphone["extension"][0]["valueCode"] == "textphone"
    assert "0113 496 0002 (textphone): Textphone for Deaf callers" in body["extraDetails"]


def test_eligibility_states_every_criterion_the_record_gives(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("cafe", eligibility={"gp_registration_required": True}))
    [eligibility] = HealthcareService.model_validate(_fhir(client, "/fhir/HealthcareService/cafe")).eligibility or []
    words = str(eligibility.comment)
    assert "Ages 18 and over" in words
    assert "E08000035" in words  # the district catchment
    assert "Does not accept people who are intoxicated" in words
    assert "Must be registered with a GP" in words


def test_a_format_whose_plus_arrived_as_a_space_is_fhir_json(client: TestClient) -> None:
    # `+` sent unescaped in a query string arrives as a space: the FHIR specification's own example,
    # _format=application/fhir+json typed into a browser, was refused with 406.
    response = client.get("/fhir/metadata?_format=application/fhir+json")
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "CapabilityStatement"


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [("full", 200, None), ("", 200, None), ("terminology", 400, "not-supported"), ("x", 400, "invalid")],
)
def test_metadata_answers_the_mode_it_supports_and_refuses_the_others(
    client: TestClient, mode: str, status: int, code: str | None
) -> None:
    # A mode it did not answer in was taken for granted: mode=terminology (a TerminologyCapabilities) was answered
    # with the CapabilityStatement, as if the client had its terminology.
    body = _fhir(client, "/fhir/metadata", {"mode": mode}, status=status)
    if code is None:
        assert body["resourceType"] == "CapabilityStatement"
    else:
        [issue] = OperationOutcome.model_validate(body).issue
        assert (issue.code, issue.expression) == (code, ["mode"])


def test_the_server_states_its_capabilities(client: TestClient) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    statement = CapabilityStatement.model_validate(_fhir(client, "/fhir/metadata"))
    [rest] = statement.rest or []
    served = {r.type: {p.name for p in r.searchParam or []} for r in rest.resource or []}
    assert served == {"HealthcareService": {"service-type", "active", "location.near"}, "Location": {"near"}}


def test_errors_from_the_limits_are_operation_outcomes_under_fhir(client: TestClient) -> None:
    refused = client.get("/fhir/HealthcareService", headers={"Accept": "application/fhir+xml"})
    assert (refused.status_code, refused.headers["content-type"]) == (406, FHIR_JSON)
    [issue] = OperationOutcome.model_validate(refused.json()).issue
    assert issue.code == "not-supported"


def test_an_empty_page_has_no_entry(client: TestClient, engine: Engine) -> None:
    _store(engine, client, make_record("cafe"))
    body = _fhir(client, "/fhir/HealthcareService", _count="0")
    assert (body["total"], "entry" in body) == (1, False)
    Bundle.model_validate(body)


@pytest.mark.parametrize(
    ("path", "status", "resource"),
    [
        ("/fhir/metadata", "200", None),
        ("/fhir/HealthcareService/{resource_id}", "200", HealthcareService),
        ("/fhir/HealthcareService", "200", Bundle),
        ("/fhir/HealthcareService", "400", OperationOutcome),
        ("/fhir/Location/{resource_id}", "200", Location),
        ("/fhir/Location/{resource_id}", "404", OperationOutcome),
        ("/fhir/Location", "200", Bundle),
        ("/fhir/Location", "422", OperationOutcome),
    ],
)
def test_the_documented_examples_are_valid_fhir(path: str, status: str, resource: Any) -> None:
    if resource is None:
        from fhir.resources.R4B.capabilitystatement import CapabilityStatement

        resource = CapabilityStatement
    response = _document()["paths"][path]["get"]["responses"][status]
    example = response["content"][FHIR_JSON]["example"]
    assert resource.model_validate(example).get_resource_type() == example["resourceType"]


@cache
def _document() -> dict[str, Any]:
    return openapi_document()


def test_a_removed_service_is_410_deleted_and_one_never_listed_is_404(client: TestClient, engine: Engine) -> None:
    # FHIR's read: a resource the server knows it deleted is 410 Gone, so a system keeping a copy drops it (a 404
    # from a stale index may be a service added since).
    _store(engine, client, make_record("closing-cafe"))
    with write_session(engine) as session:
        repository.delete_service(
            session, "closing-cafe", expected_revision=1, actor="test", now=datetime(2026, 11, 20, tzinfo=UTC)
        )
        session.commit()
    assert client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    gone = _fhir(client, "/fhir/HealthcareService/closing-cafe", status=410)
    assert gone["issue"][0]["code"] == "deleted"
    assert "2026-11-20T00:00:00Z" in gone["issue"][0]["diagnostics"]
    assert _fhir(client, "/fhir/HealthcareService/never-here", status=404)["issue"][0]["code"] == "not-found"


def test_a_removed_service_is_410_by_its_shortened_fhir_id_and_its_place_with_it(
    client: TestClient, engine: Engine
) -> None:
    # An id over 64 characters is read by a shortened FHIR id, and a place by its Location: both were 404 once the
    # service was removed, while /v1/services and the HealthcareService by our id said 410.
    long_id = "leeds-crisis-cafe-at-the-civic-hall-on-calverley-street-evenings-only"
    shared = {"id": "civic-hall", "postcode": "LS1 1UR", "latitude": 53.801277, "longitude": -1.548567}
    _store(
        engine,
        client,
        make_record(long_id, locations=[{**shared, "id": f"{long_id}-room"}]),
        make_record("closing-cafe", locations=[{**shared, "id": "closing-cafe-room"}, shared]),
        make_record("staying-cafe", locations=[shared]),
    )
    fhir_ids = {
        entry["resource"]["identifier"][0]["value"]: entry["resource"]["id"]
        for path in ("/fhir/HealthcareService", "/fhir/Location")
        for entry in _fhir(client, path)["entry"]
    }
    assert len(fhir_ids[long_id]) == len(fhir_ids[f"{long_id}-room"]) == 64
    for service_id, revision in ((long_id, 1), ("closing-cafe", 1)):
        with write_session(engine) as session:
            repository.delete_service(
                session, service_id, expected_revision=revision, actor="test", now=datetime(2026, 11, 20, tzinfo=UTC)
            )
            session.commit()
    assert client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    gone = _fhir(client, f"/fhir/HealthcareService/{fhir_ids[long_id]}", status=410)
    assert gone["issue"][0]["code"] == "deleted"
    place = _fhir(client, "/fhir/Location/closing-cafe-room", status=410)
    assert place["issue"][0]["code"] == "deleted"
    assert "2026-11-20T00:00:00Z" in place["issue"][0]["diagnostics"]
    assert _fhir(client, f"/fhir/Location/{fhir_ids[f'{long_id}-room']}", status=410)["issue"][0]["code"] == "deleted"
    _fhir(client, "/fhir/Location/civic-hall")  # a removed service's place another service still uses stays
    assert _fhir(client, "/fhir/Location/never-here", status=404)["issue"][0]["code"] == "not-found"


def test_links_point_at_the_configured_public_address_not_the_host_header(engine: Engine) -> None:
    # Behind a TLS load balancer the address asked on is plain http with a Host the client chose: a `next` link
    # carrying a person's coordinates must not be built from it.
    settings = Settings(
        database_url=str(engine.url),
        gazetteer_path=GAZETTEER,
        rate_limit_enabled=False,
        public_base_url="https://finder.example.org",
    )
    with TestClient(create_app(settings, engine=engine)) as public:
        _store(engine, public, make_record("cafe-a"), make_record("cafe-b"))
        evil = {"Host": "evil.example"}
        bundle = public.get("/fhir/HealthcareService", params={"_count": 1}, headers=evil).json()
        metadata = public.get("/fhir/metadata", headers=evil).json()
        hsds = public.get("/hsds/", headers=evil).json()
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["next"].startswith("https://finder.example.org/fhir/HealthcareService?")
    assert all(entry["fullUrl"].startswith("https://finder.example.org/fhir/") for entry in bundle["entry"])
    assert metadata["implementation"]["url"].startswith("https://finder.example.org/fhir")
    assert hsds["openapi_url"] == "https://finder.example.org/openapi.json"


@pytest.mark.parametrize("accept", ["application/fhir+json", "application/json+fhir"])
def test_both_fhir_json_media_types_are_accepted_in_accept_as_in_format(client: TestClient, accept: str) -> None:
    # `_format=application/json+fhir` (the DSTU2 name older clients send) was accepted, the same in Accept a 406.
    response = client.get("/fhir/metadata", headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "CapabilityStatement"
