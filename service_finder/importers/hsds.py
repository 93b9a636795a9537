"""Open Referral HSDS 3.0 (and Open Referral UK) export and import of ServiceRecords.

Export writes fully nested HSDS `service` objects that validate against the official compiled schema. Import
reads them back without loss, and reads other publishers' HSDS as far as it goes (missing optional fields
are unknown, never "no").

How directory facts HSDS has no field for are carried (the HSDS 3.0 way: `attributes` linking taxonomy terms
from our own published taxonomies, with the attribute `value` where a term needs one):

- taxonomy terms are named `service-finder:<taxonomy>:<value>` (e.g. `service-finder:kind:crisis_cafe`). That
  name is the term's `term_uri`; its `id` is a UUID derived from the name, because HSDS ids are UUIDs.
  Kinds carry their NHS MHSDS team-type code as the term `code`.
- tri-states (referral routes, accessibility features, the `eligibility` flags) carry `value` "true" or "false";
  no attribute means unknown. A known list of referral routes is written in full, so "none of these" survives.
- values without a vocabulary (our identifiers, typical wait, provenance, a location's district code, a phone's
  display form) are terms of the `service-finder:field` taxonomy with the value in `value`.
- HSDS ids are UUIDv5 of our identifiers; our identifiers travel in attributes, the location's
  `external_identifier` and the organisation's `organization_identifiers`.
- catchment: one `service_area` per district (ONS code as `name`, statistics.data.gov.uk URI as `uri`), a GeoJSON
  polygon in `extent` with `extent_type` "geojson", or the named area "England"; each area carries a
  `service-finder:catchment:<type>` attribute. On import any other area (a county, a name without a code) refuses
  the record: dropped, the catchment would shrink to the areas read and leave that area's people out.
- schedules: each of our schedules becomes rows sharing a `service-finder:field:schedule_id` attribute, each row
  marked with a `service-finder:schedule-part:<part>` attribute. Weekly sessions are plain HSDS rows (freq WEEKLY,
  byday, opens_at/closes_at "HH:MM" in Europe/London wall time; overnight: opens_at > closes_at, described).
  24/7 is one row MO..SU 00:00-24:00. Bank-holiday policy and dated exceptions are rows with no recurrence and no
  opens_at (so an HSDS consumer that does not know our terms never reads them as extra opening hours): their times
  are in the part attribute's `value` ("10:00-16:00,18:00-20:00"), their dates in valid_from/valid_to. A schedule
  with none of these writes one `no_hours` row so its validity dates and notes survive. Per-location schedules sit
  on the service_at_location. HSDS `timezone` is a fixed UTC offset and cannot say Europe/London, so it is left out;
  every weekly row's `description` says its times are UK time (Europe/London) instead.
- import order of schedules is canonical: service-wide schedules first, then each location's, in location order.
  A row listed on the service that names a `service_at_location_id` or `location_id` is that site's, as one on the
  service_at_location is; one naming a site the service does not list is refused. A location's own `schedules` (the
  building's hours, which may be longer or shorter than the service's there) are refused: never added to the
  service's hours, never used in their place, never dropped without saying so.
- another publisher's schedule rows keep their `description` and `notes` in the schedule's notes; a row of words
  with no times joins a schedule that has times, or is refused (a schedule with no sessions reads as never open).
  A language with a name but no code is refused: no code is guessed from a name.
- phones: an HSDS `extension` is kept in the display (' x2', which the tel: link dials); a location's,
  service_at_location's or contact's number is kept as one of the service's, its description saying whose it is
  ("At Northfield Community Centre", "Contact: Duty worker"), unless the service lists that number already.
- accessibility is the service's here and each HSDS location's its own: a location's description that is one of our
  feature labels counts for the service only when every location lists it; what a location says beyond that is kept
  in its description ("Accessibility at this site: ...").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from functools import cache
from typing import Any

from service_finder.domain.languages import language_name
from service_finder.domain.phones import PhoneError, normalise_phone
from service_finder.domain.schedule import DAY_NAMES, BankHolidayPolicy
from service_finder.domain.taxonomy import (
    ACCESS_LABELS,
    KINDS,
    NEED_LABELS,
    REFERRAL_LABELS,
    AccessFeature,
    CatchmentType,
    ContactMode,
    Cost,
    Gender,
    Need,
    PhoneType,
    ReferralRoute,
    ServiceStatus,
)
from service_finder.importers import csv_format
from service_finder.importers.report import (
    MAX_GEOJSON_DEPTH,
    Parsed,
    Problem,
    describe_value,
    load_json,
    nested_deeper_than,
    validate_record,
)
from service_finder.schemas import (
    ID_PATTERN,
    LocationRecord,
    PhoneRecord,
    ScheduleRecord,
    ServiceRecord,
    TimeRangeRecord,
    slugify,
)

PREFIX = "service-finder"
_NAMESPACE = uuid.UUID("5d1f3c3e-6a2b-5f0e-9d8c-3b7a1e2f4c60")
ONS_URI = "http://statistics.data.gov.uk/id/statistical-geography/"
# Publishers write the ONS identifier as http or https, with or without a trailing '/', and the code in either case.
_ONS_URI = re.compile(r"https?://statistics\.data\.gov\.uk/id/statistical-geography/([^/]+)/?", re.IGNORECASE)
ENGLAND_CODE = "E92000001"
IDENTIFIER_SCHEME = PREFIX
FALLBACK_SOURCE = "HSDS import"
_BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAYS = [name.lower() for name in DAY_NAMES]

_STATUS_TO_HSDS = {
    ServiceStatus.active: "active",
    ServiceStatus.inactive: "inactive",
    ServiceStatus.temporarily_closed: "temporarily closed",
    ServiceStatus.defunct: "defunct",
}
_STATUS_FROM_HSDS = {value: key for key, value in _STATUS_TO_HSDS.items()}


class Part(StrEnum):
    weekly = "weekly"
    always_open = "always_open"
    bank_holidays_closed = "bank_holidays_closed"
    bank_holiday_hours = "bank_holiday_hours"
    closed = "closed"
    special_opening = "special_opening"
    no_hours = "no_hours"


class FieldTerm(StrEnum):
    service_id = "service_id"
    schedule_id = "schedule_id"
    safety_net = "safety_net"
    typical_wait_days = "typical_wait_days"
    source_name = "source_name"
    source_url = "source_url"
    verified_at = "verified_at"
    verify_due = "verify_due"
    district_code = "district_code"
    phone_display = "phone_display"
    reason = "reason"


class EligibilityFlag(StrEnum):
    gp_registration_required = "gp_registration_required"
    accepts_intoxicated = "accepts_intoxicated"
    accepts_substance_use = "accepts_substance_use"


_PART_LABELS = {
    Part.weekly: "A weekly session (Europe/London time).",
    Part.always_open: "Open 24 hours, every day, including bank holidays.",
    Part.bank_holidays_closed: "Closed on bank holidays in England.",
    Part.bank_holiday_hours: "Opening hours on bank holidays in England (in the attribute value).",
    Part.closed: "Closed on every date from valid_from to valid_to.",
    Part.special_opening: (
        "Special hours (in the attribute value) replace the weekly pattern from valid_from to valid_to."
    ),
    Part.no_hours: "A schedule with no weekly hours; carries its validity dates and notes.",
}
_FIELD_LABELS = {
    FieldTerm.service_id: "The service's Service Finder identifier.",
    FieldTerm.schedule_id: "The Service Finder identifier of the schedule this row belongs to.",
    FieldTerm.safety_net: "A national line always shown as a safety net (value true).",
    FieldTerm.typical_wait_days: "Typical wait in days before the service is received.",
    FieldTerm.source_name: "Who published this record.",
    FieldTerm.source_url: "Where this record was published.",
    FieldTerm.verified_at: "When a person last checked this record (ISO 8601 date-time).",
    FieldTerm.verify_due: "After this date (ISO 8601) the record counts as stale.",
    FieldTerm.district_code: "ONS local-authority district code of the location.",
    FieldTerm.phone_display: "The phone number as people read it.",
    FieldTerm.reason: "Why a schedule exception applies.",
}
_ELIGIBILITY_LABELS = {
    EligibilityFlag.gp_registration_required: "Registration with a GP is required (value true or false).",
    EligibilityFlag.accepts_intoxicated: "Accepts people who are intoxicated (value true or false).",
    EligibilityFlag.accepts_substance_use: "Accepts people who use drugs or alcohol (value true or false).",
}


@dataclass(frozen=True, slots=True)
class Term:
    taxonomy: str
    value: str
    name: str
    description: str
    code: str | None = None

    @property
    def uri(self) -> str:
        return f"{PREFIX}:{self.taxonomy}:{self.value}"


@dataclass(frozen=True, slots=True)
class Taxonomy:
    key: str
    name: str
    description: str
    terms: tuple[Term, ...]

    @property
    def uri(self) -> str:
        return f"{PREFIX}:{self.key}"


def _labelled(key: str, values: Iterable[StrEnum], labels: dict[Any, str]) -> tuple[Term, ...]:
    return tuple(Term(key, v.value, labels.get(v, v.value.replace("_", " ")), labels.get(v, v.value)) for v in values)


TAXONOMIES: tuple[Taxonomy, ...] = (
    Taxonomy(
        "kind",
        "Service Finder service kinds",
        "What kind of crisis service this is; `code` is the NHS MHSDS team type where one exists.",
        tuple(Term("kind", k.value, info.label, info.description, info.mhsds_team_type) for k, info in KINDS.items()),
    ),
    Taxonomy(
        "need", "Service Finder needs", "Needs a service is set up to help with.", _labelled("need", Need, NEED_LABELS)
    ),
    Taxonomy(
        "referral-route",
        "Service Finder referral routes",
        "How people can be referred; value true or false, no attribute: unknown.",
        _labelled("referral-route", ReferralRoute, REFERRAL_LABELS),
    ),
    Taxonomy(
        "contact-mode",
        "Service Finder contact modes",
        "How people can contact the service.",
        _labelled("contact-mode", ContactMode, {}),
    ),
    Taxonomy(
        "access-feature",
        "Service Finder accessibility features",
        "Accessibility features; value true (available) or false (not available), no attribute: unknown.",
        _labelled("access-feature", AccessFeature, ACCESS_LABELS),
    ),
    Taxonomy("gender", "Service Finder genders", "Who a service says it serves.", _labelled("gender", Gender, {})),
    Taxonomy("cost", "Service Finder cost", "Whether people pay.", _labelled("cost", Cost, {})),
    Taxonomy(
        "eligibility",
        "Service Finder eligibility flags",
        "Eligibility rules with value true or false; no attribute: unknown.",
        _labelled("eligibility", EligibilityFlag, _ELIGIBILITY_LABELS),
    ),
    Taxonomy(
        "catchment",
        "Service Finder catchment types",
        "How a service area limits who is served.",
        _labelled("catchment", CatchmentType, {}),
    ),
    Taxonomy(
        "schedule-part",
        "Service Finder schedule parts",
        "What a schedule row describes.",
        _labelled("schedule-part", Part, _PART_LABELS),
    ),
    Taxonomy(
        "field",
        "Service Finder fields",
        "Directory values HSDS has no field for; the value is in the attribute `value`.",
        _labelled("field", FieldTerm, _FIELD_LABELS),
    ),
)
_TERMS: dict[str, Term] = {term.uri: term for taxonomy in TAXONOMIES for term in taxonomy.terms}
_TAXONOMY_BY_KEY = {taxonomy.key: taxonomy for taxonomy in TAXONOMIES}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def uuid_digests(names: Iterable[Sequence[str]]) -> Iterator[bytes]:
    """The UUID _uuid makes of each name's parts, as its 16 bytes but for the version and variant bits (uuid5 sets
    them; the caller does, over all at once): a table of a million is made without a UUID object each."""
    namespace = _NAMESPACE.bytes
    for parts in names:
        yield hashlib.sha1(namespace + "/".join(parts).encode(), usedforsecurity=False).digest()[:16]


# Every way a publisher may name one of our terms: the readable name, or the UUID we derive from it.
_TERM_KEYS: dict[str, Term] = {key: term for term in _TERMS.values() for key in (term.uri, _uuid("term", term.uri))}


@cache
def _taxonomy_object(taxonomy: Taxonomy) -> dict[str, Any]:
    return {
        "id": _uuid("taxonomy", taxonomy.uri),
        "name": taxonomy.uri,
        "description": f"{taxonomy.name}: {taxonomy.description}",
        "version": "1",
    }


@cache
def _term_object(term: Term) -> dict[str, Any]:
    taxonomy = _TAXONOMY_BY_KEY[term.taxonomy]
    obj: dict[str, Any] = {
        "id": _uuid("term", term.uri),
        "name": term.name,
        "description": term.description,
        "taxonomy": taxonomy.uri,
        "taxonomy_id": _uuid("taxonomy", taxonomy.uri),
        "term_uri": term.uri,
    }
    if term.code is not None:
        obj["code"] = term.code
    return obj


def hsds_taxonomies() -> list[dict[str, Any]]:
    return [dict(_taxonomy_object(taxonomy)) for taxonomy in TAXONOMIES]


def hsds_taxonomy_terms() -> list[dict[str, Any]]:
    return [dict(_term_object(term)) for taxonomy in TAXONOMIES for term in taxonomy.terms]


# --- export -------------------------------------------------------------------------------------------------


class _Attributes:
    def __init__(self, link_id: str, link_entity: str) -> None:
        self.link_id = link_id
        self.link_entity = link_entity
        self.items: list[dict[str, Any]] = []

    def add(self, taxonomy: str, value: str, attribute_value: str | None = None) -> None:
        term = _TERMS[f"{PREFIX}:{taxonomy}:{value}"]
        item: dict[str, Any] = {
            "id": _uuid("attribute", self.link_id, term.uri, str(len(self.items))),
            "link_id": self.link_id,
            "link_type": taxonomy,
            "link_entity": self.link_entity,
            "taxonomy_term_id": _term_object(term)["id"],
            # Copies: the cached objects are shared, the document is the caller's to change.
            "taxonomy_term": {
                **_term_object(term),
                "taxonomy_detail": dict(_taxonomy_object(_TAXONOMY_BY_KEY[taxonomy])),
            },
        }
        if attribute_value is not None:
            item["value"] = attribute_value
        self.items.append(item)

    def field(self, term: FieldTerm, value: str) -> None:
        self.add("field", term.value, value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _ranges(ranges: Sequence[TimeRangeRecord]) -> str:
    return ",".join(f"{r.opens_at}-{r.closes_at}" for r in ranges)


def _schedule_rows(record: ServiceRecord, schedule: ScheduleRecord, link: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(part: Part, value: str | None = None, *, dated: tuple[date, date] | None = None) -> dict[str, Any]:
        row_id = _uuid("schedule", record.id, schedule.id, str(len(rows)))
        attributes = _Attributes(row_id, "schedule")
        attributes.field(FieldTerm.schedule_id, schedule.id)
        attributes.add("schedule-part", part.value, value)
        item: dict[str, Any] = {"id": row_id, **link}
        valid_from, valid_to = dated or (schedule.valid_from, schedule.valid_to)
        if valid_from is not None:
            item["valid_from"] = valid_from.isoformat()
        if valid_to is not None:
            item["valid_to"] = valid_to.isoformat()
        if schedule.notes:
            item["notes"] = schedule.notes
        item["attributes"] = attributes.items
        rows.append(item)
        return item

    if schedule.always_open:
        item = row(Part.always_open)
        item.update(freq="WEEKLY", byday=",".join(_BYDAY), opens_at="00:00", closes_at="24:00")
        item["description"] = "Open 24 hours, every day, including bank holidays"
    for session in schedule.sessions:
        item = row(Part.weekly)
        day = _DAYS.index(session.day)
        item.update(freq="WEEKLY", byday=_BYDAY[day], opens_at=session.opens_at, closes_at=session.closes_at)
        if session.to_domain().crosses_midnight:
            next_day = DAY_NAMES[(day + 1) % 7]
            when = f"Overnight: opens {DAY_NAMES[day]} {session.opens_at}, closes {next_day} {session.closes_at}"
        else:
            when = f"{DAY_NAMES[day]} {session.opens_at}-{session.closes_at}"
        # HSDS reads a time without an offset as UTC, and its `timezone` is one fixed offset that cannot follow
        # British Summer Time: the words say which clock opens_at and closes_at are on.
        item["description"] = f"{when}, UK time (Europe/London)"
    if schedule.bank_holidays is BankHolidayPolicy.closed:
        row(Part.bank_holidays_closed)["description"] = "Closed on bank holidays in England"
    for hours in schedule.bank_holiday_hours:
        item = row(Part.bank_holiday_hours, _ranges([hours]))
        item["description"] = f"Bank holidays in England: open {hours.opens_at}-{hours.closes_at} only"
    if not rows:
        row(Part.no_hours)["description"] = "No regular weekly opening hours"
    for exception in schedule.exceptions:
        dates = (exception.start_date, exception.end_date)
        span = f"{dates[0].isoformat()} to {dates[1].isoformat()}"
        if exception.closed:
            item = row(Part.closed, dated=dates)
            item["description"] = f"Closed {span}"
        else:
            item = row(Part.special_opening, _ranges(exception.hours), dated=dates)
            item["description"] = f"From {span} open only {_ranges(exception.hours).replace(',', ', ')}"
        if exception.reason:
            attributes = _Attributes(item["id"], "schedule")
            attributes.items = item["attributes"]
            attributes.field(FieldTerm.reason, exception.reason)
            item["description"] += f": {exception.reason}"
    return rows


def _language(record_id: str, service_id: str, code: str) -> dict[str, str]:
    row = {"id": _uuid("language", record_id, code), "service_id": service_id, "code": code}
    name = language_name(code)  # HSDS types never allow null: a code naming no known language goes without
    return row if name is None else {**row, "name": name}


def _phone(record_id: str, index: int, phone: PhoneRecord) -> dict[str, Any]:
    phone_id = _uuid("phone", record_id, str(index))
    # Write the number as people read it when that reads back to the same number and display.
    number = phone.number
    try:
        readable = normalise_phone(phone.display)
        if readable.number == phone.number and readable.display == phone.display:
            number = phone.display
    except PhoneError:
        pass
    item: dict[str, Any] = {"id": phone_id, "service_id": service_uuid(record_id), "number": number}
    item["type"] = phone.type.value
    extension = re.search(r" x([1-9]\d*)$", phone.display)  # HSDS's is a number: '02' stays in the display only
    if extension is not None:
        item["extension"] = int(extension.group(1))
    if phone.description:
        item["description"] = phone.description
    if normalise_phone(number).display != phone.display:
        attributes = _Attributes(phone_id, "phone")
        attributes.field(FieldTerm.phone_display, phone.display)
        item["attributes"] = attributes.items
    return item


def _location(record: ServiceRecord, location: LocationRecord) -> dict[str, Any]:
    location_id = _uuid("location", location.id)
    attributes = _Attributes(location_id, "location")
    if location.district_code is not None:
        attributes.field(FieldTerm.district_code, location.district_code)
    item: dict[str, Any] = {
        "id": location_id,
        "location_type": "physical",
        "organization_id": _uuid("organization", record.organisation.id),
        "name": location.name,
        "latitude": location.latitude,
        "longitude": location.longitude,
        "external_identifier": location.id,
        "external_identifier_type": IDENTIFIER_SCHEME,
        "addresses": [
            {
                "id": _uuid("address", location.id),
                "location_id": location_id,
                "address_1": location.address,
                "city": location.city,
                "state_province": "England",
                "postal_code": location.postcode,
                "country": "GB",
                "address_type": "physical",
            }
        ],
        # A readable copy of the service's accessibility; the service attributes are what import reads.
        "accessibility": [
            {"id": _uuid("accessibility", location.id, feature.value), "location_id": location_id, "description": label}
            for feature, label in ACCESS_LABELS.items()
            if record.access.accessibility.get(feature) is True
        ],
        "attributes": attributes.items,
    }
    if location.description:
        item["description"] = location.description
    return item


def _service_areas(record: ServiceRecord, service_id: str) -> list[dict[str, Any]]:
    catchment = record.eligibility.catchment
    if catchment is None:
        return []
    areas: list[dict[str, Any]] = []

    def area(key: str, **fields: str) -> None:
        area_id = _uuid("service_area", record.id, key)
        attributes = _Attributes(area_id, "service_area")
        attributes.add("catchment", catchment.type.value)
        areas.append({"id": area_id, "service_id": service_id, **fields, "attributes": attributes.items})

    if catchment.type is CatchmentType.england:
        area("england", name="England", uri=ONS_URI + ENGLAND_CODE, description="Anyone in England")
    for code in catchment.districts:
        area(code, name=code, uri=ONS_URI + code)
    if catchment.geojson is not None:
        area("polygon", name="Catchment area", extent=json.dumps(catchment.geojson), extent_type="geojson")
    return areas


def service_uuid(service_id: str) -> str:
    """The HSDS id of the service with our id `service_id`: derived from it, the same on every export."""
    return _uuid("service", service_id)


def service_at_location_uuid(service_id: str, location_id: str) -> str:
    """The HSDS id of the service with our id `service_id` at its location `location_id`: derived from both."""
    return _uuid("service_at_location", service_id, location_id)


def hsds_service_attributes(record: ServiceRecord) -> list[dict[str, Any]]:
    """The attributes of the service's HSDS document: its taxonomy terms, and the fields HSDS has none for. The
    HSDS API's taxonomy filters read the columns of the index where they tell the same (interop/hsds_api.py:
    _term_masks), and these where they do not."""
    eligibility, access, provenance = record.eligibility, record.access, record.provenance
    attributes = _Attributes(service_uuid(record.id), "service")
    attributes.field(FieldTerm.service_id, record.id)
    attributes.add("kind", record.kind.value)
    for need in record.needs:
        attributes.add("need", need.value)
    if eligibility.referral_routes is not None:
        known = list(eligibility.referral_routes)
        for route in known:
            attributes.add("referral-route", route.value, "true")
        for route in ReferralRoute:
            if route not in known:
                attributes.add("referral-route", route.value, "false")
    for flag in EligibilityFlag:
        flag_value: bool | None = getattr(eligibility, flag.value)
        if flag_value is not None:
            attributes.add("eligibility", flag.value, _bool(flag_value))
    for gender in eligibility.genders:
        attributes.add("gender", gender.value)
    for mode in access.contact_modes:
        attributes.add("contact-mode", mode.value)
    for feature, available in access.accessibility.items():
        attributes.add("access-feature", feature.value, _bool(available))
    if access.cost is not None:
        attributes.add("cost", access.cost.value)
    if access.typical_wait_days is not None:
        attributes.field(FieldTerm.typical_wait_days, str(access.typical_wait_days))
    if record.safety_net:
        attributes.field(FieldTerm.safety_net, "true")
    attributes.field(FieldTerm.source_name, provenance.source_name)
    if provenance.source_url is not None:
        attributes.field(FieldTerm.source_url, provenance.source_url)
    if provenance.verified_at is not None:
        attributes.field(FieldTerm.verified_at, provenance.verified_at.isoformat())
    if provenance.verify_due is not None:
        attributes.field(FieldTerm.verify_due, provenance.verify_due.isoformat())
    return attributes.items


def to_hsds_service(record: ServiceRecord, *, last_modified: datetime | None = None) -> dict[str, Any]:
    service_id = service_uuid(record.id)
    organisation = record.organisation
    eligibility, access, provenance = record.eligibility, record.access, record.provenance

    organization: dict[str, Any] = {
        "id": _uuid("organization", organisation.id),
        "name": organisation.name,
        "description": organisation.description,
        "organization_identifiers": [
            {
                "id": _uuid("organization_identifier", organisation.id),
                "organization_id": _uuid("organization", organisation.id),
                "identifier_scheme": IDENTIFIER_SCHEME,
                "identifier_type": "Service Finder organisation identifier",
                "identifier": organisation.id,
            }
        ],
    }
    if organisation.url is not None:
        organization["website"] = organisation.url
    if organisation.email is not None:
        organization["email"] = organisation.email

    service_schedules = [s for s in record.schedules if s.location_id is None]
    service_at_locations = []
    for location in record.locations:
        link_id = service_at_location_uuid(record.id, location.id)
        link = {"service_at_location_id": link_id}
        service_at_locations.append(
            {
                "id": link_id,
                "service_id": service_id,
                "location_id": _uuid("location", location.id),
                "schedules": [
                    row
                    for schedule in record.schedules
                    if schedule.location_id == location.id
                    for row in _schedule_rows(record, schedule, link)
                ],
                "location": _location(record, location),
            }
        )

    service: dict[str, Any] = {
        "id": service_id,
        "organization_id": organization["id"],
        "name": record.name,
        "description": record.description,
        "status": _STATUS_TO_HSDS[record.status],
    }
    optional: dict[str, Any] = {
        "url": record.url,
        "email": record.email,
        "alert": record.alert or None,
        "eligibility_description": eligibility.description or None,
        "minimum_age": eligibility.minimum_age,
        "maximum_age": eligibility.maximum_age,
        "fees_description": access.fees_description or None,
        "assured_date": provenance.verified_at.date().isoformat() if provenance.verified_at else None,
        "last_modified": last_modified.isoformat() if last_modified else None,
    }
    service.update({key: value for key, value in optional.items() if value is not None})
    service["phones"] = [_phone(record.id, index, phone) for index, phone in enumerate(record.phones)]
    service["schedules"] = [
        row for schedule in service_schedules for row in _schedule_rows(record, schedule, {"service_id": service_id})
    ]
    service["service_areas"] = _service_areas(record, service_id)
    service["service_at_locations"] = service_at_locations
    service["languages"] = [_language(record.id, service_id, code) for code in access.languages]
    service["organization"] = organization
    service["attributes"] = hsds_service_attributes(record)
    if provenance.verified_at is not None:
        service["metadata"] = [
            {
                "id": _uuid("metadata", record.id, "verified"),
                "resource_id": service_id,
                "resource_type": "service",
                "last_action_date": provenance.verified_at.date().isoformat(),
                "last_action_type": "verified",
                "field_name": "assured_date",
                "previous_value": "",
                "replacement_value": provenance.verified_at.date().isoformat(),
                "updated_by": provenance.source_name,
            }
        ]
    return service


def to_hsds_document(
    records: Iterable[ServiceRecord], *, last_modified: dict[str, datetime] | None = None
) -> list[dict[str, Any]]:
    modified = last_modified or {}
    return [to_hsds_service(record, last_modified=modified.get(record.id)) for record in records]


# --- import -------------------------------------------------------------------------------------------------


class _Reader:
    """Reads untrusted JSON: every wrong shape becomes a Problem naming the HSDS path, never an exception."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[Problem] = []

    def problem(self, path: str, value: Any, message: str) -> None:
        self.problems.append(Problem(self.where, path, describe_value(value) if value is not None else "", message))

    def obj(self, value: Any, path: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(path, value, "expected a JSON object")
            return None
        return value

    def items(self, value: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, value, "expected a JSON array")
            return []
        found = []
        for index, item in enumerate(value):
            if (checked := self.obj(item, f"{path}.{index}")) is not None:
                found.append((f"{path}.{index}", checked))
        return found

    def text(self, container: dict[str, Any], key: str, path: str) -> str | None:
        value = container.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(f"{path}.{key}" if path else key, value, "expected a string")
            return None
        return str(value)

    def number(self, container: dict[str, Any], key: str, path: str) -> int | None:
        value = container.get(key)
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.0+)?\s*", value):
            value = float(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value != int(value)
        ):
            self.problem(f"{path}.{key}" if path else key, value, "expected a whole number")
            return None
        return int(value)


@dataclass(frozen=True, slots=True)
class _Attribute:
    term: Term
    value: str | None
    path: str


def _attributes(reader: _Reader, container: dict[str, Any], path: str) -> list[_Attribute]:
    found = []
    for item_path, item in reader.items(container.get("attributes"), f"{path}.attributes" if path else "attributes"):
        term_obj = reader.obj(item.get("taxonomy_term"), f"{item_path}.taxonomy_term") or {}
        keys = [term_obj.get("term_uri"), term_obj.get("id"), item.get("taxonomy_term_id")]
        term = next((_TERM_KEYS[k] for k in keys if isinstance(k, str) and k in _TERM_KEYS), None)
        if term is None:
            continue  # another publisher's taxonomy: nothing we can read from it
        found.append(_Attribute(term, reader.text(item, "value", item_path), item_path))
    return found


def _tri_state(reader: _Reader, attribute: _Attribute, *, absent: bool | None = True) -> bool | None:
    if attribute.value is None:
        return absent
    lowered = attribute.value.strip().lower()
    if lowered in {"true", "yes"}:
        return True
    if lowered in {"false", "no"}:
        return False
    reader.problem(f"{attribute.path}.value", attribute.value, f"{attribute.term.uri} needs value true or false")
    return None


def _slug(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if re.fullmatch(ID_PATTERN, lowered):
        return lowered
    return slugify(value) or None


def _timestr(reader: _Reader, row: dict[str, Any], key: str, path: str) -> str | None:
    text = reader.text(row, key, path)
    if text is None:
        return None
    # HSDS suggests a UTC offset on times; a time of day in UTC cannot be read as London time without a date,
    # and guessing would show a closed service as open for half the year.
    if re.search(r"(Z|[+-]\d{2}:?\d{2})$", text.strip()) and not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text.strip()):
        reader.problem(f"{path}.{key}", text, "times with a UTC offset are not supported; write Europe/London time")
        return None
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::00)?\s*", text)
    if not match:
        reader.problem(f"{path}.{key}", text, "expected a time HH:MM")
        return None
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _ranges_from(reader: _Reader, text: str | None, path: str) -> list[dict[str, str]]:
    ranges = []
    for part in (text or "").split(","):
        match = re.fullmatch(r"\s*(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})\s*", part)
        if not match:
            reader.problem(path, text, "expected times like 10:00-16:00,18:00-20:00")
            return []
        ranges.append({"opens_at": match.group(1), "closes_at": match.group(2)})
    return ranges


def _date(reader: _Reader, row: dict[str, Any], key: str, path: str) -> str | None:
    text = reader.text(row, key, path)
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        reader.problem(f"{path}.{key}", text, "expected a date YYYY-MM-DD")
        return None


@dataclass(slots=True)
class _ScheduleDraft:
    data: dict[str, Any]
    has_level_row: bool = False


def _read_schedules(
    reader: _Reader, rows: list[tuple[str, dict[str, Any]]], *, default_id: str, location_id: str | None
) -> list[dict[str, Any]]:
    drafts: dict[str, _ScheduleDraft] = {}
    # Another publisher's rows carry no schedule id: rows valid over the same dates make one schedule, so a
    # row valid only from next month never counts as open now.
    foreign: dict[tuple[str | None, str | None], str] = {}
    foreign_notes: list[tuple[str, str]] = []
    for path, row in rows:
        attributes = _attributes(reader, row, path)
        schedule_id = next((a.value for a in attributes if a.term.uri.endswith(":field:schedule_id")), None)
        part_attribute = next((a for a in attributes if a.term.taxonomy == "schedule-part"), None)
        reason = next((a.value for a in attributes if a.term.uri.endswith(":field:reason")), None)
        part = Part(part_attribute.term.value) if part_attribute else None
        valid_from, valid_to = _date(reader, row, "valid_from", path), _date(reader, row, "valid_to", path)
        # A recurrence's own start and end (dtstart, until) bound it as valid_from and valid_to do: a row that
        # ended in 2020 is not open every week now. (ISO dates compare as text.)
        starts, ends = _date(reader, row, "dtstart", path), _date(reader, row, "until", path)
        valid_from = max((d for d in (valid_from, starts) if d), default=None)
        valid_to = min((d for d in (valid_to, ends) if d), default=None)
        # HSDS `timezone` is one fixed UTC offset: 0 means the times are GMT all year, so 09:00 is 10:00 by the
        # clock in summer. Read as UK time, such a row would be an hour out for half the year (as a time with 'Z' is,
        # which is refused too): the publisher must say UK time by leaving it out.
        timezone = row.get("timezone")
        if timezone is not None:
            reader.problem(
                f"{path}.timezone",
                timezone,
                "a fixed UTC offset cannot follow British Summer Time: leave timezone out and write opens_at and "
                "closes_at in UK time (Europe/London)",
            )
        if schedule_id is None and part is None:
            # Another publisher's words about its hours ("Closed on bank holidays") are kept with them, never lost.
            texts = [text for key in ("description", "notes") if (text := (reader.text(row, key, path) or "").strip())]
            sessions = _weekly_sessions(reader, row, path)
            if not sessions:
                foreign_notes.extend((path, text) for text in texts)
                continue
            key = foreign.setdefault(
                (valid_from, valid_to), default_id if not foreign else f"{default_id[:70]}-{len(foreign) + 1}"
            )
            if key not in drafts:
                validity = {"valid_from": valid_from, "valid_to": valid_to}
                drafts[key] = _ScheduleDraft({"id": key, "location_id": location_id, "sessions": [], **validity})
            drafts[key].data["sessions"].extend(sessions)
            drafts[key].data.setdefault("notes_said", []).extend(texts)
            continue
        key = _slug(schedule_id) or default_id
        draft = drafts.get(key)
        if draft is None:
            draft = drafts[key] = _ScheduleDraft({"id": key, "location_id": location_id, "sessions": []})
        data = draft.data
        if part in {Part.closed, Part.special_opening}:
            exception: dict[str, Any] = {"start_date": valid_from, "end_date": valid_to, "reason": reason or ""}
            if valid_from is None or valid_to is None:
                reader.problem(path, None, "a schedule exception needs valid_from and valid_to dates")
            if part is Part.special_opening:
                exception["closed"] = False
                exception["hours"] = _ranges_from(reader, part_attribute.value if part_attribute else None, path)
            data.setdefault("exceptions", []).append(exception)
            continue
        if not draft.has_level_row:
            draft.has_level_row = True
            if valid_from is not None:
                data["valid_from"] = valid_from
            if valid_to is not None:
                data["valid_to"] = valid_to
            if notes := reader.text(row, "notes", path):
                data["notes"] = notes
        if part is Part.bank_holidays_closed:
            data["bank_holidays"] = BankHolidayPolicy.closed.value
        elif part is Part.bank_holiday_hours:
            data["bank_holidays"] = BankHolidayPolicy.special.value
            hours = _ranges_from(reader, part_attribute.value if part_attribute else None, path)
            data.setdefault("bank_holiday_hours", []).extend(hours)
        elif part is Part.always_open:
            data["always_open"] = True
        elif part is not Part.no_hours:
            data["sessions"].extend(_weekly_sessions(reader, row, path))
    if foreign_notes and not foreign:
        # Kept as a schedule with no sessions, the words would read as "never open"; dropped, they would be lost.
        for path, text in foreign_notes:
            reader.problem(
                path,
                text,
                "a schedule row with words but no times cannot be read as opening hours: give freq WEEKLY, byday, "
                "opens_at and closes_at, or put the words in the notes of a row that has them",
            )
    elif foreign_notes:
        drafts[next(iter(foreign.values()))].data.setdefault("notes_said", []).extend(t for _, t in foreign_notes)
    for draft in drafts.values():
        if said := draft.data.pop("notes_said", None):
            draft.data["notes"] = "; ".join(dict.fromkeys(said))
    return [draft.data for draft in drafts.values()]


def _weekly_sessions(reader: _Reader, row: dict[str, Any], path: str) -> list[dict[str, str]]:
    freq = reader.text(row, "freq", path)
    byday = reader.text(row, "byday", path)
    opens, closes = _timestr(reader, row, "opens_at", path), _timestr(reader, row, "closes_at", path)
    if opens is None and closes is None:
        return []  # a row of free text only: nothing structured to read
    if freq is not None and freq.upper() != "WEEKLY":
        reader.problem(f"{path}.freq", freq, "only WEEKLY schedules are supported")
        return []
    # Read as "every week" these would show a service open in weeks it is not: refused, never guessed.
    interval = row.get("interval")
    if interval not in (None, "", 1, "1"):
        reader.problem(f"{path}.interval", interval, "only every-week schedules are supported (interval 1)")
        return []
    for limit in ("count", "byweekno", "bymonthday", "byyearday"):
        if row.get(limit) not in (None, "", []):
            reader.problem(f"{path}.{limit}", row[limit], f"schedules limited by {limit} are not supported")
            return []
    if not byday:
        reader.problem(f"{path}.byday", byday, "a weekly schedule row needs byday (MO,TU,...)")
        return []
    if opens is None or closes is None:
        reader.problem(path, None, "a schedule row needs both opens_at and closes_at")
        return []
    sessions = []
    for written in byday.split(","):
        code = written.strip().upper()
        if code not in _BYDAY:
            reader.problem(f"{path}.byday", byday, f"{code!r} is not a day code MO..SU")
            return []
        sessions.append({"day": _DAYS[_BYDAY.index(code)], "opens_at": opens, "closes_at": closes})
    return sessions


def _phone_data(reader: _Reader, path: str, item: dict[str, Any], *, belongs: str = "") -> dict[str, Any] | None:
    """`belongs`: whose number it is when not the whole service's ('At Northfield Community Centre')."""
    number = reader.text(item, "number", path)
    kind = (reader.text(item, "type", path) or "voice").strip().lower()
    kind = {"cell": "voice", "mobile": "voice", "sms": "text"}.get(kind, kind)
    if kind in {"fax", "pager"}:
        return None  # no use to a person in crisis
    if kind not in PhoneType.__members__:
        reader.problem(f"{path}.type", kind, f"phone type must be one of {', '.join(PhoneType)}")
        return None
    display = next(
        (a.value for a in _attributes(reader, item, path) if a.term.uri.endswith(":field:phone_display")), None
    )
    extension = _extension(reader, path, item)
    # Without it the tel: link rings the switchboard, not the crisis desk: the display carries it (' x2'). A number
    # that does not read is refused when the record is checked, naming it.
    with contextlib.suppress(PhoneError):
        if extension is not None:
            shown = display if display is not None else normalise_phone(number or "").display
            written = re.search(r" x(\d+)$", shown)
            if written is not None and written.group(1) != extension:
                reader.problem(f"{path}.extension", item["extension"], f"the number reads {shown!r}: another extension")
                return None
            display = shown if written is not None else f"{shown} x{extension}"
    data: dict[str, Any] = {"number": number, "type": kind}
    if display is not None:
        data["display"] = display
    description = reader.text(item, "description", path)
    if belongs or description:
        data["description"] = ": ".join(part for part in (belongs, description) if part)
    return data


def _extension(reader: _Reader, path: str, item: dict[str, Any]) -> str | None:
    value = item.get("extension")
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value == int(value):
        written = str(int(value))
    else:
        written = value.strip() if isinstance(value, str) else ""
    if not re.fullmatch(r"\d{1,8}", written):
        reader.problem(f"{path}.extension", value, "an extension must be digits")
        return None
    return written


def _contact_phones(reader: _Reader, path: str, container: dict[str, Any], *, at: str = "") -> list[dict[str, Any]]:
    """The phones of each of HSDS `contacts`, each described as whose it is ('Contact: Duty worker')."""
    found = []
    for contact_path, contact in reader.items(container.get("contacts"), f"{path}.contacts" if path else "contacts"):
        who = ", ".join(
            text for key in ("name", "title", "department") if (text := reader.text(contact, key, contact_path))
        )
        belongs = " ".join(part for part in (at, f"Contact: {who}" if who else "Contact") if part)
        for phone_path, item in reader.items(contact.get("phones"), f"{contact_path}.phones"):
            if (phone := _phone_data(reader, phone_path, item, belongs=belongs)) is not None:
                found.append(phone)
    return found


def _phone_key(phone: dict[str, Any]) -> tuple[str, str, str | None]:
    try:
        number = normalise_phone(phone["number"]).number
    except (PhoneError, TypeError):
        number = str(phone["number"])
    return number, phone["type"], phone.get("display")


def _location_data(
    reader: _Reader, path: str, link: dict[str, Any], accessibility: list[str]
) -> tuple[dict[str, Any] | None, str | None]:
    location = reader.obj(link.get("location"), f"{path}.location")
    if location is None:
        reader.problem(path, None, "service_at_location has no location object")
        return None, None
    path = f"{path}.location"
    location_type = reader.text(location, "location_type", path)
    if location_type is not None and location_type != "physical":
        return None, None  # a virtual or postal location is not a place to go
    identifier = reader.text(location, "external_identifier", path)
    if reader.text(location, "external_identifier_type", path) != IDENTIFIER_SCHEME:
        identifier = reader.text(location, "id", path)
    location_id = _slug(identifier)
    data: dict[str, Any] = {
        "id": location_id,
        "name": reader.text(location, "name", path) or "",
        "description": reader.text(location, "description", path) or "",
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
    }
    addresses = reader.items(location.get("addresses"), f"{path}.addresses")
    physical = [(p, a) for p, a in addresses if a.get("address_type") in (None, "physical")]
    if not physical:
        reader.problem(f"{path}.addresses", None, "location has no physical address")
    else:
        address_path, address = physical[0]
        lines = [reader.text(address, key, address_path) for key in ("address_1", "address_2")]
        data["address"] = ", ".join(line for line in lines if line)
        data["city"] = reader.text(address, "city", address_path) or ""
        data["postcode"] = reader.text(address, "postal_code", address_path)
    for attribute in _attributes(reader, location, path):
        if attribute.term.uri.endswith(":field:district_code"):
            data["district_code"] = attribute.value
    for access_path, item in reader.items(location.get("accessibility"), f"{path}.accessibility"):
        if description := (reader.text(item, "description", access_path) or "").strip():
            accessibility.append(description)
    return data, location_id


def _site_accessibility(access: dict[str, Any], sites: list[tuple[dict[str, Any], list[str]]]) -> None:
    """Accessibility is the service's here, an HSDS location's its own: a feature is the service's only where every
    site lists it (one ground-floor site made a first-floor one with no lift "wheelchair accessible"). What a site
    says beyond that stays in its description, so nothing it says is lost or given to the others."""
    # Another publisher's descriptions count as a feature only when they are exactly one of our labels.
    labels = {label.lower(): feature.value for feature, label in ACCESS_LABELS.items()}
    listed = [{labels[text.lower()] for text in texts if text.lower() in labels} for _, texts in sites]
    for feature in set.intersection(*listed) if listed else set():
        access["accessibility"].setdefault(feature, True)
    for location, texts in sites:
        own = [text.rstrip(".") for text in texts if access["accessibility"].get(labels.get(text.lower())) is not True]
        if own:
            said = f"Accessibility at this site: {'; '.join(dict.fromkeys(own))}."
            location["description"] = f"{location['description']} {said}".strip()


def _joined_areas(reader: _Reader, path: str, first: Any, second: Any) -> Any:
    # Two drawn areas are one catchment covering both; keeping only the last left the people of the first out.
    polygons = []
    for shape in (first, second):
        kind = shape.get("type") if isinstance(shape, dict) else None
        if kind == "Polygon":
            polygons.append(shape.get("coordinates"))
        elif kind == "MultiPolygon" and isinstance(shape.get("coordinates"), list):
            polygons.extend(shape["coordinates"])
        else:
            reader.problem(f"{path}.extent", shape, "extent must be a GeoJSON Polygon or MultiPolygon")
            return first
    return {"type": "MultiPolygon", "coordinates": polygons}


_NO_SITE = "<no site named>"
# What links a schedule row to its service or site, and not what hours it gives: one row listed on the service
# names its service_at_location, and the same row nested under that service_at_location need not.
_SCHEDULE_LINKS = frozenset({"service_id", "service_at_location_id", "location_id"})


def _once_each(rows: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """One service's or one site's schedule rows, each HSDS row (the same `id`, the same hours) once. HSDS lets a row
    listed on the service name its service_at_location, and a publisher may nest the same row under that
    service_at_location too: read twice, its sessions overlapped themselves and the whole record was refused. Rows
    with one id that give different hours are all read, as rows with different ids are: dropping one would be a
    guess at which is the publisher's, and any that overlap are refused."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for path, row in rows:
        row_id = row.get("id")
        if isinstance(row_id, str) and row_id.strip():
            key = (row_id.strip(), json.dumps(_hours_given(row), sort_keys=True, default=str))
            if key in seen:
                continue
            seen.add(key)
        kept.append((path, row))
    return kept


def _hours_given(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in _SCHEDULE_LINKS and value is not None}


def _site_named(reader: _Reader, path: str, row: dict[str, Any], sites: dict[str, str | None]) -> str | None:
    """Our id of the location a schedule row names by `service_at_location_id` or `location_id`; _NO_SITE when it
    names none, None (after a problem) when what it names is not one of the service's places to go."""
    found: list[str | None] = []
    for key in ("service_at_location_id", "location_id"):
        ref = reader.text(row, key, path)
        if ref is None or not ref.strip():
            continue
        if ref.strip().lower() not in sites:
            reader.problem(f"{path}.{key}", ref, "names no service_at_location or location listed for this service")
            return None
        if (site := sites[ref.strip().lower()]) is None:
            reader.problem(f"{path}.{key}", ref, "names a location that is not a place to go: its hours cannot be held")
            return None
        found.append(site)
    if len(set(found)) > 1:
        reader.problem(path, None, "service_at_location_id and location_id name different locations")
        return None
    return found[0] if found else _NO_SITE


def _kind_from_mhsds(container: dict[str, Any]) -> str | None:
    # A publisher classifying by NHS MHSDS team type (e.g. code A21 in a taxonomy named for MHSDS).
    codes = {info.mhsds_team_type: kind for kind, info in KINDS.items() if info.mhsds_team_type}
    items = container.get("attributes")
    for item in items if isinstance(items, list) else []:
        term = item.get("taxonomy_term") if isinstance(item, dict) else None
        if not isinstance(term, dict):
            continue
        taxonomy = term.get("taxonomy")
        detail = term.get("taxonomy_detail")
        names = [taxonomy, detail.get("name") if isinstance(detail, dict) else None]
        code = term.get("code")
        if any(isinstance(n, str) and "mhsds" in n.lower() for n in names) and isinstance(code, str) and code in codes:
            return codes[code].value
    return None


def _parse_service(index: int, service: Any) -> Parsed:
    if not isinstance(service, dict):
        where = f"record {index}"
        return Parsed(where, None, [Problem(where, "", describe_value(service), "expected an HSDS service object")])
    raw_id = service.get("id")
    reader = _Reader(f"record {index} (id {raw_id!r})" if isinstance(raw_id, str) else f"record {index}")
    attributes = _attributes(reader, service, "")
    fields: dict[FieldTerm, str | None] = {}
    for attribute in attributes:
        if attribute.term.taxonomy == "field":
            fields.setdefault(FieldTerm(attribute.term.value), attribute.value)
    service_id = _slug(fields.get(FieldTerm.service_id) or reader.text(service, "id", ""))
    if service_id is None:
        reader.problem("id", raw_id, "service has no usable id")

    organisation = reader.obj(service.get("organization"), "organization")
    organisation_data: dict[str, Any] | None = None
    if organisation is None:
        reader.problem("organization", None, "service has no organization object")
    else:
        org_id: str | None = None
        for path, item in reader.items(
            organisation.get("organization_identifiers"), "organization.organization_identifiers"
        ):
            if item.get("identifier_scheme") == IDENTIFIER_SCHEME:
                org_id = reader.text(item, "identifier", path)
        org_name = reader.text(organisation, "name", "organization")
        organisation_data = {
            "id": _slug(org_id or reader.text(organisation, "id", "organization")) or _slug(org_name),
            "name": org_name,
            "description": reader.text(organisation, "description", "organization") or "",
        }
        for ours, theirs in (("url", "website"), ("email", "email")):
            if value := reader.text(organisation, theirs, "organization"):
                organisation_data[ours] = value

    kind: str | None = None
    needs: list[str] = []
    genders: list[str] = []
    modes: list[str] = []
    routes: list[tuple[str, bool | None]] = []
    eligibility: dict[str, Any] = {}
    access: dict[str, Any] = {"accessibility": {}}
    catchment_type: str | None = None
    for attribute in attributes:
        taxonomy, value = attribute.term.taxonomy, attribute.term.value
        if taxonomy == "kind":
            kind = kind or value
        elif taxonomy == "need":
            needs.append(value)
        elif taxonomy == "gender":
            genders.append(value)
        elif taxonomy == "contact-mode":
            modes.append(value)
        elif taxonomy == "cost":
            access["cost"] = value
        elif taxonomy == "referral-route":
            routes.append((value, _tri_state(reader, attribute)))
        elif taxonomy == "eligibility":
            eligibility[value] = _tri_state(reader, attribute, absent=None)
        elif taxonomy == "access-feature":
            access["accessibility"][value] = _tri_state(reader, attribute)
    if kind is None:
        kind = _kind_from_mhsds(service)
    if kind is None:
        reader.problem("attributes", None, f"no {PREFIX}:kind taxonomy term says what kind of service this is")
    if routes:
        eligibility["referral_routes"] = [route for route, accepted in routes if accepted]
    eligibility["genders"] = genders
    for key in ("minimum_age", "maximum_age"):
        eligibility[key] = reader.number(service, key, "")
    eligibility["description"] = reader.text(service, "eligibility_description", "") or ""

    districts: list[str] = []
    geojson: Any = None
    england = False
    for path, area in reader.items(service.get("service_areas"), "service_areas"):
        for attribute in _attributes(reader, area, path):
            if attribute.term.taxonomy == "catchment":
                catchment_type = catchment_type or attribute.term.value
        uri = reader.text(area, "uri", path) or ""
        name = (reader.text(area, "name", path) or "").strip()
        from_uri = _ONS_URI.fullmatch(uri.strip())
        code = (from_uri.group(1) if from_uri else name).upper()
        extent = reader.text(area, "extent", path)
        if code == ENGLAND_CODE or name.lower() == "england":
            england = True
        elif re.fullmatch(r"E0[6-9]\d{6}", code):
            districts.append(code)
        elif extent and (reader.text(area, "extent_type", path) or "").lower() == "geojson":
            try:
                loaded = load_json(extent)
            except ValueError:
                loaded = None
            if loaded is None or nested_deeper_than(loaded, MAX_GEOJSON_DEPTH):
                reader.problem(f"{path}.extent", extent, "extent is not valid GeoJSON")
            else:
                geojson = loaded if geojson is None else _joined_areas(reader, path, geojson, loaded)
        else:
            # Kept without it, the catchment would be the other areas only, and the people of this one left out.
            county = "; it is a county: list its districts" if re.fullmatch(r"E10\d{6}", code) else ""
            reader.problem(
                path,
                {key: area[key] for key in ("name", "uri", "extent_type") if key in area},
                "an area must be England, a local-authority district (its ONS code, E06 to E09, in uri or name) or "
                f"a GeoJSON extent{county}",
            )
    found_kinds = [kind for kind, found in (("districts", districts), ("polygon", geojson is not None)) if found]
    if catchment_type is None and not england and len(found_kinds) > 1:
        reader.problem(
            "service_areas", None, "areas mix districts and drawn extents: the catchment must be one or the other"
        )
    if catchment_type is None and (england or districts or geojson is not None):
        catchment_type = "england" if england else "districts" if districts else "polygon"
    if catchment_type is not None:
        eligibility["catchment"] = {"type": catchment_type, "districts": districts, "geojson": geojson}

    access["contact_modes"] = modes
    languages = []
    for path, item in reader.items(service.get("languages"), "languages"):
        if language := reader.text(item, "code", path):
            languages.append(language.strip().lower())
        elif named := reader.text(item, "name", path):
            # Names are written many ways (Panjabi, Punjabi): a code is what search matches, so none is guessed.
            reader.problem(
                f"{path}.name",
                named,
                "a language needs its code (ISO 639-1 or ISO 639-3, e.g. 'pl', 'syl'), not only a name",
            )
    access["languages"] = languages
    access["fees_description"] = reader.text(service, "fees_description", "") or ""
    if (wait := fields.get(FieldTerm.typical_wait_days)) is not None:
        access["typical_wait_days"] = wait

    verified_at: str | None = fields.get(FieldTerm.verified_at)
    if verified_at is None and (assured := _date(reader, service, "assured_date", "")) is not None:
        # Checked some time that day: the start of it is the conservative reading for staleness.
        verified_at = datetime.combine(date.fromisoformat(assured), time(0), UTC).isoformat()
    provenance = {
        "source_name": fields.get(FieldTerm.source_name) or FALLBACK_SOURCE,
        "source_url": fields.get(FieldTerm.source_url),
        "verified_at": verified_at,
        "verify_due": fields.get(FieldTerm.verify_due),
    }

    status_text = reader.text(service, "status", "")
    status = _STATUS_FROM_HSDS.get((status_text or "active").strip().lower())
    if status is None:
        reader.problem("status", status_text, f"status must be one of {', '.join(_STATUS_FROM_HSDS)}")

    phones = [
        phone
        for path, item in reader.items(service.get("phones"), "phones")
        if (phone := _phone_data(reader, path, item)) is not None
    ]
    site_phones = _contact_phones(reader, "", service)
    locations = []
    # HSDS ids of each service_at_location and its location -> our location id (None: not a place to go).
    sites: dict[str, str | None] = {}
    site_rows: dict[str | None, list[tuple[str, dict[str, Any]]]] = {}
    site_access: list[tuple[dict[str, Any], list[str]]] = []
    virtual_rows: list[tuple[str, dict[str, Any]]] = []
    for path, link in reader.items(service.get("service_at_locations"), "service_at_locations"):
        accessibility: list[str] = []
        location, location_id = _location_data(reader, path, link, accessibility)
        inner: dict[str, Any] = link["location"] if isinstance(link.get("location"), dict) else {}
        for ref in (link.get("id"), link.get("location_id"), inner.get("id")):
            if isinstance(ref, str) and ref.strip():
                sites.setdefault(ref.strip().lower(), location_id if location is not None else None)
        if location is None:
            if inner.get("location_type") == "virtual":
                # Reached by phone or online, not a place to go: its numbers and hours are the service's ways in
                # (a crisis line published as a virtual location kept neither, and read as "hours not recorded").
                for phone_path, item in [
                    *reader.items(link.get("phones"), f"{path}.phones"),
                    *reader.items(inner.get("phones"), f"{path}.location.phones"),
                ]:
                    if (phone := _phone_data(reader, phone_path, item)) is not None:
                        site_phones.append(phone)
                virtual_rows += reader.items(link.get("schedules"), f"{path}.schedules")
            continue
        locations.append(location)
        site_access.append((location, accessibility))
        at = f"At {location['name'] or location.get('address') or 'this location'}"
        for phone_path, item in [
            *reader.items(link.get("phones"), f"{path}.phones"),
            *reader.items(inner.get("phones"), f"{path}.location.phones"),
        ]:
            if (phone := _phone_data(reader, phone_path, item, belongs=at)) is not None:
                site_phones.append(phone)
        site_phones += _contact_phones(reader, path, link, at=f"{at}.")
        site_phones += _contact_phones(reader, f"{path}.location", inner, at=f"{at}.")
        site_rows[location_id] = reader.items(link.get("schedules"), f"{path}.schedules")
        # HSDS: a location's schedules are the building's hours; the service's there are the service_at_location's
        # (or the service's). Added to those they showed a Tuesday-evening café in a 9-to-5 hub open on Wednesday
        # morning; used alone they would show it open whenever the building is. The directory holds no building
        # hours, so they are refused rather than read as the service's or dropped unsaid.
        if building := reader.items(inner.get("schedules"), f"{path}.location.schedules"):
            reader.problem(
                f"{path}.location.schedules",
                None,
                f"{len(building)} schedule row(s) give the building's hours, not the service's, and the directory "
                "cannot hold them: give the service's hours at this location on the service_at_location (or the "
                "service) and leave the location's schedules out",
            )
    for site, rows in site_rows.items():
        for path, row in rows:
            if (named := _site_named(reader, path, row, sites)) not in (_NO_SITE, site, None):
                reader.problem(path, None, "a schedule row on one service_at_location names another location")
    _site_accessibility(access, site_access)
    # A site's or a contact's number the service already lists is the service's: listed once, as the service's.
    known = {_phone_key(phone) for phone in phones}
    for phone in site_phones:
        if (phone_key := _phone_key(phone)) not in known:
            known.add(phone_key)
            phones.append(phone)
    service_rows = list(virtual_rows)
    # HSDS lets a schedule listed on the service name the service_at_location (or location) it applies to: those
    # are that site's hours, not the whole service's.
    for path, row in reader.items(service.get("schedules"), "schedules"):
        named = _site_named(reader, path, row, sites)
        if named is _NO_SITE:
            service_rows.append((path, row))
        elif named in site_rows:
            site_rows[named].append((path, row))
    default_schedule = f"{(service_id or 'service')[:74].strip('-')}-hours"
    schedules = _read_schedules(reader, _once_each(service_rows), default_id=default_schedule, location_id=None)
    for location_id, rows in site_rows.items():
        # Named by service and location together, as the CSV format names them: schedule ids are keys across the
        # directory, and two services may each have their own hours at one shared location.
        default = csv_format.schedule_id(service_id or "service", location_id or "location")
        schedules += _read_schedules(reader, _once_each(rows), default_id=default, location_id=location_id)

    data: dict[str, Any] = {
        "id": service_id,
        "name": reader.text(service, "name", ""),
        "organisation": organisation_data,
        "description": reader.text(service, "description", "") or "",
        "url": reader.text(service, "url", "") or None,
        "email": reader.text(service, "email", "") or None,
        "status": status.value if status else None,
        "alert": reader.text(service, "alert", "") or "",
        "kind": kind,
        "needs": needs,
        "safety_net": fields.get(FieldTerm.safety_net) == "true",
        "eligibility": eligibility,
        "access": access,
        "locations": locations,
        "phones": phones,
        "schedules": schedules,
        "provenance": provenance,
    }
    where = f"record {index} (id {service_id!r})" if service_id else reader.where
    if reader.problems:
        return Parsed(where, None, [replace(problem, where=where) for problem in reader.problems])
    return validate_record(where, data)


def parse_hsds(data: Any) -> list[Parsed]:
    if isinstance(data, dict) and "contents" in data:
        data = data["contents"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        problem = Problem("file", "", describe_value(data), "expected an HSDS service, an array of them or a page")
        return [Parsed("file", None, [problem])]
    return [_parse_service(index, service) for index, service in enumerate(data, start=1)]
