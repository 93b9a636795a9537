"""Directory records as HL7 FHIR R4 (R4B) resources: HealthcareService, Location, searchset Bundle, OperationOutcome.

Plain JSON-ready dicts, checked in the tests by parsing them with `fhir.resources.R4B`.

- Opening hours: FHIR `time` has no 24:00 and no "next day", so an overnight session is split at midnight
  (Fri 18:00-02:00 -> fri 18:00:00-23:59:59 and sat 00:00:00-02:00:00); 24/7 is `allDay`. Hours are Europe/London
  wall time, as FHIR availableTime is local time.
- A service's own hours go on HealthcareService.availableTime; hours kept per location go on that
  Location.hoursOfOperation (a Location without its own hours shows the service's).
- Dated closures and special openings are `notAvailable` with the dates in `during`; bank-holiday rules are
  `notAvailable` without a period ("Closed on bank holidays in England") or text in `availabilityExceptions`.
- `active` is true only for an active service: a temporarily closed one must never read as available.
- Demonstration records carry the meta tag `demo`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from service_finder.domain.schedule import MINUTES_PER_DAY, BankHolidayPolicy
from service_finder.domain.taxonomy import KINDS, REFERRAL_LABELS, PhoneType, ServiceStatus
from service_finder.schemas import LocationRecord, ScheduleRecord, ServiceRecord

FHIR_JSON = "application/fhir+json"
BASE = "https://service-finder.invalid/fhir/"
KIND_SYSTEM = BASE + "CodeSystem/service-kind"
REFERRAL_SYSTEM = BASE + "CodeSystem/referral-route"
TAG_SYSTEM = BASE + "CodeSystem/tags"
SERVICE_ID_SYSTEM = BASE + "NamingSystem/service-id"
LOCATION_ID_SYSTEM = BASE + "NamingSystem/location-id"
# NHS Data Dictionary: SERVICE OR TEAM TYPE FOR MENTAL HEALTH (the MHSDS team type codes, A01...).
MHSDS_TEAM_TYPE_SYSTEM = "https://www.datadictionary.nhs.uk/data_elements/service_or_team_type_for_mental_health"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WORDS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_END_OF_DAY = "23:59:59"  # FHIR time stops at 23:59:59; there is no 24:00
_TELECOM = {PhoneType.voice: "phone", PhoneType.text: "sms", PhoneType.textphone: "phone", PhoneType.whatsapp: "other"}


def fhir_id(our_id: str) -> str:
    """Our identifiers run to 80 characters, FHIR ids to 64: a long one keeps its start and gains a short hash."""
    if len(our_id) <= 64:
        return our_id
    return f"{our_id[:55]}-{hashlib.sha256(our_id.encode()).hexdigest()[:8]}"


def is_fhir_id(text: str) -> bool:
    return bool(_FHIR_ID.match(text))


def _time(minutes: int) -> str:
    return _END_OF_DAY if minutes >= MINUTES_PER_DAY else f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def weekly_hours(schedules: Iterable[ScheduleRecord]) -> list[tuple[int, int, int]]:
    """(day 0=Monday, opens, closes) per day, closes at most 1440: overnight sessions split at midnight."""
    pieces: list[tuple[int, int, int]] = []
    for schedule in schedules:
        for session in schedule.sessions:
            day = _WORDS.index(session.day)
            hours = session.to_domain()
            if hours.crosses_midnight:
                pieces.append((day, hours.opens, MINUTES_PER_DAY))
                if hours.closes > 0:
                    pieces.append(((day + 1) % 7, 0, hours.closes))
            else:
                pieces.append((day, hours.opens, hours.closes))
    return sorted(set(pieces))


def _grouped(pieces: Sequence[tuple[int, int, int]]) -> list[tuple[list[str], int, int]]:
    # One availableTime per distinct (opens, closes), listing its days: how FHIR examples write a week.
    groups: dict[tuple[int, int], list[str]] = {}
    for day, opens, closes in pieces:
        groups.setdefault((opens, closes), []).append(_DAYS[day])
    return [(days, opens, closes) for (opens, closes), days in sorted(groups.items(), key=lambda g: g[1][0])]


def available_time(schedules: Sequence[ScheduleRecord]) -> list[dict[str, Any]]:
    if any(s.always_open for s in schedules):
        return [{"daysOfWeek": list(_DAYS), "allDay": True}]
    return [
        {"daysOfWeek": days, "availableStartTime": _time(opens), "availableEndTime": _time(closes)}
        for days, opens, closes in _grouped(weekly_hours(schedules))
    ]


def hours_of_operation(schedules: Sequence[ScheduleRecord]) -> list[dict[str, Any]]:
    if any(s.always_open for s in schedules):
        return [{"daysOfWeek": list(_DAYS), "allDay": True}]
    return [
        {"daysOfWeek": days, "openingTime": _time(opens), "closingTime": _time(closes)}
        for days, opens, closes in _grouped(weekly_hours(schedules))
    ]


def _ranges(ranges: Iterable[Any]) -> str:
    return ", ".join(f"{r.opens_at}-{r.closes_at}" for r in ranges)


def not_available(schedules: Sequence[ScheduleRecord]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for schedule in schedules:
        if schedule.bank_holidays is BankHolidayPolicy.closed and not schedule.always_open:
            items.append({"description": "Closed on bank holidays in England"})
        for exception in schedule.exceptions:
            reason = f": {exception.reason}" if exception.reason else ""
            what = "Closed" if exception.closed else f"Regular hours do not apply; open only {_ranges(exception.hours)}"
            items.append(
                {
                    "description": what + reason,
                    "during": {"start": exception.start_date.isoformat(), "end": exception.end_date.isoformat()},
                }
            )
    return items


def availability_exceptions(schedules: Sequence[ScheduleRecord], *, per_location: bool) -> str | None:
    notes: list[str] = []
    for schedule in schedules:
        if schedule.bank_holidays is BankHolidayPolicy.special and schedule.bank_holiday_hours:
            notes.append(f"Bank holidays in England: open {_ranges(schedule.bank_holiday_hours)} only")
        if schedule.valid_from or schedule.valid_to:
            since = f" from {schedule.valid_from.isoformat()}" if schedule.valid_from else ""
            until = f" until {schedule.valid_to.isoformat()}" if schedule.valid_to else ""
            notes.append(f"These hours apply{since}{until}")
        if schedule.notes:
            notes.append(schedule.notes)
    if per_location:
        notes.append("Some locations keep their own hours: see each Location's hoursOfOperation")
    return ". ".join(notes) + "." if notes else None


def location_exceptions(schedules: Sequence[ScheduleRecord]) -> str | None:
    """Everything a Location's weekly hoursOfOperation does not say, as text (R4 Location has no notAvailable):
    bank-holiday hours, the dates the hours apply between, and each closure or change with its dates."""
    parts = []
    general = availability_exceptions(schedules, per_location=False)
    if general:
        parts.append(general.removesuffix("."))
    for item in not_available(schedules):
        during = item.get("during")
        dates = f" ({during['start']} to {during['end']})" if during else ""
        parts.append(item["description"] + dates)
    return "; ".join(parts) or None


def _meta(record: ServiceRecord, last_modified: datetime | None) -> dict[str, Any] | None:
    meta: dict[str, Any] = {}
    if last_modified is not None:
        meta["lastUpdated"] = last_modified.isoformat()
    if record.is_demo:
        meta["tag"] = [{"system": TAG_SYSTEM, "code": "demo", "display": "Demonstration data: not a real service"}]
    return meta or None


def _kind_concepts(record: ServiceRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    info = KINDS[record.kind]
    ours = {"system": KIND_SYSTEM, "code": record.kind.value, "display": info.label}
    category = {"coding": [ours], "text": info.label}
    codings = [ours]
    if info.mhsds_team_type is not None:
        codings.append({"system": MHSDS_TEAM_TYPE_SYSTEM, "code": info.mhsds_team_type})
    return category, {"coding": codings, "text": info.label}


def _eligibility(record: ServiceRecord) -> list[dict[str, Any]]:
    eligibility = record.eligibility
    parts: list[str] = []
    low, high = eligibility.minimum_age, eligibility.maximum_age
    if low is not None and high is not None:
        parts.append(f"Ages {low} to {high}")
    elif low is not None:
        parts.append(f"Ages {low} and over")
    elif high is not None:
        parts.append(f"Ages up to {high}")
    if eligibility.genders:
        parts.append("For " + ", ".join(g.value.replace("_", "-") for g in eligibility.genders))
    if eligibility.description:
        parts.append(eligibility.description)
    return [{"comment": ". ".join(parts)}] if parts else []


def _telecom(record: ServiceRecord) -> list[dict[str, Any]]:
    telecom: list[dict[str, Any]] = [
        {"system": _TELECOM[phone.type], "value": phone.display or phone.number, "use": "work"}
        for phone in record.phones
    ]
    if record.url:
        telecom.append({"system": "url", "value": record.url})
    if record.email:
        telecom.append({"system": "email", "value": record.email})
    return telecom


def healthcare_service(record: ServiceRecord, *, last_modified: datetime | None = None) -> dict[str, Any]:
    category, kind_type = _kind_concepts(record)
    service_wide = [s for s in record.schedules if s.location_id is None]
    per_location = len(service_wide) < len(record.schedules)
    resource: dict[str, Any] = {
        "resourceType": "HealthcareService",
        "id": fhir_id(record.id),
        "meta": _meta(record, last_modified),
        "identifier": [{"system": SERVICE_ID_SYSTEM, "value": record.id}],
        "active": record.status is ServiceStatus.active,
        "providedBy": {"display": record.organisation.name},
        "category": [category],
        "type": [kind_type],
        "name": record.name,
        "comment": record.description or None,
        "extraDetails": record.alert or None,
        "telecom": _telecom(record) or None,
        "location": [
            {"reference": f"Location/{fhir_id(location.id)}", "display": location.name or location.address}
            for location in record.locations
        ]
        or None,
        "eligibility": _eligibility(record) or None,
        "referralMethod": [
            {"coding": [{"system": REFERRAL_SYSTEM, "code": route.value, "display": REFERRAL_LABELS[route]}]}
            for route in record.eligibility.referral_routes or []
        ]
        or None,
        "communication": [{"coding": [{"system": LANGUAGE_SYSTEM, "code": code}]} for code in record.access.languages]
        or None,
        "availableTime": available_time(service_wide) or None,
        "notAvailable": not_available(service_wide) or None,
        "availabilityExceptions": availability_exceptions(service_wide, per_location=per_location),
    }
    if record.status is ServiceStatus.temporarily_closed:
        closed = {"description": "Temporarily closed"}
        resource["notAvailable"] = [closed, *(resource["notAvailable"] or [])]
    return {key: value for key, value in resource.items() if value is not None}


def location(record: ServiceRecord, place: LocationRecord, *, last_modified: datetime | None = None) -> dict[str, Any]:
    own = [s for s in record.schedules if s.location_id == place.id]
    schedules = own or [s for s in record.schedules if s.location_id is None]
    status = {ServiceStatus.active: "active", ServiceStatus.temporarily_closed: "suspended"}.get(
        record.status, "inactive"
    )
    address = {
        "use": "work",
        "type": "physical",
        "line": [place.address] if place.address else None,
        "city": place.city or None,
        "postalCode": place.postcode,
        "country": "GB",
    }
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": fhir_id(place.id),
        "meta": _meta(record, last_modified),
        "identifier": [{"system": LOCATION_ID_SYSTEM, "value": place.id}],
        "status": status,
        "name": place.name or place.address or record.name,
        "description": place.description or None,
        "mode": "instance",
        "address": {key: value for key, value in address.items() if value is not None},
        "position": {"longitude": place.longitude, "latitude": place.latitude},
        "managingOrganization": {"display": record.organisation.name},
        "hoursOfOperation": hours_of_operation(schedules) or None,
        "availabilityExceptions": location_exceptions(schedules),
    }
    return {key: value for key, value in resource.items() if value is not None}


def searchset(
    resources: Sequence[dict[str, Any]], *, total: int, base_url: str, links: dict[str, str]
) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
        "entry": [
            {
                "fullUrl": f"{base_url}{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ],
    }


def operation_outcome(code: str, diagnostics: str, *, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression is not None:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
