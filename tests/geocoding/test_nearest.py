from __future__ import annotations

from typing import Any

import pytest
from geopy.distance import great_circle

from service_finder.geocoding.gazetteer import PostcodeOutsideEngland


def test_the_nearest_postcode_to_a_point_is_its_own_postcode(gazetteer: Any) -> None:
    for postcode in ["SW1A 2AA", "LS1 1UR", "M1 1AE", "PL1 2AA", "NE1 4ST"]:
        point = gazetteer.lookup(postcode)
        nearest = gazetteer.nearest(point.latitude, point.longitude)
        assert nearest is not None
        # Several postcodes can share one point (a large building); the nearest is then at distance zero.
        assert great_circle((point.latitude, point.longitude), (nearest.latitude, nearest.longitude)).km < 0.001
        assert nearest.district_code == point.district_code


def test_nearest_gives_the_district_of_a_point_between_postcodes(gazetteer: Any) -> None:
    nearest = gazetteer.nearest(53.8008, -1.5491)  # Leeds city centre
    assert nearest is not None
    assert (nearest.district_code, nearest.district_name, nearest.country) == ("E08000035", "Leeds", "england")


@pytest.mark.parametrize(("latitude", "longitude"), [(50.0, -3.0), (53.5, -8.0), (0.0, 0.0)])
def test_no_postcode_within_a_kilometre_is_none(gazetteer: Any, latitude: float, longitude: float) -> None:
    assert gazetteer.nearest(latitude, longitude) is None


def test_a_point_far_from_every_postcode_still_has_its_districts(gazetteer: Any) -> None:
    # Central Dartmoor: no postcode within a kilometre. Its districts come from the postcodes around it, every
    # district near enough that the boundary could lie between, nearest's first (West Devon).
    assert gazetteer.nearest(50.57, -3.92) is None
    point = gazetteer.locate(50.57, -3.92)
    assert point is not None
    assert point.country == "england"
    assert point.district_codes[0] == point.district_code == "E07000047"  # West Devon
    assert "E06000057" not in point.district_codes  # nothing from the other end of England


def test_a_point_near_a_postcode_is_located_as_the_nearest_says(gazetteer: Any) -> None:
    assert gazetteer.locate(53.8008, -1.5491) == gazetteer.nearest(53.8008, -1.5491)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(54.5, -6.0), (54.2, -4.5), (50.0, -3.0)],  # Northern Ireland, the Isle of Man, the Channel
)
def test_a_point_far_from_land_in_great_britain_is_not_located(
    gazetteer: Any, latitude: float, longitude: float
) -> None:
    assert gazetteer.locate(latitude, longitude) is None


def test_points_either_side_of_a_district_boundary_may_be_in_either(gazetteer: Any) -> None:
    # 22 m apart, nearest postcodes in Cambridge and in South Cambridgeshire: neither is certain, both are listed.
    first, second = gazetteer.locate(52.18790, 0.18240), gazetteer.locate(52.18806, 0.18205)
    assert set(first.district_codes) == set(second.district_codes) == {"E07000008", "E07000012"}
    assert first.district_codes[0] == first.district_code  # the nearest postcode's district first


def test_a_postcode_with_no_district_takes_the_districts_around_it(gazetteer: Any) -> None:
    # A new postcode not yet given a local authority in Code-Point Open.
    assert gazetteer.lookup("B29 6XE").district_code is None
    point = gazetteer.resolve("B29 6XE")
    assert (point.district_code, point.district_name) == ("E08000025", "Birmingham")


def test_a_point_offshore_counts_every_district_within_reach_of_its_nearest_postcode(gazetteer: Any) -> None:
    # Liverpool Bay, 12 km from the nearest postcode: Flintshire (Wales) is within twice that, so an England-wide
    # catchment cannot be confirmed there; once the search square stopped at 15 km and left Wales out.
    point = gazetteer.locate(53.555902, -3.280038)
    assert point is not None
    assert "W06000005" in point.district_codes


@pytest.mark.parametrize(
    ("postcode", "place"),
    [("BT1 1AA", "Northern Ireland"), ("IM1 1AA", "the Isle of Man"), ("JE2 3AA", "Jersey"), ("GY1 1AA", "Guernsey")],
)
def test_a_postcode_outside_great_britain_is_outside_england_not_unknown(
    gazetteer: Any, postcode: str, place: str
) -> None:
    # Code-Point Open holds Great Britain only: these were "not a known postcode", which tells a person in Belfast
    # nothing. They are told where the search does not reach.
    with pytest.raises(PostcodeOutsideEngland, match=f"is in {place}, outside England"):
        gazetteer.resolve(postcode)
