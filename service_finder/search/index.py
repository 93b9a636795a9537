"""An immutable, numpy-backed snapshot of the directory, built in one place and replaced whole.

Per service: kind, status, eligibility and access as small integers and bit-fields, so hard filters run as
array operations over the few hundred services near a person. Per location ("entry"): coordinates, kept in grid
order (rows of GRID_ROW_DEG degrees of latitude, each row by longitude), so the sites near a person are a few
contiguous slices found by binary search: one per row the search circle crosses.
"""

from __future__ import annotations

import math
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from service_finder.domain.opening_hours import CompiledWeek, OpenState
from service_finder.domain.provenance import review_due
from service_finder.domain.schedule import WeeklySchedule
from service_finder.domain.taxonomy import (
    LINE_KINDS,
    PLACE_KINDS,
    SELF_ROUTES,
    AccessFeature,
    CatchmentType,
    ContactMode,
    ReferralRoute,
    ServiceKind,
    ServiceStatus,
)
from service_finder.schemas import Criterion, ServiceRecord, ServiceSummary
from service_finder.search import packed as packing
from service_finder.search.packed import Instants, Keeper, PackedRecords, Positions

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius, as geopy's great_circle uses
UNKNOWN = -1  # tri-state "not recorded" in int8 arrays
NO_MIN_AGE = -1
NO_MAX_AGE = 999

KIND_CODES: dict[ServiceKind, int] = {kind: i for i, kind in enumerate(ServiceKind)}
CATCHMENT_CODES = {None: 0, CatchmentType.england: 1, CatchmentType.districts: 2, CatchmentType.polygon: 3}
# Open states are remembered for this many distinct minutes per snapshot (then forgotten all at once).
MEMO_MINUTES = 8
# District masks kept per snapshot, least recently used dropped first (one byte per service each: 1 MB at 1M).
DISTRICT_MASKS = 64
# Grid rows of 0.05 degrees of latitude (about 5.6 km): a 25 km search crosses ~10 rows, each one binary search.
GRID_ROW_DEG = 0.05
# A sort key per site: row * ROW_SPAN + (longitude + 180). Longitudes span 360 degrees, so rows never overlap.
ROW_SPAN = 360.0
# Up to this many sites, a search measures every site instead of finding its box's grid-row slices first: the box
# costs ~15 numpy calls whatever it holds. Per search, 400 benchmark locations, 25 km, box against every site: 424
# sites 19.1 -> 10.0 µs, 1,924 sites 20.1 -> 12.4 µs, 3,924 sites 22.3 -> 15.6 µs, 7,924 sites 24.7 -> 21.0 µs.
WHOLE_SCAN_SITES = 4096

I8 = npt.NDArray[np.int8]
I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
# A remembered open state's key: a unit, or (id of a CompiledWeek.prepared entry, temporarily closed) for every unit
# with those hours. Prepared entries are shared by units with equal schedules and live as long as the snapshot.
StateKey = int | tuple[int, bool]


class Word:
    """Bit layout of DirectoryIndex.word: one uint64 per service holding what the search's first, cheapest pass
    (score ceilings) needs, so that pass is one gather and a few mask tests instead of a dozen column gathers."""

    NEEDS = 0  # 19 bits, Need order
    ACCESS = 19  # 8 bits, AccessFeature order (confirmed available)
    MODES = 27  # 4 bits, ContactMode order
    KIND = 31  # 4 bits, KIND_CODES
    SAFETY_NET = 1 << 35
    ACTIVE = 1 << 36
    SELF_ACCESS = 1 << 37  # walk-in or self-referral recorded
    REFERRAL_UNKNOWN = 1 << 38
    GP_REQUIRED = 1 << 39
    CATCHMENT_UNKNOWN = 1 << 40
    CATCHMENT_NOT_ENGLAND = 1 << 41
    CATCHMENT_DISTRICTS = 1 << 42
    AGE_LIMITED = 1 << 43
    GENDER_LIMITED = 1 << 44
    INTOXICATED_UNKNOWN = 1 << 45
    SUBSTANCES_UNKNOWN = 1 << 46
    REFUSES_INTOXICATED = 1 << 48
    REFUSES_SUBSTANCES = 1 << 49
    PROFESSIONAL_ACCESS = 1 << 50  # a route a clinician can use is recorded
    GENDERS = 51  # 3 bits, Gender order
    KIND_MASK = 0b1111


def bit_mask(values: Iterable[Enum] | None) -> int:
    """One bit per member, in the enum's declaration order (bit i for its i-th member)."""
    mask = 0
    for value in values or ():
        mask |= _bits(type(value))[value]
    return mask


@cache
def _bits(kind: type[Enum]) -> dict[Enum, int]:
    # Per enum type, not one table for all: StrEnum members equal their strings, so two enums sharing a value
    # would collide in one dict.
    return {member: 1 << i for i, member in enumerate(kind)}


# Features of premises: a service with no place to visit (a phone, text or online line) has none of them, so
# asking for one is no reason to leave such a line out. A wheelchair user can ring a crisis line.
PREMISES_ACCESS = bit_mask(
    [
        AccessFeature.step_free,
        AccessFeature.wheelchair,
        AccessFeature.accessible_toilet,
        AccessFeature.hearing_loop,
        AccessFeature.quiet_space,
        AccessFeature.women_only_space,
    ]
)
SELF_ROUTES_MASK = bit_mask(sorted(SELF_ROUTES))
# Routes a clinician can use on a person's behalf (the police route is for officers, not clinicians).
PROFESSIONAL_ROUTES_MASK = bit_mask([r for r in ReferralRoute if r is not ReferralRoute.police])


def tri_state(value: bool | None) -> int:
    return UNKNOWN if value is None else int(value)


# What a unit is (DirectoryIndex.build): a place to go, a line searched wherever it serves, or a line's office.
_SITE, _REMOTE, _OFFICE = 0, 1, 2

# The per-service columns every search reads, and their types, in the order _service_values gives them.
SERVICE_COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("kind", np.uint8),
    ("active", np.bool_),
    ("temporarily_closed", np.bool_),
    ("safety_net", np.bool_),
    ("min_age", np.int16),
    ("max_age", np.int16),
    ("referral", np.uint32),
    ("referral_known", np.bool_),
    ("needs", np.uint32),
    ("access_yes", np.uint32),
    ("access_no", np.uint32),
    ("no_premises", np.bool_),
    ("modes", np.uint32),
    ("intoxicated", np.int8),
    ("substances", np.int8),
    ("genders", np.uint32),
    ("gp_required", np.bool_),
    ("catchment", np.uint8),
)


def _service_values(record: ServiceRecord) -> tuple[int, ...]:
    """One service's values of SERVICE_COLUMNS."""
    e = record.eligibility
    accessibility = record.access.accessibility.items()
    return (
        KIND_CODES[record.kind],
        record.status is ServiceStatus.active,
        record.status is ServiceStatus.temporarily_closed,
        record.safety_net,
        # 0 (from birth) limits no one: the same as no lower limit, so an age not given leaves it certain.
        e.minimum_age if e.minimum_age else NO_MIN_AGE,
        e.maximum_age if e.maximum_age is not None else NO_MAX_AGE,
        bit_mask(e.referral_routes),
        e.referral_routes is not None,
        bit_mask(record.needs),
        bit_mask([f for f, ok in accessibility if ok]),
        bit_mask([f for f, ok in accessibility if ok is False]),
        not has_door(record),
        bit_mask(ways_in(record)),  # the ways in a search matches, not only those recorded (ways_in)
        tri_state(e.accepts_intoxicated),
        tri_state(e.accepts_substance_use),
        bit_mask(e.genders),
        # Required, or not recorded: either way the person may need to be registered with a GP there ("check").
        e.gp_registration_required is not False,
        CATCHMENT_CODES[e.catchment.type if e.catchment else None],
    )


@dataclass(frozen=True, eq=False)
class DirectoryIndex:
    services: Sequence[ServiceRecord]  # a tuple, or PackedRecords in a large directory
    last_modified: Sequence[datetime | None]  # a tuple, or Instants in a packed directory
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
    access_yes: U32  # features the record confirms
    access_no: U32  # features the record says it does not have (neither bit: not recorded)
    # Requests for these features it passes: the confirmed ones, and for a service with no premises the premises'.
    access_met: U32
    no_premises: B  # no place to go (see has_door): no premises to ask about, no journey to make
    modes: U32
    language_class: I32  # per service, its set of languages in language_sets
    language_sets: tuple[frozenset[str], ...]
    intoxicated: I8
    substances: I8
    genders: U32
    gp_required: B
    catchment: U8
    review_due: I32  # date ordinal; -1 never verified
    # Services whose eligibility columns (age, genders, catchment type, referral, drinking, drugs, GP) are all equal
    # share a class: their criteria differ only where a catchment depends on the location (search/engine.py).
    eligibility_class: I32
    class_service: I32  # one service of each class
    word: npt.NDArray[np.uint64]  # see Word
    # Services with the same word and age limits share a word class (a few hundred, however many services): every
    # term of a score ceiling but distance, opening hours, review date and a district catchment is the same for all
    # of them, so the search works those terms out once per class (search/engine.py, _class_ceilings).
    word_class: I32
    word_class_service: I32  # one service of each word class
    unit_class: I32  # the word class of each unit's service
    # Units: one per site (service at a location) and one for each service with no place to go. Opening hours are
    # per unit, because one site of a service can be shut while another is open. A service with no place to go
    # even with an address (a crisis line's office; see has_door: by kind, else by ways in): one remote unit with the
    # line's hours (line_schedules), and its offices units of their own that the search never reads (no hours; only
    # `near` finds them, for FHIR's Location search). Unless its catchment is not recorded (reached_from_offices):
    # then each office is a site with the line's hours, found within the radius, and still no premises.
    unit_service: I32
    unit_location: I32  # index into the service's locations; -1 for a remote unit
    # A service's units are first_unit[i] to first_unit[i + 1] (a remote one first); one entry more than services.
    first_unit: I32
    remote: I32  # units of services with no place to go (phone, text, online)
    district_members: dict[str, I32] = field(repr=False)
    entry_unit: I32 = field(repr=False)
    unit_entry: I32 = field(repr=False)  # per unit, its entry; -1 for a unit with no site (remote, an office)
    entry_key: F64 = field(repr=False)  # grid key (see grid_key), sorted ascending
    entry_lat: F64 = field(repr=False)
    entry_lon: F64 = field(repr=False)
    # Each site as a unit vector (x, y, z) on the sphere, rows 0-2: the radius test is a squared chord length,
    # three multiply-adds per site and no trigonometry; the arc length is taken only for the sites inside.
    entry_xyz: F64 = field(repr=False)
    # Offices of services with no place to go: (unit, latitude, longitude) per row, apart from the entries.
    offices: F64 = field(repr=False)
    position: Mapping[str, int] = field(repr=False)  # a dict, or Positions in a packed directory
    # What the interoperability formats (HSDS, FHIR, GeoJSON) filter and page by, so that a packed directory's
    # records are decoded for the page answered alone: the minimum age as recorded (-1: none; min_age reads 0 as no
    # limit), each service's organisation and each unit's location (-1: a remote unit), as positions in the sorted
    # ids of the directory's organisations and locations. Every location of a service is a unit (a site or an office).
    recorded_min_age: I16 = field(repr=False)
    organisation: I32 = field(repr=False)
    organisation_ids: Positions = field(repr=False)
    location_code: I32 = field(repr=False)
    location_ids: Positions = field(repr=False)
    # Derived values computed at most once per snapshot (e.g. safety-net entries); never part of its identity.
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    summaries: dict[int, ServiceSummary] = field(default_factory=dict, repr=False, compare=False)  # by unit
    criteria: dict[tuple[object, ...], Criterion] = field(default_factory=dict, repr=False, compare=False)  # words
    _states: dict[int, dict[StateKey, OpenState]] = field(default_factory=dict, repr=False, compare=False)
    _district_masks: OrderedDict[str, B] = field(default_factory=OrderedDict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.services)

    @classmethod
    def build(
        cls,
        records: Iterable[ServiceRecord],
        *,
        version: int,
        built_at: datetime,
        last_modified: Mapping[str, datetime] | None = None,
        packed: bool | None = None,
    ) -> DirectoryIndex:
        """The index of `records` (read once, in any order; kept in id order). `packed`: keep the records
        compressed (see packed.py); by default, only a sized directory larger than PACK_ABOVE is (a stream's caller
        says: catalogue.load_index counts the store first). `last_modified` is read once every record has been
        (catalogue.load_index fills it while they are read)."""
        modified = {} if last_modified is None else last_modified  # not `or`: filled while records are read
        if packed is None:  # by the directory's size; records streamed with no size are kept as objects
            packed = isinstance(records, Sized) and len(records) > packing.PACK_ABOVE
        keeper = Keeper(packed)
        ids: list[str] = []
        # Typed arrays, not lists: a million services would leave millions of int and float objects behind, freed
        # but scattered through memory the process keeps (what the index's resident size would be measured with).
        values = [array("q") for _ in SERVICE_COLUMNS]
        due = array("q")
        districts: list[tuple[int, Sequence[str]]] = []
        # Per unit, in the order read (regrouped in id order below): its service's position as read, its location
        # (-1 for none), where it is (NaN for none), its hours, and what it is (a site, a remote unit, an office).
        unit_owner, unit_place, unit_what = array("q"), array("q"), array("q")
        unit_lat, unit_lon = array("d"), array("d")
        unit_hours: list[tuple[WeeklySchedule, ...]] = []
        interned: dict[tuple[WeeklySchedule, ...], tuple[WeeklySchedule, ...]] = {}
        # The languages a search asks about are read from these (few distinct sets), never from the records.
        languages: dict[frozenset[str], int] = {}
        language_class = array("q")
        # Organisations and locations numbered as first read (renumbered in id order below), and the minimum age.
        organisations: dict[str, int] = {}
        organisation, recorded_min_age = array("q"), array("q")
        places: dict[str, int] = {}
        unit_location_read = array("q")
        for read, record in enumerate(records):
            ids.append(record.id)
            for column, value in zip(values, _service_values(record), strict=True):
                column.append(value)
            catchment = record.eligibility.catchment
            if catchment is not None and catchment.type is CatchmentType.districts:
                districts.append((read, catchment.districts))
            door = has_door(record)
            placed = reached_from_offices(record)
            for j, location in enumerate(record.locations if placed else [None]):
                hours = site_schedules(record, location.id) if door and location is not None else line_schedules(record)
                # Many sites keep the same hours (24/7, weekdays 9 to 5, a template's copies): one object each.
                unit_hours.append(interned.setdefault(hours, hours))
                unit_owner.append(read)
                unit_place.append(-1 if location is None else j)
                unit_lat.append(math.nan if location is None else location.latitude)
                unit_lon.append(math.nan if location is None else location.longitude)
                unit_what.append(_REMOTE if location is None else _SITE)
                unit_location_read.append(-1 if location is None else places.setdefault(location.id, len(places)))
            for j, office in enumerate([] if placed else record.locations):
                unit_hours.append(())
                unit_owner.append(read)
                unit_place.append(j)
                unit_lat.append(office.latitude)
                unit_lon.append(office.longitude)
                unit_what.append(_OFFICE)
                unit_location_read.append(places.setdefault(office.id, len(places)))
            review = review_due(record.provenance.verified_at, record.provenance.verify_due)
            due.append(review.toordinal() if review is not None and record.provenance.verified_at else -1)
            spoken = frozenset(record.access.languages)
            language_class.append(languages.setdefault(spoken, len(languages)))
            organisation.append(organisations.setdefault(record.organisation.id, len(organisations)))
            minimum_age = record.eligibility.minimum_age
            recorded_min_age.append(-1 if minimum_age is None else minimum_age)
            keeper.add(record)
        n = len(ids)
        order = np.array(sorted(range(n), key=ids.__getitem__), dtype=np.intp)  # positions as read, in id order
        rank = np.empty(n, np.intp)
        rank[order] = np.arange(n)
        columns = {
            name: np.frombuffer(column, dtype=np.int64).astype(dtype)[order]
            for (name, dtype), column in zip(SERVICE_COLUMNS, values, strict=True)
        }
        # Units regrouped by their service's position in id order, each service's in the order it gave them.
        owner_rank = rank[np.frombuffer(unit_owner, dtype=np.int64)]
        unit_order = np.argsort(owner_rank, kind="stable")
        unit_service = owner_rank[unit_order].astype(np.int32)
        unit_location = np.frombuffer(unit_place, dtype=np.int64).astype(np.int32)[unit_order]
        lat = np.frombuffer(unit_lat, dtype=np.float64)[unit_order]
        lon = np.frombuffer(unit_lon, dtype=np.float64)[unit_order]
        what = np.frombuffer(unit_what, dtype=np.int64)[unit_order]
        place_ids, place_codes = _renumbered(places)
        read_codes = np.frombuffer(unit_location_read, dtype=np.int64)[unit_order]
        location_code = np.append(place_codes, np.int32(-1))[read_codes]  # -1 (a remote unit) reads the -1 appended
        organisation_ids, organisation_codes = _renumbered(organisations)
        units = np.arange(unit_service.size, dtype=np.int32)
        sites = units[what == _SITE]
        keys = np.floor(lat[sites] / GRID_ROW_DEG) * ROW_SPAN + (lon[sites] + 180.0)  # grid_key, vectorised
        by_key = np.lexsort((sites, lon[sites], lat[sites], keys))
        entry_unit, entry_lat, entry_lon = sites[by_key], lat[sites][by_key], lon[sites][by_key]
        office_units = units[what == _OFFICE]
        members: dict[str, list[int]] = {}
        for read, codes in districts:
            for code in codes:
                members.setdefault(code, []).append(int(rank[read]))
        sorted_ids = [ids[i] for i in order]
        if twice := next((a for a, b in pairwise(sorted_ids) if a == b), None):
            # The store cannot hold two (a primary key); a caller passing two would get answers from either.
            raise ValueError(f"service id {twice!r} is given twice")
        services = keeper.finish(order.tolist())
        # A packed directory keeps no object per service beside its arrays: ids and instants compact too.
        compact = isinstance(services, PackedRecords)
        instants: Sequence[datetime | None] = [modified.get(service) for service in sorted_ids]
        instants = Instants(instants) if compact and Instants.holds(instants) else tuple(instants)
        classes, class_service = _eligibility_classes(columns)
        words = _words(columns)
        word_classes, word_class_service = _classes([words.view(np.int64), columns["min_age"], columns["max_age"]])
        lat_rad, lon_rad = np.radians(entry_lat), np.radians(entry_lon)
        return cls(
            services=services,
            last_modified=instants,
            version=version,
            built_at=built_at,
            hours=CompiledWeek.compile(
                [unit_hours[i] for i in unit_order.tolist()], columns["temporarily_closed"][unit_service].tolist()
            ),
            temporarily_closed=columns["temporarily_closed"],
            kind=columns["kind"],
            active=columns["active"],
            safety_net=columns["safety_net"],
            min_age=columns["min_age"],
            max_age=columns["max_age"],
            referral=columns["referral"],
            referral_known=columns["referral_known"],
            needs=columns["needs"],
            access_yes=columns["access_yes"],
            access_no=columns["access_no"],
            access_met=_access_met(columns),
            no_premises=columns["no_premises"],
            modes=columns["modes"],
            language_class=np.frombuffer(language_class, dtype=np.int64).astype(np.int32)[order],
            language_sets=tuple(languages),
            intoxicated=columns["intoxicated"],
            substances=columns["substances"],
            genders=columns["genders"],
            gp_required=columns["gp_required"],
            catchment=columns["catchment"],
            review_due=np.frombuffer(due, dtype=np.int64).astype(np.int32)[order],
            word=words,
            eligibility_class=classes,
            class_service=class_service,
            word_class=word_classes,
            word_class_service=word_class_service,
            unit_class=word_classes[unit_service],
            unit_service=unit_service,
            unit_location=unit_location,
            first_unit=np.searchsorted(unit_service, np.arange(n + 1)).astype(np.int32),
            remote=units[what == _REMOTE],
            district_members={code: np.array(sorted(rows), dtype=np.int32) for code, rows in members.items()},
            entry_unit=entry_unit,
            unit_entry=_inverse(entry_unit, unit_service.size),
            entry_key=np.ascontiguousarray(keys[by_key]),
            entry_lat=entry_lat,
            entry_lon=entry_lon,
            entry_xyz=np.stack([np.cos(lat_rad) * np.cos(lon_rad), np.cos(lat_rad) * np.sin(lon_rad), np.sin(lat_rad)]),
            offices=np.column_stack([office_units, lat[office_units], lon[office_units]]).astype(np.float64),
            position=Positions(sorted_ids) if compact else {service: i for i, service in enumerate(sorted_ids)},
            recorded_min_age=np.frombuffer(recorded_min_age, dtype=np.int64).astype(np.int16)[order],
            organisation=organisation_codes[np.frombuffer(organisation, dtype=np.int64)[order]],
            organisation_ids=Positions(organisation_ids),
            location_code=location_code,
            location_ids=Positions(place_ids),
        )

    def near(self, latitude: float, longitude: float, radius_km: float) -> tuple[I32, F64]:
        """(unit, distance km) for every place within the radius, nearest first: sites, and offices (few)."""
        units, distance = self.within(latitude, longitude, radius_km)
        if self.offices.size:
            office_km = haversine_km(latitude, longitude, self.offices[:, 1], self.offices[:, 2])
            inside = office_km <= radius_km
            units = np.concatenate([units, self.offices[inside, 0].astype(np.int32)])
            distance = np.concatenate([distance, office_km[inside]])
        order = np.argsort(distance, kind="stable")
        return units[order], distance[order]

    def within(self, latitude: float, longitude: float, radius_km: float) -> tuple[I32, F64]:
        """(unit, distance km) for every site within the radius, in grid order (the search ranks them itself)."""
        sites = self.sites_within(latitude, longitude, radius_km)
        return self.entry_unit[sites.inside], sites.distance

    def sites_within(self, latitude: float, longitude: float, radius_km: float, inner: Sites | None = None) -> Sites:
        """The sites within the radius. Given the sites within a smaller radius around the same point, only the
        sites the wider one adds are measured and returned (`inside`, `distance`; in no particular order), as a
        search widening its ring needs them: the inner ones keep what was worked out for them."""
        limit = _chord_limit(radius_km)
        if inner.whole if inner is not None else self.entry_key.size <= WHOLE_SCAN_SITES:
            return self._every_site(latitude, longitude, limit, inner)
        first_row, first, last = self._box(latitude, longitude, radius_km)
        if inner is None:
            box = _slices(first, last)
            chord2 = self._chord2(latitude, longitude, box)
            inside = np.flatnonzero(chord2 <= limit)
            added, added_chord2 = box[inside], chord2[inside]
        else:
            # The inner box lies within the outer one, grid row by grid row (its rows are a run of the outer rows and
            # each of its slices lies within the outer slice of that row): measure only the outer slices' ends.
            start = inner.first_row - first_row
            inner_first, inner_last = first.copy(), first.copy()  # an empty inner slice on rows it does not cross
            inner_first[start : start + inner.first.size] = inner.first
            inner_last[start : start + inner.last.size] = inner.last
            fresh = _slices(np.concatenate([first, inner_last]), np.concatenate([inner_first, last]))
            fresh_chord2 = self._chord2(latitude, longitude, fresh)
            box = np.concatenate([inner.box, fresh])
            chord2 = np.concatenate([inner.chord2, fresh_chord2])
            # Sites in the inner box but beyond the inner radius, and sites outside the inner box: all new.
            between = np.flatnonzero((inner.chord2 > inner.limit) & (inner.chord2 <= limit))
            beyond = np.flatnonzero(fresh_chord2 <= limit)
            added = np.concatenate([inner.box[between], fresh[beyond]])
            added_chord2 = np.concatenate([inner.chord2[between], fresh_chord2[beyond]])
        return Sites(first_row, first, last, box, chord2, limit, added, _distance(added_chord2))

    def distances(self, latitude: float, longitude: float, units: I32) -> F64:
        """Each unit's distance (km) from the point, to the metre as sites_within measures it (so a site is beyond
        a radius here exactly when it is beyond it there); NaN for a unit with no site."""
        entries = self.unit_entry[units]
        found = np.full(units.size, np.nan)
        sited = entries >= 0
        found[sited] = _distance(self._chord2(latitude, longitude, entries[sited].astype(np.intp)))
        return found

    def _every_site(self, latitude: float, longitude: float, limit: float, inner: Sites | None) -> Sites:
        """sites_within for a small directory: every site measured, in entry order (the order the box gives), with
        no box to find first; widening then measures nothing again."""
        if inner is None:
            box = np.arange(self.entry_key.size)
            chord2 = self._chord2(latitude, longitude, slice(None))
            added = np.flatnonzero(chord2 <= limit)
        else:
            box, chord2 = inner.box, inner.chord2
            added = np.flatnonzero((chord2 > inner.limit) & (chord2 <= limit))
        empty = np.zeros(0, np.intp)
        return Sites(0, empty, empty, box, chord2, limit, added, _distance(chord2[added]), whole=True)

    def _box(
        self, latitude: float, longitude: float, radius_km: float
    ) -> tuple[int, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """The first grid row a circle crosses, and per grid row from there the slice [first, last) of the entries
        in the circle's bounding box."""
        # Scalars with math, arrays with numpy: a numpy call on one float costs ~1 µs, math's ~50 ns.
        band = math.degrees(radius_km / EARTH_RADIUS_KM)
        # Longitude degrees shrink with latitude; widen the box by the band's poleward edge so nothing is lost.
        lon_band = band / max(math.cos(math.radians(min(abs(latitude) + band, 89.0))), 1e-6)
        first_row = _grid_row(latitude - band)
        rows = np.arange(first_row, _grid_row(latitude + band) + 1, dtype=np.float64) * ROW_SPAN
        west = rows + max(longitude - lon_band + 180.0, 0.0)
        east = rows + min(longitude + lon_band + 180.0, ROW_SPAN - 1e-9)
        return (
            first_row,
            np.searchsorted(self.entry_key, west, side="left"),
            np.searchsorted(self.entry_key, east, side="right"),
        )

    def _chord2(self, latitude: float, longitude: float, entries: npt.NDArray[np.intp] | slice) -> F64:
        """Each entry's squared chord length to the point, on the unit sphere."""
        phi, lam = math.radians(latitude), math.radians(longitude)
        x, y, z = self.entry_xyz[:, entries]
        chord2: F64 = (
            (x - math.cos(phi) * math.cos(lam)) ** 2
            + (y - math.cos(phi) * math.sin(lam)) ** 2
            + (z - math.sin(phi)) ** 2
        )
        return chord2

    def district_mask(self, district: str) -> B:
        """Per service, whether its district catchment lists `district`: one array per district, for the districts
        searched lately (a gather is far cheaper than searching the member list for each candidate). Kept apart
        from `memo`: sharing its bound with the per-district local lines, masks were dropped as soon as searches
        had come from a few hundred districts, and rebuilt on almost every search."""
        found = self._district_masks.get(district)
        if found is None:
            if len(self._district_masks) >= DISTRICT_MASKS:
                self._district_masks.popitem(last=False)
            found = np.zeros(len(self.services), np.bool_)
            found[self.district_members.get(district, np.zeros(0, np.int32))] = True
            self._district_masks[district] = found
        else:
            self._district_masks.move_to_end(district)
        return found

    def open_states_at(self, minute: datetime) -> dict[StateKey, OpenState]:
        """The open states worked out so far at this whole minute, by unit and by hours (see StateKey), for the
        search to read and add to. Only the latest few minutes are kept: searches are about now, give or take."""
        # Keyed by the real instant: in October's repeated hour one London wall time is two different minutes
        # (and aware datetimes in one zone compare by wall time).
        key = int(minute.timestamp())
        found = self._states.get(key)
        if found is None:
            if len(self._states) >= MEMO_MINUTES:
                self._states.clear()
            found = self._states[key] = {}
        return found

    def stale(self, today: date) -> B:
        result: B = self.review_due < today.toordinal()
        return result


def _access_met(columns: Mapping[str, npt.NDArray[Any]]) -> U32:
    premises = np.where(columns["no_premises"], np.uint32(PREMISES_ACCESS), np.uint32(0)).astype(np.uint32)
    met: U32 = columns["access_yes"] | premises
    return met


def _words(columns: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.uint64]:
    c = {name: values.astype(np.uint64) for name, values in columns.items()}
    flags = (
        (Word.SAFETY_NET, columns["safety_net"]),
        (Word.ACTIVE, columns["active"]),
        (Word.SELF_ACCESS, columns["referral_known"] & ((columns["referral"] & SELF_ROUTES_MASK) != 0)),
        (Word.REFERRAL_UNKNOWN, ~columns["referral_known"]),
        (Word.GP_REQUIRED, columns["gp_required"]),
        (Word.CATCHMENT_UNKNOWN, columns["catchment"] == CATCHMENT_CODES[None]),
        (Word.CATCHMENT_NOT_ENGLAND, columns["catchment"] != CATCHMENT_CODES[CatchmentType.england]),
        (Word.CATCHMENT_DISTRICTS, columns["catchment"] == CATCHMENT_CODES[CatchmentType.districts]),
        (Word.AGE_LIMITED, (columns["min_age"] != NO_MIN_AGE) | (columns["max_age"] != NO_MAX_AGE)),
        (Word.GENDER_LIMITED, columns["genders"] != 0),
        (Word.INTOXICATED_UNKNOWN, columns["intoxicated"] == UNKNOWN),
        (Word.SUBSTANCES_UNKNOWN, columns["substances"] == UNKNOWN),
        (Word.REFUSES_INTOXICATED, columns["intoxicated"] == 0),
        (Word.REFUSES_SUBSTANCES, columns["substances"] == 0),
        (Word.PROFESSIONAL_ACCESS, columns["referral_known"] & ((columns["referral"] & PROFESSIONAL_ROUTES_MASK) != 0)),
    )
    word = (
        (c["needs"] << np.uint64(Word.NEEDS))
        | (_access_met(columns).astype(np.uint64) << np.uint64(Word.ACCESS))
        | (c["modes"] << np.uint64(Word.MODES))
        | (c["kind"] << np.uint64(Word.KIND))
        | (c["genders"] << np.uint64(Word.GENDERS))
    )
    for bit, on in flags:
        word |= np.where(on, np.uint64(bit), np.uint64(0))
    result: npt.NDArray[np.uint64] = word
    return result


ELIGIBILITY_COLUMNS = (
    "min_age",
    "max_age",
    "genders",
    "catchment",
    "referral",
    "referral_known",
    "intoxicated",
    "substances",
    "gp_required",
)


def _eligibility_classes(columns: Mapping[str, npt.NDArray[Any]]) -> tuple[I32, I32]:
    """Each service's eligibility class, and one service of each class."""
    return _classes([columns[name] for name in ELIGIBILITY_COLUMNS])


def _classes(columns: Sequence[npt.NDArray[Any]]) -> tuple[I32, I32]:
    """Per service, the class of services whose values in all these columns are equal; and one service of each."""
    stacked = np.stack([column.astype(np.int64) for column in columns], axis=1)
    if not stacked.size:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    # Grouped by a lexsort, not np.unique(axis=0): that sorts the rows as raw bytes holding the GIL, 0.4 s at 100,000
    # services during which every search in flight waited for a rebuild (benchmarks/bench_rebuild.py).
    order = np.lexsort(stacked.T[::-1])
    ordered = stacked[order]
    starts = np.ones(order.size, np.bool_)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(order.size, np.int32)
    inverse[order] = np.cumsum(starts) - 1
    return inverse, order[starts].astype(np.int32)  # lexsort is stable: each class's first service in order


@dataclass(frozen=True, slots=True)
class Sites:
    """The sites within a radius of a point (see DirectoryIndex.sites_within), and the box measured to find them."""

    first_row: int
    first: npt.NDArray[np.intp]  # per grid row from first_row, the box's slice [first, last) of entries
    last: npt.NDArray[np.intp]
    box: npt.NDArray[np.intp]  # every entry in the box (any order), and its squared chord to the point
    chord2: F64
    limit: float  # the squared chord of the radius
    inside: npt.NDArray[np.intp]  # entries within the radius (only the ones added, when widened) and their km
    distance: F64
    whole: bool = False  # every entry measured (a small directory): `box` is every entry, `first`/`last` empty


def _renumbered(numbered: Mapping[str, int]) -> tuple[list[str], I32]:
    """The ids numbered as first read, sorted; and per number as read, the id's position among them."""
    ids = sorted(numbered)
    codes = np.zeros(len(ids), np.int32)
    codes[np.array([numbered[key] for key in ids], dtype=np.intp)] = np.arange(len(ids), dtype=np.int32)
    return ids, codes


def _inverse(entry_unit: I32, units: int) -> I32:
    found = np.full(units, -1, np.int32)
    found[entry_unit] = np.arange(entry_unit.size, dtype=np.int32)
    return found


def _distance(chord2: F64) -> F64:
    # Same sphere and the same great-circle distance as haversine_km: chord c = 2 sin(d / 2R).
    distance: F64 = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(np.sqrt(chord2) / 2, 1.0))
    return distance


def _chord_limit(radius_km: float) -> float:
    return (2 * math.sin(min(radius_km / EARTH_RADIUS_KM, math.pi) / 2)) ** 2


def _slices(first: npt.NDArray[np.intp], last: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """The slices [first, last), concatenated: one arange shifted per slice."""
    counts = last - first
    result: npt.NDArray[np.intp] = np.arange(int(counts.sum())) + np.repeat(
        first - (np.cumsum(counts) - counts), counts
    )
    return result


def _grid_row(latitude: float) -> int:
    return math.floor(latitude / GRID_ROW_DEG)


def grid_key(latitude: float, longitude: float) -> float:
    return _grid_row(latitude) * ROW_SPAN + (longitude + 180.0)


def haversine_km(lat: float, lon: float, lats: F64, lons: F64) -> F64:
    phi1, phi2 = np.radians(lat), np.radians(lats)
    dphi = phi2 - phi1
    dlambda = np.radians(lons - lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    result: F64 = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return result


def ids_starting_with(position: Mapping[str, int], prefix: str) -> Iterator[tuple[str, int]]:
    """(id, position) of the services whose id starts with `prefix`: a packed directory's by a range of its sorted
    ids, never by reading a million of them."""
    if isinstance(position, Positions):
        return position.starting_with(prefix)
    return ((service, at) for service, at in position.items() if service.startswith(prefix))


def site_schedules(record: ServiceRecord, location_id: str) -> tuple[WeeklySchedule, ...]:
    """A site's hours, as ServiceRecord.hours_at reads them (its own, keeping the service's dated closures)."""
    return tuple(s.to_domain() for s in record.hours_at(location_id))


def has_door(record: ServiceRecord) -> bool:
    """Whether the service has a place to go: one with a location, by its kind where the kind says, else by its ways
    in. A place people go to or stay in (PLACE_KINDS) has a door whatever ways in it lists: a referral-only crisis
    house lists the phone it is referred by, and read as a line it passed every premises need (a wheelchair user
    was offered it though its record said no wheelchair access) and lost its address. A line (LINE_KINDS) has none
    unless it lists in person: a phone line's office is not a door to walk through, and other publishers' HSDS
    never records ways in, so a 24/7 crisis line was searched as a place by its office's hours ("closed until
    Fri 09:00") while the safety net offered it as open. Any other kind is a place unless its recorded ways in leave
    out in person (with none recorded, an address is taken as a door)."""
    return bool(record.locations) and visited_in_person(record)


def visited_in_person(record: ServiceRecord) -> bool:
    """Whether the service is one people go to, by its kind and ways in (has_door, where it has a location too).
    Data quality asks it of a service with no location (coverage/quality.py: no_location)."""
    modes = record.access.contact_modes
    if record.kind in PLACE_KINDS:
        return True
    if record.kind in LINE_KINDS:
        return ContactMode.in_person in modes
    return not modes or ContactMode.in_person in modes


def ways_in(record: ServiceRecord) -> list[ContactMode]:
    """The ways in a search matches (`modes`): those the record lists; in person to a place with a door, and only
    there (has_door);
    by phone for a line that records none (reached_remotely). By the record's list alone, a crisis café whose
    publisher records no ways in was left out by "Only places I can walk into", and a 24/7 crisis line recording
    none by modes=phone, though the safety net offered it. Match reasons and exports read the record itself."""
    # In person only where there is a door: a line listing in person with no location to go to was kept by "Only
    # places I can walk into".
    modes: list[ContactMode] = [mode for mode in record.access.contact_modes if mode is not ContactMode.in_person]
    if has_door(record):
        modes.append(ContactMode.in_person)
    if not record.access.contact_modes and record.kind in LINE_KINDS:
        modes.append(ContactMode.phone)
    return modes


def reached_from_offices(record: ServiceRecord) -> bool:
    """Whether the search finds the service by the distance to its locations: a place to go; or a service with no
    door (a line, by its kind or its ways in: has_door) whose catchment is not recorded, whose offices are all that
    says where it serves. Offered everywhere with no catchment, a city's line answered people the length of England
    it was never set up for; a line with a catchment is remote, searched wherever its catchment reaches."""
    return has_door(record) or (bool(record.locations) and record.eligibility.catchment is None)


def line_schedules(record: ServiceRecord) -> tuple[WeeklySchedule, ...]:
    """A phone line's hours: the service's, whatever hours an office of it keeps; or, with none recorded for the
    service, its sites' hours together (a line with hours kept only on its base answers in them: read as no hours,
    a 24/7 line was left out of the safety net)."""
    wide = [s for s in record.schedules if s.location_id is None]
    return tuple(s.to_domain() for s in wide or record.schedules)
