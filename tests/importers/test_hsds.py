from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service_finder.domain.taxonomy import KINDS, AccessFeature, Need, ReferralRoute, ServiceKind
from service_finder.importers.hsds import (
    hsds_taxonomies,
    hsds_taxonomy_terms,
    parse_hsds,
    to_hsds_document,
    to_hsds_service,
)
from service_finder.importers.pipeline import check_records
from service_finder.schemas import ServiceRecord
from tests.factories import service_data
from tests.importers.strategies import service_records

HSDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "hsds-3.0"
DATA = Path(__file__).parent / "data"


@cache
def _validator(name: str = "service.json") -> jsonschema.Draft202012Validator:
    # The compiled schemas declare no $schema and use no $ref; format checking catches non-UUID ids.
    schema = json.loads((HSDS / name).read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _schema_errors(service: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(service)]


def _record(**overrides: Any) -> ServiceRecord:
    return ServiceRecord.model_validate(service_data(**overrides))


def _through_file(records: list[ServiceRecord]) -> list[Any]:
    return list(json.loads(json.dumps(to_hsds_document(records))))


def _attribute_terms(obj: dict[str, Any]) -> dict[str, str | None]:
    return {a["taxonomy_term"]["term_uri"]: a.get("value") for a in obj.get("attributes", [])}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(service_records, max_size=2))
def test_export_then_import_gives_back_the_same_records(records: list[ServiceRecord]) -> None:
    parsed = parse_hsds(_through_file(records))

    assert [p.problems for p in parsed] == [[] for _ in records]
    assert [p.record for p in parsed] == records


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(service_records)
def test_every_exported_service_conforms_to_the_hsds_3_schema(record: ServiceRecord) -> None:
    service = to_hsds_service(record, last_modified=datetime(2024, 6, 1, 12, tzinfo=UTC))

    assert _schema_errors(service) == []


def test_schema_check_is_live() -> None:
    service = to_hsds_service(_record())
    service["id"] = "leeds-test-cafe"
    del service["status"]

    assert len(_schema_errors(service)) == 2


def test_languages_carry_their_english_names_and_a_three_letter_code_survives() -> None:
    record = _record(access={"languages": ["en", "pan", "syl"]})
    service = to_hsds_service(record)

    assert [(row["code"], row["name"]) for row in service["languages"]] == [
        ("en", "English"),
        ("pa", "Panjabi"),
        ("syl", "Sylheti"),
    ]
    assert _schema_errors(service) == []
    [parsed] = parse_hsds(_through_file([record]))
    assert parsed.record is not None
    assert parsed.record.access.languages == ["en", "pa", "syl"]


def test_overnight_session_is_a_weekly_row_that_closes_before_it_opens() -> None:
    record = _record(
        schedules=[{"id": "cafe-hours", "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}]}]
    )

    [row] = to_hsds_service(record)["schedules"]

    assert (row["freq"], row["byday"], row["opens_at"], row["closes_at"]) == ("WEEKLY", "FR", "18:00", "02:00")
    assert "Saturday 02:00" in row["description"]
    assert "timezone" not in row  # HSDS timezone is a fixed offset; Europe/London has two


def test_every_weekly_row_says_its_times_are_uk_time() -> None:
    # Without it an HSDS reader takes opens_at "18:00" as UTC: an hour out all summer.
    record = _record(
        schedules=[{"id": "cafe-hours", "sessions": [{"day": "monday", "opens_at": "09:00", "closes_at": "17:00"}]}]
    )

    [row] = to_hsds_service(record)["schedules"]

    assert row["description"] == "Monday 09:00-17:00, UK time (Europe/London)"
    assert [parsed.record for parsed in parse_hsds(_through_file([record]))] == [record]


def test_location_schedule_sits_on_its_service_at_location() -> None:
    record = _record(
        schedules=[
            {"id": "cafe-hours", "location_id": "leeds-test-cafe-loc", "always_open": True},
        ]
    )
    service = to_hsds_service(record)

    assert service["schedules"] == []
    [row] = service["service_at_locations"][0]["schedules"]
    assert (row["byday"], row["opens_at"], row["closes_at"]) == ("MO,TU,WE,TH,FR,SA,SU", "00:00", "24:00")


def test_exceptions_and_bank_holidays_never_read_as_extra_opening_hours() -> None:
    record = _record(
        schedules=[
            {
                "id": "cafe-hours",
                "sessions": [{"day": "monday", "opens_at": "18:00", "closes_at": "23:00"}],
                "bank_holidays": "special",
                "bank_holiday_hours": [{"opens_at": "12:00", "closes_at": "16:00"}],
                "exceptions": [
                    {"start_date": "2024-12-24", "end_date": "2024-12-26", "reason": "Christmas"},
                    {
                        "start_date": "2025-01-01",
                        "end_date": "2025-01-01",
                        "closed": False,
                        "hours": [{"opens_at": "10:00", "closes_at": "14:00"}],
                    },
                ],
            }
        ]
    )
    rows = to_hsds_service(record)["schedules"]

    timed = [row for row in rows if "opens_at" in row]
    assert [(r["byday"], r["opens_at"]) for r in timed] == [("MO", "18:00")]
    closure = next(r for r in rows if r.get("valid_from") == "2024-12-24")
    assert closure["valid_to"] == "2024-12-26"
    assert "Christmas" in closure["description"]
    assert parse_hsds(to_hsds_service(record))[0].record == record


def test_status_uses_hsds_words() -> None:
    record = _record(status="temporarily_closed")

    service = to_hsds_service(record)

    assert service["status"] == "temporarily closed"
    assert parse_hsds(service)[0].record == record


def test_kind_is_a_taxonomy_term_carrying_the_mhsds_team_type() -> None:
    service = to_hsds_service(_record(kind="crisis_cafe"))

    [kind] = [
        a["taxonomy_term"] for a in service["attributes"] if a["taxonomy_term"]["taxonomy"] == "service-finder:kind"
    ]
    assert kind["term_uri"] == "service-finder:kind:crisis_cafe"
    assert kind["code"] == "A21"
    assert kind["taxonomy_detail"]["name"] == "service-finder:kind"


def test_unknown_tri_states_write_no_attribute_and_known_ones_write_their_value() -> None:
    record = _record(
        eligibility={"accepts_intoxicated": None, "accepts_substance_use": False},
        access={"accessibility": {"step_free": True, "bsl": False}},
    )
    terms = _attribute_terms(to_hsds_service(record))

    assert "service-finder:eligibility:accepts_intoxicated" not in terms
    assert terms["service-finder:eligibility:accepts_substance_use"] == "false"
    assert terms["service-finder:access-feature:step_free"] == "true"
    assert terms["service-finder:access-feature:bsl"] == "false"
    assert "service-finder:access-feature:wheelchair" not in terms


def test_known_empty_referral_routes_differ_from_unknown() -> None:
    none_known = _record(eligibility={"referral_routes": None})
    none_accepted = _record(eligibility={"referral_routes": []})

    assert parse_hsds(to_hsds_service(none_known))[0].record == none_known
    assert parse_hsds(to_hsds_service(none_accepted))[0].record == none_accepted
    assert none_known != none_accepted


def test_catchment_districts_are_service_areas_named_by_ons_code() -> None:
    service = to_hsds_service(_record(eligibility={"catchment": {"type": "districts", "districts": ["E08000035"]}}))

    [area] = service["service_areas"]
    assert area["name"] == "E08000035"
    assert area["uri"].endswith("/E08000035")


def test_polygon_catchment_is_geojson_extent() -> None:
    polygon = {"type": "Polygon", "coordinates": [[[-1.6, 53.7], [-1.4, 53.7], [-1.4, 53.9], [-1.6, 53.7]]]}
    service = to_hsds_service(
        _record(eligibility={"catchment": {"type": "polygon", "districts": [], "geojson": polygon}})
    )

    [area] = service["service_areas"]
    assert area["extent_type"] == "geojson"
    assert json.loads(area["extent"]) == polygon


def test_ids_are_uuids_and_our_identifiers_survive() -> None:
    record = _record()
    service = to_hsds_service(record)

    assert service["id"] != record.id
    assert service["service_at_locations"][0]["location"]["external_identifier"] == record.locations[0].id
    assert parse_hsds(service)[0].record == record


def test_taxonomies_cover_every_vocabulary_value_and_conform() -> None:
    schema = json.loads((HSDS / "service.json").read_text())
    term_schema = schema["properties"]["attributes"]["items"]["properties"]["taxonomy_term"]
    taxonomy_schema = term_schema["properties"]["taxonomy_detail"]
    check = jsonschema.Draft202012Validator.FORMAT_CHECKER
    terms, taxonomies = hsds_taxonomy_terms(), hsds_taxonomies()

    for term in terms:
        jsonschema.validate(term, term_schema, format_checker=check)
    for taxonomy in taxonomies:
        jsonschema.validate(taxonomy, taxonomy_schema, format_checker=check)
    uris = {t["term_uri"] for t in terms}
    expected = (
        {f"service-finder:kind:{k.value}" for k in ServiceKind}
        | {f"service-finder:need:{n.value}" for n in Need}
        | {f"service-finder:referral-route:{r.value}" for r in ReferralRoute}
        | {f"service-finder:access-feature:{a.value}" for a in AccessFeature}
    )
    assert expected <= uris
    assert len({t["id"] for t in terms}) == len(terms)
    assert {t["taxonomy_id"] for t in terms} == {t["id"] for t in taxonomies}
    codes = {t["term_uri"]: t.get("code") for t in terms}
    assert all(codes[f"service-finder:kind:{k.value}"] == info.mhsds_team_type for k, info in KINDS.items())


def test_single_object_and_paginated_envelope_are_accepted() -> None:
    record = _record()
    service = to_hsds_service(record)

    assert [p.record for p in parse_hsds(service)] == [record]
    assert [p.record for p in parse_hsds({"contents": [service], "total_items": 1})] == [record]


def test_problems_name_record_field_and_value() -> None:
    service = to_hsds_service(_record())
    service["service_at_locations"][0]["location"]["addresses"][0]["postal_code"] = "NOT A CODE"
    service["minimum_age"] = "eighteen"

    [parsed] = parse_hsds([service])

    assert parsed.record is None
    assert parsed.where == "record 1 (id 'leeds-test-cafe')"
    [problem] = parsed.problems
    assert (problem.field, problem.value) == ("minimum_age", "'eighteen'")

    del service["minimum_age"]
    [parsed] = parse_hsds([service])
    assert [(p.field, p.value) for p in parsed.problems] == [("locations.0.postcode", "'NOT A CODE'")]


def test_another_publishers_file_imports() -> None:
    data = json.loads((DATA / "oruk_sample.json").read_text())

    sanctuary, peer_line = parse_hsds(data)

    record = sanctuary.record
    assert record is not None, sanctuary.problems
    assert record.kind is ServiceKind.crisis_cafe  # from the MHSDS team type A21
    assert record.id == "3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b90"
    assert record.needs == [Need.suicidal_thoughts]
    assert record.eligibility.referral_routes == [ReferralRoute.walk_in]
    assert record.eligibility.accepts_intoxicated is None  # not said: unknown, never "no"
    assert record.eligibility.catchment is not None
    assert record.eligibility.catchment.districts == ["E08000035"]
    assert record.access.accessibility == {AccessFeature.wheelchair: True}
    assert record.access.languages == ["en", "pl", "syl"]  # HSDS allows ISO 639-3 codes: Sylheti has no other
    assert [p.display for p in record.phones] == ["0113 496 0500"]  # the fax number is dropped
    [location] = record.locations  # the virtual location is not a place to go
    assert (location.postcode, location.address) == ("LS1 4AP", "1 Example Street, Northfield")
    weekly, from_january = record.schedules
    assert [(s.day, s.opens_at, s.closes_at) for s in weekly.sessions] == [
        ("friday", "18:00", "02:00"),
        ("saturday", "18:00", "02:00"),
    ]
    assert weekly.notes == "Friday and Saturday nights; Closed on Christmas Day"  # every row's words kept
    assert from_january.valid_from is not None
    assert from_january.valid_from.isoformat() == "2024-01-01"
    assert record.provenance.verified_at == datetime(2024, 5, 2, tzinfo=UTC)

    assert peer_line.record is None
    assert {(p.field, p.value) for p in peer_line.problems} == {
        ("schedules.0.freq", "'MONTHLY'"),
        ("schedules.1.opens_at", "'09:00Z'"),
        ("schedules.1.closes_at", "'17:00Z'"),
    }


def _foreign_with_schedule(**row: Any) -> Any:
    """Another publisher's sample service with one weekly row (no schedule-id attribute) carrying `row`'s fields."""
    data = json.loads((DATA / "oruk_sample.json").read_text())
    service = copy.deepcopy(data[0] if isinstance(data, list) else data["contents"][0])
    service["schedules"] = [
        {"id": "s1", "freq": "WEEKLY", "byday": "MO", "opens_at": "18:00", "closes_at": "22:00", **row}
    ]
    return service


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"interval": 2, "dtstart": "2026-01-05"}, "schedules.0.interval"),  # fortnightly
        ({"count": 4, "dtstart": "2026-01-05"}, "schedules.0.count"),
        ({"byweekno": "1"}, "schedules.0.byweekno"),
        ({"bymonthday": "1"}, "schedules.0.bymonthday"),
    ],
)
def test_recurrences_that_are_not_every_week_are_refused_not_read_as_weekly(row: dict[str, Any], field: str) -> None:
    [parsed] = parse_hsds([_foreign_with_schedule(**row)])
    assert parsed.record is None
    assert field in {p.field for p in parsed.problems}


@pytest.mark.parametrize("timezone", [0, 1, "0"])
def test_a_fixed_utc_offset_is_refused_as_a_time_written_with_z_is(timezone: Any) -> None:
    # timezone 0 says the times are GMT all year: read as UK time they were an hour out all summer.
    [parsed] = parse_hsds([_foreign_with_schedule(timezone=timezone)])
    assert parsed.record is None
    [problem] = [p for p in parsed.problems if p.field == "schedules.0.timezone"]
    assert problem.value == repr(timezone)
    assert "British Summer Time" in problem.message


def test_a_recurrences_own_start_and_end_bound_when_it_applies() -> None:
    [ended] = parse_hsds([_foreign_with_schedule(until="2020-01-01T00:00:00Z", dtstart="2019-01-07")])
    assert ended.record is not None, ended.problems
    weekly = [s for s in ended.record.schedules if any(x.day == "monday" for x in s.sessions)]  # the row given
    assert weekly
    assert {(str(s.valid_from), str(s.valid_to)) for s in weekly} == {("2019-01-07", "2020-01-01")}


def test_two_services_with_their_own_hours_at_one_shared_location_both_import() -> None:
    data = json.loads((DATA / "oruk_sample.json").read_text())
    first = copy.deepcopy(data[0] if isinstance(data, list) else data["contents"][0])
    second = copy.deepcopy(first)
    second["id"] = "3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b91"
    second["name"] = "Northfield Peer Support"
    for link in second["service_at_locations"]:
        link["id"] = link["id"][:-1] + "9"
        for row in link.get("schedules", []):
            row["id"] = row["id"][:-1] + "9"

    checked = check_records(parse_hsds([first, second]), gazetteer=None)

    assert [item.problems for item in checked] == [[], []]
    records = [item.record for item in checked]
    assert all(record is not None and record.schedules for record in records)
    ids = [{schedule.id for schedule in record.schedules} for record in records if record is not None]
    assert not ids[0] & ids[1]


def test_service_without_a_kind_is_refused() -> None:
    service = to_hsds_service(_record())
    service["attributes"] = [a for a in service["attributes"] if "kind" not in a["taxonomy_term"]["taxonomy"]]

    [parsed] = parse_hsds(service)

    assert parsed.record is None
    assert [p.field for p in parsed.problems] == ["attributes"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_gives_problems_never_an_exception(data: Any) -> None:
    for parsed in parse_hsds(data):
        assert (parsed.record is None) == bool(parsed.problems)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(service_records, st.data())
def test_a_corrupted_export_gives_problems_never_an_exception(record: ServiceRecord, data: st.DataObject) -> None:
    service = to_hsds_service(record)
    path = data.draw(st.sampled_from(_paths(service)[1:]))
    corrupted = copy.deepcopy(service)
    target = corrupted
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)

    for parsed in parse_hsds([corrupted]):
        assert (parsed.record is None) == bool(parsed.problems)


@pytest.mark.parametrize("data", [None, "services", 42, [[]], {"contents": "x"}])
def test_wrong_top_level_shapes_are_named(data: Any) -> None:
    parsed = parse_hsds(data)

    assert parsed
    assert all(p.record is None and p.problems for p in parsed)


def test_a_phone_extension_is_written_in_hsdss_own_field_and_read_back() -> None:
    # A consumer reading `extension` (not our display attribute) rang the switchboard, not the crisis desk.
    record = _record(phones=[{"number": "0113 496 0500", "display": "0113 496 0500 x2"}])
    service = to_hsds_service(record)
    assert _schema_errors(service) == []
    assert service["phones"][0]["extension"] == 2
    [parsed] = parse_hsds(_through_file([record]))
    assert (parsed.problems, parsed.record) == ([], record)
