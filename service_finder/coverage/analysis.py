"""Who can reach an open, eligible service, and when: every English postcode against the directory at given instants.

Pure numpy over the search index: eligibility comes from the search engine's own criteria, open state from the
compiled opening hours, distances from the same haversine. For one instant the services that are open, eligible
and of the kinds asked for are put through a grid of cells as wide as the reach threshold, so each service only
measures the postcodes in the 3 x 3 cells around it, never a full distance matrix.

Code-Point Open has no population counts, so each postcode counts once: a proxy for where people live.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from service_finder.domain.opening_hours import LONDON, to_london
from service_finder.domain.taxonomy import Need, ServiceKind
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.schemas import PersonGender, Referral, SearchRequest

# The engine's eligibility rules, reused rather than copied (private names: see docs/coverage.md).
from service_finder.search.engine import FAIL, NOT_ASKED, PASS, _criteria, _verdicts, reached_remotely
from service_finder.search.index import EARTH_RADIUS_KM, KIND_CODES, DirectoryIndex, bit_mask
from service_finder.search.ranking import TRAVEL_KMH, WALK_KMH

B = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]
I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U16 = npt.NDArray[np.uint16]

KM_PER_DEGREE = np.radians(1.0) * EARTH_RADIUS_KM
# Places a person goes to in a crisis instead of A&E: the default "crisis alternatives".
DEFAULT_KINDS = (ServiceKind.crisis_cafe, ServiceKind.crisis_house, ServiceKind.walk_in_crisis_assessment)
# Pairs (postcode, service) measured per numpy pass: bounds memory to a few hundred MB whatever the directory.
PAIR_CHUNK = 4_000_000
DEMO_CAVEAT = "Includes demonstration data: fictional services, not real provision."


class TravelMode(StrEnum):
    walking = "walking"
    transport = "transport"  # public transport or car, as the search's travel estimate assumes


@dataclass(frozen=True, slots=True)
class Reach:
    km: float
    label: str

    @classmethod
    def straight_line(cls, km: float) -> Reach:
        # Below 100 m the grid of reach-sized cells would have billions of cells: not a question anyone asks.
        if not 0.1 <= km <= 100:
            raise ValueError(f"reach {km!r} km is not between 0.1 and 100 km")
        return cls(km, f"{_km_words(km)} km straight line")

    @classmethod
    def by_minutes(cls, minutes: float, mode: TravelMode) -> Reach:
        if not 0 < minutes <= 240:
            raise ValueError(f"reach {minutes!r} minutes is not between 0 and 240 minutes")
        # The search's own assumed speeds over straight-line distance: an estimate, labelled as one.
        speed = WALK_KMH if mode is TravelMode.walking else TRAVEL_KMH
        words = "walking" if mode is TravelMode.walking else "by public transport or car"
        km = minutes / 60 * speed
        if km < 0.1:
            raise ValueError(f"reach {minutes:g} minutes {words} is under 100 m")
        if km > 100:
            raise ValueError(f"reach {minutes:g} minutes {words} is {km:g} km, more than 100 km")
        return cls(km, f"about {minutes:g} min {words} (estimated {_km_words(km)} km straight line)")


def _km_words(km: float) -> str:
    # As the report's reach_km rounds it: "0.1 km" beside reach_km 0.15 understated a 2-minute walk by a third.
    return f"{round(km, 3):g}"


@dataclass(frozen=True, slots=True)
class Profile:
    """The person: who they are and how they would get in. `needs` must all be listed by a service for it to count;
    `strict` counts only services every criterion is known to pass (unknowns count as not covered)."""

    age: int | None = None
    gender: PersonGender | None = None
    intoxicated: bool = False
    uses_substances: bool = False
    needs: tuple[Need, ...] = ()
    referral: Referral = Referral.self
    strict: bool = False

    def request(self) -> SearchRequest:
        return SearchRequest(
            age=self.age,
            gender=self.gender,
            intoxicated=self.intoxicated or None,
            uses_substances=self.uses_substances or None,
            # Asked as search asks them: help with alcohol or drugs is using them (SearchRequest._where).
            needs=list(self.needs),
            referral=self.referral,
        )

    def describe(self) -> str:
        parts = [f"aged {self.age}" if self.age is not None else "any age"]
        if self.gender:
            parts.append(self.gender.value.replace("_", "-"))
        if self.intoxicated:
            parts.append("has been drinking or using drugs")
        if self.uses_substances:
            parts.append("uses drugs or alcohol")
        if self.needs:
            parts.append("needs " + ", ".join(n.value.replace("_", " ") for n in self.needs))
        parts.append("self-referral or walk-in" if self.referral is Referral.self else "professional referral")
        if self.strict:
            parts.append("known-eligible services only")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class CoverageQuery:
    profile: Profile = Profile()
    kinds: tuple[ServiceKind, ...] = DEFAULT_KINDS
    reach: Reach = Reach(10.0, "10 km straight line")
    # Phone, text and online services reach every postcode in their catchment, whatever the distance.
    include_remote: bool = False


@dataclass(frozen=True, eq=False)
class Population:
    """Postcode points, the population proxy: WGS84 coordinates and a local-authority district per point."""

    latitude: F64
    longitude: F64
    district: I16  # index into district_codes; -1 when unknown
    district_codes: tuple[str, ...]
    district_names: tuple[str | None, ...]
    attribution: str
    memo: dict[object, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.latitude.size)

    @classmethod
    def from_gazetteer(cls, gazetteer: Gazetteer) -> Population:
        # The gazetteer keeps its arrays private; coverage is the one reader of all of them at once.
        england = gazetteer._country_names.index("england")
        keep = gazetteer._country == england
        return cls(
            latitude=gazetteer._latitude[keep].astype(np.float64),
            longitude=gazetteer._longitude[keep].astype(np.float64),
            district=gazetteer._district[keep].astype(np.int16),
            district_codes=gazetteer._district_codes,
            district_names=gazetteer._district_names,
            attribution=gazetteer.attribution,
        )

    def district_position(self) -> dict[str, int]:
        key = "district-position"
        if key not in self.memo:
            self.memo[key] = {code: i for i, code in enumerate(self.district_codes)}
        result: dict[str, int] = self.memo[key]
        return result

    def grid(self, reach_km: float) -> Grid:
        """The grid for this reach, built once and kept among the last GRIDS_KEPT reaches asked for (each is ~20 MB
        over England's postcodes: kept for every reach ever asked, a process grew without bound)."""
        grids = self.memo.setdefault("grids", OrderedDict())
        found: Grid | None = grids.get(reach_km)
        if found is None:
            found = grids[reach_km] = Grid.build(self.latitude, self.longitude, reach_km)
            while len(grids) > GRIDS_KEPT:
                grids.popitem(last=False)
        else:
            grids.move_to_end(reach_km)
        return found


# Grids kept per population (one per reach in km asked for lately).
GRIDS_KEPT = 4


@dataclass(frozen=True, slots=True)
class Grid:
    """Postcodes sorted by a cell of `reach` km: anything within reach of a point lies in its 3 x 3 cells."""

    cell_lat: float  # degrees
    cell_lon: float
    lat0: float
    lon0: float
    columns: int
    order: I64  # postcode indices sorted by cell
    keys: I64  # their cell keys, ascending

    @classmethod
    def build(cls, latitude: F64, longitude: F64, reach_km: float) -> Grid:
        cell_lat = reach_km / KM_PER_DEGREE
        # A degree of longitude is shortest at the northern edge: size cells for it, so no neighbour is missed.
        north = float(latitude.max(initial=0.0)) + cell_lat
        cell_lon = reach_km / (KM_PER_DEGREE * max(np.cos(np.radians(min(north, 89.0))), 1e-6))
        lat0 = float(latitude.min(initial=0.0)) - 2 * cell_lat
        lon0 = float(longitude.min(initial=0.0)) - 2 * cell_lon
        columns = int((float(longitude.max(initial=0.0)) - lon0) / cell_lon) + 4
        keys = cls._key(latitude, longitude, lat0, lon0, cell_lat, cell_lon, columns)
        order = np.argsort(keys, kind="stable")
        return cls(cell_lat, cell_lon, lat0, lon0, columns, order, keys[order])

    @staticmethod
    def _key(lat: F64, lon: F64, lat0: float, lon0: float, cell_lat: float, cell_lon: float, columns: int) -> I64:
        row = np.floor((lat - lat0) / cell_lat).astype(np.int64)
        column = np.floor((lon - lon0) / cell_lon).astype(np.int64)
        result: I64 = row * columns + column
        return result

    def ranges(self, lat: F64, lon: F64) -> tuple[I64, I64]:
        """Per point, [start, stop) into `order` for each of its 3 x 3 cells: arrays of shape (points, 9)."""
        centre = self._key(lat, lon, self.lat0, self.lon0, self.cell_lat, self.cell_lon, self.columns)
        offsets = np.array([dr * self.columns + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)], dtype=np.int64)
        wanted = centre[:, None] + offsets[None, :]
        start = np.searchsorted(self.keys, wanted, side="left")
        stop = np.searchsorted(self.keys, wanted, side="right")
        return start.astype(np.int64), stop.astype(np.int64)

    def near(self, lat: F64, lon: F64) -> tuple[I64, I64]:
        """For each point, the postcodes in its 3 x 3 cells, as (point position, postcode index) pairs."""
        start, stop = self.ranges(lat, lon)
        start, counts = start.ravel(), (stop - start).ravel()
        owner = np.repeat(np.repeat(np.arange(lat.size, dtype=np.int64), 9), counts)
        # Positions start[k], start[k] + 1, ... of every run k in one pass, without a Python loop.
        before = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        positions = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(start - before, counts)
        return owner, self.order[positions]


@dataclass(frozen=True, slots=True)
class Eligible:
    """Services of the kinds asked for that the person could use (time aside), with where each may be used."""

    services: I32  # index positions in the DirectoryIndex
    allowed: B  # [service row, district + 1]: may a postcode of that district use it (column 0: no district)
    polygon: B  # per row: catchment is a polygon (checked point by point)


def eligible_services(index: DirectoryIndex, population: Population, query: CoverageQuery) -> Eligible:
    profile = query.profile
    ids = np.flatnonzero(
        index.active & ~index.safety_net & np.isin(index.kind, [KIND_CODES[k] for k in query.kinds])
    ).astype(np.int32)
    if profile.needs:
        wanted = bit_mask(list(profile.needs))
        ids = ids[(index.needs[ids] & wanted) == wanted]
    criteria = _criteria(index, ids, profile.request(), None)
    # Catchment is decided per postcode below; without a location the engine can only say "unknown" for it.
    del criteria["catchment"]
    if profile.strict:
        known = np.all(np.stack([(c == PASS) | (c == NOT_ASKED) for c in criteria.values()]), axis=0)
        keep = known & (index.catchment[ids] != 0)
    else:
        keep = _verdicts(criteria) > FAIL
    ids = ids[keep]
    districts = len(population.district_codes)
    allowed = np.zeros((ids.size, districts + 1), dtype=np.bool_)
    catchment = index.catchment[ids]
    allowed[(catchment == 0) | (catchment == 1)] = True
    if not profile.strict:
        # A postcode with no district (229 in England): the search cannot rule a district catchment out there and
        # shows the service as "check", so coverage counts it too. Strict counts only what is certain.
        allowed[catchment == 2, 0] = True
    position = population.district_position()
    for row in np.flatnonzero(catchment == 2):
        record = index.services[ids[row]]
        codes = record.eligibility.catchment.districts if record.eligibility.catchment else []
        columns = [position[c] + 1 for c in codes if c in position]
        allowed[row, columns] = True
    return Eligible(ids, allowed, catchment == 3)


def points_in_geojson(lon: F64, lat: F64, geojson: dict[str, Any]) -> B:
    """Vectorised ray casting over a GeoJSON Polygon or MultiPolygon, with the engine's rule (holes respected)."""
    polygons = geojson.get("coordinates", [])
    if geojson.get("type") == "Polygon":
        polygons = [polygons]
    inside = np.zeros(lon.size, dtype=np.bool_)
    for polygon in polygons if isinstance(polygons, list) else []:
        rings = list(polygon)
        if not rings:
            continue
        hit = _in_ring(lon, lat, rings[0])
        for hole in rings[1:]:
            hit &= ~_in_ring(lon, lat, hole)
        inside |= hit
    return inside


def _in_ring(x: F64, y: F64, ring: Sequence[Sequence[float]]) -> B:
    inside = np.zeros(x.size, dtype=np.bool_)
    points = list(ring)
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        if y1 == y2:
            continue  # a horizontal edge never crosses the ray
        crosses = (y1 > y) != (y2 > y)
        inside ^= crosses & (x < (x2 - x1) * (y - y1) / (y2 - y1) + x1)
    return inside


@dataclass(frozen=True, eq=False)
class CoverageModel:
    """Everything about one query that does not depend on the instant; `covered(open_units)` does the rest.

    The index keeps opening hours per unit (one per site of a service, one for a service with no location),
    because one site can be shut while another is open; eligibility is per service.
    """

    index: DirectoryIndex
    population: Population
    query: CoverageQuery
    eligible: Eligible
    unit_row: I64  # per unit: its service's eligible row; -1 when it does not count
    remote: I32  # units reached from anywhere in their catchment (phone, text, online), counted with include_remote
    memo: dict[int, B] = field(default_factory=dict, repr=False)  # polygon catchments, by eligible row

    @classmethod
    def build(cls, index: DirectoryIndex, population: Population, query: CoverageQuery) -> CoverageModel:
        eligible = eligible_services(index, population, query)
        row_of_service = np.full(len(index), -1, dtype=np.int64)
        row_of_service[eligible.services] = np.arange(eligible.services.size)
        unit_row = row_of_service[index.unit_service]
        # A service with no place to go (DirectoryIndex.remote: a crisis line with an office is one, with the line's
        # hours, as the search reads it) is not within reach of anywhere: it counts, catchment-wide, only with
        # include_remote. Its offices are units of their own with no hours and no site: never counted.
        remote = index.remote
        if query.include_remote:
            reachable = reached_remotely(index, remote)
            unit_row[remote[~reachable]] = -1
        else:
            unit_row[remote] = -1
            # A line with no catchment recorded is searched within reach of its offices (as search reads it), but
            # they are not doors: it counts there only as a line, with include_remote.
            unit_row[index.no_premises[index.unit_service]] = -1
        return cls(index, population, query, eligible, unit_row, remote)

    def open_units(self, at: datetime) -> B:
        """Per unit: open at `at` and counted by this query."""
        result: B = self.index.hours.open_now(at) & (self.unit_row >= 0)
        return result

    def open_services(self, open_units: B) -> int:
        return int(np.unique(self.index.unit_service[open_units]).size)

    def covered(self, open_units: B) -> B:
        """Per postcode: within reach of at least one open unit, and in its service's catchment."""
        population, eligible, index = self.population, self.eligible, self.index
        covered = np.zeros(len(population), dtype=np.bool_)
        district_column = population.district.astype(np.int64) + 1
        for row in np.unique(self.unit_row[self.remote[open_units[self.remote]]]):
            covered |= self._inside(int(row)) if eligible.polygon[row] else eligible.allowed[row][district_column]
        entries = np.flatnonzero(open_units[index.entry_unit])
        if entries.size == 0:
            return covered
        entry_row = self.unit_row[index.entry_unit]
        grid = population.grid(self.query.reach.km)
        reach = self.query.reach.km
        # Chunk the entries so the (entry, postcode) pairs stay within PAIR_CHUNK per pass.
        for chunk in _chunks(entries, grid, index.entry_lat, index.entry_lon):
            lat, lon = index.entry_lat[chunk], index.entry_lon[chunk]
            owner, postcode = grid.near(lat, lon)
            pending = ~covered[postcode]
            owner, postcode = owner[pending], postcode[pending]
            distance = _pair_haversine(
                lat[owner], lon[owner], population.latitude[postcode], population.longitude[postcode]
            )
            row = entry_row[chunk][owner]
            ok = (distance <= reach) & eligible.allowed[row, district_column[postcode]]
            for polygon_row in np.unique(row[eligible.polygon[row]]):
                mine = row == polygon_row
                ok[mine] = (distance[mine] <= reach) & self._inside(int(polygon_row))[postcode[mine]]
            covered[postcode[ok]] = True
        return covered

    def _inside(self, row: int) -> B:
        if row not in self.memo:
            record = self.index.services[int(self.eligible.services[row])]
            geojson = record.eligibility.catchment.geojson if record.eligibility.catchment else None
            inside = np.zeros(len(self.population), dtype=np.bool_)
            if geojson:
                # Ray casting costs one pass over the points per edge: only the points in the polygon's bounding
                # box are cast (a detailed boundary was seconds over all of England's postcodes).
                lon, lat = self.population.longitude, self.population.latitude
                west, south, east, north = _bounds(geojson)
                box = np.flatnonzero((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
                inside[box] = points_in_geojson(lon[box], lat[box], geojson)
            self.memo[row] = inside
        return self.memo[row]


def _bounds(geojson: dict[str, Any]) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a GeoJSON Polygon or MultiPolygon's outer rings."""
    polygons = geojson.get("coordinates", [])
    if geojson.get("type") == "Polygon":
        polygons = [polygons]
    if not isinstance(polygons, list):
        polygons = []
    points = np.array([p for polygon in polygons for p in (polygon[0] if polygon else [])], dtype=np.float64)
    if points.size == 0:
        return (np.inf, np.inf, -np.inf, -np.inf)  # an empty box: nothing inside
    return (points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max())


def _chunks(entries: I64, grid: Grid, lat: F64, lon: F64) -> list[I64]:
    start, stop = grid.ranges(lat[entries], lon[entries])
    pairs = (stop - start).sum(axis=1)
    chunks: list[I64] = []
    first, running = 0, 0
    for i, size in enumerate(pairs.tolist()):
        if running and running + size > PAIR_CHUNK:
            chunks.append(entries[first:i])
            first, running = i, 0
        running += size
    chunks.append(entries[first:])
    return chunks


def _pair_haversine(lat1: F64, lon1: F64, lat2: F64, lon2: F64) -> F64:
    # index.haversine_km measures from one origin; here every pair has its own origin. Same formula and radius.
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    result: F64 = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return result


# --- when -------------------------------------------------------------------------------------------------------

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_GROUPS = {"daily": range(7), "weekdays": range(5), "weekend": range(5, 7), "week": range(7)}
PRESETS = {
    "week": "daily 00:00-24:00",
    "weekday-evenings": "weekdays 18:00-24:00",
    "nights": "daily 00:00-06:00",
    "weekend": "weekend 00:00-24:00",
}
_WINDOW = re.compile(
    r"^(?P<days>[a-z]+(?:-[a-z]+)?)\s+(?P<start>\d{1,2}:\d{2})(?:-(?P<end>\d{1,2}:\d{2}))?$", re.IGNORECASE
)


class WindowError(ValueError):
    pass


def _day_range(text: str) -> list[int]:
    text = text.lower()
    if text in DAY_GROUPS:
        return list(DAY_GROUPS[text])
    first, _, last = text.partition("-")
    try:
        a = _day(first)
        b = _day(last) if last else a
    except ValueError:
        raise WindowError(
            f"days {text!r} are not a day (mon..sun), a range (mon-fri) or daily/weekdays/weekend"
        ) from None
    return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]


_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(word: str) -> int:
    """'mon', 'tues' or 'monday': a day's name or its start, three letters at least ('monkey' is not Monday)."""
    for position, name in enumerate(_FULL_DAY_NAMES):
        if len(word) >= len(DAY_NAMES[position]) and name.startswith(word):
            return position
    raise ValueError(word)


def _minute(text: str) -> int:
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > 24 * 60:
        raise WindowError(f"time {text!r} is not a time of day (HH:MM, 00:00 to 24:00)")
    return value


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def distinct_instants(instants: Iterable[datetime]) -> list[datetime]:
    """Each real instant once, in time order. Not `sorted(set(...))`: aware datetimes in one zone compare by wall
    time, so October's two 01:30s would be one."""
    by_instant = {at.astimezone(UTC): at for at in instants}
    return [by_instant[key] for key in sorted(by_instant)]


def window_instants(spec: str, week_of: date) -> list[datetime]:
    """Hourly instants, London time, in the week (Monday to Sunday) containing `week_of`.

    `spec` is a preset (week, weekday-evenings, nights, weekend) or 'DAYS HH:MM' / 'DAYS HH:MM-HH:MM' where DAYS
    is a day, a range (fri-sun) or daily/weekdays/weekend; a range samples on the hour from its start, end
    excluded, and may run past midnight ('fri-sat 22:00-04:00'). Several specs join with ';'.
    """
    monday = week_start(week_of)
    found: list[datetime] = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        text = PRESETS.get(part.lower(), part)
        match = _WINDOW.match(text)
        if match is None:
            raise WindowError(
                f"window {part!r} is not a preset ({', '.join(PRESETS)}) nor 'DAYS HH:MM[-HH:MM]' (e.g. 'sat 02:00')"
            )
        start = _minute(match["start"])
        end = _minute(match["end"]) if match["end"] else start + 1
        if end <= start:
            end += 24 * 60
        for day in _day_range(match["days"]):
            for minute in range(start, end, 60):
                # A night running past Sunday midnight wraps to this week's Monday morning, as a day range like
                # fri-mon wraps to this week's Monday: the week asked for, and every hour the window names.
                offset = (timedelta(days=day) + timedelta(minutes=minute)) % timedelta(days=7)
                found.extend(_london_walls(datetime.combine(monday, time()) + offset))
    if not found:
        raise WindowError(f"window {spec!r} names no instants")
    return distinct_instants(found)


def _london_walls(wall: datetime) -> list[datetime]:
    """The instants a London wall time names: one; both in October's repeated hour (01:00 BST, then 01:00 GMT)."""
    first = _london_wall(wall)
    second = wall.replace(tzinfo=LONDON, fold=1)
    if first.replace(tzinfo=None) == wall and second.utcoffset() != first.utcoffset():
        return [first, to_london(second)]
    return [first]


def _london_wall(wall: datetime) -> datetime:
    # A wall time in the spring-forward gap does not exist: it is read with the winter offset (01:30 -> 02:30 BST).
    at = wall.replace(tzinfo=LONDON)
    return to_london(at.astimezone(LONDON))


# --- results ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CoverageResult:
    query: CoverageQuery
    population: Population
    instants: tuple[datetime, ...]
    open_services: I32  # per instant: open, eligible services of the kinds asked for
    covered: I64  # per instant: postcodes covered
    district_covered: I64  # [instant, district + 1]
    district_total: I64  # [district + 1]
    hours_covered: U16  # per postcode: instants at which it was covered
    services_shown: tuple[tuple[float, float], ...]  # eligible locations, for the map
    demo: bool  # any eligible service is demonstration data

    @property
    def total(self) -> int:
        return len(self.population)

    def share(self) -> F64:
        result: F64 = self.covered / max(self.total, 1)
        return result

    def postcode_share(self) -> F64:
        result: F64 = self.hours_covered / max(len(self.instants), 1)
        return result


def compute(
    index: DirectoryIndex, population: Population, query: CoverageQuery, instants: Sequence[datetime]
) -> CoverageResult:
    if not instants:
        raise ValueError("coverage needs at least one instant")
    if len(instants) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(instants)} instants is more than {np.iinfo(np.uint16).max}")
    model = CoverageModel.build(index, population, query)
    instants = tuple(to_london(at) for at in instants)
    open_units = [model.open_units(at) for at in instants]
    # Many hours share one set of open services (every night hour, say): compute each distinct set once.
    groups: dict[bytes, list[int]] = {}
    for i, units in enumerate(open_units):
        groups.setdefault(np.packbits(units).tobytes(), []).append(i)
    districts = len(population.district_codes) + 1
    district_column = population.district.astype(np.int64) + 1
    district_total = np.bincount(district_column, minlength=districts).astype(np.int64)
    district_covered = np.zeros((len(instants), districts), dtype=np.int64)
    covered_count = np.zeros(len(instants), dtype=np.int64)
    hours = np.zeros(len(population), dtype=np.uint16)
    for members in groups.values():
        mask = model.covered(open_units[members[0]])
        by_district = np.bincount(district_column[mask], minlength=districts)
        district_covered[members] = by_district
        covered_count[members] = int(mask.sum())
        hours[mask] += np.uint16(len(members))
    shown = model.unit_row[index.entry_unit] >= 0  # sites are doors: a line's office is not one (DirectoryIndex)
    services = model.eligible.services
    return CoverageResult(
        query=query,
        population=population,
        instants=instants,
        open_services=np.array([model.open_services(units) for units in open_units], dtype=np.int32),
        covered=covered_count,
        district_covered=district_covered,
        district_total=district_total,
        hours_covered=hours,
        services_shown=tuple(zip(index.entry_lat[shown].tolist(), index.entry_lon[shown].tolist(), strict=True)),
        demo=any(index.services[int(i)].is_demo for i in services),
    )
