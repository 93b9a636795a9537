"""The directory as GeoJSON for maps, from the live snapshot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service_finder.api.deps import NoUnknownQuery, SnapshotDep, TodayDep
from service_finder.api.docs import problem_example, problem_responses
from service_finder.api.routes.staleness import IndexRoute, NoteStaleness, with_stale_header
from service_finder.domain.taxonomy import ServiceKind
from service_finder.errors import InvalidParameter
from service_finder.interop.examples import geojson_example
from service_finder.interop.geojson import (
    BBOX_PATTERN,
    GEOJSON,
    ServiceFeatureCollection,
    index_feature_collection,
    parse_bbox,
)

router = APIRouter(tags=["geojson"], dependencies=[NoUnknownQuery, NoteStaleness], route_class=IndexRoute)


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


@router.get(
    "/v1/services.geojson",
    operation_id="services-geojson",
    responses=with_stale_header(
        {
            200: {"description": "The services as GeoJSON.", "content": {GEOJSON: {"example": geojson_example()}}},
            **problem_responses(
                400,
                422,
                instance="/v1/services.geojson",
                examples={
                    422: problem_example(
                        422,
                        detail="bbox '-1.6,53.7,-1.4' is not minLon,minLat,maxLon,maxLat: four decimal numbers, "
                        "longitudes -180 to 180 and latitudes -90 to 90",
                        instance="/v1/services.geojson",
                        field="bbox",
                        value="-1.6,53.7,-1.4",
                    )
                },
            ),
        },
        200,
    ),
    summary="Services as a GeoJSON FeatureCollection: one Point per location",
    response_class=GeoJSONResponse,
)
def services_geojson(
    snapshot: SnapshotDep,
    today: TodayDep,
    kind: Annotated[ServiceKind | None, Query(description="Only services of this kind.")] = None,
    bbox: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Only locations inside minLon,minLat,maxLon,maxLat (WGS84, RFC 7946 order). The latitudes "
            "may come in either order; a minLon east of maxLon is a box across the antimeridian (RFC 7946 5.2).",
            examples=["-1.6,53.7,-1.4,53.9"],
            # Checked by parse_bbox (same pattern) so the problem says what a bbox is, not the regular expression.
            json_schema_extra={"pattern": BBOX_PATTERN},
        ),
    ] = None,
) -> ServiceFeatureCollection:
    try:
        box = parse_bbox(bbox) if bbox is not None else None
    except ValueError as error:
        raise InvalidParameter(str(error), field="bbox", value=bbox) from error
    return index_feature_collection(snapshot.index, today=today, kind=kind, bbox=box, stale_index=snapshot.stale)
