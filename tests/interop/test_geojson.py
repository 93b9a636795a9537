from __future__ import annotations

from datetime import date

import pytest

from service_finder.interop.geojson import feature_collection, parse_bbox
from tests.factories import make_record


def test_bbox_reads_in_rfc_7946_order() -> None:
    box = parse_bbox("-1.7,53.7,-1.4,53.9")
    assert (box.west, box.south, box.east, box.north) == (-1.7, 53.7, -1.4, 53.9)
    assert parse_bbox("-1.7,53.9,-1.4,53.7") == box


@pytest.mark.parametrize("text", ["1,2,3", "x,1,2,3", "nan,1,2,3", "1e1,2,3,4", "-200,50,1,51", "-1,50,1,90.5"])
def test_bad_bbox_messages_name_the_value_and_the_shape(text: str) -> None:
    with pytest.raises(ValueError, match="four decimal numbers, longitudes -180 to 180 and latitudes -90 to 90") as e:
        parse_bbox(text)
    assert repr(text) in str(e.value)


@pytest.mark.parametrize(
    ("longitude", "inside"), [(179.5, True), (-179.5, True), (180.0, True), (0.0, False), (170.0, False)]
)
def test_a_box_across_the_antimeridian_wraps_round(longitude: float, inside: bool) -> None:
    record = make_record()
    place = record.locations[0].model_copy(update={"longitude": longitude, "latitude": 0.0})
    assert parse_bbox("179,-1,-179,1").contains(place) is inside


def test_a_point_on_the_edge_of_the_box_is_inside() -> None:
    record = make_record()
    place = record.locations[0]
    edge = parse_bbox(f"{place.longitude},{place.latitude},{place.longitude + 1},{place.latitude + 1}")
    assert [
        f.properties.location_id for f in feature_collection([record], today=date(2026, 11, 24), bbox=edge).features
    ] == [place.id]


def test_a_phone_lines_office_is_not_a_pin_on_the_map_of_places_to_go() -> None:
    # A pin with the line's name and numbers sent people to an office that does not open its door to them.
    line = make_record("line", kind="crisis_line", access={"contact_modes": ["phone"]})
    cafe = make_record("cafe")
    collection = feature_collection([line, cafe], today=date(2026, 11, 24))
    assert [f.properties.id for f in collection.features] == ["cafe"]


def test_the_map_is_of_places_by_their_kind_when_the_ways_in_say_otherwise() -> None:
    # A crisis house you phone to be referred to is a place to stay; a crisis line whose ways in are not recorded
    # (other publishers' HSDS) has an office, not a door.
    house = make_record("house", kind="crisis_house", access={"contact_modes": ["phone"]})
    line = make_record("line", kind="crisis_line", access={"contact_modes": []})
    collection = feature_collection([house, line], today=date(2026, 11, 24))
    assert [f.properties.id for f in collection.features] == ["house"]


def test_a_map_says_which_number_is_a_textphone() -> None:
    # Shown as a plain number, a textphone line was rung by voice callers and a deaf caller's text number looked
    # like a voice line.
    record = make_record(phones=[{"number": "0113 496 0001"}, {"number": "0113 496 0002", "type": "textphone"}])
    properties = feature_collection([record], today=date(2026, 11, 24)).features[0].properties.model_dump(mode="json")
    assert properties["phone_numbers"] == [
        {"display": "0113 496 0001", "type": "voice"},
        {"display": "0113 496 0002", "type": "textphone"},
    ]
