from __future__ import annotations

import random
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service_finder.geocoding import build
from service_finder.geocoding.build import (
    GazetteerBuildError,
    build_from_codepoint,
    build_gazetteer,
    clean_district_name,
    fetch_wheel,
)
from service_finder.geocoding.gazetteer import Gazetteer
from tests.geocoding.codepoint import (
    BEN_NEVIS,
    NAMES,
    ROWS,
    SCAFELL_PIKE,
    SNOWDON,
    Row,
    dms,
    metres_between,
    write_codepoint_zip,
)


def test_summary_counts_what_was_kept_and_dropped(codepoint_zip: Path, tmp_path: Path) -> None:
    summary = build_from_codepoint(codepoint_zip, tmp_path / "out.npz")
    with_coordinates = [row for row in ROWS if row.quality != 90]
    assert summary.postcodes == len(with_coordinates)
    assert summary.dropped_without_coordinates == 1
    assert summary.by_country == {
        "england": sum(row.country == "E92000001" for row in with_coordinates),
        "scotland": 1,
        "wales": sum(row.country == "W92000004" for row in with_coordinates),
    }
    assert summary.version == "2031.4.0"
    assert summary.outcodes == len({row.postcode.split()[0] for row in with_coordinates})
    assert "2031.4.0" in str(summary)


def test_postcodes_without_coordinates_are_left_out(codepoint_zip: Path, tmp_path: Path) -> None:
    build_from_codepoint(codepoint_zip, tmp_path / "out.npz")
    gazetteer = Gazetteer.load(tmp_path / "out.npz")
    assert gazetteer.lookup("LS1 9ZZ") is None
    assert "LS1 9ZZ" not in gazetteer.postcodes_in_outcode("LS1")


@pytest.mark.parametrize(
    ("row", "latitude", "longitude"),
    [
        (BEN_NEVIS, dms(56, 47, 48, "N"), dms(5, 0, 13, "W")),
        (SNOWDON, dms(53, 4, 7, "N"), dms(4, 4, 34, "W")),
        (SCAFELL_PIKE, dms(54, 27, 15, "N"), dms(3, 12, 42, "W")),
    ],
    ids=["ben-nevis", "snowdon", "scafell-pike"],
)
def test_grid_references_become_wgs84_positions(row: Row, latitude: float, longitude: float, tmp_path: Path) -> None:
    build_from_codepoint(write_codepoint_zip(tmp_path / "cpo.zip", [row]), tmp_path / "out.npz")
    point = Gazetteer.load(tmp_path / "out.npz").lookup(row.postcode)
    assert point is not None
    # The grid reference names a 100 m square; a swapped axis or a missing datum shift is off by far more.
    assert metres_between(point.latitude, point.longitude, latitude, longitude) < 100


def test_outcode_centroid_is_the_mean_of_its_postcodes_with_the_most_common_district(
    small_gazetteer: Gazetteer,
) -> None:
    members = small_gazetteer.postcodes_in_outcode("LS1")
    assert members == ["LS1 1AA", "LS1 1AB", "LS1 2AA", "LS1 3ZZ"]
    points = [small_gazetteer.lookup(postcode) for postcode in members]
    centroid = small_gazetteer.lookup("LS1")
    assert centroid is not None
    assert centroid.is_district
    assert centroid.postcode == "LS1"
    assert centroid.latitude == pytest.approx(np.mean([p.latitude for p in points if p]), abs=1e-5)
    assert centroid.longitude == pytest.approx(np.mean([p.longitude for p in points if p]), abs=1e-5)
    assert (centroid.district_code, centroid.district_name) == ("E08000035", "Leeds")  # 3 of 4 are in Leeds


def test_district_names_are_read_from_the_codelist_and_tidied(small_gazetteer: Gazetteer) -> None:
    assert small_gazetteer.district_name("E08000035") == "Leeds"
    assert small_gazetteer.district_name("W06000002") == "Gwynedd"
    assert small_gazetteer.district_name("E08000025") is None  # Birmingham is not in this codelist
    point = small_gazetteer.lookup("B1 1AA")
    assert point is not None
    assert (point.district_code, point.district_name) == ("E08000025", None)
    # Known by its postcodes, named or not: what a catchment may list.
    assert small_gazetteer.knows_district("E08000025")
    assert small_gazetteer.knows_district("E08000035")
    assert not small_gazetteer.knows_district("E08000053")


@pytest.mark.parametrize(
    ("printed", "name"),
    [
        ("Leeds District (B)", "Leeds"),
        ("Barnet London Boro", "Barnet"),
        ("City and County of the City of London", "City of London"),
        ("Caerdydd - Cardiff", "Cardiff"),
        ("Bro Morgannwg - the Vale of Glamorgan", "The Vale of Glamorgan"),
        ("East Riding of Yorkshire", "East Riding of Yorkshire"),
        ("Hartlepool (B)", "Hartlepool"),
    ],
)
def test_ordnance_survey_print_names_become_everyday_names(printed: str, name: str) -> None:
    assert clean_district_name(printed) == name


def test_a_source_without_a_codelist_still_builds_without_names(tmp_path: Path) -> None:
    source = write_codepoint_zip(tmp_path / "cpo.zip", ROWS, names=None, metadata=None)
    build_from_codepoint(source, tmp_path / "out.npz")
    gazetteer = Gazetteer.load(tmp_path / "out.npz")
    point = gazetteer.lookup("LS1 1AA")
    assert point is not None
    assert (point.district_code, point.district_name) == ("E08000035", None)
    assert gazetteer.version == "unknown"


def test_same_input_in_any_order_gives_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shuffled = list(ROWS)
    random.Random(4).shuffle(shuffled)
    first = build_from_codepoint(write_codepoint_zip(tmp_path / "a.zip", ROWS, names=NAMES), tmp_path / "a.npz")
    later = time.time() + 86_400
    monkeypatch.setattr(time, "time", lambda: later)  # a rebuild tomorrow must not differ by a timestamp
    second = build_from_codepoint(write_codepoint_zip(tmp_path / "b.zip", shuffled, names=NAMES), tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert first.sha256 == second.sha256


def test_an_interrupted_write_leaves_the_previous_file_whole(
    codepoint_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out" / "england.npz"
    build_from_codepoint(codepoint_zip, output)
    before = output.read_bytes()
    real_write = np.lib.format.write_array
    written: list[int] = []

    def write_then_fail(*args: Any, **kwargs: Any) -> None:
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(1)
        real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    bigger = write_codepoint_zip(tmp_path / "bigger.zip", [*ROWS, Row("LS2 7AA", 429500, 434000)])
    with pytest.raises(KeyboardInterrupt):
        build_from_codepoint(bigger, output)
    assert output.read_bytes() == before
    assert sorted(p.name for p in output.parent.iterdir()) == ["england.npz"]


def test_a_postcode_listed_twice_is_refused(tmp_path: Path) -> None:
    source = write_codepoint_zip(tmp_path / "cpo.zip", [ROWS[0], ROWS[0]])
    with pytest.raises(GazetteerBuildError, match="'LS1 1AA' twice"):
        build_from_codepoint(source, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_a_wheel_that_fails_its_checksum_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / build.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(build.WHEEL_MEMBER, b"not the wheel from PyPI")
    with pytest.raises(GazetteerBuildError, match="sha256"):
        build_gazetteer(tmp_path / "out.npz", wheel=wheel)
    assert not (tmp_path / "out.npz").exists()


def test_a_cached_wheel_is_reused_without_downloading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = tmp_path / build.WHEEL_NAME
    cached.write_bytes(b"a wheel")
    monkeypatch.setattr(build, "WHEEL_SHA256", build.file_sha256(cached))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip was run although the cached wheel is intact")

    monkeypatch.setattr(subprocess, "run", no_network)
    assert fetch_wheel(tmp_path) == cached
