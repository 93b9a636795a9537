"""Named situations a caller would recognise, each pinned to what they would see."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from service_finder.schemas import ResolvedLocation, SearchRequest, ServiceRecord, Verdict
from service_finder.search.engine import search
from tests.factories import make_record
from tests.search.conftest import (
    FRIDAY_EVENING,
    LEEDS,
    LEEDS_DISTRICT,
    LONDON,
    WAKEFIELD_DISTRICT,
    exclusion_reasons,
    ids,
    index_of,
    located,
    result,
    run,
    sessions,
)
from tests.search.conftest import always_open as open_24_7

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def open_all_week(service_id: str, **overrides: Any) -> ServiceRecord:
    return make_record(service_id, schedules=open_24_7(service_id), **overrides)


def criterion(response: Any, service_id: str, name: str) -> str:
    found = [c.result.value for c in result(response, service_id).eligibility.criteria if c.criterion == name]
    assert found, f"{service_id!r} has no {name!r} criterion"
    return found[0]


# --- who: intoxication, substances, age, gender, catchment, referral -------------------------------------------


def test_person_who_has_been_drinking_is_not_sent_to_a_cafe_that_turns_them_away() -> None:
    dry = open_all_week("dry-cafe", eligibility={"accepts_intoxicated": False})
    wet = open_all_week("wet-cafe", eligibility={"accepts_intoxicated": True})
    index = index_of([dry, wet])

    drinking = run(index, intoxicated=True, explain=True)
    assert ids(drinking) == ["wet-cafe"]
    assert any("drinking" in reason for reason in result(drinking, "wet-cafe").match_reasons)
    assert any("intoxicated" in reason for reason in exclusion_reasons(drinking, "dry-cafe"))

    sober = run(index)
    assert sorted(ids(sober)) == ["dry-cafe", "wet-cafe"]


def test_dual_diagnosis_clinic_ranks_first_for_someone_who_uses_substances_and_self_harms() -> None:
    # The café is nearer and walk-in; the clinic is further away and referral-only, yet it is the right place.
    cafe = open_all_week(
        "a-cafe",
        needs=["self_harm"],
        eligibility={"accepts_substance_use": True},
        locations=located("a-cafe", 53.801, -1.55),
    )
    clinic = open_all_week(
        "dual-clinic",
        kind="dual_diagnosis",
        needs=["self_harm", "dual_diagnosis", "substance_use"],
        eligibility={"referral_routes": ["professional", "crisis_team"], "accepts_substance_use": True},
        locations=located("dual-clinic", 53.83, -1.55),
    )
    index = index_of([cafe, clinic])
    response = run(index, uses_substances=True, needs=["self_harm"], referral="professional")
    assert ids(response) == ["dual-clinic", "a-cafe"]
    assert any("substance" in reason for reason in result(response, "dual-clinic").match_reasons)


@pytest.mark.parametrize("need", ["alcohol", "substance_use", "dual_diagnosis"])
def test_asking_for_help_with_drugs_or_alcohol_is_never_answered_by_a_service_that_turns_users_away(need: str) -> None:
    # The search page has no "I use drugs or alcohol" box, only these needs: read as not asked, the café that does
    # not see people who use drugs or alcohol was "eligible" (the page: "You can use this service") and first.
    refuses = open_all_week("refuses-users", eligibility={"accepts_substance_use": False})
    welcomes = open_all_week(
        "welcomes-users", eligibility={"accepts_substance_use": True}, locations=located("welcomes-users", 53.83, -1.55)
    )
    index = index_of([refuses, welcomes])

    response = run(index, needs=[need], explain=True)
    assert response.query.request.uses_substances is True
    assert ids(response) == ["welcomes-users"]
    assert "accepts people who use drugs or alcohol" in result(response, "welcomes-users").match_reasons
    assert exclusion_reasons(response, "refuses-users") == ["does not accept people who use drugs or alcohol"]

    # The caller's own answer stands: a carer asking about someone else's drinking, say.
    told = run(index, needs=[need], uses_substances=False)
    assert told.query.request.uses_substances is False
    assert ids(told) == ["refuses-users", "welcomes-users"]


def test_self_referral_excludes_services_that_only_take_professional_referrals() -> None:
    referral_only = open_all_week("referral-only", eligibility={"referral_routes": ["gp", "professional"]})
    walk_in = open_all_week("walk-in", eligibility={"referral_routes": ["walk_in"]})
    index = index_of([referral_only, walk_in])

    looking_for_myself = run(index, referral="self", explain=True)
    assert ids(looking_for_myself) == ["walk-in"]
    assert any("referral" in reason for reason in exclusion_reasons(looking_for_myself, "referral-only"))
    assert "walk-in, no referral needed" in result(looking_for_myself, "walk-in").match_reasons

    clinician = run(index, referral="professional", age=30)
    assert sorted(ids(clinician)) == ["referral-only", "walk-in"]
    assert result(clinician, "referral-only").eligibility.verdict is Verdict.eligible


def test_walk_in_outranks_an_unknown_route_when_the_person_is_looking_themselves() -> None:
    # The unknown-route service sorts first by id and is nearer; a known way in for the person still wins.
    unknown = open_all_week(
        "a-unknown-route", eligibility={"referral_routes": None}, locations=located("a-unknown-route", 53.8, -1.55)
    )
    walk = open_all_week("z-walk-in", eligibility={"referral_routes": ["walk_in"]})
    response = run(index_of([unknown, walk]), age=30)
    assert ids(response) == ["z-walk-in", "a-unknown-route"]
    assert result(response, "a-unknown-route").eligibility.verdict is Verdict.check


@pytest.mark.parametrize(
    ("age", "shown", "verdict"),
    [
        (10, False, None),
        (11, True, Verdict.eligible),
        (25, True, Verdict.eligible),
        (26, False, None),
        (None, True, Verdict.check),
    ],
)
def test_age_limits(age: int | None, shown: bool, verdict: Verdict | None) -> None:
    youth = open_all_week("youth-cafe", eligibility={"minimum_age": 11, "maximum_age": 25})
    fields: dict[str, Any] = {"explain": True} if age is None else {"age": age, "explain": True}
    response = run(index_of([youth]), **fields)
    if shown:
        assert result(response, "youth-cafe").eligibility.verdict is verdict
    else:
        assert ids(response) == []
        assert any("11 to 25" in reason for reason in exclusion_reasons(response, "youth-cafe"))


@pytest.mark.parametrize(
    ("person", "verdict"),
    [
        ({"gender": "woman"}, Verdict.eligible),
        ({"sex": "female"}, Verdict.eligible),
        ({"gender": "man"}, None),
        ({"sex": "male"}, None),
        ({"gender": "non_binary"}, None),
        ({}, Verdict.check),
    ],
)
def test_women_only_service_and_the_persons_gender(person: dict[str, Any], verdict: Verdict | None) -> None:
    women = open_all_week("women-house", eligibility={"genders": ["women"]})
    response = run(index_of([women]), explain=True, age=30, **person)
    if verdict is None:
        assert ids(response) == []
        assert any("women" in reason for reason in exclusion_reasons(response, "women-house"))
    else:
        assert result(response, "women-house").eligibility.verdict is verdict


def test_catchment_by_district_with_real_postcodes(gazetteer: Any) -> None:
    # A Leeds-only café, between Leeds and Wakefield so both searches reach it within the radius.
    cafe = open_all_week(
        "leeds-only",
        eligibility={"catchment": {"type": "districts", "districts": [LEEDS_DISTRICT]}},
        locations=located("leeds-only", 53.75, -1.52),
    )
    index = index_of([cafe])

    def where(postcode: str) -> ResolvedLocation:
        point = gazetteer.lookup(postcode)
        return ResolvedLocation(
            latitude=point.latitude,
            longitude=point.longitude,
            source="postcode",
            postcode=point.postcode,
            district_code=point.district_code,
            district_name=point.district_name,
        )

    def ask(location: ResolvedLocation) -> Any:
        request = SearchRequest(explain=True, age=30)
        return search(
            index,
            request,
            location=location,
            at=FRIDAY_EVENING,
            today=FRIDAY_EVENING.date(),
            district_name=gazetteer.district_name,
        )

    inside = ask(where("LS1 1UR"))
    assert criterion(inside, "leeds-only", "catchment") == "pass"
    assert result(inside, "leeds-only").eligibility.verdict is Verdict.eligible

    outside = ask(where("WF1"))
    assert ids(outside) == []
    assert any("Leeds" in reason for reason in exclusion_reasons(outside, "leeds-only"))

    somewhere = where("LS1 1UR").model_copy(update={"district_code": None})
    unknown = ask(somewhere)
    assert criterion(unknown, "leeds-only", "catchment") == "unknown"
    assert result(unknown, "leeds-only").eligibility.verdict is Verdict.check


def test_explain_puts_the_persons_own_local_line_first_and_never_lists_other_areas_lines() -> None:
    # A 16-year-old in Leeds: the Leeds crisis line is for adults. A clinician must see that first; it was listed
    # after every nearby site and after other towns' lines in id order, and cut off by the 25-entry limit.
    def line(service_id: str, district: str) -> ServiceRecord:
        return open_all_week(
            service_id,
            kind="crisis_line",
            locations=[],
            access={"contact_modes": ["phone"]},
            eligibility={"minimum_age": 18, "catchment": {"type": "districts", "districts": [district]}},
        )

    others = [line(f"a-town-{n}-line", f"E0700{n:04d}") for n in range(30)]
    cafes = [
        open_all_week(f"cafe-{n:02d}", eligibility={"minimum_age": 18}, locations=located(f"cafe-{n:02d}", 53.8, -1.55))
        for n in range(30)
    ]
    index = index_of([line("leeds-line", LEEDS_DISTRICT), *others, *cafes])
    response = run(index, age=16, explain=True)
    assert response.excluded is not None
    assert response.excluded[0].id == "leeds-line"
    assert any("18" in reason for reason in response.excluded[0].reasons)
    assert not any(e.id.startswith("a-town-") for e in response.excluded)
    assert [e.id for e in response.excluded[1:]] == [f"cafe-{n:02d}" for n in range(24)]


def test_explain_gives_every_reason_a_service_is_left_out_not_only_the_first() -> None:
    # "no wheelchair access" alone invites a call to a house that takes only Wakefield's residents, or to a café
    # that is shut until tomorrow.
    house = open_all_week(
        "wakefield-house",
        access={"accessibility": {"wheelchair": False}},
        eligibility={"catchment": {"type": "districts", "districts": [WAKEFIELD_DISTRICT]}},
    )
    cafe = make_record("evening-cafe", access={"accessibility": {"wheelchair": False}})  # Fridays 18:00-02:00
    response = run(index_of([house, cafe]), at=FRIDAY_MORNING, access=["wheelchair"], explain=True)
    house_reasons = exclusion_reasons(response, "wakefield-house")
    assert house_reasons[0] == "no wheelchair access"
    assert any("Wakefield" in reason or WAKEFIELD_DISTRICT in reason for reason in house_reasons[1:])
    cafe_reasons = exclusion_reasons(response, "evening-cafe")
    assert cafe_reasons[0] == "no wheelchair access"
    assert any(reason.startswith("closed until") for reason in cafe_reasons[1:]), cafe_reasons


def test_explain_gives_every_way_in_access_need_and_language_a_service_lacks() -> None:
    # A Polish speaker who uses a wheelchair and wants to text: "wheelchair access not confirmed" alone invites a
    # call to a service that lists only English and takes no texts.
    therapies = open_all_week(
        "talking-therapies",
        access={"contact_modes": ["in_person", "phone"], "accessibility": {}, "languages": ["en"]},
    )
    farther = open_all_week(
        "far-therapies",
        locations=located("far-therapies", 53.8 + 30 / 111, -1.55),
        access={"contact_modes": ["in_person"], "accessibility": {"wheelchair": False}, "languages": ["en"]},
    )
    response = run(index_of([therapies, farther]), access=["wheelchair"], language="pl", modes=["text"], explain=True)
    assert exclusion_reasons(response, "talking-therapies") == [
        "not available by text",
        "wheelchair access not confirmed",
        "does not list language 'pl'",
    ]
    assert exclusion_reasons(response, "far-therapies") == [
        "further than 25 km",
        "not available by text",
        "no wheelchair access",
        "does not list language 'pl'",
    ]


def test_explain_says_an_ineligible_service_is_closed_too() -> None:
    # "only for people aged 18 and over" alone, for a 15-year-old's clinician, reads as open to an adult brought
    # along at 3am: the café shuts at 02:00, and the exclusion says that too.
    cafe = make_record("evening-cafe", eligibility={"minimum_age": 18})  # Fridays 18:00-02:00
    reasons = exclusion_reasons(run(index_of([cafe]), at=FRIDAY_MORNING, age=15, explain=True), "evening-cafe")
    assert any("18" in reason for reason in reasons), reasons
    assert reasons[-1].startswith("closed until"), reasons
    assert not any(
        r.startswith("closed")
        for r in exclusion_reasons(
            run(index_of([cafe]), at=FRIDAY_MORNING, age=15, open="any", explain=True), "evening-cafe"
        )
    )


def test_explain_lists_open_services_the_limit_left_out() -> None:
    near, middle, far = (
        open_all_week(name, locations=located(name, 53.8 + km / 111, -1.55))
        for name, km in (("near", 1), ("middle", 2), ("far", 3))
    )
    response = run(index_of([far, middle, near]), limit=1, explain=True)
    assert ids(response) == ["near"]
    assert (
        exclusion_reasons(response, "middle")
        == exclusion_reasons(response, "far")
        == ["ranked below the 1 shown (limit=1)"]
    )
    assert run(index_of([far, middle, near]), limit=3, explain=True).excluded == []


def test_no_location_gives_remote_services_for_everyone_and_leaves_out_local_ones_saying_why() -> None:
    # Without a location nobody can tell whose area a local line covers: offering Barrow's and Bath's lines to
    # someone anywhere in England, each "check", would bury the national ones. They are left out, and say why.
    national = open_all_week(
        "national-line",
        kind="crisis_line",
        locations=[],
        access={"contact_modes": ["phone"]},
        eligibility={"catchment": {"type": "england"}},
    )
    local = open_all_week("leeds-line", kind="crisis_line", locations=[], access={"contact_modes": ["phone"]})
    unrecorded = open_all_week(
        "somewhere-line",
        kind="crisis_line",
        locations=[],
        access={"contact_modes": ["phone"]},
        eligibility={"catchment": None},
    )
    cafe = open_all_week("cafe")
    response = run(index_of([national, local, unrecorded, cafe]), location=None, explain=True)
    assert ids(response) == ["national-line", "somewhere-line"]
    assert response.results[0].distance_km is None
    assert criterion(response, "somewhere-line", "catchment") == "unknown"
    [left_out] = [e for e in response.excluded or [] if e.id == "leeds-line"]
    assert left_out.reasons == [
        "only for people living in its area: give a postcode or location to see if it covers you"
    ]
    assert response.safety_net


def test_no_location_lists_an_england_wide_line_left_out_before_every_towns_local_line() -> None:
    # At 3am with no location, 25 other towns' lines ("give a postcode") filled the list, and the one line for all
    # of England, left out only because it opens at 5pm, was not mentioned at all.
    def line(service_id: str, **overrides: Any) -> ServiceRecord:
        modes = {"contact_modes": ["phone"]}
        return make_record(service_id, kind="crisis_line", locations=[], access=modes, **overrides)

    towns = [
        line(f"a-town-{n:02d}-line", schedules=open_24_7(f"a-town-{n:02d}-line"), eligibility={"minimum_age": None})
        for n in range(30)
    ]
    evening = line(
        "england-evening-line",
        schedules=sessions("evening", *((day, "17:00", "24:00") for day in DAYS)),
        eligibility={"minimum_age": None, "catchment": {"type": "england"}},
    )
    night = datetime(2026, 11, 25, 3, 0, tzinfo=LONDON)
    response = run(index_of([*towns, evening]), location=None, at=night, age=40, explain=True)
    assert response.excluded is not None
    assert response.excluded[0].id == "england-evening-line"
    assert response.excluded[0].reasons == ["closed until Wed 25 Nov 17:00"]
    assert [e.id for e in response.excluded[1:]] == [f"a-town-{n:02d}-line" for n in range(24)]


@pytest.mark.parametrize(
    ("eligibility", "fields", "name"),
    [
        ({"accepts_intoxicated": None}, {"intoxicated": True}, "intoxicated"),
        ({"accepts_substance_use": None}, {"uses_substances": True}, "substance_use"),
        ({"referral_routes": None}, {}, "referral"),
        ({"catchment": None}, {}, "catchment"),
        ({"gp_registration_required": True}, {}, "gp_registration"),
    ],
)
def test_unknown_criteria_give_check_not_eligible(
    eligibility: dict[str, Any], fields: dict[str, Any], name: str
) -> None:
    record = open_all_week("unsure", eligibility=eligibility)
    response = run(index_of([record]), age=30, **fields)
    assert criterion(response, "unsure", name) == "unknown"
    assert result(response, "unsure").eligibility.verdict is Verdict.check


def test_known_eligible_ranks_above_check_when_otherwise_equal() -> None:
    unsure = open_all_week("a-unsure", eligibility={"accepts_intoxicated": None})
    sure = open_all_week("z-sure", eligibility={"accepts_intoxicated": True})
    response = run(index_of([unsure, sure]), intoxicated=True, age=30)
    assert ids(response) == ["z-sure", "a-unsure"]


# --- how: access, modes, kinds, language -------------------------------------------------------------------------


def test_required_bsl_filters_out_services_without_confirmed_bsl() -> None:
    yes = open_all_week("bsl-yes", access={"accessibility": {"bsl": True}})
    no = open_all_week("bsl-no", access={"accessibility": {"bsl": False}})
    unknown = open_all_week("bsl-unknown", access={"accessibility": {"step_free": True}})
    index = index_of([yes, no, unknown])
    response = run(index, access=["bsl"], explain=True)
    assert ids(response) == ["bsl-yes"]
    assert any("BSL" in reason for reason in result(response, "bsl-yes").match_reasons)
    for left_out in ("bsl-no", "bsl-unknown"):
        assert any("BSL" in reason for reason in exclusion_reasons(response, left_out))
    assert len(run(index).results) == 3


def test_a_premises_need_keeps_phone_lines_but_not_sites_that_lack_it_and_says_which_lack_it() -> None:
    # A wheelchair user can ring a crisis line: asking for wheelchair access once left every phone line out, so a
    # Leeds search at night found nothing but the national numbers.
    line = open_all_week("phone-line", kind="crisis_line", locations=[], access={"contact_modes": ["phone"]})
    bsl_line = open_all_week("bsl-line", kind="crisis_line", locations=[], access={"contact_modes": ["phone"]})
    ramp = open_all_week("ramp", access={"accessibility": {"wheelchair": True}})
    steps = open_all_week("steps", access={"accessibility": {"wheelchair": False}})
    unknown = open_all_week("unknown", access={"accessibility": {}})
    index = index_of([line, bsl_line, ramp, steps, unknown])
    response = run(index, access=["wheelchair"], explain=True)
    assert sorted(ids(response)) == ["bsl-line", "phone-line", "ramp"]
    # Only what a record confirms is said to be available, and earns the match.
    assert "wheelchair access available" in result(response, "ramp").match_reasons
    assert not any("wheelchair" in reason for reason in result(response, "phone-line").match_reasons)
    assert exclusion_reasons(response, "steps") == ["no wheelchair access"]
    assert exclusion_reasons(response, "unknown") == ["wheelchair access not confirmed"]
    # BSL is not a feature of a building: a line must confirm it as a site must.
    assert ids(run(index, access=["bsl"])) == []


def test_a_crisis_line_with_a_drop_in_base_shut_at_night_says_its_line_is_open_in_the_safety_net() -> None:
    # A 24/7 crisis line that lists in person, at a base open Fridays 9 to 5: the base is a place, shut at night,
    # so it is no result then (never a closed door shown as open). explain said only "closed until Fri 16 Oct
    # 09:00" while the same answer's safety net offered the line "Open 24 hours": an adviser read it as shut.
    line = make_record(
        "drop-in-line",
        kind="crisis_line",
        eligibility={"minimum_age": None, "catchment": {"type": "districts", "districts": [LEEDS_DISTRICT]}},
        access={"contact_modes": ["in_person", "phone"]},
        schedules=[
            {"id": "line-247", "always_open": True},
            {
                "id": "base-hours",
                "location_id": "drop-in-line-loc",
                "sessions": [{"day": "friday", "opens_at": "09:00", "closes_at": "17:00"}],
            },
        ],
    )
    response = run(index_of([line]), explain=True)
    assert ids(response) == []
    assert "drop-in-line" in [entry.id for entry in response.safety_net if entry.local]
    assert exclusion_reasons(response, "drop-in-line") == [
        "its base is closed until Fri 16 Oct 09:00; its phone line is open now (see the safety net)"
    ]
    # Where the safety net does not offer it (a person outside its area), its base's hours are all there is to say.
    wakefield = LEEDS.model_copy(update={"district_code": WAKEFIELD_DISTRICT})
    elsewhere = run(index_of([line]), location=wakefield, explain=True)
    assert "drop-in-line" not in [entry.id for entry in elsewhere.safety_net]
    assert exclusion_reasons(elsewhere, "drop-in-line")[-1] == "closed until Fri 16 Oct 09:00"


def test_a_phone_line_with_an_office_is_searched_as_a_line_not_as_a_place() -> None:
    # A crisis line taking calls 24/7, whose record gives its office (open Fridays 9 to 5). Searched as a place, it
    # was "closed until Fri 09:00" on Friday night while the safety net offered it as 24/7, left out for a
    # wheelchair user, left out 30 km from its office in its own district, and shown as a 1-minute walk.
    def line(service_id: str, schedules: list[dict[str, Any]]) -> ServiceRecord:
        return make_record(
            service_id,
            kind="crisis_line",
            eligibility={"minimum_age": None, "catchment": {"type": "districts", "districts": [LEEDS_DISTRICT]}},
            access={"contact_modes": ["phone"]},
            locations=[{"id": f"{service_id}-base", "postcode": "LS1 1UR", "latitude": 53.8, "longitude": -1.55}],
            schedules=schedules,
        )

    office_hours = line(
        "leeds-crisis-line",
        [
            {"id": "line-247", "always_open": True},
            {
                "id": "base-hours",
                "location_id": "leeds-crisis-line-base",
                "sessions": [{"day": "friday", "opens_at": "09:00", "closes_at": "17:00"}],
            },
        ],
    )
    # Hours recorded only at its base are the line's hours.
    base_only = line(
        "leeds-night-line", [{"id": "night-247", "location_id": "leeds-night-line-base", "always_open": True}]
    )
    index = index_of([office_hours, base_only])
    friday_night, friday_noon = FRIDAY_EVENING, datetime(2026, 10, 9, 12, 0, tzinfo=LONDON)

    response = run(index, at=friday_night, explain=True)
    assert ids(response) == ["leeds-crisis-line", "leeds-night-line"]
    assert response.excluded == []
    assert "leeds-crisis-line" in [e.id for e in response.safety_net if e.local]
    shown = result(response, "leeds-crisis-line")
    assert shown.open_now
    assert shown.closes_at is None
    assert (shown.distance_km, shown.travel, shown.service.address) == (None, None, None)
    assert "by phone" in shown.match_reasons
    assert ids(run(index, at=friday_noon, access=["wheelchair"])) == ["leeds-crisis-line", "leeds-night-line"]
    east_leeds = LEEDS.model_copy(update={"longitude": -1.10})  # 29.6 km from the office, still in Leeds
    assert ids(run(index, at=friday_noon, location=east_leeds)) == ["leeds-crisis-line", "leeds-night-line"]


def test_a_crisis_house_you_phone_to_be_referred_to_is_still_a_place_to_stay() -> None:
    # Its record lists the phone its referrals come by, not in person. Read as a line, it was offered to a
    # wheelchair user though its record says no wheelchair access, and shown with no address or distance.
    house = make_record(
        "crisis-house",
        kind="crisis_house",
        eligibility={"referral_routes": ["professional"]},
        access={"contact_modes": ["phone"], "accessibility": {"wheelchair": False}},
        schedules=open_24_7("crisis-house"),
    )
    index = index_of([house])
    wheelchair = run(index, referral="professional", access=["wheelchair"], explain=True)
    assert ids(wheelchair) == []
    assert exclusion_reasons(wheelchair, "crisis-house") == ["no wheelchair access"]
    shown = result(run(index, referral="professional"), "crisis-house")
    assert shown.service.address == "Civic Hall, Calverley Street, Leeds"
    assert shown.distance_km is not None
    assert shown.travel is not None


def test_a_crisis_line_with_no_ways_in_recorded_is_searched_as_a_line_not_by_its_offices_hours() -> None:
    # Other publishers' HSDS never records ways in. Taken as a place, this 24/7 line was left out on Friday night
    # as "closed until Fri 16 Oct 09:00" (its office's hours) while the safety net offered it as open 24 hours.
    line = make_record(
        "leeds-line",
        kind="crisis_line",
        eligibility={"minimum_age": None, "catchment": {"type": "districts", "districts": [LEEDS_DISTRICT]}},
        access={"contact_modes": []},
        locations=[{"id": "base", "postcode": "LS1 1UR", "latitude": 53.8, "longitude": -1.55}],
        schedules=[
            {"id": "line-247", "always_open": True},
            {
                "id": "base-hours",
                "location_id": "base",
                "sessions": [{"day": "friday", "opens_at": "09:00", "closes_at": "17:00"}],
            },
        ],
    )
    response = run(index_of([line]), at=datetime(2026, 10, 9, 22, 0, tzinfo=LONDON), explain=True)
    assert "leeds-line" in [e.id for e in response.safety_net if e.local]
    assert ids(response) == ["leeds-line"]
    assert response.excluded == []
    shown = result(response, "leeds-line")
    assert shown.open_now
    assert (shown.distance_km, shown.travel, shown.service.address) == (None, None, None)


def test_a_phone_line_with_an_office_and_no_catchment_recorded_is_offered_near_its_office_not_everywhere() -> None:
    # A Newcastle line whose record gives no catchment: its office is all that says where it serves. Offered as
    # remote, it was a result ("check") for a person in Plymouth or in Leeds, 130 km and more from it.
    line = make_record(
        "newcastle-line",
        kind="crisis_line",
        eligibility={"minimum_age": None, "catchment": None},
        access={"contact_modes": ["phone"]},
        locations=[{"id": "office", "postcode": "NE1 4ST", "latitude": 54.97522, "longitude": -1.622324}],
        schedules=[
            {"id": "line-247", "always_open": True},
            {
                "id": "office-hours",
                "location_id": "office",
                "sessions": [{"day": "friday", "opens_at": "09:00", "closes_at": "17:00"}],
            },
        ],
    )
    index = index_of([line])
    plymouth = ResolvedLocation(latitude=50.369583, longitude=-4.143005, source="postcode", district_code="E06000026")
    assert ids(run(index, location=plymouth)) == []
    assert ids(run(index)) == []  # Leeds
    # Near its office it is a line still: the line's hours, not its office's; no premises to ask about; no walk.
    newcastle = ResolvedLocation(latitude=54.978, longitude=-1.61, source="postcode", district_code="E08000021")
    response = run(index, location=newcastle, access=["wheelchair"])
    shown = result(response, "newcastle-line")
    assert (shown.open_now, shown.closes_at, shown.travel) == (True, None, None)
    assert shown.distance_km is None  # found within the radius of its office, but the office is no journey to make
    assert "by phone" in shown.match_reasons


def test_a_line_found_by_its_office_is_shown_with_no_address_distance_or_place_to_travel_to() -> None:
    # A helpline recording no ways in and no catchment is found by its office (reached_from_offices), but it is a
    # line: it was shown with the office's address, coordinates (a page's directions) and distance, and "catchment
    # area not recorded: check before travelling", while FHIR said "an office, not open to visitors".
    helpline = make_record(
        "listening-line",
        kind="helpline",
        eligibility={"minimum_age": None, "catchment": None},
        access={"contact_modes": []},
        schedules=open_24_7("listening-line"),
    )
    response = run(index_of([helpline]), access=["wheelchair"])
    shown = result(response, "listening-line")
    summary = shown.service
    assert (summary.address, summary.postcode, summary.latitude, summary.longitude) == (None, None, None, None)
    assert (shown.distance_km, shown.travel) == (None, None)
    catchment = [c.reason for c in shown.eligibility.criteria if c.criterion == "catchment"]
    assert catchment == ["catchment area not recorded: check that it serves your area"]
    # A place with no catchment recorded still says to check before travelling.
    cafe = open_all_week("cafe", eligibility={"catchment": None})
    place = result(run(index_of([cafe])), "cafe")
    assert place.service.address is not None
    assert [c.reason for c in place.eligibility.criteria if c.criterion == "catchment"] == [
        "catchment area not recorded: check before travelling"
    ]


def test_a_line_found_by_its_office_is_left_out_with_no_distance_either() -> None:
    # As in results: explain gave the office's distance (0.17 km, sorted among the places) for a line nobody goes to.
    helpline = make_record(
        "adult-line",
        kind="helpline",
        eligibility={"minimum_age": 18, "catchment": None},
        access={"contact_modes": []},
        schedules=open_24_7("adult-line"),
    )
    response = run(index_of([helpline]), age=10, explain=True)
    [left_out] = [e for e in response.excluded or [] if e.id == "adult-line"]
    assert left_out.distance_km is None
    assert any("18" in reason for reason in left_out.reasons)
    # Beyond the radius: what is far is its office, said so, still with no distance.
    far = run(index_of([helpline]), radius_km=0.15, explain=True)  # its office is 0.17 km away
    [beyond] = [e for e in far.excluded or [] if e.id == "adult-line"]
    assert beyond.distance_km is None
    assert beyond.reasons[0] == "no area it serves is recorded, and its office is further than 0.15 km"


def test_a_lines_gp_registration_is_checked_with_the_service_not_before_travelling() -> None:
    unknown = {"gp_registration_required": None}
    line = open_all_week(
        "gp-line", kind="crisis_line", locations=[], access={"contact_modes": ["phone"]}, eligibility=unknown
    )
    cafe = open_all_week("cafe", eligibility=unknown)
    response = run(index_of([line, cafe]), open="any")

    def gp_words(service_id: str) -> list[str]:
        criteria = result(response, service_id).eligibility.criteria
        return [c.reason for c in criteria if c.criterion == "gp_registration"]

    assert gp_words("gp-line") == [
        "not recorded whether you must be registered with a GP in its area: check with the service"
    ]
    assert gp_words("cafe") == [
        "not recorded whether you must be registered with a GP in its area: check before travelling"
    ]


def test_in_person_matches_only_a_service_with_somewhere_to_go() -> None:
    # A line listing in person with no location: "Only places I can walk into" (modes=in_person) showed it, with
    # nowhere to walk to.
    line = open_all_week(
        "drop-in-line",
        kind="crisis_line",
        locations=[],
        access={"contact_modes": ["in_person", "phone"]},
        eligibility={"referral_routes": ["walk_in"]},
    )
    cafe = open_all_week("cafe", access={"contact_modes": ["in_person"]})
    walk_in = run(index_of([line, cafe]), modes=["in_person"], open="any", explain=True)
    assert ids(walk_in) == ["cafe"]
    by_phone = run(index_of([line, cafe]), modes=["phone"], open="any")
    assert ids(by_phone) == ["drop-in-line"]


def test_a_line_offers_no_premises_features_its_office_records() -> None:
    # A crisis line recording "wheelchair: true" of its office ranked above an otherwise equal one and was said to
    # have "wheelchair access available": a line has no premises to offer (both pass the filter, neither matches).
    def line(service_id: str, wheelchair: bool | None) -> ServiceRecord:
        accessibility = {} if wheelchair is None else {"wheelchair": wheelchair}
        return open_all_week(
            service_id,
            kind="crisis_line",
            locations=[],
            access={"contact_modes": ["phone"], "accessibility": accessibility},
        )

    response = run(index_of([line("a-line", None), line("b-line", True)]), access=["wheelchair"], open="any")
    first, second = result(response, "a-line"), result(response, "b-line")
    assert first.score == second.score
    assert "wheelchair access available" not in second.match_reasons
    # A place that confirms it still matches.
    cafe = open_all_week("cafe", access={"contact_modes": ["in_person"], "accessibility": {"wheelchair": True}})
    assert "wheelchair access available" in result(run(index_of([cafe]), access=["wheelchair"]), "cafe").match_reasons


def test_modes_and_kinds_filter() -> None:
    line = open_all_week("phone-line", kind="crisis_line", locations=[], access={"contact_modes": ["phone"]})
    chat = open_all_week("web-chat", kind="peer_support", locations=[], access={"contact_modes": ["online"]})
    cafe = open_all_week("cafe", access={"contact_modes": ["in_person"]})
    index = index_of([line, chat, cafe])
    assert sorted(ids(run(index))) == ["cafe", "phone-line", "web-chat"]
    assert ids(run(index, modes=["phone"])) == ["phone-line"]
    assert sorted(ids(run(index, modes=["in_person", "online"]))) == ["cafe", "web-chat"]
    assert exclusion_reasons(run(index, modes=["in_person", "text"], explain=True), "phone-line") == [
        "not available in person or by text"
    ]
    assert ids(run(index, kinds=["crisis_cafe"])) == ["cafe"]


def test_modes_match_the_ways_in_search_reaches_a_service_by_not_only_those_recorded() -> None:
    # Other publishers' HSDS never records ways in. A crisis café is a place to go whatever its record lists, and a
    # line is reached by phone with none recorded (has_door, reached_remotely): yet "only places I can walk into"
    # (modes=in_person) left out the café, and modes=phone the 24/7 crisis line the safety net was offering.
    cafe = open_all_week("imported-cafe", access={"contact_modes": []})
    house = open_all_week("crisis-house", kind="crisis_house", access={"contact_modes": ["phone"]})
    line = make_record(
        "imported-line",
        kind="crisis_line",
        eligibility={"minimum_age": None},
        access={"contact_modes": []},
        schedules=open_24_7("imported-line"),
    )
    index = index_of([cafe, house, line])
    assert sorted(ids(run(index, modes=["in_person"]))) == ["crisis-house", "imported-cafe"]
    by_phone = run(index, modes=["phone"], explain=True)
    assert sorted(ids(by_phone)) == ["crisis-house", "imported-line"]
    assert exclusion_reasons(by_phone, "imported-cafe") == ["not available by phone"]
    # The reasons say only what the record says: none of its ways in is recorded, so none is named.
    assert not [r for r in result(by_phone, "imported-line").match_reasons if r.startswith("by ")]
    assert exclusion_reasons(run(index, modes=["in_person"], explain=True), "imported-line") == [
        "not available in person"
    ]


def test_the_ways_in_a_result_gives_read_as_the_modes_filter_says_them() -> None:
    # A web chat's match reason read "by online", and "by phone, text or online" named other words than explain's
    # "not available by phone or by text" (MODE_WORDS).
    chat = open_all_week("web-chat", kind="peer_support", locations=[], access={"contact_modes": ["online"]})
    line = open_all_week("text-line", kind="crisis_line", locations=[], access={"contact_modes": ["phone", "text"]})
    response = run(index_of([chat, line]))
    assert "online" in result(response, "web-chat").match_reasons
    assert "by phone or by text" in result(response, "text-line").match_reasons
    assert not [r for shown in response.results for r in shown.match_reasons if r.startswith("by online")]


def test_language_filter() -> None:
    polish = open_all_week("polish", access={"languages": ["en", "pl"]})
    english = open_all_week("english", access={"languages": ["en"]})
    index = index_of([polish, english])
    assert ids(run(index, language="pl")) == ["polish"]
    assert sorted(ids(run(index, language="en"))) == ["english", "polish"]


def test_a_language_is_found_by_its_two_or_three_letter_code() -> None:
    # HSDS allows ISO 639-1 or 639-3: a feed's "pan" and a caller's "pa" are both Panjabi. Sylheti has no two-letter
    # code at all, and is one of England's most spoken community languages.
    panjabi = open_all_week("panjabi", access={"languages": ["en", "pan"]})
    sylheti = open_all_week("sylheti", access={"languages": ["en", "syl"]})
    index = index_of([panjabi, sylheti])
    assert panjabi.access.languages == ["en", "pa"]
    assert ids(run(index, language="pa")) == ids(run(index, language="pan")) == ["panjabi"]
    assert ids(run(index, language="syl")) == ["sylheti"]


# --- when: open now, within, any, overnight, bank holidays, temporary closure -----------------------------------


FRIDAY_MORNING = datetime(2026, 10, 9, 10, 0, tzinfo=LONDON)


def test_open_now_excludes_a_closed_cafe_and_says_when_it_opens() -> None:
    cafe = make_record("evening-cafe")  # Fridays 18:00-02:00
    response = run(index_of([cafe]), at=FRIDAY_MORNING, explain=True)
    assert ids(response) == []
    reasons = exclusion_reasons(response, "evening-cafe")
    assert any(reason.startswith("closed until") and "18:00" in reason for reason in reasons), reasons


def test_open_within_includes_a_service_opening_in_an_hour() -> None:
    index = index_of([make_record("evening-cafe")])
    five_pm = datetime(2026, 10, 9, 17, 0, tzinfo=LONDON)
    within = run(index, at=five_pm, open="within:120")
    found = result(within, "evening-cafe")
    assert found.open_now is False
    assert found.opens_next_at == datetime(2026, 10, 9, 18, 0, tzinfo=LONDON)
    assert any("18:00" in reason for reason in found.match_reasons)
    assert ids(run(index, at=five_pm, open="within:30")) == []
    assert ids(run(index, at=five_pm, open="now")) == []


def test_open_any_includes_closed_services() -> None:
    tuesday = datetime(2026, 10, 6, 10, 0, tzinfo=LONDON)
    response = run(index_of([make_record("evening-cafe")]), at=tuesday, open="any")
    found = result(response, "evening-cafe")
    assert found.open_now is False
    assert found.opens_next_at == datetime(2026, 10, 9, 18, 0, tzinfo=LONDON)


def test_a_service_with_no_recorded_hours_is_explained_as_unknown_not_closed() -> None:
    # Never shown as open (hazard H01), but a clinician must not read it as shut: the reason says to phone.
    unknown = make_record("no-hours", schedules=[])
    shut = make_record("evening-cafe")  # Fridays 18:00-02:00: shut on a Tuesday morning
    tuesday = datetime(2026, 10, 6, 10, 0, tzinfo=LONDON)
    response = run(index_of([unknown, shut]), at=tuesday, explain=True)
    assert ids(response) == []
    reasons = {item.id: item.reasons for item in response.excluded or []}
    assert reasons["no-hours"] == ["opening hours not recorded, so never shown as open: phone to check"]
    assert reasons["evening-cafe"] == ["closed until Fri 09 Oct 18:00"]


def test_open_service_ranks_above_a_closed_one_opening_soon() -> None:
    # The closed one is nearer and sorts first by id; being open still wins.
    soon = make_record("a-opens-soon", locations=located("a-opens-soon", 53.8, -1.55))
    open_now = open_all_week("z-open", locations=located("z-open", 53.85, -1.55))
    five_pm = datetime(2026, 10, 9, 17, 0, tzinfo=LONDON)
    response = run(index_of([soon, open_now]), at=five_pm, open="within:120")
    assert ids(response) == ["z-open", "a-opens-soon"]


@pytest.mark.parametrize(
    ("at", "shown"),
    [
        (datetime(2026, 10, 9, 17, 59, tzinfo=LONDON), False),
        (datetime(2026, 10, 9, 18, 0, tzinfo=LONDON), True),
        (datetime(2026, 10, 10, 1, 30, tzinfo=LONDON), True),
        (datetime(2026, 10, 10, 1, 59, tzinfo=LONDON), True),
        (datetime(2026, 10, 10, 2, 0, tzinfo=LONDON), False),
    ],
)
def test_friday_overnight_cafe_is_open_into_saturday_until_two(at: datetime, shown: bool) -> None:
    response = run(index_of([make_record("evening-cafe")]), at=at)
    assert ("evening-cafe" in ids(response)) is shown
    if shown:
        assert result(response, "evening-cafe").closes_at == datetime(2026, 10, 10, 2, 0, tzinfo=LONDON)


def test_an_instant_in_another_offset_is_read_as_the_same_moment() -> None:
    # 00:30 UTC on Saturday is 01:30 in London (BST): the café is open.
    response = run(index_of([make_record("evening-cafe")]), at=datetime(2026, 10, 10, 0, 30, tzinfo=UTC))
    assert ids(response) == ["evening-cafe"]
    assert response.query.at == datetime(2026, 10, 10, 1, 30, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("policy", "day", "shown"),
    [
        ("closed", date(2026, 8, 31), False),  # Summer bank holiday, a Monday
        ("closed", date(2026, 9, 7), True),  # the Monday after
        ("as_usual", date(2026, 8, 31), True),
    ],
)
def test_bank_holiday_closure_is_respected(policy: str, day: date, shown: bool) -> None:
    clinic = make_record(
        "day-clinic", schedules=sessions("day-clinic", ("monday", "09:00", "17:00"), bank_holidays=policy)
    )
    at = datetime.combine(day, datetime.min.time().replace(hour=12), tzinfo=LONDON)
    response = run(index_of([clinic]), at=at, explain=True)
    assert ("day-clinic" in ids(response)) is shown
    if not shown:
        assert any(reason.startswith("closed until") for reason in exclusion_reasons(response, "day-clinic"))


def test_dated_closure_is_respected() -> None:
    clinic = make_record(
        "closed-for-training",
        schedules=[
            {
                "id": "closed-for-training-hours",
                "always_open": True,
                "exceptions": [{"start_date": "2026-10-09", "end_date": "2026-10-09", "reason": "staff training"}],
            }
        ],
    )
    index = index_of([clinic])
    assert ids(run(index)) == []
    assert ids(run(index, at=FRIDAY_EVENING + timedelta(days=1))) == ["closed-for-training"]


def test_temporarily_closed_services_are_never_returned_and_explained() -> None:
    shut = open_all_week("shut-cafe", status="temporarily_closed", alert="Closed for refurbishment")
    inactive = open_all_week("old-cafe", status="inactive")
    index = index_of([shut, inactive])
    for open_filter in ("now", "within:600", "any"):
        response = run(index, open=open_filter, explain=True)
        assert ids(response) == []
    reasons = exclusion_reasons(run(index, open="any", explain=True), "shut-cafe")
    assert any("temporarily closed" in reason and "refurbishment" in reason for reason in reasons), reasons


# --- ranking: travel, staleness, ties --------------------------------------------------------------------------


def test_far_service_closing_in_ten_minutes_ranks_below_one_open_all_night() -> None:
    # Both 15 km away at the same spot; the closing one sorts first by id, so only the penalty can reorder them.
    at = datetime(2026, 10, 7, 21, 50, tzinfo=LONDON)  # a Wednesday
    far = (53.935, -1.55)
    closing = make_record(
        "a-closing",
        schedules=sessions("a-closing", ("wednesday", "12:00", "22:00")),
        locations=located("a-closing", *far),
    )
    all_night = make_record(
        "z-all-night",
        schedules=sessions("z-all-night", ("wednesday", "12:00", "08:00")),
        locations=located("z-all-night", *far),
    )
    response = run(index_of([closing, all_night]), at=at)
    assert ids(response) == ["z-all-night", "a-closing"]
    warned = result(response, "a-closing")
    assert warned.travel is not None
    assert warned.travel.arrives_before_close is False
    assert any(reason.startswith("may close before you arrive") for reason in warned.match_reasons)
    assert result(response, "z-all-night").travel.arrives_before_close is True  # type: ignore[union-attr]


def test_nearby_service_closing_in_half_an_hour_is_not_penalised() -> None:
    at = datetime(2026, 10, 7, 21, 30, tzinfo=LONDON)
    closing = make_record(
        "a-closing",
        schedules=sessions("a-closing", ("wednesday", "12:00", "22:00")),
        locations=located("a-closing", 53.8, -1.55),
    )
    all_night = make_record(
        "z-all-night",
        schedules=sessions("z-all-night", ("wednesday", "12:00", "08:00")),
        locations=located("z-all-night", 53.8, -1.55),
    )
    response = run(index_of([closing, all_night]), at=at)
    assert result(response, "a-closing").travel.arrives_before_close is True  # type: ignore[union-attr]
    assert ids(response) == ["a-closing", "z-all-night"]


def test_stale_records_are_flagged_and_rank_below_an_equal_fresh_one() -> None:
    stale = open_all_week("a-stale", provenance={"verified_at": "2024-01-01T00:00:00Z", "verify_due": "2025-01-01"})
    never = open_all_week("b-never-checked", provenance={"verified_at": None, "verify_due": None})
    fresh = open_all_week("z-fresh")
    response = run(index_of([stale, never, fresh]))
    assert ids(response)[0] == "z-fresh"
    assert result(response, "z-fresh").stale is False
    assert result(response, "a-stale").stale is True
    assert result(response, "b-never-checked").stale is True
    assert result(response, "b-never-checked").verified_at is None


def test_a_review_date_centuries_off_does_not_keep_an_old_check_verified() -> None:
    # Stored before write-time checks refused it: checked in 1901, "due" in 2199. It was fresh and gained the
    # verified bonus over an equal record checked last week.
    ancient = open_all_week("a-ancient", provenance={"verified_at": "1901-01-01T00:00:00Z", "verify_due": "2199-12-31"})
    fresh = open_all_week("z-fresh")
    response = run(index_of([ancient, fresh]))
    assert result(response, "a-ancient").stale is True
    assert ids(response) == ["z-fresh", "a-ancient"]


def test_a_record_becomes_stale_the_day_after_its_review_date() -> None:
    record = open_all_week("due", provenance={"verify_due": "2026-10-09"})
    index = index_of([record])
    assert result(run(index), "due").stale is False
    next_day = FRIDAY_EVENING + timedelta(days=1)
    assert result(run(index, at=next_day), "due").stale is True


def test_ties_break_by_id_whatever_the_input_order() -> None:
    names = ["cafe-b", "cafe-a", "cafe-d", "cafe-c"]
    records = [open_all_week(name) for name in names]
    for seed in range(3):
        random.Random(seed).shuffle(records)
        response = run(index_of(records))
        assert ids(response) == sorted(names)
        assert len({r.score for r in response.results}) == 1


def test_limit_keeps_the_best() -> None:
    records = [open_all_week(f"cafe-{i}", locations=located(f"cafe-{i}", 53.8 + i / 200, -1.55)) for i in range(8)]
    response = run(index_of(records), limit=3)
    assert ids(response) == ["cafe-0", "cafe-1", "cafe-2"]
    assert [r.rank for r in response.results] == [1, 2, 3]


def test_needs_match_lifts_a_service() -> None:
    general = open_all_week("a-general", needs=["anxiety_depression"])
    eating = open_all_week("z-eating", needs=["eating_disorder"])
    response = run(index_of([general, eating]), needs=["eating_disorder"])
    assert ids(response) == ["z-eating", "a-general"]
    assert any("eating" in reason.lower() for reason in result(response, "z-eating").match_reasons)


# --- what the response carries -----------------------------------------------------------------------------------


def test_demo_flag_is_carried() -> None:
    demo = open_all_week("demo-cafe", provenance={"source_name": "demo"})
    real = open_all_week("real-cafe")
    response = run(index_of([demo, real]))
    assert result(response, "demo-cafe").service.demo is True
    assert result(response, "real-cafe").service.demo is False


def test_response_echoes_version_build_time_and_stale_index() -> None:
    index = index_of([open_all_week("cafe")], version=42)
    response = run(index, stale_index=True)
    assert response.data_version == 42
    assert response.index_built_at == index.built_at
    assert response.stale_index is True
    assert response.query.location == LEEDS
    assert response.results[0].distance_basis == "straight line"


def test_distance_reported_is_to_the_nearest_site_and_its_address() -> None:
    record = open_all_week(
        "two-sites",
        locations=[
            {"id": "far-site", "name": "Far", "postcode": "LS1 1UR", "latitude": 53.9, "longitude": -1.55},
            {"id": "near-site", "name": "Near", "postcode": "LS1 1UR", "latitude": 53.801, "longitude": -1.55},
        ],
    )
    found = run(index_of([record])).results[0]
    assert found.service.address is not None
    assert found.service.address.startswith("Near")
    assert found.distance_km == pytest.approx(0.11, abs=0.01)


def test_explain_lists_services_just_beyond_the_radius_with_the_distance() -> None:
    near = open_all_week("near", locations=located("near", 53.81, -1.55))
    beyond = open_all_week("beyond", locations=located("beyond", 53.8 + 12 / 111.2, -1.55))
    response = run(index_of([near, beyond]), radius_km=10, explain=True)
    assert ids(response) == ["near"]
    assert any("10 km" in reason for reason in exclusion_reasons(response, "beyond"))
    assert ids(run(index_of([near, beyond]), radius_km=10)) == ["near"]


def test_a_site_is_not_shown_open_because_another_site_of_the_same_service_is() -> None:
    # Near site: Mondays 09:00-17:00 only. Far site (16.6 km): 24/7. Friday 23:00, the near door is shut.
    record = make_record(
        "two-sites",
        locations=[
            {"id": "near-site", "name": "Near", "postcode": "LS1 1UR", "latitude": 53.801, "longitude": -1.55},
            {"id": "far-site", "name": "Far", "postcode": "LS1 1UR", "latitude": 53.95, "longitude": -1.55},
        ],
        schedules=[
            {
                "id": "near-hours",
                "location_id": "near-site",
                "sessions": [{"day": "monday", "opens_at": "09:00", "closes_at": "17:00"}],
            },
            {"id": "far-hours", "location_id": "far-site", "always_open": True},
        ],
    )
    index = index_of([record])
    late = datetime(2026, 10, 9, 23, 0, tzinfo=LONDON)
    # Only the near site is within 5 km, and it is closed.
    assert ids(run(index, at=late, radius_km=5, age=30)) == []
    # Within 25 km the open site is reachable: if shown, it is shown at the site that is open.
    for found in run(index, at=late, radius_km=25, age=30).results:
        assert found.service.address is not None
        assert found.service.address.startswith("Far"), (found.service.address, found.open_now, found.hours_today)


def test_explain_says_a_service_open_at_another_site_was_ranked_below_not_closed() -> None:
    # Friday 20:00, limit=1: a café 0.17 km away fills the one place. The other café is shut at its near site
    # (Mondays only) but open all night at its far site (6.1 km): it was said to be "closed until Mon", which tells a
    # clinician it is shut tonight. Beyond the radius, an open site is no reason: then it is closed as said.
    cafe = open_all_week("a-cafe")
    two_sites = make_record(
        "b-cafe",
        locations=[
            {"id": "b-near", "postcode": "LS1 1UR", "latitude": 53.801277, "longitude": -1.548567},
            {"id": "b-far", "postcode": "LS6 1AA", "latitude": 53.8535, "longitude": -1.5720},
        ],
        schedules=[
            {
                "id": "b-near-hours",
                "location_id": "b-near",
                "sessions": [{"day": "monday", "opens_at": "10:00", "closes_at": "12:00"}],
            },
            {"id": "b-far-hours", "location_id": "b-far", "always_open": True},
        ],
    )
    index = index_of([cafe, two_sites])
    response = run(index, limit=1, explain=True)
    assert ids(response) == ["a-cafe"]
    [left_out] = [e for e in response.excluded or [] if e.id == "b-cafe"]
    assert left_out.reasons == [
        "ranked below the 1 shown (limit=1)",
        "at its site 0.17 km away: closed until Mon 12 Oct 10:00",
    ]
    assert left_out.distance_km == 6.12
    assert ids(run(index, limit=2)) == ["a-cafe", "b-cafe"]
    assert exclusion_reasons(run(index, limit=1, radius_km=5, explain=True), "b-cafe") == [
        "closed until Mon 12 Oct 10:00"
    ]


def test_a_service_is_shown_at_its_site_that_stays_open_not_the_nearer_one_about_to_close() -> None:
    # Friday 20:00. The near site (2 km) closes at 20:10: the person would arrive to a shut door. The far site
    # (6.6 km) is open all night. Another café (9.9 km) is open until 02:00. The service must be shown at the far
    # site, with its full score, and so rank first; not at the near site, penalised, below the other café.
    near, far = (53.8, -1.52), (53.8, -1.45)
    two_sites = make_record(
        "a-two-sites",
        locations=[
            {"id": "near-site", "name": "Near", "postcode": "LS1 1UR", "latitude": near[0], "longitude": near[1]},
            {"id": "far-site", "name": "Far", "postcode": "LS1 1UR", "latitude": far[0], "longitude": far[1]},
        ],
        schedules=[
            {
                "id": "near-hours",
                "location_id": "near-site",
                "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "20:10"}],
            },
            {
                "id": "far-hours",
                "location_id": "far-site",
                "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "06:00"}],
            },
        ],
    )
    other = make_record("b-other-cafe", locations=located("b-other-cafe", 53.8, -1.40))
    index = index_of([two_sites, other])
    for limit in (1, 5):
        response = run(index, limit=limit)
        assert ids(response)[0] == "a-two-sites"
        shown = result(response, "a-two-sites")
        assert shown.service.address is not None
        assert shown.service.address.startswith("Far")
        assert shown.travel is not None
        assert shown.travel.arrives_before_close is True
        assert not any(reason.startswith("may close before you arrive") for reason in shown.match_reasons)


def test_a_location_in_no_known_district_does_not_list_every_towns_local_line() -> None:
    # Coordinates with no gazetteer loaded: where the person is is known, their area is not. Local lines for other
    # towns would all be "check", in id order, above the national ones; a nearby site stays, ranked by distance.
    def line(service_id: str, catchment: dict[str, Any]) -> ServiceRecord:
        return make_record(
            service_id,
            kind="crisis_line",
            locations=[],
            schedules=open_24_7(service_id),
            access={"contact_modes": ["phone"]},
            eligibility={"minimum_age": None, "catchment": catchment},
        )

    barrow = line("barrow-line", {"type": "districts", "districts": ["E06000063"]})
    england = line("england-line", {"type": "england"})
    cafe = open_all_week("leeds-cafe", eligibility={"catchment": {"type": "districts", "districts": [LEEDS_DISTRICT]}})
    nowhere = ResolvedLocation(latitude=53.8, longitude=-1.55, source="coordinates")
    found = run(index_of([barrow, england, cafe]), location=nowhere, explain=True)
    assert "barrow-line" not in ids(found)
    assert {"england-line", "leeds-cafe"} <= set(ids(found))
    assert criterion(found, "leeds-cafe", "catchment") == "unknown"
    assert any("area of this location is not known" in reason for reason in exclusion_reasons(found, "barrow-line"))


def test_a_service_that_has_not_recorded_its_gp_rule_is_check_not_eligible() -> None:
    # 118 demonstration records leave GP registration unrecorded. Read as "not needed", such a talking-therapies
    # service came out "eligible" above a nearer one known to need it ("check"): the person may be turned away.
    unrecorded = open_all_week("unrecorded", eligibility={"gp_registration_required": None})
    required = open_all_week("required", eligibility={"gp_registration_required": True})
    not_needed = open_all_week("not-needed", eligibility={"gp_registration_required": False})
    found = run(index_of([unrecorded, required, not_needed]), age=30)
    assert result(found, "unrecorded").eligibility.verdict is Verdict.check
    assert criterion(found, "unrecorded", "gp_registration") == "unknown"
    [words] = [c.reason for c in result(found, "unrecorded").eligibility.criteria if c.criterion == "gp_registration"]
    assert words.startswith("not recorded whether")
    assert result(found, "required").eligibility.verdict is Verdict.check
    assert result(found, "not-needed").eligibility.verdict is Verdict.eligible


def test_a_service_only_a_crisis_team_can_refer_to_is_check_for_a_clinician() -> None:
    # An NHS 111 call handler or a GP searching as a professional cannot refer to a crisis house that takes only
    # the crisis team's referrals: "check that you can refer", not "eligible". Any professional's route passes.
    crisis_team_only = open_all_week("crisis-house", eligibility={"referral_routes": ["crisis_team"]})
    any_professional = open_all_week("clinic", eligibility={"referral_routes": ["professional"]})
    police_only = open_all_week("custody-suite", eligibility={"referral_routes": ["police"]})
    found = run(index_of([crisis_team_only, any_professional, police_only]), age=30, referral="professional")
    assert result(found, "crisis-house").eligibility.verdict is Verdict.check
    [words] = [c.reason for c in result(found, "crisis-house").eligibility.criteria if c.criterion == "referral"]
    assert words == "only by referral from a crisis team: check that you can refer"
    assert result(found, "clinic").eligibility.verdict is Verdict.eligible
    assert "custody-suite" not in ids(found)


@pytest.mark.parametrize("referral", ["self", "professional"])
def test_a_service_recording_no_way_in_says_so_when_left_out(referral: str) -> None:
    # Routes recorded as none (CSV "none": known, and none of them): nobody new gets in, and the words must say so.
    # They read "needs a referral: no route recorded", which sent a person looking for a referral that none opens.
    closed_to_new = open_all_week("closed-to-new", eligibility={"referral_routes": []})
    found = run(index_of([closed_to_new]), age=30, referral=referral, explain=True)
    assert "closed-to-new" not in ids(found)
    assert exclusion_reasons(found, "closed-to-new") == [
        "takes no one new: its record lists no way in (no referral route)"
    ]


def test_a_named_referrer_gets_a_certain_answer_for_named_referrer_services() -> None:
    # NHS 111 says who it is (referrer=nhs_111): a crisis house taking NHS 111's referrals is eligible, one taking
    # only the crisis team's is left out, saying why; a walk-in café passes for any clinician.
    via_111 = open_all_week("house-111", eligibility={"referral_routes": ["nhs_111", "crisis_team"]})
    team_only = open_all_week("house-team", eligibility={"referral_routes": ["crisis_team"]})
    cafe = open_all_week("cafe", eligibility={"referral_routes": ["walk_in"]})
    index = index_of([via_111, team_only, cafe])
    found = run(index, age=30, referral="professional", referrer="nhs_111", explain=True)
    assert result(found, "house-111").eligibility.verdict is Verdict.eligible
    assert result(found, "cafe").eligibility.verdict is Verdict.eligible
    assert "house-team" not in ids(found)
    assert any(
        "only by referral from a crisis team: not by referral from NHS 111" in reason
        for reason in exclusion_reasons(found, "house-team")
    )
    # Without the referrer, both houses are "check", never a guess either way.
    unnamed = run(index, age=30, referral="professional")
    assert result(unnamed, "house-111").eligibility.verdict is Verdict.check
    assert result(unnamed, "house-team").eligibility.verdict is Verdict.check


def test_a_referrer_without_referral_professional_is_a_contradiction() -> None:
    with pytest.raises(ValueError, match="give referral=professional with it"):
        SearchRequest.model_validate({"referrer": "gp"})


def test_a_time_in_octobers_repeated_hour_says_which_one() -> None:
    # At 01:15 BST on 25 October 2026 a session opening Sunday at 01:00 opens at 01:00 GMT, 45 minutes away:
    # "closed until Sun 25 Oct 01:00" and "opens at 01:00" read as 15 minutes in the past.
    night = make_record("night-cafe", schedules=sessions("night-cafe", ("sunday", "01:00", "02:00")))
    at = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)
    reasons = exclusion_reasons(run(index_of([night]), at=at, explain=True), "night-cafe")
    assert reasons == ["closed until Sun 25 Oct 01:00 (GMT)"]
    soon = result(run(index_of([night]), at=at, open="within:60"), "night-cafe")
    assert "opens at 01:00 (GMT)" in soon.match_reasons, soon.match_reasons


@pytest.mark.parametrize(
    "hours",
    [
        {"id": "h", "sessions": [], "notes": "Ring to check times"},
        {
            "id": "h",
            "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "23:00"}],
            "valid_to": "2026-06-30",
        },
        # Ended yesterday: this was "closed, and not open in the next 14 days" for one day.
        {
            "id": "h",
            "sessions": [{"day": "thursday", "opens_at": "09:00", "closes_at": "17:00"}],
            "valid_to": "2026-10-08",
        },
    ],
)
def test_hours_that_say_nothing_in_force_are_not_known_not_closed(hours: dict[str, Any]) -> None:
    # Notes alone, or hours that ended: nobody knows when it opens. "Closed, and not open in the next 14 days"
    # turned a clinician away from a service that may well be open; it reads as having no hours, as one with no
    # schedule at all does (never shown as open either).
    cafe = make_record("cafe", schedules=[hours])
    index = index_of([cafe])
    assert exclusion_reasons(run(index, explain=True), "cafe") == [
        "opening hours not recorded, so never shown as open: phone to check"
    ]
    shown = result(run(index, open="any"), "cafe")
    assert (shown.open_now, shown.hours_today) == (False, "Opening hours not recorded: phone to check")
