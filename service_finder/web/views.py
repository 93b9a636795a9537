"""What the search page shows, in words: search results turned into cards, and the page's query string into a search.

Everything a person reads is worked out here, in Python, so the templates only lay it out and the wording can be
tested without a browser. Times are London times in the words people use ("closes at 2am tomorrow").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TypeVar
from urllib.parse import urlencode

from pydantic import TypeAdapter, ValidationError

from service_finder.domain.hours_text import date_words, time_words
from service_finder.domain.opening_hours import to_london
from service_finder.domain.phones import tel_uri
from service_finder.domain.taxonomy import NEED_LABELS, AccessFeature, ContactMode, Need, PhoneType, ServiceKind
from service_finder.schemas import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    IsoDateTime,
    PhoneRecord,
    SearchRequest,
    SearchResult,
    Verdict,
)

DEFAULT_HEADING = "Find crisis support near you"
HEADING_MAX = 80
MAX_RESULTS = 10
# "Walk-in only" has no search parameter of its own: the page asks for more in-person results and keeps the
# walk-in ones, so a person who cannot make a phone call or wait for a referral sees only places they can go to.
WALK_IN_POOL = 50
KM_PER_MILE = 1.609344

# The needs offered as checkboxes: the ones people in crisis most often name. The page takes any valid need.
OFFERED_NEEDS: tuple[Need, ...] = (
    Need.suicidal_thoughts,
    Need.self_harm,
    Need.alcohol,
    Need.substance_use,
    Need.psychosis,
    Need.anxiety_depression,
    Need.eating_disorder,
    Need.domestic_abuse,
    Need.homelessness,
    Need.young_people,
)
OFFERED_ACCESS: dict[AccessFeature, str] = {
    AccessFeature.step_free: "Step-free access",
    AccessFeature.bsl: "British Sign Language (BSL)",
}
OPEN_CHOICES: dict[str, str] = {
    "now": "Open now",
    "within:180": "Open now or in the next 3 hours",
    "any": "Any time",
}
# Numbers the safety banner always shows; the results' own safety-net list leaves these out to avoid repeating them.
BANNER_NUMBERS = frozenset({"999", "111", "116123", "85258"})

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_FIELD_ORDER = ("postcode", "age", "at")
E = TypeVar("E", Need, AccessFeature, ServiceKind)
_AT: TypeAdapter[datetime] = TypeAdapter(IsoDateTime)


def accent_colour(raw: str | None) -> str | None:
    """'#1D70B8', '1d70b8' or 'abc' -> '#1d70b8' / '#aabbcc'; anything else -> None (the default look)."""
    match = _HEX.match(raw or "")
    if match is None:
        return None
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def _luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def text_on(hex_colour: str) -> str:
    """Black or white, whichever reads better on the colour: one of them always reaches WCAG's 4.5:1."""
    light = _luminance(hex_colour)
    on_white = 1.05 / (light + 0.05)
    on_black = (light + 0.05) / 0.05
    return "#ffffff" if on_white >= on_black else "#000000"


def darker(hex_colour: str, factor: float = 0.6) -> str:
    r, g, b = (int(int(hex_colour[i : i + 2], 16) * factor) for i in (1, 3, 5))
    return f"#{r:02x}{g:02x}{b:02x}"


def heading_text(raw: str | None) -> str:
    # Escaped by the template; trimmed here so an integrator's heading cannot push the safety banner off screen.
    text = " ".join((raw or "").split())[:HEADING_MAX]
    return text or DEFAULT_HEADING


@dataclass(frozen=True, slots=True)
class Form:
    """The page's query string as the form shows it back, with a message per field that cannot be used."""

    postcode: str = ""
    age: str = ""
    intoxicated: bool = False
    needs: tuple[Need, ...] = ()
    walk_in: bool = False
    access: tuple[AccessFeature, ...] = ()
    open: str = "now"
    kinds: tuple[ServiceKind, ...] = ()
    at: str = ""
    lat: float | None = None
    lon: float | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def near_me(self) -> bool:
        return self.lat is not None and not self.postcode

    @property
    def has_options(self) -> bool:
        return bool(self.age or self.intoxicated or self.needs or self.walk_in or self.access or self.open != "now")

    @property
    def error_list(self) -> list[tuple[str, str]]:
        order = {name: i for i, name in enumerate(_FIELD_ORDER)}
        return sorted(self.errors.items(), key=lambda item: order.get(item[0], len(order)))


def _enum_values(kind: type[E], values: Sequence[str]) -> tuple[E, ...]:
    members = {m.value: m for m in kind}
    # Options come from the page's own checkboxes or an integrator's snippet: unknown ones are ignored, not fatal.
    return tuple(dict.fromkeys(members[v] for v in values if v in members))


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def parse_form(params: Mapping[str, str], lists: Mapping[str, list[str]]) -> tuple[Form, SearchRequest | None]:
    """The form to show back, and the search it asks for: None when there is nothing to search yet or an error."""
    postcode = " ".join((params.get("postcode") or "").upper().split())
    lat, lon = _float(params.get("lat")), _float(params.get("lon"))
    if postcode or lat is None or lon is None:
        lat = lon = None
    open_choice = params.get("open") or "now"
    form = Form(
        postcode=postcode,
        age=(params.get("age") or "").strip(),
        intoxicated=params.get("intoxicated") == "true",
        needs=_enum_values(Need, lists.get("needs", [])),
        walk_in=params.get("walk_in") == "true",
        access=_enum_values(AccessFeature, lists.get("access", [])),
        open=open_choice if open_choice in OPEN_CHOICES else "now",
        kinds=_enum_values(ServiceKind, lists.get("kinds", [])),
        at=(params.get("at") or "").strip(),
        lat=lat,
        lon=lon,
    )
    if not (form.postcode or form.near_me):
        # The form was sent with the postcode left empty: say so. A first visit just shows the form.
        errors = {"postcode": "Enter a postcode, like LS1 1UR or LS1"} if "postcode" in params else {}
        return replace(form, errors=errors), None
    request, errors = _build_request(form)
    return replace(form, errors=errors), request


def _build_request(form: Form) -> tuple[SearchRequest | None, dict[str, str]]:
    errors: dict[str, str] = {}
    age: int | None = None
    if form.age:
        shown = form.age if len(form.age) <= 12 else form.age[:10] + "…"  # echoed back, so kept short
        if not re.fullmatch(r"[0-9]+", form.age):  # not isdigit(): it takes "²", which int() refuses
            errors["age"] = f"Enter your age in years as a number, like 34 (not {shown!r})"
        elif len(form.age.lstrip("0")) > 3 or int(form.age) > 120:  # length first: int() refuses 4,301+ digits
            errors["age"] = f"Enter an age between 0 and 120 (not {shown})"
        else:
            age = int(form.age)
    if len(form.postcode) > 8:
        errors["postcode"] = f"{form.postcode!r} is too long for a postcode: enter one like LS1 1UR or LS1"
    at: datetime | None = None
    if form.at:
        try:
            at = _AT.validate_python(form.at)  # the API's own rules for `at`, so the page and the API agree
        except ValidationError:
            shown = form.at if len(form.at) <= 40 else form.at[:37] + "…"
            errors["at"] = (
                f"Enter the date and time like 2026-11-27T20:00, between {EARLIEST_YEAR} and {LATEST_YEAR}, or "
                f"clear it to see what is open now (not {shown!r})"
            )
    if errors:
        return None, errors
    try:
        request = SearchRequest(
            postcode=form.postcode or None,
            lat=form.lat,
            lon=form.lon,
            age=age,
            intoxicated=True if form.intoxicated else None,
            needs=list(form.needs),
            access=list(form.access),
            kinds=list(form.kinds),
            open=form.open,
            at=at,
            modes=[ContactMode.in_person] if form.walk_in else [],
            limit=WALK_IN_POOL if form.walk_in else MAX_RESULTS,
        )
    except ValidationError as error:
        # Only coordinates from "use my location" can get here (every typed field is checked above).
        detail = "; ".join(str(e["msg"]) for e in error.errors())
        return None, {"postcode": f"Your location could not be used ({detail}): enter a postcode instead"}
    return request, {}


def hidden_options(form: Form, *, accent: str | None, heading: str | None) -> list[tuple[str, str]]:
    """Settings the form carries along unchanged: the integrator's options, and the location "use my location"
    gave (a typed postcode takes its place). A pinned time has a field of its own, so it can be seen and cleared."""
    pairs = [("kinds", kind.value) for kind in form.kinds]
    if accent:
        pairs.append(("accent", accent.removeprefix("#")))
    if heading:
        pairs.append(("heading", heading))
    if form.near_me and form.lat is not None and form.lon is not None:
        pairs.extend((("lat", repr(form.lat)), ("lon", repr(form.lon))))
    return pairs


# --- result cards -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phone:
    label: str
    display: str
    href: str | None
    description: str


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    name: str
    kind_label: str
    organisation: str
    demo: bool
    alert: str
    open_now: bool
    status_tag: str
    status_text: str
    hours_today: str
    distance_text: str | None
    travel_text: str | None
    phones: list[Phone]
    address: str | None
    directions_url: str | None
    website: str | None
    verdict: str
    verdict_text: str
    checks: list[str]
    reasons: list[str]
    warning: str | None
    verified_text: str
    stale: bool


def _when(moment: datetime, now: datetime) -> str:
    """'2am tomorrow', '6pm today', 'Friday 28 November at 6pm'."""
    local, today = to_london(moment), to_london(now).date()
    clock = time_words(local.hour * 60 + local.minute)
    days = (local.date() - today).days
    if local.hour == 0 and local.minute == 0 and days == 1:
        return "midnight tonight"  # the coming midnight: "midnight tomorrow" reads as a day later
    if days == 0:
        return f"{clock} today"
    if days == 1:
        return f"{clock} tomorrow"
    return f"{local:%A} {local.day} {local:%B} at {clock}"


def moment_words(moment: datetime) -> str:
    """'8pm on Friday 27 November 2026'."""
    local = to_london(moment)
    return f"{time_words(local.hour * 60 + local.minute)} on {local:%A} {date_words(local.date())}"


def _closes(moment: datetime, now: datetime) -> str:
    local = to_london(moment)
    # A session that ends at midnight closes "at midnight", not "at midnight tomorrow".
    if local.hour == 0 and local.minute == 0 and (local.date() - to_london(now).date()).days == 1:
        return "midnight"
    return _when(moment, now)


def phone_link(phone: PhoneRecord) -> Phone:
    number = phone.number
    if phone.type is PhoneType.text:
        return Phone(f"Text {phone.display}", phone.display, f"sms:{number}", phone.description)
    if phone.type is PhoneType.whatsapp:
        # No link: WhatsApp's links go through a third party's website.
        return Phone(f"WhatsApp {phone.display}", phone.display, None, phone.description)
    return Phone(f"Call {phone.display}", phone.display, tel_uri(number, phone.display), phone.description)


def distance_words(km: float) -> str:
    miles = km / KM_PER_MILE
    shown = f"{miles:.1f}" if miles < 10 else f"{miles:.0f}"
    return f"{shown} miles ({km:.1f} km) away in a straight line"


def directions_url(latitude: float, longitude: float) -> str:
    # A link the person chooses to follow, to OpenStreetMap, with the destination only: their own location is
    # never put in it, and rel="noreferrer" keeps the search page's address (with their postcode) from being sent.
    return "https://www.openstreetmap.org/directions?" + urlencode({"route": f";{latitude:.5f},{longitude:.5f}"})


# Criteria a person can settle by saying more about themselves (the page asks only these two).
_PERSON_CRITERIA = {"age": "your age", "gender": "your gender"}


def _check_words(result: SearchResult, request: SearchRequest) -> str:
    """Why the verdict is 'check': what the person did not say, what the record does not say, or both."""
    unknown = [c.criterion for c in result.eligibility.criteria if c.result == "unknown"]
    yours = [
        words
        for name, words in _PERSON_CRITERIA.items()
        if name in unknown
        and (request.age is None if name == "age" else request.gender is None and request.sex is None)
    ]
    recorded = [name for name in unknown if name not in _PERSON_CRITERIA or _PERSON_CRITERIA[name] not in yours]
    parts = []
    if yours:
        parts.append(f"it depends on {' and '.join(yours)}, which you have not given")
    if recorded:
        parts.append("some of who it accepts is not recorded")
    return "Check before you go: " + (", and ".join(parts) or "some of who it accepts is not recorded")


def card(result: SearchResult, *, now: datetime, today: date, request: SearchRequest, pinned: bool = False) -> Card:
    """A result as the page shows it. `pinned`: the search was for a time the person chose, not now, so the
    card says "at this time" rather than "now"."""
    service = result.service
    if result.open_now:
        tag = "Open at this time" if pinned else "Open now"
        text = "Open 24 hours" if result.closes_at is None else f"Closes at {_closes(result.closes_at, now)}"
    else:
        tag = "Closed at this time" if pinned else "Closed now"
        text = f"Opens at {_when(result.opens_next_at, now)}" if result.opens_next_at else "Opening time not known"
    travel = None
    warning = None
    if result.travel is not None:
        travel = f"About {result.travel.minutes} minutes {result.travel.mode} (an estimate)"
        if result.travel.arrives_before_close is False:
            # A warning beside the opening hours, not a reason it may suit: it is a reason it may not.
            warning = f"It may close before you get there (about {result.travel.minutes} minutes {result.travel.mode})"
    if result.eligibility.verdict is Verdict.eligible:
        verdict_text = "You can use this service"
    else:
        verdict_text = _check_words(result, request)
    checks = [c.reason for c in result.eligibility.criteria]
    if checks:
        checks[0] = checks[0][0].upper() + checks[0][1:]
    address = ", ".join(p for p in (service.address, service.postcode) if p) or None
    directions = (
        directions_url(service.latitude, service.longitude)
        if service.latitude is not None and service.longitude is not None
        else None
    )
    return Card(
        id=service.id,
        name=service.name,
        kind_label=service.kind_label,
        organisation=service.organisation,
        demo=service.demo,
        alert=service.alert,
        open_now=result.open_now,
        status_tag=tag,
        status_text=text,
        hours_today=result.hours_today,
        distance_text=distance_words(result.distance_km) if result.distance_km is not None else None,
        travel_text=travel,
        phones=[phone_link(p) for p in service.phones],
        address=address,
        directions_url=directions,
        website=service.url,
        verdict=result.eligibility.verdict.value,
        verdict_text=verdict_text,
        checks=checks,
        # The open state has its own line on the card; the reasons carry the rest.
        reasons=[
            r for r in result.match_reasons if r and not r.startswith(("open now", "opens at", "may close before"))
        ],
        warning=warning,
        verified_text=verified_words(result.verified_at, stale=result.stale),
        stale=result.stale,
    )


def verified_words(verified_at: datetime | None, *, stale: bool) -> str:
    if verified_at is None:
        return "Not verified: check the details with the service before you go"
    when = date_words(to_london(verified_at).date())
    if stale:
        return f"Not recently verified (last checked {when}): check the details with the service before you go"
    return f"Details last verified {when}"


def results_heading(count: int, form: Form, open_choice: str, pinned: datetime | None = None) -> str:
    where = "your location" if form.near_me else form.postcode
    if pinned is not None:
        when = moment_words(pinned)
        what = {"now": f"open at {when}", "within:180": f"open at {when} or within 3 hours", "any": ""}[open_choice]
    else:
        what = {"now": "open now", "within:180": "open now or within 3 hours", "any": ""}[open_choice]
    noun = "place or line" if count == 1 else "places and lines"
    return " ".join(p for p in (f"{count} {noun}", what, f"near {where}") if p)


def need_label(need: Need) -> str:
    return NEED_LABELS[need]
