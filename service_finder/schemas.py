"""API and interchange shapes.

`ServiceRecord` is the one nested shape of a directory entry: the native JSON import format, the body of
editor writes, and (with read-only extras) what the API returns. Every importer converts to it, so
validation is identical whichever way data arrives.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from service_finder.domain.phones import PhoneError, normalise_phone
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
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code.", examples=["en"])]

# A generous box around England (Isles of Scilly to Berwick, Land's End to Lowestoft). The importer
# checks the postcode against the gazetteer too; this only stops swapped or zeroed coordinates.
ENGLAND_BOUNDS = (49.85, 55.82, -6.45, 1.77)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class OrganisationRecord(Record):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class LocationRecord(Record):
    id: Identifier
    name: str = Field(default="", max_length=200)
    address: str = Field(default="", description="Street address, without town and postcode.")
    city: str = ""
    postcode: str = Field(description="Full UK postcode; normalised to upper case with one space.")
    latitude: float = Field(ge=-90, le=90, description="WGS84 latitude.")
    longitude: float = Field(ge=-180, le=180, description="WGS84 longitude.")
    district_code: DistrictCode | None = Field(
        default=None,
        description="Local-authority district; the importer fills it from the gazetteer when missing.",
    )
    description: str = ""

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
    number: str = Field(description="E.164 number or UK short code; normalised on input.", examples=["116123"])
    display: str = Field(default="", description="The number as people read it.", examples=["116 123"])
    type: PhoneType = PhoneType.voice
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any, info: ValidationInfo) -> Any:
        # Numbers read back from the store were normalised on the way in; parsing them again costs ~30 µs each.
        stored = bool(info.context and info.context.get("stored"))
        if not stored and isinstance(data, dict) and isinstance(data.get("number"), str):
            try:
                phone = normalise_phone(data["number"])
            except PhoneError as error:
                raise ValueError(str(error)) from error
            data = {**data, "number": phone.number, "display": data.get("display") or phone.display}
        return data


class CatchmentRecord(Record):
    type: CatchmentType = Field(description="'england' (anyone in England), 'districts' or 'polygon'.")
    districts: list[DistrictCode] = Field(default_factory=list)
    geojson: dict[str, Any] | None = Field(default=None, description="A GeoJSON Polygon or MultiPolygon (WGS84).")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type is CatchmentType.districts and not self.districts:
            raise ValueError("catchment type 'districts' needs at least one district code")
        if self.type is CatchmentType.polygon:
            kind = (self.geojson or {}).get("type")
            if kind not in {"Polygon", "MultiPolygon"}:
                raise ValueError(f"catchment type 'polygon' needs a GeoJSON Polygon or MultiPolygon, not {kind!r}")
        return self


class EligibilityRecord(Record):
    """Who a service accepts. `None` means the directory does not know; it never means 'no'."""

    minimum_age: int | None = Field(default=None, ge=0, le=120)
    maximum_age: int | None = Field(default=None, ge=0, le=120)
    genders: list[Gender] = Field(default_factory=list, description="Empty: open to everyone.")
    catchment: CatchmentRecord | None = Field(default=None, description="None: catchment unknown.")
    gp_registration_required: bool | None = None
    referral_routes: list[ReferralRoute] | None = Field(default=None, description="None: routes unknown.")
    accepts_intoxicated: bool | None = None
    accepts_substance_use: bool | None = None
    description: str = ""

    @model_validator(mode="after")
    def _ages(self) -> Self:
        if self.minimum_age is not None and self.maximum_age is not None and self.minimum_age > self.maximum_age:
            raise ValueError(f"minimum_age {self.minimum_age} is greater than maximum_age {self.maximum_age}")
        return self


class AccessRecord(Record):
    contact_modes: list[ContactMode] = Field(default_factory=list)
    accessibility: dict[AccessFeature, bool] = Field(
        default_factory=dict, description="true: available; false: not available; absent: unknown."
    )
    languages: list[LanguageCode] = Field(default_factory=list)
    cost: Cost | None = None
    fees_description: str = ""
    typical_wait_days: int | None = Field(default=None, ge=0, le=730)


class ProvenanceRecord(Record):
    source_name: str = Field(min_length=1, description="'demo' marks demonstration data, never a real listing.")
    source_url: str | None = None
    verified_at: datetime | None = Field(default=None, description="When a person last checked this record.")
    verify_due: date | None = Field(default=None, description="After this date the record counts as stale.")


class TimeRangeRecord(Record):
    opens_at: str = Field(examples=["18:00"])
    closes_at: str = Field(examples=["02:00"], description="'24:00' means midnight; earlier than opens_at: next day.")

    def to_domain(self) -> TimeRange:
        return TimeRange(parse_hhmm(self.opens_at), parse_hhmm(self.closes_at, is_close=True))

    @classmethod
    def from_domain(cls, hours: TimeRange) -> TimeRangeRecord:
        return cls(opens_at=format_hhmm(hours.opens), closes_at=format_hhmm(hours.closes))


_DAYS = [name.lower() for name in DAY_NAMES]


class SessionRecord(TimeRangeRecord):
    day: str = Field(description="Day the session starts: monday ... sunday.", examples=["friday"])

    @field_validator("day")
    @classmethod
    def _day(cls, value: str) -> str:
        if value.lower() not in _DAYS:
            raise ValueError(f"day {value!r} is not a day of the week")
        return value.lower()


class ExceptionRecord(Record):
    start_date: date
    end_date: date
    closed: bool = True
    hours: list[TimeRangeRecord] = Field(default_factory=list)
    reason: str = ""


class ScheduleRecord(Record):
    id: Identifier
    location_id: Identifier | None = Field(default=None, description="Hours at one location; None: the service.")
    always_open: bool = Field(default=False, description="Open 24 hours, every day, including bank holidays.")
    sessions: list[SessionRecord] = Field(default_factory=list)
    bank_holidays: BankHolidayPolicy = BankHolidayPolicy.as_usual
    bank_holiday_hours: list[TimeRangeRecord] = Field(default_factory=list)
    exceptions: list[ExceptionRecord] = Field(default_factory=list)
    valid_from: date | None = None
    valid_to: date | None = None
    notes: str = ""

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
    id: Identifier
    name: str = Field(min_length=1, max_length=200, examples=["Leeds Crisis Café"])
    organisation: OrganisationRecord
    description: str = ""
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    status: ServiceStatus = ServiceStatus.active
    alert: str = Field(default="", description="A short notice shown with the service, e.g. a temporary change.")
    kind: ServiceKind
    needs: list[Need] = Field(default_factory=list, description="Needs this service is set up to help with.")
    safety_net: bool = Field(default=False, description="A national line always shown as a safety net.")
    eligibility: EligibilityRecord = Field(default_factory=EligibilityRecord)
    access: AccessRecord = Field(default_factory=AccessRecord)
    locations: list[LocationRecord] = Field(default_factory=list)
    phones: list[PhoneRecord] = Field(default_factory=list)
    schedules: list[ScheduleRecord] = Field(default_factory=list)
    provenance: ProvenanceRecord

    @model_validator(mode="after")
    def _references(self) -> Self:
        location_ids = [loc.id for loc in self.locations]
        if len(set(location_ids)) != len(location_ids):
            raise ValueError(f"location ids repeat: {sorted(location_ids)}")
        schedule_ids = [s.id for s in self.schedules]
        if len(set(schedule_ids)) != len(schedule_ids):
            raise ValueError(f"schedule ids repeat: {sorted(schedule_ids)}")
        for schedule in self.schedules:
            if schedule.location_id is not None and schedule.location_id not in location_ids:
                raise ValueError(f"schedule {schedule.id!r} names location {schedule.location_id!r}, not listed")
        return self

    @property
    def is_demo(self) -> bool:
        return self.provenance.source_name == "demo"


_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    return _SLUG_STRIP.sub("-", text.lower()).strip("-")[:80].strip("-")


class ServicePublic(ServiceRecord):
    """A directory entry as the API returns it: the record plus what the service derives about it."""

    kind_label: str = Field(description="The service kind in words.", examples=["Crisis café, safe haven or sanctuary"])
    mhsds_team_type: str | None = Field(
        description="NHS Mental Health Services Data Set team type for this kind, where one exists.", examples=["A21"]
    )
    demo: bool = Field(description="Demonstration data: not a real service. Always show this label.")
    stale: bool = Field(description="Never verified, or past its review date: do not present as verified.")
    created_at: datetime
    last_modified: datetime
    revision: int = Field(description="Bumped on every change.")


class ServicePage(BaseModel):
    total_items: int = Field(description="Services matching the filters, across all pages.")
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    total_pages: int
    items: list[ServicePublic]


class Health(BaseModel):
    status: str = Field(examples=["ok"])


# --- search -----------------------------------------------------------------------------------------------------


class Referral(StrEnum):
    # self: the person is looking for themselves (walk-in or self-referral only); professional: a clinician can refer.
    self = "self"
    professional = "professional"


class PersonSex(StrEnum):
    female = "female"
    male = "male"


class PersonGender(StrEnum):
    woman = "woman"
    man = "man"
    non_binary = "non_binary"


OPEN_PATTERN = r"^(now|any|within:([1-9]\d{0,3}))$"


class SearchRequest(BaseModel):
    """The same fields as GET /v1/search's query string."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lat: float | None = Field(default=None, ge=-90, le=90, description="WGS84 latitude; give with lon.")
    lon: float | None = Field(default=None, ge=-180, le=180, description="WGS84 longitude; give with lat.")
    postcode: str | None = Field(
        default=None, max_length=10, description="Full postcode or postcode district (e.g. 'LS1 1UR' or 'LS1')."
    )
    radius_km: float = Field(default=25, gt=0, le=200, description="How far to look, straight line (max 200).")
    at: datetime | None = Field(default=None, description="Instant to search for (ISO 8601); default now, London.")
    open: str = Field(
        default="now",
        pattern=OPEN_PATTERN,
        description="'now' (open at `at`), 'within:<minutes>' (open at some point in the next minutes, max 9999), "
        "or 'any'.",
        examples=["now", "within:120", "any"],
    )
    age: int | None = Field(default=None, ge=0, le=120, description="The person's age in years.")
    sex: PersonSex | None = None
    gender: PersonGender | None = None
    needs: list[Need] = Field(default_factory=list, max_length=20)
    intoxicated: bool | None = Field(default=None, description="Has been drinking or using drugs now.")
    uses_substances: bool | None = Field(default=None, description="Uses drugs or alcohol.")
    referral: Referral = Referral.self
    modes: list[ContactMode] = Field(default_factory=list, max_length=4, description="Any of these contact modes.")
    access: list[AccessFeature] = Field(default_factory=list, max_length=8, description="All of these are required.")
    language: LanguageCode | None = None
    kinds: list[ServiceKind] = Field(default_factory=list, max_length=20)
    limit: int = Field(default=10, ge=1, le=50)
    explain: bool = Field(default=False, description="Also list nearby services left out, with the reasons.")

    @model_validator(mode="after")
    def _where(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if self.lat is not None and self.postcode is not None:
            raise ValueError("give a postcode or lat/lon, not both")
        return self

    @property
    def open_within_minutes(self) -> int | None:
        """None for 'any'; 0 for 'now'."""
        if self.open == "any":
            return None
        return 0 if self.open == "now" else int(self.open.removeprefix("within:"))


class ResolvedLocation(BaseModel):
    latitude: float
    longitude: float
    source: str = Field(description="'coordinates', 'postcode' or 'postcode_district'.", examples=["postcode"])
    postcode: str | None = None
    district_code: str | None = Field(default=None, description="Local-authority district, used for catchments.")
    district_name: str | None = None


class QueryEcho(BaseModel):
    request: SearchRequest = Field(description="The request as understood, with defaults filled in.")
    location: ResolvedLocation | None = Field(description="Where the search was centred; None: no location given.")
    at: datetime = Field(description="The instant used, Europe/London.")


class Verdict(StrEnum):
    eligible = "eligible"
    check = "check"
    ineligible = "ineligible"


class CriterionResult(StrEnum):
    passed = "pass"
    failed = "fail"
    unknown = "unknown"


class Criterion(BaseModel):
    criterion: str = Field(examples=["age"])
    result: CriterionResult
    reason: str = Field(examples=["accepts people aged 18 and over"])


class Eligibility(BaseModel):
    verdict: Verdict = Field(
        description="eligible: every criterion passes; check: some unknown; ineligible: one fails."
    )
    criteria: list[Criterion]


class ServiceSummary(BaseModel):
    id: str
    name: str
    kind: ServiceKind
    kind_label: str
    organisation: str
    phones: list[PhoneRecord]
    url: str | None
    address: str | None = Field(description="Address of the location this result is about; None for phone/online.")
    postcode: str | None
    latitude: float | None
    longitude: float | None
    accessibility: dict[AccessFeature, bool]
    contact_modes: list[ContactMode]
    alert: str
    demo: bool = Field(description="Demonstration data, not a real service: always show this label.")


class Travel(BaseModel):
    mode: str = Field(examples=["walking"])
    minutes: int = Field(description="Estimated from straight-line distance at an assumed speed: an estimate only.")
    arrives_before_close: bool | None = Field(description="None when it does not close soon or is not open.")


class SearchResult(BaseModel):
    rank: int
    score: float
    service: ServiceSummary
    distance_km: float | None = Field(description="Straight-line distance, not route distance; None for remote.")
    distance_basis: str = Field(default="straight line", description="Always 'straight line'.")
    travel: Travel | None
    open_now: bool
    closes_at: datetime | None
    opens_next_at: datetime | None
    hours_today: str
    eligibility: Eligibility
    match_reasons: list[str]
    verified_at: datetime | None
    stale: bool


class SafetyNetEntry(BaseModel):
    id: str
    name: str
    phones: list[PhoneRecord]
    description: str
    hours: str = Field(examples=["24 hours, every day"])
    local: bool = Field(description="A local 24/7 line whose catchment covers the location.")


class Exclusion(BaseModel):
    id: str
    name: str
    kind: ServiceKind
    distance_km: float | None
    reasons: list[str]


class SearchResponse(BaseModel):
    query: QueryEcho
    results: list[SearchResult]
    safety_net: list[SafetyNetEntry] = Field(min_length=1, description="Always present, never empty.")
    excluded: list[Exclusion] | None = Field(description="With explain=true: nearby services left out, and why.")
    data_version: int
    index_built_at: datetime
    stale_index: bool = Field(
        default=False, description="The store could not be reached; answers come from the last index."
    )
