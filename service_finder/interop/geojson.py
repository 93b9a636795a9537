"""Directory services as an RFC 7946 GeoJSON FeatureCollection: one Point Feature per location.

Coordinates are [longitude, latitude] (WGS84), as RFC 7946 requires; services with no location (phone, text and
online services) have no place on a map and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from service_finder.domain.taxonomy import KINDS, ServiceKind, ServiceStatus
from service_finder.schemas import LocationRecord, ServiceRecord

GEOJSON = "application/geo+json"


class PointGeometry(BaseModel):
    """A GeoJSON Point."""

    type: Literal["Point"] = Field(default="Point", description="Always 'Point'.")
    coordinates: tuple[float, float] = Field(description="[longitude, latitude], WGS84 (RFC 7946 order).")


class ServiceProperties(BaseModel):
    """What a map shows about a service at one place."""

    id: str = Field(description="The service's identifier (GET /v1/services/{id} for the full record).")
    location_id: str = Field(description="The location's identifier.")
    name: str = Field(description="Name of the service.")
    kind: ServiceKind = Field(description="What kind of service this is.")
    kind_label: str = Field(description="The kind in words.")
    demo: bool = Field(description="Demonstration data, not a real service: always show this label.")
    status: ServiceStatus = Field(description="active, inactive, temporarily_closed or defunct.")
    phones: list[str] = Field(description="Phone numbers as people read them.")
    url: str | None = Field(description="Website of the service.")
    address: str = Field(description="Place name and street address, town.")
    postcode: str = Field(description="Postcode of the location.")


class ServiceFeature(BaseModel):
    """A GeoJSON Feature: one service at one location."""

    type: Literal["Feature"] = Field(default="Feature", description="Always 'Feature'.")
    id: str = Field(description="The location's identifier (unique in the collection).")
    geometry: PointGeometry = Field(description="Where the service is delivered.")
    properties: ServiceProperties = Field(description="What is there.")


class ServiceFeatureCollection(BaseModel):
    """An RFC 7946 GeoJSON FeatureCollection of services."""

    type: Literal["FeatureCollection"] = Field(default="FeatureCollection", description="Always 'FeatureCollection'.")
    features: list[ServiceFeature] = Field(description="One Point per location of each service.")


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, place: LocationRecord) -> bool:
        return self.min_lon <= place.longitude <= self.max_lon and self.min_lat <= place.latitude <= self.max_lat


def parse_bbox(text: str) -> BBox:
    """'minLon,minLat,maxLon,maxLat' (RFC 7946 order); ValueError naming what is wrong."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"bbox {text!r} needs 4 numbers: minLon,minLat,maxLon,maxLat")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"bbox {text!r} needs 4 numbers: minLon,minLat,maxLon,maxLat") from None
    if not (-180 <= min_lon <= max_lon <= 180):
        raise ValueError(f"bbox {text!r}: longitudes must run west to east within -180..180")
    if not (-90 <= min_lat <= max_lat <= 90):
        raise ValueError(f"bbox {text!r}: latitudes must run south to north within -90..90")
    return BBox(min_lon, min_lat, max_lon, max_lat)


def _address(place: LocationRecord) -> str:
    return ", ".join(part for part in (place.name, place.address, place.city) if part)


def feature_collection(
    records: Iterable[ServiceRecord], *, kind: ServiceKind | None = None, bbox: BBox | None = None
) -> ServiceFeatureCollection:
    features = [
        ServiceFeature(
            id=place.id,
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
                url=record.url,
                address=_address(place),
                postcode=place.postcode,
            ),
        )
        for record in records
        if kind is None or record.kind is kind
        for place in record.locations
        if bbox is None or bbox.contains(place)
    ]
    return ServiceFeatureCollection(features=features)
