"""Hypothesis strategies for realistic, valid ServiceRecords (England coordinates, real-shaped postcodes,
Ofcom drama-range phone numbers, non-overlapping sessions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from service_finder.domain.schedule import BankHolidayPolicy
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
from service_finder.schemas import ServiceRecord

_WORDS = ("leeds", "york", "crisis", "cafe", "haven", "safe", "house", "line", "north", "east", "mind", "hub", "2")
_DISTRICTS = ("E08000035", "E08000036", "E09000033", "E06000001", "E07000228", "E08000003", "E09000028", "E06000014")
_OUTWARD = ("LS1", "LS6", "M1", "M14", "SW1A", "EC1A", "B33", "NE1", "YO10", "S1", "BS1", "W1A", "CR2", "E1", "N1C")
_DRAMA_PREFIXES = ("0113 496 0", "0114 496 0", "0161 496 0", "0191 498 0", "020 7946 0", "0121 496 0", "0808 157 0")
_SHORT_CODES = ("116 123", "111", "85258", "116 117")
_LANGUAGES = ("en", "pl", "ur", "pa", "bn", "gu", "ar", "so", "ro", "cy", "syl", "bfi")
# Free text with the characters that trip up CSV and JSON writers: separators, quotes, accents, newlines.
_TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,;:'\"&()-./éâ£\n"

identifiers = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map("-".join)


def free_text(max_size: int = 40, *, newlines: bool = True) -> st.SearchStrategy[str]:
    alphabet = _TEXT_ALPHABET if newlines else _TEXT_ALPHABET.replace("\n", "")
    return st.text(alphabet, max_size=max_size).map(str.strip)


names = free_text(40, newlines=False).filter(bool)
postcodes = st.builds(
    lambda outward, digit, letters: f"{outward} {digit}{letters}",
    st.sampled_from(_OUTWARD),
    st.integers(0, 9),
    st.text("ABDEFGHJLNPQRSTUWXYZ", min_size=2, max_size=2),
)
phone_numbers = st.one_of(
    st.builds(lambda prefix, n: f"{prefix}{n:03d}", st.sampled_from(_DRAMA_PREFIXES), st.integers(0, 999)),
    st.sampled_from(_SHORT_CODES),
)
urls = st.builds(lambda host, path: f"https://{host}.example.org/{path}", identifiers, identifiers)
emails = st.builds(lambda user, host: f"{user}@{host}.example.org", identifiers, identifiers)
times_utc = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def _session(draw: st.DrawFn, day: str) -> dict[str, str]:
    # Sessions open 06:00-22:00 and overnight ones close by 05:00, so no two days' sessions can overlap.
    opens = draw(st.integers(12, 44)) * 30
    overnight = draw(st.booleans())
    closes = draw(st.integers(0, 10)) * 30 if overnight else draw(st.integers(opens // 30 + 1, 48)) * 30
    if closes == 0 and not overnight:
        closes = 1440
    return {"day": day, "opens_at": _hhmm(opens), "closes_at": _hhmm(closes) if closes else "00:00"}


@st.composite
def _ranges(draw: st.DrawFn) -> list[dict[str, str]]:
    # One or two ranges within a day that do not overlap: 08:00-12:00 and 13:00-20:00 style.
    first_open = draw(st.integers(0, 10)) * 60
    first_close = first_open + draw(st.integers(1, 3)) * 60
    ranges = [{"opens_at": _hhmm(first_open), "closes_at": _hhmm(first_close)}]
    if draw(st.booleans()):
        second_open = first_close + draw(st.integers(0, 2)) * 60
        ranges.append({"opens_at": _hhmm(second_open), "closes_at": _hhmm(second_open + draw(st.integers(1, 4)) * 60)})
    return ranges


@st.composite
def _exception(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(dates)
    exception: dict[str, Any] = {
        "start_date": start,
        "end_date": start + timedelta(days=draw(st.integers(0, 14))),
        "reason": draw(free_text(30)),
    }
    if draw(st.booleans()):
        exception.update(closed=False, hours=draw(_ranges()))
    return exception


@st.composite
def schedule_data(draw: st.DrawFn, schedule_id: str, location_id: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": schedule_id, "location_id": location_id}
    if draw(st.integers(0, 5)) == 0:
        data["always_open"] = True
    else:
        days = draw(st.lists(st.sampled_from(_DAYS_LOWER), unique=True, max_size=7))
        data["sessions"] = [draw(_session(day)) for day in days]
    # A 24/7 schedule is open on bank holidays too: any other policy beside it is refused (WeeklySchedule.problems).
    policy = BankHolidayPolicy.as_usual if data.get("always_open") else draw(st.sampled_from(BankHolidayPolicy))
    data["bank_holidays"] = policy
    if policy is BankHolidayPolicy.special:
        data["bank_holiday_hours"] = draw(_ranges())
    data["exceptions"] = draw(st.lists(_exception(), max_size=2))
    if draw(st.booleans()):
        start = draw(dates)
        data["valid_from"] = start
        data["valid_to"] = draw(st.none() | st.just(start + timedelta(days=draw(st.integers(0, 400)))))
    data["notes"] = draw(free_text(30))
    return data


_DAYS_LOWER = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@st.composite
def location_data(draw: st.DrawFn, location_id: str) -> dict[str, Any]:
    return {
        "id": location_id,
        "name": draw(free_text(30, newlines=False)),
        "address": draw(free_text(40, newlines=False)),
        "city": draw(st.sampled_from(("Leeds", "York", "Manchester", "London", "Newcastle upon Tyne", ""))),
        "postcode": draw(postcodes),
        "latitude": draw(st.floats(50.0, 55.5).map(lambda x: round(x, 6))),
        "longitude": draw(st.floats(-5.5, 1.7).map(lambda x: round(x, 6))),
        "district_code": draw(st.none() | st.sampled_from(_DISTRICTS)),
        "description": draw(free_text(40)),
    }


@st.composite
def _polygon(draw: st.DrawFn) -> dict[str, Any]:
    lat = round(draw(st.floats(50.5, 55.0)), 5)
    lon = round(draw(st.floats(-4.5, 1.0)), 5)
    size = draw(st.sampled_from((0.05, 0.1, 0.25)))
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@st.composite
def catchment_data(draw: st.DrawFn) -> dict[str, Any] | None:
    kind = draw(st.none() | st.sampled_from(CatchmentType))
    if kind is None:
        return None
    if kind is CatchmentType.districts:
        return {"type": kind, "districts": draw(st.lists(st.sampled_from(_DISTRICTS), unique=True, min_size=1))}
    if kind is CatchmentType.polygon:
        return {"type": kind, "geojson": draw(_polygon())}
    return {"type": kind}


def _subset(values: Any) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.sampled_from(list(values)), unique=True, max_size=4)


def _tri_state() -> st.SearchStrategy[bool | None]:
    return st.none() | st.booleans()


@st.composite
def eligibility_data(draw: st.DrawFn) -> dict[str, Any]:
    minimum = draw(st.none() | st.integers(0, 65))
    maximum = draw(st.none() | st.integers(minimum or 0, 120))
    return {
        "minimum_age": minimum,
        "maximum_age": maximum,
        "genders": draw(_subset(Gender)),
        "catchment": draw(catchment_data()),
        "gp_registration_required": draw(_tri_state()),
        "referral_routes": draw(st.none() | _subset(ReferralRoute)),
        "accepts_intoxicated": draw(_tri_state()),
        "accepts_substance_use": draw(_tri_state()),
        "description": draw(free_text(60)),
    }


@st.composite
def access_data(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "contact_modes": draw(_subset(ContactMode)),
        "accessibility": draw(st.dictionaries(st.sampled_from(list(AccessFeature)), st.booleans(), max_size=4)),
        "languages": draw(st.lists(st.sampled_from(_LANGUAGES), unique=True, max_size=3)),
        "cost": draw(st.none() | st.sampled_from(Cost)),
        "fees_description": draw(free_text(30)),
        "typical_wait_days": draw(st.none() | st.integers(0, 730)),
    }


@st.composite
def phone_data(draw: st.DrawFn) -> dict[str, Any]:
    phone: dict[str, Any] = {
        "number": draw(phone_numbers),
        "type": draw(st.sampled_from(PhoneType)),
        "description": draw(free_text(30)),
    }
    choice = draw(st.integers(0, 4))
    if choice == 0:  # a publisher's own grouping of the same number
        phone["display"] = draw(st.sampled_from([phone["number"], phone["number"].replace(" ", "")]))
    elif choice == 1:  # a desk behind a switchboard
        phone["display"] = f"{phone['number']} x{draw(st.sampled_from(['2', '02', '1234']))}"
    return phone


@st.composite
def service_data(draw: st.DrawFn) -> dict[str, Any]:
    service_id = draw(identifiers)
    location_ids = draw(st.lists(identifiers.map(lambda i: f"{i}-loc"), unique=True, max_size=3))
    schedule_owners: list[str | None] = [None] * draw(st.integers(0, 2))
    for location_id in location_ids:
        schedule_owners += [location_id] * draw(st.integers(0, 1))
    schedules = [draw(schedule_data(f"{service_id}-hours-{i}", owner)) for i, owner in enumerate(schedule_owners)]
    verified = draw(st.none() | times_utc)
    return {
        "id": service_id,
        "name": draw(names),
        "organisation": {
            "id": draw(identifiers),
            "name": draw(names),
            "description": draw(free_text(40)),
            "url": draw(st.none() | urls),
            "email": draw(st.none() | emails),
        },
        "description": draw(free_text(80)),
        "url": draw(st.none() | urls),
        "email": draw(st.none() | emails),
        "status": draw(st.sampled_from(ServiceStatus)),
        "alert": draw(free_text(30)),
        "kind": draw(st.sampled_from(ServiceKind)),
        "needs": draw(_subset(Need)),
        "safety_net": draw(st.booleans()),
        "eligibility": draw(eligibility_data()),
        "access": draw(access_data()),
        "locations": [draw(location_data(location_id)) for location_id in location_ids],
        "phones": draw(st.lists(phone_data(), max_size=3)),
        "schedules": schedules,
        "provenance": {
            "source_name": draw(st.sampled_from(("demo", "Leeds and York Partnership NHS FT", "Mind in Leeds"))),
            "source_url": draw(st.none() | urls),
            "verified_at": verified,
            "verify_due": draw(st.none() | dates),
        },
    }


service_records: st.SearchStrategy[ServiceRecord] = service_data().map(ServiceRecord.model_validate)
