"""What the interoperability formats (HSDS, FHIR, GeoJSON) select and page by, read from the index's columns.

In a packed directory (search/packed.py) reading a record decodes it (~70 µs): a request that read every record to
filter, page or look up an id took seconds at 1,000,000 services, and a snapshot's memo of one document per service
undid what packing saves. So these answer from arrays, and a route decodes the records it answers with; where a
filter needs what no column holds (words in a description, weekly hours), it decodes the records the columns leave,
and says so. What is remembered per snapshot (index.memo) is arrays, never an object per service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt

from service_finder.importers.hsds import uuid_digests
from service_finder.schemas import ServiceRecord
from service_finder.search.index import F64, I32, DirectoryIndex
from service_finder.search.packed import PackedRecords, micros

T = TypeVar("T")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def remembered(index: DirectoryIndex, key: str, make: Callable[[], T]) -> T:
    """index.memo[key], made on first use (a race only makes it twice)."""
    found = index.memo.get(key)
    if found is None:
        found = index.memo[key] = make()
    return cast(T, found)


def records_at(index: DirectoryIndex, positions: Iterable[int]) -> Iterator[ServiceRecord]:
    """The records at these positions, for a pass over many (a filter, a map): a packed directory's are decoded
    without pushing out of its cache the records searches answer with."""
    services = index.services
    if isinstance(services, PackedRecords):
        return services.scan(positions)
    return (services[at] for at in positions)


def modified_micros(index: DirectoryIndex) -> npt.NDArray[np.int64]:
    """Each service's last change as microseconds since 1970 UTC; packed.Instants.NONE where none is known."""
    return remembered(index, "interop-modified", lambda: micros(index.last_modified))


def placed_units(index: DirectoryIndex) -> I32:
    """Every unit at a location (a site or an office): every (service, location) pair, in that order."""
    return remembered(index, "interop-placed", lambda: np.flatnonzero(index.location_code >= 0).astype(np.int32))


def pairs_of(index: DirectoryIndex, units: I32) -> npt.NDArray[np.int32]:
    """(service position, location position) of each unit, one row each."""
    return np.column_stack([index.unit_service[units], index.unit_location[units]]).astype(np.int32)


def unit_coordinates(index: DirectoryIndex, units: I32) -> tuple[F64, F64]:
    """Latitude and longitude of each unit at a location: a site's from the grid, an office's from the offices."""
    lat, lon = np.full(units.size, np.nan), np.full(units.size, np.nan)
    entries = index.unit_entry[units]
    sited = entries >= 0
    lat[sited], lon[sited] = index.entry_lat[entries[sited]], index.entry_lon[entries[sited]]
    if index.offices.size and not sited.all():
        rows = np.searchsorted(index.offices[:, 0], units[~sited])  # offices are kept in unit order
        lat[~sited], lon[~sited] = index.offices[rows, 1], index.offices[rows, 2]
    return lat, lon


@dataclass(frozen=True, slots=True)
class Groups:
    """Positions grouped by a code (an organisation, a location): group c is members[starts[c]:starts[c + 1]], in
    ascending order."""

    members: I32
    starts: npt.NDArray[np.intp]

    @classmethod
    def of(cls, codes: I32, positions: I32, count: int) -> Groups:
        order = np.argsort(codes, kind="stable")
        return cls(positions[order], np.searchsorted(codes[order], np.arange(count + 1)))

    def __getitem__(self, code: int) -> I32:
        return self.members[self.starts[code] : self.starts[code + 1]]

    def firsts(self) -> I32:
        """The first member of each group (every group has one)."""
        return self.members[self.starts[:-1]]


def location_units(index: DirectoryIndex) -> Groups:
    """The units at each location (by its code in index.location_ids): a place several services share has several."""

    def make() -> Groups:
        units = placed_units(index)
        return Groups.of(index.location_code[units], units, len(index.location_ids))

    return remembered(index, "interop-location-units", make)


def locations_in_order(index: DirectoryIndex) -> I32:
    """Every location's code once, in the order of the first service delivered there (services in id order, each
    one's locations in its order)."""

    def make() -> I32:
        firsts = location_units(index).firsts()
        return np.argsort(firsts, kind="stable").astype(np.int32)

    return remembered(index, "interop-locations-in-order", make)


def organisation_services(index: DirectoryIndex) -> Groups:
    """The services of each organisation (by its code in index.organisation_ids), in id order."""
    return remembered(
        index,
        "interop-organisation-services",
        lambda: Groups.of(index.organisation, np.arange(len(index), dtype=np.int32), len(index.organisation_ids)),
    )


@dataclass(frozen=True, slots=True)
class Uuids:
    """UUIDs made from names (importers.hsds._uuid), found by their first 8 bytes: 20 bytes each, where a dict of
    their text would take ~150."""

    high: npt.NDArray[np.uint64]  # sorted
    low: npt.NDArray[np.uint64]
    row: I32  # the row (name) each was made from

    @classmethod
    def of(cls, names: Iterable[Sequence[str]]) -> Uuids:
        raw = np.frombuffer(b"".join(uuid_digests(names)), dtype=np.uint8).reshape(-1, 16).copy()
        # As uuid5 makes them: version 5 in the high nibble of byte 6, the RFC 4122 variant in the top bits of byte 8.
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
        halves = raw.view(">u8").astype(np.uint64)
        order = np.argsort(halves[:, 0], kind="stable")
        return cls(halves[order, 0], halves[order, 1], order.astype(np.int32))

    def get(self, text: str) -> int | None:
        """The row of the UUID written `text` (the canonical lower-case form, as the documents give it); of two rows
        with one UUID, the last (as a dict filled in row order would keep)."""
        if _CANONICAL_UUID.fullmatch(text) is None:
            return None
        high, low = np.frombuffer(bytes.fromhex(text.replace("-", "")), dtype=">u8").astype(np.uint64)
        first = int(np.searchsorted(self.high, high, side="left"))
        last = int(np.searchsorted(self.high, high, side="right"))
        rows = [int(self.row[at]) for at in range(first, last) if self.low[at] == low]
        return max(rows) if rows else None
