"""An immutable, numpy-backed snapshot of the directory, built in one place and replaced whole.

Per service: kind, status, eligibility and access as small integers and bit-fields, so hard filters run as
array operations over the few hundred services near a person. Per location ("entry"): coordinates, sorted by
latitude so a search only touches a narrow band of the country.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from service_finder.domain.opening_hours import CompiledWeek
from service_finder.domain.provenance import review_due
from service_finder.domain.schedule import WeeklySchedule
from service_finder.domain.taxonomy import (
    AccessFeature,
    CatchmentType,
    ContactMode,
    Gender,
    Need,
    ReferralRoute,
    ServiceKind,
    ServiceStatus,
)
from service_finder.schemas import ServiceRecord

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius, as geopy's great_circle uses
UNKNOWN = -1  # tri-state "not recorded" in int8 arrays
NO_MIN_AGE = -1
NO_MAX_AGE = 999

KIND_CODES: dict[ServiceKind, int] = {kind: i for i, kind in enumerate(ServiceKind)}
CATCHMENT_CODES = {None: 0, CatchmentType.england: 1, CatchmentType.districts: 2, CatchmentType.polygon: 3}

I8 = npt.NDArray[np.int8]
I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


E = TypeVar("E", bound=Enum)


def bit_mask(values: Sequence[E] | None, members: Sequence[E]) -> int:
    order = {member: i for i, member in enumerate(members)}
    mask = 0
    for value in values or ():
        mask |= 1 << order[value]
    return mask


def tri_state(value: bool | None) -> int:
    return UNKNOWN if value is None else int(value)


@dataclass(frozen=True, eq=False)
class DirectoryIndex:
    services: tuple[ServiceRecord, ...]
    last_modified: tuple[datetime | None, ...]
    version: int
    built_at: datetime
    hours: CompiledWeek
    kind: U8
    active: B
    temporarily_closed: B
    safety_net: B
    min_age: I16
    max_age: I16
    referral: U32
    referral_known: B
    needs: U32
    access_yes: U32
    modes: U32
    intoxicated: I8
    substances: I8
    genders: U32
    gp_required: B
    catchment: U8
    review_due: I32  # date ordinal; -1 never verified
    # Units: one per site (service at a location) and one for each service with no location. Opening hours are
    # per unit, because one site of a service can be shut while another is open.
    unit_service: I32
    unit_location: I32  # index into the service's locations; -1 for a service with no location
    remote: I32  # units of services with no location (phone, text, online)
    district_members: dict[str, I32] = field(repr=False)
    entry_unit: I32 = field(repr=False)
    entry_lat: F64 = field(repr=False)  # sorted ascending
    entry_lon: F64 = field(repr=False)
    position: dict[str, int] = field(repr=False)
    # Derived values computed at most once per snapshot (e.g. safety-net entries); never part of its identity.
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.services)

    @classmethod
    def build(
        cls,
        records: Sequence[ServiceRecord],
        *,
        version: int,
        built_at: datetime,
        last_modified: Mapping[str, datetime] | None = None,
    ) -> DirectoryIndex:
        records = tuple(sorted(records, key=lambda r: r.id))
        modified = last_modified or {}
        n = len(records)
        referral_members = list(ReferralRoute)
        members_by_district: dict[str, list[int]] = {}
        entries: list[tuple[float, float, int]] = []
        remote: list[int] = []
        unit_service: list[int] = []
        unit_location: list[int] = []
        unit_schedules: list[tuple[WeeklySchedule, ...]] = []
        unit_closed: list[bool] = []
        due: list[int] = []
        for i, record in enumerate(records):
            catchment = record.eligibility.catchment
            if catchment is not None and catchment.type is CatchmentType.districts:
                for code in catchment.districts:
                    members_by_district.setdefault(code, []).append(i)
            closed = record.status is ServiceStatus.temporarily_closed
            for j, location in enumerate(record.locations or [None]):
                unit = len(unit_service)
                unit_service.append(i)
                unit_location.append(-1 if location is None else j)
                unit_schedules.append(site_schedules(record, None if location is None else location.id))
                unit_closed.append(closed)
                if location is None:
                    remote.append(unit)
                else:
                    entries.append((location.latitude, location.longitude, unit))
            review = review_due(record.provenance.verified_at, record.provenance.verify_due)
            due.append(review.toordinal() if review is not None and record.provenance.verified_at else -1)
        entries.sort()
        table = np.array(entries, dtype=np.float64).reshape(-1, 3)

        def column(values: Sequence[int | bool], dtype: type[np.generic]) -> npt.NDArray[Any]:
            return np.array(values, dtype=dtype).reshape(n)

        eligibility = [r.eligibility for r in records]
        return cls(
            services=records,
            last_modified=tuple(modified.get(r.id) for r in records),
            version=version,
            built_at=built_at,
            hours=CompiledWeek.compile(unit_schedules, unit_closed),
            kind=column([KIND_CODES[r.kind] for r in records], np.uint8),
            active=column([r.status is ServiceStatus.active for r in records], np.bool_),
            temporarily_closed=column(
                [r.status is ServiceStatus.temporarily_closed for r in records],
                np.bool_,
            ),
            safety_net=column([r.safety_net for r in records], np.bool_),
            min_age=column([e.minimum_age if e.minimum_age is not None else NO_MIN_AGE for e in eligibility], np.int16),
            max_age=column([e.maximum_age if e.maximum_age is not None else NO_MAX_AGE for e in eligibility], np.int16),
            referral=column([bit_mask(e.referral_routes, referral_members) for e in eligibility], np.uint32),
            referral_known=column([e.referral_routes is not None for e in eligibility], np.bool_),
            needs=column([bit_mask(r.needs, list(Need)) for r in records], np.uint32),
            access_yes=column(
                [bit_mask([f for f, ok in r.access.accessibility.items() if ok], list(AccessFeature)) for r in records],
                np.uint32,
            ),
            modes=column([bit_mask(r.access.contact_modes, list(ContactMode)) for r in records], np.uint32),
            intoxicated=column([tri_state(e.accepts_intoxicated) for e in eligibility], np.int8),
            substances=column([tri_state(e.accepts_substance_use) for e in eligibility], np.int8),
            genders=column([bit_mask(e.genders, list(Gender)) for e in eligibility], np.uint32),
            gp_required=column([e.gp_registration_required is True for e in eligibility], np.bool_),
            catchment=column(
                [CATCHMENT_CODES[e.catchment.type if e.catchment else None] for e in eligibility], np.uint8
            ),
            review_due=column(due, np.int32),
            unit_service=np.array(unit_service, dtype=np.int32),
            unit_location=np.array(unit_location, dtype=np.int32),
            remote=np.array(remote, dtype=np.int32),
            district_members={code: np.array(ids, dtype=np.int32) for code, ids in members_by_district.items()},
            entry_unit=table[:, 2].astype(np.int32),
            entry_lat=np.ascontiguousarray(table[:, 0]),
            entry_lon=np.ascontiguousarray(table[:, 1]),
            position={r.id: i for i, r in enumerate(records)},
        )

    def near(self, latitude: float, longitude: float, radius_km: float) -> tuple[I32, F64]:
        """(unit, distance km) for every site within the radius, nearest first."""
        band = np.degrees(radius_km / EARTH_RADIUS_KM)
        lo, hi = np.searchsorted(self.entry_lat, [latitude - band, latitude + band])
        lat, lon = self.entry_lat[lo:hi], self.entry_lon[lo:hi]
        # Longitude degrees shrink with latitude; widen the box by the band's poleward edge so nothing is lost.
        lon_band = band / max(np.cos(np.radians(min(abs(latitude) + band, 89.0))), 1e-6)
        box = np.flatnonzero(np.abs(lon - longitude) <= lon_band)
        distance = haversine_km(latitude, longitude, lat[box], lon[box])
        inside = distance <= radius_km
        rows = box[inside] + lo
        distance = distance[inside]
        order = np.argsort(distance, kind="stable")
        return self.entry_unit[rows[order]], distance[order]

    def stale(self, today: date) -> B:
        result: B = self.review_due < today.toordinal()
        return result


def haversine_km(lat: float, lon: float, lats: F64, lons: F64) -> F64:
    phi1, phi2 = np.radians(lat), np.radians(lats)
    dphi = phi2 - phi1
    dlambda = np.radians(lons - lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    result: F64 = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return result


def site_schedules(record: ServiceRecord, location_id: str | None) -> tuple[WeeklySchedule, ...]:
    """A site's own hours when it has any, else the service's (HSDS: a schedule on a service-at-location
    overrides the service's). A service with no location keeps its service-wide hours."""
    own = tuple(s.to_domain() for s in record.schedules if location_id is not None and s.location_id == location_id)
    return own or tuple(s.to_domain() for s in record.schedules if s.location_id is None)
