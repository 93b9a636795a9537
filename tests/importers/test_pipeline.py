from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.importers.pipeline import import_file
from service_finder.storage import repository
from service_finder.storage.repository import Change
from tests.factories import service_data


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return [s.record.id for s in repository.iter_all_services(session)]


def test_one_bad_record_rejects_the_whole_file_and_names_every_problem(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    good = service_data("good-one")
    ages = service_data("bad-ages", eligibility={"minimum_age": 30, "maximum_age": 18})
    phone = service_data("bad-phone", phones=[{"number": "12345"}])
    path = _write(tmp_path / "in.json", [good, ages, phone])
    report = import_file(engine, path, gazetteer=gazetteer, actor="test")
    assert not report.accepted
    assert _ids(engine) == []
    by_record = {p.where: p for p in report.problems}
    # The field at fault, not the object holding it: a CSV report names the column to fix.
    assert by_record["record 2 (id 'bad-ages')"].field == "eligibility.maximum_age"
    assert by_record["record 2 (id 'bad-ages')"].value == "18"
    assert "minimum_age 30 is greater than maximum_age 18" in by_record["record 2 (id 'bad-ages')"].message
    assert by_record["record 3 (id 'bad-phone')"].field == "phones.0.number"
    assert "'12345'" in by_record["record 3 (id 'bad-phone')"].message


def test_a_rejected_import_leaves_earlier_data_exactly_as_it_was(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    first = _write(tmp_path / "first.json", [service_data("kept", name="Original name")])
    assert import_file(engine, first, gazetteer=gazetteer, actor="test").written
    second = _write(
        tmp_path / "second.json",
        [service_data("kept", name="Changed name"), service_data("broken", kind="not-a-kind")],
    )
    report = import_file(engine, second, gazetteer=gazetteer, actor="test")
    assert [(p.field, p.value) for p in report.problems] == [("kind", "'not-a-kind'")]
    with Session(engine) as session:
        stored = repository.get_service(session, "kept")
        assert stored is not None
        assert stored.record.name == "Original name"
        assert len(repository.service_history(session, "kept")) == 1


def test_dry_run_reports_what_would_change_and_writes_nothing(engine: Engine, tmp_path: Path, gazetteer: Any) -> None:
    path = _write(tmp_path / "in.json", [service_data("a"), service_data("b")])
    report = import_file(engine, path, gazetteer=gazetteer, actor="test", dry_run=True)
    assert report.accepted
    assert not report.written
    assert report.outcome == {Change.created: 2}
    assert _ids(engine) == []


def test_reimporting_a_file_is_idempotent(engine: Engine, tmp_path: Path, gazetteer: Any) -> None:
    path = _write(tmp_path / "in.json", [service_data("a"), service_data("b")])
    assert import_file(engine, path, gazetteer=gazetteer, actor="test").outcome == {Change.created: 2}
    again = import_file(engine, path, gazetteer=gazetteer, actor="test")
    assert again.outcome == {Change.unchanged: 2}
    with Session(engine) as session:
        assert repository.data_version(session).version == 1


def test_duplicate_ids_in_one_file_are_rejected(engine: Engine, tmp_path: Path, gazetteer: Any) -> None:
    path = _write(tmp_path / "in.json", [service_data("twice"), service_data("twice")])
    report = import_file(engine, path, gazetteer=gazetteer, actor="test")
    assert [(p.where, p.field, p.value) for p in report.problems] == [("record 2 (id 'twice')", "id", "'twice'")]
    assert "also record 1" in report.problems[0].message
    assert _ids(engine) == []


def test_postcodes_are_checked_against_the_gazetteer(engine: Engine, tmp_path: Path, gazetteer: Any) -> None:
    welsh = gazetteer.postcodes_in_outcode("CF10")[0]
    cardiff = gazetteer.lookup(welsh)
    leeds = {"latitude": 53.8008, "longitude": -1.5491}
    records = [
        service_data("unknown", locations=[{"id": "l1", "postcode": "LS99 9ZZ", **leeds}]),
        service_data(
            "in-wales",
            locations=[{"id": "l2", "postcode": welsh, "latitude": cardiff.latitude, "longitude": cardiff.longitude}],
        ),
        service_data("far-away", locations=[{"id": "l3", "postcode": "SW1A 2AA", **leeds}]),
    ]
    report = import_file(engine, _write(tmp_path / "in.json", records), gazetteer=gazetteer, actor="test")
    messages = {p.where.split("'")[1]: (p.field, p.message) for p in report.problems}
    assert messages["unknown"] == ("locations.0.postcode", "not a known postcode")
    assert messages["in-wales"] == ("locations.0.postcode", "postcode is in Wales, outside England")
    assert messages["far-away"][0] == "locations.0.latitude"
    assert "km from postcode SW1A 2AA" in messages["far-away"][1]
    assert _ids(engine) == []


def test_a_missing_district_is_filled_from_the_postcode(engine: Engine, tmp_path: Path, gazetteer: Any) -> None:
    path = _write(tmp_path / "in.json", [service_data("leeds")])
    assert import_file(engine, path, gazetteer=gazetteer, actor="test").written
    with Session(engine) as session:
        stored = repository.get_service(session, "leeds")
    assert stored is not None
    assert stored.record.locations[0].district_code == gazetteer.lookup("LS1 1UR").district_code == "E08000035"


def test_a_district_that_disagrees_with_the_postcode_is_the_postcodes(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    # A Leeds postcode sent with the City of London's district (or an editor's site moved to Bradford with the
    # district it had in Leeds) would decide catchments and local lines for the wrong area.
    data = service_data("leeds")
    data["locations"][0]["district_code"] = "E09000001"
    path = _write(tmp_path / "in.json", [data])
    assert import_file(engine, path, gazetteer=gazetteer, actor="test").written
    with Session(engine) as session:
        stored = repository.get_service(session, "leeds")
    assert stored is not None
    assert stored.record.locations[0].district_code == "E08000035"


def test_a_file_that_is_not_json_is_one_clear_problem(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"id": "a",', encoding="utf-8")
    report = import_file(engine, path, fmt="native", gazetteer=None, actor="test")
    assert len(report.problems) == 1
    assert "broken.json is not valid JSON" in report.problems[0].message


def test_a_schedule_id_another_stored_service_uses_rejects_the_file_naming_it(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    first = _write(tmp_path / "first.json", [service_data("cafe", name="Original name")])
    assert import_file(engine, first, gazetteer=gazetteer, actor="test").written
    other = service_data("other-cafe")
    other["schedules"][0]["id"] = "cafe-hours"  # the stored café's schedule
    second = _write(tmp_path / "second.json", [service_data("new-cafe"), other])
    report = import_file(engine, second, gazetteer=gazetteer, actor="test")
    assert not report.accepted
    assert [(p.field, p.value) for p in report.problems] == [("schedules.0.id", "'cafe-hours'")]
    assert "already used by service 'cafe'" in report.problems[0].message
    assert _ids(engine) == ["cafe"]  # nothing written: neither new service is added


def test_one_schedule_id_in_two_records_of_a_file_is_rejected(engine: Engine, tmp_path: Path, gazetteer: Any) -> None:
    first, second = service_data("cafe"), service_data("other-cafe")
    second["schedules"][0]["id"] = "cafe-hours"
    report = import_file(engine, _write(tmp_path / "in.json", [first, second]), gazetteer=gazetteer, actor="test")
    assert [(p.where, p.field, p.value) for p in report.problems] == [
        ("record 2 (id 'other-cafe')", "schedules.0.id", "'cafe-hours'")
    ]
    assert _ids(engine) == []


def test_one_organisation_or_location_given_two_ways_in_a_file_is_rejected(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    # The store keeps one organisation and one location per id: "last one wins" would keep whichever came last,
    # and every re-import would flip it back.
    site = service_data("a")["locations"][0] | {"id": "shared-site"}
    first = service_data("a", locations=[site])
    second = service_data(
        "b", organisation={"name": "Test Organisation Charity"}, locations=[site | {"address": "Other Street"}]
    )
    report = import_file(engine, _write(tmp_path / "in.json", [first, second]), gazetteer=gazetteer, actor="test")
    assert [(p.where, p.field, p.value) for p in report.problems] == [
        ("record 2 (id 'b')", "organisation.name", "'Test Organisation Charity'"),
        ("record 2 (id 'b')", "locations.0.address", "'Other Street'"),
    ]
    assert "'test-org' is given differently in record 1 (id 'a') ('Test Organisation')" in report.problems[0].message
    assert "'shared-site' is given differently in record 1 (id 'a') ('Calverley Street')" in report.problems[1].message
    assert _ids(engine) == []


def test_one_organisation_and_location_given_the_same_way_are_shared(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    site = service_data("a")["locations"][0] | {"id": "shared-site"}
    path = _write(tmp_path / "in.json", [service_data("a", locations=[site]), service_data("b", locations=[site])])
    assert import_file(engine, path, gazetteer=gazetteer, actor="test").outcome == {Change.created: 2}
    assert import_file(engine, path, gazetteer=gazetteer, actor="test").outcome == {Change.unchanged: 2}


def test_a_verified_at_without_an_offset_is_refused_naming_it(engine: Engine, tmp_path: Path, gazetteer: Any) -> None:
    records = [service_data("a", provenance={"verified_at": "2024-05-02T10:30:00"})]
    report = import_file(engine, _write(tmp_path / "in.json", records), gazetteer=gazetteer, actor="test")
    assert [(p.field, p.value) for p in report.problems] == [("provenance.verified_at", "'2024-05-02T10:30:00'")]
    assert "no time-zone offset" in report.problems[0].message
    assert _ids(engine) == []


def test_a_review_date_before_the_check_or_too_far_after_it_is_refused(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    checked = "2026-10-01T09:00:00Z"
    records = [
        service_data("a", provenance={"verified_at": checked, "verify_due": "2199-12-31"}),
        service_data("b", provenance={"verified_at": checked, "verify_due": "2026-09-30"}),
        # Two years (731 days) is the longest a check counts: accepted on its last day.
        service_data("c", provenance={"verified_at": checked, "verify_due": "2028-10-01"}),
    ]
    report = import_file(engine, _write(tmp_path / "in.json", records), gazetteer=gazetteer, actor="test")
    assert [(p.where, p.field, p.value) for p in report.problems] == [
        ("record 1 (id 'a')", "provenance.verify_due", "'2199-12-31'"),
        ("record 2 (id 'b')", "provenance.verify_due", "'2026-09-30'"),
    ]
    assert "a check counts until 2028-10-01 at the latest" in report.problems[0].message
    assert "is before verified_at" in report.problems[1].message
    assert _ids(engine) == []


def test_a_catchment_district_the_gazetteer_does_not_know_is_refused(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    # E08000053 is no district (Leeds is E08000035): the service would be left out of every search, "only for
    # people living in E08000053".
    records = [
        service_data("a", eligibility={"catchment": {"type": "districts", "districts": ["E08000035", "E08000053"]}})
    ]
    report = import_file(engine, _write(tmp_path / "in.json", records), gazetteer=gazetteer, actor="test")
    assert [(p.where, p.field, p.value) for p in report.problems] == [
        ("record 1 (id 'a')", "eligibility.catchment.districts.1", "'E08000053'")
    ]
    assert "not a known local-authority district" in report.problems[0].message
    assert _ids(engine) == []


def _publisher(service_id: str, org: str, place: dict[str, Any]) -> dict[str, Any]:
    # Each publisher numbers its own locations from 1, as HSDS files do.
    return service_data(service_id, organisation={"id": org, "name": org}, locations=[place | {"id": "1"}])


def _stored_location(engine: Engine, service_id: str) -> tuple[str, str]:
    with Session(engine) as session:
        stored = repository.get_service(session, service_id)
    assert stored is not None
    return stored.record.locations[0].postcode, stored.record.locations[0].city


def test_a_file_that_would_move_another_publishers_service_is_refused(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    leeds = service_data("x")["locations"][0]
    point = gazetteer.lookup("M1 1AE")
    manchester = {"name": "Piccadilly", "address": "1 Piccadilly", "city": "Manchester", "postcode": "M1 1AE"}
    manchester |= {"latitude": point.latitude, "longitude": point.longitude}
    first = _write(tmp_path / "pa.json", [_publisher("pub-a-cafe", "pub-a", leeds)])
    assert import_file(engine, first, gazetteer=gazetteer, actor="test").accepted
    second = _write(tmp_path / "pb.json", [_publisher("pub-b-cafe", "pub-b", manchester)])

    report = import_file(engine, second, gazetteer=gazetteer, actor="test")

    postcode = next(p for p in report.problems if p.field == "locations.0.postcode")
    assert (postcode.where, postcode.value) == ("record 1 (id 'pub-b-cafe')", "'M1 1AE'")
    assert "also used by service 'pub-a-cafe', not in this import" in postcode.message
    assert {p.where for p in report.problems} == {"record 1 (id 'pub-b-cafe')"}
    # Nothing written: pub-a's café is still in Leeds, and pub-b's is not stored.
    assert _stored_location(engine, "pub-a-cafe") == ("LS1 1UR", "Leeds")
    assert _ids(engine) == ["pub-a-cafe"]

    # Asked for, the shared row changes, and the other service says so in its history.
    moved = import_file(engine, second, gazetteer=gazetteer, actor="test", update_shared=True)
    assert moved.outcome == {Change.created: 1}
    assert _stored_location(engine, "pub-a-cafe") == ("M1 1AE", "Manchester")
    with Session(engine) as session:
        history = [(e.field, e.new_value) for e in repository.service_history(session, "pub-a-cafe")]
    assert ("locations[1].postcode", "M1 1AE") in history


def test_a_publisher_may_move_a_location_its_file_alone_uses_but_not_one_another_service_uses(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    site = service_data("a")["locations"][0] | {"id": "shared-hall"}
    both = [service_data("a", locations=[site]), service_data("b", locations=[site])]
    assert import_file(engine, _write(tmp_path / "v1.json", both), gazetteer=gazetteer, actor="test").accepted
    renamed = site | {"address": "2 New Street"}

    # The whole file again, with the building's new address: its own services, so accepted.
    again = [service_data("a", locations=[renamed]), service_data("b", locations=[renamed])]
    report = import_file(engine, _write(tmp_path / "v2.json", again), gazetteer=gazetteer, actor="test")
    assert report.outcome == {Change.updated: 2}

    # A file with "a" alone would change "b" too: refused, naming it.
    alone = [service_data("a", locations=[site])]
    report = import_file(engine, _write(tmp_path / "v3.json", alone), gazetteer=gazetteer, actor="test")
    assert [(p.where, p.field, p.value) for p in report.problems] == [
        ("record 1 (id 'a')", "locations.0.address", "'Calverley Street'")
    ]
    assert "service 'b'" in report.problems[0].message
    with Session(engine) as session:
        stored = repository.get_service(session, "b")
    assert stored is not None
    assert stored.record.locations[0].address == "2 New Street"


def test_an_organisation_other_services_use_is_not_renamed_by_a_file_without_them(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    path = _write(tmp_path / "v1.json", [service_data("a"), service_data("b")])
    assert import_file(engine, path, gazetteer=gazetteer, actor="test").accepted
    renamed = [service_data("a", organisation={"name": "Renamed"})]
    report = import_file(engine, _write(tmp_path / "v2.json", renamed), gazetteer=gazetteer, actor="test")
    assert [(p.field, p.value) for p in report.problems] == [("organisation.name", "'Renamed'")]
    assert "service 'b'" in report.problems[0].message


def test_link_ids_of_two_services_cannot_collide_where_ids_contain_double_hyphens(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    # Links were keyed '<service>--<location>': both of these were 'aa--bb--cc', and the file failed on the key.
    site = service_data("x")["locations"][0]
    records = [
        service_data("aa", locations=[site | {"id": "bb--cc"}]),
        service_data("aa--bb", locations=[site | {"id": "cc"}]),
    ]
    report = import_file(engine, _write(tmp_path / "in.json", records), gazetteer=gazetteer, actor="test")
    assert report.problems == []
    assert report.outcome == {Change.created: 2}
    with Session(engine) as session:
        stored = repository.get_services(session, ["aa", "aa--bb"])
    assert {sid: [loc.id for loc in s.record.locations] for sid, s in stored.items()} == {  # type: ignore[union-attr]
        "aa": ["bb--cc"],
        "aa--bb": ["cc"],
    }


def test_a_file_giving_one_field_twice_in_an_object_is_refused_naming_both_values(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    kept = _write(tmp_path / "first.json", [service_data("kept", eligibility={"minimum_age": 18})])
    assert import_file(engine, kept, gazetteer=gazetteer, actor="test").written
    # Hand-edited JSON: the new age added, the old one left in. A JSON reader keeps the last without a word.
    text = json.dumps([service_data("kept", eligibility={"minimum_age": 18})])
    path = tmp_path / "twice.json"
    path.write_text(text.replace('"minimum_age": 18', '"minimum_age": 18, "minimum_age": 16'), encoding="utf-8")

    report = import_file(engine, path, gazetteer=gazetteer, actor="test")

    assert not report.accepted
    [problem] = report.problems
    assert problem.message == (
        "twice.json: 'minimum_age' is given twice in one object (at [0].eligibility: 18, then 16): give it once"
    )
    with Session(engine) as session:
        stored = repository.get_service(session, "kept")
        assert stored is not None
        assert stored.record.eligibility.minimum_age == 18


def test_a_text_longer_than_a_csv_cell_can_hold_is_refused_naming_its_field(
    engine: Engine, tmp_path: Path, gazetteer: Any
) -> None:
    # A CSV cell over 131,072 characters was refused; the same text in a JSON file was imported, and a 1 MB alert then
    # went out with every search answer and result card near the service.
    kept = _write(tmp_path / "first.json", [service_data("kept", alert="Closed on Monday")])
    assert import_file(engine, kept, gazetteer=gazetteer, actor="test").written
    path = _write(tmp_path / "huge.json", [service_data("kept", alert="Closed " * 100_000)])

    report = import_file(engine, path, gazetteer=gazetteer, actor="test")

    assert not report.accepted
    [problem] = report.problems
    assert problem.field == "alert"
    assert problem.message == (
        "alert: a text may hold at most 131,072 characters, as a CSV cell can; this one has 700,000"
    )
    with Session(engine) as session:
        stored = repository.get_service(session, "kept")
        assert stored is not None
        assert stored.record.alert == "Closed on Monday"
