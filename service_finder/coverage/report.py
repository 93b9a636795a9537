"""Coverage figures as data: a JSON report (the API's response model), CSV and GeoJSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from service_finder.coverage import render
from service_finder.coverage.analysis import DEMO_CAVEAT, CoverageResult
from service_finder.domain.taxonomy import Need, ServiceKind
from service_finder.schemas import PersonGender, Referral

HOUR_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ProfileEcho(BaseModel):
    """The person the coverage was computed for."""

    age: int | None = Field(description="Age in years; None: not given (age-limited services count as 'check').")
    gender: PersonGender | None = Field(description="Gender, for services for one gender.")
    intoxicated: bool = Field(description="Has been drinking or using drugs.")
    uses_substances: bool = Field(description="Uses drugs or alcohol.")
    needs: list[Need] = Field(description="A service counts only if it lists every one of these needs.")
    referral: Referral = Field(description="'self': walk-in or self-referral only; 'professional': any referral.")
    strict: bool = Field(description="Only services every criterion is known to pass; unknowns count as not covered.")


class InstantCoverage(BaseModel):
    """Coverage of England's postcodes at one instant."""

    at: datetime = Field(description="The instant, Europe/London.")
    open_services: int = Field(description="Services open, eligible and of the kinds asked for at this instant.")
    postcodes: int = Field(description="English postcodes considered.")
    covered: int = Field(description="Postcodes within reach of at least one of those services, in its catchment.")
    share: float = Field(description="covered / postcodes, from 0 to 1.")


class DistrictCoverage(BaseModel):
    """One local-authority district, over all the instants asked for."""

    code: str | None = Field(description="ONS local-authority district code; None for postcodes with no district.")
    name: str | None = Field(description="The district's name.")
    postcodes: int = Field(description="English postcodes in the district.")
    mean_share: float = Field(description="Mean over the instants of the share of its postcodes covered.")
    min_share: float = Field(description="Lowest share of any instant.")
    worst_at: datetime = Field(description="The first instant with the lowest share.")
    shares: list[float] = Field(description="Share covered at each instant, in the order of `instants`.")


class HourOfWeek(BaseModel):
    """Mean share covered at one hour of the week (London time), over the instants falling in it."""

    day: int = Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday.")
    hour: int = Field(ge=0, le=23, description="Hour of the day, 0 to 23.")
    share: float = Field(description="Mean share of postcodes covered at the instants in this hour.")


class CoverageReport(BaseModel):
    """Where and when a person can reach an open, eligible crisis service: England's postcodes as the population."""

    profile: ProfileEcho = Field(description="The person, as understood.")
    kinds: list[ServiceKind] = Field(description="The kinds of service counted.")
    reach: str = Field(description="The reach threshold in words (straight-line distance, or an estimate).")
    reach_km: float = Field(description="The reach threshold as straight-line kilometres.")
    include_remote: bool = Field(description="Phone, text and online services counted as reaching their catchment.")
    postcodes: int = Field(description="English postcodes (Code-Point Open), each counted once.")
    mean_share: float = Field(description="Mean over the instants of the share of postcodes covered.")
    instants: list[InstantCoverage] = Field(description="Coverage at each instant, in time order.")
    hour_of_week: list[HourOfWeek] = Field(description="Mean share per hour of the week that has any instant.")
    districts: list[DistrictCoverage] = Field(description="Per district, lowest mean share first.")
    demo: bool = Field(description="Demonstration data was counted: fictional services, not real provision.")
    caveats: list[str] = Field(description="What the figures do and do not mean; show them with the figures.")
    attribution: str = Field(description="The Ordnance Survey notice required wherever the figures are shown.")
    stale_index: bool = Field(
        default=False,
        description="True when the figures came from the server's last index while it could not read its store (or "
        "build the store's newest version): they may be out of date (a caveat says so too).",
    )


STALE_INDEX_CAVEAT = (
    "Computed from the server's last copy of the directory, which it could not bring up to date from its store: "
    "the figures may be out of date."
)


def caveats(result: CoverageResult, *, stale_index: bool = False) -> list[str]:
    found = [
        "Distances are straight lines from the postcode's centre; real journeys are longer.",
        "Each postcode counts once: Code-Point Open has no population counts.",
        "Eligibility the directory does not record counts as possible unless strict is set.",
    ]
    if stale_index:
        found.insert(0, STALE_INDEX_CAVEAT)
    if result.demo:
        found.insert(0, DEMO_CAVEAT)
    return found


def _district_rows(result: CoverageResult) -> list[tuple[int, str | None, str | None, int, Any]]:
    population = result.population
    rows = []
    for column in np.flatnonzero(result.district_total):
        total = int(result.district_total[column])
        shares = result.district_covered[:, column] / total
        code = population.district_codes[column - 1] if column > 0 else None
        name = population.district_names[column - 1] if column > 0 else None
        rows.append((int(column), code, name, total, shares))
    return rows


def to_report(result: CoverageResult, *, stale_index: bool = False) -> CoverageReport:
    profile = result.query.profile
    share = result.share()
    districts = [
        DistrictCoverage(
            code=code,
            name=name,
            postcodes=total,
            mean_share=round(float(shares.mean()), 4),
            min_share=round(float(shares.min()), 4),
            worst_at=result.instants[int(np.argmin(shares))],
            shares=[round(float(s), 4) for s in shares],
        )
        for _, code, name, total, shares in _district_rows(result)
    ]
    districts.sort(key=lambda d: (d.mean_share, d.code or ""))
    grid, sampled = render.heatmap_grid(result)
    return CoverageReport(
        profile=ProfileEcho(
            age=profile.age,
            gender=profile.gender,
            intoxicated=profile.intoxicated,
            uses_substances=profile.uses_substances,
            needs=list(profile.needs),
            referral=profile.referral,
            strict=profile.strict,
        ),
        kinds=list(result.query.kinds),
        reach=result.query.reach.label,
        reach_km=round(result.query.reach.km, 3),
        include_remote=result.query.include_remote,
        postcodes=result.total,
        mean_share=round(float(share.mean()), 4),
        instants=[
            InstantCoverage(
                at=at, open_services=int(n), postcodes=result.total, covered=int(c), share=round(float(s), 4)
            )
            for at, n, c, s in zip(result.instants, result.open_services, result.covered, share, strict=True)
        ],
        hour_of_week=[
            HourOfWeek(day=int(d), hour=int(h), share=round(float(grid[d, h]), 4)) for d, h in np.argwhere(sampled)
        ],
        districts=districts,
        demo=result.demo,
        caveats=caveats(result, stale_index=stale_index),
        attribution=result.population.attribution,
        stale_index=stale_index,
    )


def to_csv(result: CoverageResult) -> str:
    """Long format, one row per district and instant, plus 'ENGLAND' rows for the whole country."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["district_code", "district_name", "at", "postcodes", "covered", "share"])
    for at, covered in zip(result.instants, result.covered.tolist(), strict=True):
        writer.writerow(["ENGLAND", "England", at.isoformat(), result.total, covered, f"{covered / result.total:.4f}"])
    for column, code, name, total, shares in _district_rows(result):
        for i, at in enumerate(result.instants):
            covered = int(result.district_covered[i, column])
            writer.writerow([code or "", name or "", at.isoformat(), total, covered, f"{shares[i]:.4f}"])
    return out.getvalue()


def to_geojson(result: CoverageResult, *, stale_index: bool = False) -> dict[str, Any]:
    """Districts as points at the mean position of their postcodes (the gazetteer holds no boundaries);
    `stale_index` is a foreign member (RFC 7946 6.1), as on /v1/services.geojson."""
    population = result.population
    column = population.district.astype(np.int64) + 1
    size = result.district_total.size
    lat = np.bincount(column, weights=population.latitude, minlength=size)
    lon = np.bincount(column, weights=population.longitude, minlength=size)
    features = []
    for index, code, name, total, shares in _district_rows(result):
        if code is None:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(float(lon[index] / total), 5), round(float(lat[index] / total), 5)],
                },
                "properties": {
                    "district_code": code,
                    "district_name": name,
                    "postcodes": total,
                    "mean_share": round(float(shares.mean()), 4),
                    "min_share": round(float(shares.min()), 4),
                    "worst_at": result.instants[int(np.argmin(shares))].isoformat(),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"attribution": population.attribution, "caveats": caveats(result, stale_index=stale_index)},
        "stale_index": stale_index,
    }


def geojson_text(result: CoverageResult, *, stale_index: bool = False) -> str:
    return json.dumps(to_geojson(result, stale_index=stale_index), ensure_ascii=False, indent=1)


class OutputFormat(StrEnum):
    json = "json"
    csv = "csv"
    geojson = "geojson"
    png = "png"
    svg = "svg"


MEDIA_TYPES = {
    OutputFormat.json: "application/json",
    OutputFormat.csv: "text/csv; charset=utf-8",
    OutputFormat.geojson: "application/geo+json",
    OutputFormat.png: "image/png",
    OutputFormat.svg: "image/svg+xml",
}


def files(result: CoverageResult, fmt: OutputFormat, *, stale_index: bool = False) -> dict[str, bytes]:
    """The files one format makes, by name: figures come as a map and an hour-of-week heat map. CSV and the
    figures have no place to say `stale_index`: the API says it in the X-Index-Stale header."""
    if fmt is OutputFormat.json:
        return {"coverage.json": to_report(result, stale_index=stale_index).model_dump_json(indent=1).encode()}
    if fmt is OutputFormat.csv:
        return {"coverage.csv": to_csv(result).encode()}
    if fmt is OutputFormat.geojson:
        return {"coverage.geojson": geojson_text(result, stale_index=stale_index).encode()}
    if fmt is OutputFormat.png:
        return {"coverage-map.png": render.map_png(result), "coverage-heatmap.png": render.heatmap_png(result)}
    return {"coverage-map.svg": render.map_svg(result), "coverage-heatmap.svg": render.heatmap_svg(result)}
