"""A large directory keeps its records packed (service_finder/search/packed.py). Packing is only a way of keeping
them: every record reads back equal, and every search answers exactly as it does over the records as objects."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import product
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given

from service_finder.api.routes import fhir as fhir_routes
from service_finder.interop.fhir import fhir_id
from service_finder.schemas import ResolvedLocation, SearchRequest, ServiceRecord
from service_finder.search import packed as packed_module
from service_finder.search.engine import search
from service_finder.search.index import DirectoryIndex, ids_starting_with
from service_finder.search.packed import PackedRecords, Packer, Positions
from tests.search.conftest import BUILT_AT, LONDON
from tests.search.test_invariants import SETTINGS, directories, instants, locations, requests


def packed(records: list[ServiceRecord], **options: Any) -> PackedRecords:
    packer = Packer()
    for record in records:
        packer.add(record)
    return packer.finish(range(len(records)), **options)


def test_every_shipped_record_reads_back_equal(
    demo_records: list[ServiceRecord], national_records: list[ServiceRecord]
) -> None:
    records = [*demo_records, *national_records]
    shelf = packed(records)
    assert len(shelf) == len(records)
    assert list(shelf) == records
    assert [shelf[i] for i in range(len(records))] == records
    assert shelf[-1] == records[-1]
    assert shelf[np.int32(3)] == records[3]  # the engine indexes with numpy's integers
    assert list(shelf[2:5]) == records[2:5]
    with pytest.raises(IndexError):
        shelf[len(records)]
    # Packed, the demonstration directory takes a fraction of its JSON: what makes 1,000,000 services fit.
    assert shelf.packed_bytes < sum(len(r.model_dump_json()) for r in records) / 4


def test_a_record_stored_before_a_rule_was_tightened_reads_back(demo_records: list[ServiceRecord]) -> None:
    # Stored before web addresses were checked: readable from the store as it is, so it must be from the pack too
    # (refused there, the search that reached it would fail).
    data = demo_records[0].model_dump(mode="json")
    data["provenance"]["source_url"] = "javascript:alert(1)"
    legacy = ServiceRecord.model_validate(data, context={"stored": True})
    assert packed([legacy, *demo_records[1:20]])[0] == legacy


def test_a_scan_reads_records_without_pushing_out_those_kept(demo_records: list[ServiceRecord]) -> None:
    # A filter over thousands of records (HSDS words in a description) reads each once: the records searches
    # answer with stay decoded, and the scan keeps none of its own.
    shelf = packed(demo_records, decoded=8)
    kept = shelf[3]
    assert list(shelf.scan([5, 3, 40, 3])) == [demo_records[5], kept, demo_records[40], kept]
    assert list(shelf._decoded) == [3]
    assert next(shelf.scan([3])) is kept


def test_the_index_knows_each_service_s_organisation_and_each_place_s_id(demo_records: list[ServiceRecord]) -> None:
    # HSDS pages by organisation and FHIR by location without reading a record: the index says which.
    index = DirectoryIndex.build(demo_records, version=1, built_at=BUILT_AT, packed=True)
    for i, record in enumerate(index.services):
        assert index.organisation_ids.key(int(index.organisation[i])) == record.organisation.id
        assert index.recorded_min_age[i] == (
            -1 if record.eligibility.minimum_age is None else record.eligibility.minimum_age
        )
        units = range(index.first_unit[i], index.first_unit[i + 1])
        places = [index.location_ids.key(int(index.location_code[u])) for u in units if index.location_code[u] >= 0]
        assert places == [place.id for place in record.locations]


def test_a_few_records_pack_without_a_full_dictionary(demo_records: list[ServiceRecord]) -> None:
    # Fewer records than the dictionary is made from (and none at all): still exact.
    assert list(packed(demo_records[:3])) == demo_records[:3]
    assert list(packed([])) == []


def test_decoded_records_kept_are_bounded(demo_records: list[ServiceRecord]) -> None:
    shelf = packed(demo_records, decoded=8)
    first = shelf[0]
    assert shelf[0] is first  # kept decoded: a search reading a result's record twice decodes it once
    for i in range(40):
        assert shelf[i] == demo_records[i]
    assert len(shelf._decoded) == 8  # at most 8 kept: a long-running server over 1,000,000 services does not grow
    assert shelf[0] == first
    assert shelf[0] is not first


def test_a_directory_is_packed_by_its_size_decided_before_the_first_record(demo_records: list[ServiceRecord]) -> None:
    records = demo_records[:30]
    with patch.object(packed_module, "PACK_ABOVE", 20):
        large = DirectoryIndex.build(records, version=1, built_at=BUILT_AT)
        small = DirectoryIndex.build(records[:20], version=1, built_at=BUILT_AT)
        # A stream has no size to go by: kept as objects unless its caller says (the catalogue counts the store).
        streamed = DirectoryIndex.build(iter(records), version=1, built_at=BUILT_AT)
        told = DirectoryIndex.build(iter(records), version=1, built_at=BUILT_AT, packed=True)
    assert isinstance(large.services, PackedRecords)
    assert list(large.services) == sorted(records, key=lambda record: record.id)
    assert isinstance(small.services, tuple)
    assert isinstance(streamed.services, tuple)
    assert isinstance(told.services, PackedRecords)


def test_a_packed_directory_finds_a_service_by_its_id_alone(demo_records: list[ServiceRecord]) -> None:
    index = DirectoryIndex.build(demo_records, version=1, built_at=BUILT_AT, packed=True)
    first = min(demo_records, key=lambda record: record.id)
    assert index.position[first.id] == 0
    assert index.services[index.position[first.id]] == first
    longest = max(len(record.id) for record in demo_records)
    # Near misses of a real id find nothing (the array's bytes would drop a trailing NUL and cut a longer key).
    for key in (first.id[:-1], first.id + "\0", first.id + "x" * (longest + 1), "é" + first.id, "", "zzz"):
        assert key not in index.position
        assert index.position.get(key) is None
        with pytest.raises(KeyError):
            index.position[key]


def answer(index: DirectoryIndex, request: SearchRequest, where: ResolvedLocation | None, at: datetime) -> Any:
    return search(index, request, location=where, at=at, today=at.date()).model_dump(mode="json")


def test_a_packed_index_answers_as_the_plain_one(
    demo_records: list[ServiceRecord], national_records: list[ServiceRecord], gazetteer: Any
) -> None:
    records = [*demo_records, *national_records]
    shuffled = random.Random(4).sample(records, len(records))
    modified = {record.id: BUILT_AT - timedelta(days=i, microseconds=i) for i, record in enumerate(records[::3])}
    plain = DirectoryIndex.build(records, version=1, built_at=BUILT_AT, packed=False, last_modified=modified)
    # Packed, and read from a one-pass iterator in another order, as a streamed build reads them.
    small = DirectoryIndex.build(iter(shuffled), version=1, built_at=BUILT_AT, packed=True, last_modified=modified)
    assert isinstance(small.services, PackedRecords)
    assert isinstance(plain.services, tuple)
    assert list(small.services) == list(plain.services)
    assert dict(small.position) == plain.position
    assert list(small.last_modified) == list(plain.last_modified)
    assert sum(at is not None for at in small.last_modified) == len(modified)
    for name in ("word", "unit_service", "unit_location", "entry_unit", "entry_key", "offices", "review_due"):
        assert np.array_equal(getattr(small, name), getattr(plain, name)), name
    for name in ("recorded_min_age", "organisation", "location_code"):  # what HSDS, FHIR and GeoJSON page by
        assert np.array_equal(getattr(small, name), getattr(plain, name)), name
    assert list(small.location_ids) == list(plain.location_ids)
    assert list(small.organisation_ids) == list(plain.organisation_ids)
    places: list[ResolvedLocation | None] = [None]
    for postcode in ("LS1 1UR", "M1 1AE", "B1 1BB", "NE1 4ST", "BS1 4DJ"):
        point = gazetteer.lookup(postcode)
        places.append(
            ResolvedLocation(
                latitude=point.latitude, longitude=point.longitude, source="postcode", district_code=point.district_code
            )
        )
    people = [
        {},
        {"age": 17, "needs": ["self_harm"], "uses_substances": True, "explain": True},
        {"intoxicated": True, "referral": "professional", "explain": True, "limit": 3},
        {"open": "any", "age": 70, "radius_km": 80, "limit": 20, "explain": True},
        {"open": "any", "language": "pl", "explain": True},  # read from the index's language sets, not the records
    ]
    at_times = [datetime(2026, 10, 9, 20, 0, tzinfo=LONDON), datetime(2026, 12, 25, 3, 0, tzinfo=LONDON)]
    answered = 0
    for place, person, at in product(places, people, at_times):
        request = SearchRequest.model_validate(person)
        expected = answer(plain, request, place, at)
        assert answer(small, request, place, at) == expected, (place, person, at)
        answered += bool(expected["results"])
    assert answered > 20  # real answers compared, not empty ones


@SETTINGS
@given(records=directories(min_size=1, max_size=10), request=requests, where=locations, at=instants)
def test_packing_never_changes_an_answer(
    records: list[ServiceRecord], request: SearchRequest, where: ResolvedLocation | None, at: datetime
) -> None:
    plain = DirectoryIndex.build(records, version=1, built_at=BUILT_AT, packed=False)
    small = DirectoryIndex.build(reversed(records), version=1, built_at=BUILT_AT, packed=True)
    assert answer(small, request, where, at) == answer(plain, request, where, at)


@pytest.mark.parametrize("packed", [False, True])
def test_a_directory_naming_one_id_twice_is_refused(demo_records: list[ServiceRecord], packed: bool) -> None:
    twin = demo_records[0].model_copy(update={"name": "Another name"})
    with pytest.raises(ValueError, match=demo_records[0].id):
        DirectoryIndex.build([*demo_records[:5], twin], version=1, built_at=BUILT_AT, packed=packed)


def test_ids_starting_with_a_prefix_are_found_by_range(demo_records: list[ServiceRecord]) -> None:
    plain = DirectoryIndex.build(demo_records, version=1, built_at=BUILT_AT, packed=False)
    small = DirectoryIndex.build(demo_records, version=1, built_at=BUILT_AT, packed=True)
    some = sorted(record.id for record in demo_records)[7]
    for prefix in ("", some[:3], some[:6], some, some + "x", "zzz", "é", "a\0"):
        expected = sorted(ids_starting_with(plain.position, prefix))
        assert sorted(ids_starting_with(small.position, prefix)) == expected, prefix
        assert all(service.startswith(prefix) for service, _ in expected)
    assert len(list(ids_starting_with(small.position, some[:3]))) >= 1


class _NoScan(Positions):
    """Ids that refuse to be read one by one: a lookup must search, never scan."""

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("every id read")


def test_a_fhir_read_of_an_unknown_id_does_not_read_every_id(demo_records: list[ServiceRecord]) -> None:
    long_id = "a-service-with-a-very-long-identifier-that-fhir-cannot-hold-as-it-is-because-it-is-long"[:79] + "z"
    record = demo_records[0].model_copy(update={"id": long_id})
    index = DirectoryIndex.build([record, *demo_records[1:]], version=1, built_at=BUILT_AT, packed=True)
    guarded = dataclasses.replace(index, position=_NoScan(sorted(r.id for r in index.services)))
    assert fhir_routes._service_position(guarded, "no-such-service") is None
    assert fhir_routes._service_position(guarded, fhir_id(long_id)) == index.position[long_id]
    assert fhir_id(long_id) != long_id  # the shortened form was what was looked up
