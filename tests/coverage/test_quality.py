from __future__ import annotations

from datetime import date

from service_finder.coverage.quality import Check, hours_text_conflicts, mentioned_minutes, quality_report
from service_finder.schemas import ScheduleRecord, ServiceRecord
from tests.coverage.conftest import index_of
from tests.factories import make_record

TODAY = date(2027, 1, 15)


def _flagged(check: Check, *records: object) -> set[str]:
    report = quality_report(index_of(list(records)), TODAY)  # type: ignore[arg-type]
    return {f.service_id for f in report.findings if f.check is check}


def test_stale_records_are_past_verify_due_or_never_verified() -> None:
    fresh = make_record("fresh")
    past = make_record("past", provenance={"verify_due": "2026-12-31"})
    never = make_record("never", provenance={"verified_at": None})
    assert _flagged(Check.stale, fresh, past, never) == {"past", "never"}


def test_a_record_with_no_verify_due_names_the_review_date_it_passed() -> None:
    lapsed = make_record("lapsed", provenance={"verified_at": "2025-06-01T09:00:00Z", "verify_due": None})
    report = quality_report(index_of([lapsed]), TODAY)
    assert [f.detail for f in report.findings if f.check is Check.stale] == [
        "review date 2026-06-01 has passed (no verify_due: a year after last verified 2025-06-01)"
    ]


def test_a_review_date_further_off_than_a_check_counts_is_named_as_such() -> None:
    ancient = make_record("ancient", provenance={"verified_at": "1901-01-01T00:00:00Z", "verify_due": "2199-12-31"})
    report = quality_report(index_of([ancient]), TODAY)
    assert [f.detail for f in report.findings if f.check is Check.stale] == [
        "review due by 1903-01-02, before its verify_due 2199-12-31 (last verified 1901-01-01)"
    ]


def test_missing_schedule_phone_and_location() -> None:
    no_hours = make_record("no-hours", schedules=[])
    no_phone = make_record("no-phone", phones=[])
    nowhere = make_record("nowhere", locations=[])
    line = make_record("line", kind="crisis_line", locations=[], access={"contact_modes": ["phone"]})
    records = (no_hours, no_phone, nowhere, line)
    assert _flagged(Check.no_schedule, *records) == {"no-hours"}
    assert _flagged(Check.no_phone, *records) == {"no-phone"}
    assert _flagged(Check.no_location, *records) == {"nowhere"}  # a phone line is not visited


def test_no_location_is_asked_of_what_the_search_takes_for_a_place_to_go() -> None:
    # An online-only peer group was "visited in person but has no location", while the search offered it as a line
    # reached online; a referral-only crisis house listing only phone is a place (has_door) and needs one.
    web_chat = make_record("web-chat", kind="peer_support", locations=[], access={"contact_modes": ["online"]})
    group = make_record("group", kind="peer_support", locations=[], access={"contact_modes": []})
    house = make_record("house", kind="crisis_house", locations=[], access={"contact_modes": ["phone"]})
    helpline = make_record("helpline", kind="helpline", locations=[], access={"contact_modes": []})
    assert _flagged(Check.no_location, web_chat, group, house, helpline) == {"group", "house"}


def test_duplicates_by_name_and_postcode_or_by_phone_at_the_same_place() -> None:
    a = make_record("a", name="Leeds Café")
    b = make_record("b", name="LEEDS  CAFE", phones=[{"number": "0113 496 0999"}])
    c = make_record("c", name="Something Else")  # same phone as a, same coordinates
    d = make_record(
        "d", name="Far Away", locations=[{"id": "d-loc", "postcode": "LS6 1AA", "latitude": 53.82, "longitude": -1.57}]
    )
    assert _flagged(Check.duplicate, a, b, c, d) == {"a", "b", "c"}


def test_demonstration_records() -> None:
    assert _flagged(Check.demo, make_record("real"), make_record("demo", provenance={"source_name": "demo"})) == {
        "demo"
    }


def test_times_in_free_text() -> None:
    assert mentioned_minutes("6pm to 2am, or 17:30 on Sundays; midnight on Fridays") == {1080, 120, 1050, 0}


def test_afternoons_and_midnights_are_told_apart() -> None:
    # "afternoon" holds "noon": every afternoon note was flagged as contradicting hours at 12:00.
    assert mentioned_minutes("Drop in on weekday afternoons, 2pm to 5pm") == {14 * 60, 17 * 60}
    assert mentioned_minutes("Open from noon; closes at Midnight") == {720, 0}


def test_notes_that_contradict_the_structured_hours() -> None:
    def schedule(notes: str, **extra: object) -> ScheduleRecord:
        base: dict[str, object] = {
            "id": "s",
            "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}],
            "notes": notes,
        }
        return ScheduleRecord.model_validate(base | extra)

    assert hours_text_conflicts(schedule("Fridays 6pm to 2am")) == []
    assert hours_text_conflicts(schedule("Fridays 6pm to 3am"))[0].endswith(
        "mention 03:00, which no session opens or closes at"
    )
    assert "around the clock" in hours_text_conflicts(schedule("Open 24/7"))[0]
    assert hours_text_conflicts(ScheduleRecord.model_validate({"id": "s", "always_open": True, "notes": "24/7"})) == []
    record = make_record("x", schedules=[schedule("until 11pm").model_dump(mode="json")])
    report = quality_report(index_of([record]), TODAY)
    assert [f.check for f in report.findings if f.service_id == "x"] == [Check.hours_text_conflict]
    assert report.counts[[c.check for c in report.counts].index(Check.hours_text_conflict)].services == 1
    assert report.data_version == 1


def test_prices_and_callback_promises_are_not_read_as_opening_hours() -> None:
    assert mentioned_minutes("Entry £2.50, open 5pm to 10.30pm") == {17 * 60, 22 * 60 + 30}
    evening = {"id": "s", "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}]}
    promise = ScheduleRecord.model_validate(evening | {"notes": "Fridays 6pm to 2am; we call back within 24 hours"})
    assert hours_text_conflicts(promise) == []
    claim = ScheduleRecord.model_validate(evening | {"notes": "Open 24 hours"})
    assert "around the clock" in hours_text_conflicts(claim)[0]


def test_overnight_hours_running_into_the_next_days_hours_are_flagged() -> None:
    # Christmas Day 22:00-02:00 and Boxing Day 01:00-03:00 overlap between them; each day alone is sound.
    def hours_of(**schedule: object) -> ServiceRecord:
        return make_record(
            str(schedule.pop("id")),
            schedules=[
                {"id": "hours", "sessions": [{"day": "monday", "opens_at": "09:00", "closes_at": "17:00"}]} | schedule
            ],
        )

    night = [{"opens_at": "22:00", "closes_at": "02:00"}, {"opens_at": "01:00", "closes_at": "03:00"}]
    bank = hours_of(id="bank", bank_holidays="special", bank_holiday_hours=night)
    festive = hours_of(
        id="festive",
        exceptions=[{"start_date": "2026-12-24", "end_date": "2026-12-26", "closed": False, "hours": night}],
    )
    one_day = hours_of(
        id="one-day",
        exceptions=[{"start_date": "2026-12-24", "end_date": "2026-12-24", "closed": False, "hours": night}],
    )
    after = [{"opens_at": "22:00", "closes_at": "02:00"}, {"opens_at": "02:00", "closes_at": "04:00"}]
    touching = hours_of(id="touching", bank_holidays="special", bank_holiday_hours=after)
    report = quality_report(index_of([bank, festive, one_day, touching]), TODAY)
    found = {f.service_id: f.detail for f in report.findings if f.check is Check.hours_overlap_next_day}
    assert found == {
        "bank": "schedule 'hours': bank_holiday_hours: hours 22:00-02:00 run into the next bank holiday's 01:00-03:00",
        "festive": "schedule 'hours': exception from 2026-12-24: hours 22:00-02:00 run into the next day's 01:00-03:00",
    }


def test_schedules_that_give_no_hours_from_today_are_flagged_as_no_schedule() -> None:
    # H02: notes alone, or hours that have ended, tell a person no more than no schedule at all.
    def with_hours(service_id: str, **schedule: object) -> ServiceRecord:
        return make_record(service_id, schedules=[{"id": f"{service_id}-h", "sessions": []} | schedule])

    notes_only = with_hours("notes-only", notes="Ring to check times")
    ended = with_hours(
        "ended", sessions=[{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}], valid_to="2026-12-31"
    )
    past_opening = with_hours(
        "past-opening",
        exceptions=[
            {
                "start_date": "2026-12-24",
                "end_date": "2026-12-24",
                "closed": False,
                "hours": [{"opens_at": "10:00", "closes_at": "14:00"}],
            }
        ],
    )
    weekly = make_record("weekly")
    bank_holidays_only = with_hours(
        "bank-holidays-only", bank_holidays="special", bank_holiday_hours=[{"opens_at": "10:00", "closes_at": "16:00"}]
    )
    coming = with_hours(
        "coming",
        exceptions=[
            {
                "start_date": "2027-12-24",
                "end_date": "2027-12-24",
                "closed": False,
                "hours": [{"opens_at": "10:00", "closes_at": "14:00"}],
            }
        ],
    )
    report = quality_report(index_of([notes_only, ended, past_opening, weekly, bank_holidays_only, coming]), TODAY)
    found = {f.service_id: f.detail for f in report.findings if f.check is Check.no_schedule}
    lead = "no opening hours from 2027-01-15 on: "
    assert found == {
        "notes-only": lead + "schedule 'notes-only-h': no hours (notes 'Ring to check times')",
        "ended": lead + "schedule 'ended-h': hours ended 2026-12-31",
        "past-opening": lead + "schedule 'past-opening-h': only special openings, none on or after 2027-01-15",
    }


def test_every_way_of_writing_24_hours_is_read_and_dates_are_not_times() -> None:
    # H11: "Open 24hrs" on a schedule that is not always_open went unflagged; "closed 24.12" was read as 00:12.
    evening = {"id": "s", "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}]}
    for notes in ("Open 24hrs", "24-hour service", "Open 24 hrs", "open 24hr", "A 24 hour line"):
        problems = hours_text_conflicts(ScheduleRecord.model_validate(evening | {"notes": notes}))
        assert any("around the clock" in p for p in problems), notes
    promise = ScheduleRecord.model_validate(evening | {"notes": "We call back within 24hrs"})
    assert hours_text_conflicts(promise) == []
    assert mentioned_minutes("Closed 24.12 and 25.12.2026; open 18.00 to 02.00, or 6.30pm") == {1080, 120, 1110}
    assert hours_text_conflicts(ScheduleRecord.model_validate(evening | {"notes": "Closed 24.12 to 26.12"})) == []
