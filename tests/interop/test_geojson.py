from __future__ import annotations

import pytest

from service_finder.interop.geojson import feature_collection, parse_bbox
from tests.factories import make_record


def test_bbox_reads_in_rfc_7946_order() -> None:
    box = parse_bbox("-1.7,53.7,-1.4,53.9")
    assert (box.min_lon, box.min_lat, box.max_lon, box.max_lat) == (-1.7, 53.7, -1.4, 53.9)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1,2,3", "needs 4 numbers"),
        ("x,1,2,3", "needs 4 numbers"),
        ("2,50,1,51", "west to east"),
        ("-1,51,1,50", "south to north"),
        ("-200,50,1,51", "-180..180"),
    ],
)
def test_bad_bbox_messages_name_the_value(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as error:
        parse_bbox(text)
    assert repr(text) in str(error.value)


def test_a_point_on_the_edge_of_the_box_is_inside() -> None:
    record = make_record()
    place = record.locations[0]
    edge = parse_bbox(f"{place.longitude},{place.latitude},{place.longitude + 1},{place.latitude + 1}")
    assert [f.id for f in feature_collection([record], bbox=edge).features] == [place.id]
