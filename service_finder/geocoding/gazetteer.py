"""The offline postcode gazetteer: an immutable snapshot of Code-Point Open, searched with numpy.

Keys are 7 bytes, the outward code padded to 4 then the inward code ('B1  1AY', 'SW1A2AA'), sorted, so one
binary search finds a postcode and every postcode district is one contiguous run.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from service_finder.domain.postcode import Postcode, PostcodeError, parse_postcode

SUPPORTED_FORMAT = 1
OUTWARD_WIDTH = 4
_COORDINATE_DECIMALS = 6  # the file holds float32 (about 0.5 m); print no false precision beyond 0.1 m


@dataclass(frozen=True, slots=True)
class PostcodePoint:
    postcode: str  # 'LS1 1UR', or the outcode 'LS1' for a district centroid
    latitude: float
    longitude: float
    district_code: str | None  # 'E08000035'
    district_name: str | None  # 'Leeds' (None if names unavailable)
    country: str  # 'england' | 'scotland' | 'wales'
    is_district: bool  # True for an outcode centroid
    # Every district the point may be in, most postcodes first: one for a postcode; for a postcode district, all
    # the districts its postcodes are in (BA3 is in Bath and North East Somerset and in Somerset).
    district_codes: tuple[str, ...] = ()


class PostcodeNotFound(LookupError):
    def __init__(self, postcode: str) -> None:
        what = "postcode district" if " " not in postcode else "postcode"
        super().__init__(f"{what} {postcode!r} is not a known {what}")
        self.postcode = postcode


class PostcodeOutsideEngland(LookupError):
    def __init__(self, postcode: str, country: str, place: str | None = None) -> None:
        self.place = place or country.title()  # as a sentence says it: 'Scotland', 'the Isle of Man'
        super().__init__(f"postcode {postcode!r} is in {self.place}, outside England")
        self.postcode = postcode
        self.country = country


# Postcodes of the UK and Crown Dependencies that Code-Point Open (Great Britain) does not hold: not "unknown", but
# somewhere this search does not cover, which a person should be told.
ELSEWHERE = {
    "BT": ("northern_ireland", "Northern Ireland"),
    "GY": ("guernsey", "Guernsey"),
    "JE": ("jersey", "Jersey"),
    "IM": ("isle_of_man", "the Isle of Man"),
}


class GazetteerFileError(RuntimeError):
    """The gazetteer file is missing, unreadable or from an incompatible build; the message names the path."""


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


_CELL = 0.01  # degrees
# A point further than this from every postcode is not on land in Great Britain: England's remotest moorland is a
# few kilometres from the nearest postcode; Belfast is some 60 km from Scotland's.
FAR_KM = 15.0
# Postcodes of another district this much further than the nearest one may still be on the person's side of the
# boundary (postcode centroids in towns are 50-200 m apart); NEAR_KM: the first, cheap, search around a point.
BOUNDARY_KM = 0.2
NEAR_KM = 1.1
SEARCH_SQUARES_KM = (NEAR_KM, 3.0, 8.0, FAR_KM)
_ROW = 100_000  # cell id = row * _ROW + column + _SHIFT
_SHIFT = 50_000


class Gazetteer:
    __slots__ = (
        "_country",
        "_country_names",
        "_district",
        "_district_codes",
        "_district_names",
        "_grid",
        "_keys",
        "_latitude",
        "_longitude",
        "_meta",
        "_names_by_code",
        "_outcode_country",
        "_outcode_district",
        "_outcode_districts",
        "_outcode_english",
        "_outcode_keys",
        "_outcode_latitude",
        "_outcode_longitude",
        "_outcode_start",
        "_outcode_stop",
    )

    def __init__(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        meta = json.loads(str(arrays["meta"][0]))
        if meta.get("format") != SUPPORTED_FORMAT:
            raise GazetteerFileError(f"gazetteer format {meta.get('format')!r} is not {SUPPORTED_FORMAT}")
        self._meta: dict[str, Any] = meta
        self._keys = _frozen(arrays["keys"])
        self._latitude = _frozen(arrays["latitude"])
        self._longitude = _frozen(arrays["longitude"])
        self._country = _frozen(arrays["country"])
        self._district = _frozen(arrays["district"])
        self._country_names: tuple[str, ...] = tuple(str(name) for name in arrays["country_names"])
        self._district_codes: tuple[str, ...] = tuple(str(code) for code in arrays["district_codes"])
        self._district_names: tuple[str | None, ...] = tuple(str(name) or None for name in arrays["district_names"])
        self._names_by_code = dict(zip(self._district_codes, self._district_names, strict=True))
        self._outcode_keys = _frozen(arrays["outcode_keys"])
        self._outcode_start = _frozen(arrays["outcode_start"])
        self._outcode_stop = _frozen(arrays["outcode_stop"])
        self._outcode_latitude = _frozen(arrays["outcode_latitude"])
        self._outcode_longitude = _frozen(arrays["outcode_longitude"])
        self._outcode_country = _frozen(arrays["outcode_country"])
        self._outcode_district = _frozen(arrays["outcode_district"])
        self._outcode_english = _frozen(arrays["outcode_english"])
        self._grid: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None
        self._outcode_districts: dict[int, tuple[str, ...]] = {}  # by outcode index, filled on first use

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        try:
            # Opened here, not by np.load: given a path, numpy leaves the file open when it cannot read it.
            with path.open("rb") as file, np.load(file, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except FileNotFoundError:
            raise GazetteerFileError(f"gazetteer {path} does not exist (run `make gazetteer`)") from None
        # EOFError: an empty file; BadZipFile: one cut short (a copy or a download that stopped).
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise GazetteerFileError(f"gazetteer {path} cannot be read: {error or type(error).__name__}") from None
        try:
            return cls(arrays)
        except KeyError as error:
            raise GazetteerFileError(f"gazetteer {path} has no {error.args[0]!r} array (rebuild it)") from None

    @property
    def version(self) -> str:
        return str(self._meta.get("version", "unknown"))

    @property
    def attribution(self) -> str:
        """The notice the Open Government Licence requires wherever the data is shown."""
        year = self._meta.get("copyright_year", "unknown")
        return (
            f"Contains OS data © Crown copyright and database right {year}. "
            f"Contains Royal Mail data © Royal Mail copyright and database right {year}. "
            f"Contains National Statistics data © Crown copyright and database right {year}."
        )

    def __len__(self) -> int:
        return int(self._keys.size)

    def __repr__(self) -> str:
        return f"Gazetteer(version={self.version!r}, postcodes={len(self)}, outcodes={self._outcode_keys.size})"

    def lookup(self, postcode: str) -> PostcodePoint | None:
        """A full postcode or a postcode district in any spelling; None if malformed or unknown."""
        try:
            parsed = parse_postcode(postcode)
        except PostcodeError:
            return None
        return self._point(parsed)

    def resolve(self, text: str) -> PostcodePoint:
        """Where a person's postcode is, for searching: raises PostcodeError, PostcodeNotFound or
        PostcodeOutsideEngland with a message a person can act on."""
        parsed = parse_postcode(text)
        point = self._point(parsed)
        if point is None:
            elsewhere = ELSEWHERE.get(parsed.outward[:2])
            if elsewhere is not None:
                raise PostcodeOutsideEngland(str(parsed), *elsewhere)
            raise PostcodeNotFound(str(parsed))
        if point.country != "england" and not self._partly_in_england(point):
            raise PostcodeOutsideEngland(str(parsed), point.country)
        if point.district_code is None and not point.is_district:
            # A new postcode not yet given a local authority (a few hundred): the districts of those around it.
            around = self.locate(point.latitude, point.longitude)
            if around is not None:
                point = replace(
                    point,
                    district_code=around.district_code,
                    district_name=around.district_name,
                    district_codes=around.district_codes,
                )
        return point

    def postcodes_in_outcode(self, outcode: str) -> list[str]:
        """Sorted full postcodes of one postcode district ('LS1'); empty if the district is unknown."""
        parsed = parse_postcode(outcode)
        if not parsed.is_district:
            raise PostcodeError(f"postcode {outcode!r} is a full postcode, not a postcode district")
        index = self._outcode_index(parsed.outward)
        if index < 0:
            return []
        keys = self._keys[self._outcode_start[index] : self._outcode_stop[index]]
        return [f"{parsed.outward} {key[OUTWARD_WIDTH:].decode('ascii')}" for key in keys.tolist()]

    def district_name(self, code: str) -> str | None:
        return self._names_by_code.get(code)

    def knows_district(self, code: str) -> bool:
        """Whether some postcode is in the local-authority district `code` ('E08000035'), named or not."""
        return code in self._names_by_code

    def nearest(self, latitude: float, longitude: float, *, within_km: float = 1.0) -> PostcodePoint | None:
        """The full postcode nearest a point (None if none within `within_km`): how a search by coordinates
        learns which local-authority district, and so which catchments and local crisis lines, it is in."""
        cells, order = self._grid_index()
        row, column = int(np.floor(latitude / _CELL)), int(np.floor(longitude / _CELL))
        found: list[npt.NDArray[np.int64]] = []
        # One cell is ~1.1 km north-south but only ~0.65 km east-west in England: look two cells east and west.
        for dr in (-1, 0, 1):
            first = (row + dr) * _ROW + column - 2 + _SHIFT
            lo, hi = np.searchsorted(cells, [first, first + 5])
            found.append(order[lo:hi])
        candidates = np.concatenate(found)
        if candidates.size == 0:
            return None
        distance = self._distances(latitude, longitude, candidates)
        best = int(np.argmin(distance))
        if distance[best] > within_km:
            return None
        return self._point_at(int(candidates[best]))

    def locate(self, latitude: float, longitude: float) -> PostcodePoint | None:
        """Where a point is, for a search by coordinates: the nearest postcode that has a district, and in
        `district_codes` every district with a postcode within BOUNDARY_KM further than it, or twice as far:
        the local-authority boundary may lie anywhere between postcodes of two districts, so a catchment covering
        only some of them is "check", never a guess (22 m apart, two points once got "eligible" and "left out").
        Far from every postcode (moorland, forest) the same, up to FAR_KM. None when no postcode is within FAR_KM:
        not on land in Great Britain (at sea, Northern Ireland, the Isle of Man)."""
        # Squares widening until one holds every postcode within reach of the nearest: a town answers from the
        # first, a park or moor from the second or third; only open sea or moorland scans the widest.
        for km in SEARCH_SQUARES_KM:
            candidates, distance = self._around(latitude, longitude, km)
            known = self._district[candidates] >= 0
            if known.any() and _reach(float(distance[known].min())) <= km:
                break
        if not known.any() or float(distance[known].min()) > FAR_KM:
            return None
        if _reach(float(distance[known].min())) > km:  # offshore, the nearest far out: as far again
            candidates, distance = self._around(latitude, longitude, _reach(float(distance[known].min())))
            known = self._district[candidates] >= 0
        candidates, distance = candidates[known], distance[known]
        best = int(np.argmin(distance))
        closest = float(distance[best])
        districts = self._district[candidates[distance <= _reach(closest)]]
        codes, counts = np.unique(districts, return_counts=True)
        nearest_district = int(self._district[candidates[best]])
        # The nearest postcode's district first, then the others by how many of their postcodes are near.
        ranked = sorted(
            zip(counts.tolist(), codes.tolist(), strict=True),
            key=lambda item: (item[1] != nearest_district, -item[0], item[1]),
        )
        point = self._point_at(int(candidates[best]))
        return replace(point, district_codes=tuple(self._district_codes[code] for _, code in ranked))

    def _around(
        self, latitude: float, longitude: float, km: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Postcodes in the grid cells within `km` of a point (a square: some further), and their distances."""
        cells, order = self._grid_index()
        row, column = int(np.floor(latitude / _CELL)), int(np.floor(longitude / _CELL))
        rows = math.ceil(km / (111.2 * _CELL))
        columns = math.ceil(km / (111.32 * _CELL * max(math.cos(math.radians(abs(latitude) + km / 111.2)), 0.01)))
        found = []
        for dr in range(-rows, rows + 1):
            first = (row + dr) * _ROW + column - columns + _SHIFT
            lo, hi = np.searchsorted(cells, [first, first + 2 * columns + 1])
            found.append(order[lo:hi])
        candidates = np.concatenate(found)
        return candidates, self._distances(latitude, longitude, candidates)

    def _distances(
        self, latitude: float, longitude: float, candidates: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        lat, lon = np.radians(self._latitude[candidates]), np.radians(self._longitude[candidates])
        phi, lam = np.radians(latitude), np.radians(longitude)
        a = np.sin((lat - phi) / 2) ** 2 + np.cos(phi) * np.cos(lat) * np.sin((lon - lam) / 2) ** 2
        distance: npt.NDArray[np.float64] = 2 * 6371.0088 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
        return distance

    def _point_at(self, index: int) -> PostcodePoint:
        key = bytes(self._keys[index]).decode("ascii")
        return self._make_point(
            f"{key[:OUTWARD_WIDTH].strip()} {key[OUTWARD_WIDTH:].strip()}",
            float(self._latitude[index]),
            float(self._longitude[index]),
            int(self._district[index]),
            int(self._country[index]),
            is_district=False,
        )

    def _grid_index(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        # Built on first use (about a third of a second), then kept: postcodes sorted by grid cell.
        if self._grid is None:
            cells = (
                np.floor(self._latitude / _CELL).astype(np.int64) * _ROW
                + np.floor(self._longitude / _CELL).astype(np.int64)
                + _SHIFT
            )
            order = np.argsort(cells, kind="stable")
            self._grid = (cells[order], order.astype(np.int64))
        return self._grid

    def _partly_in_england(self, point: PostcodePoint) -> bool:
        # A district astride the border (CH, SY, TD...) is refused only if none of it is in England:
        # turning away someone on the English side would be worse than a centroid just over the line.
        return point.is_district and int(self._outcode_english[self._outcode_index(point.postcode)]) > 0

    def _point(self, parsed: Postcode) -> PostcodePoint | None:
        if parsed.inward is None:
            return self._outcode_point(parsed.outward)
        key = f"{parsed.outward:<{OUTWARD_WIDTH}}{parsed.inward}".encode("ascii")
        index = int(np.searchsorted(self._keys, key))
        if index >= self._keys.size or self._keys[index] != key:
            return None
        return self._make_point(
            str(parsed),
            float(self._latitude[index]),
            float(self._longitude[index]),
            int(self._district[index]),
            int(self._country[index]),
            is_district=False,
        )

    def _outcode_index(self, outward: str) -> int:
        key = f"{outward:<{OUTWARD_WIDTH}}".encode("ascii")
        index = int(np.searchsorted(self._outcode_keys, key))
        if index >= self._outcode_keys.size or self._outcode_keys[index] != key:
            return -1
        return index

    def _outcode_point(self, outward: str) -> PostcodePoint | None:
        index = self._outcode_index(outward)
        if index < 0:
            return None
        point = self._make_point(
            outward,
            float(self._outcode_latitude[index]),
            float(self._outcode_longitude[index]),
            int(self._outcode_district[index]),
            int(self._outcode_country[index]),
            is_district=True,
        )
        return replace(point, district_codes=self._districts_of_outcode(index))

    def _districts_of_outcode(self, index: int) -> tuple[str, ...]:
        found = self._outcode_districts.get(index)
        if found is None:
            districts = self._district[self._outcode_start[index] : self._outcode_stop[index]]
            values, counts = np.unique(districts[districts >= 0], return_counts=True)
            order = np.lexsort((values, -counts))  # most postcodes first, then by code
            found = self._outcode_districts[index] = tuple(self._district_codes[int(v)] for v in values[order])
        return found

    def _make_point(
        self, postcode: str, latitude: float, longitude: float, district: int, country: int, *, is_district: bool
    ) -> PostcodePoint:
        return PostcodePoint(
            postcode=postcode,
            latitude=round(latitude, _COORDINATE_DECIMALS),
            longitude=round(longitude, _COORDINATE_DECIMALS),
            district_code=self._district_codes[district] if district >= 0 else None,
            district_name=self._district_names[district] if district >= 0 else None,
            country=self._country_names[country],
            is_district=is_district,
            district_codes=(self._district_codes[district],) if district >= 0 and not is_district else (),
        )


def _reach(closest: float) -> float:
    """How far from a point postcodes may lie on its side of a district boundary, when the nearest is `closest`."""
    return max(2 * closest, closest + BOUNDARY_KM)
