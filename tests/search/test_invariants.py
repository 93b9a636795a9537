"""Properties that hold for every directory, person, place and instant, checked against an independent oracle.

The oracle re-derives, from the records alone and the domain's own opening-hours functions, which services a
search must return and with which verdict, so a result that should not be there (or a missing one) fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from geopy.distance import great_circle
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from service_finder.domain.opening_hours import is_open, open_between, open_state
from service_finder.domain.provenance import is_stale
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
from service_finder.schemas import (
    PersonGender,
    PersonSex,
    Referral,
    ResolvedLocation,
    SearchRequest,
    SearchResponse,
    ServiceRecord,
)
from service_finder.search.engine import safety_net, search
from service_finder.search.index import DirectoryIndex
from tests.search.conftest import BUILT_AT, LEEDS_DISTRICT, LONDON, WAKEFIELD_DISTRICT

CENTRE = (53.8, -1.55)
REMOTE_MODES = {ContactMode.phone, ContactMode.text, ContactMode.online}
# Places people go to or stay in, whatever ways in are recorded; and lines, rung unless in person is recorded.
PLACES = {ServiceKind.crisis_cafe, ServiceKind.crisis_house, ServiceKind.walk_in_crisis_assessment}
LINES = {ServiceKind.crisis_line, ServiceKind.helpline, ServiceKind.emergency}
PREMISES_FEATURES = {
    AccessFeature.step_free,
    AccessFeature.wheelchair,
    AccessFeature.accessible_toilet,
    AccessFeature.hearing_loop,
    AccessFeature.quiet_space,
    AccessFeature.women_only_space,
}
GENDER_OF = {
    PersonGender.woman: Gender.women,
    PersonGender.man: Gender.men,
    PersonGender.non_binary: Gender.non_binary,
    PersonSex.female: Gender.women,
    PersonSex.male: Gender.men,
}
# Derandomised so a run is repeatable; sized so the whole file takes seconds (generation dominates, not search).
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
ORACLE_SETTINGS = settings(SETTINGS, max_examples=80)

# --- data ---------------------------------------------------------------------------------------------------------


# Strategies are built once, here: building them inside a composite on every draw costs more than the search.


def _subset(values: Any, max_size: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.sampled_from(list(values)), unique=True, max_size=max_size)


LEEDS_CENTRE = ResolvedLocation(
    latitude=CENTRE[0], longitude=CENTRE[1], source="coordinates", district_code=LEEDS_DISTRICT
)


def usually(default: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`default` three times in four: each filter drawn at random would otherwise leave almost nothing to rank."""
    return st.one_of(st.just(default), st.just(default), st.just(default), other)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _session(day: str, opens: int, overnight: bool, length: int) -> dict[str, str]:
    # Day sessions open 06:00-22:00 and overnight ones close by 05:00, so no two days' sessions overlap.
    closes = (opens + length) % 1440 if overnight else min(opens + length, 1440)
    if overnight:
        closes = min(closes, 300)
    return {"day": day, "opens_at": _hhmm(opens), "closes_at": _hhmm(closes)}


DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SESSIONS = st.lists(
    st.builds(
        _session,
        st.sampled_from(DAYS),
        st.integers(12, 44).map(lambda half_hours: half_hours * 30),
        st.booleans(),
        st.integers(1, 16).map(lambda half_hours: half_hours * 30),
    ).filter(lambda s: s["opens_at"] != s["closes_at"]),
    unique_by=lambda s: s["day"],
    max_size=5,
)
EXCEPTIONS = st.lists(
    st.builds(
        lambda start, days, special: {
            "start_date": start,
            "end_date": start + timedelta(days=days),
            "closed": not special,
            "hours": [{"opens_at": "10:00", "closes_at": "14:00"}] if special else [],
            "reason": "special hours" if special else "staff training",
        },
        st.dates(date(2026, 1, 1), date(2027, 12, 31)),
        st.integers(0, 14),
        st.booleans(),
    ),
    max_size=2,
)
POLICIES = st.sampled_from(["as_usual", "as_usual", "closed", "special"])
VALIDITY: st.SearchStrategy[dict[str, date]] = st.one_of(
    st.just({}),
    st.just({}),
    st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(lambda d: {"valid_from": d}),
    st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(lambda d: {"valid_to": d}),
)
SCHEDULE = st.one_of(
    st.just({"always_open": True}),
    st.builds(
        lambda sessions, policy, exceptions, validity: {
            "sessions": sessions,
            "bank_holidays": policy,
            "bank_holiday_hours": [{"opens_at": "10:00", "closes_at": "16:00"}] if policy == "special" else [],
            "exceptions": exceptions,
            **validity,
        },
        SESSIONS,
        POLICIES,
        EXCEPTIONS,
        VALIDITY,
    ),
)
TRI_STATE = st.none() | st.booleans()
DISTRICTS = [LEEDS_DISTRICT, WAKEFIELD_DISTRICT, "E08000032", "E06000014"]
WELSH_DISTRICT = "W06000005"  # Flintshire: in CH postcode districts with Cheshire West and Chester
CATCHMENT = st.one_of(
    st.none(),
    st.just({"type": "england"}),
    st.lists(st.sampled_from(DISTRICTS), unique=True, min_size=1, max_size=3).map(
        lambda codes: {"type": "districts", "districts": codes}
    ),
    st.builds(
        lambda lat, lon, size: {
            "type": "polygon",
            "geojson": {
                "type": "Polygon",
                "coordinates": [
                    [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
                ],
            },
        },
        st.sampled_from([53.6, 53.75, 53.9]),
        st.sampled_from([-1.8, -1.6, -1.4]),
        st.sampled_from([0.1, 0.25, 0.5]),
    ),
)
AGES = st.tuples(st.none() | st.integers(0, 65), st.none() | st.integers(0, 55)).map(
    lambda pair: (pair[0], None if pair[1] is None else (pair[0] or 0) + pair[1])
)
ELIGIBILITY = usually(
    {"catchment": {"type": "england"}, "referral_routes": ["walk_in", "professional"]},
    st.builds(
        lambda ages, genders, catchment, gp, routes, intoxicated, substances: {
            "minimum_age": ages[0],
            "maximum_age": ages[1],
            "genders": genders,
            "catchment": catchment,
            "gp_registration_required": gp,
            "referral_routes": routes,
            "accepts_intoxicated": intoxicated,
            "accepts_substance_use": substances,
        },
        AGES,
        _subset(Gender, 2),
        CATCHMENT,
        TRI_STATE,
        st.none() | _subset(ReferralRoute, 3),
        TRI_STATE,
        TRI_STATE,
    ),
)
ACCESS = st.fixed_dictionaries(
    {
        "contact_modes": _subset(ContactMode, 3),
        "accessibility": st.dictionaries(st.sampled_from(list(AccessFeature)), st.booleans(), max_size=6),
        "languages": _subset(["en", "pl", "ur"], 2),
    }
)
# Within about 25 km of Leeds, so radius, catchment and travel all come into play.
POINT = st.tuples(
    st.floats(-0.2, 0.2).map(lambda d: round(CENTRE[0] + d, 6)),
    st.floats(-0.3, 0.3).map(lambda d: round(CENTRE[1] + d, 6)),
)
POINTS = st.sampled_from([0, 1, 1, 1, 2]).flatmap(lambda n: st.lists(POINT, min_size=n, max_size=n))
VERIFIED = st.none() | st.datetimes(datetime(2025, 1, 1), datetime(2027, 6, 1), timezones=st.just(UTC))
DUE = st.none() | st.dates(date(2025, 1, 1), date(2028, 1, 1))
SERVICE_FIELDS = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(ServiceKind),
        "status": usually(ServiceStatus.active, st.sampled_from(ServiceStatus)),
        "alert": st.sampled_from(["", "Closed for refurbishment"]),
        "needs": _subset(Need, 4),
        "safety_net": st.integers(0, 19).map(lambda n: n == 0),
        "eligibility": ELIGIBILITY,
        "access": ACCESS,
        "points": POINTS,
        "schedule": st.one_of(st.none(), st.just({"always_open": True}), SCHEDULE),
        "verified_at": VERIFIED,
        "verify_due": DUE,
        "source_name": st.sampled_from(["demo", "test"]),
    }
)


def _service(service_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    schedule = fields["schedule"]
    return {
        "id": service_id,
        "name": f"Service {service_id}",
        "organisation": {"id": "org", "name": "Organisation"},
        "kind": fields["kind"],
        "status": fields["status"],
        "alert": fields["alert"],
        "needs": fields["needs"],
        "safety_net": fields["safety_net"],
        "eligibility": fields["eligibility"],
        "access": fields["access"],
        "locations": [
            {"id": f"{service_id}-loc-{j}", "postcode": "LS1 1UR", "latitude": lat, "longitude": lon}
            for j, (lat, lon) in enumerate(fields["points"])
        ],
        "schedules": [] if schedule is None else [{"id": f"{service_id}-hours", **schedule}],
        "provenance": {
            "source_name": fields["source_name"],
            "verified_at": fields["verified_at"],
            "verify_due": fields["verify_due"],
        },
    }


IDS = st.sampled_from([f"{word}-{n}" for word in ("cafe", "line", "house", "hub") for n in range(6)])


def directories(min_size: int = 0, max_size: int = 8) -> st.SearchStrategy[list[ServiceRecord]]:
    pairs = st.lists(
        st.tuples(IDS, SERVICE_FIELDS), unique_by=lambda pair: pair[0], min_size=min_size, max_size=max_size
    )
    return pairs.map(lambda pairs: [ServiceRecord.model_validate(_service(name, fields)) for name, fields in pairs])


requests = st.builds(
    SearchRequest,
    radius_km=st.sampled_from([2.0, 10.0, 25.0, 25.0, 60.0, 60.0]),
    open=st.sampled_from(["now", "any", "any", "within:30", "within:120", "within:600"]),
    age=st.none() | st.integers(0, 90),
    sex=usually(None, st.sampled_from(PersonSex)),
    gender=usually(None, st.sampled_from(PersonGender)),
    needs=_subset(Need, 3),
    intoxicated=usually(None, st.booleans()),
    uses_substances=usually(None, st.booleans()),
    referral=st.sampled_from(Referral),
    modes=usually([], _subset(ContactMode, 2)),
    access=usually([], _subset(AccessFeature, 2)),
    language=usually(None, st.sampled_from(["en", "pl", "ur"])),
    kinds=usually([], _subset(ServiceKind, 3)),
    limit=st.sampled_from([1, 3, 10, 50]),
    explain=st.booleans(),
)

locations = usually(
    LEEDS_CENTRE,
    st.none()
    | st.builds(
        lambda dlat, dlon, districts: ResolvedLocation(
            latitude=CENTRE[0] + dlat,
            longitude=CENTRE[1] + dlon,
            source="coordinates" if len(districts) < 2 else "postcode_district",
            district_code=districts[0] if districts else None,
            district_codes=list(districts),
        ),
        st.floats(-0.2, 0.2),
        st.floats(-0.3, 0.3),
        # A postcode district may span several local authorities, even across the Welsh border.
        st.sampled_from(
            [
                (LEEDS_DISTRICT,),
                (LEEDS_DISTRICT,),
                (WAKEFIELD_DISTRICT,),
                (),
                (LEEDS_DISTRICT, WAKEFIELD_DISTRICT),
                (LEEDS_DISTRICT, WELSH_DISTRICT),
            ]
        ),
    ),
)

# Any instant in 2026-27, plus the ones that break schedules: bank holidays, both clock changes, midnight.
SPECIAL_INSTANTS = [
    datetime(2026, 8, 31, 12, 0, tzinfo=LONDON),
    datetime(2026, 12, 28, 1, 0, tzinfo=LONDON),
    datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    datetime(2026, 10, 10, 0, 0, tzinfo=LONDON),
]
instants = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(SPECIAL_INSTANTS),
)


# --- the oracle ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    must: dict[str, str]  # id -> verdict, for services that must be returned
    may: dict[str, str]  # id -> verdict, for services on the edge of the radius or the open window


def _catchment_result(record: ServiceRecord, where: ResolvedLocation | None) -> str:
    catchment = record.eligibility.catchment
    if catchment is None:
        return "unknown"
    if catchment.type is CatchmentType.districts:
        codes = [] if where is None else where.district_codes or ([where.district_code] if where.district_code else [])
        listed = [code in catchment.districts for code in codes]
        return "unknown" if not codes else "pass" if all(listed) else "fail" if not any(listed) else "unknown"
    if catchment.type is CatchmentType.england:
        maybe_wales = where is not None and any(not code.startswith("E") for code in where.district_codes)
        return "unknown" if maybe_wales else "pass"
    # A polygon: the strategy draws axis-aligned squares, so inside is a box test.
    ring = (catchment.geojson or {})["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    if where is None:
        return "unknown"
    inside = min(lons) < where.longitude < max(lons) and min(lats) < where.latitude < max(lats)
    return "pass" if inside else "fail"


def _criteria(record: ServiceRecord, request: SearchRequest, where: ResolvedLocation | None) -> list[str]:
    rules = record.eligibility
    found: list[str] = []
    if request.age is not None:
        too_young = rules.minimum_age is not None and request.age < rules.minimum_age
        too_old = rules.maximum_age is not None and request.age > rules.maximum_age
        found.append("fail" if too_young or too_old else "pass")
    elif rules.minimum_age is not None or rules.maximum_age is not None:
        found.append("unknown")
    person = request.gender or request.sex
    if rules.genders:
        found.append("unknown" if person is None else "pass" if GENDER_OF[person] in rules.genders else "fail")
    found.append(_catchment_result(record, where))
    routes = rules.referral_routes
    if routes is None:
        found.append("unknown")
    elif request.referral is Referral.self:
        found.append("pass" if {ReferralRoute.walk_in, ReferralRoute.self_referral} & set(routes) else "fail")
    else:
        anyone = {ReferralRoute.walk_in, ReferralRoute.self_referral, ReferralRoute.professional}
        named = set(routes) - {ReferralRoute.police}
        found.append("pass" if anyone & set(routes) else "unknown" if named else "fail")
    for asked, policy in (
        (request.intoxicated, rules.accepts_intoxicated),
        (request.uses_substances, rules.accepts_substance_use),
    ):
        if asked:
            found.append("unknown" if policy is None else "pass" if policy else "fail")
    if rules.gp_registration_required is not False:  # required, or not recorded
        found.append("unknown")
    return found


def verdict_of(record: ServiceRecord, request: SearchRequest, where: ResolvedLocation | None) -> str:
    results = _criteria(record, request, where)
    return "ineligible" if "fail" in results else "check" if "unknown" in results else "eligible"


def _has_door(kind: ServiceKind, modes: Sequence[ContactMode], located: bool) -> bool:
    if not located:
        return False
    if kind in PLACES:
        return True
    if kind in LINES:
        return ContactMode.in_person in modes
    return not modes or ContactMode.in_person in modes


def sited(record: ServiceRecord) -> bool:
    """A place to go: a location, for a kind people go to whatever its ways in; for a line only with in person
    recorded; for any other kind unless the ways in recorded leave out in person (a phone line's office)."""
    return _has_door(record.kind, record.access.contact_modes, bool(record.locations))


def rung(record: ServiceRecord) -> bool:
    """Reached from anywhere: a phone, text or online way in, or a line with no ways in recorded."""
    modes = set(record.access.contact_modes)
    return bool(REMOTE_MODES & modes) or (not modes and record.kind in LINES)


def reached_by(record: ServiceRecord) -> set[ContactMode]:
    """The ways in `modes` matches: those recorded, in person to a place to go (and only there: a crisis house listing
    in person with no location has no door), by phone to a line recording none (what search offers, the filter
    matches: a crisis café recording no ways in was left out by modes=in_person)."""
    modes = set(record.access.contact_modes) - {ContactMode.in_person}
    if sited(record):  # in person only where there is somewhere to go, whatever the record lists
        modes.add(ContactMode.in_person)
    if not record.access.contact_modes and record.kind in LINES:
        modes.add(ContactMode.phone)
    return modes


def found_by_distance(record: ServiceRecord) -> bool:
    """Searched within the radius: a place to go, or a line whose offices are all that says where it serves (no
    catchment recorded)."""
    return sited(record) or (bool(record.locations) and record.eligibility.catchment is None)


def _only_for_an_area_not_known(record: ServiceRecord, where: ResolvedLocation | None) -> bool:
    """A line only for its own area, where the person's area is not known: not offered (docs/api.md), whatever
    its catchment says (with no location, one only for another town would be "check" too)."""
    catchment = record.eligibility.catchment
    if catchment is None or catchment.type is CatchmentType.england:
        return False
    if where is None:
        return True
    known = where.district_codes or ([where.district_code] if where.district_code else [])
    return catchment.type is CatchmentType.districts and not known


def nearest_km(record: ServiceRecord, where: ResolvedLocation) -> float:
    return min(
        float(great_circle((where.latitude, where.longitude), (p.latitude, p.longitude)).km) for p in record.locations
    )


def expected(
    records: Sequence[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> Expected:
    must: dict[str, str] = {}
    may: dict[str, str] = {}
    for record in records:
        if record.safety_net or record.status is not ServiceStatus.active:
            continue
        if request.kinds and record.kind not in request.kinds:
            continue
        edge = False
        if found_by_distance(record):
            if where is None:
                continue
            km = nearest_km(record, where)
            if km > request.radius_km * 1.001:
                continue
            edge = km > request.radius_km * 0.999
        elif not rung(record) or _only_for_an_area_not_known(record, where):
            continue
        if request.modes and not set(request.modes) & reached_by(record):
            continue
        # A line with no premises has no step-free entrance to confirm: a wheelchair user can still ring it.
        needed = [f for f in request.access if sited(record) or f not in PREMISES_FEATURES]
        if not all(record.access.accessibility.get(feature) for feature in needed):
            continue
        if request.language and request.language != "en" and request.language not in record.access.languages:
            continue
        verdict = verdict_of(record, request, where)
        if verdict == "ineligible":
            continue
        window = request.open_within_minutes
        if window is not None:
            schedules = [s.to_domain() for s in record.schedules]
            if window == 0:
                if not is_open(schedules, at):
                    continue
            elif not open_between(schedules, at, at + timedelta(minutes=window)):
                if not open_between(schedules, at, at + timedelta(minutes=window + 1)):
                    continue
                edge = True  # opens exactly at the end of the window
        (may if edge else must)[record.id] = verdict
    return Expected(must, may)


def candidates(records: Sequence[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None) -> set[str]:
    """Services a person would expect to hear about: listed (open or temporarily closed), of a kind asked for,
    and clearly within the radius, or reachable remotely and not only for another area."""
    found = set()
    for record in records:
        listed = record.status in {ServiceStatus.active, ServiceStatus.temporarily_closed}
        if record.safety_net or not listed or (request.kinds and record.kind not in request.kinds):
            continue
        if found_by_distance(record):
            if where is not None and nearest_km(record, where) < request.radius_km * 0.999:
                found.add(record.id)
        elif rung(record) and _catchment_result(record, where) != "fail":
            found.add(record.id)  # a line only for another area is not near: not listed
    return found


def ask(
    records: Sequence[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> SearchResponse:
    index = DirectoryIndex.build(records, version=7, built_at=BUILT_AT)
    return search(index, request, location=where, at=at, today=at.astimezone(LONDON).date())


# --- properties ---------------------------------------------------------------------------------------------------


@ORACLE_SETTINGS
@given(records=directories(min_size=3), request=requests, where=locations, at=instants)
def test_results_are_exactly_the_open_eligible_reachable_services(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> None:
    check_against_the_oracle(records, request, where, at)


# A postcode district spanning two local authorities (as BA3 does), one of them Welsh (as CH1 does).
SEVERAL_DISTRICTS = st.sampled_from(
    [
        ResolvedLocation(
            latitude=CENTRE[0],
            longitude=CENTRE[1],
            source="postcode_district",
            district_code=first,
            district_codes=[first, second],
        )
        for first, second in ((LEEDS_DISTRICT, WAKEFIELD_DISTRICT), (LEEDS_DISTRICT, WELSH_DISTRICT))
    ]
)


@ORACLE_SETTINGS
@given(records=directories(min_size=3), request=requests, where=SEVERAL_DISTRICTS, at=instants)
def test_a_location_in_several_districts_is_never_confirmed_in_one_it_may_not_be_in(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation, at: datetime
) -> None:
    check_against_the_oracle(records, request, where, at)


def check_against_the_oracle(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> None:
    response = ask(records, request, where, at)
    oracle = expected(records, request, where, at)
    event(f"results: {min(len(response.results), 3)}{'+' if len(response.results) > 2 else ''}")
    by_id = {record.id: record for record in records}
    returned = [r.service.id for r in response.results]

    assert len(returned) == len(set(returned))
    assert len(returned) <= request.limit
    for found in response.results:
        service = by_id[found.service.id]
        allowed = oracle.must.get(service.id) or oracle.may.get(service.id)
        assert allowed is not None, f"{service.id} should not be returned"
        # Never shown as eligible unless every criterion is known to pass; never shown if one fails.
        assert found.eligibility.verdict.value == allowed
        assert all(c.result.value != "fail" for c in found.eligibility.criteria)
        if found.eligibility.verdict.value == "eligible":
            assert all(c.result.value == "pass" for c in found.eligibility.criteria)
        hours = open_state([s.to_domain() for s in service.schedules], at)
        assert found.open_now is hours.open_now is is_open([s.to_domain() for s in service.schedules], at)
        assert (found.closes_at, found.opens_next_at) == (hours.closes_at, hours.opens_next_at)
        if found.closes_at is not None:
            assert found.closes_at > at
        if found.opens_next_at is not None:
            assert found.opens_next_at > at
        if request.open == "now":
            assert found.open_now
        assert found.stale is is_stale(
            service.provenance.verified_at, service.provenance.verify_due, at.astimezone(LONDON).date()
        )
        assert found.service.demo is (service.provenance.source_name == "demo")
        if not sited(service):
            # A line, found anywhere or by its offices: nowhere to go, so no place and no distance to it.
            assert (found.distance_km, found.service.address, found.service.latitude) == (None, None, None)
        else:
            assert found.distance_km is not None
            assert where is not None
            assert found.distance_km <= request.radius_km + 0.005
            point = (found.service.latitude, found.service.longitude)
            assert found.distance_km == _approx(great_circle((where.latitude, where.longitude), point).km)
            assert found.distance_km == _approx(nearest_km(service, where))
    # Nothing that must be shown is missing, unless the limit cut it off.
    if len(returned) < request.limit:
        assert set(oracle.must) <= set(returned), f"missing {set(oracle.must) - set(returned)}"
    else:
        assert len(returned) == request.limit

    assert [r.rank for r in response.results] == list(range(1, len(returned) + 1))
    keys = [(-r.score, r.service.id) for r in response.results]
    assert keys == sorted(keys)
    assert response.safety_net
    if request.explain:
        assert response.excluded is not None
        assert not {e.id for e in response.excluded} & set(returned)
        assert all(e.reasons for e in response.excluded)
        # Nothing nearby is hidden: each service within the radius that was not returned is listed with reasons
        # (unless the limit, not a filter, left it out).
        if len(returned) < request.limit:
            assert candidates(records, request, where) - set(returned) <= {e.id for e in response.excluded}
    else:
        assert response.excluded is None


def _approx(value: float) -> Any:
    return pytest.approx(value, rel=0.005, abs=0.006)


@SETTINGS
@given(records=directories(), request=requests, where=locations, at=instants)
def test_identical_inputs_give_identical_answers(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> None:
    first = ask(records, request, where, at).model_dump()
    again = ask(records, request, where, at).model_dump()
    reordered = ask(list(reversed(records)), request, where, at).model_dump()
    assert first == again == reordered


@SETTINGS
@given(
    records=directories(),
    request=requests,
    where=locations,
    at=instants,
    # A place to go, far away (a phone line's office far away is no reason to leave the line out anywhere).
    stranger=SERVICE_FIELDS.filter(
        lambda fields: (
            bool(fields["points"]) and _has_door(fields["kind"], fields["access"]["contact_modes"], located=True)
        )
    ),
    far=st.sampled_from([(50.26, -5.05), (51.5, 0.1), (54.97, -1.61)]),
)
def test_a_far_away_service_never_changes_the_results(
    records: list[ServiceRecord],
    request: SearchRequest,
    where: ResolvedLocation | None,
    at: datetime,
    stranger: dict[str, Any],
    far: tuple[float, float],
) -> None:
    # Truro, London, Newcastle: all well over 1.5 x 60 km from Leeds, so not even an explained exclusion. Its id
    # sorts after and before others alike ("far-away" between "cafe-*" and "house-*").
    outsider = ServiceRecord.model_validate(
        _service("far-away", {**stranger, "points": [far] * len(stranger["points"])})
    )
    before = ask(records, request, where, at)
    after = ask([*records, outsider], request, where, at)
    assert [r.model_dump() for r in after.results] == [r.model_dump() for r in before.results]
    assert after.excluded == before.excluded


@st.composite
def open_and_closed_twins(draw: st.DrawFn) -> tuple[list[ServiceRecord], datetime]:
    """Two services alike in every way but hours: one open now (24/7), one that opens within the hour."""
    day = draw(
        st.dates(date(2026, 1, 5), date(2026, 12, 20)).filter(
            lambda d: d not in {date(2026, 3, 29), date(2026, 10, 25)}
        )
    )
    minute = draw(st.integers(0, 20 * 60))
    at = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=LONDON)
    opens = minute + draw(st.integers(1, 60))
    fields = draw(SERVICE_FIELDS)
    base = _service(
        "a-closed-twin", {**fields, "points": [(53.81, -1.55)], "status": ServiceStatus.active, "safety_net": False}
    )
    closed = {
        **base,
        "schedules": [
            {
                "id": "a-closed-twin-hours",
                "sessions": [
                    {
                        "day": day.strftime("%A").lower(),
                        "opens_at": f"{opens // 60:02d}:{opens % 60:02d}",
                        "closes_at": f"{(opens + 180) // 60:02d}:{(opens + 180) % 60:02d}",
                    }
                ],
            }
        ],
    }
    open_twin = {
        **base,
        "id": "z-open-twin",
        "locations": [{**base["locations"][0], "id": "z-open-twin-loc-0"}],
        "schedules": [{"id": "z-open-twin-hours", "always_open": True}],
    }
    return [ServiceRecord.model_validate(closed), ServiceRecord.model_validate(open_twin)], at


@SETTINGS
@given(twins=open_and_closed_twins(), request=requests, others=directories(max_size=4))
def test_an_open_service_never_ranks_below_an_otherwise_equal_closed_one(
    twins: tuple[list[ServiceRecord], datetime], request: SearchRequest, others: list[ServiceRecord]
) -> None:
    pair, at = twins
    where = ResolvedLocation(latitude=53.8, longitude=-1.55, source="coordinates", district_code=LEEDS_DISTRICT)
    request = request.model_copy(update={"open": "within:120", "limit": 50})
    others = [r for r in others if r.id not in {"a-closed-twin", "z-open-twin"}]
    response = ask([*pair, *others], request, where, at)
    returned = [r.service.id for r in response.results]
    # Same eligibility, so both or neither; when both, the open one first even though the closed one sorts first.
    assert ("a-closed-twin" in returned) == ("z-open-twin" in returned)
    if "z-open-twin" in returned:
        assert returned.index("z-open-twin") < returned.index("a-closed-twin")
        open_result = response.results[returned.index("z-open-twin")]
        closed_result = response.results[returned.index("a-closed-twin")]
        assert open_result.open_now
        assert not closed_result.open_now
        assert open_result.score > closed_result.score


@SETTINGS
@given(records=directories(), request=requests, where=locations)
def test_safety_net_is_never_empty(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None
) -> None:
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
    entries = safety_net(index, request, where)
    assert entries
    assert len({e.id for e in entries}) == len(entries)
    # Every person, whatever their age, gets at least one line that answers around the clock.
    assert any(e.local is False for e in entries)


@SETTINGS
@given(records=directories(min_size=3), request=requests, where=locations, at=instants)
def test_the_safety_net_offers_no_line_the_person_is_ruled_out_of(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> None:
    # The lines are chosen by where they serve; every other rule the record states and the person fails (age,
    # gender, referral route, drinking, drugs) rules a line out of the net as it rules a service out of the results:
    # the number to call must not be one the same answer says will not take the person.
    by_id = {record.id: record for record in records}
    for entry in safety_net(DirectoryIndex.build(records, version=1, built_at=BUILT_AT), request, where, at=at):
        if entry.id in by_id:  # not the built-in fallback
            record = by_id[entry.id]
            rules = record.eligibility.model_copy(update={"catchment": None})  # never "fail"
            anywhere = record.model_copy(update={"eligibility": rules})
            assert verdict_of(anywhere, request, where) != "ineligible", f"{entry.id} is offered to someone it refuses"
