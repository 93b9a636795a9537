"""HL7 FHIR R4 read and search for HealthcareService and Location, served from the live snapshot.

Errors here are FHIR OperationOutcome resources, not problem+json: a FHIR client reads only FHIR. Parameters
arrive as raw strings and are parsed in the route so that a bad one becomes an OperationOutcome too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from service_finder.api.deps import SnapshotDep
from service_finder.domain.taxonomy import KINDS, ServiceStatus
from service_finder.interop.fhir import (
    FHIR_JSON,
    KIND_SYSTEM,
    MHSDS_TEAM_TYPE_SYSTEM,
    fhir_id,
    healthcare_service,
    location,
    operation_outcome,
    searchset,
)
from service_finder.schemas import ENGLAND_BOUNDS
from service_finder.search.index import DirectoryIndex, haversine_km

router = APIRouter(prefix="/fhir", tags=["fhir"])

MAX_DISTANCE_KM = 200.0
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
    return FhirError(400, "invalid", f"search parameter {name} {value!r}: {why}", expression=name)


# A plain string: a malformed id is answered with a FHIR 404, never FastAPI's validation error.
ResourceId = Annotated[
    str, Path(description="The resource id (our identifier; one over 64 characters is shortened with a hash).")
]

_OUTCOME = {"description": "An OperationOutcome saying what was wrong", "content": {FHIR_JSON: {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {400: _OUTCOME, 404: _OUTCOME}


@dataclass(frozen=True, slots=True)
class Near:
    latitude: float
    longitude: float
    km: float


def _near(name: str, value: str) -> Near:
    # FHIR `near`: latitude|longitude|distance|units; units km (the default) or m.
    parts = value.split("|")
    if not 2 <= len(parts) <= 4:
        raise _invalid(name, value, "write latitude|longitude|distance|units, e.g. 53.80|-1.55|5|km")
    try:
        latitude, longitude = float(parts[0]), float(parts[1])
        distance = float(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_DISTANCE_KM
    except ValueError:
        raise _invalid(name, value, "latitude, longitude and distance must be numbers") from None
    units = parts[3].strip().lower() if len(parts) > 3 and parts[3] else "km"
    if units not in {"km", "m"}:
        raise _invalid(name, value, f"units {units!r} are not km or m")
    km = distance / 1000 if units == "m" else distance
    south, north, west, east = ENGLAND_BOUNDS
    if not (south <= latitude <= north and west <= longitude <= east):
        raise _invalid(name, value, f"coordinates ({latitude}, {longitude}) are outside England")
    if not 0 < km <= MAX_DISTANCE_KM:
        raise _invalid(name, value, f"distance must be more than 0 and at most {MAX_DISTANCE_KM:g} km")
    return Near(latitude, longitude, km)


def _count(value: str | None, offset: str | None) -> tuple[int, int]:
    try:
        count = int(value) if value is not None else DEFAULT_COUNT
    except ValueError:
        raise _invalid("_count", str(value), "must be a whole number") from None
    try:
        start = int(offset) if offset is not None else 0
    except ValueError:
        raise _invalid("_offset", str(offset), "must be a whole number") from None
    if not 0 <= count <= MAX_COUNT:
        raise _invalid("_count", str(value), f"must be 0 to {MAX_COUNT}")
    if start < 0:
        raise _invalid("_offset", str(offset), "must be 0 or more")
    return count, start


def _only_known(request: Request, known: set[str]) -> None:
    # A filter silently ignored would widen the answer; FHIR lets a server refuse what it does not support.
    for name in request.query_params:
        if name not in known:
            raise FhirError(400, "not-supported", f"search parameter {name!r} is not supported here", expression=name)


def _links(request: Request, *, count: int, offset: int, total: int) -> dict[str, str]:
    base = str(request.url.replace(query=""))
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in {"_count", "_offset"}]

    def url(start: int) -> str:
        return f"{base}?{urlencode([*params, ('_count', str(count)), ('_offset', str(start))])}"

    links = {"self": url(offset)}
    if count and offset + count < total:
        links["next"] = url(offset + count)
    return links


def _base_url(request: Request) -> str:
    return str(request.base_url) + "fhir/"


def _service_position(index: DirectoryIndex, resource_id: str) -> int | None:
    position = index.position.get(resource_id)
    if position is not None:
        return position
    return next((i for i, record in enumerate(index.services) if fhir_id(record.id) == resource_id), None)


def _location_positions(index: DirectoryIndex) -> dict[str, tuple[int, int]]:
    key = "fhir-locations"
    cached = index.memo.get(key)
    if isinstance(cached, dict):
        return cached
    positions: dict[str, tuple[int, int]] = {}
    for i, record in enumerate(index.services):
        for j, place in enumerate(record.locations):
            positions[place.id] = positions[fhir_id(place.id)] = (i, j)
    index.memo[key] = positions
    return positions


def _matches_type(codes: set[tuple[str, str]], token: str) -> bool:
    # FHIR token search: `code` matches in any system, `system|code` only in that system.
    if "|" in token:
        system, _, code = token.rpartition("|")
        return (system, code) in codes
    return any(code == token for _, code in codes)


@router.get(
    "/HealthcareService/{resource_id}",
    operation_id="fhir-healthcare-service-read",
    summary="One service as a FHIR R4 HealthcareService",
    response_class=FhirResponse,
    responses=_ERRORS,
)
def read_healthcare_service(snapshot: SnapshotDep, resource_id: ResourceId) -> FhirResponse:
    index = snapshot.index
    position = _service_position(index, resource_id)
    if position is None:
        return FhirError(404, "not-found", f"HealthcareService {resource_id!r} is not in the directory").response()
    resource = healthcare_service(index.services[position], last_modified=index.last_modified[position])
    return FhirResponse(resource)


@router.get(
    "/HealthcareService",
    operation_id="fhir-healthcare-service-search",
    summary="Search services: a FHIR R4 searchset Bundle of HealthcareService",
    response_class=FhirResponse,
    responses=_ERRORS,
)
def search_healthcare_services(
    request: Request,
    snapshot: SnapshotDep,
    service_type: Annotated[
        str | None,
        Query(
            alias="service-type",
            description="Kind code (ours, e.g. crisis_cafe, or an MHSDS team type, e.g. A21), optionally "
            "system|code; comma-separated for any of several.",
        ),
    ] = None,
    active: Annotated[str | None, Query(description="true: only active services; false: only the others.")] = None,
    location_near: Annotated[
        str | None,
        Query(alias="location.near", description="latitude|longitude|distance|units (km or m); nearest first."),
    ] = None,
    count: Annotated[str | None, Query(alias="_count", description=f"Page size, at most {MAX_COUNT}.")] = None,
    offset: Annotated[str | None, Query(alias="_offset", description="Entries to skip, for paging.")] = None,
) -> FhirResponse:
    index = snapshot.index
    try:
        _only_known(request, {"service-type", "active", "location.near", "_count", "_offset", "_format"})
        page_size, start = _count(count, offset)
        if active is not None and active not in {"true", "false"}:
            raise _invalid("active", active, "must be true or false")
        near = _near("location.near", location_near) if location_near is not None else None
        tokens = [token.strip() for token in (service_type or "").split(",") if token.strip()]
        if near is not None:
            services, _, _ = index.near(near.latitude, near.longitude, near.km)
            order = [int(i) for i in services.tolist()]
        else:
            order = list(range(len(index)))
        found = []
        for i in order:
            record = index.services[i]
            info = KINDS[record.kind]
            codes = {(KIND_SYSTEM, record.kind.value)}
            if info.mhsds_team_type is not None:
                codes.add((MHSDS_TEAM_TYPE_SYSTEM, info.mhsds_team_type))
            if tokens and not any(_matches_type(codes, token) for token in tokens):
                continue
            if active is not None and (record.status is ServiceStatus.active) != (active == "true"):
                continue
            found.append(i)
    except FhirError as error:
        return error.response()
    resources = [
        healthcare_service(index.services[i], last_modified=index.last_modified[i])
        for i in found[start : start + page_size]
    ]
    links = _links(request, count=page_size, offset=start, total=len(found))
    return FhirResponse(searchset(resources, total=len(found), base_url=_base_url(request), links=links))


@router.get(
    "/Location/{resource_id}",
    operation_id="fhir-location-read",
    summary="One place where a service is delivered, as a FHIR R4 Location",
    response_class=FhirResponse,
    responses=_ERRORS,
)
def read_location(snapshot: SnapshotDep, resource_id: ResourceId) -> FhirResponse:
    index = snapshot.index
    found = _location_positions(index).get(resource_id)
    if found is None:
        return FhirError(404, "not-found", f"Location {resource_id!r} is not in the directory").response()
    i, j = found
    record = index.services[i]
    return FhirResponse(location(record, record.locations[j], last_modified=index.last_modified[i]))


@router.get(
    "/Location",
    operation_id="fhir-location-search",
    summary="Search places: a FHIR R4 searchset Bundle of Location, nearest first with near",
    response_class=FhirResponse,
    responses=_ERRORS,
)
def search_locations(
    request: Request,
    snapshot: SnapshotDep,
    near: Annotated[
        str | None, Query(description="latitude|longitude|distance|units (km or m); nearest first.")
    ] = None,
    count: Annotated[str | None, Query(alias="_count", description=f"Page size, at most {MAX_COUNT}.")] = None,
    offset: Annotated[str | None, Query(alias="_offset", description="Entries to skip, for paging.")] = None,
) -> FhirResponse:
    index = snapshot.index
    try:
        _only_known(request, {"near", "_count", "_offset", "_format"})
        page_size, start = _count(count, offset)
        where = _near("near", near) if near is not None else None
    except FhirError as error:
        return error.response()
    if where is None:
        pairs = [(i, j) for i, record in enumerate(index.services) for j in range(len(record.locations))]
    else:
        pairs = _locations_near(index, where)
    resources = [
        location(index.services[i], index.services[i].locations[j], last_modified=index.last_modified[i])
        for i, j in pairs[start : start + page_size]
    ]
    links = _links(request, count=page_size, offset=start, total=len(pairs))
    return FhirResponse(searchset(resources, total=len(pairs), base_url=_base_url(request), links=links))


def _locations_near(index: DirectoryIndex, near: Near) -> list[tuple[int, int]]:
    # Every location within the distance (index.near keeps only each service's nearest), nearest first.
    distance = haversine_km(near.latitude, near.longitude, index.entry_lat, index.entry_lon)
    rows = np.flatnonzero(distance <= near.km)
    rows = rows[np.argsort(distance[rows], kind="stable")]
    return [(int(index.entry_service[r]), int(index.entry_location[r])) for r in rows.tolist()]
