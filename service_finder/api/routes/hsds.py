"""Open Referral HSDS 3.0 / Open Referral UK read API, served from the live snapshot (never from SQL), so it agrees
with search and keeps answering while the store is down."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from service_finder.api.deps import (
    EngineDep,
    GazetteerDep,
    NoUnknownQuery,
    SnapshotDep,
    gone,
    one_each,
    public_base,
    removal_named,
    removal_of,
    removed_words,
    site_removal_named,
)
from service_finder.api.docs import problem_example, problem_responses
from service_finder.api.routes.search import resolve_postcode
from service_finder.api.routes.staleness import IndexRoute, NoteStaleness, with_stale_header
from service_finder.errors import Gone, InvalidParameter, NotFound, quoted
from service_finder.importers.hsds import service_at_location_uuid, service_uuid
from service_finder.interop import examples
from service_finder.interop.hsds_api import (
    HSDS_VERSION,
    ORUK_PROFILE,
    HsdsApiInfo,
    HsdsFullServiceAtLocation,
    HsdsOrganization,
    HsdsOrganizationPage,
    HsdsPaging,
    HsdsService,
    HsdsServiceAtLocationFilters,
    HsdsServiceAtLocationPage,
    HsdsServiceFilters,
    HsdsServicePage,
    HsdsTaxonomy,
    HsdsTaxonomyPage,
    HsdsTaxonomyTerm,
    HsdsTaxonomyTermPage,
    Point,
    TaxonomyTermFilters,
    full_organization,
    hsds_view,
    matching_locations,
    matching_services,
    organization_briefs,
    page_fields,
    service_at_location_item,
    service_at_location_of,
    service_list_item,
    taxonomies,
    taxonomy,
    taxonomy_term,
    taxonomy_terms,
    window,
)


def _responses(example: dict[str, Any], *errors: int, instance: str) -> dict[int | str, Any]:
    # The example is what the route answers for the documented service record (see interop/examples.py). A 503 here
    # is only ever a postcode filter on a server with no gazetteer (the directory is read from the index).
    success: dict[int | str, Any] = {200: {"content": {"application/json": {"example": example}}}}
    unavailable = problem_example(
        503,
        slug="gazetteer-unavailable",
        detail="the postcode gazetteer is not loaded on this server; leave out postcode",
        instance=instance,
    )
    responses = {**success, **problem_responses(*errors, instance=instance, examples={503: unavailable})}
    # A 404 from a stale index may be a service added since: it carries the marker too.
    return with_stale_header(responses, *((200, 404) if 404 in errors else (200,)))


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# Every answer carries X-Index-Stale (api/routes/staleness.py): the HSDS 3.0 page and entity schemas have no member
# for it, and an envelope member of our own would be one no HSDS client knows to read, so the header alone says it.
# Any web page may read it, as Open Referral UK requires: CORS is SecurityHeadersMiddleware's (api/middleware.py).
router = APIRouter(prefix="/hsds", tags=["hsds"], dependencies=[NoteStaleness], route_class=IndexRoute)
# Every route leaves out None (response_model_exclude_none): HSDS types never allow null; absent means unknown.

IdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=80,
        description="The HSDS id (a UUID) or our own identifier.",
        examples=["samaritans"],
    ),
]
# A service at a location has no identifier of ours (it is a service and one of its locations), so only the HSDS id
# the list gives reads it.
ServiceAtLocationIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=80,
        description="The HSDS id (a UUID) of the service at a location, as /hsds/service_at_locations gives it.",
        examples=[examples.hsds_service_at_location_example()["id"]],
    ),
]
TaxonomyTermIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=120,
        description="The HSDS id (a UUID) or the `term_uri` of the taxonomy term (`service-finder:<taxonomy>:<code>`).",
        examples=["service-finder:kind:crisis_line"],
    ),
]
TaxonomyIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=80,
        description="The HSDS id (a UUID) or the name of the taxonomy (`service-finder:<key>`).",
        examples=["service-finder:kind"],
    ),
]


@router.get(
    "/",
    operation_id="hsds-info",
    dependencies=[NoUnknownQuery],
    responses=with_stale_header(problem_responses(400, instance="/hsds/"), 200),
    summary="What this HSDS API is: version, profile, OpenAPI document",
)
# The API's base URL as people write it, without the slash: the same answer, not a redirect (there are none).
@router.get("", dependencies=[NoUnknownQuery], include_in_schema=False)
def hsds_info(request: Request) -> HsdsApiInfo:
    return HsdsApiInfo(
        version=HSDS_VERSION,
        profile=ORUK_PROFILE,
        openapi_url=public_base(request) + (request.app.openapi_url or "/openapi.json"),
    )


@router.get(
    "/services",
    operation_id="hsds-services-list",
    dependencies=[one_each(HsdsServiceFilters)],
    responses=_responses(examples.hsds_service_page_example(), 400, 422, instance="/hsds/services"),
    summary="List services (HSDS one-to-one fields), a page at a time",
    response_model_exclude_none=True,
)
def hsds_services(snapshot: SnapshotDep, filters: Annotated[HsdsServiceFilters, Query()]) -> HsdsServicePage:
    view = hsds_view(snapshot.index)
    found = matching_services(view, filters)
    contents = [service_list_item(view.document(i)) for i in found[window(filters)].tolist()]
    return HsdsServicePage(
        **page_fields(len(found), page=filters.page, per_page=filters.per_page, size=len(contents)), contents=contents
    )


@router.get(
    "/services/{service_id}",
    operation_id="hsds-services-get",
    dependencies=[NoUnknownQuery],
    responses=_responses(examples.hsds_service_example(), 400, 404, 410, 422, instance="/hsds/services/{service_id}"),
    summary="One service, fully nested (HSDS id or our identifier)",
    response_model_exclude_none=True,
)
def hsds_service(snapshot: SnapshotDep, store: EngineDep, service_id: IdPath) -> HsdsService:
    view = hsds_view(snapshot.index)
    position = view.service(service_id)
    if position is None:
        # A removed service is 410, as /v1/services says: by our identifier, or by the HSDS UUID made from it.
        if (removed := removal_of(store, service_id)) is not None:
            raise gone(service_id, removed)
        if _UUID.fullmatch(service_id) and (named := removal_named(store, service_id, service_uuid)) is not None:
            raise gone(service_id, named[1])
        raise NotFound(f"service {quoted(service_id)} is not in the directory", field="service_id", value=service_id)
    return HsdsService.model_validate(view.document(position))


def _point(postcode: str | None, gazetteer: GazetteerDep) -> Point | None:
    if postcode is None:
        return None
    found = resolve_postcode(postcode, gazetteer, instead="leave out postcode")
    return Point(
        latitude=found.latitude,
        longitude=found.longitude,
        district_code=found.district_code,
        district_codes=found.district_codes,
    )


@router.get(
    "/service_at_locations",
    operation_id="hsds-service-at-locations-list",
    dependencies=[one_each(HsdsServiceAtLocationFilters)],
    responses=_responses(
        examples.hsds_service_at_location_page_example(), 400, 422, 503, instance="/hsds/service_at_locations"
    ),
    summary="List services at locations, a page at a time; near a postcode with proximity (metres)",
    response_model_exclude_none=True,
)
def hsds_service_at_locations(
    snapshot: SnapshotDep, gazetteer: GazetteerDep, filters: Annotated[HsdsServiceAtLocationFilters, Query()]
) -> HsdsServiceAtLocationPage:
    if filters.proximity is not None and filters.postcode is None:
        raise InvalidParameter(
            f"proximity {filters.proximity} needs a postcode to measure from",
            field="proximity",
            value=filters.proximity,
        )
    view = hsds_view(snapshot.index)
    found = matching_locations(view, filters, _point(filters.postcode, gazetteer))
    contents = [service_at_location_item(view.document(i), j) for i, j in found[window(filters)].tolist()]
    return HsdsServiceAtLocationPage(
        **page_fields(len(found), page=filters.page, per_page=filters.per_page, size=len(contents)), contents=contents
    )


@router.get(
    "/service_at_locations/{service_at_location_id}",
    operation_id="hsds-service-at-locations-get",
    dependencies=[NoUnknownQuery],
    responses=_responses(
        examples.hsds_service_at_location_example(),
        400,
        404,
        410,
        422,
        instance="/hsds/service_at_locations/{service_at_location_id}",
    ),
    summary="One service at a location, fully nested with its service and location (HSDS id)",
    response_model_exclude_none=True,
)
def hsds_service_at_location(
    snapshot: SnapshotDep, store: EngineDep, service_at_location_id: ServiceAtLocationIdPath
) -> HsdsFullServiceAtLocation:
    view = hsds_view(snapshot.index)
    positions = view.service_at_location(service_at_location_id)
    if positions is None:
        # A removed service's places are 410, as the service is (/hsds/services/{id}): a client keeping a copy of
        # the service at a location must drop it too.
        if _UUID.fullmatch(service_at_location_id) and (
            removed := site_removal_named(store, service_at_location_id, service_at_location_uuid)
        ):
            raise Gone(
                removed_words(f"service_at_location {quoted(service_at_location_id)}", removed),
                field="service_at_location_id",
                value=service_at_location_id,
            )
        raise NotFound(
            f"service_at_location {quoted(service_at_location_id)} is not in the directory",
            field="service_at_location_id",
            value=service_at_location_id,
        )
    service, location = positions
    return service_at_location_of(view.document(service), location)


@router.get(
    "/organizations",
    operation_id="hsds-organizations-list",
    dependencies=[one_each(HsdsPaging)],
    responses=_responses(examples.hsds_organization_page_example(), 400, 422, instance="/hsds/organizations"),
    summary="List organizations (HSDS one-to-one fields), a page at a time",
    response_model_exclude_none=True,
)
def hsds_organizations(snapshot: SnapshotDep, paging: Annotated[HsdsPaging, Query()]) -> HsdsOrganizationPage:
    every = organization_briefs(hsds_view(snapshot.index))
    contents = every[window(paging)]
    return HsdsOrganizationPage(
        **page_fields(len(every), page=paging.page, per_page=paging.per_page, size=len(contents)), contents=contents
    )


@router.get(
    "/organizations/{organization_id}",
    operation_id="hsds-organizations-get",
    dependencies=[NoUnknownQuery],
    responses=_responses(
        examples.hsds_organization_example(), 400, 404, 422, instance="/hsds/organizations/{organization_id}"
    ),
    summary="One organization with its services and locations (HSDS id or our identifier)",
    response_model_exclude_none=True,
)
def hsds_organization(snapshot: SnapshotDep, organization_id: IdPath) -> HsdsOrganization:
    view = hsds_view(snapshot.index)
    positions = view.organization(organization_id)
    if positions is None:
        raise NotFound(
            f"organization {quoted(organization_id)} provides no service in the directory",
            field="organization_id",
            value=organization_id,
        )
    return full_organization(view, positions)


@router.get(
    "/taxonomies",
    operation_id="hsds-taxonomies-list",
    dependencies=[one_each(HsdsPaging)],
    responses=_responses(examples.hsds_taxonomy_page_example(), 400, 422, instance="/hsds/taxonomies"),
    summary="List the taxonomies our HSDS attributes use",
    response_model_exclude_none=True,
)
def hsds_taxonomies(paging: Annotated[HsdsPaging, Query()]) -> HsdsTaxonomyPage:
    every = taxonomies()
    contents = every[window(paging)]
    return HsdsTaxonomyPage(
        **page_fields(len(every), page=paging.page, per_page=paging.per_page, size=len(contents)), contents=contents
    )


@router.get(
    "/taxonomies/{taxonomy_id}",
    operation_id="hsds-taxonomies-get",
    dependencies=[NoUnknownQuery],
    responses=_responses(examples.hsds_taxonomy_example(), 400, 404, 422, instance="/hsds/taxonomies/{taxonomy_id}"),
    summary="One taxonomy our HSDS attributes use (HSDS id or name)",
    response_model_exclude_none=True,
)
def hsds_taxonomy(taxonomy_id: TaxonomyIdPath) -> HsdsTaxonomy:
    found = taxonomy(taxonomy_id)
    if found is None:
        raise NotFound(
            f"taxonomy {quoted(taxonomy_id)} is not one this directory publishes",
            field="taxonomy_id",
            value=taxonomy_id,
        )
    return found


@router.get(
    "/taxonomy_terms",
    operation_id="hsds-taxonomy-terms-list",
    dependencies=[one_each(TaxonomyTermFilters)],
    responses=_responses(examples.hsds_taxonomy_term_page_example(), 400, 422, instance="/hsds/taxonomy_terms"),
    summary="List the taxonomy terms our HSDS attributes use",
    response_model_exclude_none=True,
)
def hsds_taxonomy_terms(filters: Annotated[TaxonomyTermFilters, Query()]) -> HsdsTaxonomyTermPage:
    every = taxonomy_terms(filters.taxonomy_id)
    contents = every[window(filters)]
    return HsdsTaxonomyTermPage(
        **page_fields(len(every), page=filters.page, per_page=filters.per_page, size=len(contents)), contents=contents
    )


@router.get(
    "/taxonomy_terms/{taxonomy_term_id}",
    operation_id="hsds-taxonomy-terms-get",
    dependencies=[NoUnknownQuery],
    responses=_responses(
        examples.hsds_taxonomy_term_example(), 400, 404, 422, instance="/hsds/taxonomy_terms/{taxonomy_term_id}"
    ),
    summary="One taxonomy term our HSDS attributes use (HSDS id or term_uri)",
    response_model_exclude_none=True,
)
def hsds_taxonomy_term(taxonomy_term_id: TaxonomyTermIdPath) -> HsdsTaxonomyTerm:
    found = taxonomy_term(taxonomy_term_id)
    if found is None:
        raise NotFound(
            f"taxonomy term {quoted(taxonomy_term_id)} is not one this directory publishes",
            field="taxonomy_term_id",
            value=taxonomy_term_id,
        )
    return found
