"""The search page as HTML, without a browser: what it says, which options it takes, and the headers it sends."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.config import Settings
from service_finder.domain.taxonomy import PhoneType
from service_finder.main import create_app
from service_finder.schemas import PhoneRecord, ServiceRecord
from service_finder.storage import repository
from service_finder.web import views
from service_finder.web.views import phone_link
from tests.conftest import GAZETTEER
from tests.factories import make_record
from tests.web.conftest import FRIDAY_EVENING, copyable_snippet

MONDAY_NOON = "2026-11-30T12:00:00+00:00"


def test_the_first_visit_shows_the_banner_and_an_empty_form(web: TestClient) -> None:
    page = web.get("/embed").text
    assert page.index('href="tel:999"') < page.index("<h1")
    for number in ('href="tel:111"', 'href="tel:116123"', 'href="sms:85258"'):
        assert number in page
    assert "There is a problem" not in page
    assert "results-heading" not in page


def test_an_open_service_is_shown_with_when_it_closes(web: TestClient) -> None:
    page = web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    assert "Leeds Test Café" in page
    # A time the caller pinned is never called "now": the card and the heading say "at this time" and when.
    assert "Open at this time</strong>" in page
    assert "Open now</strong>" not in page
    assert "open at 8pm on Friday 27 November 2026 near LS1 1UR" in page
    assert 'id="at" name="at" type="text" value="' + FRIDAY_EVENING in page  # shown, to be seen and cleared
    assert 'href="tel:+441134960001"' in page
    assert "Details last verified 1 October 2026" in page
    assert "Closes at 2am tomorrow" in page
    assert "https://www.openstreetmap.org/directions?route=%3B" in page


def test_a_closed_service_is_never_shown_as_open(web: TestClient) -> None:
    page = web.get("/embed", params={"postcode": "LS1 1UR", "at": MONDAY_NOON}).text
    assert "0 places and lines open at noon on Monday 30 November 2026 near LS1 1UR" in page
    assert "Open at this time</strong>" not in page
    later = web.get("/embed", params={"postcode": "LS1 1UR", "at": MONDAY_NOON, "open": "any"}).text
    assert "Closed at this time" in later
    assert "Opens on Friday 4 December at 6pm" in later
    assert "Open at this time</strong>" not in later


def test_an_empty_postcode_and_a_bad_age_are_explained(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "", "age": "thirty"}).text
    assert "Enter a postcode, like LS1 1UR or LS1" in page
    page = web.get("/", params={"postcode": "LS1 1UR", "age": "thirty"}).text
    assert "Enter your age in years as a number, like 34 (not “thirty”)" in page
    assert 'aria-describedby="age-hint age-error"' in page
    assert '<details class="nhsuk-details sf-options" open>' in page


def test_a_scottish_postcode_points_to_nhs_24(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "EH1 1YZ"}).text
    assert "outside England" in page
    assert "NHS 24 on 111" in page


def test_every_mistake_is_in_the_summary_at_once(web: TestClient) -> None:
    # A Scottish postcode beside an age that is not a number: both said now, with where to get help in Scotland,
    # not the postcode only after the age is put right.
    page = web.get("/", params={"postcode": "EH1 1YZ", "age": "abc"}).text
    assert "Enter your age in years as a number" in page
    assert "NHS 24 on 111" in page
    assert 'href="#postcode"' in page
    assert 'href="#age"' in page


def test_options_are_validated_and_escaped(web: TestClient) -> None:
    page = web.get("/embed", params={"heading": "<script>alert(1)</script>", "accent": "red;}"}).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "theme.css" not in page  # an accent that is not a hex colour is ignored
    themed = web.get("/embed", params={"accent": "#FFDD00"}).text
    assert "/embed/theme.css?accent=ffdd00" in themed
    css = web.get("/embed/theme.css", params={"accent": "ffdd00"}).text
    assert "--sf-accent:#ffdd00" in css
    assert "--sf-accent-text:#000000" in css
    assert "--sf-accent-text:#ffffff" in web.get("/embed/theme.css", params={"accent": "330072"}).text


def test_preset_kinds_are_carried_by_the_form(web: TestClient) -> None:
    page = web.get("/embed", params={"kinds": ["crisis_cafe", "no_such_kind"], "postcode": "LS1"}).text
    assert '<input type="hidden" name="kinds" value="crisis_cafe">' in page
    assert 'value="no_such_kind"' not in page  # said as a mistake in the address (test_page_input), never carried
    assert "Showing: Crisis café, safe haven or sanctuary" in page


def test_walk_in_only_keeps_walk_in_places(web: TestClient, sqlite_engine: Engine) -> None:
    phone_only = make_record("leeds-line", name="Leeds Line", eligibility={"referral_routes": ["self_referral"]})
    with Session(sqlite_engine) as session:
        repository.upsert_services(session, [phone_only], actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    web.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    both = web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    assert "Leeds Line" in both
    walk_in = web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "walk_in": "true"}).text
    assert "Leeds Line" not in walk_in
    assert "Only places you can walk into are shown" in walk_in


def test_walk_in_only_keeps_a_walk_in_cafe_whose_record_lists_no_ways_in(
    web: TestClient, sqlite_engine: Engine
) -> None:
    # Other publishers' HSDS never records ways in: a walk-in crisis café with none listed is a place to go (its
    # card has an address and directions), yet "Only places I can walk into" took it away.
    imported = make_record("imported-cafe", name="Imported Haven", access={"contact_modes": []})
    with Session(sqlite_engine) as session:
        repository.upsert_services(session, [imported], actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    web.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    walk_in = web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "walk_in": "true"}).text
    assert "Imported Haven" in walk_in
    assert "Leeds Test Café" in walk_in


def test_a_helpline_found_by_its_office_has_no_address_directions_or_distance_on_its_card(
    web: TestClient, sqlite_engine: Engine
) -> None:
    # A helpline recording no ways in and no catchment is found by its office, but nobody goes there: its card gave
    # the office's address, "Directions on OpenStreetMap", "0.1 miles away" and "check before travelling", while
    # its FHIR Location said "an office, not open to visitors".
    helpline = make_record(
        "listening-line",
        name="Leeds Listening Line",
        kind="helpline",
        eligibility={"minimum_age": None, "catchment": None},
        access={"contact_modes": []},
        schedules=[{"id": "listening-line-hours", "always_open": True}],
    )
    with Session(sqlite_engine) as session:
        repository.upsert_services(session, [helpline], actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    web.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    page = web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    card = page.split('sf-card__name">Leeds Listening Line</h3>', 1)[1].split('class="sf-verified', 1)[0]
    assert 'href="tel:+441134960001"' in card
    for place_words in ("Calverley Street", "Directions on OpenStreetMap", "sf-card__distance", "travelling"):
        assert place_words not in card, place_words
    assert "not open to visitors" in web.get("/fhir/Location/listening-line-loc").json()["description"]
    # The café at the same address is a place to go, and its card says how to get there.
    cafe = page.split('sf-card__name">Leeds Test Café</h3>', 1)[1].split('class="sf-verified', 1)[0]
    assert "Directions on OpenStreetMap" in cafe


def test_headers_forbid_other_hosts_cookies_and_caching(web: TestClient) -> None:
    response = web.get("/embed", params={"postcode": "LS1 1UR"})
    policy = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'"):
        assert directive in policy
    assert "frame-ancestors *" in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.headers
    assert "frame-ancestors 'self'" in web.get("/").headers["content-security-policy"]


def test_assets_are_compressed_and_kept(web: TestClient) -> None:
    page = web.get("/embed").text
    css_url = page.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    response = web.get(css_url, headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "immutable" in response.headers["cache-control"]
    assert int(response.headers["content-length"]) < 30_000
    assert "https://" not in response.text  # no web fonts or images from another host
    assert web.get("/embed/static/nothing-here.js").status_code == 404
    assert "service-finder:height" in web.get("/embed.js").text


def test_the_snippet_page_gives_a_working_snippet(web: TestClient) -> None:
    page = web.get("/embed/snippet", params={"postcode": "ls1", "kinds": "crisis_cafe", "accent": "330072"}).text
    # What an integrator copies: the text in the code box, its attribute values escaped for HTML.
    code = copyable_snippet(page)
    assert 'src="http://testserver/embed?postcode=LS1&amp;kinds=crisis_cafe&amp;accent=330072"' in code
    assert '<script src="http://testserver/embed.js" async></script>' in code
    assert '<iframe class="sf-preview" data-service-finder src="/embed?postcode=LS1&amp;kinds=crisis_cafe' in page


def test_the_snippet_points_at_the_configured_public_address_not_the_host_header(sqlite_engine: Engine) -> None:
    settings = Settings(
        database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, public_base_url="https://finder.example.org"
    )
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        page = client.get("/embed/snippet", headers={"Host": "evil.example"}).text
    assert 'src="https://finder.example.org/embed"' in copyable_snippet(page)
    assert "evil.example" not in page
    assert "Check the address in the snippet" not in page  # configured: nothing to check
    with pytest.raises(ValueError, match="https"):
        Settings(environment="production", public_base_url="http://finder.example.org")


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, "*"),
        ("'self' https://charity.example https://*.nhs.uk", "'self' https://charity.example https://*.nhs.uk"),
        ("https://ok.example; script-src *", "'none'"),
    ],
)
def test_who_may_embed_is_configurable(configured: str | None, expected: str) -> None:
    from service_finder.web.routes import frame_ancestors

    class Configured(Settings):
        frame_ancestors: str = configured or "*"

    assert frame_ancestors(Configured() if configured else Settings()) == expected


def test_demo_and_stale_records_are_labelled(web: TestClient, sqlite_engine: Engine) -> None:
    old_demo = make_record(
        "leeds-demo-cafe",
        name="Leeds Demo Café",
        provenance={"source_name": "demo", "verified_at": "2024-01-05T10:00:00+00:00", "verify_due": "2024-07-01"},
    )
    with Session(sqlite_engine) as session:
        repository.upsert_services(session, [old_demo], actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    web.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    page = web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    cards = page.split('<li class="nhsuk-card sf-card')[1:]
    demo = next(card for card in cards if "Leeds Demo Café" in card)
    real = next(card for card in cards if "Leeds Test Café" in card)
    assert "Demonstration data — not a real service" in demo
    assert "Not recently verified (last checked 5 January 2024)" in demo
    assert "Demonstration data" not in real
    assert "Not recently verified" not in real


def test_check_before_you_go_names_the_real_doubt_not_a_missing_record(web: TestClient, sqlite_engine: Engine) -> None:
    gp_only = make_record(
        "leeds-gp-cafe",
        name="Leeds GP Café",
        eligibility={
            "minimum_age": 18,
            "catchment": {"type": "districts", "districts": ["E08000035"]},
            "referral_routes": ["walk_in"],
            "accepts_intoxicated": False,
            "gp_registration_required": True,
        },
    )
    silent = make_record(
        "leeds-silent-cafe",
        name="Leeds Silent Café",
        eligibility={
            "minimum_age": 18,
            "catchment": {"type": "districts", "districts": ["E08000035"]},
            "referral_routes": ["walk_in"],
            "gp_registration_required": None,
        },
    )
    with Session(sqlite_engine) as session:
        repository.upsert_services(session, [gp_only, silent], actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    web.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
    page = web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "age": "30"}).text
    cards = {
        name: next(c for c in page.split('<li class="nhsuk-card sf-card')[1:] if name in c)
        for name in ("Leeds GP Café", "Leeds Silent Café")
    }
    # The record says a GP registration is needed: the doubt is the person's GP, not a gap in the directory.
    assert "Check before you go: you must be registered with a GP in its area" in cards["Leeds GP Café"]
    assert "not recorded" not in cards["Leeds GP Café"].split("Check before you go")[1].split("<")[0]
    # A record that does not say whether it takes people who have been drinking is called silent, as it is.
    assert "Check before you go: some of who it accepts is not recorded" in cards["Leeds Silent Café"]


@pytest.mark.parametrize(
    ("km", "words"),
    [
        (0.03, "Under 0.1 miles (160 m) away in a straight line"),
        (1.609, "1.0 mile (1.6 km) away in a straight line"),
        (3.2, "2.0 miles (3.2 km) away in a straight line"),
    ],
)
def test_distances_read_as_english(km: float, words: str) -> None:
    assert views.distance_words(km) == words
    assert (views.minutes_words(1), views.minutes_words(2)) == ("1 minute", "2 minutes")


def test_a_call_link_dials_the_extension_shown() -> None:
    link = phone_link(PhoneRecord(number="0113 496 0500 ext 2"))
    assert (link.label, link.href) == ("Call 0113 496 0500 x2", "tel:+441134960500;ext=2")


def test_may_close_before_you_arrive_is_a_warning_beside_the_hours_not_a_reason_it_suits(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "LS16", "at": "2026-11-28T01:50:00+00:00"}).text
    assert "Leeds Test Café" in page
    assert "<strong>Warning:</strong> It may close before you get there" in page
    reasons = page.split("Why it may suit you:")[1].split("</p>")[0] if "Why it may suit you:" in page else ""
    assert "close" not in reasons


def test_long_ages_odd_times_and_far_away_locations_are_explained_not_500(web: TestClient) -> None:
    long_age = web.get("/", params={"postcode": "LS1 1UR", "age": "1" * 4400})
    assert long_age.status_code == 200
    assert "Enter an age between 0 and 120 (not 1111111111…)" in long_age.text
    # `at` as the API reads it: a week date the API refuses is refused here too, next to a field that exists.
    for odd in ("garbage", "2026-W48-2"):
        page = web.get("/", params={"postcode": "LS1 1UR", "at": odd}).text
        assert 'href="#at"' in page
        assert 'id="at"' in page
        assert "Enter the date and time like 2026-11-27T20:00" in page
    edinburgh = web.get("/", params={"lat": "55.95", "lon": "-3.19"}).text
    assert "Your location seems to be outside England" in edinburgh
    assert "Searching by postcode is not available" not in edinburgh


def test_use_my_location_is_kept_when_searching_again_and_a_typed_postcode_replaces_it(web: TestClient) -> None:
    page = web.get("/", params={"lat": "53.8", "lon": "-1.55", "at": FRIDAY_EVENING}).text
    assert "near your location" in page
    assert '<input type="hidden" name="lat" value="53.8">' in page
    assert '<input type="hidden" name="lon" value="-1.55">' in page
    typed = web.get("/", params={"lat": "53.8", "lon": "-1.55", "postcode": "LS1", "at": FRIDAY_EVENING}).text
    assert "near LS1" in typed
    assert 'name="lat"' not in typed


def test_only_an_embed_takes_a_heading(web: TestClient) -> None:
    words = "Lines closed today: call 0900 000 000"
    assert words in web.get("/embed", params={"heading": words}).text
    assert words not in web.get("/", params={"heading": words}).text


def test_a_midnight_is_named_by_the_day_it_ends() -> None:
    london = ZoneInfo("Europe/London")
    now = datetime(2026, 11, 23, 23, 0, tzinfo=london)  # Monday
    assert views._when(datetime(2026, 11, 24, 0, 0, tzinfo=london), now) == "at midnight tonight"
    assert views._when(datetime(2026, 11, 25, 0, 0, tzinfo=london), now) == "at midnight tomorrow night"
    assert views._when(datetime(2026, 11, 26, 0, 0, tzinfo=london), now) == (
        "at midnight at the end of Wednesday 25 November"
    )
    assert views._when(datetime(2026, 11, 24, 9, 0, tzinfo=london), now) == "at 9am tomorrow"
    assert views._when(datetime(2026, 11, 26, 18, 0, tzinfo=london), now) == "on Thursday 26 November at 6pm"
    # A pinned search time reads the same way: 00:00 on Saturday is the end of Friday.
    assert views.moment_words(datetime(2026, 11, 28, 0, 0, tzinfo=london)) == (
        "midnight at the end of Friday 27 November 2026"
    )


def test_a_time_in_the_hour_the_clocks_repeat_says_which(web: TestClient) -> None:
    # 25 October 2026: the clocks go back at 2am BST, so 1:00 to 1:59am happen twice, an hour apart.
    headings = [
        re.findall(
            r'id="results-heading" tabindex="-1">([^<]*)<', web.get("/", params={"postcode": "LS1", "at": at}).text
        )
        for at in ("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z")
    ]
    assert headings == [
        ["0 places and lines open at 1:30am (BST) on Sunday 25 October 2026 near LS1"],
        ["0 places and lines open at 1:30am (GMT) on Sunday 25 October 2026 near LS1"],
        ["0 places and lines open at 2:30am on Sunday 25 October 2026 near LS1"],
    ]
    saturday = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    assert views._when(datetime(2026, 10, 25, 1, 15, tzinfo=UTC), saturday) == "at 1:15am (GMT) tomorrow"


def _store(web: TestClient, *records: ServiceRecord) -> None:
    engine = web.app.state.service_finder.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        repository.upsert_services(session, list(records), actor="test", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    web.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]


def _statuses(page: str) -> list[str]:
    """Each card's open-or-closed line, as a person reads it."""
    return [" ".join(re.sub(r"<[^>]+>", " ", s).split()) for s in re.findall(r'<p class="sf-status">(.*?)</p>', page)]


EVERY_DAY = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def test_a_closing_midnight_days_away_names_the_day_that_ends_there(web: TestClient) -> None:
    # Open round the clock, closed on bank holidays: it closes at 00:00 on 25 December, the start of Christmas Day.
    sessions = [{"day": day, "opens_at": "00:00", "closes_at": "24:00"} for day in EVERY_DAY]
    _store(
        web,
        make_record(
            "leeds-cafe", schedules=[{"id": "leeds-cafe-hours", "sessions": sessions, "bank_holidays": "closed"}]
        ),
    )
    at = "2026-12-21T12:00:00Z"  # Monday
    assert web.get("/v1/search", params={"postcode": "LS1 1UR", "at": at}).json()["results"][0]["closes_at"] == (
        "2026-12-25T00:00:00Z"
    )
    page = web.get("/", params={"postcode": "LS1 1UR", "at": at}).text
    # "Closes at Friday 25 December at midnight" was read as open through Christmas Day.
    assert _statuses(page) == ["Open at this time Closes at midnight at the end of Thursday 24 December"]


def test_an_opening_midnight_days_away_names_the_night_it_falls_in(web: TestClient) -> None:
    night = {"id": "leeds-cafe-hours", "sessions": [{"day": "sunday", "opens_at": "00:00", "closes_at": "04:00"}]}
    _store(web, make_record("leeds-cafe", schedules=[night]))
    page = web.get("/", params={"postcode": "LS1 1UR", "open": "any", "at": "2026-11-25T12:00:00Z"}).text
    # It opens as Saturday night turns into Sunday: "Opens at Sunday 29 November at midnight" read as Sunday night.
    assert _statuses(page) == ["Closed at this time Opens at midnight at the end of Saturday 28 November"]


def test_a_service_with_no_recorded_hours_is_not_tagged_closed(web: TestClient) -> None:
    _store(web, make_record("leeds-cafe", schedules=[]))
    page = web.get("/", params={"postcode": "LS1 1UR", "open": "any", "at": FRIDAY_EVENING}).text
    # Not "Closed at this time", then "Opening time not known", then "Opening hours not recorded": it may be open.
    assert _statuses(page) == ["Hours not known Opening hours not recorded: phone to check"]
    assert "nhsuk-tag--white" in page
    assert page.count("Opening hours not recorded") == 1


def test_a_service_that_does_not_open_within_the_look_ahead_says_so(web: TestClient) -> None:
    # Friday evenings from Saturday 5 December: the first is Friday 11 December at 6pm.
    hours = {
        "id": "leeds-cafe-hours",
        "sessions": [{"day": "friday", "opens_at": "18:00", "closes_at": "02:00"}],
        "valid_from": "2026-12-05",
    }
    _store(web, make_record("leeds-cafe", schedules=[hours]))

    def status(at: str) -> list[str]:
        return _statuses(web.get("/", params={"postcode": "LS1 1UR", "open": "any", "at": at}).text)

    # 14 days less a minute ahead it says when; 14 days and a minute ahead, beyond the engine's look-ahead, it says
    # what is known ("Opening time not known" said nothing true).
    assert status("2026-11-27T18:01:00Z") == ["Closed at this time Opens on Friday 11 December at 6pm"]
    assert status("2026-11-27T17:59:00Z") == ["Closed at this time Not open in the 14 days after this time"]


def test_check_says_what_the_person_did_not_give_apart_from_what_is_not_recorded(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    adult_only = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "age": "30"}).text
    assert "it depends on your age, which you have not given" in page
    assert "it depends on your age" not in adult_only


def test_a_results_page_is_never_indexed_and_gzip_q0_is_respected(web: TestClient) -> None:
    assert '<meta name="robots" content="index">' in web.get("/").text
    results = web.get("/", params={"postcode": "LS1 1UR", "needs": "self_harm"}).text
    assert '<meta name="robots" content="noindex">' in results  # its address holds the postcode and the needs
    plain = web.get("/", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in plain.headers
    assert web.get("/", headers={"Accept-Encoding": "br, gzip;q=0.5"}).headers["content-encoding"] == "gzip"


def _local_line(service_id: str, name: str, **overrides: object) -> ServiceRecord:
    """A 24/7 crisis line for Leeds, by phone only: the safety net offers it to anyone searching there."""
    return make_record(
        service_id,
        name=name,
        kind="crisis_line",
        eligibility={"minimum_age": None, "catchment": {"type": "districts", "districts": ["E08000035"]}},
        access={"contact_modes": ["phone"]},
        locations=[],
        schedules=[{"id": f"{service_id}-hours", "always_open": True}],
        **overrides,
    )


def _more_lines(page: str) -> str:
    """The "More phone lines" list, as HTML."""
    return page.split("More phone lines</h3>", 1)[1].split("</ul>", 1)[0]


def test_a_stale_local_line_says_it_is_not_recently_verified(web: TestClient) -> None:
    stale = _local_line(
        "leeds-old-line",
        "Leeds Old Line",
        phones=[{"number": "0113 496 0777"}],
        provenance={"verified_at": "2024-11-11T09:00:00+00:00", "verify_due": "2025-05-01"},
    )
    fresh = _local_line("leeds-new-line", "Leeds New Line", phones=[{"number": "0113 496 0888"}])
    _store(web, stale, fresh)
    lines = _more_lines(web.get("/embed", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text)
    old, new = (next(li for li in lines.split("<li")[1:] if name in li) for name in ("Leeds Old", "Leeds New"))
    # A number past its review date, shown as a card would show it: not as one known to be current (H04).
    assert "Not recently verified (last checked 11 November 2024)" in old
    assert "sf-verified--stale" in old
    assert "Details last verified 1 October 2026" in new
    assert "Not recently verified" not in new


# Every type a record's phone may have (schemas.PhoneRecord.type), with what the page must call it.
NUMBER_LABELS = {
    PhoneType.voice: ("Call 0113 496 0999", "tel:+441134960999"),
    PhoneType.text: ("Text 0113 496 0999", "sms:+441134960999"),
    # A textphone line answers typed text only: "Call" sent a hearing person to it to speak.
    PhoneType.textphone: ("Textphone 0113 496 0999", "tel:+441134960999"),
    PhoneType.whatsapp: ("WhatsApp 0113 496 0999", None),
}


@pytest.mark.parametrize("kind", list(PhoneType))
def test_every_kind_of_number_is_labelled_for_what_it_takes(kind: PhoneType) -> None:
    link = phone_link(PhoneRecord(number="0113 496 0999", type=kind))
    assert (link.label, link.href) == NUMBER_LABELS[kind]


def test_a_card_shows_a_textphone_number_as_a_textphone(web: TestClient) -> None:
    phones = [{"number": "0113 496 0001"}, {"number": "0113 496 0999", "type": "textphone"}]
    _store(web, make_record("leeds-cafe", phones=phones))
    page = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    assert "Call 0113 496 0001" in page
    assert "Textphone 0113 496 0999" in page
    assert "Call 0113 496 0999" not in page


def test_use_my_location_in_wales_gives_the_help_a_welsh_postcode_gets(web: TestClient) -> None:
    helpline = make_record(
        "england-helpline",
        name="England Evening Helpline",
        kind="helpline",
        eligibility={"minimum_age": None, "catchment": {"type": "england"}},
        access={"contact_modes": ["phone"]},
        locations=[],
    )
    _store(web, helpline)
    welsh_postcode = web.get("/", params={"postcode": "CF10 1AA"}).text
    assert "In Wales, call 111 and choose option 2 for urgent mental health help" in welsh_postcode
    cardiff = web.get("/", params={"lat": "51.481", "lon": "-3.179", "at": FRIDAY_EVENING}).text
    # Answered (near the border a person may use services across it), with what to do in Wales, as for a postcode.
    assert "England Evening Helpline" in cardiff
    assert (
        '<p class="sf-warning">Your location seems to be in Wales, outside England, which this search covers. '
        "In Wales, call 111 and choose option 2 for urgent mental health help.</p>"
    ) in cardiff
    # The doubt is where the person is, not a postcode they could type.
    assert "Check before you go: it may not cover where you are, as you seem to be outside England<" in cardiff
    assert "a full postcode helps" not in cardiff
    leeds = web.get("/", params={"lat": "53.8", "lon": "-1.55", "at": FRIDAY_EVENING}).text
    assert "England Evening Helpline" in leeds
    assert "outside England" not in leeds
    assert "You can use this service" in leeds


def test_an_empty_answer_points_below_only_when_lines_are_listed_there(web: TestClient) -> None:
    def empty_words() -> str:
        # Cafés only: the café is shut at noon on Monday, and a local line is listed below, never as a café.
        page = web.get("/", params={"postcode": "LS1 1UR", "at": MONDAY_NOON, "kinds": "crisis_cafe"}).text
        return page.split('<p class="sf-empty">', 1)[1].split("</p>", 1)[0]

    # Nothing below the results: "and below" sent the person looking for lines that are not there.
    assert empty_words().endswith("the phone lines at the top of this page answer at any time.")
    _store(web, _local_line("leeds-night-line", "Leeds Night Line", phones=[{"number": "0113 496 0777"}]))
    assert empty_words().endswith("the phone lines at the top of this page and below answer at any time.")


def test_a_service_for_some_genders_says_so_without_asking_for_a_gender_the_form_has_no_field_for(
    web: TestClient,
) -> None:
    _store(web, make_record("leeds-cafe", name="Leeds Men's Café", eligibility={"genders": ["men"]}))
    page = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "age": "30"}).text
    assert "Check before you go: it is only for some genders: see who it is for below<" in page
    assert "for men only" in page.split("see who it is for below", 1)[1]  # what "below" points to
    assert "your gender" not in page
    without_age = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    assert (
        "Check before you go: it depends on your age, which you have not given, and it is only for some genders: "
        "see who it is for below<"
    ) in without_age


@pytest.mark.parametrize(
    ("path", "canonical"),
    [("/embed/", "/embed"), ("/embed/snippet/", "/embed/snippet")],
)
def test_a_slash_at_the_end_leads_to_the_page_not_a_blank_frame(web: TestClient, path: str, canonical: str) -> None:
    # A charity that pastes `/embed/` into its frame showed a 404 problem no frame may display: no urgent numbers.
    query = "postcode=LS1+1UR&kinds=crisis_cafe&kinds=crisis_line&heading=Get+help"
    moved = web.get(f"{path}?{query}", follow_redirects=False)
    assert moved.status_code == 308
    assert moved.headers["location"] == f"{canonical}?{query}"
    assert moved.headers["cache-control"] == "no-store"  # the query holds the postcode
    assert web.get(path, follow_redirects=False).headers["location"] == canonical
    page = web.get(f"{path}?{query}")
    assert page.status_code == 200
    assert 'href="tel:999"' in page.text
    posted = web.post(path, follow_redirects=False)
    assert (posted.status_code, posted.headers["location"]) == (308, canonical)
    assert web.head(path, follow_redirects=False).status_code == 308


@pytest.mark.parametrize(
    ("typed", "heading"), [("ls11ur", "near LS1 1UR"), ("Ls1   1ur", "near LS1 1UR"), ("ls1", "near LS1")]
)
def test_the_results_heading_names_the_postcode_as_searched(web: TestClient, typed: str, heading: str) -> None:
    page = web.get("/", params={"postcode": typed, "at": FRIDAY_EVENING}).text
    # "near LS11UR" reads as the district LS11, a different part of Leeds from the one searched.
    assert re.search(rf'id="results-heading" tabindex="-1">[^<]* {heading}</h2>', page)
