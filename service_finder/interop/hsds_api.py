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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service_finder.domain.opening_hours import to_utc
from service_finder.domain.schedule import MINUTES_PER_DAY, parse_hhmm
from service_finder.importers.hsds import hsds_taxonomies, hsds_taxonomy_terms, to_hsds_service
from service_finder.schemas import IsoDateTime, ServiceRecord
from service_finder.search.engine import point_in_geojson
from service_finder.search.index import DirectoryIndex, haversine_km

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


def _nothing_is_no_filter(value: Any) -> Any:
    # `?taxonomy_term_id=` (a form left blank) means no filter, as `?search=` does: it matched nothing.
    return None if isinstance(value, str) and not value.strip() else value


def _published_taxonomy(value: str | None) -> str | None:
    # A misspelt taxonomy or term answered an empty directory that looked real: refused, naming it.
    if value is not None and taxonomy(value) is None:
        raise ValueError(f"{value!r:.80} is not a taxonomy this directory publishes (GET /hsds/taxonomies lists them)")
    return value


class TaxonomyTermFilters(HsdsPaging):
    taxonomy_id: str | None = Field(
        default=None,
        max_length=200,
        description="Only terms of this taxonomy (id or name).",
        json_schema_extra={"enum": TAXONOMY_KEYS},
    )

    blank_taxonomy = field_validator("taxonomy_id", mode="before")(_nothing_is_no_filter)
    known_taxonomy = field_validator("taxonomy_id")(_published_taxonomy)


class HsdsServiceFilters(HsdsPaging):
    search: str | None = Field(
        default=None,
        max_length=200,
        description="Words that must all appear in the name or description (case-insensitive).",
    )
    taxonomy_term_id: str | None = Field(
        default=None,
        max_length=200,
        description="Only services linked to this taxonomy term (its id or term_uri) where it holds: a link with "
        "value false does not match.",
        json_schema_extra={"enum": TERM_KEYS},
    )
    taxonomy_id: str | None = Field(
        default=None,
        max_length=200,
        description="Only services linked to any term of this taxonomy (id or name) where it holds (value not false).",
        json_schema_extra={"enum": TAXONOMY_KEYS},
    )
    organization_id: str | None = Field(
        default=None, max_length=80, description="Only services of this organization (its HSDS id or ours)."
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

    blank_filters = field_validator("search", "taxonomy_term_id", "taxonomy_id", "organization_id", mode="before")(
        _nothing_is_no_filter
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


# --- the view: every HSDS document of one snapshot ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HsdsView:
    """The HSDS documents of one directory snapshot, built once and kept with it (the snapshot is immutable)."""

    index: DirectoryIndex
    services: tuple[dict[str, Any], ...]  # aligned with index.services
    position: dict[str, int]  # our id and the HSDS UUID -> position
    organizations: dict[str, tuple[int, ...]]  # organization UUID -> positions of its services, by service id
    organization_keys: dict[str, str]  # our organisation id and its UUID -> organization UUID
    service_at_locations: dict[str, tuple[int, int]]  # service_at_location UUID -> (service, location) positions

    def service(self, key: str) -> dict[str, Any] | None:
        position = self.position.get(key)
        return None if position is None else self.services[position]

    def organization(self, key: str) -> tuple[int, ...] | None:
        uuid = self.organization_keys.get(key)
        return None if uuid is None else self.organizations[uuid]

    def service_at_location(self, key: str) -> tuple[int, int] | None:
        return self.service_at_locations.get(key)


def hsds_view(index: DirectoryIndex) -> HsdsView:
    key = "hsds-view"
    cached = index.memo.get(key)
    if isinstance(cached, HsdsView):
        return cached
    documents = tuple(
        to_hsds_service(record, last_modified=modified)
        for record, modified in zip(index.services, index.last_modified, strict=True)
    )
    position: dict[str, int] = {}
    organizations: dict[str, list[int]] = {}
    organization_keys: dict[str, str] = {}
    service_at_locations: dict[str, tuple[int, int]] = {}
    for i, (record, document) in enumerate(zip(index.services, documents, strict=True)):
        position[record.id] = position[document["id"]] = i
        for j, link in enumerate(document["service_at_locations"]):
            service_at_locations[link["id"]] = (i, j)
        uuid = document["organization"]["id"]
        organizations.setdefault(uuid, []).append(i)
        organization_keys[uuid] = organization_keys[record.organisation.id] = uuid
    view = HsdsView(
        index=index,
        services=documents,
        position=position,
        organizations={uuid: tuple(members) for uuid, members in organizations.items()},
        organization_keys=organization_keys,
        service_at_locations=service_at_locations,
    )
    index.memo[key] = view  # a race only builds the same view twice
    return view


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


def _linked(document: dict[str, Any], filters: HsdsServiceFilters) -> bool:
    # A yes/no term (referral route, access feature, eligibility flag) is linked with value "false" when the
    # directory knows it does not hold: matching that would show a service as accepting whom it turns away.
    terms = [attribute["taxonomy_term"] for attribute in document["attributes"] if attribute.get("value") != "false"]
    if filters.taxonomy_term_id is not None and not any(
        filters.taxonomy_term_id in (term["id"], term.get("term_uri")) for term in terms
    ):
        return False
    return filters.taxonomy_id is None or any(
        filters.taxonomy_id in (term.get("taxonomy_id"), term.get("taxonomy")) for term in terms
    )


def matching_services(view: HsdsView, filters: HsdsServiceFilters) -> list[int]:
    """Positions of the services that pass every filter, in identifier order."""
    words = filters.search.casefold().split() if filters.search else []
    after = to_utc(filters.modified_after) if filters.modified_after is not None else None
    organization = view.organization(filters.organization_id) if filters.organization_id is not None else None
    if filters.organization_id is not None and organization is None:
        return []
    timed = filters.day is not None or filters.start_time is not None or filters.end_time is not None
    found = []
    for i, record in enumerate(view.index.services):
        eligibility = record.eligibility
        modified = view.index.last_modified[i]
        text = f"{record.name} {record.description}".casefold()
        if (
            (words and not all(word in text for word in words))
            or (organization is not None and i not in organization)
            or (after is not None and (modified is None or modified < after))
            or (
                filters.minimum_age is not None
                and (eligibility.minimum_age is None or eligibility.minimum_age < filters.minimum_age)
            )
            or (
                filters.maximum_age is not None
                and (eligibility.maximum_age is None or eligibility.maximum_age > filters.maximum_age)
            )
            or (timed and not _has_session(record, filters))
            or not _linked(view.services[i], filters)
        ):
            continue
        found.append(i)
    return found


def serves_point(record: ServiceRecord, point: Point) -> bool:
    """False only when a recorded catchment leaves the point out (HSDS: filter by service_area where available)."""
    catchment = record.eligibility.catchment
    if catchment is None or catchment.type.value == "england":
        return True
    if catchment.type.value == "districts":
        codes = point.district_codes or ((point.district_code,) if point.district_code else ())
        return not codes or any(code in catchment.districts for code in codes)
    return catchment.geojson is None or point_in_geojson(point.longitude, point.latitude, catchment.geojson)


def matching_locations(
    view: HsdsView, filters: HsdsServiceAtLocationFilters, point: Point | None
) -> list[tuple[int, int]]:
    """(service position, location position) of every service at a location that passes, nearest first when a
    proximity is given, else in identifier order."""
    services = matching_services(view, filters)
    if point is not None:
        services = [i for i in services if serves_point(view.index.services[i], point)]
    pairs = [(i, j) for i in services for j in range(len(view.index.services[i].locations))]
    if point is None or filters.proximity is None or not pairs:
        return pairs
    locations = [view.index.services[i].locations[j] for i, j in pairs]
    distance = haversine_km(
        point.latitude,
        point.longitude,
        np.array([loc.latitude for loc in locations]),
        np.array([loc.longitude for loc in locations]),
    )
    order = np.argsort(distance, kind="stable")
    return [pairs[k] for k in order.tolist() if distance[k] * 1000 <= filters.proximity]


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


def full_organization(view: HsdsView, positions: Sequence[int]) -> HsdsOrganization:
    return organization_of([view.services[i] for i in positions])


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
    briefs = [
        HsdsOrganizationBrief.model_validate(_only(view.services[positions[0]]["organization"], HsdsOrganizationBrief))
        for positions in view.organizations.values()
    ]
    return sorted(briefs, key=lambda o: (o.name.casefold(), o.id))


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
