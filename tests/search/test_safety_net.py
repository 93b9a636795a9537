"""The safety net: never empty, the right national lines for the person, and local 24/7 lines that cover them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from service_finder.schemas import ResolvedLocation, SearchRequest, ServiceRecord
from service_finder.search.engine import safety_net
from service_finder.search.safety_net import FALLBACK_SAFETY_NET
from tests.factories import make_record
from tests.search.conftest import (
    LEEDS,
    LEEDS_DISTRICT,
    LONDON,
    WAKEFIELD_DISTRICT,
    always_open,
    ids,
    index_of,
    result,
    run,
    sessions,
)


def local_line(service_id: str, districts: list[str], **overrides: Any) -> ServiceRecord:
    fields: dict[str, Any] = {
        "kind": "crisis_line",
        "eligibility": {"minimum_age": None, "catchment": {"type": "districts", "districts": districts}},
        "access": {"contact_modes": ["phone"]},
        "locations": [],
        "schedules": always_open(service_id),
    }
    fields.update(overrides)
    return make_record(service_id, **fields)


def numbers(entries: list[Any]) -> set[str]:
    return {phone.number for entry in entries for phone in entry.phones}


def test_empty_index_still_answers_with_the_national_lines() -> None:
    response = run(index_of([]), age=40, intoxicated=True, explain=True)
    assert response.results == []
    assert {"999", "111", "116123", "85258"} <= numbers(response.safety_net)
    assert all(entry.local is False for entry in response.safety_net)


def test_fallback_is_in_step_with_the_shipped_national_lines(national_records: list[ServiceRecord]) -> None:
    shipped = {record.id: record for record in national_records}
    for entry in FALLBACK_SAFETY_NET:
        assert entry.id in shipped, f"fallback {entry.id!r} is not in data/national_lines.json"
        assert numbers([entry]) == numbers([shipped[entry.id]]), entry.id


def test_inactive_national_lines_fall_back_rather_than_leave_the_net_empty(
    national_records: list[ServiceRecord],
) -> None:
    withdrawn = [record.model_copy(update={"status": "inactive"}) for record in national_records]
    entries = safety_net(index_of(withdrawn), SearchRequest(), LEEDS)
    assert entries
    assert {"999", "111"} <= numbers(entries)


@pytest.mark.parametrize(("age", "papyrus"), [(20, True), (34, True), (35, False), (40, False)])
def test_papyrus_is_offered_only_to_people_it_serves(
    national_records: list[ServiceRecord], age: int, papyrus: bool
) -> None:
    entries = safety_net(index_of(national_records), SearchRequest(age=age), LEEDS)
    assert ("papyrus-hopeline247" in [e.id for e in entries]) is papyrus
    # Everyone gets 999, NHS 111 option 2 and Samaritans whatever their age.
    assert {"emergency-999", "nhs-111-mental-health", "samaritans"} <= {e.id for e in entries}


def test_national_lines_go_in_the_safety_net_not_the_results(national_records: list[ServiceRecord]) -> None:
    response = run(index_of(national_records), location=None, age=30)
    flagged = {record.id for record in national_records if record.safety_net}
    assert not flagged & set(ids(response))
    assert flagged - {"papyrus-hopeline247"} <= {entry.id for entry in response.safety_net}
    # A line that is not flagged as a safety net (CALM) is an ordinary, remote result.
    assert "calm-helpline" in ids(response)
    assert "calm-helpline" not in {entry.id for entry in response.safety_net}


def test_local_24_7_crisis_line_covering_the_district_is_added(national_records: list[ServiceRecord]) -> None:
    leeds = local_line("leeds-crisis-line", [LEEDS_DISTRICT])
    wakefield = local_line("wakefield-crisis-line", [WAKEFIELD_DISTRICT])
    daytime = local_line(
        "leeds-day-line", [LEEDS_DISTRICT], schedules=sessions("leeds-day-line", ("monday", "09:00", "17:00"))
    )
    closed = local_line("leeds-closed-line", [LEEDS_DISTRICT], status="temporarily_closed")
    index = index_of([*national_records, leeds, wakefield, daytime, closed])

    entries = safety_net(index, SearchRequest(), LEEDS)
    local = [entry for entry in entries if entry.local]
    assert [entry.id for entry in local] == ["leeds-crisis-line"]
    assert all(entry.local is False for entry in entries if entry.id != "leeds-crisis-line")
    assert "24" in local[0].hours or "every day" in local[0].hours.lower()

    # The same person searching through the engine sees it too.
    assert "leeds-crisis-line" in [e.id for e in run(index).safety_net if e.local]


def test_a_local_line_is_offered_only_while_it_is_open_round_the_clock(national_records: list[ServiceRecord]) -> None:
    # Its 24/7 hours ended in June; since then weekdays 9 to 5. And a 24/7 line shut for the night by a dated closure.
    ended = local_line(
        "leeds-ended-line",
        [LEEDS_DISTRICT],
        schedules=[
            {"id": "ended-247", "always_open": True, "valid_to": "2026-06-30"},
            *[
                {**s, "id": "ended-weekdays", "valid_from": "2026-07-01"}
                for s in sessions("ended", *((day, "09:00", "17:00") for day in ("monday", "tuesday", "friday")))
            ],
        ],
    )
    shut = local_line(
        "leeds-shut-line",
        [LEEDS_DISTRICT],
        schedules=[
            {
                "id": "shut-247",
                "always_open": True,
                "exceptions": [{"start_date": "2026-10-09", "end_date": "2026-10-10", "closed": True}],
            }
        ],
    )
    steady = local_line("leeds-crisis-line", [LEEDS_DISTRICT])
    index = index_of([*national_records, ended, shut, steady])
    friday_night, friday_morning = (
        datetime(2026, 10, 9, 23, 0, tzinfo=LONDON),
        datetime(2026, 10, 9, 10, 0, tzinfo=LONDON),
    )
    assert [e.id for e in run(index, at=friday_night).safety_net if e.local] == ["leeds-crisis-line"]
    # Open at 10:00, but only till 17:00: not a line that is always there.
    assert [e.id for e in run(index, at=friday_morning).safety_net if e.local] == ["leeds-crisis-line"]
    later = datetime(2026, 10, 12, 23, 0, tzinfo=LONDON)  # the closure is over
    assert [e.id for e in safety_net(index, SearchRequest(), LEEDS, at=later) if e.local] == [
        "leeds-crisis-line",
        "leeds-shut-line",
    ]


def test_a_national_line_shut_by_a_dated_closure_leaves_the_net_while_shut(
    national_records: list[ServiceRecord],
) -> None:
    # An edit gives Samaritans a dated closure (say, a planned switchover): while it lasts the net must not list it
    # among the lines that are always there; the others stay. With every national line shut, the built-in list.
    closure = {"start_date": "2026-10-09", "end_date": "2026-10-10", "closed": True}

    def shut(record: ServiceRecord) -> ServiceRecord:
        data = record.model_dump(mode="json")
        for schedule in data["schedules"]:
            schedule["exceptions"] = [*schedule.get("exceptions", []), closure]
        return ServiceRecord.model_validate(data)

    samaritans = next(r for r in national_records if "samaritans" in r.id)
    others = [r for r in national_records if r.id != samaritans.id]
    during, after = datetime(2026, 10, 9, 23, 0, tzinfo=LONDON), datetime(2026, 10, 12, 23, 0, tzinfo=LONDON)
    index = index_of([*others, shut(samaritans)])
    assert samaritans.id not in [e.id for e in safety_net(index, SearchRequest(), LEEDS, at=during)]
    assert {"999", "111"} <= numbers(safety_net(index, SearchRequest(), LEEDS, at=during))
    assert samaritans.id in [e.id for e in safety_net(index, SearchRequest(), LEEDS, at=after)]
    every_one_shut = index_of([shut(r) for r in national_records])
    assert numbers(safety_net(every_one_shut, SearchRequest(), LEEDS, at=during)) == numbers(list(FALLBACK_SAFETY_NET))


def test_a_local_line_with_an_office_open_office_hours_is_still_a_24_7_line() -> None:
    # Service-wide 24/7 hours, and a base (a site) open weekdays 9 to 5 with hours of its own.
    line = local_line(
        "leeds-crisis-line",
        [LEEDS_DISTRICT],
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
    friday_night = datetime(2026, 10, 9, 20, 0, tzinfo=LONDON)
    local = [e for e in safety_net(index_of([line]), SearchRequest(), LEEDS, at=friday_night) if e.local]
    assert [e.id for e in local] == ["leeds-crisis-line"]
    # The line's hours, not its office's too ("Open 24 hours, every day; Fridays 9am to 5pm" read as a doubt).
    assert local[0].hours == "Open 24 hours, every day"


def test_a_local_line_whose_24_7_hours_are_recorded_at_its_base_is_in_the_net() -> None:
    # Its only hours are its site's: they are the line's hours. It used to be read as having none, so never open.
    line = local_line(
        "leeds-crisis-line",
        [LEEDS_DISTRICT],
        locations=[{"id": "base", "postcode": "LS1 1UR", "latitude": 53.8, "longitude": -1.55}],
        schedules=[{"id": "base-247", "location_id": "base", "always_open": True}],
    )
    friday_night = datetime(2026, 10, 9, 20, 0, tzinfo=LONDON)
    assert [e.id for e in safety_net(index_of([line]), SearchRequest(), LEEDS, at=friday_night) if e.local] == [
        "leeds-crisis-line"
    ]


DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def test_a_local_line_open_round_the_clock_by_its_sessions_is_a_24_7_line() -> None:
    # An Open Referral row Mo-Su 00:00-24:00 is stored as sessions, not as 24/7: the results said "Open 24 hours
    # today" while the net left the line out. Days and nights as two schedules add up to 24/7 too. Open round the
    # clock today but not every day, or closed on bank holidays (as migration 0003 rewrote some 24/7 lines), it is
    # not a line that is always there, even on a day when it is open for the next 24 hours.
    every_day = sessions("every-day", *((day, "00:00", "24:00") for day in DAYS))
    shifts = [
        {**sessions("days", *((day, "08:00", "20:00") for day in DAYS))[0], "id": "days-hours"},
        {**sessions("nights", *((day, "20:00", "08:00") for day in DAYS))[0], "id": "nights-hours"},
    ]
    lines = [
        local_line("leeds-sessions-line", [LEEDS_DISTRICT], schedules=every_day),
        local_line("leeds-shifts-line", [LEEDS_DISTRICT], schedules=shifts),
        local_line(
            "leeds-no-sundays-line",
            [LEEDS_DISTRICT],
            schedules=sessions("no-sundays", *((day, "00:00", "24:00") for day in DAYS[:6])),
        ),
        local_line(
            "leeds-no-bank-holidays-line",
            [LEEDS_DISTRICT],
            schedules=sessions("no-bh", *((day, "00:00", "24:00") for day in DAYS), bank_holidays="closed"),
        ),
    ]
    index = index_of(lines)
    wednesday_night = datetime(2026, 11, 18, 23, 0, tzinfo=LONDON)
    local = [e.id for e in run(index, at=wednesday_night, kinds=["crisis_cafe"]).safety_net if e.local]
    assert local == ["leeds-sessions-line", "leeds-shifts-line"]
    # The results read the same hours the same way: open, with no closing time.
    shown = result(run(index, at=wednesday_night), "leeds-sessions-line")
    assert shown.open_now
    assert shown.closes_at is None


def test_no_local_lines_without_a_district() -> None:
    index = index_of([local_line("leeds-crisis-line", [LEEDS_DISTRICT])])
    assert not any(e.local for e in safety_net(index, SearchRequest(), None))
    nowhere = LEEDS.model_copy(update={"district_code": None})
    assert not any(e.local for e in safety_net(index, SearchRequest(), nowhere))


def test_local_line_with_a_polygon_catchment_covering_the_person_is_added() -> None:
    # Issue 4: "any local 24/7 crisis line whose catchment covers the location", whatever shape the catchment is.
    square = [[-1.7, 53.7], [-1.4, 53.7], [-1.4, 53.9], [-1.7, 53.9], [-1.7, 53.7]]
    line = local_line(
        "polygon-line",
        [],
        eligibility={
            "minimum_age": None,
            "catchment": {"type": "polygon", "geojson": {"type": "Polygon", "coordinates": [square]}},
        },
    )
    inside = ResolvedLocation(latitude=53.8, longitude=-1.55, source="coordinates", district_code=LEEDS_DISTRICT)
    entries = safety_net(index_of([line]), SearchRequest(), inside)
    assert "polygon-line" in [entry.id for entry in entries if entry.local]


@pytest.mark.parametrize(
    ("person", "offered"),
    [
        ({"age": 15}, False),
        ({"age": 18}, True),
        ({}, True),  # age not given: kept, as for the national lines
        ({"age": 30, "gender": "man"}, False),
        ({"age": 30, "sex": "male"}, False),
        ({"age": 30, "gender": "woman"}, True),
        ({"age": 30, "gender": "non_binary"}, False),
    ],
)
def test_local_lines_are_offered_only_to_people_they_serve(person: dict[str, Any], offered: bool) -> None:
    # A district line for women aged 18 and over, and one drawn as a polygon with the same limits.
    square = [[-1.7, 53.7], [-1.4, 53.7], [-1.4, 53.9], [-1.7, 53.9], [-1.7, 53.7]]
    limits = {"minimum_age": 18, "genders": ["women"]}
    district = local_line(
        "women-district-line",
        [LEEDS_DISTRICT],
        eligibility={**limits, "catchment": {"type": "districts", "districts": [LEEDS_DISTRICT]}},
    )
    polygon = local_line(
        "women-polygon-line",
        [],
        eligibility={
            **limits,
            "catchment": {"type": "polygon", "geojson": {"type": "Polygon", "coordinates": [square]}},
        },
    )
    everyone = local_line("leeds-crisis-line", [LEEDS_DISTRICT])
    index = index_of([district, polygon, everyone])
    for _ in range(2):  # the second time from the per-district memo
        local = {e.id for e in run(index, **person).safety_net if e.local}
        assert "leeds-crisis-line" in local
        assert ("women-district-line" in local) is offered
        assert ("women-polygon-line" in local) is offered


def test_a_stale_local_line_says_so_in_the_safety_net(national_records: list[ServiceRecord]) -> None:
    # A line past its review date was marked stale among the results but not in the safety net, where the number
    # is dialled without a second look: the entry now carries `stale` and when it was last checked.
    checked = {"verified_at": "2024-01-15T10:00:00+00:00", "verify_due": "2024-07-15"}
    old = local_line("leeds-crisis-line", [LEEDS_DISTRICT], provenance=checked)
    found = run(index_of([*national_records, old]), today=datetime(2026, 11, 27).date())
    [entry] = [e for e in found.safety_net if e.local]
    assert entry.stale is True
    assert entry.verified_at is not None
    assert entry.verified_at.year == 2024
    assert all(not e.stale and e.verified_at is not None for e in found.safety_net if not e.local)


def test_a_national_line_open_now_stays_even_if_not_round_the_clock(national_records: list[ServiceRecord]) -> None:
    # A safety-net line is never a result: left out of the net, it would be left out of the answer. One open now
    # (a day helpline flagged as a national line) stays while it is open, and one with no hours recorded stays.
    day_line = make_record(
        "day-helpline",
        kind="helpline",
        safety_net=True,
        locations=[],
        schedules=sessions("day", *((d, "09:00", "21:00") for d in ("monday", "tuesday", "wednesday"))),
        access={"contact_modes": ["phone"]},
        eligibility={"minimum_age": None, "catchment": {"type": "england"}},
    )
    no_hours = day_line.model_copy(update={"id": "no-hours-line", "schedules": []})
    index = index_of([*national_records, day_line, no_hours])
    morning, night = datetime(2026, 11, 18, 10, 0, tzinfo=LONDON), datetime(2026, 11, 18, 22, 0, tzinfo=LONDON)
    assert {"day-helpline", "no-hours-line"} <= {e.id for e in safety_net(index, SearchRequest(), LEEDS, at=morning)}
    assert "day-helpline" not in {e.id for e in safety_net(index, SearchRequest(), LEEDS, at=night)}
    assert "no-hours-line" in {e.id for e in safety_net(index, SearchRequest(), LEEDS, at=night)}


@pytest.mark.parametrize(
    ("line_rules", "person", "offered"),
    [
        ({"referral_routes": ["gp", "professional"]}, {}, False),  # looking for themselves: needs a referral
        ({"referral_routes": ["gp", "professional"]}, {"referral": "professional"}, True),
        ({"referral_routes": ["crisis_team"]}, {"referral": "professional", "referrer": "nhs_111"}, False),
        ({"referral_routes": ["crisis_team"]}, {"referral": "professional"}, True),  # "check": kept
        ({"referral_routes": None}, {}, True),  # not recorded: kept
        ({"accepts_intoxicated": False}, {"intoxicated": True}, False),
        ({"accepts_intoxicated": False}, {}, True),
        ({"accepts_substance_use": False}, {"needs": ["alcohol"]}, False),
    ],
)
def test_the_safety_net_never_offers_a_line_the_same_answer_says_will_not_take_the_person(
    line_rules: dict[str, Any], person: dict[str, Any], offered: bool
) -> None:
    # A 24/7 line for the crisis team's and GPs' referrals was the number to call for someone looking for
    # themselves, while `excluded` said of the same line "needs a referral".
    line = local_line(
        "leeds-professional-line",
        [LEEDS_DISTRICT],
        eligibility={"minimum_age": None, "referral_routes": ["walk_in", "self_referral"], **line_rules},
    )
    index = index_of([line])
    response = run(index, explain=True, **person)
    assert ("leeds-professional-line" in {e.id for e in response.safety_net if e.local}) is offered
    if not offered:
        assert "leeds-professional-line" in {e.id for e in response.excluded or []}
    assert {"999", "111"} <= numbers(response.safety_net)
