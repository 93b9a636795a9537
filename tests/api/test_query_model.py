"""GET /v1/search reads its query string with api/query_model.py instead of FastAPI's own reading (for speed).
The contract must not notice: FastAPI's reading of `Annotated[SearchRequest, Query()]` is the oracle for the values
and the errors, over random query strings, and POST (FastAPI's standard path) for the response bytes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, get_origin
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.api.query_model import read_query_model
from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.schemas import SearchRequest
from service_finder.storage import repository
from tests.conftest import GAZETTEER, REPO
from tests.search.conftest import load_records


def _oracle_app() -> FastAPI:
    app = FastAPI()

    @app.exception_handler(RequestValidationError)
    async def errors(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return JSONResponse({"errors": jsonable_encoder(error.errors())}, status_code=422)

    @app.get("/fastapi")
    async def fastapi_reads(query: Annotated[SearchRequest, Query()]) -> dict[str, Any]:
        return {"request": query.model_dump(mode="json")}

    @app.get("/ours")
    async def we_read(request: Request) -> dict[str, Any]:
        return {"request": read_query_model(SearchRequest, request.query_params).model_dump(mode="json")}

    return app


ORACLE = TestClient(_oracle_app())

NAMES = [*SearchRequest.model_fields, "postcod", "unknown", "Age"]
VALUES = [
    "",
    " ",
    "0",
    "1",
    "-3",
    "34",
    "200",
    "1e3",
    "53.8",
    "-1.55",
    "nan",
    "true",
    "false",
    "yes",
    "LS1 1UR",
    " LS1 ",
    "EH1 1YZ",
    "now",
    "any",
    "within:60",
    "within:-1",
    "self",
    "professional",
    "self_harm",
    "alcohol",
    "phone",
    "in_person",
    "step_free",
    "bsl",
    "crisis_cafe",
    "en",
    "pl",
    "female",
    "2026-11-27T20:00:00",
    "2026-11-27T20:00:00+01:00",
    "2026-13-40",
    "naïve",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=8))
@example([("needs", "self_harm"), ("needs", "self_harm"), ("age", "30"), ("age", "40")])  # repeats: list; refused
@example([("postcod", "LS1 1UR"), ("postcod", "LS2 7UE"), ("foo", "1")])  # unknown names, one repeated
@example([("needs", ""), ("modes", "phone"), ("open", "within:120"), ("lat", "53.8")])  # contradictions
def test_the_query_is_read_as_fastapi_reads_it(pairs: list[tuple[str, str]]) -> None:
    query = urlencode(pairs)
    theirs = ORACLE.get(f"/fastapi?{query}")
    ours = ORACLE.get(f"/ours?{query}")
    scalars = {name for name, field in SearchRequest.model_fields.items() if get_origin(field.annotation) is not list}
    counts = Counter(name for name, _ in pairs)
    repeated = [name for name in SearchRequest.model_fields if name in scalars and counts[name] > 1]
    if repeated:  # FastAPI takes the last value; we refuse each repeated one, naming its values, then as FastAPI
        assert ours.status_code == 422
        errors = ours.json()["errors"]
        assert [(e["loc"], e["input"]) for e in errors[: len(repeated)]] == [
            (["query", name], [value for other, value in pairs if other == name]) for name in repeated
        ]
        assert errors[len(repeated) :] == (theirs.json()["errors"] if theirs.status_code == 422 else [])
    else:
        assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())


@pytest.fixture
def demo_client(sqlite_engine: Engine) -> Any:
    records = load_records(REPO / "data" / "national_lines.json") + load_records(
        REPO / "data" / "demo" / "directory.json"
    )
    with Session(sqlite_engine) as session:
        repository.upsert_services(session, records, actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        yield client


SEARCHES: list[dict[str, Any]] = [
    {"postcode": "LS1 1UR", "at": "2026-11-27T20:00:00", "age": 34, "needs": ["self_harm", "alcohol"]},
    {"postcode": "M1", "at": "2026-12-25T03:00:00", "open": "within:120", "explain": True, "intoxicated": True},
    {"lat": 51.5072, "lon": -0.1276, "at": "2026-06-10T20:30:00+01:00", "referral": "professional", "limit": 3},
    {"at": "2026-11-27T20:00:00", "modes": ["phone", "text"], "open": "any"},
]


@pytest.mark.parametrize("search", SEARCHES, ids=["leeds", "manchester-christmas", "london", "no-location"])
def test_get_answers_with_the_bytes_post_answers_with(demo_client: TestClient, search: dict[str, Any]) -> None:
    got = demo_client.get("/v1/search", params=search)
    posted = demo_client.post("/v1/search", json=search)
    assert got.status_code == posted.status_code == 200
    assert got.headers["content-type"] == posted.headers["content-type"] == "application/json"
    assert got.json()["results"] or search.get("modes")  # a search that finds something, so the bytes mean much
    assert got.content == posted.content


def test_an_unknown_parameter_on_get_is_still_a_400_naming_it(demo_client: TestClient) -> None:
    response = demo_client.get("/v1/search", params={"postcod": "LS1 1UR", "age": "-3"})
    assert response.status_code == 400
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert (problem["field"], problem["value"]) == ("postcod", "LS1 1UR")


def test_the_openapi_still_lists_every_search_field_as_a_get_parameter(demo_client: TestClient) -> None:
    operation = demo_client.get("/openapi.json").json()["paths"]["/v1/search"]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == set(SearchRequest.model_fields)
    assert "200" in operation["responses"]
    assert "422" in operation["responses"]
