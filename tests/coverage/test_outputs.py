"""The files people look at and load: PNG and SVG figures, JSON, CSV and GeoJSON, over the synthetic ring."""

from __future__ import annotations

import csv
import io
import json
import struct
import zlib
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from service_finder.coverage import render, report
from service_finder.coverage.analysis import DEMO_CAVEAT, CoverageQuery, CoverageResult, Reach, compute, window_instants
from tests.coverage.conftest import ATTRIBUTION, LEEDS, centre_location, index_of, ring_population
from tests.factories import make_record

SVG = "{http://www.w3.org/2000/svg}"


def _result(*, demo: bool = False, window: str = "fri 17:00-21:00") -> CoverageResult:
    record = make_record("cafe", locations=centre_location("cafe"), provenance={"source_name": "demo" if demo else "t"})
    instants = window_instants(window, date(2026, 10, 9))
    return compute(index_of([record]), ring_population(), CoverageQuery(reach=Reach.straight_line(10)), instants)


def read_png(data: bytes) -> tuple[int, int, np.ndarray, dict[str, str]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, text = 8, b"", {}
    width = height = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        position += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, width * 3 + 1)
    assert (rows[:, 0] == 0).all()
    return width, height, rows[:, 1:].reshape(height, width, 3), text


@pytest.mark.parametrize("figure", [render.map_png, render.heatmap_png])
def test_png_figures_are_real_images_with_the_attribution(figure: object, tmp_path: Path) -> None:
    path = tmp_path / "figure.png"
    path.write_bytes(figure(_result()))  # type: ignore[operator]
    width, height, pixels, text = read_png(path.read_bytes())
    assert width >= 600
    assert height >= 150
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 5  # a figure, not a blank canvas
    assert "Crown copyright" in text["Copyright"]


def test_the_map_shades_covered_postcodes_blue_and_uncovered_red() -> None:
    result = _result()
    _, _, pixels, _ = read_png(render.map_png(result))
    flat = [tuple(int(c) for c in p) for p in pixels.reshape(-1, 3)]
    # Postcodes covered 3 of 4 instants and never: the ramp at 0.75 and at 0.
    assert tuple(int(c) for c in render.ramp(np.array([0.75]))[0]) in flat
    assert tuple(int(c) for c in render.ramp(np.array([0.0]))[0]) in flat


def test_the_svg_map_is_xml_with_shaded_cells_attribution_and_demo_caveat(tmp_path: Path) -> None:
    path = tmp_path / "map.svg"
    path.write_bytes(render.map_svg(_result(demo=True)))
    root = ElementTree.parse(path).getroot()
    shares = sorted(float(r.get("data-share", "")) for r in root.iter(f"{SVG}rect") if r.get("data-share"))
    assert shares
    assert shares[0] == 0.0
    assert shares[-1] == pytest.approx(0.75)
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert ATTRIBUTION.split(".")[0] in texts
    assert DEMO_CAVEAT.split(":")[0] in texts


def test_no_demo_caveat_without_demo_data() -> None:
    root = ElementTree.fromstring(render.map_svg(_result(demo=False)))
    assert not [t for t in root.iter(f"{SVG}text") if t.get("class") == "caveat"]


def test_the_svg_heat_map_has_a_cell_per_hour_of_the_week() -> None:
    root = ElementTree.fromstring(render.heatmap_svg(_result(window="week")))
    cells = {
        (int(r.get("data-day", "")), int(r.get("data-hour", ""))): r
        for r in root.iter(f"{SVG}rect")
        if r.get("data-day")
    }
    assert len(cells) == 168
    # Friday (4) 18:00 to Saturday (5) 01:00: 3 of the 10 postcodes; Monday noon: none.
    assert float(cells[(4, 20)].get("data-share", "")) == pytest.approx(0.3)
    assert float(cells[(5, 1)].get("data-share", "")) == pytest.approx(0.3)
    assert float(cells[(5, 2)].get("data-share", "")) == 0.0
    assert float(cells[(0, 12)].get("data-share", "")) == 0.0


def test_hours_not_computed_are_grey_not_zero() -> None:
    root = ElementTree.fromstring(render.heatmap_svg(_result()))
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("data-day")]
    assert len(cells) == 168
    assert sum(1 for r in cells if r.get("data-share") is not None) == 4


def test_json_report_figures() -> None:
    body = json.loads(report.to_report(_result()).model_dump_json())
    assert [i["share"] for i in body["instants"]] == [0.0, 0.3, 0.3, 0.3]
    leeds = next(d for d in body["districts"] if d["code"] == LEEDS)
    assert leeds["shares"] == [0.0, 0.6, 0.6, 0.6]
    assert leeds["min_share"] == 0.0
    assert leeds["worst_at"].startswith("2026-10-09T17:00")
    assert body["districts"][0]["name"] == "Wakefield"  # least covered first
    assert {(h["day"], h["hour"]) for h in body["hour_of_week"]} == {(4, 17), (4, 18), (4, 19), (4, 20)}
    assert "Crown copyright" in body["attribution"]


def test_csv_has_a_row_per_district_and_instant_plus_england() -> None:
    rows = list(csv.DictReader(io.StringIO(report.to_csv(_result()))))
    assert len(rows) == 4 * 3
    leeds_20 = next(r for r in rows if r["district_code"] == LEEDS and r["at"].startswith("2026-10-09T20"))
    assert (leeds_20["postcodes"], leeds_20["covered"], leeds_20["share"]) == ("5", "3", "0.6000")
    assert {r["district_code"] for r in rows} == {"ENGLAND", LEEDS, "E08000036"}


def test_geojson_districts_are_points_with_their_shares() -> None:
    collection = json.loads(report.geojson_text(_result()))
    assert collection["type"] == "FeatureCollection"
    by_code = {f["properties"]["district_code"]: f for f in collection["features"]}
    assert by_code[LEEDS]["properties"]["mean_share"] == 0.45
    _lon, lat = by_code[LEEDS]["geometry"]["coordinates"]
    assert lat > 53.8 > by_code["E08000036"]["geometry"]["coordinates"][1]
    assert "Crown copyright" in collection["properties"]["attribution"]
