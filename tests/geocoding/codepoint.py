"""Tiny Code-Point-Open-shaped zips written by the tests themselves, and a distance to compare positions by."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ENGLAND, SCOTLAND, WALES = "E92000001", "S92000003", "W92000004"
LEEDS, BRADFORD, BIRMINGHAM, CUMBERLAND = "E08000035", "E08000032", "E08000025", "E06000063"
HIGHLAND, GWYNEDD, POWYS, SHROPSHIRE = "S12000017", "W06000002", "W06000023", "E06000051"


@dataclass(frozen=True, slots=True)
class Row:
    postcode: str
    easting: int
    northing: int
    country: str = ENGLAND
    district: str = LEEDS
    quality: int = 10

    def csv(self) -> str:
        return (
            f'"{self.postcode}",{self.quality},{self.easting},{self.northing},"{self.country}","E19000001",'
            f'"E18000003","","{self.district}","E05011403"\r\n'
        )


# Summits with published OS grid references, at the centre of each 100 m square, and their WGS84 positions
# as published independently (degrees, minutes, seconds): a check on the conversion that does not use PROJ.
BEN_NEVIS = Row("PH33 6ZZ", 216650, 771250, SCOTLAND, HIGHLAND)  # NN 166 712, 56°47'48"N 5°00'13"W
SNOWDON = Row("LL55 4ZZ", 260950, 354350, WALES, GWYNEDD)  # SH 609 543, 53°04'07"N 4°04'34"W
SCAFELL_PIKE = Row("CA20 1ZZ", 321550, 507250, ENGLAND, CUMBERLAND)  # NY 215 072, 54°27'15"N 3°12'42"W

ROWS: tuple[Row, ...] = (
    Row("LS1 1AA", 430000, 433000),
    Row("LS1 1AB", 430100, 433100),
    Row("LS1 2AA", 430200, 433300),
    Row("LS1 3ZZ", 430300, 433600, district=BRADFORD),  # the minority district of LS1
    Row("LS1 9ZZ", 0, 0, quality=90),  # no coordinates: must not be in the gazetteer
    Row("LS11 5AA", 429000, 431000),  # shares the prefix 'LS1' but is another district
    Row("B1 1AA", 406500, 286400, district=BIRMINGHAM),
    Row("B10 0AA", 409900, 285800, district=BIRMINGHAM),
    BEN_NEVIS,
    SNOWDON,
    SCAFELL_PIKE,
    # SY10 straddles the border: mostly Welsh here, one English postcode.
    Row("SY10 0AA", 320000, 330000, WALES, POWYS),
    Row("SY10 0AB", 320100, 330100, WALES, POWYS),
    Row("SY10 7AA", 329000, 329000, ENGLAND, SHROPSHIRE),
    Row("LD1 5AA", 305000, 261000, WALES, POWYS),
)

NAMES = {
    LEEDS: "Leeds District (B)",
    BRADFORD: "Bradford District (B)",
    CUMBERLAND: "Cumberland",
    "E09000001": "City and County of the City of London",
    "E09000003": "Barnet London Boro",
    GWYNEDD: "Gwynedd - Gwynedd",
    POWYS: "Powys - Powys",
    "W06000015": "Caerdydd - Cardiff",
}

METADATA = "PRODUCT: OS CODE-POINT_03.02\r\nDATASET VERSION NUMBER: 2031.4.0\r\nCOPYRIGHT DATE: 20310422\r\n"


def codelist_xlsx(names: dict[str, str]) -> bytes:
    """A minimal workbook shaped like OS's Codelist.xlsx: shared strings, one sheet of (name, code) rows."""
    strings = [text for code, name in names.items() for text in (name, code)]
    shared = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    rows = "".join(
        f'<row r="{n + 1}"><c r="A{n + 1}" t="s"><v>{2 * n}</v></c><c r="B{n + 1}" t="s"><v>{2 * n + 1}</v></c></row>'
        for n in range(len(names))
    )
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as workbook:
        workbook.writestr("xl/sharedStrings.xml", f"<sst {ns}>{shared}</sst>")
        workbook.writestr("xl/worksheets/sheet1.xml", f"<worksheet {ns}><sheetData>{rows}</sheetData></worksheet>")
    return buffer.getvalue()


def write_codepoint_zip(
    path: Path, rows: Iterable[Row], *, names: dict[str, str] | None = None, metadata: str | None = METADATA
) -> Path:
    """A Code-Point Open zip: one headerless CSV per postcode area, as OS ships it."""
    by_area: dict[str, list[Row]] = {}
    for row in rows:
        area = "".join(ch for ch in row.postcode.split()[0] if ch.isalpha()).lower()
        by_area.setdefault(area, []).append(row)
    with zipfile.ZipFile(path, "w") as archive:
        for area, area_rows in by_area.items():
            archive.writestr(f"Data/CSV/{area}.csv", "".join(row.csv() for row in area_rows))
        if metadata is not None:
            archive.writestr("Doc/metadata.txt", metadata)
        if names is not None:
            archive.writestr("Doc/Codelist.xlsx", codelist_xlsx(names))
    return path


def metres_between(latitude: float, longitude: float, other_latitude: float, other_longitude: float) -> float:
    """Great-circle distance (haversine on a 6,371 km sphere): ample for 'within 100 m'."""
    phi1, phi2 = math.radians(latitude), math.radians(other_latitude)
    dphi, dlambda = phi2 - phi1, math.radians(other_longitude - longitude)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def dms(degrees: int, minutes: int, seconds: float, hemisphere: str) -> float:
    value = degrees + minutes / 60 + seconds / 3600
    return -value if hemisphere in "SW" else value
