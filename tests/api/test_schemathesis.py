"""Schemathesis against the app in-process: every operation, every check, on the SQLite store with demo data.

It sends the documented examples, the coverage phase's boundary and negative values, and a bounded number of
fuzzed requests, with a fixed seed so a failure reproduces. A failure here is a real break of the contract in
openapi/: a 500, a response the schema does not allow, an error that is not problem+json.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.openapi import from_asgi
from sqlmodel import Session

from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.schemas import ServiceRecord
from service_finder.storage import migrate, repository
from service_finder.storage.db import create_db_engine
from tests.conftest import GAZETTEER, REPO

SEED = 20261127
CONFIG = {
    "seed": SEED,
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    "generation": {"max-examples": 10, "deterministic": True, "database": "none"},
    "checks": {"enabled": True},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": True},
    },
    "operations": [
        {
            # These refuse, with a documented 422, combinations OpenAPI cannot state: a well-formed postcode that
            # is not in the gazetteer, lat without lon, a postcode and coordinates together (search); proximity
            # without a postcode (HSDS); a reach in both km and minutes (coverage). Only this check, on only these
            # paths, accepts it; a 422 anywhere else is still a failure.
            "include-path-regex": "^/(v1/search|hsds/service_at_locations|v1/coverage)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2XX", 401, 403, 404, 409, 422, 429]}},
        }
    ],
}


def demo_records() -> list[ServiceRecord]:
    """The national lines and a handful of demonstration services around Leeds, where the examples search."""
    national = json.loads((REPO / "data" / "national_lines.json").read_text(encoding="utf-8"))
    directory = json.loads((REPO / "data" / "demo" / "directory.json").read_text(encoding="utf-8"))
    leeds = [r for r in directory if any(loc["postcode"].startswith("LS") for loc in r.get("locations", []))][:6]
    remote = [r for r in directory if not r.get("locations")][:2]
    return [ServiceRecord.model_validate(r) for r in [*national, *leeds, *remote]]


# schemathesis's lazy `from_fixture` loader reads `request.node._nodeid`, which pytest 9 removed, so the schema is
# loaded when the module is imported. That only needs the OpenAPI document: the app is created here without
# touching its store, and `demo_store` below migrates and fills the store before any request is sent.
_STORE_DIR = Path(tempfile.mkdtemp(prefix="service-finder-schemathesis-"))
_ENGINE = create_db_engine(f"sqlite:///{_STORE_DIR / 'store.sqlite3'}")
# Rate limiting is tested on its own; here it would turn a fuzzing burst into 429s.
_SETTINGS = Settings(database_url=str(_ENGINE.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
APP = create_app(_SETTINGS, engine=_ENGINE)
schema = from_asgi("/openapi.json", APP, config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(scope="module", autouse=True)
def demo_store() -> Iterator[None]:
    migrate.upgrade(_ENGINE)
    with Session(_ENGINE) as session:
        repository.upsert_services(session, demo_records(), actor="schemathesis", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    # Entering the client runs the lifespan (index, gazetteer) on the same app object schemathesis calls.
    with TestClient(APP):
        yield
    _ENGINE.dispose()
    shutil.rmtree(_STORE_DIR, ignore_errors=True)


@schema.parametrize()
def test_every_operation_keeps_its_contract(case: Case[Any]) -> None:
    case.call_and_validate()


def test_the_suite_reaches_the_public_operations() -> None:
    # A schema that failed to load, or an operation it could not parse, would otherwise pass by testing nothing.
    labels = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis could not read an operation: {result.err()}"
        labels.append(result.ok().label)
    assert {"GET /v1/search", "POST /v1/search", "GET /v1/services/{service_id}"} <= set(labels)


# The stateful phase: chains of calls along the links schemathesis infers (list -> get, get -> history, ...), so an
# id one operation returns is fed to the next. Bounded and derandomised like the rest.
APIWorkflow = schema.as_state_machine()
APIWorkflow.TestCase.settings = settings(
    max_examples=8,
    stateful_step_count=4,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
TestAPIWorkflow = APIWorkflow.TestCase
