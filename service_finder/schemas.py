"""API and interchange shapes.

`ServiceRecord` is the one nested shape of a directory entry: the native JSON import format, the body of
editor writes, and (with read-only extras) what the API returns. Every importer converts to it, so
validation is identical whichever way data arrives.
"""

from __future__ import annotations

import contextlib
import math
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from service_finder.domain.languages import canonical_language, stored_language
from service_finder.domain.opening_hours import to_london
from service_finder.domain.phones import PhoneError, display_extension, normalise_phone
from service_finder.domain.postcode import PostcodeError, normalise_postcode
from service_finder.domain.schedule import (
    DAY_NAMES,
    BankHolidayPolicy,
    DatedException,
    ScheduleError,
    Session,
    TimeRange,
    WeeklySchedule,
    format_hhmm,
    parse_hhmm,
)
from service_finder.domain.taxonomy import (
    SUBSTANCE_NEEDS,
    AccessFeature,
    CatchmentType,
    ContactMode,
    Cost,
    Gender,
    Need,
    PhoneType,
    ReferralRoute,
    ServiceKind,
    ServiceStatus,
)
from service_finder.errors import FieldValueError

ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$"
Identifier = Annotated[
    str,
    Field(
        pattern=ID_PATTERN,
        description="Stable, URL-safe identifier: lower-case letters, digits and hyphens, 1-80 characters.",
        examples=["leeds-crisis-cafe"],
    ),
]
DISTRICT_PATTERN = r"^E0[6-9]\d{6}$"
DistrictCode = Annotated[
    str,
    Field(
        pattern=DISTRICT_PATTERN,
        description="ONS local-authority district code in England (E06, E07, E08 or E09).",
        examples=["E08000035"],
    ),
]
LANGUAGE_PATTERN = r"^[a-z]{2,3}$"
# In a record: a three-letter code must name a language, and is stored as its two-letter code where it has one
# (domain/languages.py: stored_language). In a search: any code must name a language (an unknown one would leave
# out every service), and is compared as that same code.
LanguageCode = Annotated[
    str,
    Field(
        pattern=LANGUAGE_PATTERN,
        description="ISO 639-1 code (two letters), or ISO 639-3 (three letters) for a language without one, such as "
        "syl (Sylheti) or bfi (British Sign Language). A three-letter code of a language that has a two-letter one "
        "is stored as the two-letter code (pan as pa).",
        examples=["en"],
    ),
    AfterValidator(stored_language),
]
RequestedLanguage = Annotated[
    str,
    Field(
        pattern=LANGUAGE_PATTERN,
        description="ISO 639-1 (two letters) or ISO 639-3 (three letters) code of a language staff must speak: pa "
        "and pan both find Panjabi-speaking services.",
        examples=["ur"],
    ),
    AfterValidator(canonical_language),
]
WEB_ADDRESS_PATTERN = r"^https?://\S+$"
# The characters Python's str.strip() removes, spelt out for a pattern: `\s` names another set in JSON Schema's
# (ECMA-262) patterns, in Rust's (pydantic's) and in Python's, and the OpenAPI document must say what the server does.
BLANK_CHARACTERS = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Holds a character that is not blank (unanchored, as JSON Schema reads a pattern): a filter given without one is
# refused, never read as "no filter", which would answer with everything.
NOT_BLANK_PATTERN = f"[^{BLANK_CHARACTERS}]"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


DateOrTime = TypeVar("DateOrTime", date, datetime)


# An ISO 8601 date or date-time as the contract takes it begins with its four-digit year and a hyphen.
_ISO_START = re.compile(r"[0-9]{4}-")


def _iso_only(value: Any) -> Any:
    # Pydantic reads text shaped like a number as a Unix timestamp (1700000000, 1.7e9, -1.7e9, +1, 20261127 are all
    # instants in 1916 to 2023); the contract says ISO 8601 text, so anything that does not begin as a date does is
    # refused, whatever form of number it is.
    if isinstance(value, int | float) or (isinstance(value, str) and not _ISO_START.match(value)):
        raise ValueError("not an ISO 8601 date or date-time such as 2026-11-27 or 2026-11-27T20:00:00")
    return value


NUMBER_WITH_SEPARATOR = "write the number in plain digits, without '_'"
# Text made only of what a number is written with: one that also holds `_` is a number with digit separators.
_NUMBER_CHARACTERS = re.compile(r"[\s0-9_.eE+-]*")


def separated_number(text: str) -> bool:
    """Whether this text is a number written with `_` between digits, which pydantic (as Python) reads as if the
    `_` were not there: `3_4` is 34, `5_3` is 53, a wrong age or place that looks right."""
    return "_" in text and _NUMBER_CHARACTERS.fullmatch(text) is not None


def plain_number(value: Any) -> Any:
    """A number as a number field takes it: not written with `_` separators, and not JSON true or false (pydantic
    would read {"age": false} as age 0, a baby)."""
    if isinstance(value, bool):
        raise ValueError("a number is needed, not true or false")
    if isinstance(value, str) and separated_number(value):
        raise ValueError(NUMBER_WITH_SEPARATOR)
    return value


# Years a date or instant may name: wide of any real schedule, and far from date arithmetic's limits (years 1 and
# 9999), which the hours engine's look-ahead and a time zone's offset would otherwise overflow into a 500.
# The OpenAPI document says so with a pattern on the year, so clients (and schemathesis) can tell.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199
YEAR_PATTERN = r"^(19|20|21)[0-9]{2}-"


def within_supported_years(value: DateOrTime) -> DateOrTime:
    # An instant's year is its UTC year too: 1900-01-01T00:00+14:00 is an instant of 1899. (Converted only once the
    # written year is in range: 9999-12-31T23:00-05:00 has no UTC year a datetime can hold.)
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR or (
        isinstance(value, datetime)
        and value.tzinfo is not None
        and not EARLIEST_YEAR <= value.astimezone(UTC).year <= LATEST_YEAR
    ):
        raise ValueError(f"{value.isoformat()} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_only),
    AfterValidator(within_supported_years),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": YEAR_PATTERN}),
]
IsoDate = Annotated[
    date,
    BeforeValidator(_iso_only),
    AfterValidator(within_supported_years),
    WithJsonSchema({"type": "string", "format": "date", "pattern": YEAR_PATTERN}),
]
# Dates and instants in a record: the same years (a verified_at in 9999 overflowed the review-date sum and froze
# the index), without IsoDate's refusal of numbers, which stored records never hold.
RecordDate = Annotated[
    date,
    AfterValidator(within_supported_years),
    WithJsonSchema({"type": "string", "format": "date", "pattern": YEAR_PATTERN}),
]
RecordInstant = Annotated[
    datetime,
    AfterValidator(within_supported_years),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": YEAR_PATTERN}),
]

# A generous box around England (Isles of Scilly to Berwick, Land's End to Lowestoft). The importer
# checks the postcode against the gazetteer too; this only stops swapped or zeroed coordinates.
ENGLAND_BOUNDS = (49.85, 55.82, -6.45, 1.77)


# --- examples shown in the OpenAPI document (tests validate each against its schema) --------------------------
# FastAPI drops every null from the document it renders, so a field that is required but nullable must carry a
# value in these examples, or the example shown no longer matches its schema.

SERVICE_RECORD_EXAMPLE: dict[str, Any] = {
    "id": "leeds-crisis-cafe",
    "name": "Leeds Crisis Café (demo)",
    "organisation": {
        "id": "aire-valley-wellbeing-demo",
        "name": "Aire Valley Wellbeing (demo)",
        "description": "A fictional voluntary-sector provider.",
        "url": "https://example.org/demo/aire-valley-wellbeing",
        "email": None,
    },
    "description": "A calm place to go in the evening when things feel too much. No appointment needed.",
    "url": "https://example.org/demo/leeds-crisis-cafe",
    "email": None,
    "status": "active",
    "alert": "",
    "kind": "crisis_cafe",
    "needs": ["suicidal_thoughts", "self_harm", "anxiety_depression"],
    "safety_net": False,
    "eligibility": {
        "minimum_age": 18,
        "maximum_age": None,
        "genders": [],
        "catchment": {"type": "districts", "districts": ["E08000035"], "geojson": None},
        "gp_registration_required": False,
        "referral_routes": ["self_referral", "walk_in"],
        "accepts_intoxicated": False,
        "accepts_substance_use": True,
        "description": "Adults in Leeds. Please come sober.",
    },
    "access": {
        "contact_modes": ["in_person", "phone"],
        "accessibility": {"step_free": True, "hearing_loop": False},
        "languages": ["en"],
        "cost": "free",
        "fees_description": "",
        "typical_wait_days": 0,
    },
    "locations": [
        {
            "id": "leeds-crisis-cafe-main",
            "name": "The Lantern Rooms",
            "address": "1 Example Street",
            "city": "Leeds",
            "postcode": "LS1 1UR",
            "latitude": 53.802162,
            "longitude": -1.548517,
            "district_code": "E08000035",
            "description": "Side entrance, ring the bell.",
        }
    ],
    "phones": [{"number": "+441130000000", "display": "0113 000 0000", "type": "voice", "description": ""}],
    "schedules": [
        {
            "id": "leeds-crisis-cafe-hours",
            "location_id": "leeds-crisis-cafe-main",
            "always_open": False,
            "sessions": [
                {"day": "friday", "opens_at": "18:00", "closes_at": "02:00"},
                {"day": "saturday", "opens_at": "18:00", "closes_at": "02:00"},
            ],
            "bank_holidays": "closed",
            "bank_holiday_hours": [],
            "exceptions": [
                {
                    "start_date": "2026-12-25",
                    "end_date": "2026-12-26",
                    "closed": True,
                    "hours": [],
                    "reason": "Christmas",
                }
            ],
            "valid_from": None,
            "valid_to": None,
            "notes": "",
        }
    ],
    "provenance": {
        "source_name": "demo",
        "source_url": None,
        "verified_at": "2026-10-01T09:00:00Z",
        "verify_due": "2027-04-01",
    },
}
SERVICE_PUBLIC_EXAMPLE: dict[str, Any] = {
    **SERVICE_RECORD_EXAMPLE,
    "kind_label": "Crisis café, safe haven or sanctuary",
    "mhsds_team_type": "A21",
    "demo": True,
    "stale": False,
    "created_at": "2026-10-01T09:00:00Z",
    "last_modified": "2026-10-01T09:00:00Z",
    "revision": 1,
}
SAMARITANS_PHONE: dict[str, Any] = {
    "number": "116123",
    "display": "116 123",
    "type": "voice",
    "description": "Free, 24 hours a day, every day.",
}
SEARCH_RESPONSE_EXAMPLE: dict[str, Any] = {
    "query": {
        "request": {
            "lat": None,
            "lon": None,
            "postcode": "LS1 1UR",
            "radius_km": 25.0,
            "at": "2026-11-27T17:00:00Z",
            "open": "within:120",
            "age": 30,
            "sex": None,
            "gender": None,
            "needs": ["self_harm"],
            "intoxicated": None,
            "uses_substances": None,
            "referral": "self",
            "modes": [],
            "access": [],
            "language": None,
            "kinds": [],
            "limit": 10,
            "explain": True,
        },
        "location": {
            "latitude": 53.802162,
            "longitude": -1.548517,
            "source": "postcode",
            "postcode": "LS1 1UR",
            "district_code": "E08000035",
            "district_name": "Leeds",
        },
        "at": "2026-11-27T17:00:00Z",
    },
    "results": [
        {
            "rank": 1,
            "score": 143.0,
            "service": {
                "id": "leeds-crisis-cafe",
                "name": "Leeds Crisis Café (demo)",
                "kind": "crisis_cafe",
                "kind_label": "Crisis café, safe haven or sanctuary",
                "organisation": "Aire Valley Wellbeing (demo)",
                "phones": [{"number": "+441130000000", "display": "0113 000 0000", "type": "voice", "description": ""}],
                "url": "https://example.org/demo/leeds-crisis-cafe",
                "address": "1 Example Street, Leeds",
                "postcode": "LS1 1UR",
                "latitude": 53.802162,
                "longitude": -1.548517,
                "accessibility": {"step_free": True, "hearing_loop": False},
                "contact_modes": ["in_person", "phone"],
                "alert": "",
                "demo": True,
            },
            "distance_km": 0.0,
            "distance_basis": "straight line",
            "travel": {"mode": "walking", "minutes": 1, "arrives_before_close": True},
            "open_now": False,
            "closes_at": "2026-11-28T02:00:00Z",
            "opens_next_at": "2026-11-27T18:00:00Z",
            "hours_today": "Open today 6pm to 2am",
            "eligibility": {
                "verdict": "eligible",
                "criteria": [
                    {"criterion": "age", "result": "pass", "reason": "accepts people aged 18 and over"},
                    {"criterion": "referral", "result": "pass", "reason": "walk-in, no referral needed"},
                ],
            },
            "match_reasons": ["opens at 18:00", "walk-in, no referral needed", "free"],
            "verified_at": "2026-10-01T09:00:00Z",
            "stale": False,
        }
    ],
    "safety_net": [
        {
            "id": "samaritans",
            "name": "Samaritans",
            "phones": [SAMARITANS_PHONE],
            "description": "Call Samaritans free on 116 123, 24 hours a day, every day.",
            "hours": "Open 24 hours, every day",
            "local": False,
        }
    ],
    "excluded": [
        {
            "id": "leeds-self-harm-aftercare",
            "name": "Leeds Self-Harm Aftercare Service (demo)",
            "kind": "self_harm_aftercare",
            "distance_km": 1.71,
            "reasons": ["needs a referral: GP referral or referral from a crisis team"],
        }
    ],
    "data_version": 2,
    "index_built_at": "2026-11-27T19:59:58Z",
    "stale_index": False,
}


class Record(BaseModel):
    """Base of the directory record shapes: unknown fields are refused, text is trimmed."""

    # allow_inf_nan: NaN fails every comparison, so a bound answered for it ("Input should be less than or equal to
    # 90"); infinity reached a range check the same way. Both are "Input should be a finite number".
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, allow_inf_nan=False)


class OrganisationRecord(Record):
    """The organisation that runs a service (an NHS trust, a charity, a council)."""

    id: Identifier
    name: str = Field(min_length=1, max_length=200, description="The organisation's name.", examples=["Samaritans"])
    description: str = Field(default="", description="What the organisation is, in a sentence or two.")
    url: str | None = Field(
        default=None,
        pattern=WEB_ADDRESS_PATTERN,
        description="The organisation's website (http or https).",
        examples=["https://www.samaritans.org/"],
    )
    email: str | None = Field(
        default=None,
        pattern=EMAIL_PATTERN,
        description="A general contact address for the organisation.",
        examples=["info@example.org"],
    )


class LocationRecord(Record):
    """A place where a service can be visited."""

    id: Identifier
    name: str = Field(default="", max_length=200, description="The building or site name, if it has one.")
    address: str = Field(default="", description="Street address, without town and postcode.")
    city: str = Field(default="", description="Town or city.", examples=["Leeds"])
    postcode: str = Field(description="Full UK postcode; normalised to upper case with one space.")
    latitude: float = Field(ge=-90, le=90, description="WGS84 latitude.")
    longitude: float = Field(ge=-180, le=180, description="WGS84 longitude.")
    district_code: DistrictCode | None = Field(
        default=None,
        description="Local-authority district; the importer fills it from the gazetteer when missing.",
    )
    description: str = Field(default="", description="How to find the entrance, parking, nearest stop.")

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        return plain_number(value)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str) -> str:
        try:
            return normalise_postcode(value)
        except PostcodeError as error:
            raise ValueError(str(error)) from error

    @model_validator(mode="after")
    def _in_england(self) -> Self:
        south, north, west, east = ENGLAND_BOUNDS
        if not (south <= self.latitude <= north and west <= self.longitude <= east):
            raise ValueError(f"coordinates ({self.latitude}, {self.longitude}) are outside England")
        return self


class PhoneRecord(Record):
    """A number to call or text."""

    number: str = Field(description="E.164 number or UK short code; normalised on input.", examples=["116123"])
    display: str = Field(
        default="",
        max_length=40,
        description="The same number as people read it (an extension as ' x2'); default: the number's own grouping.",
        examples=["116 123"],
    )
    type: PhoneType = Field(default=PhoneType.voice, description="How the number is used: voice, text, etc.")
    description: str = Field(
        default="", description="When and for what to use this number.", examples=["Free, 24 hours a day."]
    )

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any, info: ValidationInfo) -> Any:
        # Numbers read back from the store were normalised on the way in; parsing them again costs ~30 µs each.
        stored = bool(info.context and info.context.get("stored"))
        if not stored and isinstance(data, dict) and isinstance(data.get("number"), str):
            try:
                phone = normalise_phone(data["number"])
            except PhoneError as error:
                raise FieldValueError(str(error), field="number", value=data["number"]) from error
            display = data.get("display") or phone.display
            # The stored number has no extension (E.164): the display's is the one the tel: link dials, so one that
            # differs from the number's would ring another desk, and one left out the switchboard.
            if phone.extension and isinstance(display, str) and display_extension(display) != phone.extension:
                raise FieldValueError(
                    f"display {display!r} does not show the extension {phone.extension} that number "
                    f"{data['number']!r} has: write it as {phone.display!r}",
                    field="display",
                    value=display,
                )
            data = {**data, "number": phone.number, "display": display}
        return data

    @field_validator("display")
    @classmethod
    def _reads_as_number(cls, display: str, info: ValidationInfo) -> str:
        # The display is what an adviser reads aloud and what the page prints beside the tel: link: it must be the
        # same number, or the person is told one number while the link dials another. An extension (' x2') is
        # kept for the link (tel_uri).
        number = info.data.get("number")
        if (info.context and info.context.get("stored")) or not display or number is None:
            return display
        extension = display_extension(display)
        written = display.removesuffix(f" x{extension}") if extension else display
        try:
            shown = normalise_phone(written)
        except PhoneError:
            shown = None
        if shown is None or shown.number != number:
            raise ValueError(
                f"display {display!r} does not read as the number {number}: write that number as people read it "
                f"(e.g. {normalise_phone(number).display!r}); words about it go in the description"
            )
        if shown.extension:
            # 'ext. 2' or '#2' is read aloud, but the link dials only ' x2': the desk would not be reached.
            raise ValueError(
                f"display {display!r} writes its extension in a form the call link does not dial: write it as "
                f"' x{shown.extension}' at the end ({shown.display!r})"
            )
        return display


class CatchmentRecord(Record):
    """Where people must live (or be) for the service to accept them."""

    type: CatchmentType = Field(description="'england' (anyone in England), 'districts' or 'polygon'.")
    districts: list[DistrictCode] = Field(
        default_factory=list, description="With type 'districts': the local-authority districts covered."
    )
    geojson: dict[str, Any] | None = Field(default=None, description="A GeoJSON Polygon or MultiPolygon (WGS84).")

    @field_validator("geojson")
    @classmethod
    def _polygon(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        kind, coordinates = value.get("type"), value.get("coordinates")
        if kind not in ("Polygon", "MultiPolygon"):  # a tuple: `kind` may be any JSON value, lists included
            raise ValueError(f"catchment geojson must be a GeoJSON Polygon or MultiPolygon, not {kind!r:.40}")
        if problem := _polygon_problem(kind, coordinates):
            raise ValueError(f"catchment GeoJSON {kind}: {problem}")
        # Only the shape is kept: search and coverage read nothing else, and a foreign member could nest deeper than
        # the store's JSON writer goes.
        return {"type": kind, "coordinates": coordinates}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type is CatchmentType.districts and not self.districts:
            raise ValueError("catchment type 'districts' needs at least one district code")
        if self.type is CatchmentType.polygon and self.geojson is None:
            raise ValueError("catchment type 'polygon' needs a GeoJSON Polygon or MultiPolygon, not None")
        return self


def _polygon_problem(kind: str, coordinates: Any) -> str | None:
    """What stops search reading these coordinates as rings of [longitude, latitude] (RFC 7946), or None."""
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        return "coordinates must be a non-empty array"
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return "each polygon must be a non-empty array of rings"
        for ring in polygon:
            # Rings are closed implicitly (RFC 7946 asks for the first position again at the end; search does not).
            if not isinstance(ring, list) or len(ring) < 3:
                return "each ring must be an array of at least three positions"
            for position in ring:
                if not (
                    isinstance(position, list)
                    and len(position) == 2
                    and all(type(n) in (int, float) and math.isfinite(n) for n in position)
                    and -180 <= position[0] <= 180
                    and -90 <= position[1] <= 90
                ):
                    return "each position must be [longitude, latitude], two numbers in WGS84"
    return None


class EligibilityRecord(Record):
    """Who a service accepts. `None` means the directory does not know; it never means 'no'."""

    minimum_age: int | None = Field(
        default=None, ge=0, le=120, description="Youngest age accepted, in years; None: no lower limit known."
    )
    maximum_age: int | None = Field(
        default=None, ge=0, le=120, description="Oldest age accepted, in years; None: no upper limit known."
    )
    genders: list[Gender] = Field(default_factory=list, description="Empty: open to everyone.")
    catchment: CatchmentRecord | None = Field(default=None, description="None: catchment unknown.")
    gp_registration_required: bool | None = Field(
        default=None, description="The person must be registered with a GP; None: unknown."
    )
    referral_routes: list[ReferralRoute] | None = Field(default=None, description="None: routes unknown.")
    accepts_intoxicated: bool | None = Field(
        default=None, description="Sees people who have been drinking or using drugs now; None: unknown."
    )
    accepts_substance_use: bool | None = Field(
        default=None, description="Sees people who use drugs or alcohol; None: unknown."
    )
    description: str = Field(default="", description="Eligibility in the service's own words.")

    @field_validator("minimum_age", "maximum_age", mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        return plain_number(value)

    @model_validator(mode="after")
    def _ages(self) -> Self:
        if self.minimum_age is not None and self.maximum_age is not None and self.minimum_age > self.maximum_age:
            raise FieldValueError(
                f"minimum_age {self.minimum_age} is greater than maximum_age {self.maximum_age}",
                field="maximum_age",
                value=self.maximum_age,
            )
        return self


class AccessRecord(Record):
    """How people reach the service and what it offers to make that possible."""

    contact_modes: list[ContactMode] = Field(
        default_factory=list, description="Ways to make contact: walk in, phone, text, online, ..."
    )
    accessibility: dict[AccessFeature, bool] = Field(
        default_factory=dict, description="true: available; false: not available; absent: unknown."
    )
    languages: list[LanguageCode] = Field(
        default_factory=list,
        description="Languages spoken by staff (ISO 639-1, or ISO 639-3 where a language has no ISO 639-1 code).",
    )
    cost: Cost | None = Field(default=None, description="Whether the service is free; None: unknown.")
    fees_description: str = Field(default="", description="Any charges, in words.")
    typical_wait_days: int | None = Field(
        default=None, ge=0, le=730, description="Usual wait for a first contact, in days; None: unknown."
    )

    @field_validator("languages")
    @classmethod
    def _each_language_once(cls, value: list[str]) -> list[str]:
        # pan is stored as pa: a record listing both would list Panjabi twice (two HSDS rows with one id).
        return list(dict.fromkeys(value))

    @field_validator("typical_wait_days", mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        return plain_number(value)


class ProvenanceRecord(Record):
    """Where the record came from and when a person last checked it."""

    source_name: str = Field(
        min_length=1, max_length=200, description="'demo' marks demonstration data, never a real listing."
    )
    source_url: str | None = Field(
        default=None,
        description="Where the information was published (http or https).",
        examples=["https://example.org/"],
    )
    verified_at: RecordInstant | None = Field(default=None, description="When a person last checked this record.")
    verify_due: RecordDate | None = Field(default=None, description="After this date the record counts as stale.")

    @field_validator("source_url")
    @classmethod
    def _web_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Published as a link (HSDS attributes, /v1/services): a `javascript:` one must never be stored. Records
        # stored before this check are read as they are (refusing them would make them unreadable).
        stored = bool(info.context and info.context.get("stored"))
        if value is not None and not stored and not re.fullmatch(WEB_ADDRESS_PATTERN, value):
            raise ValueError(f"source_url {value!r:.80} must be an http or https address")
        return value

    @field_validator("verified_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Held in UTC, as stored: one instant has one form, so saving it again is not a change.
        return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


class TimeRangeRecord(Record):
    """Opening and closing times, HH:MM, Europe/London local time."""

    opens_at: str = Field(description="Opening time, 'HH:MM' local time.", examples=["18:00"])
    closes_at: str = Field(examples=["02:00"], description="'24:00' means midnight; earlier than opens_at: next day.")

    @field_validator("opens_at", "closes_at")
    @classmethod
    def _clock_time(cls, value: str, info: ValidationInfo) -> str:
        # Checked here, on the field, so a refusal names `schedules.0.sessions.2.opens_at` and its value rather
        # than the whole schedule (the schedule's own check would find it too, without saying where).
        if info.context and info.context.get("stored"):
            return value
        try:
            parse_hhmm(value, is_close=info.field_name == "closes_at")
        except ScheduleError as error:
            raise ValueError(str(error)) from error
        return value

    def to_domain(self) -> TimeRange:
        return TimeRange(parse_hhmm(self.opens_at), parse_hhmm(self.closes_at, is_close=True))

    @classmethod
    def from_domain(cls, hours: TimeRange) -> TimeRangeRecord:
        return cls(opens_at=format_hhmm(hours.opens), closes_at=format_hhmm(hours.closes))


_DAYS = [name.lower() for name in DAY_NAMES]


class SessionRecord(TimeRangeRecord):
    """One weekly opening session."""

    day: str = Field(description="Day the session starts: monday ... sunday.", examples=["friday"])

    @field_validator("day")
    @classmethod
    def _day(cls, value: str) -> str:
        if value.lower() not in _DAYS:
            raise ValueError(f"day {value!r} is not a day of the week")
        return value.lower()


class ExceptionRecord(Record):
    """Dated change to the usual hours: a closure or different opening times."""

    start_date: RecordDate = Field(description="First day the exception applies.")
    end_date: RecordDate = Field(description="Last day the exception applies (inclusive).")
    closed: bool = Field(default=True, description="Closed on these days; false: open for `hours` instead.")
    hours: list[TimeRangeRecord] = Field(default_factory=list, description="Opening times while closed is false.")
    reason: str = Field(default="", description="Why, as shown to people.", examples=["Staff training"])


class ScheduleRecord(Record):
    """When a service (or one of its locations) is open."""

    id: Identifier
    location_id: Identifier | None = Field(default=None, description="Hours at one location; None: the service.")
    always_open: bool = Field(default=False, description="Open 24 hours, every day, including bank holidays.")
    sessions: list[SessionRecord] = Field(default_factory=list, description="Weekly opening sessions.")
    bank_holidays: BankHolidayPolicy = Field(
        default=BankHolidayPolicy.as_usual,
        description="England bank holidays: 'as_usual', 'closed', or 'special' (open for bank_holiday_hours).",
    )
    bank_holiday_hours: list[TimeRangeRecord] = Field(
        default_factory=list, description="Opening times on bank holidays when bank_holidays is 'special'."
    )
    exceptions: list[ExceptionRecord] = Field(default_factory=list, description="Dated closures and changes.")
    valid_from: RecordDate | None = Field(default=None, description="First day these hours apply; None: already.")
    valid_to: RecordDate | None = Field(default=None, description="Last day these hours apply; None: until changed.")
    notes: str = Field(default="", description="Anything about the hours that does not fit the fields.")

    @model_validator(mode="after")
    def _sound(self) -> Self:
        try:
            schedule = self.to_domain()
        except ScheduleError as error:
            raise ValueError(str(error)) from error
        if problems := schedule.problems():
            raise ValueError("; ".join(problems))
        return self

    def to_domain(self) -> WeeklySchedule:
        return WeeklySchedule(
            sessions=tuple(Session(_DAYS.index(s.day), s.to_domain()) for s in self.sessions),
            always_open=self.always_open,
            bank_holidays=self.bank_holidays,
            bank_holiday_hours=tuple(h.to_domain() for h in self.bank_holiday_hours),
            exceptions=tuple(
                DatedException(
                    start=e.start_date,
                    end=e.end_date,
                    closed=e.closed,
                    hours=tuple(h.to_domain() for h in e.hours),
                    reason=e.reason,
                )
                for e in self.exceptions
            ),
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            notes=self.notes,
        )

    @classmethod
    def from_domain(cls, *, id: str, location_id: str | None, schedule: WeeklySchedule) -> ScheduleRecord:
        return cls(
            id=id,
            location_id=location_id,
            always_open=schedule.always_open,
            sessions=[
                SessionRecord(
                    day=_DAYS[s.day],
                    opens_at=format_hhmm(s.hours.opens),
                    closes_at=format_hhmm(s.hours.closes),
                )
                for s in schedule.sessions
            ],
            bank_holidays=schedule.bank_holidays,
            bank_holiday_hours=[TimeRangeRecord.from_domain(h) for h in schedule.bank_holiday_hours],
            exceptions=[
                ExceptionRecord(
                    start_date=e.start,
                    end_date=e.end,
                    closed=e.closed,
                    hours=[TimeRangeRecord.from_domain(h) for h in e.hours],
                    reason=e.reason,
                )
                for e in schedule.exceptions
            ],
            valid_from=schedule.valid_from,
            valid_to=schedule.valid_to,
            notes=schedule.notes,
        )


class ServiceRecord(Record):
    """One directory entry, fully nested: the native import format and the body of editor writes."""

    model_config = ConfigDict(json_schema_extra={"examples": [SERVICE_RECORD_EXAMPLE]})

    id: Identifier
    name: str = Field(min_length=1, max_length=200, description="The service's name.", examples=["Leeds Crisis Café"])
    organisation: OrganisationRecord = Field(description="Who runs the service.")
    description: str = Field(default="", description="What the service offers, in plain words.")
    url: str | None = Field(
        default=None, pattern=WEB_ADDRESS_PATTERN, description="The service's own web page (http or https)."
    )
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN, description="Contact address for the service.")
    status: ServiceStatus = Field(
        default=ServiceStatus.active, description="Whether the service is running; only active ones are searched."
    )
    alert: str = Field(default="", description="A short notice shown with the service, e.g. a temporary change.")
    kind: ServiceKind = Field(description="What sort of service this is.")
    needs: list[Need] = Field(default_factory=list, description="Needs this service is set up to help with.")
    safety_net: bool = Field(default=False, description="A national line always shown as a safety net.")
    eligibility: EligibilityRecord = Field(default_factory=EligibilityRecord, description="Who it accepts.")
    access: AccessRecord = Field(default_factory=AccessRecord, description="How to reach it.")
    locations: list[LocationRecord] = Field(
        default_factory=list, description="Places to visit; empty for phone and online services."
    )
    phones: list[PhoneRecord] = Field(default_factory=list, description="Numbers to call or text.")
    schedules: list[ScheduleRecord] = Field(default_factory=list, description="Opening hours; empty: unknown.")
    provenance: ProvenanceRecord = Field(description="Where the record came from and when it was checked.")

    @model_validator(mode="before")
    @classmethod
    def _text_it_can_hold(cls, data: Any, info: ValidationInfo) -> Any:
        # PostgreSQL text and JSON cannot hold the NUL character: a record holding one would be refused by the
        # production store with a 500, while SQLite kept it (and an export from SQLite would not import there).
        # Text longer than a CSV cell (MAX_TEXT) is no name, notice or description: an alert of a megabyte went
        # out with every search answer near the service. Records read back from the store were checked on the way
        # in: the walk (a quarter of validating a record) is not repeated for every record of every index build, and
        # a record stored before the length was checked is still read.
        if info.context and info.context.get("stored"):  # as PhoneRecord._normalise
            return data
        found = _bad_text_at(data, "")
        if found is not None:
            where, text, problem = found
            raise FieldValueError(f"{where or 'the record'}: {problem}", field=where, value=text)
        return data

    @model_validator(mode="after")
    def _references(self) -> Self:
        location_ids = [loc.id for loc in self.locations]
        if (repeat := _first_repeat(location_ids)) is not None:
            raise FieldValueError(
                f"location ids repeat: {sorted(location_ids)}",
                field=f"locations.{repeat}.id",
                value=location_ids[repeat],
            )
        schedule_ids = [s.id for s in self.schedules]
        if (repeat := _first_repeat(schedule_ids)) is not None:
            raise FieldValueError(
                f"schedule ids repeat: {sorted(schedule_ids)}",
                field=f"schedules.{repeat}.id",
                value=schedule_ids[repeat],
            )
        for position, schedule in enumerate(self.schedules):
            if schedule.location_id is not None and schedule.location_id not in location_ids:
                raise FieldValueError(
                    f"schedule {schedule.id!r} names location {schedule.location_id!r}, not listed",
                    field=f"schedules.{position}.location_id",
                    value=schedule.location_id,
                )
        return self

    @property
    def is_demo(self) -> bool:
        return self.provenance.source_name == "demo"

    def hours_at(self, location_id: str | None) -> list[ScheduleRecord]:
        """The schedules that give a site its hours: its own when it has any, else the service's (HSDS: a schedule
        on a service-at-location overrides the service's); a service with no location keeps the service's.

        A site's own hours still keep the service's dated closures: "the service closes over Christmas", recorded
        once on the service's hours, closes every site. Read as overridden, a site with its own evening hours showed
        open through the closure. (The service's special openings and bank-holiday policy are not carried over:
        they could only add hours the site never said it keeps.)"""
        wide = [s for s in self.schedules if s.location_id is None]
        own = [s for s in self.schedules if location_id is not None and s.location_id == location_id]
        if not own:
            return wide
        closures = [e for s in wide for e in s.exceptions if e.closed]
        if not closures:
            return own
        return [s.model_copy(update={"exceptions": [*s.exceptions, *closures]}) for s in own]


def _first_repeat(ids: list[str]) -> int | None:
    """The position of the first id that repeats an earlier one, or None."""
    seen: set[str] = set()
    for position, ident in enumerate(ids):
        if ident in seen:
            return position
        seen.add(ident)
    return None


# The longest text a record may hold: the longest cell the CSV importer can read (Python's csv field_size_limit),
# so a JSON file is held to what a CSV file is.
MAX_TEXT = 131_072


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text must not contain the NUL character (\\u0000)"
    if len(text) > MAX_TEXT:
        return f"a text may hold at most {MAX_TEXT:,} characters, as a CSV cell can; this one has {len(text):,}"
    return None


def _bad_text_at(value: Any, path: str) -> tuple[str, str, str] | None:
    """The dotted path, the text and what is wrong with it, for the first text (a value, or a key) holding NUL or
    longer than MAX_TEXT; None when there is none."""
    if isinstance(value, str):
        problem = _text_problem(value)
        return (path, value, problem) if problem else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and (problem := _text_problem(key)):
            return here, key, problem
        found = _bad_text_at(item, here)
        if found is not None:
            return found
    return None


_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    return _SLUG_STRIP.sub("-", text.lower()).strip("-")[:80].strip("-")


class ServicePublic(ServiceRecord):
    """A directory entry as the API returns it: the record plus what the service derives about it."""

    model_config = ConfigDict(json_schema_extra={"examples": [SERVICE_PUBLIC_EXAMPLE]})

    kind_label: str = Field(description="The service kind in words.", examples=["Crisis café, safe haven or sanctuary"])
    mhsds_team_type: str | None = Field(
        description="NHS Mental Health Services Data Set team type for this kind, where one exists.", examples=["A21"]
    )
    demo: bool = Field(description="Demonstration data: not a real service. Always show this label.")
    stale: bool = Field(description="Never verified, or past its review date: do not present as verified.")
    created_at: datetime = Field(description="When the record entered the directory.")
    last_modified: datetime = Field(description="When the record last changed.")
    revision: int = Field(description="Bumped on every change.")


class RemovedService(BaseModel):
    """A service removed from the directory: drop any copy of it."""

    id: str = Field(description="The removed service's id.", examples=["leeds-hearing-voices-group"])
    removed_at: datetime = Field(description="When it was removed (UTC).", examples=["2026-11-24T12:00:00Z"])


class ServicePage(BaseModel):
    """One page of directory services, in id order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"total_items": 590, "page": 1, "per_page": 1, "total_pages": 590, "items": [SERVICE_PUBLIC_EXAMPLE]}
            ]
        }
    )

    total_items: int = Field(description="Services matching the filters, across all pages.")
    page: int = Field(ge=1, description="This page's number, from 1.")
    per_page: int = Field(ge=1, description="Services per page, as requested.")
    total_pages: int = Field(description="How many pages there are at this page size.")
    items: list[ServicePublic] = Field(description="The services on this page.")
    unreadable: list[str] = Field(
        default_factory=list,
        description="Ids of services on this page stored in a form that can no longer be read (left out of `items` "
        "until an editor repairs them; GET one for the fields at fault). Usually empty.",
        examples=[[]],
    )
    removed: list[RemovedService] = Field(
        default_factory=list,
        description="With `modified_after`, on page 1 only: services removed from the directory after that instant "
        "(of `kind`, if given, and with `kind` also those that moved to another kind since, from when they moved), "
        "oldest first. A client that keeps a copy of the directory must drop them: a removed crisis service must not "
        "go on being offered. Empty without `modified_after`, and on later pages.",
        examples=[[]],
    )


class Health(BaseModel):
    """The process's health."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = Field(description="'ok' when the process is serving.", examples=["ok"])


# --- search -----------------------------------------------------------------------------------------------------


class Referral(StrEnum):
    """Who is searching: the person themselves, or a professional who can refer."""

    # self: the person is looking for themselves (walk-in or self-referral only); professional: a clinician can refer.
    self = "self"
    professional = "professional"


class Referrer(StrEnum):
    """Who is referring, when a professional searches: the named referral routes a service may take."""

    gp = "gp"
    nhs_111 = "nhs_111"
    emergency_department = "emergency_department"
    crisis_team = "crisis_team"


class PersonSex(StrEnum):
    """Sex, for services that accept one sex only."""

    female = "female"
    male = "male"


class PersonGender(StrEnum):
    """Gender, for services for one gender."""

    woman = "woman"
    man = "man"
    non_binary = "non_binary"


OPEN_PATTERN = r"^(now|any|within:([1-9]\d{0,3}))$"
# What each pattern here asks for, in words: an error says this, never the regular expression (api/problems.py).
PATTERN_HINTS = {
    ID_PATTERN: "lower-case letters, digits and hyphens, 1 to 80 characters, such as leeds-crisis-cafe",
    DISTRICT_PATTERN: "an ONS code of a district in England (E06, E07, E08 or E09 and six digits), such as E08000035",
    LANGUAGE_PATTERN: "an ISO 639-1 or ISO 639-3 language code in lower case, such as en or syl",
    WEB_ADDRESS_PATTERN: "a web address beginning http:// or https://, with no spaces",
    EMAIL_PATTERN: "an email address, such as info@example.org",
    OPEN_PATTERN: "now, any, or within:<minutes> (1 to 9999), such as within:120",
}


class SearchRequest(BaseModel):
    """Who is looking for help, where, and when: the same fields as GET /v1/search's query string."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)  # as Record's

    # The documented range is England's box (ENGLAND_BOUNDS): a point outside it is refused with 422.
    lat: float | None = Field(
        default=None,
        ge=-90,
        le=90,
        description="WGS84 latitude, in England; give with lon, not with postcode.",
        json_schema_extra={"minimum": ENGLAND_BOUNDS[0], "maximum": ENGLAND_BOUNDS[1]},
        examples=[53.8],
    )
    lon: float | None = Field(
        default=None,
        ge=-180,
        le=180,
        description="WGS84 longitude, in England; give with lat, not with postcode.",
        json_schema_extra={"minimum": ENGLAND_BOUNDS[2], "maximum": ENGLAND_BOUNDS[3]},
        examples=[-1.55],
    )
    postcode: str | None = Field(
        default=None, max_length=10, description="Full postcode or postcode district (e.g. 'LS1 1UR' or 'LS1')."
    )
    radius_km: float = Field(default=25, gt=0, le=200, description="How far to look, straight line (max 200).")
    at: IsoDateTime | None = Field(
        default=None,
        description="Instant to search for (ISO 8601); default now. Without an offset it is London wall time, and "
        "the echo in `query.request.at` gives it with London's offset (a wall time the clocks skip in March is the "
        "instant an unchanged clock would show: 01:30 is 02:30+01:00).",
    )
    open: str = Field(
        default="now",
        pattern=OPEN_PATTERN,
        description="'now' (open at `at`), 'within:<minutes>' (open at some point in the next minutes, max 9999), "
        "or 'any'.",
        examples=["now", "within:120", "any"],
    )
    age: int | None = Field(default=None, ge=0, le=120, description="The person's age in years.")
    sex: PersonSex | None = Field(default=None, description="Sex, for services that accept one sex only.")
    gender: PersonGender | None = Field(default=None, description="Gender, for services for one gender.")
    needs: list[Need] = Field(
        default_factory=list, max_length=20, description="What the person needs help with; ranks matches higher."
    )
    intoxicated: bool | None = Field(default=None, description="Has been drinking or using drugs now.")
    uses_substances: bool | None = Field(
        default=None,
        description="Uses drugs or alcohol. Not given, it is taken as true when `needs` names substance_use, alcohol "
        "or dual_diagnosis (the echo in `query.request` says so): a service that does not see people who use drugs "
        "or alcohol is not for someone asking for help with them.",
    )
    referral: Referral = Field(
        default=Referral.self,
        description="'self': the person looking for themselves (self-referral or walk-in only); "
        "'professional': a clinician who can refer.",
    )
    referrer: Referrer | None = Field(
        default=None,
        description="With referral=professional: who is referring (an NHS 111 call handler, an A&E clinician, a GP, "
        "the crisis team). A service taking referrals only from named referrers is then 'pass' or 'fail' on its "
        "referral route; without it, 'unknown' ('check that you can refer').",
        examples=["nhs_111"],
    )
    modes: list[ContactMode] = Field(
        default_factory=list,
        max_length=4,
        description="Any of these ways in: those a record lists, in_person to a place to go, phone to a line that "
        "records none.",
    )
    access: list[AccessFeature] = Field(
        default_factory=list,
        max_length=8,
        description=(
            "All of these are required, as the service's record confirms them. Features of premises (step_free, "
            "wheelchair, accessible_toilet, hearing_loop, quiet_space, women_only_space) do not leave out a phone, "
            "text or online service, which has no premises; bsl and interpreters apply to every service."
        ),
    )
    language: RequestedLanguage | None = Field(
        default=None, description="A language staff must speak (ISO 639-1, or ISO 639-3: pa and pan both find Panjabi)."
    )
    kinds: list[ServiceKind] = Field(default_factory=list, max_length=20, description="Only these kinds of service.")
    limit: int = Field(default=10, ge=1, le=50, description="Most results to return (max 50).")
    explain: bool = Field(default=False, description="Also list nearby services left out, with the reasons.")

    @field_validator("lat", "lon", "radius_km", "age", "limit", mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        return plain_number(value)

    @field_validator("at")
    @classmethod
    def _london(cls, value: datetime | None) -> datetime | None:
        # Echoed in `query.request.at` as `format: date-time`, which needs an offset: a wall time becomes the
        # London instant the search used, never a time a strict client cannot read.
        return to_london(value) if value is not None and value.tzinfo is None else value

    @field_validator("needs", "modes", "access", "kinds", mode="before")
    @classmethod
    def _repeats_do_not_count(cls, values: Any) -> Any:
        # Before the length limits: all four modes with one repeated is four modes, not five.
        if isinstance(values, list):
            with contextlib.suppress(TypeError):  # unhashable items: validation names them
                return list(dict.fromkeys(values))
        return values

    @field_validator("needs", "modes", "access", "kinds")
    @classmethod
    def _once_each(cls, values: list[StrEnum]) -> list[StrEnum]:
        # A value given twice means the same as once: it must not count twice in the score or the reasons.
        return list(dict.fromkeys(values))

    @model_validator(mode="after")
    def _where(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            missing = "lon" if self.lon is None else "lat"
            raise FieldValueError("give both lat and lon, or neither", field=missing, value=None)
        if self.lat is not None and self.postcode is not None:
            raise FieldValueError("give a postcode or lat/lon, not both", field="postcode", value=self.postcode)
        if self.referrer is not None and self.referral is not Referral.professional:
            raise FieldValueError(
                "a referrer refers for someone else: give referral=professional with it",
                field="referrer",
                value=self.referrer.value,
            )
        if self.uses_substances is None and SUBSTANCE_NEEDS.intersection(self.needs):
            # Help with drugs or alcohol is asked for by someone who uses them: read as not asked, a café recording
            # that it does not see people who use drugs or alcohol was "eligible" for them (the search page has no
            # box of its own for it, only these needs). Given as false, the caller's word stands.
            self.uses_substances = True
        return self

    @property
    def open_within_minutes(self) -> int | None:
        """None for 'any'; 0 for 'now'."""
        if self.open == "any":
            return None
        return 0 if self.open == "now" else int(self.open.removeprefix("within:"))


class ResolvedLocation(BaseModel):
    """Where the search was centred."""

    latitude: float = Field(description="WGS84 latitude of the centre.")
    longitude: float = Field(description="WGS84 longitude of the centre.")
    source: str = Field(description="'coordinates', 'postcode' or 'postcode_district'.", examples=["postcode"])
    postcode: str | None = Field(default=None, description="The postcode (or district) as normalised.")
    district_code: str | None = Field(
        default=None,
        description=(
            "Local-authority district, used for catchments; for a postcode district that spans several, the one "
            "most of its postcodes are in (all of them are in district_codes)."
        ),
    )
    district_name: str | None = Field(default=None, description="The district's name.", examples=["Leeds"])
    district_codes: list[str] = Field(
        default_factory=list,
        description=(
            "Every local-authority district the location may be in: one for a postcode; for coordinates, the "
            "nearest postcode's and any other with a postcode nearly as near (near a boundary, or far from any "
            "postcode); for a postcode district (BA3) all those its postcodes are in. A district catchment passes "
            "only if it lists "
            "all of them, fails if it lists none, and is 'unknown' otherwise; local crisis lines of each are "
            "offered."
        ),
        examples=[["E06000022", "E06000066"]],
    )
    country: str | None = Field(
        default=None,
        description=(
            "'england', 'wales' or 'scotland': the country of the postcode, or for coordinates of the nearest "
            "postcode; None when not known. Coordinates whose nearest postcode is outside England are still "
            "answered (a border is not a reason to refuse someone in crisis), but England-wide catchments are then "
            "'unknown' rather than passed."
        ),
        examples=["england"],
    )


class QueryEcho(BaseModel):
    """The search as the server understood it."""

    request: SearchRequest = Field(description="The request as understood, with defaults filled in.")
    location: ResolvedLocation | None = Field(description="Where the search was centred; None: no location given.")
    at: datetime = Field(description="The instant used, Europe/London.")


class Verdict(StrEnum):
    """Overall eligibility: eligible, check (something unknown), or ineligible."""

    eligible = "eligible"
    check = "check"
    ineligible = "ineligible"


class CriterionResult(StrEnum):
    """The outcome of one eligibility criterion."""

    passed = "pass"
    failed = "fail"
    unknown = "unknown"


class Criterion(BaseModel):
    """One eligibility check and its outcome."""

    criterion: str = Field(
        description="What was checked: one of 'age', 'gender', 'catchment', 'referral', 'intoxicated', "
        "'substance_use', 'gp_registration' (a new check may be added: show its reason as given).",
        examples=["age"],
    )
    result: CriterionResult = Field(description="'pass', 'fail', or 'unknown' (the directory does not say).")
    reason: str = Field(description="The outcome in words.", examples=["accepts people aged 18 and over"])


class Eligibility(BaseModel):
    """Whether the person can use the service, criterion by criterion."""

    verdict: Verdict = Field(
        description="eligible: every criterion passes; check: some unknown; ineligible: one fails."
    )
    criteria: list[Criterion] = Field(description="Each criterion checked, with its result and reason.")


class ServiceSummary(BaseModel):
    """What a search result needs to show about a service; GET /v1/services/{id} has the rest."""

    id: str = Field(description="The service's id in the directory.", examples=["samaritans"])
    name: str = Field(description="The service's name.")
    kind: ServiceKind = Field(description="What sort of service this is.")
    kind_label: str = Field(description="The service kind in words.")
    organisation: str = Field(description="Name of the organisation that runs it.")
    phones: list[PhoneRecord] = Field(description="Numbers to call or text.")
    url: str | None = Field(description="The service's web page.")
    address: str | None = Field(description="Address of the location this result is about; None for phone/online.")
    postcode: str | None = Field(description="Postcode of that location; None for phone/online.")
    latitude: float | None = Field(description="WGS84 latitude of that location; None for phone/online.")
    longitude: float | None = Field(description="WGS84 longitude of that location; None for phone/online.")
    accessibility: dict[AccessFeature, bool] = Field(
        description="true: available; false: not available; absent: unknown."
    )
    contact_modes: list[ContactMode] = Field(description="Ways to make contact.")
    alert: str = Field(description="A short notice to show with the service; empty when none.")
    demo: bool = Field(description="Demonstration data, not a real service: always show this label.")


class Travel(BaseModel):
    """A rough travel estimate to a walk-in location."""

    mode: str = Field(
        description="How the estimate assumes the person travels: 'walking' (up to 2 km, straight line) or "
        "'public transport or car'.",
        examples=["walking"],
    )
    minutes: int = Field(description="Estimated from straight-line distance at an assumed speed: an estimate only.")
    arrives_before_close: bool | None = Field(description="None when it does not close soon or is not open.")


class SearchResult(BaseModel):
    """One service that is open (or opens soon enough), eligible or worth checking, and within reach."""

    rank: int = Field(description="Position in the results, from 1.")
    score: float = Field(description="Ranking score; higher ranks first. Compare within one response only.")
    service: ServiceSummary = Field(description="The service.")
    distance_km: float | None = Field(description="Straight-line distance, not route distance; None for remote.")
    distance_basis: str = Field(default="straight line", description="Always 'straight line'.")
    travel: Travel | None = Field(description="Travel estimate to a walk-in location; None for phone/online.")
    open_now: bool = Field(description="Open at the search instant.")
    closes_at: datetime | None = Field(description="When it next closes; None when it does not close soon.")
    opens_next_at: datetime | None = Field(description="When it next opens, if it is closed now.")
    hours_today: str = Field(description="Today's hours in words.", examples=["Open today 6pm to 2am"])
    eligibility: Eligibility = Field(description="Whether the person can use it, and why.")
    match_reasons: list[str] = Field(
        description="Why it was ranked here, in words.", examples=[["open now until 02:00", "you can refer yourself"]]
    )
    verified_at: datetime | None = Field(description="When a person last checked the record; None: never.")
    stale: bool = Field(description="Never verified or past its review date: do not present as verified.")


class SafetyNetEntry(BaseModel):
    """A line that is always there: 999, NHS 111 option 2, Samaritans, Shout, and any local 24/7 line."""

    id: str = Field(description="The line's id in the directory.", examples=["samaritans"])
    name: str = Field(description="The line's name.", examples=["Samaritans"])
    phones: list[PhoneRecord] = Field(description="Numbers to call or text.")
    description: str = Field(description="When to use this line.")
    hours: str = Field(description="Opening hours in words.", examples=["24 hours, every day"])
    local: bool = Field(description="A local 24/7 line whose catchment covers the location.")
    demo: bool = Field(
        default=False,
        description="Demonstration data: a fictional line, to be shown labelled as such (never a real number).",
    )
    verified_at: datetime | None = Field(
        default=None,
        description="When a person last checked this line's details; None for the built-in list, used only when "
        "the directory holds no national lines.",
    )
    stale: bool = Field(
        default=False,
        description="Past its review date, as a result's `stale`: the number may have changed, so say so.",
    )


class Exclusion(BaseModel):
    """A nearby service that was left out, and why (with explain=true)."""

    id: str = Field(description="The service's id in the directory.")
    name: str = Field(description="The service's name.")
    kind: ServiceKind = Field(description="What sort of service it is.")
    distance_km: float | None = Field(description="Straight-line distance; None for phone/online.")
    reasons: list[str] = Field(
        description="Why it was left out, in words.", examples=[["closed until Fri 04 Dec 18:00"]]
    )


class SearchResponse(BaseModel):
    """Ranked results, the safety net that is never empty, and what the search was."""

    model_config = ConfigDict(json_schema_extra={"examples": [SEARCH_RESPONSE_EXAMPLE]})

    query: QueryEcho = Field(description="The search as understood, with defaults filled in.")
    results: list[SearchResult] = Field(description="Best first; may be empty, the safety net never is.")
    safety_net: list[SafetyNetEntry] = Field(min_length=1, description="Always present, never empty.")
    excluded: list[Exclusion] | None = Field(
        description=(
            "With explain=true: up to 25 services left out, each with every reason: the person's own area's phone "
            "and online services first, then sites nearest first, then services for all of England (lines only for "
            "another area are not listed)."
        )
    )
    data_version: int = Field(description="Directory version searched; moves whenever the directory changes.")
    index_built_at: datetime = Field(description="When this process built the index it searched.")
    stale_index: bool = Field(
        default=False, description="The store could not be reached; answers come from the last index."
    )


# --- errors -----------------------------------------------------------------------------------------------------


class ProblemFieldError(BaseModel):
    """One thing wrong with the request."""

    field: str = Field(
        description="The parameter or body field, dotted for nested ones (e.g. 'locations.0.postcode').",
        examples=["age"],
    )
    value: Any = Field(default=None, description="The value that was refused, as received.", examples=["-3"])
    message: str = Field(description="What is wrong with it.", examples=["Input should be greater than or equal to 0"])


PROBLEM_EXAMPLE: dict[str, Any] = {
    "type": "https://service-finder.invalid/problems/invalid-parameter",
    "title": "A parameter has a value that cannot be used",
    "status": 422,
    "detail": "age '-3': Input should be greater than or equal to 0",
    "instance": "/v1/search",
    "request_id": "6f1c0a9e2b7d4c1e9a3f5b8d7c6e4a21",
    "field": "age",
    "value": "-3",
    "errors": [{"field": "age", "value": "-3", "message": "Input should be greater than or equal to 0"}],
}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (media type application/problem+json). Never a stack trace."""

    # Some problems carry extra members (RFC 9457 section 3.2), e.g. the ETag a write expected.
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [PROBLEM_EXAMPLE]})

    type: str = Field(
        description="A URI naming the kind of problem; stable, so clients can branch on it.",
        examples=["https://service-finder.invalid/problems/not-found"],
    )
    title: str = Field(description="The kind of problem in words; the same for every problem of this type.")
    status: int = Field(ge=100, le=599, description="The HTTP status code, repeated for convenience.")
    detail: str = Field(description="What went wrong with this request, naming the thing and the bad value.")
    instance: str = Field(
        description="The path of the request that failed, as it was sent (percent-encoding kept).",
        examples=["/v1/search"],
    )
    request_id: str | None = Field(
        description="The X-Request-ID of the request; quote it when reporting a problem.",
        examples=["6f1c0a9e2b7d4c1e9a3f5b8d7c6e4a21"],
    )
    field: str | None = Field(
        default=None, description="The parameter or field at fault, when there is one.", examples=["postcode"]
    )
    value: Any = Field(default=None, description="The value at fault, as received, when there is one.")
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="Every field at fault, when the request had more than one thing wrong."
    )
    safety_net: list[SafetyNetEntry] | None = Field(
        default=None,
        description="On every error from /v1/search: the national 24/7 lines (999, NHS 111 option 2, Samaritans, "
        "Shout), so a refused search still gives a person in crisis numbers to call.",
    )


class Readiness(BaseModel):
    """Whether this process can answer searches, and how fresh its answers are."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "store_reachable": True,
                    "index_built": True,
                    "index_stale": False,
                    "data_version": 42,
                    "services": 590,
                    "index_built_at": "2026-11-27T16:58:03Z",
                    "index_age_seconds": 117.4,
                    "store_checked_at": "2026-11-27T16:59:58Z",
                    "gazetteer_loaded": True,
                    "gazetteer_version": "2025.2.0",
                    "unreadable_records": [],
                },
                {
                    "status": "degraded",
                    "store_reachable": True,
                    "index_built": True,
                    "index_stale": False,
                    "data_version": 43,
                    "services": 590,
                    "index_built_at": "2026-11-27T17:02:11Z",
                    "index_age_seconds": 4.2,
                    "store_checked_at": "2026-11-27T17:02:14Z",
                    "gazetteer_loaded": True,
                    "gazetteer_version": "2025.2.0",
                    "unreadable_records": ["leeds-evening-safe-haven"],
                },
                {
                    "status": "not_ready",
                    "store_reachable": False,
                    "index_built": False,
                    "index_stale": True,
                    "data_version": -1,
                    "services": 0,
                    "index_built_at": "2026-11-27T16:58:01Z",
                    "index_age_seconds": 0.4,
                    "store_checked_at": "2026-11-27T16:58:01Z",
                    "gazetteer_loaded": True,
                    "gazetteer_version": "2025.2.0",
                    "unreadable_records": [],
                },
            ]
        }
    )

    status: str = Field(
        description="'ready'; 'degraded' (answering, but the store is unreachable, its newest version could not be "
        "built, or some stored records cannot be read: see `unreadable_records`); 'not_ready'; "
        "'draining' (shutting down: still answering, send new requests elsewhere).",
        examples=["ready"],
    )
    store_reachable: bool = Field(description="The store answered the last data-version poll.")
    index_built: bool = Field(description="A search index has been built from the store at least once.")
    index_stale: bool = Field(description="Answers come from an index the store could not confirm is current.")
    data_version: int = Field(description="The store's data version the index was built from.")
    services: int = Field(description="Services in the index.")
    index_built_at: datetime = Field(description="When the index was built.")
    index_age_seconds: float = Field(description="Seconds since the index was built.")
    store_checked_at: datetime = Field(description="When the store was last polled.")
    gazetteer_loaded: bool = Field(description="The postcode gazetteer is loaded (postcode searches work).")
    gazetteer_version: str | None = Field(description="Code-Point Open dataset version.", examples=["2025.2.0"])
    unreadable_records: list[str] = Field(
        description="Ids of stored services that no longer validate (changed outside the API, say). Search keeps "
        "each one's last readable version, if this process had one; an editor repairs it with PUT.",
        examples=[["leeds-evening-safe-haven"]],
    )
