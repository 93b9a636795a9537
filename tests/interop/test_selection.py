"""HSDS, FHIR and GeoJSON select, page and look up by the index's columns (interop/selection.py): over a packed
directory exactly as over the records as objects, exactly as the record-by-record reading they replaced (kept here
as the reference), and reading the records of the page answered, never every record of the directory."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from service_finder.api.deps import get_snapshot, get_today
from service_finder.api.routes import fhir as fhir_routes
from service_finder.catalogue import Snapshot
from service_finder.config import Settings
from service_finder.domain.opening_hours import to_utc
from service_finder.domain.taxonomy import ServiceKind
from service_finder.importers.hsds import hsds_taxonomies, hsds_taxonomy_terms, to_hsds_service
from service_finder.interop import hsds_api
from service_finder.interop.fhir import fhir_id
from service_finder.interop.geojson import BBox, feature_collection, index_feature_collection, parse_bbox
from service_finder.interop.hsds_api import (
    HsdsServiceAtLocationFilters,
    HsdsServiceFilters,
    Point,
    hsds_view,
    matching_locations,
    matching_services,
)
from service_finder.interop.selection import locations_in_order
from service_finder.main import create_app
from service_finder.schemas import ServiceRecord
from service_finder.search.index import DirectoryIndex, haversine_km
from service_finder.search.packed import PackedRecords
from service_finder.storage.db import create_db_engine
from tests.conftest import GAZETTEER
from tests.search.conftest import DEMO_FILE, LEEDS_DISTRICT, NATIONAL_FILE, WAKEFIELD_DISTRICT, load_records
from tests.search.test_invariants import SETTINGS, directories

BUILT_AT = datetime(2026, 11, 1, tzinfo=UTC)
TODAY = date(2026, 11, 24)
LONG_PLACE = "a-place-whose-identifier-is-longer-than-a-fhir-id-may-be-so-it-is-shortened-there"[:80]


@cache
def _directory() -> tuple[ServiceRecord, ...]:
    """The demonstration directory and the national lines, with one place whose id FHIR shortens and one place
    shared by two services (a Location built from both)."""
    records = [*load_records(DEMO_FILE), *load_records(NATIONAL_FILE)]
    located = [i for i, record in enumerate(records) if record.locations]
    first, second, third = located[3], located[10], located[20]

    def moved(record: ServiceRecord, place_id: str) -> ServiceRecord:
        was = record.locations[0].id
        places = [record.locations[0].model_copy(update={"id": place_id}), *record.locations[1:]]
        hours = [
            h.model_copy(update={"location_id": place_id}) if h.location_id == was else h for h in record.schedules
        ]
        return ServiceRecord.model_validate(
            record.model_copy(update={"locations": places, "schedules": hours}).model_dump()
        )

    records[first] = moved(records[first], LONG_PLACE)
    records[third] = moved(records[third], records[second].locations[0].id)
    return tuple(records)


def _modified(records: Sequence[ServiceRecord]) -> dict[str, datetime]:
    # Two services in three changed, each at its own instant (to the microsecond); the others never recorded.
    return {r.id: BUILT_AT - timedelta(days=i, microseconds=i) for i, r in enumerate(records) if i % 3}


def _both(records: Sequence[ServiceRecord]) -> tuple[DirectoryIndex, DirectoryIndex]:
    """The directory plain and packed (read in another order, as a streamed build reads it)."""
    modified = _modified(records)
    plain = DirectoryIndex.build(records, version=1, built_at=BUILT_AT, packed=False, last_modified=modified)
    shuffled = random.Random(5).sample(list(records), len(records))
    packed = DirectoryIndex.build(iter(shuffled), version=1, built_at=BUILT_AT, packed=True, last_modified=modified)
    assert isinstance(packed.services, PackedRecords)
    assert not isinstance(plain.services, PackedRecords)
    return plain, packed


@cache
def _demo_indexes() -> tuple[DirectoryIndex, DirectoryIndex]:
    return _both(_directory())


# --- the reference: how these were answered, every record read -----------------------------------------------------


class Reference:
    """The record-by-record reading the routes did before (a document per service, kept for the snapshot)."""

    def __init__(self, index: DirectoryIndex) -> None:
        self.index = index
        self.records = list(index.services)
        self.documents = [
            to_hsds_service(r, last_modified=m) for r, m in zip(self.records, index.last_modified, strict=True)
        ]
        self.position: dict[str, int] = {}
        self.organization_keys: dict[str, str] = {}
        self.organizations: dict[str, list[int]] = {}
        self.service_at_locations: dict[str, tuple[int, int]] = {}
        for i, (record, document) in enumerate(zip(self.records, self.documents, strict=True)):
            self.position[record.id] = self.position[document["id"]] = i
            for j, link in enumerate(document["service_at_locations"]):
                self.service_at_locations[link["id"]] = (i, j)
            uuid = document["organization"]["id"]
            self.organizations.setdefault(uuid, []).append(i)
            self.organization_keys[uuid] = self.organization_keys[record.organisation.id] = uuid
        self.location_users: dict[str, list[tuple[int, int]]] = {}
        for i, record in enumerate(self.records):
            for j, place in enumerate(record.locations):
                users = self.location_users.setdefault(place.id, [])
                users.append((i, j))
                self.location_users.setdefault(fhir_id(place.id), users)
        self.location_order = list(dict.fromkeys(place.id for record in self.records for place in record.locations))

    def services(self, filters: HsdsServiceFilters) -> list[int]:
        index = self.index
        words = filters.search.casefold().split() if filters.search else []
        after = to_utc(filters.modified_after) if filters.modified_after is not None else None
        organization = None
        if filters.organization_id is not None:
            uuid = self.organization_keys.get(filters.organization_id)
            if uuid is None:
                return []
            organization = self.organizations[uuid]
        timed = filters.day is not None or filters.start_time is not None or filters.end_time is not None
        found = []
        for i, record in enumerate(self.records):
            eligibility = record.eligibility
            modified = index.last_modified[i]
            text = f"{record.name} {record.description}".casefold()
            if (
                (words and not all(word in text for word in words))
                or (organization is not None and i not in organization)
                or (after is not None and (modified is None or modified < after))
                or (
                    filters.minimum_age is not None
                    and (eligibility.minimum_age is None or eligibility.minimum_age < filters.minimum_age)
                )
                or (
                    filters.maximum_age is not None
                    and (eligibility.maximum_age is None or eligibility.maximum_age > filters.maximum_age)
                )
                or (timed and not hsds_api._has_session(record, filters))
                or not hsds_api._linked(self.documents[i]["attributes"], filters)
            ):
                continue
            found.append(i)
        return found

    def locations(self, filters: HsdsServiceAtLocationFilters, point: Point | None) -> list[tuple[int, int]]:
        records = self.records
        services = self.services(filters)
        if point is not None:
            services = [i for i in services if hsds_api.serves_point(records[i], point)]
        pairs = [(i, j) for i in services for j in range(len(records[i].locations))]
        if point is None or filters.proximity is None or not pairs:
            return pairs
        places = [records[i].locations[j] for i, j in pairs]
        distance = haversine_km(
            point.latitude,
            point.longitude,
            np.array([place.latitude for place in places]),
            np.array([place.longitude for place in places]),
        )
        order = np.argsort(distance, kind="stable")
        return [pairs[k] for k in order.tolist() if distance[k] * 1000 <= filters.proximity]

    def locations_near(self, latitude: float, longitude: float, km: float) -> list[str]:
        units, _ = self.index.near(latitude, longitude, km)
        pairs = zip(self.index.unit_service[units].tolist(), self.index.unit_location[units].tolist(), strict=True)
        return list(dict.fromkeys(self.records[i].locations[j].id for i, j in pairs))


# --- what is asked ---------------------------------------------------------------------------------------------------

POINTS = [
    Point(53.7997, -1.5492, LEEDS_DISTRICT),
    Point(53.7997, -1.5492, None),  # no district known: a district catchment is not judged
    Point(53.683, -1.4977, WAKEFIELD_DISTRICT, (WAKEFIELD_DISTRICT, LEEDS_DISTRICT)),
    Point(51.5072, -0.1276, "E09000033"),
    Point(53.75, -1.5, "E08000032"),  # inside some polygon catchments of the generated directories
]


def _filters(index: DirectoryIndex) -> list[dict[str, Any]]:
    """HSDS service filters worth asking of this directory: each alone, and some together."""
    some = index.services[len(index) // 2]
    return [
        {},
        {"search": "crisis"},
        {"search": "Leeds CAFE"},
        {"search": some.name.split()[0]},
        {"search": "no-such-word-anywhere"},
        {"organization_id": some.organisation.id},
        {"organization_id": to_hsds_service(some)["organization"]["id"]},
        {"organization_id": index.services[0].organisation.id, "minimum_age": 16},
        {"organization_id": "no-such-organisation"},
        {"modified_after": BUILT_AT - timedelta(days=40)},
        {"modified_after": BUILT_AT - timedelta(days=40, microseconds=40)},  # on one's instant: kept
        {"modified_after": datetime(2026, 10, 20, 10, 0)},  # naive: London time
        {"minimum_age": 0},
        {"minimum_age": 16},
        {"minimum_age": 18},
        {"maximum_age": 0},
        {"maximum_age": 17},
        {"maximum_age": 120},
        {"minimum_age": 16, "maximum_age": 65},
        {"day": "MO"},
        {"day": "saturday", "start_time": "18:00"},
        {"end_time": "03:00"},
        {"start_time": "09:00", "end_time": "17:00"},
        {"taxonomy_id": "service-finder:need", "minimum_age": 16},
        {"taxonomy_term_id": "service-finder:kind:crisis_cafe", "search": "cafe"},
        {"taxonomy_id": "service-finder:eligibility", "taxonomy_term_id": "service-finder:need:self_harm"},
        {"taxonomy_id": "service-finder:contact-mode", "day": "SU"},
    ]


# Every term and taxonomy published, by name and by id.
TAXONOMY_FILTERS: list[dict[str, Any]] = [
    *({"taxonomy_term_id": term["term_uri"]} for term in hsds_taxonomy_terms()),
    *({"taxonomy_term_id": term["id"]} for term in hsds_taxonomy_terms()[::9]),
    *({"taxonomy_id": taxonomy["name"]} for taxonomy in hsds_taxonomies()),
    *({"taxonomy_id": taxonomy["id"]} for taxonomy in hsds_taxonomies()[::4]),
]


def _check_filters(index: DirectoryIndex, reference: Reference, asked: list[dict[str, Any]], *, near: bool) -> int:
    """Each filter answers as the reference does, for services and for services at locations (near each of POINTS
    too, with and without a proximity, when `near`); the number of answers that were not empty."""
    view = hsds_view(index)
    answered = 0
    for filters in asked:
        services = matching_services(view, HsdsServiceFilters.model_validate(filters)).tolist()
        assert services == reference.services(HsdsServiceFilters.model_validate(filters)), filters
        answered += bool(services)
        places: list[tuple[Point | None, int | None]] = [(None, None)]
        if near:
            # Each point, every other one with a proximity (each of them in both ways across the filters).
            places += [(point, 20_000 if (k + len(filters)) % 2 else None) for k, point in enumerate(POINTS)]
        for point, metres in places:
            located = HsdsServiceAtLocationFilters.model_validate({**filters, "proximity": metres})
            found = [(i, j) for i, j in matching_locations(view, located, point).tolist()]
            assert found == reference.locations(located, point), (filters, point, metres)
    return answered


BOXES = [
    None,
    "-1.7,53.7,-1.4,53.9",  # Leeds
    "-0.6,51.2,0.4,51.8",  # London
    "-6,49.9,2,55.9",  # England
    "179,-1,-179,1",  # across the antimeridian: nothing there
    "1.9,49.9,-5.0,55.9",  # across the antimeridian the long way round: all but the middle of England
    "-1.0,50.0,-1.0,56.0",  # a line of longitude
]


def _edge_boxes(index: DirectoryIndex) -> list[str]:
    """A box whose corner is exactly a site, so that site is inside (none for a directory with no sites)."""
    place = next((record.locations[0] for record in index.services if record.locations), None)
    if place is None:
        return []
    return [f"{place.longitude},{place.latitude},{place.longitude + 0.5},{place.latitude + 0.5}"]


def _check_geojson(index: DirectoryIndex, kinds: Sequence[ServiceKind | None]) -> int:
    features = 0
    for text in [*BOXES, *_edge_boxes(index)]:
        box: BBox | None = None if text is None else parse_bbox(text)
        for kind in kinds:
            found = index_feature_collection(index, today=TODAY, kind=kind, bbox=box).model_dump(mode="json")
            expected = feature_collection(index.services, today=TODAY, kind=kind, bbox=box).model_dump(mode="json")
            assert found == expected, (text, kind)
            features += len(found["features"])
    return features


def _check_hsds_ids(index: DirectoryIndex, reference: Reference) -> None:
    view = hsds_view(index)
    for key, position in reference.position.items():
        assert view.service(key) == position, key
    for key, pair in reference.service_at_locations.items():
        assert view.service_at_location(key) == pair, key
    for key, uuid in reference.organization_keys.items():
        members = view.organization(key)
        assert members is not None, key
        assert members.tolist() == reference.organizations[uuid], key
    unknown = ["nobody", "", "00000000-0000-5000-8000-000000000000"]
    unknown += [key.upper() for key in reference.service_at_locations][:1]  # not as the documents write it
    for key in unknown:
        assert view.service(key) is None
        assert view.service_at_location(key) is None
        assert view.organization(key) is None


def _check_fhir_locations(index: DirectoryIndex, reference: Reference) -> None:
    assert [index.location_ids.key(code) for code in locations_in_order(index).tolist()] == reference.location_order
    for key, users in reference.location_users.items():
        assert fhir_routes._location_users(index, key) == users, key
    for key in ("nowhere", LONG_PLACE[:55] + "-00000000", ""):
        assert fhir_routes._location_users(index, key) is None
    for latitude, longitude, km in ((53.8, -1.55, 10.0), (53.8, -1.55, 200.0), (51.5, -0.13, 2.0), (50.0, -5.0, 1.0)):
        near = fhir_routes._locations_near(index, fhir_routes.Near(latitude, longitude, km))
        ids = [index.location_ids.key(code) for code in near.tolist()]
        assert ids == reference.locations_near(latitude, longitude, km)


# --- the demonstration directory, plain and packed -------------------------------------------------------------------


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "packed"])
def test_hsds_filters_answer_as_every_record_read_did(packed: bool) -> None:
    index = _demo_indexes()[packed]
    reference = Reference(index)
    assert _check_filters(index, reference, _filters(index), near=True) > 15
    assert _check_filters(index, reference, TAXONOMY_FILTERS, near=False) > 40  # real answers compared


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "packed"])
def test_ids_and_places_are_found_as_every_record_read_found_them(packed: bool) -> None:
    index = _demo_indexes()[packed]
    reference = Reference(index)
    _check_hsds_ids(index, reference)
    _check_fhir_locations(index, reference)
    assert len(reference.location_users[LONG_PLACE]) == 1
    assert fhir_id(LONG_PLACE) in reference.location_users
    assert any(len(users) > 1 for users in reference.location_users.values())  # a place two services share


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "packed"])
def test_the_map_answers_as_every_record_read_did(packed: bool) -> None:
    assert _check_geojson(_demo_indexes()[packed], [None, ServiceKind.crisis_cafe, ServiceKind.crisis_line]) > 500


# --- generated directories -----------------------------------------------------------------------------------------


@st.composite
def shared_directories(draw: st.DrawFn) -> list[ServiceRecord]:
    """The search's generated directories, their services spread over a few organisations and some places shared
    between services (a Location is then built from several)."""
    records = draw(directories(min_size=1, max_size=8))
    organisations = draw(st.lists(st.sampled_from(["org-a", "org-b", "org-c"]), min_size=len(records)))
    shared = draw(st.lists(st.booleans(), min_size=len(records)))
    moved = []
    for record, organisation, share in zip(records, organisations, shared, strict=False):
        places = [
            place.model_copy(update={"id": f"shared-{j}"}) if share else place
            for j, place in enumerate(record.locations)
        ]
        moved.append(
            record.model_copy(
                update={
                    "organisation": record.organisation.model_copy(update={"id": organisation}),
                    "locations": places,
                    "description": f"A {organisation} service",
                }
            )
        )
    return moved


GENERATED_FILTERS: list[dict[str, Any]] = [
    {},
    {"search": "org-b"},
    {"organization_id": "org-a"},
    {"minimum_age": 0},
    {"minimum_age": 18, "maximum_age": 65},
    {"modified_after": BUILT_AT - timedelta(days=2)},
    {"day": "FR", "start_time": "18:00"},
    {"end_time": "03:00"},
    {"taxonomy_term_id": "service-finder:contact-mode:phone"},
    {"taxonomy_term_id": "service-finder:contact-mode:in_person"},
    {"taxonomy_term_id": "service-finder:eligibility:gp_registration_required"},
    {"taxonomy_term_id": "service-finder:field:verified_at"},
    {"taxonomy_id": "service-finder:referral-route"},
    {"taxonomy_id": "service-finder:access-feature", "maximum_age": 70},
]


@SETTINGS
@given(records=shared_directories())
def test_generated_directories_answer_as_every_record_read_did(records: list[ServiceRecord]) -> None:
    for index in _both(records):
        reference = Reference(index)
        _check_filters(index, reference, GENERATED_FILTERS, near=True)
        _check_filters(index, reference, TAXONOMY_FILTERS[::3], near=False)
        _check_hsds_ids(index, reference)
        _check_fhir_locations(index, reference)
        _check_geojson(index, [None, index.services[0].kind])


# --- the routes, over HTTP --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("selection") / "store.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    settings = Settings(database_url=str(engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    app = create_app(settings, engine=engine)
    app.dependency_overrides[get_today] = lambda: TODAY
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    engine.dispose()


def _answer(client: TestClient, index: DirectoryIndex, url: str) -> tuple[int, bytes]:
    snapshot = Snapshot(index=index, store_unreachable=False, checked_at=BUILT_AT)
    client.app.dependency_overrides[get_snapshot] = lambda: snapshot  # type: ignore[attr-defined]
    response = client.get(url)
    # A problem document names its request, a new one each time.
    return response.status_code, re.sub(rb'"request_id":"[0-9a-f]+",', b"", response.content)


def _urls(index: DirectoryIndex) -> list[str]:
    reference = Reference(index)
    some = index.services[len(index) // 3]
    document = reference.documents[len(index) // 3 + 1]
    link = next(d["service_at_locations"][0]["id"] for d in reference.documents if d["service_at_locations"])
    place = next(r.locations[0].id for r in index.services if r.locations)
    shared = next(key for key, users in reference.location_users.items() if len(users) > 1)
    near = quote("53.80|-1.55|10|km")
    return [
        "/hsds/services",
        "/hsds/services?page=2&per_page=7",
        "/hsds/services?page=9&per_page=100",  # past the last page
        "/hsds/services?search=crisis&per_page=5&page=2",
        "/hsds/services?taxonomy_id=service-finder:need&per_page=3&page=4",
        "/hsds/services?taxonomy_term_id=service-finder:contact-mode:in_person",
        f"/hsds/services?organization_id={some.organisation.id}",
        "/hsds/services?modified_after=2026-10-01T00:00:00Z&minimum_age=0",
        "/hsds/services?day=MO&end_time=17:00",
        f"/hsds/services/{some.id}",
        f"/hsds/services/{document['id']}",
        "/hsds/services/no-such-service",
        "/hsds/service_at_locations",
        "/hsds/service_at_locations?page=3&per_page=5",
        f"/hsds/service_at_locations?postcode={quote('LS1 1UR')}&proximity=5000",
        f"/hsds/service_at_locations?postcode={quote('LS1 1UR')}&maximum_age=25",
        f"/hsds/service_at_locations/{link}",
        "/hsds/service_at_locations/00000000-0000-5000-8000-000000000000",
        "/hsds/organizations",
        "/hsds/organizations?page=2&per_page=5",
        f"/hsds/organizations/{some.organisation.id}",
        f"/hsds/organizations/{document['organization']['id']}",
        "/hsds/organizations/no-such-organisation",
        "/v1/services.geojson",
        "/v1/services.geojson?bbox=-1.7,53.7,-1.4,53.9",
        "/v1/services.geojson?bbox=-1.7,53.7,-1.4,53.9&kind=crisis_cafe",
        "/v1/services.geojson?bbox=179,-1,-179,1",
        "/fhir/Location",
        "/fhir/Location?_count=5&_offset=10",
        f"/fhir/Location?near={near}&_count=4&_offset=2",
        f"/fhir/Location/{place}",
        f"/fhir/Location/{shared}",
        f"/fhir/Location/{fhir_id(LONG_PLACE)}",
        "/fhir/Location/nowhere",
        f"/fhir/HealthcareService?location.near={near}&_count=3",
    ]


def test_the_routes_answer_byte_for_byte_alike_packed_or_not(client: TestClient) -> None:
    plain, packed = _demo_indexes()
    statuses = set()
    for url in _urls(plain):
        status, body = _answer(client, plain, url)
        assert (status, body) == _answer(client, packed, url), url
        statuses.add(status)
    assert statuses == {200, 404}


# --- what a request reads ------------------------------------------------------------------------------------------


def _decodes(client: TestClient, url: str) -> tuple[int, dict[str, Any]]:
    """How many records a request decodes from a packed directory that has decoded none yet, and its answer."""
    records = _directory()
    index = DirectoryIndex.build(records, version=1, built_at=BUILT_AT, packed=True, last_modified=_modified(records))
    original = PackedRecords._decode
    with patch.object(PackedRecords, "_decode", autospec=True, side_effect=original) as decode:
        status, body = _answer(client, index, url)
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    return decode.call_count, answer


def test_a_page_reads_the_records_on_it_not_the_directory(client: TestClient) -> None:
    # Over 1,000,000 packed services, reading every record took minutes and held a document per service: a page
    # of five reads five records (plus, once per snapshot, one per organisation for the list of organisations).
    directory = len(_directory())
    decoded, page = _decodes(client, "/hsds/services?per_page=5&page=3")
    assert (decoded, page["size"], page["total_items"]) == (5, 5, directory)
    decoded, page = _decodes(client, "/hsds/service_at_locations?per_page=4&page=2")
    assert decoded <= 4
    assert page["size"] == 4
    decoded, page = _decodes(client, "/hsds/services?taxonomy_term_id=service-finder:kind:crisis_cafe&per_page=2")
    assert decoded == 2 < page["total_items"]
    decoded, page = _decodes(client, f"/hsds/services/{to_hsds_service(_directory()[7])['id']}")
    assert decoded == 1
    decoded, bundle = _decodes(client, "/fhir/Location?_count=3")
    assert decoded <= 4  # one place is shared by two services
    assert (len(bundle["entry"]), bundle["total"]) == (3, len(Reference(_demo_indexes()[0]).location_order))


def test_a_map_of_a_box_reads_the_services_in_the_box(client: TestClient) -> None:
    decoded, leeds = _decodes(client, "/v1/services.geojson?bbox=-1.7,53.7,-1.4,53.9")
    assert 0 < decoded == len({feature["properties"]["id"] for feature in leeds["features"]}) < 60
    decoded, nowhere = _decodes(client, "/v1/services.geojson?bbox=179,-1,-179,1")
    assert (decoded, nowhere["features"]) == (0, [])
