from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service_finder.domain.postcode import PostcodeError
from service_finder.geocoding.build import build_from_codepoint
from service_finder.geocoding.gazetteer import Gazetteer, GazetteerFileError, PostcodeNotFound, PostcodeOutsideEngland
from tests.geocoding.codepoint import NAMES, ROWS, write_codepoint_zip

KNOWN = sorted(row.postcode for row in ROWS if row.quality != 90)


@given(st.sampled_from(KNOWN), st.sampled_from(["{o}{i}", "{o} {i}", " {o}  {i} ", "{o}\t{i}"]), st.booleans())
def test_a_known_postcode_is_found_however_it_is_typed(
    small_gazetteer: Gazetteer, postcode: str, shape: str, lower: bool
) -> None:
    outward, inward = postcode.split()
    typed = shape.format(o=outward, i=inward)
    point = small_gazetteer.lookup(typed.lower() if lower else typed)
    assert point is not None
    assert point.postcode == postcode
    assert not point.is_district


@given(st.text(max_size=12))
def test_lookup_of_any_text_returns_a_point_or_none(small_gazetteer: Gazetteer, text: str) -> None:
    point = small_gazetteer.lookup(text)
    assert point is None or point.postcode.replace(" ", "") == "".join(text.split()).upper()


def test_length_counts_full_postcodes_only(small_gazetteer: Gazetteer) -> None:
    assert len(small_gazetteer) == len(KNOWN)


def test_resolve_returns_english_postcodes_and_districts(small_gazetteer: Gazetteer) -> None:
    point = small_gazetteer.resolve("ls11 5aa")
    assert (point.postcode, point.country, point.district_code) == ("LS11 5AA", "england", "E08000035")
    district = small_gazetteer.resolve("b1")
    assert (district.postcode, district.is_district, district.district_code) == ("B1", True, "E08000025")


@pytest.mark.parametrize(("text", "country"), [("PH33 6ZZ", "Scotland"), ("ll554zz", "Wales"), ("LD1", "Wales")])
def test_resolve_refuses_postcodes_outside_england_naming_the_country(
    small_gazetteer: Gazetteer, text: str, country: str
) -> None:
    with pytest.raises(PostcodeOutsideEngland, match=f"is in {country}, outside England"):
        small_gazetteer.resolve(text)


def test_a_border_district_with_any_english_postcode_is_not_refused(small_gazetteer: Gazetteer) -> None:
    district = small_gazetteer.resolve("SY10")
    assert district.is_district
    assert district.country == "wales"  # the most common country, reported honestly
    with pytest.raises(PostcodeOutsideEngland):
        small_gazetteer.resolve("SY10 0AA")
    assert small_gazetteer.resolve("SY10 7AA").country == "england"


def test_resolve_tells_unknown_from_malformed(small_gazetteer: Gazetteer) -> None:
    with pytest.raises(PostcodeNotFound, match=r"^postcode 'ZZ1 1ZZ' is not a known postcode$"):
        small_gazetteer.resolve("zz11zz")
    with pytest.raises(PostcodeNotFound, match="'ZZ9' is not a known postcode district"):
        small_gazetteer.resolve("ZZ9")
    with pytest.raises(PostcodeError, match="'not a postcode'"):
        small_gazetteer.resolve("not a postcode")


def test_postcodes_in_outcode_keep_similar_districts_apart(small_gazetteer: Gazetteer) -> None:
    assert small_gazetteer.postcodes_in_outcode("b1") == ["B1 1AA"]
    assert small_gazetteer.postcodes_in_outcode("B10") == ["B10 0AA"]
    assert small_gazetteer.postcodes_in_outcode("LS11") == ["LS11 5AA"]
    assert small_gazetteer.postcodes_in_outcode("LS2") == []
    with pytest.raises(PostcodeError, match="full postcode"):
        small_gazetteer.postcodes_in_outcode("LS1 1AA")


def test_the_loaded_gazetteer_cannot_be_changed(small_gazetteer: Gazetteer) -> None:
    with pytest.raises(AttributeError):
        small_gazetteer.extra = 1  # type: ignore[attr-defined]
    point = small_gazetteer.lookup("LS1 1AA")
    assert point is not None
    with pytest.raises(AttributeError):
        point.latitude = 0.0  # type: ignore[misc]


def test_version_and_attribution_come_from_the_dataset(small_gazetteer: Gazetteer) -> None:
    assert small_gazetteer.version == "2031.4.0"
    assert "Contains OS data © Crown copyright and database right 2031." in small_gazetteer.attribution


def test_a_missing_file_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(GazetteerFileError, match="make gazetteer"):
        Gazetteer.load(tmp_path / "absent.npz")


def test_a_file_that_is_not_a_gazetteer_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "england.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(GazetteerFileError, match=r"england\.npz"):
        Gazetteer.load(path)


def test_a_file_cut_short_is_a_gazetteer_file_error_and_is_closed(tmp_path: Path) -> None:
    # A copy or download that stopped part way is a zip with no directory: it ended in a BadZipFile traceback from
    # `service-finder import` and `demo load`, and numpy left the file open.
    source = write_codepoint_zip(tmp_path / "codepo_gb.zip", ROWS, names=NAMES)
    whole = tmp_path / "whole.npz"
    build_from_codepoint(source, whole)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(GazetteerFileError, match="cannot be read"):
            Gazetteer.load(cut)
        gc.collect()
