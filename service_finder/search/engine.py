"""Search: hard filters, eligibility verdicts, open state, a documented score, and the reasons for all of it.

Pure: the caller resolves the location (postcode -> coordinates and district) and passes the index snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import product
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from service_finder.domain.hours_text import WHOLE_DAY, describe_week
from service_finder.domain.opening_hours import HOURS_NOT_RECORDED, OpenState, open_state, to_london, zone_if_repeated
from service_finder.domain.schedule import MINUTES_PER_DAY, BankHolidayPolicy, TimeRange, WeeklySchedule
from service_finder.domain.taxonomy import (
    ACCESS_LABELS,
    KINDS,
    NEED_LABELS,
    REFERRAL_LABELS,
    AccessFeature,
    CatchmentType,
    ContactMode,
    Gender,
    Need,
    ReferralRoute,
    ServiceKind,
)
from service_finder.schemas import (
    Criterion,
    CriterionResult,
    Eligibility,
    Exclusion,
    PersonGender,
    PersonSex,
    QueryEcho,
    Referral,
    ResolvedLocation,
    SafetyNetEntry,
    SearchRequest,
    SearchResponse,
    SearchResult,
    ServiceRecord,
    ServiceSummary,
    Travel,
    Verdict,
)
from service_finder.search import ranking
from service_finder.search.index import (
    CATCHMENT_CODES,
    KIND_CODES,
    NO_MAX_AGE,
    NO_MIN_AGE,
    PREMISES_ACCESS,
    PROFESSIONAL_ROUTES_MASK,
    SELF_ROUTES_MASK,
    UNKNOWN,
    DirectoryIndex,
    Sites,
    Word,
    bit_mask,
    has_door,
    line_schedules,
)
from service_finder.search.safety_net import FALLBACK_SAFETY_NET

I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]

PASS, FAIL, UNKNOWN_RESULT, NOT_ASKED = 1, 0, -1, 2
_RESULT = {PASS: CriterionResult.passed, FAIL: CriterionResult.failed, UNKNOWN_RESULT: CriterionResult.unknown}
SELF_MASK = SELF_ROUTES_MASK
PROFESSIONAL_MASK = PROFESSIONAL_ROUTES_MASK
ANY_CLINICIAN_MASK = bit_mask([ReferralRoute.walk_in, ReferralRoute.self_referral, ReferralRoute.professional])
GENDER_BITS = {
    PersonGender.woman: bit_mask([Gender.women]),
    PersonGender.man: bit_mask([Gender.men]),
    PersonGender.non_binary: bit_mask([Gender.non_binary]),
}
SEX_BITS = {PersonSex.female: GENDER_BITS[PersonGender.woman], PersonSex.male: GENDER_BITS[PersonGender.man]}
REMOTE_MODES = bit_mask([ContactMode.phone, ContactMode.text, ContactMode.online])
SAFETY_NET_ORDER = {ServiceKind.emergency: 0, ServiceKind.crisis_line: 1, ServiceKind.helpline: 2}
CRITERIA = ("age", "gender", "catchment", "referral", "intoxicated", "substance_use", "gp_registration")
CRITERION_COLUMN = {name: column for column, name in enumerate(CRITERIA)}
# With explain=true, services this much further than the radius are listed as left out for distance.
EXPLAIN_RADIUS_FACTOR = 1.5
MAX_EXCLUDED = 25
ONE_DAY = timedelta(days=1)


Model = TypeVar("Model", bound=BaseModel)


def made(cls: type[Model], **values: Any) -> Model:
    """`cls.model_construct(**values)` for values that name every field, as the engine's own do (built from
    validated records and engine values, so not validated again): the same object, without pydantic's pass over
    every field's alias and default, which was half the cost of building a result."""
    if len(values) != len(cls.__pydantic_fields__):
        raise TypeError(f"{cls.__name__} needs every field: {sorted(set(cls.__pydantic_fields__) - set(values))}")
    built = cls.__new__(cls)
    object.__setattr__(built, "__dict__", values)
    object.__setattr__(built, "__pydantic_fields_set__", set(values))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


Value = TypeVar("Value")


def remembered(index: DirectoryIndex, table: str, key: object, bound: int, make: Callable[[], Value]) -> Value:
    """`make()`, remembered in the snapshot's table `table` under `key`; the table is cleared whole when it holds
    `bound` entries. A table of its own per kind of value, cleared whole: searches and coverage (in a worker
    thread) share them, and a dict's get, set and clear are each safe across threads where walking one while
    another writes is not."""
    memo = index.memo.get(table)
    if not isinstance(memo, dict):
        memo = index.memo.setdefault(table, {})
    assert isinstance(memo, dict)
    found = memo.get(key)
    if found is None:
        found = make()
        if len(memo) >= bound:
            memo.clear()
        memo[key] = found
    return cast(Value, found)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Sites near the person (or services reachable remotely), in parallel arrays: one row per unit."""

    unit: I32
    service: I32
    location: I32  # -1 for remote
    distance: F64  # NaN for remote

    def take(self, rows: I32) -> Candidates:
        return Candidates(self.unit[rows], self.service[rows], self.location[rows], self.distance[rows])


def _candidates(index: DirectoryIndex, where: ResolvedLocation | None, radius_km: float) -> Candidates:
    remote = _remote_units(index)
    if where is None:
        units, distance = remote, np.full(remote.size, np.nan)
    else:
        near, near_distance = index.within(where.latitude, where.longitude, radius_km)
        units = np.concatenate([near, remote]).astype(np.int32)
        distance = np.concatenate([near_distance, np.full(remote.size, np.nan)])
    return Candidates(units, index.unit_service[units], index.unit_location[units], distance)


def _remote_units(index: DirectoryIndex) -> I32:
    """Units reachable from anywhere (by phone, text or online): the same for every search of a snapshot."""
    found = index.memo.get("remote-units")
    if found is None:
        found = index.memo["remote-units"] = index.remote[reached_remotely(index, index.remote)]
    assert isinstance(found, np.ndarray)
    return found


def reached_remotely(index: DirectoryIndex, units: I32) -> npt.NDArray[np.bool_]:
    """Per unit with no place to go: whether it is reached from anywhere, by a phone, text or online way in, as the
    `modes` filter reads them (index.ways_in: a line (LINE_KINDS) with no ways in recorded is reached by phone).
    Other publishers' HSDS never records ways in: a 24/7 crisis line was offered in the safety net and left out of
    the results, unexplained."""
    reached: npt.NDArray[np.bool_] = (index.modes[index.unit_service[units]] & REMOTE_MODES) != 0
    return reached


def _criteria(index: DirectoryIndex, ids: I32, request: SearchRequest, where: ResolvedLocation | None) -> dict[str, I8]:
    """Per criterion, per candidate: PASS, FAIL, UNKNOWN_RESULT or NOT_ASKED."""
    matrix, _ = _criteria_and_verdicts(index, ids, request, where)
    return {name: matrix[:, column] for column, name in enumerate(CRITERIA)}


def _criteria_and_verdicts(
    index: DirectoryIndex, ids: I32, request: SearchRequest, where: ResolvedLocation | None
) -> tuple[I8, I8]:
    """Each candidate's criteria (one row each, in CRITERIA's order) and verdict.

    Services whose eligibility columns are all equal get the same results for the same person, so they are worked
    out once per eligibility class (DirectoryIndex.eligibility_class: a few hundred classes, however many services)
    and gathered: two gathers instead of some forty array operations per search. Only a catchment by district or
    by polygon depends on where the person is as well as on the record: those rows are worked out one by one."""
    table, class_verdicts, without_catchment = _class_results(index, request, where)
    classes = index.eligibility_class[ids]
    matrix: I8 = table[classes]
    verdicts: I8 = class_verdicts[classes]
    catchment = index.catchment[ids]
    local = np.flatnonzero(catchment >= CATCHMENT_CODES[CatchmentType.districts])
    if local.size:
        result = _local_catchment(index, ids[local], catchment[local], where)
        matrix[local, CATCHMENT_COLUMN] = result
        # The verdict is the worst of the other criteria's (per class) and this one's.
        verdicts[local] = np.minimum(without_catchment[classes[local]], VERDICT_OF_RESULT[result + 1])
    return matrix, verdicts


# The verdict a single criterion's result gives, indexed by result + 1: unknown -> check, fail -> ineligible, pass ->
# eligible (NOT_ASKED never reaches it: a catchment by district or polygon is always asked).
VERDICT_OF_RESULT = np.array([1, 0, 2], np.int8)
CATCHMENT_COLUMN = CRITERIA.index("catchment")
# Criteria tables kept per snapshot, one per kind of person asked about (age, gender, referral, drinking, drugs).
MAX_MEMO_CLASS_RESULTS = 4096


def _class_results(index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None) -> tuple[I8, I8, I8]:
    """Per eligibility class, for this person: its criteria (a catchment by district or polygon left UNKNOWN_RESULT,
    see _local_catchment), the verdict they give, and the verdict of every criterion but the catchment.
    Remembered per snapshot."""
    person = GENDER_BITS[request.gender] if request.gender else SEX_BITS[request.sex] if request.sex else None
    outside = _outside_england(where)
    key = (
        request.age,
        person,
        request.referral,
        request.referrer,
        request.intoxicated,
        request.uses_substances,
        outside,
    )

    def make() -> tuple[I8, I8, I8]:
        matrix = _class_criteria(index, index.class_service, request, person, outside_england=outside)
        others = np.delete(matrix, CATCHMENT_COLUMN, axis=1)
        return matrix, _matrix_verdicts(matrix), _matrix_verdicts(others)

    return remembered(index, "class-results", key, MAX_MEMO_CLASS_RESULTS, make)


def _class_criteria(
    index: DirectoryIndex, ids: I32, request: SearchRequest, person_bit: int | None, *, outside_england: bool
) -> I8:
    """The criteria of these services (one row each) that depend on the record and the person, not on where the
    person is: every criterion but a catchment by district or polygon, which is UNKNOWN_RESULT here."""
    n = ids.size
    matrix = np.full((n, len(CRITERIA)), NOT_ASKED, np.int8)

    def put(name: str, values: npt.NDArray[Any]) -> None:
        matrix[:, CRITERIA.index(name)] = values

    min_age, max_age = index.min_age[ids], index.max_age[ids]
    limited = (min_age != NO_MIN_AGE) | (max_age != NO_MAX_AGE)
    if request.age is None:
        put("age", np.where(limited, UNKNOWN_RESULT, PASS))
    else:
        put("age", np.where((min_age <= request.age) & (request.age <= max_age), PASS, FAIL))

    genders = index.genders[ids]
    if person_bit is None:
        put("gender", np.where(genders == 0, PASS, UNKNOWN_RESULT))
    else:
        put("gender", np.where((genders == 0) | ((genders & person_bit) != 0), PASS, FAIL))

    england = index.catchment[ids] == CATCHMENT_CODES[CatchmentType.england]
    put("catchment", np.where(england & (not outside_england), PASS, UNKNOWN_RESULT))

    routes, known = index.referral[ids], index.referral_known[ids]
    if request.referral is Referral.self:
        put("referral", np.where(~known, UNKNOWN_RESULT, np.where((routes & SELF_MASK) != 0, PASS, FAIL)))
    else:
        # Any clinician can send someone to a service they can walk into, refer themselves to, or that takes any
        # professional's referral; one taking only a named referrer (GP, NHS 111, A&E, the crisis team) depends on
        # who is asking, which the search is not told: "check", never "eligible" for every clinician.
        # With the referrer named (referrer=nhs_111), a route for it passes and the others fail.
        ok = ANY_CLINICIAN_MASK | (bit_mask([ReferralRoute(request.referrer.value)]) if request.referrer else 0)
        passes = (routes & ok) != 0
        named = (routes & PROFESSIONAL_MASK) != 0 if request.referrer is None else np.zeros(routes.size, np.bool_)
        put("referral", np.where(~known, UNKNOWN_RESULT, np.where(passes, PASS, np.where(named, UNKNOWN_RESULT, FAIL))))

    for name, asked, column in (
        ("intoxicated", request.intoxicated, index.intoxicated),
        ("substance_use", request.uses_substances, index.substances),
    ):
        if asked:
            policy = column[ids]
            put(name, np.where(policy == UNKNOWN, UNKNOWN_RESULT, np.where(policy == 1, PASS, FAIL)))

    put("gp_registration", np.where(index.gp_required[ids], UNKNOWN_RESULT, NOT_ASKED))
    return matrix


def _local_catchment(
    index: DirectoryIndex, ids: I32, catchment: npt.NDArray[np.uint8], where: ResolvedLocation | None
) -> I8:
    """The catchment result of services whose catchment is a list of districts or a polygon, for this location."""
    result = np.full(ids.size, UNKNOWN_RESULT, np.int8)
    districts = catchment == CATCHMENT_CODES[CatchmentType.districts]
    codes = _districts(where)
    if len(codes) == 1:  # the usual case: a full postcode or coordinates are in one district
        result[districts] = np.where(_in_district(index, ids[districts], codes[0]), PASS, FAIL)
    elif codes:
        # Listed for every district the person may be in: pass; for none: fail; for some: nobody can tell.
        listed = sum(_in_district(index, ids[districts], code).astype(np.int8) for code in codes)
        result[districts] = np.where(listed == len(codes), PASS, np.where(listed == 0, FAIL, UNKNOWN_RESULT))
    if where is not None and not districts.all():
        for row in np.flatnonzero(catchment == CATCHMENT_CODES[CatchmentType.polygon]):
            record = index.services[ids[row]]
            geojson = record.eligibility.catchment.geojson if record.eligibility.catchment else None
            if geojson is not None:
                result[row] = PASS if point_in_geojson(where.longitude, where.latitude, geojson) else FAIL
    return result


def _outside_england(where: ResolvedLocation | None) -> bool:
    """Whether the location is, or may be, outside England (coordinates whose nearest postcode is in Wales or
    Scotland; a postcode district astride the border, with Welsh or Scottish districts): an England-wide catchment
    then cannot be confirmed. Without a location, or a known country, it is taken to be in England, the
    directory's area."""
    if where is None:
        return False
    if where.country is not None and where.country != "england":
        return True
    return any(not code.startswith("E") for code in where.district_codes)  # GSS codes: E England, W, S


def _districts(where: ResolvedLocation | None) -> list[str]:
    """Every district the person may be in (see ResolvedLocation.district_codes); empty when not known."""
    if where is None:
        return []
    return where.district_codes or ([where.district_code] if where.district_code else [])


def _in_district(index: DirectoryIndex, ids: I32, district: str) -> npt.NDArray[np.bool_]:
    """Whether each service's district catchment lists `district`."""
    found: npt.NDArray[np.bool_] = index.district_mask(district)[ids]
    return found


def _verdicts(criteria: Mapping[str, I8]) -> I8:
    return _matrix_verdicts(np.stack(list(criteria.values()), axis=1))


def _matrix_verdicts(matrix: I8) -> I8:
    """Per row of criteria: 0 ineligible (any failed), 1 check (any unknown), 2 eligible."""
    failed = (matrix == FAIL).any(axis=1)
    unknown = (matrix == UNKNOWN_RESULT).any(axis=1)
    verdicts: I8 = np.where(failed, 0, np.where(unknown, 1, 2)).astype(np.int8)
    return verdicts


def point_in_geojson(x: float, y: float, geojson: Mapping[str, object]) -> bool:
    """Ray casting over a GeoJSON Polygon or MultiPolygon (holes respected)."""
    polygons = geojson.get("coordinates", [])
    if geojson.get("type") == "Polygon":
        polygons = [polygons]
    inside = False
    for polygon in polygons if isinstance(polygons, list) else []:
        rings = list(polygon)
        if rings and _in_ring(x, y, rings[0]) and not any(_in_ring(x, y, hole) for hole in rings[1:]):
            inside = True
    return inside


def _in_ring(x: float, y: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


@dataclass(slots=True)
class _Stages:
    """Why candidates were left out: one boolean mask per filter, over all candidates. Each candidate is left out by
    the first filter it fails, so the masks do not overlap. Reasons are written only for the few shown."""

    masks: list[tuple[npt.NDArray[np.bool_], str]]

    def add(self, mask: npt.NDArray[np.bool_], reason: str) -> None:
        if mask.any():
            self.masks.append((mask, reason))

    def union(self, size: int) -> npt.NDArray[np.bool_]:
        result = np.zeros(size, np.bool_)
        for mask, _ in self.masks:
            result |= mask
        return result

    def reason(self, row: int) -> str:
        return next(reason for mask, reason in self.masks if mask[row])


def unnamed(district: str) -> str | None:
    """District names when no gazetteer is loaded: none (sentences show the code). One function, not a lambda per
    search, because it is part of the eligibility memo's key."""
    return None


STRAIGHT_LINE = SearchResult.model_fields["distance_basis"].default
NO_HOURS_REASON = "opening hours not recorded, so never shown as open: phone to check"
LINE_OPEN_REASON = "its phone line is open now (see the safety net)"
NO_LOCATION_REASON = "only for people living in its area: give a postcode or location to see if it covers you"
NO_DISTRICT_REASON = "only for people living in its area, and the area of this location is not known"
INELIGIBLE, CLOSED, TEMPORARILY_CLOSED = "\0ineligible", "\0closed", "\0temporarily-closed"


def search(
    index: DirectoryIndex,
    request: SearchRequest,
    *,
    location: ResolvedLocation | None,
    at: datetime,
    today: date,
    district_name: Callable[[str], str | None] = unnamed,
    stale_index: bool = False,
) -> SearchResponse:
    at = to_london(at)
    radius = request.radius_km * (EXPLAIN_RADIUS_FACTOR if request.explain else 1.0)
    state = _states_at(index, at)

    # Look near first: a site further than `ring` scores at most best_possible - 1.5 per km beyond it, so once the
    # last result scores above that, nothing further can enter. Widen (to where something still could) only when
    # not. The answer is always the one a search of the whole radius gives (tests/search/test_pruning.py).
    ring = min(radius, first_ring_km(index.entry_unit.size)) if location is not None else radius
    gathered = None
    found = None
    while True:
        candidates, found, left_out, gathered = _search_within(
            index, location, ring, request, at, today, state, gathered, found
        )
        wider = _wider_ring(index, found, left_out, candidates, request, location, ring, radius)
        if wider is None:
            break
        ring = wider

    units = candidates.unit
    response_results = [
        _result(
            index,
            candidates,
            result_row,
            rank,
            final,
            arrival,
            state(int(units[result_row])),
            {name: int(column[result_row]) for name, column in found.criteria.items()},
            int(found.verdicts[result_row]),
            request,
            location,
            at,
            today,
            district_name,
        )
        for rank, (final, result_row, arrival) in enumerate(found.top, start=1)
    ]
    net = safety_net(index, request, location, at=at, state=state, today=today)
    explained = None
    if request.explain:
        offered = frozenset(entry.id for entry in net)
        explained = _exclusions(
            index, candidates, left_out, found.stages, found.criteria, state, request, location, district_name, offered
        )
    return made(
        SearchResponse,
        query=made(QueryEcho, request=request, location=location, at=at),
        results=response_results,
        safety_net=net,
        excluded=explained,
        data_version=index.version,
        index_built_at=index.built_at,
        stale_index=stale_index,
    )


def _states_at(index: DirectoryIndex, at: datetime) -> Callable[[int], OpenState]:
    """A unit's open state at `at`. Sessions start and end on whole minutes, so a site's open state is the same all
    through a minute (closing "in N minutes" rounds up either way): states are shared by every search in the same
    minute of a snapshot."""
    minute = to_london(at).replace(second=0, microsecond=0)
    states = index.open_states_at(minute)
    hours = index.hours

    def state(unit: int) -> OpenState:
        found = states.get(unit)
        if found is None:
            # A state depends only on the unit's hours and whether it is temporarily closed: units with equal
            # schedules share one prepared form, so their state is worked out once per minute for all of them
            # (a site's first search in a minute was most of the cost of building its result).
            hours_key = (id(hours.prepared[unit]), bool(hours.temporarily_closed[unit]))
            found = states.get(hours_key)
            if found is None:
                found = states[hours_key] = hours.open_states([unit], minute)[0]
            states[unit] = found
        return found

    return state


def _search_within(
    index: DirectoryIndex,
    location: ResolvedLocation | None,
    ring: float,
    request: SearchRequest,
    at: datetime,
    today: date,
    state: Callable[[int], OpenState],
    inner: _Gathered | None,
    inner_found: _Found | None,
) -> tuple[Candidates, _Found, list[int], _Gathered]:
    """The answer among the sites within `ring` km (and every remote service), evaluating the most promising
    first and widening only when something left unevaluated could still change it. `inner`: what a search of a
    smaller ring gathered, kept rather than gathered and measured again; `inner_found`: its answer."""
    everything = _gather(index, location, ring, inner)
    first = max(FIRST_SLICE, SLICE_PER_RESULT * request.limit)
    # Few candidates (a town, or no location): evaluate them all, without working out ceilings first.
    few = max(first, EVALUATE_ALL)
    ceiling = everything.ceilings(index, request, location, at, today) if everything.unit.size > few else None
    # A wider ring holds the smaller one's rows (its nearest the same), so starts where the smaller one settled:
    # starting again from the first slice repeated every pass it took, and the ring widens mostly by a little
    # (the first ring is nearly the radius at 100k) or for exclusions, which need the same nearest rows again.
    size, nearest = max(first, everything.size), max(NEAREST_SLICE, everything.nearest)
    if ceiling is not None and inner_found is not None:
        size = max(size, _could_enter(ceiling, inner_found, request))
    while True:
        chosen = (
            None
            if ceiling is None
            else _most_promising(everything.distance, ceiling, size, nearest, explain=request.explain)
        )
        candidates = everything.candidates(index, chosen)
        found = _evaluate(index, candidates, request, location, at, today, state)
        shown = {int(candidates.service[row]) for _, row, _ in found.top}
        left_out = _left_out(index, candidates, found, shown, location) if request.explain else []
        if (
            chosen is None
            or ceiling is None
            or _settled(everything.distance, ceiling, chosen, found, left_out, candidates, request)
        ):
            everything.size, everything.nearest = size, nearest
            return candidates, found, left_out, everything
        size = max(size * SLICE_GROWTH, _could_enter(ceiling, found, request))
        nearest *= SLICE_GROWTH


def _could_enter(ceiling: F64, found: _Found, request: SearchRequest) -> int:
    """How many rows could still enter the results (their ceiling is at least the last result's score: ties could,
    as in _settled), given `found` from some of the rows; 0 if fewer results than asked for (any row could).
    Evaluating at least these rows settles the results in one more pass (the last result of more rows scores at
    least as much), where growing by SLICE_GROWTH alone may take several."""
    if len(found.top) < request.limit:
        return 0
    return int(np.count_nonzero(ceiling >= found.top[-1][0]))


@dataclass(slots=True)
class _Gathered:
    """The candidates within a ring, one row each: every remote unit first, then the sites (the ring's own, then
    those each widening added). `order` is a row's place in the candidates' canonical order (_candidates': sites in
    grid order, then remote units), so the rows evaluated are always in that order, however they were gathered:
    ties (two sites of a service at one distance) then resolve as a search of the whole radius resolves them."""

    sites: Sites | None
    order: npt.NDArray[np.intp]
    unit: I32
    distance: F64  # NaN for remote
    ceiling: F64 | None  # the first rows' ceilings, once worked out (widening adds rows after them)
    # The slices (see _most_promising) a search of these rows settled at; 0 before one has.
    size: int = 0
    nearest: int = 0

    def ceilings(
        self, index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None, at: datetime, today: date
    ) -> F64:
        done = 0 if self.ceiling is None else self.ceiling.size
        if done < self.unit.size:
            remote = _remote_units(index).size
            parts = [] if self.ceiling is None else [self.ceiling]
            if done < remote:
                km = np.full(remote, ranking.REMOTE_EQUIVALENT_KM)
                parts.append(_unit_ceilings(index, self.unit[:remote], km, request, where, at, today, located=False))
            sites = slice(max(done, remote), None)
            parts.append(
                _unit_ceilings(index, self.unit[sites], self.distance[sites], request, where, at, today, located=True)
            )
            self.ceiling = np.concatenate(parts)
        assert self.ceiling is not None
        return self.ceiling

    def candidates(self, index: DirectoryIndex, rows: I32 | None) -> Candidates:
        """These rows (None: all) as candidates, in the canonical order."""
        picked: npt.NDArray[np.intp] = (
            np.argsort(self.order) if rows is None else rows[np.argsort(self.order[rows])].astype(np.intp)
        )
        units = self.unit[picked]
        return Candidates(units, index.unit_service[units], index.unit_location[units], self.distance[picked])


def _gather(index: DirectoryIndex, where: ResolvedLocation | None, ring: float, inner: _Gathered | None) -> _Gathered:
    """The rows within `ring` km (see _Gathered): `inner`'s, and the sites the wider ring adds."""
    remote = _remote_units(index)
    sites = index.entry_unit.size
    if where is None:
        return _Gathered(None, sites + np.arange(remote.size), remote, np.full(remote.size, np.nan), None)
    found = index.sites_within(where.latitude, where.longitude, ring, None if inner is None else inner.sites)
    units = index.entry_unit[found.inside]
    if inner is None:
        return _Gathered(
            found,
            np.concatenate([sites + np.arange(remote.size), found.inside]),
            np.concatenate([remote, units]).astype(np.int32),
            np.concatenate([np.full(remote.size, np.nan), found.distance]),
            None,
        )
    return _Gathered(
        found,
        np.concatenate([inner.order, found.inside]),
        np.concatenate([inner.unit, units]),
        np.concatenate([inner.distance, found.distance]),
        inner.ceiling,
        inner.size,
        inner.nearest,
    )


def _best_possible(index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None) -> float:
    """The most any site could score for this request before distance: the ceiling of the word class that can score
    most (one whose catchment is a list of districts only if some service listing the person's district has it),
    open now and verified. Tighter than every term at its best: no class may match all the needs asked about."""
    classes = _class_ceilings(index, request, where)
    ceiling = classes.ceiling
    if classes.by_district is not None:
        listing = [index.district_members.get(code) for code in _districts(where)]
        members = np.concatenate([ids for ids in listing if ids is not None] or [np.zeros(0, np.int32)])
        best = max(
            float(ceiling[~classes.by_district].max(initial=-np.inf)),
            float(ceiling[index.word_class[members]].max(initial=-np.inf)),
        )
    else:
        best = float(ceiling.max(initial=-np.inf))
    return best + ranking.OPEN_NOW + ranking.VERIFIED


def _wider_ring(
    index: DirectoryIndex,
    found: _Found,
    left_out: list[int],
    candidates: Candidates,
    request: SearchRequest,
    where: ResolvedLocation | None,
    ring: float,
    radius: float,
) -> float | None:
    """None when no site beyond `ring` km could change the answer; else the ring to search next."""
    if ring >= radius:
        return None
    wanted = ring
    if len(found.top) < request.limit:
        wanted = radius  # fewer results than asked for: anything further might be one
    else:
        # A site beyond `ring` scores below best_possible - 1.5 x ring (strictly: ties break by id, so they count).
        reach = (_best_possible(index, request, where) - found.top[-1][0]) / -ranking.DISTANCE_PER_KM
        if reach > ring:
            wanted = max(reach, ring * 2)
    if request.explain:
        last = _nearness(float(candidates.distance[left_out[-1]])) if left_out else np.inf
        if len(left_out) < MAX_EXCLUDED or last >= ring:
            wanted = max(wanted, ring * 2)  # the nearest services left out may lie further
    return None if wanted == ring else min(wanted, radius)


# The first ring searched around a location holds about FIRST_RING_SITES sites where sites are as dense as this
# directory's average over England, and is never under FIRST_RING_KM. A ring that holds too few sites is searched
# again wider (its evaluation wasted, though widening measures only the sites it adds); one that holds too many
# computes ceilings nobody needed. Was 150 (a 7.9 km first ring at 100k: 83% of searches widened), chosen when
# ceilings cost ~25 numpy passes per site; with ceilings per word class, an interleaved A/B at 100k (2,000 queries,
# same process) gave mean 1.99 -> 1.87 ms for 600 sites and 1.95 -> 1.85 for a first ring of the whole radius, and
# 1,500 was level with the whole radius (2.00 / 2.03 ms) while still bounding the first ring at 1M (~7.7 km).
FIRST_RING_KM = 4.0
FIRST_RING_SITES = 1500
ENGLAND_KM2 = 130_279


def first_ring_km(sites: int) -> float:
    """The first ring's radius for a directory of `sites` located sites (see FIRST_RING_SITES)."""
    return max(FIRST_RING_KM, math.sqrt(FIRST_RING_SITES * ENGLAND_KM2 / (math.pi * max(sites, 1))))


# Up to this many candidates a search evaluates them all, without working out score ceilings first: evaluation's
# cost is mostly per numpy call, not per row, so ceilings pay only over many rows. Interleaved A/B
# (benchmarks/ab_engine.py), p50 / p99 ms from 64 to 1024: 1k services 0.34 / 0.79 -> 0.28 / 0.70, 10k
# 0.66 / 2.07 -> 0.60 / 1.92, 100k 1.61 / 4.44 -> 1.44 / 4.10.
EVALUATE_ALL = 1024
# The first evaluation takes the FIRST_SLICE (or SLICE_PER_RESULT x limit) highest ceilings, then SLICE_GROWTH
# times more each time the answer is not yet settled (at least every row that could still enter, _could_enter).
# Sizes trade one wasted pass against evaluating too much. Interleaved A/B at 100k (2,000 queries), p50 / p99 ms:
# FIRST_SLICE 64 -> 256 1.196 / 3.160 -> 1.225 / 3.199, SLICE_GROWTH 4 -> 8 0.934 / 2.431 -> 0.941 / 2.454: both
# lose, so both stay.
FIRST_SLICE = 64
SLICE_PER_RESULT = 4
SLICE_GROWTH = 4
# With explain, the nearest rows evaluated first: enough, usually, to find MAX_EXCLUDED services left out; then
# SLICE_GROWTH times more each time not (it grew with the slice of ceilings, 200 -> 256 -> 1024, before). With
# that, a wider ring starting where the smaller one settled, and _could_enter: at most 4 evaluations a search, not
# 6 (2,000 benchmark queries at 100k: 1.31 -> 1.27 a search, 73 -> 60 searches taking 3 or more). A/B at 100k,
# p50 / p99 ms: 400 0.848 / 2.366 -> 0.861 / 2.411, 800 0.780 / 2.009 -> 0.789 / 2.068: both lose.
NEAREST_SLICE = 8 * MAX_EXCLUDED
# Scores are rounded to 3 decimals; a ceiling this much above the exact sum can never be beaten by rounding.
CEILING_SLACK = 0.01


def _of_kinds(index: DirectoryIndex, ids: I32, kinds: Iterable[ServiceKind]) -> npt.NDArray[np.bool_]:
    wanted = np.zeros(len(KIND_CODES), np.bool_)
    wanted[[KIND_CODES[k] for k in kinds]] = True
    result: npt.NDArray[np.bool_] = wanted[index.kind[ids]]
    return result


def _ceilings(
    index: DirectoryIndex,
    candidates: Candidates,
    request: SearchRequest,
    where: ResolvedLocation | None,
    at: datetime,
    today: date,
) -> F64:
    """Per candidate, a score no evaluation of it can exceed; -inf where a hard filter already rules it out.

    Exact for every term that needs neither exact opening hours nor the full eligibility verdict (distance, needs,
    self-access, specialist fit, staleness, the hard filters, and age when given). Known-eligible is withheld only
    where some criterion is certain to be unknown (the same rules as _criteria, without the costly ones); the open
    term comes from one bit per site saying whether it could be open at all in this hour of the week
    (CompiledWeek.may_be_open, a superset of open now)."""
    located = ~np.isnan(candidates.distance)
    ceiling = np.empty(located.size)
    units = candidates.unit
    ceiling[located] = _unit_ceilings(
        index, units[located], candidates.distance[located], request, where, at, today, located=True
    )
    remote = np.full(int((~located).sum()), ranking.REMOTE_EQUIVALENT_KM)
    ceiling[~located] = _unit_ceilings(index, units[~located], remote, request, where, at, today, located=False)
    return ceiling


def _unit_ceilings(
    index: DirectoryIndex,
    units: I32,
    km: F64,
    request: SearchRequest,
    where: ResolvedLocation | None,
    at: datetime,
    today: date,
    *,
    located: bool,
) -> F64:
    """_ceilings for these units, at these distances (remote ones at REMOTE_EQUIVALENT_KM): the terms of their word
    class (one gather), of the hour and day (one gather), distance, and the person's district."""
    classes = _class_ceilings(index, request, where)
    word_class = index.unit_class[units]
    ceiling: F64 = classes.ceiling[word_class] + _unit_terms(index, at, today, request.open_within_minutes, units)
    ceiling += ranking.DISTANCE_PER_KM * km
    if located and request.explain:  # the candidates reach past the radius, to list what is just beyond it
        ceiling[km > request.radius_km] = -np.inf
    if classes.by_district is not None:
        # A district catchment fails for certain only when it lists none of the person's districts.
        listed = np.flatnonzero(classes.by_district[word_class])
        if listed.size:
            services = index.unit_service[units[listed]]
            codes = _districts(where)
            covered = np.logical_or.reduce([_in_district(index, services, code) for code in codes])
            ceiling[listed[~covered]] = -np.inf
    return ceiling


@dataclass(frozen=True, slots=True)
class _ClassCeilings:
    ceiling: F64  # per word class: every term but opening hours, review date and distance; -inf when ruled out
    by_district: npt.NDArray[np.bool_] | None  # per word class, a district catchment; None: no district known


# Ceiling tables kept per snapshot, one per kind of request (filters and person); cleared whole when full.
MAX_MEMO_CLASS_CEILINGS = 4096


def _class_ceilings(index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None) -> _ClassCeilings:
    """The terms of the ceilings that depend on the record alone, per word class (DirectoryIndex.word_class):
    worked out once per kind of request and snapshot, over a few hundred classes, not once per candidate.
    Remembered as _class_results remembers eligibility."""
    codes = _districts(where)
    key = (
        tuple(request.kinds),
        tuple(request.modes),
        tuple(request.access),
        tuple(request.needs),
        request.age,
        request.gender,
        request.sex,
        request.referral,
        bool(request.intoxicated),
        bool(request.uses_substances),
        where is None,
        bool(codes),
    )
    return remembered(
        index,
        "class-ceilings",
        key,
        MAX_MEMO_CLASS_CEILINGS,
        lambda: _class_ceilings_for(index, request, where, bool(codes)),
    )


def _class_ceilings_for(
    index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None, districts: bool
) -> _ClassCeilings:
    ids = index.word_class_service
    word = index.word[ids]

    def has(bits: int) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = (word & np.uint64(bits)) != 0
        return result

    required = Word.ACTIVE | (bit_mask(request.access) << Word.ACCESS)
    viable = (word & np.uint64(required | Word.SAFETY_NET)) == np.uint64(required)
    if request.kinds:
        wanted = np.zeros(Word.KIND_MASK + 1, np.bool_)
        wanted[[KIND_CODES[k] for k in request.kinds]] = True
        viable &= wanted[(word >> np.uint64(Word.KIND)) & np.uint64(Word.KIND_MASK)]
    if request.modes:
        viable &= has(bit_mask(request.modes) << Word.MODES)
    # The eligibility criteria that fail for certain (FAIL makes a candidate ineligible, so never a result).
    if request.age is not None:
        viable &= (index.min_age[ids] <= request.age) & (request.age <= index.max_age[ids])
    route = Word.SELF_ACCESS if request.referral is Referral.self else Word.PROFESSIONAL_ACCESS
    viable &= has(route | Word.REFERRAL_UNKNOWN)
    if request.intoxicated:
        viable &= ~has(Word.REFUSES_INTOXICATED)
    if request.uses_substances:
        viable &= ~has(Word.REFUSES_SUBSTANCES)
    person = GENDER_BITS[request.gender] if request.gender else SEX_BITS[request.sex] if request.sex else None
    if person is not None:
        viable &= ~has(Word.GENDER_LIMITED) | has(person << Word.GENDERS)
    if where is None:  # as _evaluate: no area-limited service without a location
        viable &= ~has(Word.CATCHMENT_NOT_ENGLAND) | has(Word.CATCHMENT_UNKNOWN)

    unknown = Word.REFERRAL_UNKNOWN | Word.GP_REQUIRED | Word.CATCHMENT_UNKNOWN
    if where is None:
        unknown |= Word.CATCHMENT_NOT_ENGLAND
    elif not districts:
        unknown |= Word.CATCHMENT_DISTRICTS
    if request.age is None:
        unknown |= Word.AGE_LIMITED
    if request.gender is None and request.sex is None:
        unknown |= Word.GENDER_LIMITED
    if request.intoxicated:
        unknown |= Word.INTOXICATED_UNKNOWN
    if request.uses_substances:
        unknown |= Word.SUBSTANCES_UNKNOWN
    ceiling = np.where(has(unknown), 0.0, ranking.KNOWN_ELIGIBLE) + (
        CEILING_SLACK + ranking.ACCESS_MATCH * len(request.access)
    )
    if request.referral is Referral.self:
        ceiling += np.where(has(Word.SELF_ACCESS), ranking.SELF_ACCESS, 0.0)
    if request.needs:  # needs are distinct (SearchRequest drops repeats), so a count of bits is the sum of matches
        needs = word & np.uint64(bit_mask(request.needs) << Word.NEEDS)
        ceiling += ranking.NEED_MATCH * np.bitwise_count(needs)
    ceiling += np.where(_specialist(index, ids, request), ranking.SPECIALIST_FIT, 0.0)
    return _ClassCeilings(np.where(viable, ceiling, -np.inf), has(Word.CATCHMENT_DISTRICTS) if districts else None)


# Per-unit hour-and-day codes kept per snapshot (one byte a unit each: 16 MB at 1M), cleared whole when full:
# searches are about now, so the last few hours serve nearly every search (the benchmarks' seven instants too).
MAX_MEMO_UNIT_TERMS = 16
# A unit's code for an hour and day: COULD_BE_OPEN if it could be open in the hour, plus PAST_REVIEW if its record
# is past its review date.
COULD_BE_OPEN, PAST_REVIEW = 2, 1


def _unit_terms(index: DirectoryIndex, at: datetime, today: date, window: int | None, units: I32) -> F64:
    """Per unit, the ceiling's terms for its opening hours and its review date: the most it can earn for being open
    (OPEN_NOW where it could be open in this hour of the week, CompiledWeek.may_be_open; else what a closed site can
    earn, or -inf where only open sites are asked for) plus VERIFIED or STALE. What they depend on is the same for
    every search in the same hour and day, so it is worked out over every unit once, and gathered."""
    # An hour of UTC is one hour of London's wall clock (its offsets are whole hours): may_be_open's hour of the week.
    key = (int(at.timestamp()) // 3600, today.toordinal())

    def make() -> npt.NDArray[np.int8]:
        could_be_open = index.hours.may_be_open(at, np.arange(index.unit_service.size, dtype=np.int32))
        stale = index.review_due[index.unit_service] < today.toordinal()
        found: npt.NDArray[np.int8] = np.where(could_be_open, COULD_BE_OPEN, 0).astype(np.int8) + np.where(
            stale, PAST_REVIEW, 0
        ).astype(np.int8)
        return found

    codes = remembered(index, "unit-terms", key, MAX_MEMO_UNIT_TERMS, make)
    shut = -np.inf if window == 0 else 0.0 if window is None else ranking.OPENS_SOON
    terms = np.zeros(COULD_BE_OPEN + PAST_REVIEW + 1)
    for could, opening in ((0, shut), (COULD_BE_OPEN, ranking.OPEN_NOW)):
        terms[could] = opening + ranking.VERIFIED
        terms[could + PAST_REVIEW] = opening + ranking.STALE
    result: F64 = terms[codes[units]]
    return result


def _most_promising(distance: F64, ceiling: F64, size: int, nearest: int, *, explain: bool) -> I32 | None:
    """Rows to evaluate: the `size` highest ceilings, and with explain every remote row (few) and the nearest
    `size` or `nearest` (exclusions are listed nearest first). None: evaluate everything."""
    n = ceiling.size
    if n <= size:
        return None
    picked = np.isnan(distance) if explain else np.zeros(n, np.bool_)
    viable = np.flatnonzero(ceiling > -np.inf)
    if viable.size > size:
        viable = viable[np.argpartition(-ceiling[viable], size - 1)[:size]]
    picked[viable] = True
    nearest = max(size, nearest)
    if explain and n > nearest:
        picked[np.argpartition(_nearnesses(distance), nearest - 1)[:nearest]] = True
    elif explain:
        return None
    chosen = np.flatnonzero(picked).astype(np.int32)
    return None if chosen.size == n else chosen


def _settled(
    distance: F64,
    ceiling: F64,
    chosen: I32,
    found: _Found,
    left_out: list[int],
    candidates: Candidates,
    request: SearchRequest,
) -> bool:
    """Whether evaluating the rows not chosen could change the answer. Results: not if none of them could score
    above the last result (ties could, so they count). Exclusions: not if the last one listed is nearer than every
    row not chosen (with explain remote rows are always chosen, so those are all sites at a finite distance)."""
    rest = np.ones(ceiling.size, np.bool_)
    rest[chosen] = False
    best_rest = float(ceiling[rest].max(initial=-np.inf))
    if best_rest > -np.inf and (len(found.top) < request.limit or best_rest >= found.top[-1][0]):
        return False
    if request.explain:
        nearest_rest = float(distance[rest].min(initial=np.inf))
        last = _nearness(float(candidates.distance[left_out[-1]])) if left_out else np.inf
        if nearest_rest < np.inf and (len(left_out) < MAX_EXCLUDED or last >= nearest_rest):
            return False
    return True


def _nearness(distance: float) -> float:
    """A distance to order by nearness: remote (NaN) after every site. math, not np.nan_to_num, whose checks cost
    ~10 µs a call on one number."""
    return math.inf if math.isnan(distance) else distance


def _nearnesses(distance: F64) -> F64:
    """_nearness of each: the array np.nan_to_num(distance, nan=np.inf) gives, in one numpy call, not a dozen."""
    found: F64 = np.where(np.isnan(distance), np.inf, distance)
    return found


@dataclass(frozen=True, slots=True)
class _Found:
    stages: _Stages
    criteria: dict[str, I8]
    verdicts: I8
    top: list[tuple[float, int, Travel | None]]  # (final score, row, travel), best first


def _evaluate(
    index: DirectoryIndex,
    candidates: Candidates,
    request: SearchRequest,
    location: ResolvedLocation | None,
    at: datetime,
    today: date,
    state: Callable[[int], OpenState],
) -> _Found:
    """Every filter, verdict and score over these candidates, and the best `limit` of them."""
    ids = candidates.service
    stages = _Stages([])
    # Filters the caller chose (kinds) or that are not results at all (the safety net, closed-down services) drop
    # silently; every other filter records why, for explain=true.
    keep = _offered(index)[ids]

    def apply(ok: npt.NDArray[np.bool_], reason: str) -> None:
        nonlocal keep
        stages.add(keep & ~ok, reason)
        keep = keep & ok

    if request.kinds:
        keep &= _of_kinds(index, ids, request.kinds)
    if request.explain:  # a remote candidate (NaN) is never further: NaN > radius is False
        apply(~(candidates.distance > request.radius_km), _far_words(request))
    apply(~index.temporarily_closed[ids], TEMPORARILY_CLOSED)
    if request.modes:
        apply((index.modes[ids] & bit_mask(request.modes)) != 0, _modes_words(request))
    for feature in request.access:
        bit = bit_mask([feature])
        met = (index.access_met[ids] & bit) != 0
        # Two reasons, as the record says: it has not got the feature, or it does not say.
        said_no = (index.access_no[ids] & bit) != 0
        apply(met | ~said_no, _access_words(feature, said_no=True))
        apply(met, _access_words(feature, said_no=False))
    if request.language and request.language != "en":
        spoken = np.array([request.language in languages for languages in index.language_sets], dtype=np.bool_)
        speaks = spoken[index.language_class[ids]] if spoken.size else np.zeros(ids.size, np.bool_)
        apply(speaks, _language_words(request.language))

    if location is None:
        # A service only for people in its own area cannot be offered to someone whose area is unknown: ten local
        # lines for other towns, each "check", would bury the national ones (docs/api.md: no local results).
        apply(index.catchment[ids] < CATCHMENT_CODES[CatchmentType.districts], NO_LOCATION_REASON)
    elif not _districts(location):
        # Located, but in no known district (no gazetteer loaded): the same for lines only for their own area,
        # which would otherwise all be "check", in id order; sites of such services are ranked by distance.
        by_district = index.catchment[ids] == CATCHMENT_CODES[CatchmentType.districts]
        apply(~(by_district & (candidates.location < 0)), NO_DISTRICT_REASON)
    matrix, verdicts = _criteria_and_verdicts(index, ids, request, location)
    criteria = {name: matrix[:, column] for column, name in enumerate(CRITERIA)}
    apply(verdicts > 0, INELIGIBLE)

    units = candidates.unit
    # Hours only for the candidates every cheaper filter kept: usually a small share of those evaluated.
    open_now = np.zeros(units.size, np.bool_)
    alive = np.flatnonzero(keep)
    open_now[alive] = index.hours.open_for(at, units[alive])
    window = request.open_within_minutes
    opens_soon = np.zeros(ids.size, np.bool_)
    wait = np.zeros(ids.size)
    if window:
        # The vector pass narrows who could open in the window; the exact engine decides for those only.
        maybe = keep & ~open_now
        maybe[maybe] = index.hours.may_open_within(at, units[maybe], window)
        for row in np.flatnonzero(maybe):
            minutes = state(int(units[row])).minutes_until_open
            if minutes is not None and minutes <= window:
                opens_soon[row] = True
                wait[row] = minutes
    if window is not None:
        apply(open_now | opens_soon, CLOSED)

    rows = np.flatnonzero(keep).astype(np.int32)
    score = _scores(index, candidates, rows, criteria, verdicts, open_now, opens_soon, wait, request, today)
    top = _top(index, candidates, rows, score, open_now, request, state)
    if request.explain and len(top) == request.limit:
        # Open and eligible, but below the last result: without this a nearby open service vanished from both lists
        # (limit=2 showed two phone lines and said nothing of a walk-in safe haven 1.6 km away).
        below = keep.copy()
        below[[row for _, row, _ in top]] = False
        stages.add(below, _ranked_below_words(request))
    return _Found(stages, criteria, verdicts, top)


def _ranked_below_words(request: SearchRequest) -> str:
    return f"ranked below the {request.limit} shown (limit={request.limit})"


def _modes_words(request: SearchRequest) -> str:
    return f"not available {_join(MODE_WORDS[m] for m in request.modes)}"


def _access_words(feature: AccessFeature, *, said_no: bool) -> str:
    return f"no {ACCESS_NOUNS[feature]}" if said_no else f"{ACCESS_NOUNS[feature]} not confirmed"


def _language_words(language: str) -> str:
    return f"does not list language '{language}'"


def _unmet(index: DirectoryIndex, service: int, request: SearchRequest) -> list[str]:
    """Each way in, access feature and language asked for that the service does not offer, in _evaluate's order:
    a row is left out by the first, but a clinician needs every one of them."""
    found = []
    if request.modes and not int(index.modes[service]) & bit_mask(request.modes):
        found.append(_modes_words(request))
    met, said_no = int(index.access_met[service]), int(index.access_no[service])
    for feature in request.access:
        bit = bit_mask([feature])
        if not met & bit:
            found.append(_access_words(feature, said_no=bool(said_no & bit)))
    language = request.language
    if language and language != "en" and language not in index.language_sets[int(index.language_class[service])]:
        found.append(_language_words(language))
    return found


def _offered(index: DirectoryIndex) -> npt.NDArray[np.bool_]:
    """Per service, whether it can be a result at all (see _evaluate): one gather per search instead of three,
    worked out once per snapshot."""
    found = index.memo.get("offered")
    if found is None:
        found = index.memo["offered"] = ~index.safety_net & (index.active | index.temporarily_closed)
    assert isinstance(found, np.ndarray)
    return found


def _scores(
    index: DirectoryIndex,
    candidates: Candidates,
    rows: I32,
    criteria: Mapping[str, I8],
    verdicts: I8,
    open_now: npt.NDArray[np.bool_],
    opens_soon: npt.NDArray[np.bool_],
    wait: F64,
    request: SearchRequest,
    today: date,
) -> F64:
    ids = candidates.service[rows]
    # Every term but distance is a multiple of 0.25, so their sum is exact in any order; distance comes last, as
    # in the ceilings, so a score is the same float whichever way it is worked out.
    score: F64 = np.where(open_now[rows], ranking.OPEN_NOW, 0.0)
    if request.open_within_minutes:
        soon = np.maximum(0.0, ranking.OPENS_SOON + ranking.OPENS_SOON_PER_MINUTE * wait[rows])
        score += np.where(opens_soon[rows], soon, 0.0)
    if request.referral is Referral.self:
        score += ranking.SELF_ACCESS * (criteria["referral"][rows] == PASS)
    score += ranking.KNOWN_ELIGIBLE * (verdicts[rows] == 2)
    if request.needs:  # needs are distinct (SearchRequest drops repeats): a count of bits is the sum of matches
        score += ranking.NEED_MATCH * np.bitwise_count(index.needs[ids] & np.uint32(bit_mask(request.needs)))
    if request.intoxicated or request.uses_substances:
        score += ranking.SPECIALIST_FIT * _specialist(index, ids, request)
    stale = index.review_due[ids] < today.toordinal()
    score += np.where(stale, ranking.STALE, ranking.VERIFIED)
    if request.access:  # what the record confirms: a phone line passes a premises feature but does not match it
        score += ranking.ACCESS_MATCH * np.bitwise_count(
            _confirmed_access(index, ids) & np.uint32(bit_mask(request.access))
        )
    distance = candidates.distance[rows]
    score += ranking.DISTANCE_PER_KM * np.where(np.isnan(distance), ranking.REMOTE_EQUIVALENT_KM, distance)
    rounded: F64 = np.round(score, 3)
    return rounded


def _confirmed_access(index: DirectoryIndex, ids: I32) -> U32:
    """The features each service's record confirms that it has to offer: a service with no premises has no
    premises features to offer (a crisis line recording "wheelchair: true" of its office ranked above one that did
    not, and was said to have "wheelchair access available")."""
    confirmed: U32 = np.where(
        index.no_premises[ids], index.access_yes[ids] & np.uint32(~PREMISES_ACCESS & 0xFFFFFFFF), index.access_yes[ids]
    ).astype(np.uint32)
    return confirmed


def _specialist(index: DirectoryIndex, ids: I32, request: SearchRequest) -> npt.NDArray[np.bool_]:
    fit = np.zeros(ids.size, np.bool_)
    distress = {Need.self_harm, Need.suicidal_thoughts} & set(request.needs)
    if request.uses_substances and distress:
        fit |= index.kind[ids] == KIND_CODES[ServiceKind.dual_diagnosis]
    if request.intoxicated:
        fit |= index.intoxicated[ids] == 1
    return fit


def _top(
    index: DirectoryIndex,
    candidates: Candidates,
    rows: I32,
    score: F64,
    open_now: npt.NDArray[np.bool_],
    request: SearchRequest,
    state: Callable[[int], OpenState],
) -> list[tuple[float, int, Travel | None]]:
    """The best `limit` services by final score, each at its best site by final score; the final score may lose
    MAY_CLOSE_BEFORE_ARRIVAL.

    That penalty needs the exact closing time, which costs more than the vector pass, so rows are visited in
    order of their preliminary score and the walk stops once no later row could reach the top (penalties only
    lower a score). A site about to close can therefore lose to the same service's site further away that stays
    open: a service is shown where the person can still get in. Ties break by service id (the index keeps
    services in id order, so by index), then by the better preliminary score and the nearer site.
    """
    ids = candidates.service[rows]
    order = np.lexsort((candidates.distance[rows], ids, -score))
    limit = request.limit
    # Per service: (final score, -service, row, travel if open) of its best site so far.
    best: dict[int, tuple[float, int, int, Travel | None]] = {}
    last_place: tuple[float, int] | None = None  # the limit-th best (final, -service) among services held
    for position in order:
        preliminary = float(score[position])
        service = int(ids[position])
        if last_place is not None and last_place >= (preliminary, -service):
            break  # every later row scores at most its preliminary score: none can enter the top
        held = best.get(service)
        if held is not None and held[0] >= preliminary:
            continue  # this service already has a site at least as good as this one could be
        row = int(rows[position])
        # Only an open site can lose MAY_CLOSE_BEFORE_ARRIVAL (a closed one's travel never says it arrives too
        # late), so travel is estimated here for open ones only, and for the few shown once the walk is done.
        travel = None
        if open_now[row]:
            travel = _travel(_journey_km(index, candidates, row), state(int(candidates.unit[row])))
        late = travel is not None and travel.arrives_before_close is False
        final = round(preliminary + (ranking.MAY_CLOSE_BEFORE_ARRIVAL if late else 0), 3)
        if held is None or final > held[0]:
            best[service] = (final, -service, row, travel)
            if len(best) >= limit:
                # sorted, not heapq.nlargest: on a few dozen pairs its generator and heap cost more than a sort.
                last_place = sorted([(item[0], item[1]) for item in best.values()], reverse=True)[limit - 1]
    top = sorted(best.values(), key=lambda item: (-item[0], -item[1]))[:limit]
    return [
        (final, row, travel if open_now[row] else _travel(_journey_km(index, candidates, row), None))
        for final, _, row, travel in top
    ]


def _journey_km(index: DirectoryIndex, candidates: Candidates, row: int) -> float:
    # A line found by its office's distance (its catchment not recorded) is rung, not travelled to: no journey to
    # show, and none to arrive late from.
    return math.nan if index.no_premises[int(candidates.service[row])] else float(candidates.distance[row])


def _travel(distance: float, open_state: OpenState | None) -> Travel | None:
    if math.isnan(distance):
        return None
    mode, minutes = ranking.travel_minutes(distance)
    arrives: bool | None = None
    if open_state is not None and open_state.minutes_until_close is not None:
        arrives = minutes + ranking.ARRIVAL_MARGIN_MIN <= open_state.minutes_until_close
    return _travel_estimate(mode, minutes, arrives)


@lru_cache(maxsize=4096)  # two modes, minutes up to a few hundred, three outcomes: a few hundred in all
def _travel_estimate(mode: str, minutes: int, arrives: bool | None) -> Travel:
    # One object per estimate, shared by every answer that gives it (as the criteria's words are): _top makes one
    # for every open site it looks at, most of them never shown.
    return made(Travel, mode=mode, minutes=minutes, arrives_before_close=arrives)


def _closed_reason(state: OpenState) -> str:
    if state.opens_next_at is None:
        return "closed, and not open in the next 14 days"
    moment = state.opens_next_at
    return f"closed until {moment.strftime('%a %d %b %H:%M')}{zone_if_repeated(moment)}"


# Access features as nouns, for "… available", "no …" and "… not confirmed".
ACCESS_NOUNS = {**ACCESS_LABELS, AccessFeature.wheelchair: "wheelchair access"}
MODE_WORDS = {
    ContactMode.in_person: "in person",
    ContactMode.phone: "by phone",
    ContactMode.text: "by text",
    ContactMode.online: "online",
}


def _join(words: Iterable[str], last: str = "or") -> str:
    items = list(words)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {last} " + items[-1]


def _age_text(record: ServiceRecord) -> str:
    low, high = record.eligibility.minimum_age, record.eligibility.maximum_age
    low = None if low == 0 else low  # from birth: no lower limit
    if low is not None and high is not None:
        return f"people aged {low} to {high}"
    if low is not None:
        return f"people aged {low} and over"
    if high is not None:
        return f"people aged {high} and under"
    return "people of any age"


def _sentence(
    name: str,
    result: int,
    record: ServiceRecord,
    request: SearchRequest,
    location: ResolvedLocation | None,
    district_name: Callable[[str], str | None],
) -> str:
    eligibility = record.eligibility
    if name == "age":
        text = _age_text(record)
        if result == PASS:
            if eligibility.minimum_age is None and eligibility.maximum_age is None:
                return "no age limit recorded"  # None is "not known", never "none": say only what the record says
            return f"accepts {text}"
        if result == FAIL:
            return f"only for {text} (age given: {request.age})"
        return f"only for {text}; age not given"
    if name == "gender":
        served = _join(g.value.replace("_", "-") for g in eligibility.genders) if eligibility.genders else ""
        if result == PASS:
            return f"for {served}" if served else "open to people of any gender"
        return f"for {served} only" + ("" if result == FAIL else "; gender not given")
    if name == "catchment":
        catchment = eligibility.catchment
        if catchment is None:
            # A line is found by its offices then (reached_from_offices), or everywhere: nobody travels to it.
            check = "before travelling" if has_door(record) else "that it serves your area"
            return f"catchment area not recorded: check {check}"
        if catchment.type.value == "england":
            if result == PASS:
                return "covers anyone in England"
            return "covers anyone in England; this location may be outside England: check first"
        codes = _districts(location)
        if catchment.type is CatchmentType.districts and result != FAIL and codes:
            # Named by the person's districts, not the list's first four: "Hartlepool, Middlesbrough, Redcar and
            # Cleveland or Stockton-on-Tees and more" read as not covering a person in LS29, whom it may (the
            # North Yorkshire part), and never said why the answer was "check".
            names = [district_name(code) or code for code in codes]
            covered = [name for code, name in zip(codes, names, strict=True) if code in catchment.districts]
            others = [name for name in names if name not in covered]
            if result == PASS:
                return f"covers your area ({_join(names)})"
            if covered and others:
                return f"covers {_join(covered, 'and')} but not {_join(others)}, and could not tell which you are in"
        if catchment.type.value == "polygon":
            area = "its area"
        else:
            names = [district_name(code) or code for code in catchment.districts[:4]]
            area = _join(names) + (" and more" if len(catchment.districts) > 4 else "")
        if result == PASS:
            return f"covers your area ({area})"
        if result == FAIL:
            return f"only for people living in {area}"
        return f"only for people living in {area}; could not tell which area you are in"
    if name == "referral":
        routes = eligibility.referral_routes
        if routes is None:
            return "how to get referred is not recorded: call first"
        if not routes:  # known, and none (CSV "none"): "needs a referral" would send people after one
            return "takes no one new: its record lists no way in (no referral route)"
        if result == PASS and request.referral is Referral.self:
            return "walk in, no referral needed" if ReferralRoute.walk_in in routes else "you can refer yourself"
        listed = _join(REFERRAL_LABELS[r] for r in routes)
        if result == PASS:
            return f"accepts {listed}"
        if result == UNKNOWN_RESULT:
            return f"only by {listed}: check that you can refer"
        if request.referrer is not None:
            return f"only by {listed}: not by {REFERRAL_LABELS[ReferralRoute(request.referrer.value)]}"
        needs = "a referral" if request.referral is Referral.self else "a route a clinician cannot use"
        return f"needs {needs}: {listed}"
    if name == "intoxicated":
        return {
            PASS: "accepts people who have been drinking or using drugs",
            FAIL: "does not accept people who are intoxicated",
        }.get(result, "not recorded whether it accepts people who have been drinking or using drugs")
    if name == "substance_use":
        return {
            PASS: "accepts people who use drugs or alcohol",
            FAIL: "does not accept people who use drugs or alcohol",
        }.get(result, "not recorded whether it accepts people who use drugs or alcohol")
    # A line has no journey to check before: "before travelling" told a caller to plan a trip to an office.
    check = "check before travelling" if has_door(record) else "check with the service"
    if eligibility.gp_registration_required is None:
        return f"not recorded whether you must be registered with a GP in its area: {check}"
    return f"must be registered with a GP in its area: {check}"


def _result(
    index: DirectoryIndex,
    candidates: Candidates,
    row: int,
    rank: int,
    score: float,
    travel: Travel | None,
    state: OpenState,
    criteria: dict[str, int],
    verdict: int,
    request: SearchRequest,
    location: ResolvedLocation | None,
    at: datetime,
    today: date,
    district_name: Callable[[str], str | None],
) -> SearchResult:
    # Scalars with math and ints, not numpy: a numpy call on one value costs ~1 µs, and this runs for every result.
    service = int(candidates.service[row])
    remote = bool(index.no_premises[service])
    distance = float(candidates.distance[row])
    # Everything below is built from validated records and engine values: construct, do not re-validate.
    eligibility = _eligibility(index, service, criteria, verdict, request, location, district_name)
    return made(
        SearchResult,
        rank=rank,
        score=score,
        service=_summary(index, int(candidates.unit[row])),
        # A line found by its offices (reached_from_offices) has no address and no distance: no journey to make.
        distance_km=None if remote or math.isnan(distance) else round(distance, 2),
        distance_basis=STRAIGHT_LINE,
        travel=travel,
        open_now=state.open_now,
        closes_at=state.closes_at,
        opens_next_at=state.opens_next_at,
        hours_today=state.hours_today,
        eligibility=eligibility,
        match_reasons=_reasons(index, service, state, criteria, request, travel, remote, at),
        verified_at=index.services[service].provenance.verified_at,
        stale=int(index.review_due[service]) < today.toordinal(),
    )


def _eligibility(
    index: DirectoryIndex,
    service: int,
    criteria: dict[str, int],
    verdict: int,
    request: SearchRequest,
    location: ResolvedLocation | None,
    district_name: Callable[[str], str | None],
) -> Eligibility:
    # Remembered whole, by what its criteria's words depend on (see _criterion) and the results: a service shown
    # again, or another with the same eligibility, takes them in one look-up instead of one per criterion.
    key = (
        _wording(index, service),
        tuple(criteria.items()),
        verdict,
        request.age if criteria.get("age") == FAIL else None,
        request.referral,
        request.referrer,
        district_name,
        _where_words(index, service, criteria["catchment"], location),
    )

    def make() -> Eligibility:
        checks = [
            _criterion(index, service, name, result, request, location, district_name)
            for name, result in criteria.items()
            if result != NOT_ASKED
        ]
        return made(Eligibility, verdict=VERDICTS[verdict], criteria=checks)

    found = remembered(index, "eligibility", key, MAX_MEMO_ELIGIBILITY, make)
    # Each answer its own object and list (the criteria in it are shared, as they always were): a caller that
    # changed its answer's list would otherwise change every later answer's, a verdict with no criteria behind it.
    return made(Eligibility, verdict=found.verdict, criteria=list(found.criteria))


def _criterion(
    index: DirectoryIndex,
    service: int,
    name: str,
    result: int,
    request: SearchRequest,
    location: ResolvedLocation | None,
    district_name: Callable[[str], str | None],
) -> Criterion:
    # A criterion's words depend on the parts of the record it reads (_wording), the result, who is referring,
    # the district names and, for a failed age only, the age given: the same key gives the same words, so each is
    # written once per snapshot. By those parts, not by service: many services share them, so words written for
    # one serve all (at 100,000 services most results would otherwise write their words afresh).
    # One entry per criterion, not per combination of results, which repeats far less often.
    age = request.age if result == FAIL and name == "age" else None
    key = (
        _wording(index, service)[CRITERION_COLUMN[name]],
        name,
        result,
        age,
        request.referral,
        request.referrer if name == "referral" else None,
        district_name,
        _where_words(index, service, result, location) if name == "catchment" else None,
    )
    found = index.criteria.get(key)
    if found is None:
        record = index.services[service]
        found = made(
            Criterion,
            criterion=name,
            result=_RESULT[result],
            reason=_sentence(name, result, record, request, location, district_name),
        )
        if len(index.criteria) >= MAX_MEMO_CRITERIA:
            index.criteria.clear()
        index.criteria[key] = found
    return found


def _where_words(
    index: DirectoryIndex, service: int, result: int, location: ResolvedLocation | None
) -> tuple[str, ...] | None:
    """The person's districts, where a catchment's words name them (see _sentence): a list of districts that covers
    them, or may."""
    if result == FAIL or index.catchment[service] != CATCHMENT_CODES[CatchmentType.districts]:
        return None
    return tuple(_districts(location))


def _wording(index: DirectoryIndex, service: int) -> tuple[object, ...]:
    """Per criterion, in CRITERIA's order, everything _sentence reads from the service's record."""
    memo = index.memo.get("wording")
    if not isinstance(memo, dict) or len(memo) >= MAX_MEMO_SUMMARIES:  # bounded, as the summaries are
        memo = index.memo["wording"] = {}
    found = memo.get(service)
    if found is None:
        eligibility = index.services[service].eligibility
        catchment = eligibility.catchment
        routes = eligibility.referral_routes
        parts = (
            (eligibility.minimum_age, eligibility.maximum_age),
            tuple(eligibility.genders),
            # The sentence names at most the first four districts, and says whether there are more.
            # With no catchment, the words say whether to check before travelling: a place or a line (has_door).
            bool(index.no_premises[service])
            if catchment is None
            else (catchment.type, tuple(catchment.districts[:4]), len(catchment.districts) > 4),
            None if routes is None else tuple(routes),
            None,  # intoxicated: the result alone
            None,  # substance_use: the result alone
            (eligibility.gp_registration_required is None, bool(index.no_premises[service])),
        )
        # Few distinct: one tuple for all the services that share it (a few hundred bytes each, not per service).
        shapes = index.memo.get("wording-shapes")
        if not isinstance(shapes, dict) or len(shapes) >= MAX_MEMO_SUMMARIES:
            shapes = index.memo["wording-shapes"] = {}
        found = memo[service] = shapes.setdefault(parts, parts)
    assert isinstance(found, tuple)
    return found


VERDICTS = (Verdict.ineligible, Verdict.check, Verdict.eligible)
# Criteria words kept per snapshot, at most (about 400 bytes each).
MAX_MEMO_CRITERIA = 100_000
# Whole eligibility answers kept per snapshot, at most: one per kind of record and kind of person asking.
MAX_MEMO_ELIGIBILITY = 20_000


# Summaries are the same in every answer that shows a site: built once per site per snapshot, up to this many.
MAX_MEMO_SUMMARIES = 50_000


def _summary(index: DirectoryIndex, unit: int) -> ServiceSummary:
    found = index.summaries.get(unit)
    if found is None:
        service = int(index.unit_service[unit])
        # A service with no place to go (has_door) has no address, even at the office it was found by: a helpline's
        # card gave the office's address and "Directions on OpenStreetMap" while FHIR said "not open to visitors".
        place = -1 if index.no_premises[service] else int(index.unit_location[unit])
        found = summary(index.services[service], place_index=place)
        if len(index.summaries) < MAX_MEMO_SUMMARIES:
            index.summaries[unit] = found
    return found


def summary(record: ServiceRecord, *, place_index: int) -> ServiceSummary:
    place = record.locations[place_index] if place_index >= 0 else None
    address = ", ".join(p for p in (place.name, place.address, place.city) if p) if place else None
    return made(
        ServiceSummary,
        id=record.id,
        name=record.name,
        kind=record.kind,
        kind_label=KINDS[record.kind].label,
        organisation=record.organisation.name,
        phones=record.phones,
        url=record.url,
        address=address,
        postcode=place.postcode if place else None,
        latitude=place.latitude if place else None,
        longitude=place.longitude if place else None,
        accessibility=record.access.accessibility,
        contact_modes=record.access.contact_modes,
        alert=record.alert,
        demo=record.is_demo,
    )


@dataclass(frozen=True, slots=True)
class _RecordReasons:
    """The reasons that depend on a service's record alone, worked out once per snapshot."""

    route: str | None  # walk-in, or self-referral
    dual_diagnosis: bool
    needs: frozenset[Need]
    bsl: bool
    remote: str  # "by phone, by text or online" (MODE_WORDS)
    free: bool


def _record_reasons(index: DirectoryIndex, service: int) -> _RecordReasons:
    memo = index.memo.get("reasons")
    if not isinstance(memo, dict) or len(memo) >= MAX_MEMO_SUMMARIES:  # bounded, as the summaries are
        memo = index.memo["reasons"] = {}
    found = memo.get(service)
    if found is None:
        record = index.services[service]
        routes = record.eligibility.referral_routes or []
        modes = [MODE_WORDS[m] for m in record.access.contact_modes if m != ContactMode.in_person]
        found = memo[service] = _RecordReasons(
            route="walk-in, no referral needed"
            if ReferralRoute.walk_in in routes
            else "you can refer yourself"
            if ReferralRoute.self_referral in routes
            else None,
            dual_diagnosis=record.kind is ServiceKind.dual_diagnosis,
            needs=frozenset(record.needs),
            bsl=bool(record.access.accessibility.get(AccessFeature.bsl)),
            remote=_join(modes) if modes else "",
            free=record.access.cost is not None and record.access.cost.value == "free",
        )
    assert isinstance(found, _RecordReasons)
    return found


def _clock(moment: datetime, at: datetime) -> str:
    """'02:00' when the clock time alone cannot be misread: it next shows within a day of `at` on the wall clock.
    Otherwise '10:00 on Sun 29 Mar'. By the wall clock, not elapsed time: on the day the clocks go forward, 10:00
    tomorrow is 23.5 hours away, yet "opens at 10:00" said at 09:30 reads as half an hour from now."""
    # Both are London-aware already (OpenState's times, and search's `at`): their wall clocks compare directly.
    wall = moment.replace(tzinfo=None) - at.replace(tzinfo=None)
    clock = f"{moment.hour:02d}:{moment.minute:02d}"  # strftime is several times slower, for every result
    if moment.month == 10 and moment.hour == 1:  # October's repeated hour: which 01:30 (the check is not cheap)
        clock += zone_if_repeated(moment)
    return clock if wall < ONE_DAY else f"{clock} on {moment:%a %d %b}"


def _reasons(
    index: DirectoryIndex,
    service: int,
    state: OpenState,
    criteria: Mapping[str, int],
    request: SearchRequest,
    travel: Travel | None,
    remote: bool,
    at: datetime,
) -> list[str]:
    fixed = _record_reasons(index, service)
    reasons = []
    if state.open_now:
        reasons.append("open now" if state.closes_at is None else f"open now until {_clock(state.closes_at, at)}")
    elif state.opens_next_at is not None:
        reasons.append(f"opens at {_clock(state.opens_next_at, at)}")
    if fixed.route is not None:
        reasons.append(fixed.route)
    if request.intoxicated and criteria.get("intoxicated") == PASS:
        reasons.append("accepts people who have been drinking or using drugs")
    if request.uses_substances and criteria.get("substance_use") == PASS:
        reasons.append("accepts people who use drugs or alcohol")
    if fixed.dual_diagnosis and request.uses_substances:
        reasons.append("specialist in mental health and substance use together")
    if request.needs:  # most searches name none: no generator for nothing
        reasons.extend(f"helps with {NEED_LABELS[n].lower()}" for n in request.needs if n in fixed.needs)
    if request.access:  # only what the record confirms (a phone line passes a premises feature it has not got)
        confirmed = int(_confirmed_access(index, np.array([service], np.int32))[0])
        reasons.extend(f"{ACCESS_NOUNS[f]} available" for f in request.access if confirmed & bit_mask([f]))
    if fixed.bsl and AccessFeature.bsl not in request.access:
        reasons.append(f"{ACCESS_LABELS[AccessFeature.bsl]} available")
    if remote and fixed.remote:
        reasons.append(fixed.remote)
    if travel is not None and travel.arrives_before_close is False:
        reasons.append(f"may close before you arrive (about {travel.minutes} min {travel.mode}, an estimate)")
    if fixed.free:
        reasons.append("free")
    return reasons


def _left_out(
    index: DirectoryIndex, candidates: Candidates, found: _Found, shown: set[int], where: ResolvedLocation | None
) -> list[int]:
    """Rows of the services left out that a clinician needs to see, at most MAX_EXCLUDED, each service once (at its
    nearest site; one shown at a site is not listed): first the phone, text and online services of the person's own
    area (their local crisis line left out for age is the first thing to know), then sites nearest first, then
    remote services open to all of England, then, when the person's area is not known, the lines only for some
    area (every town's line, each "give a postcode", filled the list and hid an England-wide line left out).
    Remote services only for another area are not near: never listed."""
    left_out = np.flatnonzero(found.stages.union(candidates.service.size))
    distance = candidates.distance[left_out]
    services = candidates.service[left_out]
    remote = np.isnan(distance)
    catchment = index.catchment[services]
    area_only = catchment >= CATCHMENT_CODES[CatchmentType.districts]
    # Whose area a line covers is known from the person's districts, or for a polygon from where they are.
    if where is None:
        own_area = np.zeros(services.size, np.bool_)
    elif _districts(where):
        own_area = area_only
    else:
        own_area = catchment == CATCHMENT_CODES[CatchmentType.polygon]
    # 0: a remote service for the person's area (or one they may be in); 1: a site; 2: remote, all of England;
    # 3: remote, only for an area, the person's own not known.
    group = np.where(remote, np.where(own_area, 0, np.where(area_only, 3, 2)), 1)
    elsewhere = remote & (found.criteria["catchment"][left_out] == FAIL)
    order = np.lexsort((services, np.where(remote, 0.0, distance), group))
    order = order[~elsewhere[order]]
    rows: list[int] = []
    listed: set[int] = set(shown)
    # Read as Python numbers a chunk at a time: the walk usually ends within the first few dozen of what may be
    # thousands of rows left out.
    for start in range(0, order.size, LEFT_OUT_CHUNK):
        taken = order[start : start + LEFT_OUT_CHUNK]
        for row, service in zip(left_out[taken].tolist(), services[taken].tolist(), strict=True):
            if service in listed:
                continue
            if len(rows) >= MAX_EXCLUDED:
                return rows
            listed.add(service)
            rows.append(row)
    return rows


# Rows of _left_out read per chunk: enough, nearly always, for MAX_EXCLUDED services besides those shown.
LEFT_OUT_CHUNK = 4 * MAX_EXCLUDED


def _exclusions(
    index: DirectoryIndex,
    candidates: Candidates,
    rows: list[int],
    stages: _Stages,
    criteria: Mapping[str, I8],
    state: Callable[[int], OpenState],
    request: SearchRequest,
    location: ResolvedLocation | None,
    district_name: Callable[[str], str | None],
    in_safety_net: frozenset[str] = frozenset(),
) -> list[Exclusion]:
    """Why each of these rows was left out; sentences are written for these only. `in_safety_net`: the ids of the
    lines this answer's safety net offers."""
    if not rows:
        return []
    # The rows' values read in one gather each, as Python numbers: up to MAX_EXCLUDED rows, each read one by one
    # from numpy (~0.1-1 µs a read, a dozen reads a row) cost more than the sentences.
    taken = np.array(rows, np.int64)
    services, units = candidates.service[taken].tolist(), candidates.unit[taken].tolist()
    distances = candidates.distance[taken].tolist()
    stage = np.zeros(taken.size, np.int64)
    for number in reversed(range(len(stages.masks))):  # a row's reason is its first mask's (see _Stages.reason)
        stage[stages.masks[number][0][taken]] = number
    why = [stages.masks[number][1] for number in stage.tolist()]
    failed = {name: (column[taken] == FAIL).tolist() for name, column in criteria.items()}
    window = request.open_within_minutes
    far = _far_words(request)
    items: list[Exclusion] = []
    for position, reason in enumerate(why):
        service, unit = services[position], units[position]
        record = index.services[service]
        # A row is left out by the first filter it fails, but a clinician needs every reason: "wheelchair access not
        # confirmed" alone invites a call to a crisis house that takes only Bradford's residents.
        ineligible = [
            _criterion(index, service, name, FAIL, request, location, district_name).reason
            for name, column in failed.items()
            if column[position]
        ]
        unmet = _unmet(index, service, request) if request.modes or request.access or request.language else []
        line_open = record.id in in_safety_net
        if reason == CLOSED:
            reasons = [_closed_words(index, unit, state, line_open=line_open)]
        elif reason == TEMPORARILY_CLOSED:
            reasons = [f"temporarily closed: {record.alert}".strip(": "), *unmet, *ineligible]
        else:
            # Closed too, said as well: "only for people aged 18 and over" alone reads as open to an adult.
            first = [] if reason == INELIGIBLE or reason in unmet else [reason]
            reasons = [*first, *unmet, *ineligible]
            if window is not None and not _open_within(state(unit), window):
                reasons.append(_closed_words(index, unit, state, line_open=line_open))
        km = distances[position]
        if reason == CLOSED and location is not None:
            # A service is listed at its nearest site, but left out at every one: when another site within the
            # radius is open (or opens in the window), that is the one it was nearly shown at, and the reason it was
            # not is the limit. "closed until…" alone told a clinician the service was shut while it was open.
            open_site = _open_elsewhere(index, service, unit, location, request, state)
            if open_site is not None:
                reasons = [_ranked_below_words(request), f"at its site {round(km, 2):g} km away: {reasons[0]}"]
                km = open_site
        # Beyond the radius, rounded up: 25.004 km shown as 25.0 beside "further than 25 km" would contradict it.
        shown = math.ceil(km * 100) / 100 if km > request.radius_km else round(km, 2)
        doorless = bool(index.no_premises[service])
        if doorless and not math.isnan(km):
            # A line found by its office (no catchment recorded): no journey to make, so no distance, as in results;
            # what is far is its office.
            reasons = [OFFICE_FAR.format(radius=request.radius_km) if r == far else r for r in reasons]
        items.append(
            made(
                Exclusion,
                id=record.id,
                name=record.name,
                kind=record.kind,
                distance_km=None if math.isnan(km) or doorless else shown,
                reasons=reasons,
            )
        )
    return items


OFFICE_FAR = "no area it serves is recorded, and its office is further than {radius:g} km"


def _far_words(request: SearchRequest) -> str:
    return f"further than {request.radius_km:g} km"


def _open_elsewhere(
    index: DirectoryIndex,
    service: int,
    unit: int,
    where: ResolvedLocation,
    request: SearchRequest,
    state: Callable[[int], OpenState],
) -> float | None:
    """The distance of the service's nearest site but `unit` within the radius that is open, or opens within the
    window; None if it has none. Read from the record, not from the rows evaluated, so the answer is the same
    however many rows the search evaluated (tests/search/test_pruning.py)."""
    first, last = index.first_unit[service : service + 2].tolist()
    if last - first < 2:  # one site: nowhere else
        return None
    others = np.array([other for other in range(first, last) if other != unit], np.int32)
    km = index.distances(where.latitude, where.longitude, others)
    window = request.open_within_minutes or 0
    for row in np.argsort(km, kind="stable").tolist():
        if not km[row] <= request.radius_km:  # beyond the radius (or remote: NaN), as every one after it
            break
        if _open_within(state(int(others[row])), window):
            return float(km[row])
    return None


def _closed_words(
    index: DirectoryIndex, unit: int, state: Callable[[int], OpenState], *, line_open: bool = False
) -> str:
    """Why the unit is not open. `line_open`: the service is a line this answer's safety net offers (open a day at
    least), and it was left out as a place with a door (a crisis line listing in person, at its base): the base's
    hours are its hours as a place, never shown open at night, but "closed until Fri 09:00" alone, beside the same
    line "Open 24 hours" in the safety net, read as the line being shut."""
    found = state(unit)
    if not index.hours.schedules[unit] or found.hours_today == HOURS_NOT_RECORDED:
        # Not "closed": nobody knows (no hours, or none in force). Said plainly, so a clinician can phone rather
        # than rule it out.
        words = f"its base's {NO_HOURS_REASON}" if line_open else NO_HOURS_REASON
    else:
        words = f"its base is {_closed_reason(found)}" if line_open else _closed_reason(found)
    return f"{words}; {LINE_OPEN_REASON}" if line_open else words


def _open_within(state: OpenState, window: int) -> bool:
    """Open now, or opening within `window` minutes (0: open now only), as _evaluate's CLOSED filter reads it."""
    return state.open_now or (
        window > 0 and state.minutes_until_open is not None and state.minutes_until_open <= window
    )


def safety_net(
    index: DirectoryIndex,
    request: SearchRequest,
    location: ResolvedLocation | None,
    *,
    at: datetime | None = None,
    state: Callable[[int], OpenState] | None = None,
    today: date | None = None,
) -> list[SafetyNetEntry]:
    """National 24/7 lines, then local 24/7 crisis lines covering the location, each only for people it serves
    (an adults-only line is not offered to a 15-year-old). Never empty.

    A line is offered only while it is open for the next day at least, at the search's instant (`state`, or `at`,
    default now): a 24/7 schedule that has ended, or a dated closure, must not leave a line in the list of lines
    that are always there. Should every national line be shut, the built-in list stands in (FALLBACK_SAFETY_NET).
    `state`, when given, is the states at `at` (as search's)."""
    at = to_london(at or datetime.now(UTC))
    today = today or to_london(datetime.now(UTC)).date()
    # The net depends on the minute (open states are the same all through one, see _states_at), the date (reviews
    # due), the person's age and gender, and where they are: their districts, and the point itself only where a
    # line's catchment is drawn as a polygon. The same for many searches: remembered per snapshot, in a table of
    # its own cleared whole when full (as the class results are, for the same reason).
    person = GENDER_BITS[request.gender] if request.gender else SEX_BITS[request.sex] if request.sex else None
    key = (
        int(at.replace(second=0, microsecond=0).timestamp()),
        today.toordinal(),
        request.age,
        person,
        request.referral,
        request.referrer,
        bool(request.intoxicated),
        bool(request.uses_substances),
        None if location is None else tuple(_districts(location)),
        (location.longitude, location.latitude) if location is not None and _polygon_lines(index) else None,
    )
    found = remembered(
        index,
        "safety-net",
        key,
        MAX_MEMO_SAFETY_NETS,
        lambda: _safety_net(index, request, location, at, state or _states_at(index, at), today),
    )
    return list(found)  # the caller's own list: a response never shares one with another


# Safety nets kept per snapshot, at most: one per minute, kind of person and place searched from.
MAX_MEMO_SAFETY_NETS = 4096


def _safety_net(
    index: DirectoryIndex,
    request: SearchRequest,
    location: ResolvedLocation | None,
    at: datetime,
    state: Callable[[int], OpenState],
    today: date,
) -> list[SafetyNetEntry]:
    # A national line shut now by its recorded hours (a dated closure, an end to its 24/7 hours) is left out, but
    # one open now stays, as does one with no hours recorded: a safety-net line is never a result, so leaving it
    # out of the net would leave it out of the answer altogether.
    national = [
        record
        for record in _national_lines(index)
        if _serves(index, record, request) and not _shut_now(index, record, state, at)
    ]
    entries = [_safety_entry(index, r, local=False, today=today) for r in national] or list(FALLBACK_SAFETY_NET)
    if location is not None:
        local: list[ServiceRecord] = []
        for code in _districts(location):  # a line covering two of the person's districts is offered once
            local.extend(line for line in _local_lines(index, code) if all(line.id != other.id for other in local))
        local.extend(
            record
            for record in _polygon_lines(index)
            if record.eligibility.catchment is not None
            and record.eligibility.catchment.geojson is not None
            and point_in_geojson(location.longitude, location.latitude, record.eligibility.catchment.geojson)
        )
        if local:
            entries.extend(
                _safety_entry(index, record, local=True, today=today)
                for record in local
                if _serves(index, record, request) and _open_a_day(index, record, state, at)
            )
    return entries


def _shut_now(index: DirectoryIndex, record: ServiceRecord, state: Callable[[int], OpenState], at: datetime) -> bool:
    """Whether a line with recorded hours is closed at the search's instant, by its service-wide hours."""
    return bool(record.schedules) and not _line_state(index, record, state, at).open_now


def _line_state(
    index: DirectoryIndex, record: ServiceRecord, state: Callable[[int], OpenState], at: datetime
) -> OpenState:
    """A line's open state by its hours (see line_schedules)."""
    first = int(index.first_unit[index.position[record.id]])
    if index.unit_location[first] < 0:  # its remote unit holds the line's hours, with the minute's shared states
        return state(first)
    return open_state(line_schedules(record), at)


def _open_a_day(index: DirectoryIndex, record: ServiceRecord, state: Callable[[int], OpenState], at: datetime) -> bool:
    """Whether the line answers now and for at least the next 24 hours, by its service-wide hours."""
    found = _line_state(index, record, state, at)
    return found.open_now and (found.minutes_until_close is None or found.minutes_until_close >= MINUTES_PER_DAY)


def _national_lines(index: DirectoryIndex) -> list[ServiceRecord]:
    """Active national safety-net lines in the order shown (999, crisis lines, helplines; all-age first), once per
    snapshot."""
    found = index.memo.get("national-lines")
    if found is None:
        found = [index.services[int(i)] for i in np.flatnonzero(index.safety_net & index.active)]
        found.sort(key=lambda r: (SAFETY_NET_ORDER.get(r.kind, 9), r.eligibility.maximum_age is not None, r.name))
        index.memo["national-lines"] = found
    assert isinstance(found, list)
    return found


def _serves(index: DirectoryIndex, record: ServiceRecord, request: SearchRequest) -> bool:
    """Whether a safety-net line serves this person as far as the search knows: out only for a criterion that fails
    as the results' criteria read it (an age outside its limits, a gender it does not serve, a referral route the
    person cannot use, drinking or drugs it does not accept); anything not given or not recorded keeps it in. The
    lines are chosen by where they serve, so their catchment is not asked again. By age and gender alone, a 24/7
    line taking only professionals' referrals was the number to call for someone looking for themselves, in the
    same answer whose `excluded` said it "needs a referral"."""
    table, _, _ = _class_results(index, request, None)  # the results' own table, remembered per kind of person
    return not bool((table[index.eligibility_class[index.position[record.id]]] == FAIL).any())


def _local_lines(index: DirectoryIndex, district: str) -> list[ServiceRecord]:
    """Active local 24/7 crisis lines whose catchment lists this district, found once per district per snapshot."""
    key = ("local-lines", district)
    found = index.memo.get(key)
    if found is None:
        members = index.district_members.get(district, np.zeros(0, np.int32))
        lines = members[index.kind[members] == KIND_CODES[ServiceKind.crisis_line]]
        found = [index.services[i] for i in lines if _is_local_line(index, int(i))]
        index.memo[key] = found
    assert isinstance(found, list)
    return found


def _is_local_line(index: DirectoryIndex, service: int) -> bool:
    record = index.services[service]
    return (
        record.kind is ServiceKind.crisis_line
        and bool(index.active[service])
        and not record.safety_net
        and _round_the_clock(line_schedules(record))
    )


def _round_the_clock(schedules: Sequence[WeeklySchedule]) -> bool:
    """Whether these hours leave no minute of the week closed, bank holidays included: 24/7, or sessions that add up
    to it (an Open Referral row Mo-Su 00:00-24:00 is stored as sessions). Each day is read as it follows a bank
    holiday or not and is one or not: a line closed on bank holidays is not always there. Dates (validity, closures)
    are not read here but at the search's instant (_open_a_day)."""
    if any(schedule.always_open for schedule in schedules):  # the usual line: 24/7 whatever the day
        return True
    for weekday in range(7):
        for holiday_before, holiday in product((False, True), repeat=2):
            spans = [
                (hours.opens - MINUTES_PER_DAY, hours.opens + hours.length - MINUTES_PER_DAY)
                for schedule in schedules
                for hours in _day_hours(schedule, (weekday - 1) % 7, holiday=holiday_before)
            ]
            spans += [
                (hours.opens, hours.opens + hours.length)
                for schedule in schedules
                for hours in _day_hours(schedule, weekday, holiday=holiday)
            ]
            reached = 0
            for start, end in sorted(spans):
                if start > reached:
                    break
                reached = max(reached, end)
            if reached < MINUTES_PER_DAY:
                return False
    return True


def _day_hours(schedule: WeeklySchedule, weekday: int, *, holiday: bool) -> tuple[TimeRange, ...]:
    """The hours starting on a day of this weekday, a bank holiday or not (as opening_hours.day_plan reads them)."""
    if schedule.always_open:
        return (WHOLE_DAY,)
    if holiday and schedule.bank_holidays is not BankHolidayPolicy.as_usual:
        return () if schedule.bank_holidays is BankHolidayPolicy.closed else schedule.bank_holiday_hours
    return tuple(session.hours for session in schedule.sessions if session.day == weekday)


def _polygon_lines(index: DirectoryIndex) -> list[ServiceRecord]:
    """Local 24/7 crisis lines whose catchment is drawn as a polygon (few): tested against each location."""
    found = index.memo.get("polygon-lines")
    if found is None:
        polygon = np.flatnonzero(index.catchment == CATCHMENT_CODES[CatchmentType.polygon])
        found = index.memo["polygon-lines"] = [index.services[int(i)] for i in polygon if _is_local_line(index, int(i))]
    assert isinstance(found, list)
    return found


def _safety_entry(index: DirectoryIndex, record: ServiceRecord, *, local: bool, today: date) -> SafetyNetEntry:
    # The same few entries go into every answer: build each once per index snapshot (and state of its review).
    stale = bool(index.review_due[index.position[record.id]] < today.toordinal())
    key = ("safety", record.id, local, stale)
    entry = index.memo.get(key)
    if entry is None:
        entry = index.memo[key] = _build_safety_entry(record, local=local, stale=stale)
    assert isinstance(entry, SafetyNetEntry)
    return entry


def _build_safety_entry(record: ServiceRecord, *, local: bool, stale: bool) -> SafetyNetEntry:
    # The line's hours alone: its office's 9 to 5 beside "Open 24 hours" left a caller at night unsure it answers.
    lines = [line for schedule in line_schedules(record) for line in describe_week(schedule)]
    return SafetyNetEntry(
        id=record.id,
        name=record.name,
        phones=record.phones,
        description=record.description,
        hours="; ".join(lines) or "hours not recorded",
        local=local,
        demo=record.is_demo,
        verified_at=record.provenance.verified_at,
        stale=stale,
    )
