"""Directory services as an RFC 7946 GeoJSON FeatureCollection: one Point Feature per location.

Coordinates are [longitude, latitude] (WGS84), as RFC 7946 requires; services with no location (phone, text and
online services) have no place on a map and are left out, and so are the offices of services with no door (a
phone line's base, not open to visitors: `has_door`): the map is of places to go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from service_finder.domain.provenance import is_stale
from service_finder.domain.taxonomy import KINDS, PhoneType, ServiceKind, ServiceStatus
from service_finder.interop.selection import pairs_of, placed_units, records_at, unit_coordinates
from service_finder.schemas import LocationRecord, ServiceRecord
from service_finder.search.index import KIND_CODES, DirectoryIndex, has_door

GEOJSON = "application/geo+json"


class PointGeometry(BaseModel):
    """A GeoJSON Point."""

    type: Literal["Point"] = Field(default="Point", description="Always 'Point'.")
    coordinates: tuple[float, float] = Field(description="[longitude, latitude], WGS84 (RFC 7946 order).")


class PhoneNumber(BaseModel):
    """A number and what it takes: a textphone or text-only number rung as a voice line does not answer."""

    display: str = Field(description="The number as people read it.")
    type: PhoneType = Field(description="voice, text, textphone or whatsapp.")


class ServiceProperties(BaseModel):
    """What a map shows about a service at one place."""

    id: str = Field(description="The service's identifier (GET /v1/services/{id} for the full record).")
    location_id: str = Field(description="The location's identifier.")
    name: str = Field(description="Name of the service.")
    kind: ServiceKind = Field(description="What kind of service this is.")
    kind_label: str = Field(description="The kind in words.")
    demo: bool = Field(description="Demonstration data, not a real service: always show this label.")
    status: ServiceStatus = Field(description="active, inactive, temporarily_closed or defunct.")
    phones: list[str] = Field(description="Phone numbers as people read them (their types: phone_numbers).")
    phone_numbers: list[PhoneNumber] = Field(description="The same numbers, in the same order, each with its type.")
    url: str | None = Field(description="Website of the service.")
    address: str = Field(description="Place name and street address, town.")
    postcode: str = Field(description="Postcode of the location.")
    verified_at: datetime | None = Field(description="When a person last checked the record (UTC); None: never.")
    stale: bool = Field(
        description="Never verified, or past its review date: do not present it (or its numbers) as verified."
    )


class ServiceFeature(BaseModel):
    """A GeoJSON Feature: one service at one location."""

    type: Literal["Feature"] = Field(default="Feature", description="Always 'Feature'.")
    id: str = Field(
        description="'<service id>/<location id>', unique in the collection: services may share a location "
        "(properties.location_id)."
    )
    geometry: PointGeometry = Field(description="Where the service is delivered.")
    properties: ServiceProperties = Field(description="What is there.")


class ServiceFeatureCollection(BaseModel):
    """An RFC 7946 GeoJSON FeatureCollection of services."""

    type: Literal["FeatureCollection"] = Field(default="FeatureCollection", description="Always 'FeatureCollection'.")
    features: list[ServiceFeature] = Field(
        description="One Point per location of each service people can go to: a phone line's office, not open to "
        "visitors, is left out."
    )
    # A foreign member (RFC 7946 6.1): GeoJSON readers that do not know it pass over it.
    stale_index: bool = Field(
        default=False,
        description="True when the server answered from its last index while it could not read its store (or "
        "build the store's newest version): the map may be out of date. Also the X-Index-Stale header.",
    )


# Four numbers in decimal notation, ranges included, so the OpenAPI document states everything the route checks.
_LONGITUDE = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"
_LATITUDE = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"
BBOX_PATTERN = f"^{_LONGITUDE},{_LATITUDE},{_LONGITUDE},{_LATITUDE}$"


@dataclass(frozen=True, slots=True)
class BBox:
    west: float
    south: float
    east: float
    north: float

    def contains(self, place: LocationRecord) -> bool:
        if not self.south <= place.latitude <= self.north:
            return False
        if self.west <= self.east:
            return self.west <= place.longitude <= self.east
        # RFC 7946 5.2 (and OGC API Features): a west edge east of the east edge is a box across the antimeridian.
        return place.longitude >= self.west or place.longitude <= self.east


def parse_bbox(text: str) -> BBox:
    """'west,south,east,north' (RFC 7946 order, WGS84); ValueError naming the value when it is not that."""
    if re.fullmatch(BBOX_PATTERN, text) is None:
        raise ValueError(
            f"bbox {text!r} is not minLon,minLat,maxLon,maxLat: four decimal numbers, longitudes -180 to 180 "
            "and latitudes -90 to 90"
        )
    west, first, east, second = (float(part) for part in text.split(","))
    # Two parallels bound one band whichever is written first; longitudes cannot be reordered (antimeridian).
    return BBox(west=west, south=min(first, second), east=east, north=max(first, second))


def _address(place: LocationRecord) -> str:
    return ", ".join(part for part in (place.name, place.address, place.city) if part)


def _feature(record: ServiceRecord, place: LocationRecord, today: date) -> ServiceFeature:
    return ServiceFeature(
        # Two services at one place are two Features: the id needs both (neither id can hold a '/').
        id=f"{record.id}/{place.id}",
        geometry=PointGeometry(coordinates=(place.longitude, place.latitude)),
        properties=ServiceProperties(
            id=record.id,
            location_id=place.id,
            name=record.name,
            kind=record.kind,
            kind_label=KINDS[record.kind].label,
            demo=record.is_demo,
            status=record.status,
            phones=[phone.display or phone.number for phone in record.phones],
            phone_numbers=[
                PhoneNumber(display=phone.display or phone.number, type=phone.type) for phone in record.phones
            ],
            url=record.url,
            address=_address(place),
            postcode=place.postcode,
            verified_at=record.provenance.verified_at,
            stale=is_stale(record.provenance.verified_at, record.provenance.verify_due, today),
        ),
    )


def feature_collection(
    records: Iterable[ServiceRecord],
    *,
    today: date,
    kind: ServiceKind | None = None,
    bbox: BBox | None = None,
    stale_index: bool = False,
) -> ServiceFeatureCollection:
    features = [
        _feature(record, place, today)
        for record in records
        if (kind is None or record.kind is kind) and has_door(record)
        for place in record.locations
        if bbox is None or bbox.contains(place)
    ]
    return ServiceFeatureCollection(features=features, stale_index=stale_index)


def index_feature_collection(
    index: DirectoryIndex,
    *,
    today: date,
    kind: ServiceKind | None = None,
    bbox: BBox | None = None,
    stale_index: bool = False,
) -> ServiceFeatureCollection:
    """feature_collection of the directory, its places chosen by the index's columns: a packed directory's records
    are decoded for the services on the map alone (a box over one town reads that town's)."""
    units = placed_units(index)
    # Every location of a service with a door is a site of it (its place in the grid); no_premises: no door.
    chosen = ~index.no_premises[index.unit_service[units]]
    if kind is not None:
        chosen &= index.kind[index.unit_service[units]] == KIND_CODES[kind]
    units = units[chosen]
    if bbox is not None:
        latitude, longitude = unit_coordinates(index, units)
        inside = (bbox.south <= latitude) & (latitude <= bbox.north)
        if bbox.west <= bbox.east:
            inside &= (bbox.west <= longitude) & (longitude <= bbox.east)
        else:  # across the antimeridian, as BBox.contains
            inside &= (longitude >= bbox.west) | (longitude <= bbox.east)
        units = units[inside]
    pairs = pairs_of(index, units)  # in service order, each one's places in its order
    # Each service's record read once, for its places together, and not kept after them.
    records = records_at(index, np.unique(pairs[:, 0]).tolist())
    features: list[ServiceFeature] = []
    record, current = None, -1
    for i, j in pairs.tolist():
        if record is None or i != current:
            record, current = next(records), i
        features.append(_feature(record, record.locations[j], today))
    return ServiceFeatureCollection(features=features, stale_index=stale_index)
