"""What the search page shows, in words: search results turned into cards, and the page's query string into a search.

Everything a person reads is worked out here, in Python, so the templates only lay it out and the wording can be
tested without a browser. Times are London times in the words people use ("closes at 2am tomorrow").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from html import escape
from typing import TypeVar
from urllib.parse import urlencode

from pydantic import TypeAdapter, ValidationError

from service_finder.domain.hours_text import date_words, time_words
from service_finder.domain.opening_hours import HOURS_NOT_RECORDED, LONDON, LOOK_AHEAD_DAYS, to_london
from service_finder.domain.phones import tel_uri
from service_finder.domain.taxonomy import (
    ACCESS_LABELS,
    NEED_LABELS,
    AccessFeature,
    ContactMode,
    Need,
    PhoneType,
    ServiceKind,
)
from service_finder.schemas import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    OPEN_PATTERN,
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
    # Escaped by the template; trimmed here so an integrator's heading cannot push the safety banner off screen, and
    # without invisible characters (a NUL is an HTML parse error; a bidi override would reorder the words shown).
    text = " ".join(visible(raw or "").split())[:HEADING_MAX]
    return text or DEFAULT_HEADING


# Control, format and surrogate characters: never put into the page's HTML, where a NUL is a parse error and a
# zero-width space or a bidi override would show something other than what was checked.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})


def visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE)


def _quoted(raw: str, limit: int) -> str:
    """' (not “thirty”)': a typed value shown back in a message, short; nothing when it cannot be shown as typed."""
    shown = visible(raw)
    if not shown or shown != raw:
        return ""
    return f" (not “{shown if len(shown) <= limit else shown[: limit - 1] + '…'}”)"


def _listed(values: Sequence[str]) -> str:
    """'3 and 40', 'LS1, LS2 and LS3': repeated values, short, as a person would list them."""
    shown = [f"“{v if len(v) <= 12 else v[:11] + '…'}”" for v in (visible(value) for value in values[:4])]
    if len(values) > 4:
        shown[-1] = "…"
    return ", ".join(shown[:-1]) + " and " + shown[-1]


@dataclass(frozen=True, slots=True)
class Form:
    """The page's query string as the form shows it back, with a message per field that cannot be used. Values
    are as typed but without invisible characters (see `visible`); a value with any cannot be searched for."""

    postcode: str = ""
    age: str = ""
    intoxicated: bool = False
    needs: tuple[Need, ...] = ()
    walk_in: bool = False
    access: tuple[AccessFeature, ...] = ()
    open: str = "now"  # as GET /v1/search takes it; "" when it cannot be used: none is shown chosen
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
    def options_error(self) -> bool:
        """A mistake in a field under "More options", which must then be open to be seen and put right."""
        return any(name in self.errors for name in _OPTION_FIELDS)

    @property
    def error_list(self) -> list[tuple[str, str]]:
        """(id of the field to go to, message), in the order the fields are on the page."""
        order = {name: i for i, name in enumerate(_FIELD_ORDER)}
        ordered = sorted(self.errors.items(), key=lambda item: order.get(item[0], len(order)))
        return [(_ANCHORS.get(name, name), message) for name, message in ordered]


# The page's fields in the order they are on it; the error summary lists mistakes in the same order. `kinds` has
# no field: its mistake is said in the line above the form that says which kinds are shown.
_FIELD_ORDER = ("kinds", "postcode", "at", "age", "intoxicated", "walk_in", "needs", "access", "open")
_OPTION_FIELDS = frozenset({"age", "intoxicated", "walk_in", "needs", "access", "open"})
# Radios and checkboxes have no field of their own to go to: the first one.
_ANCHORS = {
    "open": "open-1",
    "needs": f"needs-{OFFERED_NEEDS[0].value}",
    "access": f"access-{next(iter(OFFERED_ACCESS)).value}",
}
# Choices that come from the page's address (an integrator's link or snippet), never typed: one this search does not
# know is a mistake in that address, and the page answers 422 so that the site that built it can notice.
ADDRESS_FIELDS = frozenset({"kinds", "needs", "access"})
_NOT_KNOWN = {
    "kinds": "{name} {values} in the address of this page {verb} not a kind of service this search knows (the "
    "website showing this page should correct it): search again to see services without it",
    "needs": "{name} {values} in the address of this page {verb} not something this search knows: tick what you "
    "would like help with and search again",
    "access": "{name} {values} in the address of this page {verb} not an access need this search knows: tick the "
    "access you need and search again",
}
# Fields given once. Two different values are refused, as GET /v1/search refuses any repeat: using the last would
# search for `age=3&age=40` as 40 without saying so. The same value twice says one thing, and is used.
_SINGLE = ("postcode", "at", "age", "intoxicated", "walk_in", "open", "lat", "lon")
_REPEATED = {
    "postcode": "You gave more than one postcode ({values}): enter one postcode, like LS1 1UR or LS1",
    "at": "You gave more than one date and time ({values}): enter one, like 2026-11-27T20:00, or clear it to see "
    "what is open now",
    "age": "You gave more than one age ({values}): enter one age in years, like 34",
    "intoxicated": "“I have been drinking or using drugs” was sent more than once with different answers: tick it "
    "or leave it unticked",
    "walk_in": "“Only places I can walk into without an appointment” was sent more than once with different "
    "answers: tick it or leave it unticked",
    "open": "More than one choice of when was sent ({values}): choose one",
}
# Yes-or-no fields, read as GET /v1/search reads a boolean (pydantic's rules: true/false, yes/no, on/off, 1/0, t/f,
# y/n, in any case). Compared with "true" only, `intoxicated=yes` was read as no: a search that left out the very
# question the person answered.
_YES_NO = ("intoxicated", "walk_in")
_UNREADABLE = {
    "intoxicated": "The answer to “I have been drinking or using drugs” could not be read{quoted}: tick it or leave "
    "it unticked",
    "walk_in": "The answer to “Only places I can walk into without an appointment” could not be read{quoted}: tick "
    "it or leave it unticked",
}
_BOOLEAN: TypeAdapter[bool] = TypeAdapter(bool)
_OPEN = re.compile(OPEN_PATTERN)
LOCATION_UNREADABLE = "Your location could not be read: use your location again, or enter a postcode, like LS1 1UR"
LOCATION_UNUSABLE = "Your location could not be used: enter a postcode instead, like LS1 1UR or LS1"
E = TypeVar("E", Need, AccessFeature, ServiceKind)
_AT: TypeAdapter[datetime] = TypeAdapter(IsoDateTime)
# Plain decimals only, as "use my location" writes them ("53.801", "-1.550"). float() would also take "5_3" (53),
# "-1_5" (-15), "nan", "1e2" and fullwidth or Arabic-Indic digits, all of which GET /v1/search refuses.
_COORDINATE = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,15})?")
_AGE = re.compile(r"[0-9]+")  # not isdigit(): it takes "²", which int() refuses; and not int(): it takes "3_4"
_POSTCODE = re.compile(r"[A-Za-z0-9 ]+")  # before upper(): the long s (U+017F) upper-cases to "S"


def _enum_values(kind: type[E], values: Sequence[str]) -> tuple[tuple[E, ...], list[str]]:
    """The choices this search knows, and the others sent (an empty one is a choice not made). An unknown one was
    ignored without a word: `kinds=crisis_cafes` showed every kind, and the site that embedded it never knew."""
    members = {m.value: m for m in kind}
    known = tuple(dict.fromkeys(members[v] for v in values if v in members))
    return known, list(dict.fromkeys(v for v in values if v and v not in members))


def _not_known(name: str, values: list[str]) -> str:
    """The message for choices this search does not know, each as it was sent: for the site that built the address
    to find, so a character that would not show (a zero-width space, a control) is named by its code point."""

    def one(value: str) -> str:
        text = "".join(c if c.isprintable() else f"<U+{ord(c):04X}>" for c in value[:40])
        return f"“{text}{'…' if len(value) > 40 else ''}”"

    shown = [one(value) for value in values[:3]]
    if len(values) > 3:
        shown.append(f"{len(values) - 3} more")
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return _NOT_KNOWN[name].format(name=name, values=listed, verb="is" if len(values) == 1 else "are")


def _answer(name: str, raw: str) -> str:
    """A yes-or-no field's value as "true" or "false" when it can be read (so `true` and `yes` are one answer, not
    two different ones); any other field's value, or an unreadable answer, as sent."""
    if name not in _YES_NO:
        return raw
    try:
        return "true" if _BOOLEAN.validate_python(raw) else "false"
    except ValidationError:
        return raw


def _coordinate(raw: str) -> float | None:
    return float(raw) if _COORDINATE.fullmatch(raw) else None


def parse_form(params: Mapping[str, Sequence[str]]) -> tuple[Form, SearchRequest | None]:
    """The form to show back, and the search it asks for: None when there is nothing to search yet or an error.
    `params` holds every value each name was given, in order."""
    # An empty field is a field left blank, not a second answer: `age=&age=40` is 40.
    given = {
        name: list(dict.fromkeys(_answer(name, v.strip()) for v in params.get(name, ()) if v.strip()))
        for name in _SINGLE
    }
    repeated = {name for name, values in given.items() if len(values) > 1}

    def one(name: str) -> str:
        values = given[name]
        return values[0] if len(values) == 1 else ""

    typed = " ".join(one("postcode").split())
    errors = {name: _REPEATED[name].format(values=_listed(given[name])) for name in _REPEATED if name in repeated}
    lat = lon = None
    if not typed and "postcode" not in repeated and (given["lat"] or given["lon"]):
        # A typed postcode takes the place of "use my location"; without one, the location sent must be readable.
        lat, lon = _coordinate(one("lat")), _coordinate(one("lon"))
        if lat is None or lon is None:
            lat = lon = None
            errors["postcode"] = LOCATION_UNREADABLE  # two different latitudes included
    for name in _YES_NO:
        if one(name) not in {"", "true", "false"}:
            errors[name] = _UNREADABLE[name].format(quoted=_quoted(one(name), 12))
    open_choice = one("open") or ("" if "open" in repeated else "now")
    if not _OPEN.fullmatch(open_choice) and "open" not in repeated:
        # Said, not turned into "now" unseen: the API refuses it too. None of the choices is shown chosen.
        errors["open"] = "Choose when the places should be open" + _quoted(open_choice, 20)
        open_choice = ""
    needs, unknown_needs = _enum_values(Need, params.get("needs", ()))
    access, unknown_access = _enum_values(AccessFeature, params.get("access", ()))
    kinds, unknown_kinds = _enum_values(ServiceKind, params.get("kinds", ()))
    for name, unknown in (("kinds", unknown_kinds), ("needs", unknown_needs), ("access", unknown_access)):
        if unknown:
            errors[name] = _not_known(name, unknown)
    form = Form(
        # Shown back as typed when it holds more than A-Z: upper() would turn a long s into the S it only looks like.
        postcode=typed.upper() if typed.isascii() else typed,
        age=one("age"),
        intoxicated=one("intoxicated") == "true",
        needs=needs,
        walk_in=one("walk_in") == "true",
        access=access,
        open=open_choice,
        kinds=kinds,
        at=one("at"),
        lat=lat,
        lon=lon,
    )
    errors = {**_field_errors(form, typed=typed), **errors}
    if not (form.postcode or form.near_me) and "postcode" not in errors and "postcode" in params:
        # The form was sent with the postcode left empty: say so. A first visit just shows the form.
        errors["postcode"] = "Enter a postcode, like LS1 1UR or LS1"
    shown = replace(form, postcode=visible(form.postcode), age=visible(form.age), at=visible(form.at), errors=errors)
    if errors or not (form.postcode or form.near_me):
        return shown, None
    request = _search_request(form)
    if request is None:
        return replace(shown, errors={"postcode": LOCATION_UNUSABLE}), None
    return shown, request


def _field_errors(form: Form, *, typed: str) -> dict[str, str]:
    """What is wrong with each typed field, in words a person can act on (a postcode's own check against the
    gazetteer is the route's: it needs the gazetteer)."""
    errors: dict[str, str] = {}
    if typed and not _POSTCODE.fullmatch(typed):
        errors["postcode"] = "Enter a postcode using only letters, numbers and spaces, like LS1 1UR or LS1"
    elif len(typed) > 8:
        short = typed if len(typed) <= 12 else typed[:11] + "…"
        errors["postcode"] = f"{short} is too long for a postcode: enter one like LS1 1UR or LS1"
    if form.age:
        if not _AGE.fullmatch(form.age):
            errors["age"] = "Enter your age in years as a number, like 34" + _quoted(form.age, 12)
        elif len(form.age.lstrip("0")) > 3 or int(form.age) > 120:  # length first: int() refuses 4,301+ digits
            shown = form.age if len(form.age) <= 12 else form.age[:10] + "…"  # digits only: no quotes needed
            errors["age"] = f"Enter an age between 0 and 120 (not {shown})"
    if form.at:
        try:
            _AT.validate_python(form.at)  # the API's own rules for `at`, so the page and the API agree
        except ValidationError:
            errors["at"] = (
                f"Enter the date and time like 2026-11-27T20:00, between {EARLIEST_YEAR} and {LATEST_YEAR}, or "
                "clear it to see what is open now" + _quoted(form.at, 40)
            )
    return errors


def _search_request(form: Form) -> SearchRequest | None:
    """The search a form with no mistakes asks for; None for coordinates the API cannot take (a latitude of 95)."""
    try:
        return SearchRequest(
            postcode=form.postcode or None,
            lat=form.lat,
            lon=form.lon,
            age=int(form.age) if form.age else None,
            intoxicated=True if form.intoxicated else None,
            needs=list(form.needs),
            access=list(form.access),
            kinds=list(form.kinds),
            open=form.open,
            at=_AT.validate_python(form.at) if form.at else None,
            modes=[ContactMode.in_person] if form.walk_in else [],
            limit=WALK_IN_POOL if form.walk_in else MAX_RESULTS,
        )
    except ValidationError:
        # Only coordinates can get here (every typed field is checked above); the API's wording is for developers.
        return None


def hidden_options(form: Form, *, accent: str | None, heading: str | None) -> list[tuple[str, str]]:
    """Settings the form carries along unchanged: the integrator's options, and the location "use my location"
    gave (a typed postcode takes its place). A pinned time has a field of its own, so it can be seen and cleared."""
    pairs = [("kinds", kind.value) for kind in form.kinds]
    if accent:
        pairs.append(("accent", accent.removeprefix("#")))
    if heading:
        pairs.append(("heading", heading))
    if form.near_me and form.lat is not None and form.lon is not None:
        pairs.extend((("lat", _decimal(form.lat)), ("lon", _decimal(form.lon))))
    return pairs


def _decimal(value: float) -> str:
    # Written back as the page reads it (a plain decimal): repr() writes 0.00001 as "1e-05".
    return f"{value:.6f}".rstrip("0").rstrip(".")


def snippet_code(*, src: str, title: str, script: str) -> str:
    """The HTML an integrator copies into their own page, as text. Every value is escaped for an attribute here,
    and the template escapes the whole text once more to show it: a heading such as `Help" srcdoc="<script ...>`
    stays inside title="..." in the integrator's page instead of adding attributes to their frame."""
    return (
        f'<iframe data-service-finder src="{escape(src)}" title="{escape(title)}" allow="geolocation" '
        'loading="lazy" width="100%" height="1100" style="border:0;width:100%"></iframe>\n'
        f'<script src="{escape(script)}" async></script>'
    )


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
    status: str  # "open", "closed" or "unknown" (no hours recorded): the tag's colour
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
    """When a service opens or closes, as the words after "Opens" or "Closes": 'at 6pm today', 'at 2am tomorrow',
    'on Friday 4 December at 6pm', and a midnight as the end of a day: 'at midnight tonight'."""
    local, today = to_london(moment), to_london(now).date()
    days = (local.date() - today).days
    if local.hour == 0 and local.minute == 0:
        return "at " + _midnight(local.date(), today)
    clock = _clock(local)
    if days == 0:
        return f"at {clock} today"
    if days == 1:
        return f"at {clock} tomorrow"
    return f"on {_day(local.date())} at {clock}"


def _midnight(starts: date, today: date) -> str:
    """The midnight that starts `starts`, named by the day it ends: 'midnight tonight', 'midnight tomorrow night',
    'midnight at the end of Thursday 24 December'. Named by the day it starts, 'Friday 25 December at midnight' is
    read as the night of the 25th, a day late: a service shut all Christmas Day would seem open through it."""
    ends = starts - timedelta(days=1)
    if ends == today:
        return "midnight tonight"
    if ends == today + timedelta(days=1):
        return "midnight tomorrow night"
    return f"midnight at the end of {_day(ends)}"


def _day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def moment_words(moment: datetime) -> str:
    """'8pm on Friday 27 November 2026'; a midnight as the end of a day, as on the cards: 'midnight at the end of
    Friday 27 November 2026'."""
    local = to_london(moment)
    if local.hour == 0 and local.minute == 0:
        ends = local.date() - timedelta(days=1)
        return f"midnight at the end of {ends:%A} {date_words(ends)}"
    return f"{_clock(local)} on {local:%A} {date_words(local.date())}"


def _clock(local: datetime) -> str:
    """'1:30am'; in the hour the clocks repeat when they go back in October, which of the two: '1:30am (BST)' is
    an hour before '1:30am (GMT)', and without it a pinned time or a closing time would read as either."""
    shown = time_words(local.hour * 60 + local.minute)
    wall = local.replace(tzinfo=None)
    if wall.replace(tzinfo=LONDON, fold=0).utcoffset() != wall.replace(tzinfo=LONDON, fold=1).utcoffset():
        return f"{shown} ({local.tzname()})"
    return shown


def phone_link(phone: PhoneRecord) -> Phone:
    number = phone.number
    if phone.type is PhoneType.text:
        return Phone(f"Text {phone.display}", phone.display, f"sms:{number}", phone.description)
    if phone.type is PhoneType.whatsapp:
        # No link: WhatsApp's links go through a third party's website.
        return Phone(f"WhatsApp {phone.display}", phone.display, None, phone.description)
    if phone.type is PhoneType.textphone:
        # "Call" sent a hearing person to a line that answers only in typed text. The tel: link stays: a textphone
        # user dials it from a textphone (or a relay app), and the label says that is what it is for.
        return Phone(f"Textphone {phone.display}", phone.display, tel_uri(number, phone.display), phone.description)
    return Phone(f"Call {phone.display}", phone.display, tel_uri(number, phone.display), phone.description)


def distance_words(km: float) -> str:
    miles = km / KM_PER_MILE
    if miles < 0.05:  # "0.0 miles" reads as a mistake: under about 80 m, say so
        return "Under 0.1 miles (160 m) away in a straight line"
    shown = f"{miles:.1f}" if miles < 10 else f"{miles:.0f}"
    return f"{shown} {'mile' if shown == '1.0' else 'miles'} ({km:.1f} km) away in a straight line"


def minutes_words(minutes: int) -> str:
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def directions_url(latitude: float, longitude: float) -> str:
    # A link the person chooses to follow, to OpenStreetMap, with the destination only: their own location is
    # never put in it, and rel="noreferrer" keeps the search page's address (with their postcode) from being sent.
    return "https://www.openstreetmap.org/directions?" + urlencode({"route": f";{latitude:.5f},{longitude:.5f}"})


# Why a criterion the record does state is still 'check' for this person, in the page's words.
_KNOWN_BUT_UNSURE = {
    "catchment": "it may not cover where you are (a full postcode helps)",
    "gp_registration": "you must be registered with a GP in its area",
    "referral": "you may need a referral",
    # The page does not ask for a gender (it asked "which you have not given", naming a field it does not have):
    # the card's list of who it is for says which, for the person to judge.
    "gender": "it is only for some genders: see who it is for below",
}


# A location "use my location" places in Wales or Scotland: an England-wide catchment is in doubt because of where
# the person is, which a full postcode would not change.
_OUTSIDE_ENGLAND = "it may not cover where you are, as you seem to be outside England"


def _check_words(result: SearchResult, request: SearchRequest, *, outside_england: bool = False) -> str:
    """Why the verdict is 'check': what the person did not say, what the record does not say, or what depends on
    the person in a way the search cannot know (where they live, their GP). Said as the criteria say it: the
    record is only called silent when it is."""
    unknown = [c for c in result.eligibility.criteria if c.result == "unknown"]
    parts: list[str] = []
    # The one criterion the person can settle on the page, by giving their age.
    age_not_given = request.age is None and any(c.criterion == "age" for c in unknown)
    if age_not_given:
        parts.append("it depends on your age, which you have not given")
    silent = False
    for criterion in unknown:
        if criterion.criterion == "age" and age_not_given:
            continue
        words = _KNOWN_BUT_UNSURE.get(criterion.criterion)
        if criterion.criterion == "catchment" and outside_england:
            words = _OUTSIDE_ENGLAND
        if words is None or "not recorded" in criterion.reason:
            silent = True
        elif words not in parts:
            parts.append(words)
    if silent or not parts:
        parts.append("some of who it accepts is not recorded")
    return "Check before you go: " + ", and ".join(parts)


def card(
    result: SearchResult,
    *,
    now: datetime,
    today: date,
    request: SearchRequest,
    pinned: bool = False,
    outside_england: bool = False,
) -> Card:
    """A result as the page shows it. `pinned`: the search was for a time the person chose, not now, so the
    card says "at this time" rather than "now". `outside_england`: the location is in Wales or Scotland."""
    service = result.service
    if result.open_now:
        status, tag = "open", "Open at this time" if pinned else "Open now"
        text = "Open 24 hours" if result.closes_at is None else f"Closes {_when(result.closes_at, now)}"
    elif result.hours_today == HOURS_NOT_RECORDED:
        # No hours recorded: never shown as open, but not known to be closed either (hazard log H02, G2). "Closed"
        # beside "Opening hours not recorded" contradicts itself, and could turn a person away from an open door.
        status, tag, text = "unknown", "Hours not known", HOURS_NOT_RECORDED
    else:
        status, tag = "closed", "Closed at this time" if pinned else "Closed now"
        if result.opens_next_at is not None:
            text = f"Opens {_when(result.opens_next_at, now)}"
        else:
            # The engine looks LOOK_AHEAD_DAYS ahead for the next opening: beyond that it is not known, but it is
            # known not to open before.
            within = f"the {LOOK_AHEAD_DAYS} days after this time" if pinned else f"the next {LOOK_AHEAD_DAYS} days"
            text = f"Not open in {within}"
    travel = None
    warning = None
    if result.travel is not None:
        travel = f"About {minutes_words(result.travel.minutes)} {result.travel.mode} (an estimate)"
        if result.travel.arrives_before_close is False:
            # A warning beside the opening hours, not a reason it may suit: it is a reason it may not.
            warning = (
                f"It may close before you get there (about {minutes_words(result.travel.minutes)} {result.travel.mode})"
            )
    if result.eligibility.verdict is Verdict.eligible:
        verdict_text = "You can use this service"
    else:
        verdict_text = _check_words(result, request, outside_england=outside_england)
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
        status=status,
        status_tag=tag,
        status_text=text,
        # Left out when it only repeats the status ("Open 24 hours" beside "Open 24 hours today").
        hours_today="" if result.hours_today in {text, f"{text} today"} else result.hours_today,
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


def open_choices(form: Form) -> dict[str, str]:
    """The "When" radios: the page's three, and any other `open=within:<minutes>` it was sent (GET /v1/search takes
    1 to 9999 minutes), in order, so the choice the search used is the one shown chosen."""
    choices = dict(OPEN_CHOICES)
    if form.open.startswith("within:") and form.open not in choices:
        ahead = _within_words(form.open)
        choices[form.open] = f"Open now or in the next {'hour' if ahead == '1 hour' else ahead}"
    return dict(sorted(choices.items(), key=lambda item: _minutes_ahead(item[0])))


def _minutes_ahead(choice: str) -> int:
    """How far ahead a choice looks, to put the radios in order: now, then within:<minutes>, then any time."""
    if choice in {"now", "any"}:
        return 0 if choice == "now" else 10_000  # after within:9999, the longest the API takes
    return int(choice.removeprefix("within:"))


def _within_words(choice: str) -> str:
    """'within:180' -> '3 hours', 'within:60' -> '1 hour', 'within:90' -> '90 minutes'."""
    minutes = int(choice.removeprefix("within:"))
    hours, rest = divmod(minutes, 60)
    if rest:
        return minutes_words(minutes)
    return "1 hour" if hours == 1 else f"{hours} hours"


def results_heading(
    count: int, form: Form, open_choice: str, pinned: datetime | None = None, *, searched: str | None = None
) -> str:
    """`searched`: the postcode as the search read it ('LS1 1UR' for 'LS11UR', which reads as the district LS11)."""
    where = "your location" if form.near_me else searched or form.postcode
    when = "now" if pinned is None else f"at {moment_words(pinned)}"
    if open_choice == "any":
        what = ""
    elif open_choice == "now":
        what = f"open {when}"
    else:
        what = f"open {when} or within {_within_words(open_choice)}"
    noun = "place or line" if count == 1 else "places and lines"
    return " ".join(p for p in (f"{count} {noun}", what, f"near {where}") if p)


def need_choices(form: Form) -> list[tuple[Need, str]]:
    """The needs offered as checkboxes, then any other the page was sent (an integrator's link, a shared address).
    The search uses every one, so each is shown ticked, where the person can see it, untick it, and send it again."""
    others = [need for need in form.needs if need not in OFFERED_NEEDS]
    return [(need, NEED_LABELS[need]) for need in (*OFFERED_NEEDS, *others)]


def access_choices(form: Form) -> list[tuple[AccessFeature, str]]:
    """As need_choices, for access: a feature not offered but sent filters the results, so it is shown ticked too."""
    others = [feature for feature in form.access if feature not in OFFERED_ACCESS]
    return [*OFFERED_ACCESS.items(), *((f, ACCESS_LABELS[f][0].upper() + ACCESS_LABELS[f][1:]) for f in others)]


def access_note(form: Form) -> str | None:
    """What the access filter left out, said beside the results: every feature is required (GET /v1/search's
    `access`), so fewer places are shown than without it."""
    if not form.access:
        return None
    return f"Only places with all of these are shown: {', '.join(ACCESS_LABELS[f] for f in form.access)}."
