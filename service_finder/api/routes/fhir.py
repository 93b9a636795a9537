"""HL7 FHIR R4 read and search for HealthcareService and Location, served from the live snapshot.

Errors here are FHIR OperationOutcome resources, not problem+json: a FHIR client reads only FHIR. Parameters
arrive as raw strings and are parsed in the route so that a bad one becomes an OperationOutcome too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from service_finder.api.deps import (
    EngineDep,
    SnapshotDep,
    TodayDep,
    public_base,
    removal_named,
    removal_of,
    removed_words,
    utc_text,
)
from service_finder.api.docs import OUTCOME_SCHEMA, fhir_resource_schema
from service_finder.api.routes.staleness import IndexRoute, NoteStaleness, with_stale_header
from service_finder.domain.taxonomy import KINDS, ServiceKind
from service_finder.errors import quoted
from service_finder.interop import examples
from service_finder.interop.fhir import (
    FHIR_JSON,
    KIND_SYSTEM,
    MHSDS_TEAM_TYPE_SYSTEM,
    capability_statement,
    fhir_id,
    healthcare_service,
    location,
    operation_outcome,
    searchset,
    shortened_from,
    with_index_stale,
)
from service_finder.interop.selection import location_units, locations_in_order, pairs_of
from service_finder.schemas import BLANK_CHARACTERS
from service_finder.search.index import KIND_CODES, DirectoryIndex, ids_starting_with
from service_finder.storage import repository

DEFAULT_DISTANCE_KM = 25.0
DEFAULT_COUNT = 50
MAX_COUNT = 500


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class FhirError(Exception):
    def __init__(self, status: int, code: str, diagnostics: str, expression: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics, self.expression = status, code, diagnostics, expression

    def response(self) -> FhirResponse:
        return FhirResponse(
            operation_outcome(self.code, self.diagnostics, expression=self.expression), status_code=self.status
        )


def _invalid(name: str, value: str, why: str) -> FhirError:
    return FhirError(400, "invalid", f"search parameter {name} {quoted(value)}: {why}", expression=name)


class FhirRoute(IndexRoute):
    """A request FastAPI itself cannot read is answered with an OperationOutcome too, never a problem document.
    Every answer says whether the index may be stale (IndexRoute).

    Every parameter here is a plain string read by the route, so this is the framework's last word only."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_as_fhir(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                name = ".".join(str(part) for part in first.get("loc", ())[1:])
                diagnostics = f"{name} {quoted(first.get('input'))}: {first.get('msg', 'cannot be read')}"
                return FhirError(422, "invalid", diagnostics, expression=name or None).response()

        return handle_as_fhir


router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FhirRoute, dependencies=[NoteStaleness])

# A plain string: a malformed id is answered with a FHIR 404, never FastAPI's validation error.
ResourceId = Annotated[
    str, Path(description="The resource id (our identifier; one over 64 characters is shortened with a hash).")
]

# The grammar of each search parameter, shown in the OpenAPI document as its pattern and checked in the route with
# the same expression, so a client can know from the document what is accepted; a value outside it is a 400
# OperationOutcome. A filter given with no value is refused as any unusable value is: ignored, it widened the answer
# to everything (`service-type=` from a client's unset variable listed every service as the type asked for). The
# paging parameters and `mode` still take the empty value as left out: that widens nothing.
# `near` is held to a box of whole degrees around England (the directory's reach): enough to stop swapped or
# zeroed coordinates, and simple enough for a pattern to state.
_LATITUDE = r"(?:(?:49|5[0-5])(?:\.[0-9]+)?|56(?:\.0+)?)"
_LONGITUDE = r"(?:-(?:[0-6](?:\.[0-9]+)?|7(?:\.0+)?)|[01](?:\.[0-9]+)?|2(?:\.0+)?)"
_KILOMETRES = r"(?:0\.[0-9]*[1-9][0-9]*|[1-9][0-9]?(?:\.[0-9]+)?|1[0-9]{2}(?:\.[0-9]+)?|200(?:\.0+)?)"
_METRES = r"(?:0\.[0-9]*[1-9][0-9]*|[1-9][0-9]{0,4}(?:\.[0-9]+)?|1[0-9]{5}(?:\.[0-9]+)?|200000(?:\.0+)?)"
NEAR_PATTERN = rf"^({_LATITUDE})\|({_LONGITUDE})(?:\|({_KILOMETRES})?(?:\|(?:km)?)?|\|({_METRES})\|m)?$"
COUNT_PATTERN = r"^(?:[0-9]{1,2}|[1-4][0-9]{2}|500)?$"
OFFSET_PATTERN = r"^[0-9]{0,9}$"
ACTIVE_PATTERN = r"^(?:true|false)$"
# Holds a code: a character that is neither blank nor the comma between codes (unanchored, as JSON Schema reads it).
SERVICE_TYPE_PATTERN = f"[^,{BLANK_CHARACTERS}]"
NO_VALUE = "has no value: give one, or leave the parameter out for no filter"
_NEAR_RULE = (
    "write latitude|longitude|distance|units, e.g. 53.80|-1.55|5|km: latitude 49 to 56 and longitude -7 to 2 "
    f"(England), distance more than 0 and at most 200 km (200000 m; {DEFAULT_DISTANCE_KM:g} km when left out), "
    "units km or m"
)


def _read(name: str, value: str | None, pattern: str, why: str) -> re.Match[str] | None:
    if not value:
        return None
    found = re.fullmatch(pattern, value)
    if found is None:
        raise _invalid(name, value, why)
    return found


def _filter(name: str, value: str | None, pattern: str, why: str) -> re.Match[str] | None:
    """A filter's value read as _read does; None when it is left out, refused when it is given empty."""
    if value is not None and not value.strip():
        raise _invalid(name, value, NO_VALUE)
    return _read(name, value, pattern, why)


def _service_types(value: str | None) -> list[str]:
    """The codes asked for, comma-separated; none when left out. Given with no code (``, `,`), it is refused."""
    if value is None:
        return []
    codes = [code.strip() for code in value.split(",") if code.strip()]
    if not codes:
        raise _invalid("service-type", value, NO_VALUE)
    return codes


@dataclass(frozen=True, slots=True)
class Near:
    latitude: float
    longitude: float
    km: float


def _near(name: str, value: str | None) -> Near | None:
    found = _filter(name, value, NEAR_PATTERN, _NEAR_RULE)
    if found is None:
        return None
    latitude, longitude, kilometres, metres = found.groups()
    km = float(metres) / 1000 if metres else float(kilometres) if kilometres else DEFAULT_DISTANCE_KM
    return Near(float(latitude), float(longitude), km)


def _count(value: str | None, offset: str | None) -> tuple[int, int]:
    count = _read("_count", value, COUNT_PATTERN, f"must be a whole number from 0 to {MAX_COUNT}")
    start = _read("_offset", offset, OFFSET_PATTERN, "must be a whole number, 0 or more (at most 9 digits)")
    return (int(count.group()) if count else DEFAULT_COUNT), (int(start.group()) if start else 0)


def _pattern(pattern: str) -> dict[str, Any]:
    # In the document only: the route checks it, so that a value outside it is an OperationOutcome.
    return {"pattern": pattern}


_WHY = {
    400: "A search parameter this server does not support, or a value it cannot use: the OperationOutcome says which.",
    404: "No resource with that id: an OperationOutcome.",
    410: "The service was removed from the directory (code `deleted`): drop any copy of it. An OperationOutcome.",
    406: "A `_format` other than JSON: this server writes FHIR JSON only. An OperationOutcome.",
    422: "A request the framework could not read at all (not expected: every parameter is read as text here).",
}


def _responses(
    example: dict[str, Any], outcomes: dict[int, dict[str, Any]], *, why: dict[int, str] | None = None
) -> dict[int | str, Any]:
    """`why` replaces _WHY's description of a status, for this route alone."""
    described = {**_WHY, **(why or {})}
    kind = str(example["resourceType"])
    success: dict[str, Any] = {
        "description": f"A FHIR R4 {kind}" + (" (searchset)." if kind == "Bundle" else "."),
        "content": {FHIR_JSON: {"schema": fhir_resource_schema(kind), "example": example}},
    }
    errors: dict[int | str, Any] = {
        status: {
            "description": described[status],
            "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA, "example": outcome}},
        }
        for status, outcome in outcomes.items()
    }
    # A 404 from a stale index may be a resource added since: it carries X-Index-Stale too.
    return with_stale_header({200: success, **errors}, *((200, 404) if 404 in errors else (200,)))


# A Location is the place of the services delivered there: with every one of them removed, it is gone too.
_LOCATION_GONE = (
    "Every service delivered at this place was removed from the directory (code `deleted`): drop any copy of it. "
    "An OperationOutcome."
)
_EXAMPLE_REMOVAL = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def _location_gone(resource_id: str, removed: datetime) -> str:
    return (
        f"Location {quoted(resource_id)} is no longer in the directory: every service delivered there was removed, "
        f"the last at {utc_text(removed)}; drop any copy of it"
    )


def _unreadable(name: str) -> dict[str, Any]:
    return operation_outcome("invalid", f"{name} 'x': cannot be read", expression=name)


_NEAR_QUERY: dict[str, Any] = {
    "description": f"latitude|longitude|distance|units (km or m; {DEFAULT_DISTANCE_KM:g} km when left out), "
    "in England, at most 200 km; nearest first.",
    "examples": ["53.80|-1.55|5|km"],
    "json_schema_extra": _pattern(NEAR_PATTERN),
}
_COUNT_QUERY: dict[str, Any] = {
    "description": f"Page size, 0 to {MAX_COUNT} ({DEFAULT_COUNT} when left out).",
    "json_schema_extra": _pattern(COUNT_PATTERN),
}
_OFFSET_QUERY: dict[str, Any] = {
    "description": "Entries to skip, for paging (0 when left out).",
    "json_schema_extra": _pattern(OFFSET_PATTERN),
}
_FORMAT_ERROR = operation_outcome(
    "not-supported", "_format 'xml': this server answers in FHIR JSON only (json)", expression="_format"
)
_READ_ERRORS = {
    400: operation_outcome("invalid", "search parameter _format is given 2 times ('json', 'json'): give it once"),
    404: operation_outcome("not-found", "HealthcareService 'nobody' is not in the directory"),
    406: _FORMAT_ERROR,
    422: _unreadable("resource_id"),
}
_SEARCH_ERRORS = {
    400: operation_outcome(
        "invalid", "search parameter _count 'lots': must be a whole number from 0 to 500", expression="_count"
    ),
    406: _FORMAT_ERROR,
    422: _unreadable("_count"),
}


# What `_format` may name: this server writes FHIR JSON only.
FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})


def _only_known(request: Request, known: set[str]) -> None:
    # A filter silently ignored would widen the answer; FHIR lets a server refuse what it does not support.
    given: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name not in known:
            raise FhirError(
                400, "not-supported", f"search parameter {quoted(name)} is not supported here", expression=name
            )
        given.setdefault(name, []).append(value)
    for name, values in given.items():
        # FHIR reads a repeat as "and"; taking one of them silently (as a plain reader would) answers another
        # question. Every parameter here takes one value (several codes go in one, comma-separated).
        if len(values) > 1:
            listed = quoted(values)
            raise FhirError(
                400, "invalid", f"search parameter {name} is given {len(values)} times ({listed}): give it once", name
            )
    wanted = request.query_params.get("_format")
    # A `+` sent unescaped is decoded as a space (form encoding): "application/fhir json" asked for FHIR JSON.
    if wanted and wanted.replace(" ", "+") not in FORMATS:
        raise FhirError(
            406, "not-supported", f"_format {quoted(wanted)}: this server answers in FHIR JSON only (json)", "_format"
        )


def _links(request: Request, *, count: int, offset: int, total: int) -> dict[str, str]:
    base = public_base(request) + request.url.path
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in {"_count", "_offset"}]

    def url(start: int) -> str:
        return f"{base}?{urlencode([*params, ('_count', str(count)), ('_offset', str(start))])}"

    links = {"self": url(offset)}
    if count and offset + count < total:
        links["next"] = url(offset + count)
    return links


def _base_url(request: Request) -> str:
    return public_base(request) + "/fhir/"


def _type_codes(kind: ServiceKind) -> set[tuple[str, str]]:
    """The codings a service of this kind is typed with: ours, and the MHSDS team type where there is one."""
    codes = {(KIND_SYSTEM, kind.value)}
    if (team := KINDS[kind].mhsds_team_type) is not None:
        codes.add((MHSDS_TEAM_TYPE_SYSTEM, team))
    return codes


def _service_position(index: DirectoryIndex, resource_id: str) -> int | None:
    position = index.position.get(resource_id)
    if position is not None:
        return position
    # A FHIR id shortened from a long one: only ids with the start it keeps can be it (a range of the sorted ids in
    # a packed directory, never a scan of a million on every unknown id).
    if (kept := shortened_from(resource_id)) is None:
        return None
    return next((i for service, i in ids_starting_with(index.position, kept) if fhir_id(service) == resource_id), None)


def _service_removal(store: Engine, resource_id: str) -> datetime | None:
    """When the service read was removed: by our id, or by the FHIR id shortened from a long one."""
    removed = removal_of(store, resource_id)
    if removed is None and (kept := shortened_from(resource_id)) is not None:
        named = removal_named(store, resource_id, fhir_id, id_prefix=kept)
        removed = named[1] if named is not None else None
    return removed


def _location_removal(store: Engine, resource_id: str) -> datetime | None:
    """When the last service delivered at the place read was removed, if every one linked to it was (by our id, or
    by the FHIR id shortened from a long one); None when one is in the directory, or the store cannot say."""
    try:
        with Session(store) as session:
            ours = [resource_id]
            if (kept := shortened_from(resource_id)) is not None:
                ours += [i for i in repository.location_ids(session, id_prefix=kept) if fhir_id(i) == resource_id]
            return next(filter(None, (repository.location_removed_at(session, i) for i in ours)), None)
    except SQLAlchemyError:
        return None


def _location_users(index: DirectoryIndex, resource_id: str) -> list[tuple[int, int]] | None:
    """Every (service position, location position) delivered at the location with this id (ours, or its FHIR
    form), in directory order; None when no service is delivered there. A location id may be shared by several
    services; the Location is built from all of them."""
    code = index.location_ids.get(resource_id)
    if code is None and (kept := shortened_from(resource_id)) is not None:
        # As _service_position: the ids with the start a shortened id keeps, a range of the sorted ids.
        shortened = (at for place, at in ids_starting_with(index.location_ids, kept) if fhir_id(place) == resource_id)
        code = next(shortened, None)
    if code is None:
        return None
    return _pairs(index, location_units(index)[code])


def _pairs(index: DirectoryIndex, units: npt.NDArray[np.int32]) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in pairs_of(index, units).tolist()]


def _location(index: DirectoryIndex, users: list[tuple[int, int]], today: date) -> dict[str, Any]:
    modified = [m for m in (index.last_modified[i] for i, _ in users) if m is not None]
    return location(
        [(index.services[i], index.services[i].locations[j]) for i, j in users],
        today=today,
        last_modified=max(modified) if modified else None,
    )


def _matches_type(codes: set[tuple[str, str]], token: str) -> bool:
    # FHIR token search: `code` matches in any system, `system|code` only in that system, `system|` any code in it.
    if "|" in token:
        system, _, code = token.rpartition("|")
        return any(s == system and code in {c, ""} for s, c in codes)
    return any(code == token for _, code in codes)


MODE_PATTERN = r"^(?:full|normative|terminology)?$"


def _mode(value: str | None) -> None:
    # The statement answered for a mode it is not would be taken as that mode's answer.
    why = "must be full, normative or terminology (this server answers full only)"
    if _read("mode", value, MODE_PATTERN, why) and value != "full":
        raise FhirError(400, "not-supported", f"mode {quoted(value)}: this server answers mode=full only", "mode")


@router.get(
    "/metadata",
    operation_id="fhir-capabilities",
    summary="What this FHIR server does: a CapabilityStatement",
    response_class=FhirResponse,
    responses=_responses(
        examples.fhir_capability_statement_example(),
        {400: _READ_ERRORS[400], 406: _FORMAT_ERROR, 422: _unreadable("mode")},
    ),
)
def capabilities(
    request: Request,
    mode: Annotated[
        str | None,
        Query(
            description="full (the default) only: normative and terminology are refused as not supported.",
            # The contract names only what is answered: FHIR's other modes are refused (not-supported) at run time.
            json_schema_extra=_pattern(r"^(?:full)?$"),
        ),
    ] = None,
) -> FhirResponse:
    try:
        _only_known(request, {"_format", "mode"})
        _mode(mode)
    except FhirError as error:
        return error.response()
    return FhirResponse(capability_statement(_base_url(request)))


@router.get(
    "/HealthcareService/{resource_id}",
    operation_id="fhir-healthcare-service-read",
    summary="One service as a FHIR R4 HealthcareService",
    response_class=FhirResponse,
    responses=_responses(
        examples.fhir_healthcare_service_example(),
        {
            **_READ_ERRORS,
            410: operation_outcome(
                "deleted",
                "HealthcareService 'bolton-crisis-house' was removed from the directory at 2026-11-20T10:15:00Z: "
                "drop any copy of it",
            ),
        },
    ),
)
def read_healthcare_service(
    request: Request, snapshot: SnapshotDep, store: EngineDep, today: TodayDep, resource_id: ResourceId
) -> FhirResponse:
    index = snapshot.index
    try:
        _only_known(request, {"_format"})
    except FhirError as error:
        return error.response()
    position = _service_position(index, resource_id)
    if position is None:
        removed = _service_removal(store, resource_id)
        if removed is not None:  # FHIR's read: a resource the server knows was deleted is 410, not 404
            return FhirError(
                410,
                "deleted",
                removed_words(f"HealthcareService {quoted(resource_id)}", removed),
            ).response()
        return FhirError(
            404, "not-found", f"HealthcareService {quoted(resource_id)} is not in the directory"
        ).response()
    resource = healthcare_service(index.services[position], today=today, last_modified=index.last_modified[position])
    return FhirResponse(with_index_stale(resource) if snapshot.stale else resource)


@router.get(
    "/HealthcareService",
    operation_id="fhir-healthcare-service-search",
    summary="Search services: a FHIR R4 searchset Bundle of HealthcareService",
    response_class=FhirResponse,
    responses=_responses(examples.fhir_healthcare_service_bundle_example(), _SEARCH_ERRORS),
)
def search_healthcare_services(
    request: Request,
    snapshot: SnapshotDep,
    today: TodayDep,
    service_type: Annotated[
        str | None,
        Query(
            alias="service-type",
            description="Kind code (ours, e.g. crisis_cafe, or an MHSDS team type, e.g. A21), optionally "
            "system|code (system| for any code in that system); comma-separated for any of several.",
            json_schema_extra=_pattern(SERVICE_TYPE_PATTERN),
        ),
    ] = None,
    active: Annotated[
        str | None,
        Query(
            description="true: only active services; false: only the others.",
            json_schema_extra=_pattern(ACTIVE_PATTERN),
        ),
    ] = None,
    location_near: Annotated[str | None, Query(alias="location.near", **_NEAR_QUERY)] = None,
    count: Annotated[str | None, Query(alias="_count", **_COUNT_QUERY)] = None,
    offset: Annotated[str | None, Query(alias="_offset", **_OFFSET_QUERY)] = None,
) -> FhirResponse:
    index = snapshot.index
    try:
        _only_known(request, {"service-type", "active", "location.near", "_count", "_offset", "_format"})
        page_size, start = _count(count, offset)
        wanted = _filter("active", active, ACTIVE_PATTERN, "must be true or false")
        near = _near("location.near", location_near)
        tokens = _service_types(service_type)
        if near is not None:
            units, _ = index.near(near.latitude, near.longitude, near.km)
            # Each service once, at the distance of its nearest site.
            order = list(dict.fromkeys(int(i) for i in index.unit_service[units].tolist()))
        else:
            order = list(range(len(index)))
        # Kind and status from the index's columns: a packed directory's records are decoded for the page alone.
        kind_wanted = [
            not tokens or any(_matches_type(_type_codes(kind), token) for token in tokens) for kind in KIND_CODES
        ]
        only_active = None if wanted is None else wanted.group() == "true"
        found = [
            i
            for i in order
            if kind_wanted[int(index.kind[i])] and (only_active is None or bool(index.active[i]) == only_active)
        ]
    except FhirError as error:
        return error.response()
    resources = [
        healthcare_service(index.services[i], today=today, last_modified=index.last_modified[i])
        for i in found[start : start + page_size]
    ]
    links = _links(request, count=page_size, offset=start, total=len(found))
    bundle = searchset(
        resources, total=len(found), base_url=_base_url(request), links=links, stale_index=snapshot.stale
    )
    return FhirResponse(bundle)


@router.get(
    "/Location/{resource_id}",
    operation_id="fhir-location-read",
    summary="One place where a service is delivered, as a FHIR R4 Location",
    response_class=FhirResponse,
    responses=_responses(
        examples.fhir_location_example(),
        {
            **_READ_ERRORS,
            404: operation_outcome("not-found", "Location 'nowhere' is not in the directory"),
            410: operation_outcome("deleted", _location_gone("bolton-crisis-house-site", _EXAMPLE_REMOVAL)),
        },
        why={410: _LOCATION_GONE},
    ),
)
def read_location(
    request: Request, snapshot: SnapshotDep, store: EngineDep, today: TodayDep, resource_id: ResourceId
) -> FhirResponse:
    index = snapshot.index
    try:
        _only_known(request, {"_format"})
    except FhirError as error:
        return error.response()
    users = _location_users(index, resource_id)
    if users is None:
        removed = _location_removal(store, resource_id)
        if removed is not None:  # as for a HealthcareService: a place the server knows is gone is 410, not 404
            return FhirError(410, "deleted", _location_gone(resource_id, removed)).response()
        return FhirError(404, "not-found", f"Location {quoted(resource_id)} is not in the directory").response()
    resource = _location(index, users, today)
    return FhirResponse(with_index_stale(resource) if snapshot.stale else resource)


@router.get(
    "/Location",
    operation_id="fhir-location-search",
    summary="Search places: a FHIR R4 searchset Bundle of Location, nearest first with near",
    response_class=FhirResponse,
    responses=_responses(examples.fhir_location_bundle_example(), _SEARCH_ERRORS),
)
def search_locations(
    request: Request,
    snapshot: SnapshotDep,
    today: TodayDep,
    near: Annotated[str | None, Query(**_NEAR_QUERY)] = None,
    count: Annotated[str | None, Query(alias="_count", **_COUNT_QUERY)] = None,
    offset: Annotated[str | None, Query(alias="_offset", **_OFFSET_QUERY)] = None,
) -> FhirResponse:
    index = snapshot.index
    try:
        _only_known(request, {"near", "_count", "_offset", "_format"})
        page_size, start = _count(count, offset)
        where = _near("near", near)
    except FhirError as error:
        return error.response()
    # Locations by the index's codes of their ids: the records of the page's alone are read.
    codes = locations_in_order(index) if where is None else _locations_near(index, where)
    users = location_units(index)
    page = codes[start : start + page_size].tolist()
    resources = [_location(index, _pairs(index, users[code]), today) for code in page]
    total = len(codes)
    links = _links(request, count=page_size, offset=start, total=total)
    bundle = searchset(resources, total=total, base_url=_base_url(request), links=links, stale_index=snapshot.stale)
    return FhirResponse(bundle)


def _locations_near(index: DirectoryIndex, near: Near) -> npt.NDArray[np.int32]:
    # Every place within the distance, nearest first, once each (a place shared by services is one Location).
    units, _ = index.near(near.latitude, near.longitude, near.km)
    codes = index.location_code[units]
    _, first = np.unique(codes, return_index=True)
    nearest: npt.NDArray[np.int32] = codes[np.sort(first)]
    return nearest
