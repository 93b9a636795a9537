"""Directory records as HL7 FHIR R4 (R4B) resources: HealthcareService, Location, searchset Bundle, OperationOutcome.

Plain JSON-ready dicts, checked in the tests by parsing them with `fhir.resources.R4B`.

- Opening hours: FHIR `time` has no 24:00 and no "next day", so an overnight session is split at midnight
  (Fri 18:00-02:00 -> fri 18:00:00-23:59:59 and sat 00:00:00-02:00:00); 24/7 is `allDay`. Hours are Europe/London
  wall time, as FHIR availableTime is local time.
- The weekly hours are those that apply today (London): FHIR's weekly hours have no dates, so hours that have
  ended or not yet begun are left out of them (hours still to come are stated in words).
- Every stretch of the next HORIZON_DAYS in which those weekly hours say open but the service is closed (a dated
  closure, a bank holiday, a special opening's shorter hours, hours that end, the pass of October's repeated hour a
  session is not open in, read on the wall clock as a client reads them) is a `notAvailable` item with its
  exact `during` period, computed by the opening-hours engine the search uses, so a reader of FHIR alone never
  sees a closed service as open. Openings beyond the weekly hours are in `availabilityExceptions`, in words.
- A service's own hours go on HealthcareService.availableTime; hours kept per location go on that
  Location.hoursOfOperation (a Location without its own hours shows the service's). R4 Location has no
  notAvailable, so a Location states its dated closures in availabilityExceptions.
- `active` is true only for an active service: a temporarily closed one must never read as available.
- Demonstration records carry the meta tag `demo`; records past their review date the tag `stale`, and the
  extensions verified-at and review-due say when a person last checked them and when they are due again.
- An answer from an index that may be behind the store (it could not be read, or its newest version not built)
  carries the meta tag `index-stale`: on the searchset Bundle, or on the resource read (`with_index_stale`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from service_finder import __version__
from service_finder.domain.opening_hours import LONDON, Interval, day_plan, intervals
from service_finder.domain.provenance import is_stale, review_due
from service_finder.domain.schedule import MINUTES_PER_DAY, BankHolidayPolicy, WeeklySchedule
from service_finder.domain.taxonomy import KINDS, REFERRAL_LABELS, CatchmentType, PhoneType, ServiceStatus
from service_finder.schemas import LocationRecord, ScheduleRecord, ServiceRecord
from service_finder.search.index import has_door

FHIR_JSON = "application/fhir+json"
BASE = "https://service-finder.invalid/fhir/"
KIND_SYSTEM = BASE + "CodeSystem/service-kind"
REFERRAL_SYSTEM = BASE + "CodeSystem/referral-route"
TAG_SYSTEM = BASE + "CodeSystem/tags"
SERVICE_ID_SYSTEM = BASE + "NamingSystem/service-id"
LOCATION_ID_SYSTEM = BASE + "NamingSystem/location-id"
# NHS Data Dictionary: SERVICE OR TEAM TYPE FOR MENTAL HEALTH (the MHSDS team type codes, A01...).
MHSDS_TEAM_TYPE_SYSTEM = "https://www.datadictionary.nhs.uk/data_elements/service_or_team_type_for_mental_health"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_SHORTENED = re.compile(r"[a-z0-9-]{55}-[0-9a-f]{8}")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WORDS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_END_OF_DAY = "23:59:59"  # FHIR time stops at 23:59:59; there is no 24:00
_TELECOM = {PhoneType.voice: "phone", PhoneType.text: "sms", PhoneType.textphone: "phone", PhoneType.whatsapp: "other"}


_KEPT = 55  # of a long id's characters, in its FHIR id


def fhir_id(our_id: str) -> str:
    """Our identifiers run to 80 characters, FHIR ids to 64: a long one keeps its start and gains a short hash."""
    if len(our_id) <= 64:
        return our_id
    return f"{our_id[:_KEPT]}-{hashlib.sha256(our_id.encode()).hexdigest()[:8]}"


def shortened_from(resource_id: str) -> str | None:
    """The start of our id that a shortened FHIR id keeps (to look the id up by), or None if it is not one."""
    return resource_id[:_KEPT] if _SHORTENED.fullmatch(resource_id) else None


def is_fhir_id(text: str) -> bool:
    return bool(_FHIR_ID.match(text))


def _time(minutes: int) -> str:
    return _END_OF_DAY if minutes >= MINUTES_PER_DAY else f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def weekly_hours(schedules: Iterable[ScheduleRecord]) -> list[tuple[int, int, int]]:
    """(day 0=Monday, opens, closes) per day, closes at most 1440: overnight sessions split at midnight."""
    pieces: list[tuple[int, int, int]] = []
    for schedule in schedules:
        for session in schedule.sessions:
            day = _WORDS.index(session.day)
            hours = session.to_domain()
            if hours.crosses_midnight:
                pieces.append((day, hours.opens, MINUTES_PER_DAY))
                if hours.closes > 0:
                    pieces.append(((day + 1) % 7, 0, hours.closes))
            else:
                pieces.append((day, hours.opens, hours.closes))
    return sorted(set(pieces))


def _grouped(pieces: Sequence[tuple[int, int, int]]) -> list[tuple[list[str], int, int]]:
    # One availableTime per distinct (opens, closes), listing its days: how FHIR examples write a week.
    groups: dict[tuple[int, int], list[str]] = {}
    for day, opens, closes in pieces:
        groups.setdefault((opens, closes), []).append(_DAYS[day])
    return [(days, opens, closes) for (opens, closes), days in sorted(groups.items(), key=lambda g: g[1][0])]


def _ranges(ranges: Iterable[Any]) -> str:
    return ", ".join(f"{r.opens_at}-{r.closes_at}" for r in ranges)


# Dated changes to the weekly hours (closures, bank holidays, special openings, hours that end or begin) are
# worked out this many days ahead. Answers are not cached (Cache-Control: no-store), so a client reading again
# later sees the next ones.
HORIZON_DAYS = 120
# Openings beyond the weekly hours named one by one in the text, at most.
MAX_EXTRA_OPENINGS = 8


@dataclass(frozen=True, slots=True)
class Hours:
    """What FHIR can say of a set of schedules, from `today` on.

    The weekly hours are those that apply today (a schedule that has ended or not yet begun is left out: FHIR's
    availableTime has no dates, and a reader takes it to be the hours now). Every stretch of the coming
    HORIZON_DAYS in which those weekly hours say open but the service is closed (a closure, a bank holiday, a
    special opening, hours that end) is a dated `unavailable` period, so no reader of the weekly hours alone
    sees a closed service as open; openings beyond them are stated in `notes`."""

    always_open: bool
    weekly: list[tuple[int, int, int]]  # weekly_hours pieces; empty when always open or none apply
    unavailable: list[dict[str, Any]]  # notAvailable items, each with its `during` period
    notes: list[str]

    def available_time(self) -> list[dict[str, Any]]:
        """HealthcareService.availableTime."""
        return self._week("availableStartTime", "availableEndTime")

    def hours_of_operation(self) -> list[dict[str, Any]]:
        """Location.hoursOfOperation: the same week, under R4's other names for its times."""
        return self._week("openingTime", "closingTime")

    def _week(self, opens_at: str, closes_at: str) -> list[dict[str, Any]]:
        if self.always_open:
            return [{"daysOfWeek": list(_DAYS), "allDay": True}]
        return [
            {"daysOfWeek": days, opens_at: _time(opens), closes_at: _time(closes)}
            for days, opens, closes in _grouped(self.weekly)
        ]

    def text(self, *, with_periods: bool) -> str | None:
        """The notes as one text; with the unavailable periods written out too (for a Location, which has no
        notAvailable in R4)."""
        parts = list(self.notes)
        if with_periods:
            parts.extend(
                f"{item['description']} ({_period_words(item['during']['start'], item['during']['end'])})"
                for item in self.unavailable
            )
        return ". ".join(p.removesuffix(".") for p in parts) + "." if parts else None


def hours(schedules: Sequence[ScheduleRecord], today: date) -> Hours:
    if not schedules:
        return Hours(False, [], [], ["Opening hours not recorded: phone to check"])
    current = [s for s in schedules if _applies(s, today)]
    always_open = any(s.always_open for s in current)
    domain = [s.to_domain() for s in schedules]
    pattern = (
        WeeklySchedule(always_open=True)
        if always_open
        else WeeklySchedule(sessions=tuple(session for s in current for session in s.to_domain().sessions))
    )
    start = datetime.combine(today, time(0), tzinfo=LONDON)
    end = datetime.combine(today + timedelta(days=HORIZON_DAYS), time(0), tzinfo=LONDON)
    weekly = [] if always_open else weekly_hours(current)
    claimed = _as_a_client_reads(intervals([pattern], start, end), weekly, today)
    actual = intervals(domain, start, end)
    unavailable = _merged_periods(_subtract(claimed, actual), actual, domain)
    notes = _notes(schedules, current, today)
    extra = _subtract(actual, claimed)
    if extra:
        listed = [f"{_span_words(a, b)}{_why(domain, a)}" for a, b in extra[:MAX_EXTRA_OPENINGS]]
        more = f", and {len(extra) - MAX_EXTRA_OPENINGS} more" if len(extra) > MAX_EXTRA_OPENINGS else ""
        notes.append("Also open outside these hours: " + "; ".join(listed) + more)
    return Hours(always_open, weekly, unavailable, notes)


def _as_a_client_reads(claimed: list[Interval], weekly: Sequence[tuple[int, int, int]], today: date) -> list[Interval]:
    """The weekly hours' open stretches as a FHIR client reads availableTime: on the wall clock. In the hour the
    clocks repeat in October it reads both passes of a time the hours name as open, where the engine keeps each
    session one stretch and opens it in only one (Saturday 20:00-01:30 closes at the first 1:30am): the pass it is
    shut in must be a notAvailable period, or the client shows it open."""
    found = list(claimed)
    for offset in range(HORIZON_DAYS):
        day = today + timedelta(days=offset)
        for hour in _repeated_hours(day):
            passes = [datetime.combine(day, time(hour, fold=fold), tzinfo=LONDON).astimezone(UTC) for fold in (0, 1)]
            for weekday, opens, closes in weekly:
                first, last = max(opens, hour * 60), min(closes, hour * 60 + 60)
                if weekday == day.weekday() and first < last:
                    found += [
                        (begins + timedelta(minutes=first - hour * 60), begins + timedelta(minutes=last - hour * 60))
                        for begins in passes
                    ]
    return _merged(found) if len(found) > len(claimed) else claimed


@lru_cache(maxsize=1024)
def _repeated_hours(day: date) -> tuple[int, ...]:
    """The hours of the wall clock that happen twice on `day` (01:00 on the last Sunday of October, else none)."""
    if (
        datetime.combine(day, time(0), tzinfo=LONDON).utcoffset()
        == datetime.combine(day, time(23, 59), tzinfo=LONDON).utcoffset()
    ):
        return ()
    return tuple(
        hour
        for hour in range(24)
        if datetime.combine(day, time(hour), tzinfo=LONDON).utcoffset()
        != datetime.combine(day, time(hour, fold=1), tzinfo=LONDON).utcoffset()
    )


def _merged(found: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _applies(schedule: ScheduleRecord, day: date) -> bool:
    return (schedule.valid_from is None or schedule.valid_from <= day) and (
        schedule.valid_to is None or day <= schedule.valid_to
    )


def _subtract(first: Sequence[Interval], second: Sequence[Interval]) -> list[Interval]:
    """The parts of `first` not covered by `second` (both sorted and merged, as `intervals` returns them)."""
    left: list[Interval] = []
    j = 0
    for start, end in first:
        cursor = start
        while j < len(second) and second[j][1] <= cursor:
            j += 1
        k = j
        while k < len(second) and second[k][0] < end:
            if second[k][0] > cursor:
                left.append((cursor, second[k][0]))
            cursor = max(cursor, second[k][1])
            k += 1
        if cursor < end:
            left.append((cursor, end))
    return left


def _why(domain: Sequence[WeeklySchedule], at: datetime) -> str:
    """' (Christmas Day)': why the day a session starts on differs from the weekly hours, if a schedule says."""
    local = at.astimezone(LONDON)
    reasons = dict.fromkeys(r for r in (day_plan(s, local.date()).reason for s in domain) if r)
    if not reasons and local.hour in _repeated_hours(local.date()):
        reasons[_REPEATED_HOUR] = None
    return f" ({'; '.join(reasons)})" if reasons else ""


_REPEATED_HOUR = "the clocks go back, and this hour of the weekly hours is open only once"


def _merged_periods(
    gaps: Sequence[Interval], actual: Sequence[Interval], domain: Sequence[WeeklySchedule]
) -> list[dict[str, Any]]:
    """One notAvailable item per closure: gaps for the same reason are one period when the service is not open at
    any moment between them (a week's closure is one period, not seven)."""
    items: list[tuple[datetime, datetime, str]] = []
    for start, end in gaps:
        why = _why(domain, start)
        description = f"Closed: {why[2:-1]}" if why else "Closed"
        if items and items[-1][2] == description:
            last_end = items[-1][1]
            if not any(a < start and b > last_end for a, b in actual):
                items[-1] = (items[-1][0], end, description)
                continue
        items.append((start, end, description))
    return [{"description": d, "during": {"start": _instant(a), "end": _instant(b)}} for a, b, d in items]


def _instant(moment: datetime) -> str:
    return moment.astimezone(LONDON).isoformat(timespec="seconds")


def _span_words(start: datetime, end: datetime) -> str:
    a, b = start.astimezone(LONDON), end.astimezone(LONDON)
    return f"{a:%a %d %b %Y} {_clock(a)} to " + (_clock(b) if b.date() == a.date() else f"{b:%a %d %b} {_clock(b)}")


def _clock(local: datetime) -> str:
    """'01:30', or '01:30 BST' and '01:30 GMT' in the hour the clocks repeat: 'Sun 25 Oct 2026 01:45 to 01:30' read
    as backwards."""
    return f"{local:%H:%M} {local.tzname()}" if local.hour in _repeated_hours(local.date()) else f"{local:%H:%M}"


def _period_words(start: str, end: str) -> str:
    return _span_words(datetime.fromisoformat(start), datetime.fromisoformat(end))


def _notes(schedules: Sequence[ScheduleRecord], current: Sequence[ScheduleRecord], today: date) -> list[str]:
    notes: list[str] = []
    for schedule in schedules:
        if schedule.valid_to is not None and schedule.valid_to < today:
            continue  # hours that have ended say nothing now
        if schedule in current:
            if schedule.bank_holidays is BankHolidayPolicy.closed and not schedule.always_open:
                notes.append("Closed on bank holidays in England")
            elif schedule.bank_holidays is BankHolidayPolicy.special and schedule.bank_holiday_hours:
                notes.append(f"Bank holidays in England: open {_ranges(schedule.bank_holiday_hours)} only")
            if schedule.valid_to is not None:
                notes.append(f"These hours apply until {schedule.valid_to.isoformat()}")
        else:
            until = f" until {schedule.valid_to.isoformat()}" if schedule.valid_to else ""
            assert schedule.valid_from is not None  # not current and not ended: it begins later
            notes.append(f"From {schedule.valid_from.isoformat()}{until}: {_week_words(schedule)}")
        if schedule.notes:
            notes.append(schedule.notes)
    return notes


def _week_words(schedule: ScheduleRecord) -> str:
    if schedule.always_open:
        return "open 24 hours, every day"
    groups = _grouped(weekly_hours([schedule]))
    if not groups:
        return "closed"
    return "open " + ", ".join(f"{' '.join(days)} {_time(o)[:5]}-{_time(c)[:5]}" for days, o, c in groups)


VERIFIED_AT_URL = BASE + "StructureDefinition/verified-at"
REVIEW_DUE_URL = BASE + "StructureDefinition/review-due"
PHONE_TYPE_URL = BASE + "StructureDefinition/phone-type"


def _meta(records: Sequence[ServiceRecord], last_modified: datetime | None, today: date) -> dict[str, Any] | None:
    meta: dict[str, Any] = {}
    if last_modified is not None:
        meta["lastUpdated"] = last_modified.isoformat()
    tags = []
    if any(r.is_demo for r in records):  # a fictional place must never read as real, whatever shares it
        tags.append({"system": TAG_SYSTEM, "code": "demo", "display": "Demonstration data: not a real service"})
    if any(is_stale(r.provenance.verified_at, r.provenance.verify_due, today) for r in records):
        tags.append({"system": TAG_SYSTEM, "code": "stale", "display": STALE_DISPLAY})
    if tags:
        meta["tag"] = tags
    return meta or None


# The words /v1 and the search page use for a record past its review date (never presented as verified).
STALE_DISPLAY = "Not recently verified: its review is overdue, so check with the service"
# A whole answer, not a record: answered from the last index while the store could not be read (or its newest
# version could not be built).
INDEX_STALE_TAG = {
    "system": TAG_SYSTEM,
    "code": "index-stale",
    "display": "From this server's last copy of the directory, which it could not bring up to date from its store: "
    "it may be out of date",
}


def with_index_stale(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource` (a copy: the converters' results may be shared) with the meta tag `index-stale` added."""
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), INDEX_STALE_TAG]
    return {**resource, "meta": meta}


def _verification(record: ServiceRecord) -> list[dict[str, Any]] | None:
    # When a person last checked the record and when it is due again: meta.lastUpdated is when it was last
    # changed in this directory, which says nothing about whether anyone checked it.
    extensions: list[dict[str, Any]] = []
    if record.provenance.verified_at is not None:
        extensions.append({"url": VERIFIED_AT_URL, "valueDateTime": record.provenance.verified_at.isoformat()})
    due = review_due(record.provenance.verified_at, record.provenance.verify_due)
    if due is not None and due != date.min:
        extensions.append({"url": REVIEW_DUE_URL, "valueDate": due.isoformat()})
    return extensions or None


def _kind_concepts(record: ServiceRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    info = KINDS[record.kind]
    ours = {"system": KIND_SYSTEM, "code": record.kind.value, "display": info.label}
    category = {"coding": [ours], "text": info.label}
    codings = [ours]
    if info.mhsds_team_type is not None:
        codings.append({"system": MHSDS_TEAM_TYPE_SYSTEM, "code": info.mhsds_team_type})
    return category, {"coding": codings, "text": info.label}


def _eligibility(record: ServiceRecord) -> list[dict[str, Any]]:
    """Every criterion the record states, in words, and every one it does not know (in search's words for an
    unknown criterion): a criterion left out reads as no restriction."""
    eligibility = record.eligibility
    parts: list[str] = []
    low, high = eligibility.minimum_age, eligibility.maximum_age
    if low is None and high is None:
        parts.append("No age limit recorded")
    low = None if low == 0 else low  # from birth: no lower limit
    if low is not None and high is not None:
        parts.append(f"Ages {low} to {high}")
    elif low is not None:
        parts.append(f"Ages {low} and over")
    elif high is not None:
        parts.append(f"Ages up to {high}")
    if eligibility.genders:
        parts.append("For " + ", ".join(g.value.replace("_", "-") for g in eligibility.genders) + " only")
    catchment = eligibility.catchment
    if catchment is None:  # in search's words: nobody travels to a line (has_door)
        check = "before travelling" if has_door(record) else "that it serves your area"
        parts.append(f"Catchment area not recorded: check {check}")
    elif catchment.type is CatchmentType.districts:
        parts.append("Only for people living in local authority districts " + ", ".join(catchment.districts))
    elif catchment.type is CatchmentType.polygon:
        parts.append("Only for people living in its area (a boundary, in the service's record)")
    if eligibility.referral_routes is None:
        parts.append("How to get referred is not recorded: call first")
    if eligibility.gp_registration_required is None:
        parts.append("Not recorded whether you must be registered with a GP in its area: check before travelling")
    elif eligibility.gp_registration_required:
        parts.append("Must be registered with a GP in its area")
    if eligibility.accepts_intoxicated is None:
        parts.append("Not recorded whether it accepts people who have been drinking or using drugs: check first")
    elif eligibility.accepts_intoxicated:
        parts.append("Accepts people who have been drinking or using drugs")
    else:
        parts.append("Does not accept people who are intoxicated")
    if eligibility.accepts_substance_use is None:
        parts.append("Not recorded whether it accepts people who use drugs or alcohol: check first")
    elif eligibility.accepts_substance_use:
        parts.append("Accepts people who use drugs or alcohol")
    else:
        parts.append("Does not accept people who use drugs or alcohol")
    if eligibility.description:
        parts.append(eligibility.description)
    return [{"comment": ". ".join(p.removesuffix(".") for p in parts) + "."}] if parts else []


_PHONE_WORDS = {
    PhoneType.voice: "voice",
    PhoneType.text: "text message",
    PhoneType.textphone: "textphone",
    PhoneType.whatsapp: "WhatsApp",
}


def _telecom(record: ServiceRecord) -> list[dict[str, Any]]:
    telecom: list[dict[str, Any]] = []
    for phone in record.phones:
        point: dict[str, Any] = {"system": _TELECOM[phone.type], "value": phone.display or phone.number, "use": "work"}
        if phone.type is not PhoneType.voice:
            # ContactPoint.system cannot tell a textphone from a voice line, nor name WhatsApp: say which it is.
            point["extension"] = [{"url": PHONE_TYPE_URL, "valueCode": phone.type.value}]
        telecom.append(point)
    if record.url:
        telecom.append({"system": "url", "value": record.url})
    if record.email:
        telecom.append({"system": "email", "value": record.email})
    return telecom


def _phone_notes(record: ServiceRecord) -> list[str]:
    return [
        f"{phone.display or phone.number} ({_PHONE_WORDS[phone.type]}): {phone.description}"
        if phone.description
        else f"{phone.display or phone.number}: {_PHONE_WORDS[phone.type]}"
        for phone in record.phones
        if phone.description or phone.type is not PhoneType.voice
    ]


def _the_hours_of_every_site(record: ServiceRecord) -> list[ScheduleRecord] | None:
    """The schedules that give every one of the service's sites its hours, when they all keep the same hours (a
    site's own schedules override the service's, as search reads them); None when sites differ or none has its own."""
    if not record.locations or all(s.location_id is None for s in record.schedules):
        return None
    per_site = [record.hours_at(location.id) for location in record.locations]

    def content(schedules: list[ScheduleRecord]) -> list[dict[str, Any]]:
        return [s.model_dump(mode="json", exclude={"id", "location_id"}) for s in schedules]

    first = content(per_site[0])
    return per_site[0] if all(content(other) == first for other in per_site[1:]) else None


def line_schedule_records(record: ServiceRecord) -> list[ScheduleRecord]:
    """The records `line_schedules(record)` reads, by the same rule: FHIR states notes and dates its domain form
    drops."""
    wide = [s for s in record.schedules if s.location_id is None]
    return wide or list(record.schedules)


_NOT_ACTIVE = {
    ServiceStatus.temporarily_closed: "Temporarily closed",
    ServiceStatus.inactive: "Not operating",
    ServiceStatus.defunct: "Closed permanently",
}


def healthcare_service(record: ServiceRecord, *, today: date, last_modified: datetime | None = None) -> dict[str, Any]:
    """`today` (London) decides which hours apply now and which dated changes are coming."""
    category, kind_type = _kind_concepts(record)
    service_wide = [s for s in record.schedules if s.location_id is None]
    per_location = len(service_wide) < len(record.schedules)
    if not has_door(record):
        # A line answers in its own hours, not its office's: a 24/7 line read by its office's hours was published
        # as open Mon-Fri 9-5. Search reads it the same way (line_schedules).
        service_wide, per_location = line_schedule_records(record), False
    elif (one_for_all := _the_hours_of_every_site(record)) is not None:
        # Every site keeps the same hours (most often: the one site has its own): they are the service's hours, so
        # a client reading the HealthcareService alone still sees when it is closed.
        service_wide, per_location = one_for_all, False
    # The service-wide hours are the service's only where some site (or the service with none) keeps them: hours
    # every site overrides are kept nowhere, and published they showed the service open when every site is shut.
    kept = not record.locations or any(record.hours_at(place.id) == service_wide for place in record.locations)
    week = hours(service_wide, today) if (service_wide and kept) or not per_location else None
    not_available = list(week.unavailable) if week else []
    if record.status is not ServiceStatus.active:
        # With no `during`, closed until further notice: weekly hours kept for a closed service must not read as open.
        not_available.insert(0, {"description": _NOT_ACTIVE[record.status]})
    notes = [text for text in (week.text(with_periods=False) if week else None,) if text]
    if per_location:
        notes.append("Some locations keep their own hours: see each Location's hoursOfOperation.")
    phone_notes = _phone_notes(record)
    resource: dict[str, Any] = {
        "resourceType": "HealthcareService",
        "id": fhir_id(record.id),
        "meta": _meta([record], last_modified, today),
        "extension": _verification(record),
        "identifier": [{"system": SERVICE_ID_SYSTEM, "value": record.id}],
        "active": record.status is ServiceStatus.active,
        "providedBy": {"display": record.organisation.name},
        "category": [category],
        "type": [kind_type],
        "name": record.name,
        "comment": record.description or None,
        "extraDetails": "\n\n".join(p for p in (record.alert, "Numbers: " + "; ".join(phone_notes)) if p)
        if phone_notes
        else record.alert or None,
        "telecom": _telecom(record) or None,
        "location": [
            # FHIR refuses an empty string: a place with neither name nor address is referred to by id alone.
            {"reference": f"Location/{fhir_id(location.id)}"}
            | ({"display": shown} if (shown := location.name or location.address) else {})
            for location in record.locations
        ]
        or None,
        "eligibility": _eligibility(record) or None,
        "referralMethod": [
            {"coding": [{"system": REFERRAL_SYSTEM, "code": route.value, "display": REFERRAL_LABELS[route]}]}
            for route in record.eligibility.referral_routes or []
        ]
        or None,
        "communication": [{"coding": [{"system": LANGUAGE_SYSTEM, "code": code}]} for code in record.access.languages]
        or None,
        "availableTime": (week.available_time() if week else None) or None,
        "notAvailable": not_available or None,
        "availabilityExceptions": " ".join(notes) or None,
    }
    return {key: value for key, value in resource.items() if value is not None}


def location(
    users: Sequence[tuple[ServiceRecord, LocationRecord]],
    *,
    today: date,
    last_modified: datetime | None = None,
) -> dict[str, Any]:
    """One place, from every service delivered there (a location id may be shared by several services).

    Its status is the best of theirs (a place where a 24/7 crisis house is open is active, whatever else there
    is temporarily closed). Its hours are theirs when they agree; when they differ, R4 Location has one set of
    hours only, so none are given and the text sends the reader to each HealthcareService."""
    records = [record for record, _ in users]
    place = users[0][1]
    # A phone line's office is no door to walk through: its hours (the line's) would send people to knock on it.
    # The place's status and hours are those of the services people can go to there.
    visited = [(record, here) for record, here in users if has_door(record)]
    statuses = {record.status for record, _ in visited or users}
    status = (
        "active"
        if ServiceStatus.active in statuses
        else "suspended"
        if ServiceStatus.temporarily_closed in statuses
        else "inactive"
    )
    weeks = [hours(record.hours_at(here.id), today) for record, here in visited]
    week = weeks[0] if weeks and all(w == weeks[0] for w in weeks) else None
    closed_door = f"An office, not open to visitors: phone {_names(records)} instead." if not visited else None
    if closed_door is not None:
        text: str | None = closed_door
    elif week is not None:
        text = week.text(with_periods=True)
    else:
        text = (
            "Several services work from this place, with different hours: see each HealthcareService ("
            + _names(record for record, _ in visited)
            + ")."
        )
    organisations = {record.organisation.name for record in records}
    address = {
        "use": "work",
        "type": "physical",
        "line": [place.address] if place.address else None,
        "city": place.city or None,
        "postalCode": place.postcode,
        "country": "GB",
    }
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": fhir_id(place.id),
        "meta": _meta(records, last_modified, today),
        "identifier": [{"system": LOCATION_ID_SYSTEM, "value": place.id}],
        "status": status,
        "name": place.name or place.address or records[0].name,
        "description": " ".join(p for p in (place.description, closed_door) if p) or None,
        "mode": "instance",
        "address": {key: value for key, value in address.items() if value is not None},
        "position": {"longitude": place.longitude, "latitude": place.latitude},
        "managingOrganization": {"display": organisations.pop()} if len(organisations) == 1 else None,
        "hoursOfOperation": (week.hours_of_operation() if week else None) or None,
        "availabilityExceptions": text,
    }
    return {key: value for key, value in resource.items() if value is not None}


def _names(records: Iterable[ServiceRecord]) -> str:
    return "; ".join(dict.fromkeys(record.name for record in records))


def searchset(
    resources: Sequence[dict[str, Any]],
    *,
    total: int,
    base_url: str,
    links: dict[str, str],
    stale_index: bool = False,
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
    }
    if stale_index:
        bundle = with_index_stale(bundle)
    if resources:  # FHIR JSON has no empty arrays: a page with nothing on it has no `entry`
        bundle["entry"] = [
            {
                "fullUrl": f"{base_url}{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
    return bundle


# The day this statement of capabilities last changed (CapabilityStatement.date is required).
CAPABILITIES_DATE = "2026-11-25"


def capability_statement(base_url: str) -> dict[str, Any]:
    """The capabilities interaction (GET /fhir/metadata): what a client can read and search for here."""
    paging = "_count (0 to 500, default 50) and _offset page the results; a `next` link is given while more remain."
    strict = (
        "Search is strict: an unknown parameter, a repeated one, a filter given with no value or a value that cannot "
        "be used is refused with a 400 OperationOutcome naming it, never ignored (an ignored filter would widen the "
        "answer)."
    )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITIES_DATE,
        "publisher": "Crisis Care Service Finder",
        "kind": "instance",
        "software": {"name": "Crisis Care Service Finder", "version": __version__},
        "implementation": {
            "description": "Crisis cafés, safe havens, crisis houses, crisis lines and related services in England",
            "url": base_url.rstrip("/"),
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": f"Read-only. {strict} {paging} Hours are Europe/London wall time.",
                "resource": [
                    {
                        "type": "HealthcareService",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {
                                "name": "service-type",
                                "type": "token",
                                "documentation": "Kind code (ours or an MHSDS team type), optionally system|code "
                                "(system| for any code in it); comma-separated for any of several.",
                            },
                            {"name": "active", "type": "token", "documentation": "true or false."},
                            {
                                "name": "location.near",
                                "type": "special",
                                "documentation": "latitude|longitude|distance|units, in England, at most 200 km; "
                                "nearest first.",
                            },
                        ],
                    },
                    {
                        "type": "Location",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {
                                "name": "near",
                                "type": "special",
                                "documentation": "latitude|longitude|distance|units, in England, at most 200 km; "
                                "nearest first.",
                            }
                        ],
                    },
                ],
            }
        ],
    }


def is_fhir_path(path: str) -> bool:
    return path == "/fhir" or path.startswith("/fhir/")


# The OperationOutcome issue code (http://hl7.org/fhir/issue-type) for each HTTP error status the service sends.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    503: "transient",
    504: "timeout",
}


def error_outcome(status: int, title: str, detail: str, *, expression: str | None = None) -> dict[str, Any]:
    """What a FHIR client receives where others get problem+json: the same words, as an OperationOutcome."""
    code = ISSUE_CODES.get(status, "exception" if status >= 500 else "processing")
    return operation_outcome(code, f"{title}: {detail}", expression=expression)


def operation_outcome(code: str, diagnostics: str, *, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression is not None:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
