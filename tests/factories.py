"""Small explicit builders for directory records; every test states the fields it cares about."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from service_finder.schemas import ServiceRecord


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def service_data(service_id: str = "leeds-test-cafe", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": service_id,
        "name": "Leeds Test Café",
        "organisation": {"id": "test-org", "name": "Test Organisation"},
        "description": "An evening crisis café.",
        "kind": "crisis_cafe",
        "needs": ["suicidal_thoughts", "self_harm"],
        "eligibility": {
            "minimum_age": 18,
            "catchment": {"type": "districts", "districts": ["E08000035"]},
            "referral_routes": ["walk_in", "self_referral"],
            "accepts_intoxicated": False,
            "gp_registration_required": False,
        },
        "access": {
            "contact_modes": ["in_person", "phone"],
            "accessibility": {"step_free": True, "bsl": False},
            "languages": ["en", "pl"],
            "cost": "free",
        },
        "locations": [
            {
                "id": f"{service_id}-loc",
                "name": "Civic Hall",
                "address": "Calverley Street",
                "city": "Leeds",
                "postcode": "LS1 1UR",
                "latitude": 53.801277,
                "longitude": -1.548567,
            }
        ],
        "phones": [{"number": "0113 496 0001"}],
        "schedules": [
            {
                "id": f"{service_id}-hours",
                "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}],
                "bank_holidays": "closed",
            }
        ],
        "provenance": {
            "source_name": "test",
            "verified_at": datetime(2026, 10, 1, 9, 0, tzinfo=UTC).isoformat(),
            "verify_due": date(2027, 4, 1).isoformat(),
        },
    }
    return _merge(base, overrides)


def make_record(service_id: str = "leeds-test-cafe", **overrides: Any) -> ServiceRecord:
    return ServiceRecord.model_validate(service_data(service_id, **overrides))
