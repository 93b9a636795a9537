"""Examples for the OpenAPI document of the standard formats, made by the code that answers the requests.

Each is what the GeoJSON, HSDS or FHIR mapping makes of the documented ServiceRecord example (the Leeds crisis
café in `schemas.SERVICE_RECORD_EXAMPLE`), so an example can never drift from what a client will receive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from service_finder.importers.hsds import to_hsds_service
from service_finder.interop import fhir, geojson, hsds_api
from service_finder.schemas import SERVICE_RECORD_EXAMPLE, ServiceRecord

EXAMPLE_HOST = "https://service-finder.example.org"
MODIFIED = datetime(2026, 10, 1, 9, tzinfo=UTC)
# The day the examples are written for (hours that apply, closures to come): fixed, so the document is too.
TODAY = date(2026, 10, 1)


@cache
def _record() -> ServiceRecord:
    return ServiceRecord.model_validate(SERVICE_RECORD_EXAMPLE)


def geojson_example() -> dict[str, Any]:
    return geojson.feature_collection([_record()], today=TODAY).model_dump(mode="json")


# --- HSDS: routes leave out None (response_model_exclude_none), so the examples do too ----------------------------


@cache
def _hsds_document() -> dict[str, Any]:
    return to_hsds_service(_record(), last_modified=MODIFIED)


def _page(contents: list[Any], *, total: int, per_page: int) -> dict[str, Any]:
    return {**hsds_api.page_fields(total, page=1, per_page=per_page, size=len(contents)), "contents": contents}


def _dump(model: hsds_api.Hsds) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def hsds_service_example() -> dict[str, Any]:
    return _dump(hsds_api.HsdsService.model_validate(_hsds_document()))


def hsds_service_page_example() -> dict[str, Any]:
    return _page([_dump(hsds_api.service_list_item(_hsds_document()))], total=1, per_page=50)


def hsds_service_at_location_page_example() -> dict[str, Any]:
    return _page([_dump(hsds_api.service_at_location_item(_hsds_document(), 0))], total=1, per_page=50)


def hsds_service_at_location_example() -> dict[str, Any]:
    return _dump(hsds_api.service_at_location_of(_hsds_document(), 0))


def hsds_organization_example() -> dict[str, Any]:
    return _dump(hsds_api.organization_of([_hsds_document()]))


def hsds_organization_page_example() -> dict[str, Any]:
    brief = hsds_api.HsdsOrganizationBrief.model_validate(
        {
            key: value
            for key, value in _hsds_document()["organization"].items()
            if key in hsds_api.HsdsOrganizationBrief.model_fields
        }
    )
    return _page([_dump(brief)], total=1, per_page=50)


def hsds_taxonomy_example() -> dict[str, Any]:
    return _dump(hsds_api.taxonomies()[0])


def hsds_taxonomy_page_example() -> dict[str, Any]:
    every = hsds_api.taxonomies()
    return _page([_dump(item) for item in every[:2]], total=len(every), per_page=2)


def hsds_taxonomy_term_example() -> dict[str, Any]:
    return _dump(hsds_api.taxonomy_terms()[0])


def hsds_taxonomy_term_page_example() -> dict[str, Any]:
    every = hsds_api.taxonomy_terms()
    return _page([_dump(item) for item in every[:2]], total=len(every), per_page=2)


# --- FHIR -----------------------------------------------------------------------------------------------------------


def fhir_healthcare_service_example() -> dict[str, Any]:
    return fhir.healthcare_service(_record(), today=TODAY, last_modified=MODIFIED)


def fhir_location_example() -> dict[str, Any]:
    record = _record()
    return fhir.location([(record, record.locations[0])], today=TODAY, last_modified=MODIFIED)


def fhir_capability_statement_example() -> dict[str, Any]:
    return fhir.capability_statement(f"{EXAMPLE_HOST}/fhir/")


def _searchset(resource: dict[str, Any], query: str) -> dict[str, Any]:
    base = f"{EXAMPLE_HOST}/fhir/"
    links = {"self": f"{base}{resource['resourceType']}?{query}&_count=50&_offset=0"}
    return fhir.searchset([resource], total=1, base_url=base, links=links)


def fhir_healthcare_service_bundle_example() -> dict[str, Any]:
    return _searchset(fhir_healthcare_service_example(), "service-type=crisis_cafe")


def fhir_location_bundle_example() -> dict[str, Any]:
    return _searchset(fhir_location_example(), "near=53.80%7C-1.55%7C5%7Ckm")
