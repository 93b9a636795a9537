from __future__ import annotations

from service_finder.openapi import openapi_document, render_json, render_yaml
from tests.conftest import REPO


def test_committed_openapi_matches_the_app() -> None:
    document = openapi_document()
    assert (REPO / "openapi" / "openapi.json").read_text(encoding="utf-8") == render_json(document), (
        "openapi/ is out of date: run `.venv/bin/service-finder openapi export` and commit the result"
    )
    assert (REPO / "openapi" / "openapi.yaml").read_text(encoding="utf-8") == render_yaml(document)


def test_every_operation_has_a_stable_id_and_summary() -> None:
    operations = [op for path in openapi_document()["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(op.get("summary") for op in operations)
