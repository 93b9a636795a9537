from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from service_finder.api.deps import LONDON, GazetteerDep, SnapshotDep, one_each
from service_finder.api.docs import problem_example, problem_responses
from service_finder.api.routes.staleness import IndexRoute, NoteStaleness, with_stale_header
from service_finder.coverage.analysis import (
    DEFAULT_KINDS,
    PRESETS,
    CoverageQuery,
    Population,
    Profile,
    Reach,
    TravelMode,
    WindowError,
    compute,
    distinct_instants,
    window_instants,
)
from service_finder.coverage.report import MEDIA_TYPES, CoverageReport, OutputFormat, files, to_report
from service_finder.domain.opening_hours import to_london
from service_finder.domain.taxonomy import Need, ServiceKind
from service_finder.errors import Busy, GazetteerUnavailable, InvalidParameter
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.schemas import IsoDate, IsoDateTime, PersonGender, Referral

router = APIRouter(prefix="/v1/coverage", tags=["coverage"], dependencies=[NoteStaleness], route_class=IndexRoute)

# One request must not take minutes: a day of hours at most (the CLI runs whole weeks).
MAX_INSTANTS = 24

# One computation at a time in each process. Each takes seconds of CPU in the thread pool; many at once (40 from
# one client, within its rate limit) starved every other request of the CPU, searches included (11 s each). Taken
# without waiting: a request that finds it taken is answered 503 at once rather than queued behind it.
_COMPUTING = threading.Lock()
BUSY_RETRY_SECONDS = int(Busy.headers["Retry-After"])


@contextmanager
def computing_slot() -> Iterator[None]:
    """Hold the process's one coverage slot while the body runs, or raise Busy at once. Released when the
    work ends, in the worker thread: a request the time limit has already answered 503 keeps the slot until its
    computation finishes (a thread cannot be stopped), and no longer."""
    if not _COMPUTING.acquire(blocking=False):
        raise Busy(
            "another coverage computation is running on this server (one at a time); try again in "
            f"{BUSY_RETRY_SECONDS} s. In an emergency call 999; for urgent mental-health help call NHS 111, option 2."
        )
    try:
        yield
    finally:
        _COMPUTING.release()


class CoverageRequest(BaseModel):
    """When, who, which services and how far: the query string of GET /v1/coverage."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)  # as SearchRequest's

    at: list[IsoDateTime] = Field(
        default_factory=list, max_length=MAX_INSTANTS, description="Instants (ISO 8601; London time if no offset)."
    )
    window: str | None = Field(
        default=None,
        max_length=200,
        description="Hours of the week, 'DAYS HH:MM[-HH:MM]' (DAYS: a day, a range such as fri-sun, daily, weekdays "
        "or weekend; a range of hours is sampled hourly): 'sat 02:00', 'fri-sat 22:00-04:00', 'weekdays "
        "18:00-22:00'. Join several with ';' (give `window` once). With `at`, at most "
        f"{MAX_INSTANTS} instants in all. The command line's presets (week, weekday-evenings, nights, weekend) are "
        "each more than that and are refused here; run them with `service-finder coverage --window`. Default "
        "(neither given): now.",
        examples=["sat 02:00"],
    )
    week_of: IsoDate | None = Field(
        default=None, description="A date in the week `window` refers to; only with `window`. Default: today."
    )
    age: int | None = Field(default=None, ge=0, le=120, description="The person's age in years.")
    gender: PersonGender | None = Field(default=None, description="Gender, for services for one gender.")
    intoxicated: bool = Field(default=False, description="Has been drinking or using drugs.")
    uses_substances: bool = Field(default=False, description="Uses drugs or alcohol.")
    needs: list[Need] = Field(default_factory=list, max_length=20, description="A service must list every one.")
    referral: Referral = Field(
        default=Referral.self, description="'self' (walk-in or self-referral) or 'professional'."
    )
    strict: bool = Field(default=False, description="Count only services every criterion is known to pass.")
    kinds: list[ServiceKind] = Field(
        default_factory=list,
        max_length=20,
        description=f"Kinds counted; default {', '.join(k.value for k in DEFAULT_KINDS)}.",
    )
    km: float | None = Field(
        default=None, ge=0.1, le=100, description="Reach, straight-line km, 0.1 to 100 (default 10)."
    )
    minutes: float | None = Field(
        default=None, ge=1, le=240, description="Reach as estimated travel minutes (1 to 240)."
    )
    mode: TravelMode = Field(default=TravelMode.transport, description="Travel mode for `minutes`.")
    include_remote: bool = Field(default=False, description="Phone, text and online services cover their catchment.")
    format: OutputFormat = Field(
        default=OutputFormat.json, description="json, csv, geojson, png (map) or svg (map); see `figure`."
    )
    figure: str = Field(
        default="map", pattern="^(map|heatmap)$", description="For png/svg: the 'map' or the hour-of-week 'heatmap'."
    )


EXAMPLE = {
    "profile": {
        "age": 30,
        "gender": "woman",
        "intoxicated": False,
        "uses_substances": False,
        "needs": [],
        "referral": "self",
        "strict": False,
    },
    "kinds": ["crisis_cafe"],
    "reach": "10 km straight line",
    "reach_km": 10.0,
    "include_remote": False,
    "postcodes": 1489121,
    "mean_share": 0.2032,
    "instants": [
        {
            "at": "2026-10-10T02:00:00+01:00",
            "open_services": 35,
            "postcodes": 1489121,
            "covered": 302662,
            "share": 0.2032,
        }
    ],
    "hour_of_week": [{"day": 5, "hour": 2, "share": 0.2032}],
    "districts": [
        {
            "code": "E06000001",
            "name": "Hartlepool",
            "postcodes": 2687,
            "mean_share": 0.0,
            "min_share": 0.0,
            "worst_at": "2026-10-10T02:00:00+01:00",
            "shares": [0.0],
        }
    ],
    "demo": True,
    "caveats": ["Includes demonstration data: fictional services, not real provision."],
    "attribution": "Contains OS data © Crown copyright and database right 2025. ...",
    "stale_index": False,
}


GEOJSON_OR_JSON = (OutputFormat.json, OutputFormat.geojson)
GEOJSON_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-1.2248, 54.6757]},
            "properties": {
                "district_code": "E06000001",
                "district_name": "Hartlepool",
                "postcodes": 2687,
                "mean_share": 0.0,
                "min_share": 0.0,
                "worst_at": "2026-10-10T02:00:00+01:00",
            },
        }
    ],
    "properties": {"attribution": EXAMPLE["attribution"], "caveats": EXAMPLE["caveats"]},
    "stale_index": False,
}


@lru_cache(maxsize=2)
def _population(gazetteer: Gazetteer) -> Population:
    # Built once per loaded gazetteer (about half a second); the grid per reach is memoised on it.
    return Population.from_gazetteer(gazetteer)


def _instants(request: CoverageRequest) -> list[datetime]:
    instants = [to_london(at) for at in request.at]
    # Either alone would be ignored and the figures given for now, a time nobody asked about.
    if request.window == "":
        raise InvalidParameter(
            "window is blank: give hours of the week (e.g. 'sat 02:00'), or leave window out for now",
            field="window",
            value=request.window,
        )
    if request.week_of is not None and request.window is None:
        raise InvalidParameter(
            f"week_of {request.week_of.isoformat()} picks the week of a window, but no window is given: add window "
            "(e.g. 'sat 02:00'), or give exact instants with at",
            field="week_of",
            value=request.week_of.isoformat(),
        )
    if request.window:
        _refuse_presets(request.window)
        try:
            instants += window_instants(request.window, request.week_of or datetime.now(LONDON).date())
        except WindowError as error:
            raise InvalidParameter(str(error), field="window", value=request.window) from error
    instants = distinct_instants(instants) or [datetime.now(LONDON).replace(second=0, microsecond=0)]
    if len(instants) > MAX_INSTANTS:
        raise InvalidParameter(
            f"{len(instants)} instants asked for; at most {MAX_INSTANTS} per request (use `service-finder coverage` "
            "for whole weeks)",
            field="window",
            value=request.window,
        )
    return instants


def _refuse_presets(window: str) -> None:
    # Every preset is 30 to 168 hours, and at the default reach one busy hour of the demonstration directory costs
    # up to 0.7 s on two cores: 48 of them would outrun the request time limit (10 s). The command line has no such
    # limit. Refused by name, not counted like any window too long: the preset is what the caller has to change.
    for part in (p.strip() for p in window.split(";")):
        if part.lower() in PRESETS:
            raise InvalidParameter(
                f"window {part!r} is a command-line preset, more than the {MAX_INSTANTS} instants a request may "
                f"name: run `service-finder coverage --window {part.lower()}`, or ask here for at most "
                f"{MAX_INSTANTS} hours (e.g. 'fri-sat 22:00-04:00')",
                field="window",
                value=window,
            )


def _reach(request: CoverageRequest) -> Reach:
    if request.km is not None and request.minutes is not None:
        raise InvalidParameter("give km or minutes, not both", field="minutes", value=request.minutes)
    try:
        if request.minutes is not None:
            return Reach.by_minutes(request.minutes, request.mode)
        return Reach.straight_line(request.km or 10.0)
    except ValueError as error:
        raise InvalidParameter(str(error), field="minutes", value=request.minutes) from error


def _errors() -> dict[int | str, Any]:
    responses = problem_responses(
        400,
        422,
        429,
        503,
        instance="/v1/coverage",
        examples={
            503: problem_example(
                503,
                slug="gazetteer-unavailable",
                detail="the postcode gazetteer is not loaded on this server; coverage needs it",
                instance="/v1/coverage",
            )
        },
    )
    # Two 503s of the route's own: no gazetteer, and the process's one coverage slot taken (computing_slot).
    unavailable = responses[503]
    content = unavailable["content"]["application/problem+json"]
    content["examples"] = {
        "gazetteer-unavailable": {"summary": "No postcode gazetteer", "value": content.pop("example")},
        "coverage-busy": {
            "summary": "Another coverage computation is running on this server",
            "value": problem_example(
                503,
                slug=Busy.slug,
                detail="another coverage computation is running on this server (one at a time); try again in "
                f"{BUSY_RETRY_SECONDS} s. In an emergency call 999; for urgent mental-health help call NHS 111, "
                "option 2.",
                instance="/v1/coverage",
            ),
        },
    }
    unavailable["description"] += (
        " Or another coverage computation is running on this server (one at a time): `busy`, with `Retry-After`."
    )
    return responses


@router.get(
    "",
    operation_id="coverage-get",
    dependencies=[one_each(CoverageRequest)],
    summary="Share of England's postcodes that can reach an open, eligible service",
    description="For each instant, the share of English postcodes (Code-Point Open, a population proxy) within reach "
    "of at least one open service the person could use, by district and hour of the week. `format` picks JSON, "
    f"CSV, GeoJSON (district points) or a PNG/SVG figure. At most {MAX_INSTANTS} instants per request; "
    "whole weeks and the window presets run with `service-finder coverage`.",
    response_model=CoverageReport,
    responses=with_stale_header(
        {
            200: {
                "description": "The coverage figures in the format asked for.",
                "content": {
                    "application/json": {"example": EXAMPLE},
                    "application/geo+json": {"example": GEOJSON_EXAMPLE},
                    **{media: {} for fmt, media in MEDIA_TYPES.items() if fmt not in GEOJSON_OR_JSON},
                },
            },
            **_errors(),
        },
        200,
    ),
)
def coverage_get(
    request: Annotated[CoverageRequest, Query()], snapshot: SnapshotDep, gazetteer: GazetteerDep
) -> CoverageReport | Response:
    # A plain `def`: the computation takes seconds and runs in the thread pool, not on the event loop, one at a time
    # (computing_slot).
    if gazetteer is None:
        raise GazetteerUnavailable("the postcode gazetteer is not loaded on this server; coverage needs it")
    query = CoverageQuery(
        profile=Profile(
            age=request.age,
            gender=request.gender,
            intoxicated=request.intoxicated,
            uses_substances=request.uses_substances,
            needs=tuple(request.needs),
            referral=request.referral,
            strict=request.strict,
        ),
        kinds=tuple(request.kinds) or DEFAULT_KINDS,
        reach=_reach(request),
        include_remote=request.include_remote,
    )
    instants = _instants(request)
    stale = snapshot.stale
    with computing_slot():
        result = compute(snapshot.index, _population(gazetteer), query, instants)
        if request.format is OutputFormat.json:
            return to_report(result, stale_index=stale)
        made = files(result, request.format, stale_index=stale)
    figure = request.format in (OutputFormat.png, OutputFormat.svg)
    name = f"coverage-{request.figure}.{request.format.value}" if figure else next(iter(made))
    return Response(
        made[name],
        media_type=MEDIA_TYPES[request.format],
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
