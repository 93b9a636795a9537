"""Fuzzing the input boundaries a file or a person reaches (docs/security.md API10; issue 7), beyond what the
per-module tests already do with arbitrary text and JSON: near-valid mutations of real inputs (a valid OSM hours
string, postcode, CSV or HSDS file with a few characters, cells or keys changed), raw file bytes through the same
`read_file` the CLI uses, and the hostile values files really contain (20-digit ages, 5,000-digit numbers, nesting a
thousand deep, NUL bytes, digits of other scripts).

Each boundary must give its result or its documented refusal, never another exception: `parse_osm` raises
`OsmHoursError` (a `ScheduleError` naming the string and the 1-based position; the CSV importer turns it into a
problem on the `hours` column); `parse_postcode` raises `PostcodeError` naming the text; `resolve_postcode`, which
every route with a postcode calls, raises `InvalidParameter` (422 on `postcode`); `parse_csv`, `parse_hsds` and
`read_file` raise nothing: every record comes back as a `Parsed` with its problems, which the CLI reports before
writing nothing.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from service_finder.api.routes.search import resolve_postcode
from service_finder.domain.hours_formats import OsmHoursError, parse_osm, to_osm
from service_finder.domain.postcode import PostcodeError, normalise_postcode, parse_postcode
from service_finder.errors import InvalidParameter
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.importers.csv_format import parse_csv, to_csv
from service_finder.importers.hsds import parse_hsds, to_hsds_document
from service_finder.importers.pipeline import import_records, read_file
from service_finder.importers.report import Parsed, describe_value
from service_finder.search.engine import point_in_geojson
from tests.factories import make_record, service_data

REPO = Path(__file__).resolve().parent.parent
CSV_TEMPLATE = (REPO / "data" / "templates" / "services.csv").read_text(encoding="utf-8")
ORUK_SAMPLE = (REPO / "tests" / "importers" / "data" / "oruk_sample.json").read_text(encoding="utf-8")

# The values that break parsers in practice, for cells, JSON values and string edits.
HOSTILE_TEXT = [
    "",
    " ",
    "1" * 5000,  # CPython refuses int() of more than 4,300 digits
    "9" * 20,
    "-1",
    "1e400",
    "nan",
    "Infinity",
    "\u0663\u0660",  # Arabic-Indic 30
    "\uff11\uff18",  # full-width 18
    "\x00",
    "\u2028",
    "\ufeff",
    '"',
    "=HYPERLINK()",
    "x" * 2000,
    "[" * 2000,
    "null",
    "{}",
    "2026-02-30",
    "24:00",
    "25:61",
    "Mo-Fr 09:00-17:00",
    "LS1 1UR",
    "0113 496 0000",
]
hostile = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12))


@st.composite
def near(draw: st.DrawFn, seeds: list[str], alphabet: str) -> str:
    """A seed with one to three typing slips: a character dropped, added, replaced or swapped, or a run doubled."""
    chars = list(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        if not chars:
            chars = list(draw(st.sampled_from(seeds)))
        at = draw(st.integers(0, len(chars) - 1))
        slip = draw(st.sampled_from(["drop", "add", "replace", "swap", "double"]))
        if slip == "drop":
            del chars[at]
        elif slip == "add":
            chars.insert(at, draw(st.sampled_from(alphabet)))
        elif slip == "replace":
            chars[at] = draw(st.sampled_from(alphabet))
        elif slip == "swap":
            other = draw(st.integers(0, len(chars) - 1))
            chars[at], chars[other] = chars[other], chars[at]
        else:
            end = draw(st.integers(at, min(len(chars), at + 8)))
            chars[at:at] = chars[at:end]
    return "".join(chars)


def _consistent(parsed: list[Parsed]) -> None:
    for item in parsed:
        assert (item.record is None) == bool(item.problems), item
        assert all(problem.where for problem in item.problems)


# ---------------------------------------------------------------------------------------------------------------
# OpenStreetMap opening_hours strings (service_finder/domain/hours_formats.py).

OSM_SEEDS = [
    "Mo-Fr 09:00-17:00; PH off",
    "Fr,Sa 18:00-02:00",
    "Su 22:00-26:00",
    "24/7",
    "off",
    "PH 10:00-14:00",
    "Mo 09:00-12:00,13:00-17:00; Sa-Mo 22:00-26:00",
    'Tu,Th 18:00-22:00; PH 10:00-14:00; 2026 Dec 24-2027 Jan 02 off "Christmas"; 2026 Nov 03 10:00-12:00',
    "2026 Dec 24 10:00-14:00",
    "Mo-Su 00:00-24:00",
]
OSM_ALPHABET = 'MoTuWeThFrSaSuPHofJanDec0123456789:-,;/ "+|.\u0660\uff10'
OSM_WORDS = [
    *("Mo", "Tu", "Fr", "Sa", "Su", "PH", "SH", "off", "closed", "open", "24/7", "week", "easter", "sunrise"),
    *("09:00", "17:00", "02:00", "26:00", "24:00", "00:00", "48:00", "99:99", "2026", "0000", "Jan", "Dec"),
    *("01", "29", "31", "-", ",", ";", '"x"', "||", "+", ":"),
]
osm_texts = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(OSM_WORDS), max_size=12).map(" ".join),
    near(OSM_SEEDS, OSM_ALPHABET),
)


@settings(max_examples=400, deadline=None)
@given(osm_texts)
@example("Mo \u0660\u0669:\u0660\u0660-\u0661\u0667:\u0660\u0660")  # Arabic-Indic digits
@example("0000 Jan 01 off")  # year 0
@example("2026 Feb 29 off")
@example("Mo 10:00-48:00")
def test_opening_hours_strings_give_a_schedule_or_an_osm_hours_error(text: str) -> None:
    try:
        schedule = parse_osm(text)
    except OsmHoursError as error:
        refused = error
    else:
        # What is accepted is sound and survives being written back, so an export never changes the hours.
        assert schedule.problems() == []
        assert parse_osm(to_osm(schedule)) == schedule
        return
    assert repr(text) in str(refused)
    assert 1 <= refused.position <= len(text) + 1


# ---------------------------------------------------------------------------------------------------------------
# Postcodes (service_finder/domain/postcode.py) and the one resolution every route uses.

POSTCODE_SEEDS = ["LS1 1UR", "SW1A 2AA", "EC1A 1BB", "M1 1AE", "B33 8TH", "TD15 1AA", "CF10 1EP", "EH1 1YZ", "BT1 1AA"]
POSTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcz \t-.\u00df\u0131\uff21\uff11\u0660"
postcode_texts = st.one_of(st.text(max_size=12), near(POSTCODE_SEEDS, POSTCODE_ALPHABET))
CANONICAL = re.compile(r"[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}")


@settings(max_examples=400, deadline=None)
@given(postcode_texts)
def test_postcodes_parse_or_raise_postcode_error(text: str) -> None:
    try:
        postcode = parse_postcode(text)
    except PostcodeError as error:
        message = str(error)
    else:
        assert str(postcode).isascii()
        assert parse_postcode(str(postcode)) == postcode
        if not postcode.is_district:
            assert CANONICAL.fullmatch(normalise_postcode(text))
        return
    assert repr(text) in message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(postcode_texts)
@example("CF10 1EP")  # Wales
@example("BT1 1AA")  # Northern Ireland: not in Code-Point Open
@example("LS1")  # a district
def test_every_route_resolves_a_postcode_or_gives_its_422(gazetteer: Gazetteer, text: str) -> None:
    try:
        point = resolve_postcode(text, gazetteer, instead="search by lat and lon")
    except InvalidParameter as error:
        refused = error
    else:
        assert point.postcode == str(parse_postcode(text))
        assert 49.8 < point.latitude < 55.9
        assert -6.5 < point.longitude < 2.0
        return
    assert (refused.status, refused.field, refused.value) == (422, "postcode", text)


# ---------------------------------------------------------------------------------------------------------------
# The CSV importer (service_finder/importers/csv_format.py).


def _csv_seeds() -> list[str]:
    demo = to_csv([make_record("leeds-cafe"), make_record("york-line", name="York Line", locations=[])])
    return [CSV_TEMPLATE, demo]


CSV_SEEDS = _csv_seeds()


def _with_cells(text: str, cells: dict[str, str]) -> str:
    """The CSV with these columns set on every data row."""
    table = list(csv.reader(io.StringIO(text)))
    header = table[0]
    for row in table[1:]:
        for column, value in cells.items():
            row[header.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(table)
    return out.getvalue()


@st.composite
def csv_with_changed_cells(draw: st.DrawFn) -> str:
    table = list(csv.reader(io.StringIO(draw(st.sampled_from(CSV_SEEDS)))))
    for _ in range(draw(st.integers(1, 4))):
        row = draw(st.integers(1, len(table) - 1))
        column = draw(st.integers(0, len(table[row]) - 1))
        table[row][column] = draw(hostile)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(table)
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(st.one_of(csv_with_changed_cells(), near(CSV_SEEDS, ',"\r\n;:ab01-')))
@example(_with_cells(CSV_SEEDS[1], {"minimum_age": "1" * 5000}))  # int() would refuse it
@example(_with_cells(CSV_SEEDS[1], {"catchment_type": "polygon", "catchment_geojson": "[" * 5000}))
@example(_with_cells(CSV_SEEDS[1], {"catchment_type": "polygon", "catchment_geojson": "[" * 900 + "]" * 900}))
def test_a_csv_with_changed_cells_gives_records_or_problems(text: str) -> None:
    _consistent(parse_csv(text))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _encoded(text: str) -> bytes:
    return text.encode("utf-8")


file_bytes = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(CSV_SEEDS).map(_encoded).map(lambda raw: raw[: len(raw) // 2]),  # cut short
    st.sampled_from(CSV_SEEDS).map(lambda text: b"\xef\xbb\xbf" + text.encode("utf-8")),
    st.sampled_from(CSV_SEEDS).map(lambda text: text.encode("utf-16")),
    st.sampled_from(CSV_SEEDS).map(lambda text: text.encode("utf-8").replace(b"a", b"\xff", 1)),
)


@settings(max_examples=100, deadline=None)
@given(file_bytes, st.sampled_from(["csv", None]))
def test_any_csv_file_bytes_give_records_or_problems(scratch: Path, raw: bytes, fmt: Any) -> None:
    path = scratch / "services.csv"
    path.write_bytes(raw)
    _, parsed = read_file(path, fmt)
    _consistent(parsed)


# ---------------------------------------------------------------------------------------------------------------
# The HSDS importer (service_finder/importers/hsds.py) and JSON files in general.

HSDS_SEEDS: list[Any] = [
    json.loads(ORUK_SAMPLE),
    json.loads(json.dumps(to_hsds_document([make_record("leeds-cafe"), make_record("york-line", locations=[])]))),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def hsds_with_changes(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(HSDS_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(document))[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        change = draw(st.sampled_from(["delete", "edit", "replace"]))
        if change == "delete":
            del parent[path[-1]]
        elif change == "edit" and isinstance(parent[path[-1]], str):
            parent[path[-1]] = draw(near([parent[path[-1]] or " "], "0123456789:-T+Z .abc\u0660"))
        else:
            parent[path[-1]] = draw(json_values)
    return document


@settings(max_examples=150, deadline=None)
@given(hsds_with_changes())
def test_an_hsds_file_with_changed_values_gives_records_or_problems(document: Any) -> None:
    _consistent(parse_hsds(document))


DEEP = 100_000
hostile_json_files = [
    b"[" * DEEP + b"]" * DEEP,  # deeper than json can read
    # Nesting json can just read, so that naming the bad value (repr) runs out of stack: where the edge falls depends
    # on how deep the caller already is, so several depths around it.
    *(b'[{"id": "x", "name": ' + b"[" * depth + b"]" * depth + b"}]" for depth in (900, 940, 960, 975, 985, 995)),
    b'{"contents": [{"attributes": ' + b"[" * 950 + b"]" * 950 + b"}]}",
    b"[" + b"1" * 5000 + b"]",  # an integer json reads but int() refuses
    b'[{"id": "x", "minimum_age": ' + b"9" * 4400 + b"}]",
    b"[NaN, Infinity]",
    b"\xef\xbb\xbf[]",
    b"\xff\xfe[\x00]\x00",
    b"",
    b"{",
]


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.sampled_from(hostile_json_files),
        st.sampled_from(HSDS_SEEDS)
        .map(lambda doc: json.dumps(doc).encode())
        .flatmap(lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut])),
        st.binary(max_size=100).map(lambda raw: b"[" + raw),
    ),
    st.sampled_from(["hsds", "native", None]),
)
def test_any_json_file_bytes_give_records_or_problems(scratch: Path, raw: bytes, fmt: Any) -> None:
    path = scratch / "services.json"
    path.write_bytes(raw)
    _, parsed = read_file(path, fmt)
    _consistent(parsed)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"[" * DEEP + b"]" * DEEP, "services.json is not valid JSON: it is nested too deeply to read"),
        (b"[" + b"1" * 5000 + b"]", "services.json is not valid JSON: it has a number too long to read"),
        (b'[{"id": "x", "name": ' + b"[" * 500 + b"]" * 500 + b"}]", "field name"),
    ],
    ids=["nested-too-deep", "number-too-long", "nested-name"],
)
def test_hostile_json_files_are_refused_with_a_named_problem(scratch: Path, raw: bytes, problem: str) -> None:
    path = scratch / "services.json"
    path.write_bytes(raw)
    _, parsed = read_file(path, "native")
    assert all(item.record is None for item in parsed)
    assert problem in " ".join(str(p) for item in parsed for p in item.problems)


def test_a_problem_can_name_a_value_too_deep_to_print() -> None:
    value: list[Any] = []
    for _ in range(DEEP):
        value = [value]
    assert describe_value(value) == "<list too large to show>"
    assert describe_value(10**5000) == "<int too large to show>"


# ---------------------------------------------------------------------------------------------------------------
# What an importer accepts must be usable by search. These found three faults in `CatchmentRecord`
# (service_finder/schemas.py, which every importer and the editor API validate with), now fixed: malformed or
# absurdly nested "coordinates" were accepted and `point_in_geojson` then raised inside every search near the
# service (500), or the store's JSON writer refused the import; and a "type" that was a JSON array raised
# TypeError instead of a problem (500 on POST /v1/services).

MALFORMED_POLYGONS = [[[[1]]], [[["a", "b"]]], [[1, 2]], "x", [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]


@pytest.mark.parametrize("coordinates", MALFORMED_POLYGONS, ids=["short-point", "text", "flat", "string", "3d"])
def test_a_polygon_the_csv_importer_accepts_can_be_searched(coordinates: Any) -> None:
    geojson = json.dumps({"type": "Polygon", "coordinates": coordinates})
    text = _with_cells(
        CSV_SEEDS[1], {"catchment_type": "polygon", "catchment_districts": "", "catchment_geojson": geojson}
    )
    for item in parse_csv(text):
        catchment = item.record.eligibility.catchment if item.record is not None else None
        if catchment is not None and catchment.geojson is not None:
            point_in_geojson(-1.5491, 53.8008, catchment.geojson)  # Leeds


def test_a_native_file_with_a_deeply_nested_polygon_is_refused_not_raised(sqlite_engine: Engine, scratch: Path) -> None:
    coordinates = json.loads("[" * 500 + "]" * 500)
    data = service_data(
        "deep",
        eligibility={"catchment": {"type": "polygon", "geojson": {"type": "Polygon", "coordinates": coordinates}}},
    )
    path = scratch / "deep.json"
    path.write_text(json.dumps([data]), encoding="utf-8")
    fmt, parsed = read_file(path, "native")
    report = import_records(sqlite_engine, parsed, source=str(path), fmt=fmt, gazetteer=None, actor="fuzz")
    assert not report.accepted


@pytest.mark.parametrize("kind", [["Polygon"], {"Polygon": True}], ids=["array", "object"])
def test_a_geojson_type_that_is_not_text_is_a_problem(kind: Any) -> None:
    geojson = json.dumps({"type": kind, "coordinates": [[[0, 50], [1, 50], [1, 51], [0, 50]]]})
    text = _with_cells(
        CSV_SEEDS[1], {"catchment_type": "polygon", "catchment_districts": "", "catchment_geojson": geojson}
    )
    parsed = parse_csv(text)
    assert all(item.record is None and item.problems for item in parsed)
