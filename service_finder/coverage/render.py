"""Figures people look at: a map of England shaded by coverage and an hour-of-week heat map, as PNG or SVG.

No plotting library: PNG is written with zlib and struct (RGB, one IDAT), text with a 5 x 7 bitmap font; SVG is
plain XML. Every figure carries the Ordnance Survey attribution the Open Government Licence requires and, when any
service counted is demonstration data, says so.
"""

from __future__ import annotations

import struct
import textwrap
import zlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

from service_finder.coverage.analysis import DEMO_CAVEAT, CoverageResult
from service_finder.coverage.font import ADVANCE, GLYPH_HEIGHT, text_mask
from service_finder.domain.taxonomy import KINDS
from service_finder.schemas import ENGLAND_BOUNDS

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]

# Red (nobody can reach an open service) through amber to blue (everyone can): reads in greyscale too.
RAMP = np.array(
    [(165, 0, 38), (244, 109, 67), (254, 224, 144), (116, 173, 209), (49, 54, 149)],
    dtype=np.float64,
)
BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
NO_DATA = (225, 225, 225)
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SOUTH, NORTH, WEST, EAST = ENGLAND_BOUNDS
# One x-scale for the whole map (cosine of England's middle latitude): a plain, honest equirectangular view.
ASPECT = float(np.cos(np.radians((SOUTH + NORTH) / 2)))


def ramp(share: F64) -> U8:
    """Colours for shares in [0, 1]."""
    position = np.clip(share, 0.0, 1.0) * (len(RAMP) - 1)
    low = np.floor(position).astype(np.int64).clip(0, len(RAMP) - 2)
    weight = (position - low)[..., None]
    colours = RAMP[low] * (1 - weight) + RAMP[low + 1] * weight
    result: U8 = np.round(colours).astype(np.uint8)
    return result


def hex_colour(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


# --- captions -------------------------------------------------------------------------------------------------


def title(result: CoverageResult) -> str:
    kinds = ", ".join(KINDS[k].label.split(",")[0].lower() for k in result.query.kinds)
    return f"Who can reach an open {kinds}: {result.query.reach.label}"


def subtitle(result: CoverageResult) -> str:
    instants = result.instants
    when = (
        instants[0].strftime("%a %d %b %Y %H:%M")
        if len(instants) == 1
        else f"{len(instants)} instants, {instants[0]:%a %d %b %H:%M} to {instants[-1]:%a %d %b %H:%M}"
    )
    overall = float(result.covered.sum()) / max(result.total * len(instants), 1)
    return f"{when} (London). Person: {result.query.profile.describe()}. Postcodes covered: {overall:.1%}"


def notes(result: CoverageResult) -> list[str]:
    lines = [
        "Straight-line distance from each postcode (Code-Point Open) to the service; each postcode counts once.",
        result.population.attribution,
    ]
    if result.demo:
        lines.insert(0, DEMO_CAVEAT)
    return lines


# --- PNG ------------------------------------------------------------------------------------------------------


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.empty((height, width, 3), dtype=np.uint8)
        self.pixels[:] = BACKGROUND

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def rect(self, x: int, y: int, w: int, h: int, colour: Sequence[int]) -> None:
        self.pixels[max(y, 0) : y + h, max(x, 0) : x + w] = colour

    def text(self, x: int, y: int, text: str, colour: Sequence[int] = INK, scale: int = 1) -> None:
        ink = text_mask(text, scale)
        h = min(ink.shape[0], self.pixels.shape[0] - y)
        w = min(ink.shape[1], self.pixels.shape[1] - x)
        if h > 0 and w > 0:
            self.pixels[y : y + h, x : x + w][ink[:h, :w]] = colour

    def paragraph(self, x: int, y: int, text: str, colour: Sequence[int] = INK) -> int:
        """Wrapped to the canvas; returns the y below it."""
        for line in textwrap.wrap(text, max((self.width - 2 * x) // ADVANCE, 10)):
            self.text(x, y, line, colour)
            y += GLYPH_HEIGHT + 4
        return y

    def png(self, metadata: dict[str, str]) -> bytes:
        return encode_png(self.pixels, metadata)


def encode_png(pixels: U8, metadata: dict[str, str] | None = None) -> bytes:
    height, width, _ = pixels.shape
    raw = np.zeros((height, width * 3 + 1), dtype=np.uint8)  # filter byte 0 (none) then the row
    raw[:, 1:] = pixels.reshape(height, width * 3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    text = b"".join(
        chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
        for key, value in (metadata or {}).items()
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + text
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _project(lat: F64, lon: F64, width: int, height: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    x = ((lon - WEST) / (EAST - WEST) * width).astype(np.int64).clip(0, width - 1)
    y = ((NORTH - lat) / (NORTH - SOUTH) * height).astype(np.int64).clip(0, height - 1)
    return x, y


def map_height(width: int) -> int:
    return round(width * (NORTH - SOUTH) / ((EAST - WEST) * ASPECT))


def _cell_shares(result: CoverageResult, width: int, height: int) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Mean share of instants covered over the postcodes in each map cell, and which cells hold any postcode."""
    population = result.population
    x, y = _project(population.latitude, population.longitude, width, height)
    cell = y * width + x
    count = np.bincount(cell, minlength=width * height)
    total = np.bincount(cell, weights=result.postcode_share(), minlength=width * height)
    share = np.divide(total, count, out=np.zeros(width * height), where=count > 0)
    return share.reshape(height, width), (count > 0).reshape(height, width)


def _header(canvas: Canvas, result: CoverageResult, margin: int) -> int:
    y = canvas.paragraph(margin, margin, title(result))
    return canvas.paragraph(margin, y + 2, subtitle(result), (90, 90, 90)) + 6


def _footer(canvas: Canvas, result: CoverageResult, y: int, margin: int, legend: str) -> bytes:
    _legend_png(canvas, margin, y, legend)
    y += 28
    for line in notes(result):
        y = canvas.paragraph(margin, y, line, (60, 60, 60))
    canvas.pixels = canvas.pixels[: y + margin]
    return canvas.png({"Title": title(result), "Description": subtitle(result), "Copyright": notes(result)[-1]})


MAP_LEGEND = "share of the time a service is in reach. dots: services counted"
HEAT_LEGEND = "numbers: % of postcodes covered. grey: hour not computed"


def map_png(result: CoverageResult, width: int = 640) -> bytes:
    map_h = map_height(width)
    margin = 10
    canvas = Canvas(width, map_h + 400)  # cropped to what is drawn
    header = _header(canvas, result, margin)
    share, present = _cell_shares(result, width, map_h)
    colours = ramp(share)
    block = canvas.pixels[header : header + map_h]
    block[present] = colours[present]
    if result.services_shown:
        lat = np.array([p[0] for p in result.services_shown])
        lon = np.array([p[1] for p in result.services_shown])
        sx, sy = _project(lat, lon, width, map_h)
        for px, py in zip(sx.tolist(), sy.tolist(), strict=True):
            canvas.rect(px - 1, header + py - 1, 3, 3, INK)
    return _footer(canvas, result, header + map_h + 8, margin, MAP_LEGEND)


def _legend_png(canvas: Canvas, x: int, y: int, label: str) -> None:
    bar = ramp(np.linspace(0, 1, 200))
    canvas.pixels[y : y + 10, x : x + 200] = bar[None, :, :]
    canvas.text(x, y + 13, "0%")
    canvas.text(x + 200 - 4 * ADVANCE, y + 13, "100%")
    canvas.text(x + 210, y + 2, label)


def heatmap_grid(result: CoverageResult) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Mean share covered per (weekday, hour) of the instants, London time, and which cells were sampled."""
    total = np.zeros((7, 24))
    count = np.zeros((7, 24))
    for at, covered in zip(result.instants, result.covered.tolist(), strict=True):
        total[at.weekday(), at.hour] += covered / max(result.total, 1)
        count[at.weekday(), at.hour] += 1
    share = np.divide(total, count, out=np.zeros((7, 24)), where=count > 0)
    return share, count > 0


HEAT_CELL_W, HEAT_CELL_H, HEAT_LEFT, HEAT_TOP = 26, 22, 40, 64


def heatmap_png(result: CoverageResult) -> bytes:
    share, sampled = heatmap_grid(result)
    width = HEAT_LEFT + 24 * HEAT_CELL_W + 10
    canvas = Canvas(width, 7 * HEAT_CELL_H + 400)  # cropped to what is drawn
    top0 = _header(canvas, result, 10) + 12
    for hour in range(24):
        canvas.text(HEAT_LEFT + hour * HEAT_CELL_W + 7, top0 - 11, f"{hour:02d}")
    colours = ramp(share)
    for day in range(7):
        top = top0 + day * HEAT_CELL_H
        canvas.text(6, top + 7, DAY_LABELS[day])
        for hour in range(24):
            left = HEAT_LEFT + hour * HEAT_CELL_W
            fill = tuple(int(c) for c in colours[day, hour]) if sampled[day, hour] else NO_DATA
            canvas.rect(left, top, HEAT_CELL_W - 1, HEAT_CELL_H - 1, fill)
            if sampled[day, hour]:
                label = f"{share[day, hour] * 100:.0f}"
                ink = (255, 255, 255) if share[day, hour] < 0.15 or share[day, hour] > 0.7 else INK
                canvas.text(left + (HEAT_CELL_W - len(label) * ADVANCE) // 2 + 1, top + 7, label, ink)
    return _footer(canvas, result, top0 + 7 * HEAT_CELL_H + 10, 10, HEAT_LEGEND)


# --- SVG ------------------------------------------------------------------------------------------------------

SVG_FONT = 'font-family="sans-serif" font-size="11"'


def _svg(width: int, height: int, body: list[str], label: str) -> bytes:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label, {chr(34): "&quot;"})}">'
    )
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', head, *body, "</svg>", ""]).encode("utf-8")


def _svg_text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:g}" y="{y:g}" {SVG_FONT} {extra}>{escape(text)}</text>'


def _svg_header(result: CoverageResult, width: int) -> list[str]:
    lines = [_svg_text(10, 18, title(result), 'font-weight="bold"')]
    for i, line in enumerate(textwrap.wrap(subtitle(result), max((width - 20) // 6, 20))[:2]):
        lines.append(_svg_text(10, 34 + 14 * i, line, 'fill="#555"'))
    return lines


def _svg_notes(result: CoverageResult, x: int, y: int, width: int) -> tuple[list[str], int]:
    body = []
    for note in notes(result):
        cls = ' class="caveat" fill="#a50026"' if note == DEMO_CAVEAT else ' class="attribution" fill="#444"'
        for line in textwrap.wrap(note, max(width // 6, 20)):
            body.append(_svg_text(x, y, line, cls))
            y += 14
    return body, y


def _svg_legend(x: int, y: int, label: str) -> list[str]:
    stops = "".join(
        f'<stop offset="{i / (len(RAMP) - 1):g}" stop-color="{hex_colour(c)}"/>' for i, c in enumerate(RAMP)
    )
    return [
        f'<defs><linearGradient id="ramp">{stops}</linearGradient></defs>',
        f'<rect x="{x}" y="{y}" width="200" height="10" fill="url(#ramp)"/>',
        _svg_text(x, y + 22, "0%"),
        _svg_text(x + 200, y + 22, "100%", 'text-anchor="end"'),
        _svg_text(x + 210, y + 9, label),
    ]


def map_svg(result: CoverageResult, width: int = 640, cell: int = 4) -> bytes:
    map_h = map_height(width)
    header = 60
    columns, rows = width // cell, map_h // cell
    share, present = _cell_shares(result, columns, rows)
    body = [
        f'<rect width="100%" height="100%" fill="{hex_colour(BACKGROUND)}"/>',
        *_svg_header(result, width),
        f'<g id="coverage" transform="translate(0 {header})" shape-rendering="crispEdges">',
    ]
    colours = ramp(share)
    for r, c in zip(*np.nonzero(present), strict=True):
        body.append(
            f'<rect x="{c * cell}" y="{r * cell}" width="{cell}" height="{cell}" '
            f'fill="{hex_colour(colours[r, c])}" data-share="{share[r, c]:.3f}"/>'
        )
    body.append("</g>")
    if result.services_shown:
        body.append(f'<g id="services" transform="translate(0 {header})" fill="{hex_colour(INK)}">')
        lat = np.array([p[0] for p in result.services_shown])
        lon = np.array([p[1] for p in result.services_shown])
        sx, sy = _project(lat, lon, width, rows * cell)
        body.extend(f'<circle cx="{x}" cy="{y}" r="1.6"/>' for x, y in zip(sx.tolist(), sy.tolist(), strict=True))
        body.append("</g>")
    y = header + rows * cell + 10
    body.extend(_svg_legend(10, y, MAP_LEGEND))
    notes_body, bottom = _svg_notes(result, 10, y + 42, width - 20)
    body.extend(notes_body)
    return _svg(width, bottom + 6, body, title(result))


def heatmap_svg(result: CoverageResult) -> bytes:
    share, sampled = heatmap_grid(result)
    width = HEAT_LEFT + 24 * HEAT_CELL_W + 10
    body = [
        f'<rect width="100%" height="100%" fill="{hex_colour(BACKGROUND)}"/>',
        *_svg_header(result, width),
    ]
    body.extend(
        _svg_text(HEAT_LEFT + hour * HEAT_CELL_W + HEAT_CELL_W / 2, HEAT_TOP - 4, f"{hour:02d}", 'text-anchor="middle"')
        for hour in range(24)
    )
    colours = ramp(share)
    body.append('<g id="hours">')
    for day in range(7):
        top = HEAT_TOP + day * HEAT_CELL_H
        body.append(_svg_text(6, top + 15, DAY_LABELS[day]))
        for hour in range(24):
            left = HEAT_LEFT + hour * HEAT_CELL_W
            if not sampled[day, hour]:
                body.append(
                    f'<rect x="{left}" y="{top}" width="{HEAT_CELL_W - 1}" height="{HEAT_CELL_H - 1}" '
                    f'fill="{hex_colour(NO_DATA)}" data-day="{day}" data-hour="{hour}"/>'
                )
                continue
            value = float(share[day, hour])
            body.append(
                f'<rect x="{left}" y="{top}" width="{HEAT_CELL_W - 1}" height="{HEAT_CELL_H - 1}" '
                f'fill="{hex_colour(colours[day, hour])}" data-day="{day}" data-hour="{hour}" '
                f'data-share="{value:.4f}"><title>{DAY_LABELS[day]} {hour:02d}:00 {value:.1%}</title></rect>'
            )
            ink = "#fff" if value < 0.15 or value > 0.7 else "#111"
            body.append(
                _svg_text(left + HEAT_CELL_W / 2, top + 15, f"{value * 100:.0f}", f'text-anchor="middle" fill="{ink}"')
            )
    body.append("</g>")
    y = HEAT_TOP + 7 * HEAT_CELL_H + 10
    body.extend(_svg_legend(10, y, HEAT_LEGEND))
    notes_body, bottom = _svg_notes(result, 10, y + 42, width - 20)
    body.extend(notes_body)
    return _svg(width, bottom + 6, body, title(result))
