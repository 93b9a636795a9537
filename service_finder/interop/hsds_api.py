"""The Open Referral HSDS 3.0 (and Open Referral UK) read API: typed response shapes, filters and the list envelope.

The documents themselves come from `importers.hsds.to_hsds_service`, the one HSDS mapping; this module only
selects, filters and pages them. Models follow the published compiled schemas (schema/compiled/*.json at HSDS 3.0)
field for field; fields the directory never fills are left out rather than declared always-null.

Filters follow the ORUK profile's words literally: `minimum_age=N` keeps services whose minimum age is at least N,
`maximum_age=N` those whose maximum age is N or below; `day`/`start_time`/`end_time` keep services with a weekly
session on that day that opens at or after `start_time` and closes at or before `end_time`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service_finder.domain.opening_hours import to_utc
from service_finder.domain.schedule import MINUTES_PER_DAY, parse_hhmm
from service_finder.domain.taxonomy import (
    LINE_KINDS,
    AccessFeature,
    CatchmentType,
    ContactMode,
    Gender,
    Need,
    ReferralRoute,
    ServiceKind,
)
from service_finder.importers.hsds import (
    hsds_service_attributes,
    hsds_taxonomies,
    hsds_taxonomy_terms,
    to_hsds_service,
)
from service_finder.interop.selection import (
    Uuids,
    modified_micros,
    organisation_services,
    pairs_of,
    placed_units,
    records_at,
    remembered,
    unit_coordinates,
)
from service_finder.schemas import NOT_BLANK_PATTERN, IsoDateTime, ServiceRecord
from service_finder.search.engine import point_in_geojson
from service_finder.search.index import CATCHMENT_CODES, I32, KIND_CODES, B, DirectoryIndex, bit_mask, haversine_km
from service_finder.search.packed import instant_micros

HSDS_VERSION = "3.0"
ORUK_PROFILE = "https://github.com/OpenReferralUK/uk-profile"

# --- response models, from the HSDS 3.0 compiled schemas ------------------------------------------------------


class Hsds(BaseModel):
    """Base of the HSDS shapes: no field beyond the specification's."""

    model_config = ConfigDict(extra="forbid")


class HsdsTaxonomy(Hsds):
    """An HSDS 3.0 taxonomy: a vocabulary whose terms our attributes link."""

    id: str = Field(description="Identifier of the taxonomy (UUID).")
    name: str = Field(description="Name of the taxonomy; ours are named `service-finder:<key>`.")
    description: str = Field(description="What the taxonomy is for.")
    uri: str | None = Field(default=None, description="URI of the taxonomy's published definition.")
    version: str | None = Field(default=None, description="Version of the taxonomy.")


class HsdsTaxonomyTerm(Hsds):
    """An HSDS 3.0 taxonomy term."""

    id: str = Field(description="Identifier of the term (UUID derived from its term_uri).")
    code: str | None = Field(default=None, description="Code of the term in its taxonomy (MHSDS team type for kinds).")
    name: str = Field(description="Name of the term.")
    description: str = Field(description="What the term means.")
    taxonomy: str | None = Field(default=None, description="Name of the taxonomy the term belongs to.")
    taxonomy_detail: HsdsTaxonomy | None = Field(default=None, description="The taxonomy the term belongs to.")
    taxonomy_id: str | None = Field(default=None, description="Identifier of the taxonomy the term belongs to.")
    term_uri: str | None = Field(default=None, description="Readable name of the term: `service-finder:<tax>:<v>`.")


class HsdsAttribute(Hsds):
    """An HSDS 3.0 attribute: links a taxonomy term (and maybe a value) to an object."""

    id: str = Field(description="Identifier of the attribute (UUID).")
    link_id: str = Field(description="Identifier of the object the term is linked to.")
    taxonomy_term_id: str = Field(description="Identifier of the linked taxonomy term.")
    link_type: str | None = Field(default=None, description="Why the term is linked (our taxonomy key).")
    link_entity: str = Field(description="Table of the linked object: service, location, schedule...")
    value: str | None = Field(default=None, description="A value for terms that need one (true/false, a number).")
    taxonomy_term: HsdsTaxonomyTerm = Field(description="The linked taxonomy term, in full.")


class HsdsMetadata(Hsds):
    """An HSDS 3.0 metadata row: an action taken on a record."""

    id: str = Field(description="Identifier of the metadata record (UUID).")
    resource_id: str = Field(description="Identifier of the changed resource.")
    resource_type: str = Field(description="Type of the changed resource.")
    last_action_date: str = Field(description="Date of the action (ISO 8601).")
    last_action_type: str = Field(description="What was done, e.g. 'verified'.")
    field_name: str = Field(description="Field the action applies to.")
    previous_value: str = Field(description="Value before the action.")
    replacement_value: str = Field(description="Value after the action.")
    updated_by: str = Field(description="Who acted.")


class HsdsPhone(Hsds):
    """An HSDS 3.0 phone."""

    id: str = Field(description="Identifier of the phone (UUID).")
    service_id: str | None = Field(default=None, description="Service the phone belongs to.")
    number: str = Field(description="The number, as people read it where that reads back unchanged.")
    extension: int | None = Field(default=None, description="The extension to ask for or dial, if any.")
    type: str | None = Field(default=None, description="voice, text, textphone or whatsapp.")
    description: str | None = Field(default=None, description="When or what to use this number for.")
    attributes: list[HsdsAttribute] | None = Field(default=None, description="Taxonomy terms linked to the phone.")


class HsdsSchedule(Hsds):
    """An HSDS 3.0 schedule row (see the importer's notes on how our schedules map to rows)."""

    id: str = Field(description="Identifier of the schedule row (UUID).")
    service_id: str | None = Field(default=None, description="Service these hours apply to.")
    service_at_location_id: str | None = Field(default=None, description="Service at a location these hours apply to.")
    valid_from: str | None = Field(default=None, description="First date the row applies (ISO 8601).")
    valid_to: str | None = Field(default=None, description="Last date the row applies (ISO 8601).")
    freq: str | None = Field(default=None, description="Recurrence: WEEKLY for weekly sessions.")
    byday: str | None = Field(default=None, description="Days of the recurrence: MO,TU,...")
    opens_at: str | None = Field(default=None, description="Opening time, Europe/London wall time (HH:MM).")
    closes_at: str | None = Field(default=None, description="Closing time; earlier than opens_at: the next day.")
    description: str | None = Field(default=None, description="The row in words.")
    notes: str | None = Field(default=None, description="Notes on the schedule.")
    attributes: list[HsdsAttribute] = Field(description="Which schedule and which part of it this row describes.")


class HsdsServiceArea(Hsds):
    """An HSDS 3.0 service area: part of a service's catchment."""

    id: str = Field(description="Identifier of the service area (UUID).")
    service_id: str = Field(description="Service the area belongs to.")
    name: str | None = Field(default=None, description="ONS code of the district, 'England', or a label.")
    description: str | None = Field(default=None, description="The area in words.")
    extent: str | None = Field(default=None, description="GeoJSON geometry of the area, as text.")
    extent_type: str | None = Field(default=None, description="'geojson' when extent is given.")
    uri: str | None = Field(default=None, description="statistics.data.gov.uk URI of the area.")
    attributes: list[HsdsAttribute] = Field(description="The catchment type of the area.")


class HsdsLanguage(Hsds):
    """An HSDS 3.0 language a service is offered in."""

    id: str = Field(description="Identifier of the language row (UUID).")
    service_id: str = Field(description="Service offered in this language.")
    name: str | None = Field(default=None, description="The language's name in English, such as Panjabi.")
    code: str = Field(description="ISO 639-1 code, or ISO 639-3 for a language without one (syl: Sylheti).")


class HsdsAddress(Hsds):
    """An HSDS 3.0 address."""

    id: str = Field(description="Identifier of the address (UUID).")
    location_id: str = Field(description="Location at this address.")
    address_1: str = Field(description="Street address.")
    city: str = Field(description="Town or city.")
    state_province: str = Field(description="Always 'England'.")
    postal_code: str = Field(description="Postcode.")
    country: str = Field(description="ISO 3166-1 country code: GB.")
    address_type: str = Field(description="Always 'physical'.")


class HsdsAccessibility(Hsds):
    """An HSDS 3.0 accessibility feature of a location."""

    id: str = Field(description="Identifier of the accessibility row (UUID).")
    location_id: str = Field(description="Location this describes.")
    description: str = Field(description="An accessibility feature available at the location.")


class HsdsLocationBrief(Hsds):
    """An HSDS 3.0 location with its one-to-one fields only."""

    id: str = Field(description="Identifier of the location (UUID).")
    location_type: str = Field(description="Always 'physical': a place people can go.")
    organization_id: str | None = Field(default=None, description="Organization the location belongs to.")
    name: str | None = Field(default=None, description="Name of the place.")
    description: str | None = Field(default=None, description="The place in words.")
    latitude: float | None = Field(default=None, description="WGS84 latitude.")
    longitude: float | None = Field(default=None, description="WGS84 longitude.")
    external_identifier: str | None = Field(default=None, description="Our identifier of the location.")
    external_identifier_type: str | None = Field(default=None, description="Scheme of external_identifier.")


class HsdsLocation(HsdsLocationBrief):
    """An HSDS 3.0 location, fully nested."""

    addresses: list[HsdsAddress] = Field(description="The location's address.")
    accessibility: list[HsdsAccessibility] = Field(description="Accessibility features known to be available.")
    attributes: list[HsdsAttribute] = Field(description="Taxonomy terms linked to the location (district code).")


class HsdsServiceAtLocation(Hsds):
    """An HSDS 3.0 service_at_location, nested in a service."""

    id: str = Field(description="Identifier of the service at this location (UUID).")
    service_id: str = Field(description="The service.")
    location_id: str = Field(description="The location.")
    schedules: list[HsdsSchedule] = Field(description="Hours that apply at this location only.")
    location: HsdsLocation = Field(description="The location, in full.")


class HsdsOrganizationIdentifier(Hsds):
    """An HSDS 3.0 organization identifier."""

    id: str = Field(description="Identifier of this row (UUID).")
    organization_id: str = Field(description="The organization identified.")
    identifier_scheme: str = Field(description="Scheme of the identifier: 'service-finder' for ours.")
    identifier_type: str = Field(description="What kind of identifier this is.")
    identifier: str = Field(description="The identifier.")


class HsdsOrganizationBrief(Hsds):
    """An HSDS 3.0 organization with its one-to-one fields only."""

    id: str = Field(description="Identifier of the organization (UUID).")
    name: str = Field(description="Name of the organization.")
    description: str = Field(description="The organization in words.")
    email: str | None = Field(default=None, description="Email address of the organization.")
    website: str | None = Field(default=None, description="Website of the organization.")


class HsdsNestedOrganization(HsdsOrganizationBrief):
    """An HSDS 3.0 organization as nested in a service."""

    organization_identifiers: list[HsdsOrganizationIdentifier] = Field(description="Identifiers, including ours.")


class HsdsServiceBrief(Hsds):
    """The one-to-one fields of an HSDS 3.0 service."""

    id: str = Field(description="Identifier of the service (UUID v5 of our identifier).")
    organization_id: str | None = Field(default=None, description="Organization that provides the service.")
    name: str = Field(description="Name of the service.")
    description: str | None = Field(default=None, description="The service in words.")
    url: str | None = Field(default=None, description="Website of the service.")
    email: str | None = Field(default=None, description="Email address of the service.")
    status: str = Field(description="active, inactive, temporarily closed or defunct.")
    fees_description: str | None = Field(default=None, description="What people pay, in words.")
    eligibility_description: str | None = Field(default=None, description="Who the service is for, in words.")
    minimum_age: int | None = Field(default=None, description="Youngest age accepted.")
    maximum_age: int | None = Field(default=None, description="Oldest age accepted.")
    assured_date: str | None = Field(default=None, description="Date a person last checked the record.")
    alert: str | None = Field(default=None, description="A short notice, e.g. a temporary change.")
    last_modified: str | None = Field(default=None, description="When the record last changed (ISO 8601).")


class HsdsServiceListItem(HsdsServiceBrief):
    """An HSDS 3.0 service in a list: one-to-one fields and its organization."""

    organization: HsdsOrganizationBrief | None = Field(default=None, description="The organization, without lists.")


class HsdsService(HsdsServiceBrief):
    """An HSDS 3.0 service, fully nested (validates against the compiled service.json)."""

    phones: list[HsdsPhone] = Field(description="Phone numbers of the service.")
    schedules: list[HsdsSchedule] = Field(description="Hours that apply to the whole service.")
    service_areas: list[HsdsServiceArea] = Field(description="Who the service covers (catchment).")
    service_at_locations: list[HsdsServiceAtLocation] = Field(description="Places where the service is delivered.")
    languages: list[HsdsLanguage] = Field(description="Languages the service is offered in.")
    organization: HsdsNestedOrganization = Field(description="The organization that provides the service.")
    attributes: list[HsdsAttribute] = Field(description="Our taxonomy terms: kind, needs, eligibility, access...")
    metadata: list[HsdsMetadata] | None = Field(default=None, description="When a person last verified the record.")


class HsdsServiceInOrganization(HsdsServiceBrief):
    """An HSDS 3.0 service nested in its organization."""

    phones: list[HsdsPhone] = Field(description="Phone numbers of the service.")
    schedules: list[HsdsSchedule] = Field(description="Hours that apply to the whole service.")
    service_areas: list[HsdsServiceArea] = Field(description="Who the service covers (catchment).")
    service_at_locations: list[HsdsServiceAtLocation] = Field(description="Places where the service is delivered.")
    languages: list[HsdsLanguage] = Field(description="Languages the service is offered in.")
    attributes: list[HsdsAttribute] = Field(description="Our taxonomy terms: kind, needs, eligibility, access...")
    metadata: list[HsdsMetadata] | None = Field(default=None, description="When a person last verified the record.")


class HsdsServiceInServiceAtLocation(HsdsServiceBrief):
    """An HSDS 3.0 service nested in one of its service_at_locations: in full but for its other places."""

    phones: list[HsdsPhone] = Field(description="Phone numbers of the service.")
    schedules: list[HsdsSchedule] = Field(description="Hours that apply to the whole service.")
    service_areas: list[HsdsServiceArea] = Field(description="Who the service covers (catchment).")
    languages: list[HsdsLanguage] = Field(description="Languages the service is offered in.")
    organization: HsdsNestedOrganization = Field(description="The organization that provides the service.")
    attributes: list[HsdsAttribute] = Field(description="Our taxonomy terms: kind, needs, eligibility, access...")
    metadata: list[HsdsMetadata] | None = Field(default=None, description="When a person last verified the record.")


class HsdsFullServiceAtLocation(HsdsServiceAtLocation):
    """An HSDS 3.0 service_at_location, fully nested (validates against the compiled service_at_location.json)."""

    service: HsdsServiceInServiceAtLocation = Field(description="The service, in full but for its other places.")


class HsdsOrganization(HsdsNestedOrganization):
    """An HSDS 3.0 organization, fully nested with its services and locations."""

    services: list[HsdsServiceInOrganization] = Field(description="Every service of the organization, in full.")
    locations: list[HsdsLocation] = Field(description="Every place where its services are delivered.")


class HsdsServiceAtLocationListItem(Hsds):
    """An HSDS 3.0 service_at_location in a list: one-to-one fields."""

    id: str = Field(description="Identifier of the service at this location (UUID).")
    service_id: str = Field(description="The service.")
    location_id: str = Field(description="The location.")
    location: HsdsLocationBrief = Field(description="The location, without lists.")
    service: HsdsServiceListItem = Field(description="The service, without lists.")


class HsdsApiInfo(BaseModel):
    """What this HSDS API is."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "3.0",
                    "profile": "https://github.com/OpenReferralUK/uk-profile",
                    "openapi_url": "https://service-finder.example.org/openapi.json",
                }
            ]
        }
    )

    version: str = Field(description="HSDS version of this API.", examples=["3.0"])
    profile: str = Field(description="URL of the HSDS profile this API follows (Open Referral UK).")
    openapi_url: str = Field(description="URL of the OpenAPI document that describes this API.")


class HsdsPage(BaseModel):
    """The HSDS list envelope."""

    total_items: int = Field(description="Items matching the filters, across all pages.")
    total_pages: int = Field(description="Number of pages.")
    page_number: int = Field(description="This page's number, from 1.")
    size: int = Field(description="Items on this page.")
    first_page: bool = Field(description="This is the first page.")
    last_page: bool = Field(description="This is the last page (or past it).")
    empty: bool = Field(description="This page has no items.")


class HsdsServicePage(HsdsPage):
    """A page of HSDS services."""

    contents: list[HsdsServiceListItem] = Field(description="Services, with their one-to-one fields.")


class HsdsServiceAtLocationPage(HsdsPage):
    """A page of HSDS services at locations."""

    contents: list[HsdsServiceAtLocationListItem] = Field(description="Services at locations, one-to-one fields.")


class HsdsOrganizationPage(HsdsPage):
    """A page of HSDS organizations."""

    contents: list[HsdsOrganizationBrief] = Field(description="Organizations, with their one-to-one fields.")


class HsdsTaxonomyPage(HsdsPage):
    """A page of HSDS taxonomies."""

    contents: list[HsdsTaxonomy] = Field(description="Taxonomies published by this directory.")


class HsdsTaxonomyTermPage(HsdsPage):
    """A page of HSDS taxonomy terms."""

    contents: list[HsdsTaxonomyTerm] = Field(description="Taxonomy terms published by this directory.")


# --- filters ------------------------------------------------------------------------------------------------------

_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_WORDS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Opening at 24:00 is no time at all, closing at 24:00 is midnight: the patterns say so, parse_hhmm agrees.
_START_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:00)?$"
_END_TIME = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)(:00)?$"


def _any_case(word: str) -> str:
    return "".join(f"[{letter.upper()}{letter.lower()}]" for letter in word)


# The day filter takes MO..SU or monday..sunday in any case; spelt out so the OpenAPI document says it too.
_DAY = "^(" + "|".join(_any_case(word) for word in (*_DAY_CODES, *_DAY_WORDS)) + ")$"
# What each pattern asks for, in words (api/problems.py says this, never the regular expression).
PATTERN_HINTS = {
    NOT_BLANK_PATTERN: "given a value: leave the parameter out for no filter",
    _DAY: "a day of the week, as MO to SU or monday to sunday",
    _START_TIME: "a time from 00:00 to 23:59, as HH:MM",
    _END_TIME: "a time from 00:00 to 24:00, as HH:MM",
}


class HsdsPaging(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    page: int = Field(default=1, ge=1, le=100_000, description="Page number, from 1.")
    per_page: int = Field(default=50, ge=1, le=500, description="Items per page (at most 500).")


# What the taxonomy filters take, stated in the OpenAPI document (so clients and schemathesis know): a term's id or
# term_uri, a taxonomy's id or name.
TERM_KEYS = sorted({key for item in hsds_taxonomy_terms() for key in (item["id"], item["term_uri"])})
TAXONOMY_KEYS = sorted({key for item in hsds_taxonomies() for key in (item["id"], item["name"])})


def _published_taxonomy(value: str | None) -> str | None:
    # A misspelt taxonomy or term answered an empty directory that looked real: refused, naming it.
    if value is not None and taxonomy(value) is None:
        raise ValueError(f"{value!r:.80} is not a taxonomy this directory publishes (GET /hsds/taxonomies lists them)")
    return value


# An empty filter (`?organization_id=`, a client's unset variable) is refused naming it, as /v1 refuses one: read as
# no filter it answered with the whole directory, as if every service were that organisation's.
class TaxonomyTermFilters(HsdsPaging):
    taxonomy_id: str | None = Field(
        default=None,
        max_length=200,
        pattern=NOT_BLANK_PATTERN,
        description="Only terms of this taxonomy (id or name).",
        json_schema_extra={"enum": TAXONOMY_KEYS},
    )

    known_taxonomy = field_validator("taxonomy_id")(_published_taxonomy)


class HsdsServiceFilters(HsdsPaging):
    search: str | None = Field(
        default=None,
        max_length=200,
        pattern=NOT_BLANK_PATTERN,
        description="Words that must all appear in the name or description (case-insensitive).",
    )
    taxonomy_term_id: str | None = Field(
        default=None,
        max_length=200,
        pattern=NOT_BLANK_PATTERN,
        description="Only services linked to this taxonomy term (its id or term_uri) where it holds: a link with "
        "value false does not match.",
        json_schema_extra={"enum": TERM_KEYS},
    )
    taxonomy_id: str | None = Field(
        default=None,
        max_length=200,
        pattern=NOT_BLANK_PATTERN,
        description="Only services linked to any term of this taxonomy (id or name) where it holds (value not false).",
        json_schema_extra={"enum": TAXONOMY_KEYS},
    )
    organization_id: str | None = Field(
        default=None,
        max_length=80,
        pattern=NOT_BLANK_PATTERN,
        description="Only services of this organization (its HSDS id or ours).",
    )
    modified_after: IsoDateTime | None = Field(
        default=None, description="Only services changed on or after this instant (ISO 8601; naive: London time)."
    )
    minimum_age: int | None = Field(
        default=None, ge=0, le=120, description="Only services whose minimum age is at least this (ORUK)."
    )
    maximum_age: int | None = Field(
        default=None, ge=0, le=120, description="Only services whose maximum age is this or below (ORUK)."
    )
    day: str | None = Field(
        default=None,
        pattern=_DAY,
        description="Only services with a weekly session starting this day (MO..SU or monday..sunday, any case).",
    )
    start_time: str | None = Field(
        default=None, pattern=_START_TIME, description="With a weekly session opening at or after this time (HH:MM)."
    )
    end_time: str | None = Field(
        default=None,
        pattern=_END_TIME,
        description=(
            "With a weekly session closing at or before this time (HH:MM; 00:00 and 24:00 are the midnight that ends "
            "the day). A night session runs on to the next morning: `03:00` finds one from 20:00 to 03:00; a session "
            "within one day is not found by a time before it opens."
        ),
    )

    known_taxonomy = field_validator("taxonomy_id")(_published_taxonomy)

    @field_validator("taxonomy_term_id")
    @classmethod
    def _published_term(cls, value: str | None) -> str | None:
        if value is not None and not any(value in (term.id, term.term_uri) for term in taxonomy_terms()):
            raise ValueError(
                f"{value!r:.80} is not a taxonomy term this directory publishes (GET /hsds/taxonomy_terms lists them)"
            )
        return value

    @field_validator("day")
    @classmethod
    def _day(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # The pattern has already refused anything that is not a day.
        return value.upper()[:2]


class HsdsServiceAtLocationFilters(HsdsServiceFilters):
    postcode: str | None = Field(
        default=None, max_length=10, description="Only places serving this postcode (where a catchment is recorded)."
    )
    proximity: int | None = Field(
        default=None, gt=0, le=200_000, description="With postcode: only places within this many metres of it."
    )


@dataclass(frozen=True, slots=True)
class Point:
    """Where a postcode is, as the gazetteer resolved it."""

    latitude: float
    longitude: float
    district_code: str | None
    district_codes: tuple[str, ...] = ()  # every district it may be in (a postcode district can span several)


# --- the view: what the HSDS routes look up, page and filter by, for one snapshot ---------------------------------


@dataclass(frozen=True, slots=True)
class HsdsView:
    """The HSDS routes' way into one directory snapshot. Documents are made for the services answered with, when
    asked for: one kept per service for the snapshot took minutes to make over a packed directory and ~41 KB each
    (8 GB at 200,000 services, thirteen times what packing keeps a million in). The HSDS ids, derived from ours, are
    looked up in arrays made on first use (interop/selection.py)."""

    index: DirectoryIndex

    def document(self, position: int) -> dict[str, Any]:
        return to_hsds_service(self.index.services[position], last_modified=self.index.last_modified[position])

    def service(self, key: str) -> int | None:
        """The position of the service with this id: ours, or its HSDS id."""
        found = self.index.position.get(key)
        return found if found is not None else _service_uuids(self.index).get(key)

    def organization(self, key: str) -> I32 | None:
        """The positions of the services of the organization with this id (its HSDS id or ours), in id order."""
        code = self.index.organisation_ids.get(key)
        if code is None:
            code = _organization_uuids(self.index).get(key)
        return None if code is None else organisation_services(self.index)[code]

    def service_at_location(self, key: str) -> tuple[int, int] | None:
        """(service position, location position) of the service_at_location with this HSDS id."""
        row = _service_at_location_uuids(self.index).get(key)
        if row is None:
            return None
        unit = int(placed_units(self.index)[row])
        return int(self.index.unit_service[unit]), int(self.index.unit_location[unit])


def hsds_view(index: DirectoryIndex) -> HsdsView:
    return HsdsView(index)


def _service_uuids(index: DirectoryIndex) -> Uuids:
    # index.position gives our ids in position order (sorted), as a dict or as packed.Positions.
    return remembered(index, "hsds-service-uuids", lambda: Uuids.of(("service", key) for key in index.position))


def _organization_uuids(index: DirectoryIndex) -> Uuids:
    ids = index.organisation_ids
    return remembered(index, "hsds-organization-uuids", lambda: Uuids.of(("organization", key) for key in ids))


def _service_at_location_uuids(index: DirectoryIndex) -> Uuids:
    def names() -> Iterator[tuple[str, str, str]]:
        units = placed_units(index)
        ids = enumerate(index.position)  # our ids in position order; the units are in it too
        at, key = -1, ""
        for i, j in zip(index.unit_service[units].tolist(), index.location_code[units].tolist(), strict=True):
            while at < i:
                at, key = next(ids)
            yield "service_at_location", key, index.location_ids.key(j)

    return remembered(index, "hsds-service-at-location-uuids", lambda: Uuids.of(names()))


def _weekly(record: ServiceRecord) -> list[tuple[str, int, int]]:
    """(day code, opens, closes) of every weekly session; closes counts on past midnight for overnight ones."""
    sessions: list[tuple[str, int, int]] = []
    for schedule in record.schedules:
        if schedule.always_open:
            sessions.extend((code, 0, MINUTES_PER_DAY) for code in _DAY_CODES)
        for session in schedule.sessions:
            hours = session.to_domain()
            sessions.append((_DAY_CODES[_DAY_WORDS.index(session.day)], hours.opens, hours.opens + hours.length))
    return sessions


def _has_session(record: ServiceRecord, filters: HsdsServiceFilters) -> bool:
    start = parse_hhmm(filters.start_time) if filters.start_time else None
    end = parse_hhmm(filters.end_time, is_close=True) if filters.end_time else None
    return any(
        (filters.day is None or day == filters.day)
        and (start is None or opens >= start)
        and (end is None or _closed_by(opens, closes, end))
        for day, opens, closes in _weekly(record)
    )


def _closed_by(opens: int, closes: int, end: int) -> bool:
    """Whether a session has closed by `end` on the clock. A session within one day has closed by then that day
    (00:00 is the midnight that ends it); a night session (20:00 to 03:00) by an `end` before it opens, read as the
    next morning's clock. Only a night session wraps: 17:00 to 22:00 has not closed "by 16:00"."""
    if closes <= MINUTES_PER_DAY:
        return closes <= (end or MINUTES_PER_DAY)
    return end < opens and closes <= end + MINUTES_PER_DAY


def _linked(attributes: list[dict[str, Any]], filters: HsdsServiceFilters) -> bool:
    """Whether a service's attributes (its document's) link the term and the taxonomy the filters ask for."""
    # A yes/no term (referral route, access feature, eligibility flag) is linked with value "false" when the
    # directory knows it does not hold: matching that would show a service as accepting whom it turns away.
    terms = [attribute["taxonomy_term"] for attribute in attributes if attribute.get("value") != "false"]
    if filters.taxonomy_term_id is not None and not any(
        filters.taxonomy_term_id in (term["id"], term.get("term_uri")) for term in terms
    ):
        return False
    return filters.taxonomy_id is None or any(
        filters.taxonomy_id in (term.get("taxonomy_id"), term.get("taxonomy")) for term in terms
    )


def _term_masks(index: DirectoryIndex, term_uri: str) -> tuple[B, B]:
    """The services a service document links to this term (value not false) for sure, and those it may link: from
    the index's columns, as to_hsds_service makes the attributes. Where no column says (a cost, a source URL), every
    service may: _linked reads the documents of those."""
    _, taxonomy, value = term_uri.split(":", 2)
    every, none = np.ones(len(index), np.bool_), np.zeros(len(index), np.bool_)
    exact: B | None = None
    if taxonomy == "kind":
        exact = index.kind == KIND_CODES[ServiceKind(value)]
    elif taxonomy == "need":
        exact = (index.needs & bit_mask([Need(value)])) != 0
    elif taxonomy == "referral-route":  # linked true for each route listed (none when the routes are unknown)
        exact = (index.referral & bit_mask([ReferralRoute(value)])) != 0
    elif taxonomy == "gender":
        exact = (index.genders & bit_mask([Gender(value)])) != 0
    elif taxonomy == "access-feature":
        exact = (index.access_yes & bit_mask([AccessFeature(value)])) != 0
    elif taxonomy == "eligibility" and value == "accepts_intoxicated":
        exact = index.intoxicated == 1
    elif taxonomy == "eligibility" and value == "accepts_substance_use":
        exact = index.substances == 1
    elif taxonomy == "eligibility":  # gp_required holds "required or not recorded": only a document tells which
        return none, index.gp_required.copy()
    elif taxonomy == "contact-mode":
        # `modes` holds the ways a search matches (search/index.py: ways_in): those recorded, but in person only to a
        # place with a door, and phone to a line recording none as well. Any other way is there exactly when recorded.
        mode = ContactMode(value)
        held = (index.modes & bit_mask([mode])) != 0
        if mode is ContactMode.in_person:
            return none, every
        if mode is ContactMode.phone:
            return held & ~np.isin(index.kind, [KIND_CODES[kind] for kind in LINE_KINDS]), held
        exact = held
    elif taxonomy == "field" and value in ("service_id", "source_name"):  # every service has both
        exact = every
    elif taxonomy == "field" and value == "safety_net":
        exact = index.safety_net.copy()
    elif taxonomy == "field" and value in ("district_code", "phone_display", "reason", "schedule_id"):
        exact = none  # linked to locations, phones and schedules: never to the service
    elif taxonomy in ("catchment", "schedule-part"):
        exact = none  # linked to service areas and schedule rows, never to the service
    return (exact, exact) if exact is not None else (none, every)


def _taxonomy_masks(index: DirectoryIndex, filters: HsdsServiceFilters) -> tuple[B, B] | None:
    """_term_masks for what the taxonomy filters ask (None: no taxonomy filter): a term, any term of a taxonomy."""
    if filters.taxonomy_term_id is None and filters.taxonomy_id is None:
        return None
    sure, maybe = np.ones(len(index), np.bool_), np.ones(len(index), np.bool_)
    published = hsds_taxonomy_terms()
    if filters.taxonomy_term_id is not None:
        term = next(t for t in published if filters.taxonomy_term_id in (t["id"], t["term_uri"]))
        term_sure, term_maybe = _term_masks(index, term["term_uri"])
        sure &= term_sure
        maybe &= term_maybe
    if filters.taxonomy_id is not None:
        any_sure, any_maybe = np.zeros(len(index), np.bool_), np.zeros(len(index), np.bool_)
        for term in published:
            if filters.taxonomy_id in (term["taxonomy_id"], term["taxonomy"]):
                term_sure, term_maybe = _term_masks(index, term["term_uri"])
                any_sure |= term_sure
                any_maybe |= term_maybe
        sure &= any_sure
        maybe &= any_maybe
    return sure, maybe


def matching_services(view: HsdsView, filters: HsdsServiceFilters) -> I32:
    """Positions of the services that pass every filter, in identifier order: by the index's columns, and by the
    records (decoded) only for what no column holds and only for the services the columns leave."""
    index = view.index
    keep = np.ones(len(index), np.bool_)
    if filters.organization_id is not None:
        members = view.organization(filters.organization_id)
        if members is None:
            return np.zeros(0, np.int32)
        keep[:] = False
        keep[members] = True
    if filters.modified_after is not None:
        after = instant_micros(to_utc(filters.modified_after))
        keep &= modified_micros(index) >= after  # a service with no known change is Instants.NONE: never after
    if filters.minimum_age is not None:  # a minimum age not recorded (-1) is none: never "at least N"
        keep &= index.recorded_min_age >= filters.minimum_age
    if filters.maximum_age is not None:  # a maximum age not recorded is NO_MAX_AGE, above every N allowed
        keep &= index.max_age <= filters.maximum_age
    linked = _taxonomy_masks(index, filters)
    unsure = np.zeros(len(index), np.bool_)
    if linked is not None:
        sure, maybe = linked
        keep &= maybe
        unsure = keep & ~sure
    words = filters.search.casefold().split() if filters.search else []
    timed = filters.day is not None or filters.start_time is not None or filters.end_time is not None
    # Words in a name or description and weekly sessions are in no column: the records the columns leave are
    # decoded to read them (every record, with no other filter).
    read = keep if words or timed else unsure
    candidates = np.flatnonzero(read)
    for i, record in zip(candidates.tolist(), records_at(index, candidates.tolist()), strict=True):
        text = f"{record.name} {record.description}".casefold()
        if (
            (words and not all(word in text for word in words))
            or (timed and not _has_session(record, filters))
            or (unsure[i] and not _linked(hsds_service_attributes(record), filters))
        ):
            keep[i] = False
    return np.flatnonzero(keep).astype(np.int32)


def serves_point(record: ServiceRecord, point: Point) -> bool:
    """False only when a recorded catchment leaves the point out (HSDS: filter by service_area where available)."""
    catchment = record.eligibility.catchment
    if catchment is None or catchment.type.value == "england":
        return True
    if catchment.type.value == "districts":
        codes = point.district_codes or ((point.district_code,) if point.district_code else ())
        return not codes or any(code in catchment.districts for code in codes)
    return catchment.geojson is None or point_in_geojson(point.longitude, point.latitude, catchment.geojson)


def _serving(index: DirectoryIndex, services: I32, point: Point) -> I32:
    """The services (positions) that serve the point, as serves_point says: by the catchment columns, and for a
    polygon catchment by its record (decoded: no column holds the shape; a few services have one)."""
    catchment = index.catchment[services]
    districts = catchment == CATCHMENT_CODES[CatchmentType.districts]
    shaped = np.flatnonzero(catchment == CATCHMENT_CODES[CatchmentType.polygon])
    keep = ~districts  # none recorded, England, or a polygon (read below)
    codes = point.district_codes or ((point.district_code,) if point.district_code else ())
    if not codes:
        keep |= districts
    else:
        listed = np.zeros(len(index), np.bool_)
        for code in codes:
            listed[index.district_members.get(code, np.zeros(0, np.int32))] = True
        keep |= districts & listed[services]
    for k, record in zip(shaped.tolist(), records_at(index, services[shaped].tolist()), strict=True):
        keep[k] = serves_point(record, point)
    served: I32 = services[keep]
    return served


def matching_locations(
    view: HsdsView, filters: HsdsServiceAtLocationFilters, point: Point | None
) -> npt.NDArray[np.int32]:
    """(service position, location position) of every service at a location that passes, one row each, nearest
    first when a proximity is given, else in identifier order."""
    index = view.index
    services = matching_services(view, filters)
    if point is not None:
        services = _serving(index, services, point)
    chosen = np.zeros(len(index), np.bool_)
    chosen[services] = True
    units = placed_units(index)
    units = units[chosen[index.unit_service[units]]]  # each service's places in its order: as its locations list
    if point is None or filters.proximity is None or not units.size:
        return pairs_of(index, units)
    latitude, longitude = unit_coordinates(index, units)
    distance = haversine_km(point.latitude, point.longitude, latitude, longitude)
    order = np.argsort(distance, kind="stable")
    return pairs_of(index, units[order[distance[order] * 1000 <= filters.proximity]])


# --- shaping ------------------------------------------------------------------------------------------------------


def _only(document: dict[str, Any], model: type[Hsds]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key in model.model_fields}


def service_list_item(document: dict[str, Any]) -> HsdsServiceListItem:
    brief = _only(document, HsdsServiceBrief)
    brief["organization"] = _only(document["organization"], HsdsOrganizationBrief)
    return HsdsServiceListItem.model_validate(brief)


def service_at_location_item(document: dict[str, Any], location: int) -> HsdsServiceAtLocationListItem:
    link = document["service_at_locations"][location]
    return HsdsServiceAtLocationListItem(
        id=link["id"],
        service_id=link["service_id"],
        location_id=link["location_id"],
        location=HsdsLocationBrief.model_validate(_only(link["location"], HsdsLocationBrief)),
        service=service_list_item(document),
    )


def service_at_location_of(document: dict[str, Any], location: int) -> HsdsFullServiceAtLocation:
    """The service_at_location at this position of an HSDS service document, fully nested."""
    link = dict(document["service_at_locations"][location])
    link["service"] = {key: value for key, value in document.items() if key != "service_at_locations"}
    return HsdsFullServiceAtLocation.model_validate(link)


def full_organization(view: HsdsView, positions: Sequence[int] | I32) -> HsdsOrganization:
    return organization_of([view.document(int(i)) for i in positions])


def organization_of(documents: Sequence[dict[str, Any]]) -> HsdsOrganization:
    """The organization of these HSDS service documents (all of its services), fully nested."""
    organization = dict(documents[0]["organization"])
    locations: dict[str, dict[str, Any]] = {}
    for document in documents:
        for link in document["service_at_locations"]:
            locations.setdefault(link["location"]["id"], link["location"])
    organization["services"] = [
        {key: value for key, value in document.items() if key != "organization"} for document in documents
    ]
    organization["locations"] = list(locations.values())
    return HsdsOrganization.model_validate(organization)


def organization_briefs(view: HsdsView) -> list[HsdsOrganizationBrief]:
    """Every organization, by name: each read from the document of its first service (one record decoded per
    organization, once per snapshot)."""

    def make() -> list[HsdsOrganizationBrief]:
        firsts = organisation_services(view.index).firsts().tolist()
        briefs = [
            HsdsOrganizationBrief.model_validate(_only(view.document(i)["organization"], HsdsOrganizationBrief))
            for i in firsts
        ]
        return sorted(briefs, key=lambda o: (o.name.casefold(), o.id))

    return remembered(view.index, "hsds-organization-briefs", make)


def taxonomies() -> list[HsdsTaxonomy]:
    return [HsdsTaxonomy.model_validate(item) for item in hsds_taxonomies()]


def taxonomy(key: str) -> HsdsTaxonomy | None:
    """The taxonomy with this id or name, as the taxonomy_id filters read it."""
    return next((item for item in taxonomies() if key in (item.id, item.name)), None)


def taxonomy_terms(taxonomy_id: str | None = None) -> list[HsdsTaxonomyTerm]:
    return [
        HsdsTaxonomyTerm.model_validate(item)
        for item in hsds_taxonomy_terms()
        if taxonomy_id is None or taxonomy_id in (item["taxonomy_id"], item["taxonomy"])
    ]


def taxonomy_term(key: str) -> HsdsTaxonomyTerm | None:
    """The taxonomy term with this id or term_uri (`service-finder:kind:crisis_line`)."""
    return next((item for item in taxonomy_terms() if key in (item.id, item.term_uri)), None)


def page_fields(total: int, *, page: int, per_page: int, size: int) -> dict[str, Any]:
    total_pages = math.ceil(total / per_page)
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": page,
        "size": size,
        "first_page": page == 1,
        "last_page": page >= total_pages,
        "empty": size == 0,
    }


def window(paging: HsdsPaging) -> slice:
    start = (paging.page - 1) * paging.per_page
    return slice(start, start + paging.per_page)
