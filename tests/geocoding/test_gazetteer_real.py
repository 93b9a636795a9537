"""Against the real gazetteer built from Code-Point Open (`make gazetteer`); missing file = failure, not a skip."""

from __future__ import annotations

import re

import pytest

from service_finder.geocoding.gazetteer import Gazetteer, PostcodeNotFound, PostcodeOutsideEngland
from tests.geocoding.codepoint import metres_between

# Landmarks whose postcodes and positions are public knowledge, independent of Code-Point Open. A postcode's
# point is the centre of its delivery addresses, so allow 150 m for a large building such as a cathedral.
LANDMARKS = [
    ("SW1A 2AA", 51.5034, -0.1276, "E09000033"),  # 10 Downing Street, Westminster
    ("SW1A 1AA", 51.5010, -0.1416, "E09000033"),  # Buckingham Palace
    ("WC1B 3DG", 51.5194, -0.1270, "E09000007"),  # British Museum, Camden
    ("EC4M 8AD", 51.5138, -0.0984, "E09000001"),  # St Paul's Cathedral, City of London
    ("LS1 1UR", 53.8018, -1.5486, "E08000035"),  # Leeds Civic Hall
    ("L4 0TH", 53.4308, -2.9608, "E08000012"),  # Anfield, Liverpool
    ("M16 0RA", 53.4631, -2.2913, "E08000009"),  # Old Trafford, Trafford
    ("YO1 7HH", 53.9623, -1.0819, "E06000014"),  # York Minster
    ("BA1 1LT", 51.3815, -2.3587, "E06000022"),  # Bath Abbey, Bath and North East Somerset
]


@pytest.mark.parametrize(("postcode", "latitude", "longitude", "district"), LANDMARKS, ids=[p for p, *_ in LANDMARKS])
def test_landmark_postcodes_resolve_to_where_they_are(
    real_gazetteer: Gazetteer, postcode: str, latitude: float, longitude: float, district: str
) -> None:
    point = real_gazetteer.resolve(postcode.lower().replace(" ", ""))
    assert point.postcode == postcode
    assert point.country == "england"
    assert metres_between(point.latitude, point.longitude, latitude, longitude) < 150
    assert point.district_code == district


@pytest.mark.parametrize(
    ("postcode", "name"),
    [("LS1 1UR", "Leeds"), ("EC4M 8AD", "City of London"), ("L4 0TH", "Liverpool"), ("WC1B 3DG", "Camden")],
)
def test_districts_have_their_everyday_names(real_gazetteer: Gazetteer, postcode: str, name: str) -> None:
    point = real_gazetteer.resolve(postcode)
    assert point.district_name == name


@pytest.mark.parametrize(
    ("postcode", "country"),
    [
        ("EH8 8DX", "Scotland"),  # Palace of Holyroodhouse
        ("EH99 1SP", "Scotland"),  # Scottish Parliament
        ("CF10 3RB", "Wales"),  # Cardiff Castle
        ("CF99 1SN", "Wales"),  # the Senedd
        ("EH1", "Scotland"),
        ("CF10", "Wales"),
    ],
)
def test_scottish_and_welsh_postcodes_are_outside_england(
    real_gazetteer: Gazetteer, postcode: str, country: str
) -> None:
    with pytest.raises(PostcodeOutsideEngland, match=f"^postcode '{postcode}' is in {country}, outside England$"):
        real_gazetteer.resolve(postcode)
    point = real_gazetteer.lookup(postcode)
    assert point is not None
    assert point.country == country.lower()


@pytest.mark.parametrize("postcode", ["ZZ1 1ZZ", "SW1A 9ZZ", "QQ9"])
def test_postcodes_that_do_not_exist_are_not_found(real_gazetteer: Gazetteer, postcode: str) -> None:
    with pytest.raises(PostcodeNotFound, match=re.escape(f"'{postcode}' is not a known postcode")):
        real_gazetteer.resolve(postcode)
    assert real_gazetteer.lookup(postcode) is None


@pytest.mark.parametrize(
    ("outcode", "latitude", "longitude", "district", "within_km"),
    [
        ("LS1", 53.7997, -1.5492, "E08000035", 1.5),  # Leeds city centre
        ("SW1A", 51.5014, -0.1419, "E09000033", 1.5),  # Westminster
        ("TD15", 55.7704, -2.0054, "E06000057", 15),  # Berwick-upon-Tweed: Northumberland, in England
    ],
)
def test_postcode_districts_resolve_to_their_middle(
    real_gazetteer: Gazetteer, outcode: str, latitude: float, longitude: float, district: str, within_km: float
) -> None:
    point = real_gazetteer.resolve(outcode.lower())
    assert (point.postcode, point.is_district, point.country) == (outcode, True, "england")
    assert point.district_code == district
    assert metres_between(point.latitude, point.longitude, latitude, longitude) < within_km * 1000


def test_postcodes_in_outcode_lists_the_district(real_gazetteer: Gazetteer) -> None:
    postcodes = real_gazetteer.postcodes_in_outcode("sw1a")
    assert {"SW1A 0AA", "SW1A 1AA", "SW1A 2AA"} <= set(postcodes)
    assert postcodes == sorted(postcodes)
    assert all(postcode.startswith("SW1A ") for postcode in postcodes)


def test_the_real_file_covers_great_britain(real_gazetteer: Gazetteer) -> None:
    # Code-Point Open lists about 1.7 million postcodes with coordinates.
    assert 1_600_000 < len(real_gazetteer) < 2_000_000
    assert re.fullmatch(r"20\d\d\.\d+\.\d+", real_gazetteer.version)
    assert real_gazetteer.district_name("E08000035") == "Leeds"


def test_a_postcode_district_lists_every_authority_its_postcodes_are_in(real_gazetteer: Gazetteer) -> None:
    # BA3: Bath and North East Somerset (most postcodes) and Somerset; CH1 reaches into Flintshire, in Wales.
    ba3 = real_gazetteer.resolve("BA3")
    assert ba3.district_codes == ("E06000022", "E06000066")
    assert ba3.district_code == ba3.district_codes[0]
    assert {real_gazetteer.resolve(p).district_code for p in real_gazetteer.postcodes_in_outcode("BA3")} == set(
        ba3.district_codes
    )
    assert "W06000005" in real_gazetteer.resolve("CH1").district_codes
    assert real_gazetteer.resolve("LS1").district_codes == ("E08000035",)
    assert real_gazetteer.resolve("BA3 2RX").district_codes == ("E06000066",)
