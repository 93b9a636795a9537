"""The directory as GeoJSON for maps, from the live snapshot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service_finder.api.deps import SnapshotDep
from service_finder.api.docs import problem_responses
from service_finder.domain.taxonomy import ServiceKind
from service_finder.errors import InvalidParameter
from service_finder.interop.geojson import GEOJSON, ServiceFeatureCollection, feature_collection, parse_bbox

router = APIRouter(tags=["geojson"])


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


@router.get(
    "/v1/services.geojson",
    operation_id="services-geojson",
    responses=problem_responses(422, instance="/v1/services.geojson"),
    summary="Services as a GeoJSON FeatureCollection: one Point per location",
    response_class=GeoJSONResponse,
)
def services_geojson(
    snapshot: SnapshotDep,
    kind: Annotated[ServiceKind | None, Query(description="Only services of this kind.")] = None,
    bbox: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Only locations inside minLon,minLat,maxLon,maxLat (WGS84).",
            examples=["-1.6,53.7,-1.4,53.9"],
        ),
    ] = None,
) -> ServiceFeatureCollection:
    try:
        box = parse_bbox(bbox) if bbox is not None else None
    except ValueError as error:
        raise InvalidParameter(str(error), field="bbox", value=bbox) from error
    return feature_collection(snapshot.index.services, kind=kind, bbox=box)
