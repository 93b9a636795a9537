"""The CSV template: one row per service at a location (data/templates/README.md documents every column).

Rows sharing a `service_id` are one service with several locations, and must agree on every service column.
Multi-valued cells use `;`; tri-state cells are `yes`, `no` or empty (unknown). Hours are OpenStreetMap
`opening_hours` strings: `hours` for the whole service, `location_hours` for the row's location.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from pydantic import ValidationError

from service_finder.domain.hours_formats import osm_misreading, parse_osm, to_osm
from service_finder.domain.phones import PhoneError, normalise_phone
from service_finder.domain.taxonomy import AccessFeature, PhoneType
from service_finder.importers.report import (
    MAX_GEOJSON_DEPTH,
    Parsed,
    Problem,
    describe_value,
    load_json,
    nested_deeper_than,
    problems_from_validation,
    validate_record,
)
from service_finder.schemas import ScheduleRecord, ServiceRecord

REQUIRED = ("service_id", "name", "organisation_id", "organisation_name", "kind", "source_name")
ACCESS_COLUMNS = {f"access_{feature.value}": feature for feature in AccessFeature}
SERVICE_COLUMNS = (
    "service_id",
    "name",
    "organisation_id",
    "organisation_name",
    "organisation_description",
    "organisation_url",
    "organisation_email",
    "description",
    "url",
    "email",
    "status",
    "alert",
    "kind",
    "needs",
    "safety_net",
    "minimum_age",
    "maximum_age",
    "genders",
    "catchment_type",
    "catchment_districts",
    "catchment_geojson",
    "gp_registration_required",
    "referral_routes",
    "accepts_intoxicated",
    "accepts_substance_use",
    "eligibility_description",
    "contact_modes",
    *ACCESS_COLUMNS,
    "languages",
    "cost",
    "fees_description",
    "typical_wait_days",
    "phones",
    "hours",
    "source_name",
    "source_url",
    "verified_at",
    "verify_due",
)
LOCATION_COLUMNS = (
    "location_id",
    "location_name",
    "address",
    "city",
    "postcode",
    "latitude",
    "longitude",
    "district_code",
    "location_description",
    "location_hours",
)
COLUMNS = (*SERVICE_COLUMNS, *LOCATION_COLUMNS)
NO_ROUTES = "none"  # referral_routes: known, and none of them (empty means unknown)
_MAX_DIGITS = 9

# Record paths (as pydantic names them) -> the column a person would fix.
_COLUMN_OF = {
    "id": "service_id",
    "organisation.id": "organisation_id",
    "organisation.name": "organisation_name",
    "organisation.description": "organisation_description",
    "organisation.url": "organisation_url",
    "organisation.email": "organisation_email",
    "eligibility.catchment.type": "catchment_type",
    "eligibility.catchment.districts": "catchment_districts",
    "eligibility.catchment.geojson": "catchment_geojson",
    "eligibility.catchment": "catchment_type",
    "eligibility.description": "eligibility_description",
    "access.accessibility": "access",
    "provenance": "source_name",
    "provenance.source_url": "source_url",
    "provenance.verified_at": "verified_at",
    "provenance.verify_due": "verify_due",
    "phones": "phones",
    "locations.name": "location_name",
    "locations.id": "location_id",
    "locations.description": "location_description",
    "locations": "location_id",
}


# A spreadsheet reads a cell starting with one of these as a formula and runs it when the export is opened: a
# publisher's name `=HYPERLINK("https://…/?"&A2, "Urgent help")` would send a neighbouring cell away, `@…|cmd` start
# a program (OWASP "CSV injection"). A leading apostrophe tells every spreadsheet "this is text", and is not shown.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _read_as_formula(cell: str) -> bool:
    """Whether a spreadsheet would run this cell, or it is such a cell already written as text (`'=…`: kept apart
    so that a text that really starts with an apostrophe comes back as written). A number (-1.55) is no formula."""
    rest = cell.lstrip("'")
    return rest.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(rest)


def as_text_cell(cell: str) -> str:
    """A cell as `to_csv` writes it: one that a spreadsheet would run as a formula, made text."""
    return "'" + cell if _read_as_formula(cell) else cell


def from_text_cell(cell: str) -> str:
    """A cell as `as_text_cell` wrote it (or a spreadsheet saved it), read back as the text it holds."""
    return cell[1:] if cell.startswith("'") and _read_as_formula(cell[1:]) else cell


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


class _Row:
    def __init__(self, number: int, cells: dict[str, str]) -> None:
        self.where = f"row {number}"
        self.cells = cells
        self.problems: list[Problem] = []

    def get(self, column: str) -> str:
        return self.cells.get(column, "")

    def problem(self, column: str, message: str) -> None:
        value = self.get(column)
        self.problems.append(Problem(self.where, column, describe_value(value) if value else "", message))

    def tri_state(self, column: str) -> bool | None:
        value = self.get(column).lower()
        if value in {"yes", "no"}:
            return value == "yes"
        if value:
            self.problem(column, "expected yes, no or empty (unknown)")
        return None

    def integer(self, column: str) -> int | None:
        value = self.get(column)
        if not value:
            return None
        if not re.fullmatch(r"\d+", value):
            self.problem(column, "expected a whole number")
            return None
        # Ages and waits in days need a few digits; int() refuses more than 4,300 (CPython's guard), so a long run of
        # digits is named here rather than raised.
        if len(value) > _MAX_DIGITS:
            self.problem(column, f"expected a whole number of at most {_MAX_DIGITS} digits")
            return None
        return int(value)

    def decimal(self, column: str) -> float | None:
        value = self.get(column)
        try:
            return float(value) if value else None
        except ValueError:
            self.problem(column, "expected a decimal number")
            return None

    def optional(self, column: str) -> str | None:
        return self.get(column) or None

    def schedule(self, column: str, schedule_id: str, location_id: str | None) -> dict[str, Any] | None:
        value = self.get(column)
        if not value:
            return None
        try:
            schedule = ScheduleRecord.from_domain(id=schedule_id, location_id=location_id, schedule=parse_osm(value))
        except ValidationError as error:
            # A bad id here is the service's or the location's (the schedule's is made from them): the record's own
            # validation names it in its own column, so it is not blamed on the hours.
            self.problems.extend(
                replace(p, field=column, value=describe_value(value))
                for p in problems_from_validation(self.where, error)
                if p.field not in {"id", "location_id"}
            )
            return None
        except ValueError as error:
            self.problem(column, str(error))
            return None
        return schedule.model_dump(mode="json")

    def phones(self) -> list[dict[str, Any]]:
        phones = []
        for entry in _split(self.get("phones")):
            kind, _, rest = entry.partition(":")
            if rest and kind.strip().lower() in PhoneType.__members__:
                phones.append({"type": kind.strip().lower(), "number": rest.strip()})
            elif rest:
                self.problem("phones", f"phone type {kind.strip()!r} is not one of {', '.join(PhoneType)}")
            else:
                phones.append({"type": PhoneType.voice.value, "number": entry})
        return phones


def _service(row: _Row) -> dict[str, Any]:
    get, optional = row.get, row.optional
    catchment: dict[str, Any] | None = None
    if catchment_type := get("catchment_type"):
        catchment = {"type": catchment_type, "districts": _split(get("catchment_districts"))}
        if geojson_text := get("catchment_geojson"):
            try:
                geojson = load_json(geojson_text)
            except ValueError:
                geojson = None
            if geojson is None or nested_deeper_than(geojson, MAX_GEOJSON_DEPTH):
                row.problem("catchment_geojson", "expected a GeoJSON Polygon or MultiPolygon written as JSON")
            else:
                catchment["geojson"] = geojson
    elif get("catchment_districts") or get("catchment_geojson"):
        row.problem("catchment_type", "catchment_type is needed with catchment_districts or catchment_geojson")
    routes_cell = get("referral_routes")
    routes: list[str] | None = None
    if routes_cell.lower() == NO_ROUTES:
        routes = []
    elif routes_cell:
        routes = _split(routes_cell)
    accessibility = {}
    for column, feature in ACCESS_COLUMNS.items():
        if (available := row.tri_state(column)) is not None:
            accessibility[feature.value] = available
    safety_net = row.tri_state("safety_net")
    service_id = get("service_id")
    return {
        "id": service_id,
        "name": get("name"),
        "organisation": {
            "id": get("organisation_id"),
            "name": get("organisation_name"),
            "description": get("organisation_description"),
            "url": optional("organisation_url"),
            "email": optional("organisation_email"),
        },
        "description": get("description"),
        "url": optional("url"),
        "email": optional("email"),
        "status": get("status") or "active",
        "alert": get("alert"),
        "kind": get("kind"),
        "needs": _split(get("needs")),
        "safety_net": bool(safety_net),
        "eligibility": {
            "minimum_age": row.integer("minimum_age"),
            "maximum_age": row.integer("maximum_age"),
            "genders": _split(get("genders")),
            "catchment": catchment,
            "gp_registration_required": row.tri_state("gp_registration_required"),
            "referral_routes": routes,
            "accepts_intoxicated": row.tri_state("accepts_intoxicated"),
            "accepts_substance_use": row.tri_state("accepts_substance_use"),
            "description": get("eligibility_description"),
        },
        "access": {
            "contact_modes": _split(get("contact_modes")),
            "accessibility": accessibility,
            "languages": [code.lower() for code in _split(get("languages"))],
            "cost": optional("cost"),
            "fees_description": get("fees_description"),
            "typical_wait_days": row.integer("typical_wait_days"),
        },
        "phones": row.phones(),
        "locations": [],
        "schedules": [s for s in [row.schedule("hours", schedule_id(service_id), None)] if s],
        "provenance": {
            "source_name": get("source_name"),
            "source_url": optional("source_url"),
            "verified_at": optional("verified_at"),
            "verify_due": optional("verify_due"),
        },
    }


def _location(row: _Row) -> tuple[dict[str, Any], dict[str, Any] | None]:
    location_id = row.get("location_id")
    location = {
        "id": location_id,
        "name": row.get("location_name"),
        "address": row.get("address"),
        "city": row.get("city"),
        "postcode": row.get("postcode"),
        "latitude": row.decimal("latitude"),
        "longitude": row.decimal("longitude"),
        "district_code": row.optional("district_code"),
        "description": row.get("location_description"),
    }
    return location, row.schedule("location_hours", schedule_id(row.get("service_id"), location_id), location_id)


def schedule_id(service_id: str, location_id: str | None = None) -> str:
    """The id a CSV row's hours get: schedule ids are keys across the whole directory, so a site's hours are named
    by service and site together (`<service>--<site>-hours`): named by site alone, site 'leeds-cafe' of one
    service and service 'leeds-cafe' would both have 'leeds-cafe-hours'. Over 80 characters, a digest keeps it
    unique."""
    name = f"{service_id}-hours" if location_id is None else f"{service_id}--{location_id}-hours"
    if len(name) <= 80:
        return name
    return f"{name[:61].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:12]}-hours"


def _column_for(path: str) -> str:
    parts = path.split(".")
    if parts[0] == "locations" and len(parts) > 2:
        key = f"locations.{parts[2]}"
        if key in _COLUMN_OF:
            return _COLUMN_OF[key]
        return parts[2]
    if parts[0] == "access" and len(parts) > 2 and parts[1] == "accessibility":
        return f"access_{parts[2]}"
    for size in range(len(parts), 0, -1):
        if (prefix := ".".join(parts[:size])) in _COLUMN_OF:
            return _COLUMN_OF[prefix]
    if parts[0] in {"eligibility", "access", "provenance"} and len(parts) > 1:
        return parts[1]
    return parts[0]


def _to_csv_terms(problem: Problem, rows: list[_Row]) -> Problem:
    # Name the row and column a person would edit, not the record path.
    parts = problem.field.split(".")
    where = problem.where
    located = parts[0] == "locations" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows)
    if located:
        where = rows[int(parts[1])].where
    if parts[0] == "schedules" and len(parts) > 1:
        return replace(problem, where=where, field="hours")
    if located and len(parts) == 2 and "coordinates" in problem.message:
        # The location's own check (outside England, e.g. swapped): its input is the whole location.
        row = rows[int(parts[1])]
        value = f"({row.get('latitude')}, {row.get('longitude')})"
        return replace(problem, where=where, field="latitude", value=value)
    return replace(problem, where=where, field=_column_for(problem.field))


def _parse_service(rows: list[_Row]) -> Parsed:
    first = rows[0]
    data = _service(first)
    problems: list[Problem] = []
    for row in rows[1:]:
        for column in SERVICE_COLUMNS:
            if row.get(column) != first.get(column):
                message = f"differs from {first.where} ({describe_value(first.get(column))}) for the same service_id"
                problems.append(Problem(row.where, column, describe_value(row.get(column)), message))
    located = [row for row in rows if any(row.get(column) for column in LOCATION_COLUMNS)]
    if located and len(located) != len(rows):
        for row in rows:
            if row not in located:
                problems.append(
                    Problem(row.where, "location_id", "", "a service with locations needs one on every row")
                )
    for row in located:
        location, schedule = _location(row)
        data["locations"].append(location)
        if schedule is not None:
            data["schedules"].append(schedule)
    problems = [problem for row in rows for problem in row.problems] + problems
    if problems:
        return Parsed(first.where, None, problems)
    parsed = validate_record(first.where, data)
    parsed.in_source_terms = partial(_to_csv_terms, rows=located)
    parsed.problems = [parsed.in_source_terms(problem) for problem in parsed.problems]
    return parsed


def parse_csv(text: str) -> list[Parsed]:
    # Strict: otherwise a quote left open reads every later row into one cell, and the file imports without them.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    table: list[list[str]] = []
    try:
        for cells in reader:
            table.append(cells)
    except csv.Error as error:
        where = f"row {len(table) + 1}"  # the row being read: rows count from the header, as below
        if str(error) == "unexpected end of data":
            message = 'a quote (") opened in this row is not closed: the rest of the file would be read as one cell'
        else:
            message = f"not readable as CSV: {error}"
        return [Parsed(where, None, [Problem(where, "", "", message)])]
    if not table or not any(cell.strip() for cell in table[0]):
        return [Parsed("row 1", None, [Problem("row 1", "", "", "the file has no header row")])]
    header = [cell.strip() for cell in table[0]]
    problems = [
        Problem("row 1", column, describe_value(column), "unknown column") for column in header if column not in COLUMNS
    ]
    problems += [
        Problem("row 1", column, "", "required column is missing") for column in REQUIRED if column not in header
    ]
    repeated = sorted({column for column in header if header.count(column) > 1})
    problems += [
        Problem("row 1", column, describe_value(column), "column appears more than once") for column in repeated
    ]
    if problems:
        return [Parsed("row 1", None, problems)]
    groups: dict[str, list[_Row]] = {}
    parsed: list[Parsed] = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, including the trailing ones spreadsheets write
        row = _Row(number, {column: from_text_cell(cell.strip()) for column, cell in zip(header, cells, strict=False)})
        if len(cells) > len(header):
            row.problems.append(
                Problem(row.where, "", "", f"{len(cells)} cells but the header has {len(header)} columns")
            )
        if not row.get("service_id"):
            parsed.append(Parsed(row.where, None, [Problem(row.where, "service_id", "", "service_id is empty")]))
            continue
        groups.setdefault(row.get("service_id"), []).append(row)
    parsed += [_parse_service(rows) for rows in groups.values()]
    return sorted(parsed, key=lambda item: int(item.where.split()[1]))


# --- export -------------------------------------------------------------------------------------------------


def _yes_no(value: bool | None) -> str:
    return "" if value is None else "yes" if value else "no"


def _phone_cell(record: ServiceRecord) -> str:
    entries = []
    for phone in record.phones:
        written = phone.display or phone.number
        entries.append(written if phone.type is PhoneType.voice else f"{phone.type.value}: {written}")
    return "; ".join(entries)


def csv_limitations(record: ServiceRecord) -> list[str]:
    """What `to_csv` cannot write for this record; empty when the CSV holds all of it."""
    found = []
    service_level = [s for s in record.schedules if s.location_id is None]
    if len(service_level) > 1:
        found.append(f"service {record.id!r} has {len(service_level)} service-wide schedules; the CSV holds one")
    for location in record.locations:
        count = sum(1 for s in record.schedules if s.location_id == location.id)
        if count > 1:
            found.append(f"location {location.id!r} has {count} schedules; the CSV holds one")
    for schedule in record.schedules:
        if schedule.valid_from or schedule.valid_to:
            # Dropped, the hours would read as always in force: open before they start or after they end.
            found.append(f"schedule {schedule.id!r} applies only between dates; the CSV cannot say so")
        if schedule.notes:
            found.append(f"schedule {schedule.id!r} has notes; the CSV has no column for them")
        if (misread := osm_misreading(schedule.to_domain())) is not None:
            found.append(
                f"schedule {schedule.id!r}: OpenStreetMap evaluators would read its hours cell otherwise ({misread})"
            )
        for exception in schedule.exceptions:
            if '"' in exception.reason:
                # The reason travels as an OpenStreetMap comment, which ends at the next '"': to_osm writes "'".
                found.append(
                    f"schedule {schedule.id!r}: reason {exception.reason!r} contains '\"', which the hours cell "
                    "cannot hold"
                )
    for phone in record.phones:
        if phone.description:
            found.append(f"phone {phone.display!r} has a description; the CSV has no column for it")
        try:
            if normalise_phone(phone.display).display != phone.display:
                found.append(f"phone display {phone.display!r} is not a number as written")
        except PhoneError:
            found.append(f"phone display {phone.display!r} is not a number as written")
    return found


def _schedule_cell(record: ServiceRecord, location_id: str | None) -> str:
    schedule = next((s for s in record.schedules if s.location_id == location_id), None)
    return to_osm(schedule.to_domain()) if schedule is not None else ""


def _rows(record: ServiceRecord) -> Iterable[dict[str, str]]:
    eligibility, access, provenance = record.eligibility, record.access, record.provenance
    catchment = eligibility.catchment
    routes = eligibility.referral_routes
    service = {
        "service_id": record.id,
        "name": record.name,
        "organisation_id": record.organisation.id,
        "organisation_name": record.organisation.name,
        "organisation_description": record.organisation.description,
        "organisation_url": record.organisation.url or "",
        "organisation_email": record.organisation.email or "",
        "description": record.description,
        "url": record.url or "",
        "email": record.email or "",
        "status": record.status.value,
        "alert": record.alert,
        "kind": record.kind.value,
        "needs": "; ".join(record.needs),
        "safety_net": "yes" if record.safety_net else "",
        "minimum_age": "" if eligibility.minimum_age is None else str(eligibility.minimum_age),
        "maximum_age": "" if eligibility.maximum_age is None else str(eligibility.maximum_age),
        "genders": "; ".join(eligibility.genders),
        "catchment_type": catchment.type.value if catchment else "",
        "catchment_districts": "; ".join(catchment.districts) if catchment else "",
        "catchment_geojson": json.dumps(catchment.geojson) if catchment and catchment.geojson is not None else "",
        "gp_registration_required": _yes_no(eligibility.gp_registration_required),
        "referral_routes": "" if routes is None else "; ".join(routes) if routes else NO_ROUTES,
        "accepts_intoxicated": _yes_no(eligibility.accepts_intoxicated),
        "accepts_substance_use": _yes_no(eligibility.accepts_substance_use),
        "eligibility_description": eligibility.description,
        "contact_modes": "; ".join(access.contact_modes),
        **{column: _yes_no(access.accessibility.get(feature)) for column, feature in ACCESS_COLUMNS.items()},
        "languages": "; ".join(access.languages),
        "cost": access.cost.value if access.cost else "",
        "fees_description": access.fees_description,
        "typical_wait_days": "" if access.typical_wait_days is None else str(access.typical_wait_days),
        "phones": _phone_cell(record),
        "hours": _schedule_cell(record, None),
        "source_name": provenance.source_name,
        "source_url": provenance.source_url or "",
        "verified_at": provenance.verified_at.isoformat() if provenance.verified_at else "",
        "verify_due": provenance.verify_due.isoformat() if provenance.verify_due else "",
    }
    if not record.locations:
        yield service
    for location in record.locations:
        yield {
            **service,
            "location_id": location.id,
            "location_name": location.name,
            "address": location.address,
            "city": location.city,
            "postcode": location.postcode,
            "latitude": repr(location.latitude),
            "longitude": repr(location.longitude),
            "district_code": location.district_code or "",
            "location_description": location.description,
            "location_hours": _schedule_cell(record, location.id),
        }


def to_csv(records: Iterable[ServiceRecord]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerows({column: as_text_cell(cell) for column, cell in row.items()} for row in _rows(record))
    return out.getvalue()
