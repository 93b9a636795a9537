from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from service_finder.api.deps import LONDON, AppState, GazetteerDep, NoUnknownQuery, SnapshotDep
from service_finder.api.docs import problem_example, problem_responses
from service_finder.api.query_model import read_query_model
from service_finder.domain.opening_hours import to_london
from service_finder.domain.postcode import PostcodeError
from service_finder.errors import GazetteerUnavailable, InvalidParameter
from service_finder.geocoding.gazetteer import (
    FAR_KM,
    Gazetteer,
    PostcodeNotFound,
    PostcodeOutsideEngland,
    PostcodePoint,
)
from service_finder.schemas import ENGLAND_BOUNDS, ResolvedLocation, SearchRequest, SearchResponse
from service_finder.search.engine import search, unnamed

router = APIRouter(prefix="/v1/search", tags=["search"])

EXAMPLE = {
    "postcode": "LS1 1UR",
    "age": 34,
    "needs": ["self_harm", "substance_use"],
    "intoxicated": True,
    "uses_substances": True,
    "referral": "self",
    "open": "within:120",
    "explain": True,
}


# What integrators most need to see: a postcode that is not in England names the field and the value.
ERRORS = problem_responses(
    400,
    422,
    429,
    503,
    instance="/v1/search",
    examples={
        400: problem_example(
            400,
            detail="unknown query parameter 'postcod'",
            instance="/v1/search",
            field="postcod",
            value="LS1 1UR",
            errors=[{"field": "postcod", "message": "unknown parameter"}],
        ),
        422: problem_example(
            422,
            detail="postcode 'EH1 1YZ' is in Scotland, outside England",
            instance="/v1/search",
            field="postcode",
            value="EH1 1YZ",
        ),
        503: problem_example(
            503,
            slug="gazetteer-unavailable",
            detail="the postcode gazetteer is not loaded on this server; search by lat and lon",
            instance="/v1/search",
        ),
    },
)


def resolve_postcode(postcode: str, gazetteer: Gazetteer | None, *, instead: str) -> PostcodePoint:
    """A postcode in England, or the error every route gives for it (422 naming the postcode; 503 without a
    gazetteer, saying what to send `instead`)."""
    if gazetteer is None:
        raise GazetteerUnavailable(f"the postcode gazetteer is not loaded on this server; {instead}")
    try:
        return gazetteer.resolve(postcode)
    except (PostcodeError, PostcodeNotFound, PostcodeOutsideEngland) as error:
        raise InvalidParameter(str(error), field="postcode", value=postcode) from error


def resolve_location(request: SearchRequest, gazetteer: Gazetteer | None) -> ResolvedLocation | None:
    if request.postcode is not None:
        point = resolve_postcode(request.postcode, gazetteer, instead="search by lat and lon")
        return ResolvedLocation(
            latitude=point.latitude,
            longitude=point.longitude,
            source="postcode_district" if point.is_district else "postcode",
            postcode=point.postcode,
            district_code=point.district_code,
            district_name=point.district_name,
            district_codes=list(point.district_codes),
            country=point.country,
        )
    if request.lat is not None and request.lon is not None:
        south, north, west, east = ENGLAND_BOUNDS
        if not (south <= request.lat <= north and west <= request.lon <= east):
            raise InvalidParameter(
                f"coordinates ({request.lat}, {request.lon}) are outside England", field="lat", value=request.lat
            )
        # The nearest postcode tells which district the person is in (for catchments and local crisis lines); far
        # from every postcode, every district near enough that the boundary could lie between (Gazetteer.locate).
        near = gazetteer.locate(request.lat, request.lon) if gazetteer is not None else None
        if gazetteer is not None and near is None:
            raise InvalidParameter(
                f"coordinates ({request.lat}, {request.lon}) are more than {FAR_KM:g} km from any postcode in Great "
                "Britain: outside England (Northern Ireland, the Isle of Man) or at sea",
                field="lat",
                value=request.lat,
            )
        # In Wales or Scotland too (an app's location near the border is answered, not refused on a guess): the
        # district rules out English areas' local services, as a postcode there would; England-wide catchments
        # are "check" (engine._outside_england).
        return ResolvedLocation(
            latitude=request.lat,
            longitude=request.lon,
            source="coordinates",
            district_code=near.district_code if near else None,
            district_name=near.district_name if near else None,
            district_codes=list(near.district_codes) if near else [],
            country=near.country if near else None,
        )
    return None


def _search(request: SearchRequest, snapshot: SnapshotDep, gazetteer: GazetteerDep) -> SearchResponse:
    location = resolve_location(request, gazetteer)
    now = datetime.now(LONDON)
    return search(
        snapshot.index,
        request,
        location=location,
        at=to_london(request.at) if request.at is not None else now,
        today=now.date(),
        district_name=gazetteer.district_name if gazetteer else unnamed,
        stale_index=snapshot.stale,
    )


async def search_get(
    request: Annotated[SearchRequest, Query()], snapshot: SnapshotDep, gazetteer: GazetteerDep
) -> SearchResponse:
    """The GET operation's contract, from which FastAPI writes its OpenAPI: SearchGetRoute answers the requests,
    with the same result (tests/api/test_query_model.py)."""
    return _search(request, snapshot, gazetteer)


_RESPONSE = TypeAdapter(SearchResponse)


class SearchGetRoute(APIRoute):
    """GET /v1/search answered without FastAPI's per-request dependency solving and query-model reading, which
    cost about a third of a search over HTTP. The contract is unchanged: the OpenAPI still comes from search_get's
    signature; the query is read as FastAPI reads it (api/query_model.py), and the response encoded by the same
    pydantic serializer FastAPI uses (tests/api/test_query_model.py checks GET bytes against POST's)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def handle(request: Request) -> Response:
            search_request = read_query_model(SearchRequest, request.query_params)
            state: AppState = request.app.state.service_finder
            found = _search(search_request, state.catalogue.snapshot, state.gazetteer)
            return Response(_RESPONSE.dump_json(found, by_alias=True), media_type="application/json")

        return handle


router.add_api_route(
    "",
    search_get,
    methods=["GET"],
    operation_id="search-get",
    summary="Find open, eligible, reachable crisis support (query string)",
    description="Lists repeat: `needs=self_harm&needs=alcohol`. Unknown parameters are rejected with 400.",
    responses=ERRORS,
    response_model=SearchResponse,
    route_class_override=SearchGetRoute,
)


@router.post(
    "",
    dependencies=[NoUnknownQuery],  # the body is the request: a query string beside it would be silently ignored
    operation_id="search-post",
    summary="Find open, eligible, reachable crisis support (JSON body, for systems)",
    responses={**ERRORS, **problem_responses(413, 415, instance="/v1/search")},
)
async def search_post(
    request: Annotated[SearchRequest, Body(openapi_examples={"drinking-and-self-harm": {"value": EXAMPLE}})],
    snapshot: SnapshotDep,
    gazetteer: GazetteerDep,
) -> SearchResponse:
    return _search(request, snapshot, gazetteer)
