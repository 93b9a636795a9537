"""A tiny synthetic world: one place, rings of postcodes at known distances, two districts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from service_finder.coverage.analysis import KM_PER_DEGREE, Population
from service_finder.schemas import ServiceRecord
from service_finder.search.index import DirectoryIndex

LONDON = ZoneInfo("Europe/London")
CENTRE = (53.8, -1.55)
LEEDS, WAKEFIELD = "E08000035", "E08000036"
# Postcodes due north (Leeds) and due south (Wakefield) of the centre at these distances, in km.
RING_KM = (2.0, 5.0, 8.0, 12.0, 20.0)
REACH_KM = 10.0
ATTRIBUTION = "Contains OS data © Crown copyright and database right 2025."
# Friday 9 October 2026 (not a bank holiday) and Good Friday 3 April 2026 (a bank holiday).
FRIDAY = datetime(2026, 10, 9, 20, 0, tzinfo=LONDON)
GOOD_FRIDAY = datetime(2026, 4, 3, 20, 0, tzinfo=LONDON)


def ring_population() -> Population:
    """Ten postcodes: five north of the centre in Leeds, five south in Wakefield, at RING_KM."""
    offsets = np.array(RING_KM) / KM_PER_DEGREE
    latitude = np.concatenate([CENTRE[0] + offsets, CENTRE[0] - offsets])
    longitude = np.full(latitude.size, CENTRE[1])
    district = np.array([0] * len(RING_KM) + [1] * len(RING_KM), dtype=np.int16)
    return Population(
        latitude=latitude,
        longitude=longitude,
        district=district,
        district_codes=(LEEDS, WAKEFIELD),
        district_names=("Leeds", "Wakefield"),
        attribution=ATTRIBUTION,
    )


def index_of(records: Sequence[ServiceRecord]) -> DirectoryIndex:
    return DirectoryIndex.build(records, version=1, built_at=datetime(2026, 1, 1, tzinfo=UTC))


def centre_location(service_id: str) -> list[dict[str, object]]:
    return [
        {
            "id": f"{service_id}-loc",
            "postcode": "LS1 1UR",
            "latitude": CENTRE[0],
            "longitude": CENTRE[1],
        }
    ]
