"""The OpenAPI document is the developer contract: every field explained, every operation with an example.

Each test lists every gap it finds, so one run tells an engineer everything left to document.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service_finder.openapi import openapi_document

METHODS = {"get", "put", "post", "patch", "delete"}
WITH_BODY = {"post", "put", "patch"}
JSON_TYPES = ("application/json", "application/problem+json", "application/geo+json", "application/fhir+json")
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = media.get("schema", {})
    # An array of a documented model is exemplified by that model's examples.
    if schema.get("type") == "array" and "items" in schema:
        schema = schema["items"]
    return bool(schema.get("examples") or _resolve(document, schema).get("examples"))


def _json_media(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {kind: media for kind, media in content.items() if kind.startswith(JSON_TYPES) or kind.endswith("+json")}


def test_every_schema_property_has_a_description(document: dict[str, Any]) -> None:
    missing = [
        f"{name}.{prop}"
        for name, schema in sorted(document["components"]["schemas"].items())
        for prop, spec in schema.get("properties", {}).items()
        if not str(spec.get("description", "")).strip()
    ]
    assert missing == [], f"{len(missing)} properties have no description:\n  " + "\n  ".join(missing)


def test_every_model_says_what_it_is(document: dict[str, Any]) -> None:
    missing = [
        name
        for name, schema in sorted(document["components"]["schemas"].items())
        if "properties" in schema and not str(schema.get("description", "")).strip()
    ]
    assert missing == [], "schemas without a description: " + ", ".join(missing)


def test_every_parameter_has_a_description(document: dict[str, Any]) -> None:
    missing = [
        f"{method} {path} {parameter['in']}:{parameter['name']}"
        for method, path, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if not str(parameter.get("description", "")).strip()
    ]
    assert missing == [], "parameters without a description:\n  " + "\n  ".join(missing)


def test_every_request_body_has_an_example(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(document):
        if method.lower() not in WITH_BODY or "requestBody" not in operation:
            continue
        media = _json_media(operation["requestBody"].get("content", {}))
        if not media or not all(_has_example(document, m) for m in media.values()):
            missing.append(f"{method} {path}")
    assert missing == [], "request bodies without an example:\n  " + "\n  ".join(missing)


def test_every_success_response_has_an_example(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            media = _json_media(response.get("content", {}))
            if media and not all(_has_example(document, m) for m in media.values()):
                missing.append(f"{method} {path} -> {status}")
    assert missing == [], "success responses without an example:\n  " + "\n  ".join(missing)


def test_every_error_response_is_a_documented_problem(document: dict[str, Any]) -> None:
    wrong = []
    for method, path, operation in _operations(document):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        success = [r.get("content", {}) for s, r in operation["responses"].items() if s.startswith("2")]
        for status, response in errors.items():
            if response.get("content") and response.get("content") in success:
                continue  # a probe such as /readyz answers 503 with the same document as its 200
            if path.startswith("/fhir/"):
                # FHIR clients expect an OperationOutcome resource, not a problem document.
                if "application/fhir+json" not in response.get("content", {}):
                    wrong.append(f"{method} {path} -> {status}: not an application/fhir+json OperationOutcome")
                continue
            problem = response.get("content", {}).get("application/problem+json")
            if problem is None or problem.get("schema", {}).get("$ref") != PROBLEM_REF:
                wrong.append(f"{method} {path} -> {status}: not application/problem+json with the Problem schema")
            elif not _has_example(document, problem):
                wrong.append(f"{method} {path} -> {status}: no example problem")
    assert wrong == [], "error responses:\n  " + "\n  ".join(wrong)


def test_operations_that_take_input_document_their_422(document: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}"
        for method, path, operation in _operations(document)
        if (operation.get("parameters") or "requestBody" in operation) and "422" not in operation["responses"]
    ]
    assert missing == [], "operations taking input but not documenting 422:\n  " + "\n  ".join(missing)


def test_the_fastapi_validation_error_shape_is_never_advertised(document: dict[str, Any]) -> None:
    # Validation errors are rendered as problem+json; FastAPI's default HTTPValidationError would be a lie.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def _examples(document: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example the document shows a reader."""
    found: list[tuple[str, dict[str, Any], Any]] = [
        (f"schema {name}", {"$ref": f"#/components/schemas/{name}"}, example)
        for name, schema in document["components"]["schemas"].items()
        for example in schema.get("examples", [])
    ]
    for method, path, operation in _operations(document):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [(status, response.get("content", {})) for status, response in operation["responses"].items()]
        for label, content in bodies:
            for kind, media in _json_media(content).items():
                where = f"{method} {path} {label} {kind}"
                if "example" in media:
                    found.append((where, media.get("schema", {}), media["example"]))
                for name, named in media.get("examples", {}).items():
                    found.append((f"{where} ({name})", media.get("schema", {}), named.get("value")))
    return found


def test_every_example_is_valid_against_its_schema(document: dict[str, Any]) -> None:
    # An example that the schema refuses teaches integrators the wrong shape.
    examples = _examples(document)
    assert len(examples) > 10
    wrong = []
    for where, schema, example in examples:
        validator = Draft202012Validator({**schema, "components": document["components"]})
        wrong += [f"{where}: {'/'.join(map(str, e.absolute_path))} {e.message}" for e in validator.iter_errors(example)]
    assert wrong == [], "examples that do not match their schema:\n  " + "\n  ".join(wrong)
