"""What the search page and the snippet page make of odd input: repeated fields, digit separators, invisible
characters, markup in an integrator's options, a form sent with POST. Each is said to the person in plain words,
next to the field they can change, and nothing they sent is put into the page's HTML except as escaped text."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Collection
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import FRIDAY_EVENING, copyable_snippet


class _Tags(HTMLParser):
    """Start tags and their attributes, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser.tags


def _error_summary(page: str) -> list[tuple[str, str]]:
    """(link target, text) of each entry in the error summary, as a person reads them."""
    summary = page.split('nhsuk-error-summary__list">', 1)[1].split("</ul>", 1)[0]
    return [(href, html.unescape(text)) for href, text in re.findall(r'<li><a href="([^"]*)">(.*?)</a></li>', summary)]


def _control_characters(page: str) -> list[str]:
    return [hex(ord(c)) for c in page if unicodedata.category(c) in {"Cc", "Cf"} and c not in "\n\r\t"]


# --- F4: the snippet an integrator copies -----------------------------------------------------------------------

SNIPPET_ATTRIBUTES = {"data-service-finder", "src", "title", "allow", "loading", "width", "height", "style"}


@pytest.mark.parametrize(
    "heading",
    [
        'Help" srcdoc="<script src=//evil.example/x.js></script>',
        "Help' onload='alert(1)",
        "Tom & Jerry's <b>help</b> &quot;line&quot;",
    ],
    ids=["double-quote", "single-quote", "ampersand-and-markup"],
)
def test_a_heading_cannot_add_attributes_or_markup_to_the_copied_snippet(web: TestClient, heading: str) -> None:
    page = web.get("/embed/snippet", params={"heading": heading, "postcode": "LS1"}).text
    code = copyable_snippet(page)
    # The integrator's browser reads the pasted snippet as one frame and one script, with these attributes only,
    # and the frame's title is the heading, as text.
    tags = _tags(code)
    assert [tag for tag, _ in tags] == ["iframe", "script"]
    frame = tags[0][1]
    assert set(frame) == SNIPPET_ATTRIBUTES
    assert frame["title"] == heading
    query = parse_qs(urlsplit(frame["src"] or "").query)
    assert query == {"postcode": ["LS1"], "heading": [heading]}
    assert tags[1][1] == {"src": "http://testserver/embed.js", "async": None}


def test_options_that_cannot_be_used_do_not_reach_the_snippet(web: TestClient) -> None:
    params = {"postcode": 'LS1"><x', "accent": '330072" x="', "kinds": ['crisis_cafe"', "crisis_line"]}
    code = copyable_snippet(web.get("/embed/snippet", params=params).text)
    frame = _tags(code)[0][1]
    assert set(frame) == SNIPPET_ATTRIBUTES
    assert parse_qs(urlsplit(frame["src"] or "").query) == {"kinds": ["crisis_line"]}


def test_an_option_given_twice_with_different_values_is_left_out_of_the_snippet(web: TestClient) -> None:
    page = web.get("/embed/snippet", params={"heading": ["Leeds", "Help"], "accent": ["330072", "ffdd00"]}).text
    frame = _tags(copyable_snippet(page))[0][1]
    assert frame["src"] == "http://testserver/embed"
    assert frame["title"] == "Find crisis support near you"


def test_without_a_configured_address_the_page_says_to_check_the_one_from_the_request(web: TestClient) -> None:
    page = web.get("/embed/snippet", headers={"Host": "evil.example"}).text
    assert "Check the address in the snippet before you paste it" in page
    assert "uses the address this page was asked on, http://evil.example" in page
    assert _tags(copyable_snippet(page))[0][1]["src"] == "http://evil.example/embed"
    # A Host that is not a plain host[:port] is never copied into integrators' pages: the server's own address is.
    odd = web.get("/embed/snippet", headers={"Host": 'evil.example"><b'}).text
    assert "evil.example" not in odd
    assert set(_tags(copyable_snippet(odd))[0][1]) == SNIPPET_ATTRIBUTES


# --- F5: a field given twice ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_two_different_ages_are_an_error_not_the_last_one_searched_for(web: TestClient, path: str) -> None:
    page = web.get(f"{path}?postcode=LS1&age=3&age=40").text
    assert _error_summary(page) == [
        ("#age", "You gave more than one age (“3” and “40”): enter one age in years, like 34")
    ]
    assert 'id="age-error"' in page
    assert 'id="age" name="age" type="text" inputmode="numeric" value=""' in page
    assert "results-heading" not in page
    assert page.count("<title>Error: ") == 1


@pytest.mark.parametrize(
    ("query", "anchor", "words"),
    [
        ("postcode=LS1&postcode=LS2", "#postcode", "You gave more than one postcode (“LS1” and “LS2”)"),
        ("postcode=LS1&at=2026-11-27T20:00&at=2026-11-30T12:00", "#at", "You gave more than one date and time"),
        ("postcode=LS1&open=now&open=any", "#open-1", "More than one choice of when was sent (“now” and “any”)"),
        ("postcode=LS1&intoxicated=true&intoxicated=false", "#intoxicated", "I have been drinking or using drugs"),
        ("postcode=LS1&walk_in=true&walk_in=no", "#walk_in", "Only places I can walk into"),
        ("lat=53.8&lat=53.9&lon=-1.55", "#postcode", "Your location could not be read"),
    ],
    ids=["postcode", "at", "open", "intoxicated", "walk_in", "lat"],
)
def test_every_field_given_twice_is_named_in_the_error_summary(
    web: TestClient, query: str, anchor: str, words: str
) -> None:
    page = web.get(f"/?{query}").text
    summary = _error_summary(page)
    assert [target for target, _ in summary] == [anchor]
    assert words in summary[0][1]
    assert "results-heading" not in page
    if anchor in {"#open-1", "#intoxicated", "#walk_in"}:
        # The field is under "More options": opened, so the summary's link reaches it.
        assert '<details class="nhsuk-details sf-options" open>' in page
        assert anchor.removeprefix("#") in re.findall(r'id="([^"]+)"', page)


def test_the_same_value_twice_is_one_answer_and_a_blank_one_is_none(web: TestClient) -> None:
    params = {"postcode": "LS1 1UR", "age": ["40", "40", ""], "at": FRIDAY_EVENING}
    page = web.get("/", params=params).text
    assert "There is a problem" not in page
    assert "results-heading" in page
    assert 'value="40"' in page


def test_an_integrators_option_given_twice_is_ignored_not_guessed(web: TestClient) -> None:
    page = web.get("/embed?accent=330072&accent=ffdd00&heading=Leeds&heading=Bradford").text
    assert "theme.css" not in page
    assert '<h1 class="sf-heading">Find crisis support near you</h1>' in page


# --- F8: plain words, and no control characters in the HTML -----------------------------------------------------


def test_a_typed_value_is_shown_back_in_plain_words_not_python_quoting(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "LS1", "age": "<b>x\"'"}).text
    assert _error_summary(page) == [("#age", "Enter your age in years as a number, like 34 (not “<b>x\"'”)")]
    assert "<b>x" not in page
    at = web.get("/", params={"postcode": "LS1", "at": 'Friday\'s "8pm"'}).text
    assert _error_summary(at)[0][1].endswith('clear it to see what is open now (not “Friday\'s "8pm"”)')


@pytest.mark.parametrize(
    ("postcode", "words"),
    [
        ("LS1'", "Enter a postcode using only letters, numbers and spaces, like LS1 1UR or LS1"),
        ("LS1\u200b1UR", "Enter a postcode using only letters, numbers and spaces, like LS1 1UR or LS1"),
        ("\x00", "Enter a postcode using only letters, numbers and spaces, like LS1 1UR or LS1"),
        ("LS1\x001UR", "Enter a postcode using only letters, numbers and spaces, like LS1 1UR or LS1"),
        ("zz99 9zz", "ZZ99 9ZZ is not a known postcode. Enter a postcode in England, like LS1 1UR or LS1"),
        ("ZZZZ", "ZZZZ is not a UK postcode. Enter a postcode in England, like LS1 1UR or LS1"),
        ("EH1 1YZ", "EH1 1YZ is in Scotland, outside England, which this search covers. In Scotland, call NHS 24"),
        ("ca1 5", "CA1 5 is part of a postcode. Enter the whole postcode, or CA1 for the area"),
    ],
    ids=["apostrophe", "zero-width-space", "nul", "nul-inside", "unknown", "not-a-postcode", "scotland", "sector"],
)
def test_a_postcode_that_cannot_be_used_is_explained_in_plain_words(web: TestClient, postcode: str, words: str) -> None:
    page = web.get("/", params={"postcode": postcode}).text
    summary = _error_summary(page)
    assert [target for target, _ in summary] == ["#postcode"]
    assert summary[0][1].startswith(words)
    for python in ("\\x00", "\\u200b", "'ZZ", "'LS1"):
        assert python not in page
    assert _control_characters(page) == []


def test_no_control_or_invisible_character_reaches_the_html(web: TestClient) -> None:
    odd = "\x00\x01\x1b\x7f\u200b\u202e"
    params = {"postcode": f"LS1{odd}", "age": f"3{odd}", "at": f"2026{odd}", "heading": f"Help{odd}me"}
    for path in ("/", "/embed", "/embed/snippet"):
        assert _control_characters(web.get(path, params=params).text) == [], path
    embed = web.get("/embed", params={"heading": "Help\x00me\u202e"}).text
    assert '<h1 class="sf-heading">Helpme</h1>' in embed


def test_a_location_that_cannot_be_used_is_not_explained_with_validator_messages(web: TestClient) -> None:
    for query in ("lat=nan&lon=nan", "lat=95&lon=-1.55"):
        page = web.get(f"/?{query}").text
        assert "Input should be" not in page
        assert "Your location could not be" in _error_summary(page)[0][1]


# --- F9: digit separators ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["lat=5_3&lon=-1_5", "lat=53.8&lon=-1_55", "lat=1e1&lon=-1.55", "lat=%EF%BC%95%EF%BC%93&lon=-1.55"]
)
def test_a_location_with_digit_separators_or_odd_digits_is_refused_not_misread(web: TestClient, query: str) -> None:
    page = web.get(f"/?{query}").text
    # Not read as 53, -15 (and then "outside England") or any other number: refused, with what to do instead.
    assert _error_summary(page) == [
        ("#postcode", "Your location could not be read: use your location again, or enter a postcode, like LS1 1UR")
    ]
    assert "outside England" not in page
    assert "results-heading" not in page
    assert 'name="lat"' not in page


def test_an_age_with_a_digit_separator_is_refused_like_any_other_non_number(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "LS1", "age": "3_4"}).text
    assert _error_summary(page) == [("#age", "Enter your age in years as a number, like 34 (not “3_4”)")]


def test_a_location_is_written_back_as_the_page_reads_it(web: TestClient) -> None:
    page = web.get("/", params={"lat": "53.80001", "lon": "-0.00001", "at": FRIDAY_EVENING}).text
    assert '<input type="hidden" name="lon" value="-0.00001">' in page  # not repr()'s "-1e-05"


# --- F13: a form sent with POST ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "back"),
    [("/", 'href="/"'), ("/embed", 'href="/embed?accent=330072"'), ("/embed/snippet", 'href="/embed/snippet"')],
)
def test_a_post_gets_a_page_with_the_urgent_numbers_and_a_way_back(web: TestClient, path: str, back: str) -> None:
    query = "?accent=330072" if path == "/embed" else ""
    response = web.post(path + query)
    assert response.status_code == 405
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert page.index('href="tel:999"') < page.index("<h1")
    assert back in page
    assert "<title>Error: " in page
    ancestors = "frame-ancestors *" if path == "/embed" else "frame-ancestors 'self'"
    assert ancestors in response.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/", "/embed", "/embed/snippet"])
def test_another_refused_method_does_not_offer_post(web: TestClient, path: str) -> None:
    # "Use a method from Allow": a PUT was told POST was allowed, and the POST then refused too.
    response = web.put(path)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_a_form_encoded_post_gets_the_page_too(web: TestClient) -> None:
    response = web.post("/", data={"postcode": "LS1", "age": "34"})
    assert response.status_code == 405
    assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("postcode", ["BT1 1AA", "IM1 1AA", "JE2 3AA", "GY1 1AA"])
def test_a_postcode_outside_great_britain_is_told_where_help_answers(web: TestClient, postcode: str) -> None:
    # Scotland and Wales get their own urgent routes; Northern Ireland and the Crown Dependencies got nothing but
    # England's 111 in the banner. The lines that answer there too (999, Samaritans) are named beside the field.
    [(anchor, words)] = _error_summary(web.get("/", params={"postcode": postcode}).text)
    assert anchor == "#postcode"
    assert "outside England" in words
    assert "999" in words
    assert "116 123" in words


def test_a_refused_postcode_is_shown_back_as_typed_not_as_the_postcode_it_looks_like(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "L\u017f1 1UR"}).text  # a long s, not an S
    assert 'value="L\u017f1 1UR"' in page
    assert 'value="LS1 1UR"' not in page


# --- values the form does not offer as checkboxes ----------------------------------------------------------------


def _sent_again(page: str, *, untick: Collection[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """What the page's form sends when the person presses Search again, as a browser would send it, less any
    checkbox they untick: text and hidden fields, and the checkboxes and radios that are checked."""
    sent = []
    for tag, attrs in _tags(page):
        name, value, kind = attrs.get("name"), attrs.get("value") or "", attrs.get("type")
        if tag != "input" or name is None or kind in {"submit", "button"}:
            continue
        if kind in {"checkbox", "radio"} and ("checked" not in attrs or (name, value) in untick):
            continue
        sent.append((name, html.unescape(value)))
    return sent


def _checkbox_labels(page: str, name: str) -> dict[str, str]:
    """value -> label of each ticked checkbox called `name`."""
    ticked = {
        a.get("id"): a.get("value") for t, a in _tags(page) if t == "input" and a.get("name") == name and "checked" in a
    }
    labels = re.findall(r'<label class="[^"]*" for="([^"]+)">([^<]*)</label>', page)
    return {str(ticked[target]): html.unescape(text) for target, text in labels if target in ticked}


def test_an_access_need_the_page_applies_is_shown_and_carried(web: TestClient) -> None:
    # Only step-free access and BSL are offered as checkboxes; the page takes any access feature GET /v1/search does.
    params = {"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "access": ["wheelchair", "hearing_loop"]}
    page = web.get("/", params=params).text
    # The search left out the café (its wheelchair access is not recorded): the form and the results say why.
    assert "Leeds Test Café" not in page
    assert _checkbox_labels(page, "access") == {"wheelchair": "Wheelchair accessible", "hearing_loop": "Hearing loop"}
    assert "Only places with all of these are shown: wheelchair accessible, hearing loop." in page
    again = web.get("/?" + urlencode(_sent_again(page))).text
    assert _checkbox_labels(again, "access") == _checkbox_labels(page, "access")
    assert "Leeds Test Café" not in again
    # Unticked, it is gone: the café is back and nothing says the results are filtered.
    unticked = _sent_again(page, untick={("access", "wheelchair"), ("access", "hearing_loop")})
    without = web.get("/?" + urlencode(unticked)).text
    assert "Leeds Test Café" in without
    assert _checkbox_labels(without, "access") == {}
    assert "Only places with" not in without


def test_a_need_the_form_does_not_offer_is_shown_ticked_and_carried(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "needs": ["veterans", "self_harm"]}).text
    assert _checkbox_labels(page, "needs") == {"self_harm": "Self-harm", "veterans": "Veterans"}
    assert ("needs", "veterans") in _sent_again(page)
    unticked = _sent_again(page, untick={("needs", "veterans")})
    assert _checkbox_labels(web.get("/?" + urlencode(unticked)).text, "needs") == {"self_harm": "Self-harm"}


# --- choices in the address that this search does not know ------------------------------------------------------


@pytest.mark.parametrize(("path", "ancestors"), [("/embed", "frame-ancestors *"), ("/", "frame-ancestors 'self'")])
def test_a_kind_need_or_access_the_search_does_not_know_is_said_beside_the_urgent_numbers(
    web: TestClient, path: str, ancestors: str
) -> None:
    # A typo in an integrator's address (`kinds=crisis_cafes`) showed every kind of service, without a word.
    params = {
        "postcode": "LS1 1UR",
        "at": FRIDAY_EVENING,
        "kinds": ["crisis_cafe", "crisis_cafes"],
        "needs": "self_harn",
        "access": "<b>step_free</b>",
    }
    response = web.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert ancestors in response.headers["content-security-policy"]  # an embedding frame may show the error
    page = response.text
    # The urgent numbers come first, on this page as on every other: a person in crisis may be the one reading it.
    assert page.index('href="tel:999"') < page.index("<h1")
    for number in ('href="tel:111"', 'href="tel:116123"', 'href="sms:85258"'):
        assert number in page
    assert "<title>Error: " in page
    assert '<div role="alert">' in page
    assert _error_summary(page) == [
        (
            "#kinds",
            "kinds “crisis_cafes” in the address of this page is not a kind of service this search knows (the website "
            "showing this page should correct it): search again to see services without it",
        ),
        (
            "#needs-suicidal_thoughts",
            "needs “self_harn” in the address of this page is not something this search knows: tick what you would "
            "like help with and search again",
        ),
        (
            "#access-step_free",
            "access “<b>step_free</b>” in the address of this page is not an access need this search knows: tick the "
            "access you need and search again",
        ),
    ]
    assert {"kinds", "needs-suicidal_thoughts", "access-step_free"} <= {a.get("id") for _, a in _tags(page)}
    assert "<b>" not in page  # the value sent is shown as text, never as markup
    assert "results-heading" not in page
    # Searching again sends the kind the search knows and not the other: only crisis cafés, and the café is found.
    sent = _sent_again(page)
    assert [value for name, value in sent if name == "kinds"] == ["crisis_cafe"]
    again = web.get(path + "?" + urlencode(sent))
    assert again.status_code == 200
    assert _names(again.text) == ["Leeds Test Café"]


def test_a_choice_with_a_character_that_would_not_show_is_named_by_its_code_point(web: TestClient) -> None:
    page = web.get("/embed", params={"kinds": "crisis_cafe\u200b"}).text
    assert _error_summary(page)[0][1].startswith("kinds “crisis_cafe<U+200B>” in the address of this page is not")
    # A choice left empty is no choice: not a mistake.
    assert web.get("/embed", params={"kinds": "", "needs": ""}).status_code == 200


# --- answers written as GET /v1/search takes them -----------------------------------------------------------------


def _names(page: str) -> list[str]:
    return re.findall(r'<h3 class="nhsuk-card__heading sf-card__name">([^<]*)</h3>', page)


@pytest.mark.parametrize("yes", ["true", "yes", "1", "True", "on"])
def test_drinking_or_using_drugs_is_read_as_the_api_reads_it(web: TestClient, yes: str) -> None:
    # The café does not accept people who have been drinking: an answer read as "no" would offer it.
    sober = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING}).text
    assert _names(sober) == ["Leeds Test Café"]
    params = {"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "intoxicated": yes}
    page = web.get("/", params=params).text
    api = web.get("/v1/search", params=params).json()
    assert _names(page) == [r["service"]["name"] for r in api["results"]] == []
    assert 'id="intoxicated" name="intoxicated" type="checkbox" value="true" checked' in page


def test_an_answer_that_cannot_be_read_is_said_not_read_as_no(web: TestClient) -> None:
    page = web.get("/", params={"postcode": "LS1 1UR", "intoxicated": "maybe", "walk_in": "yes"}).text
    assert _error_summary(page) == [
        (
            "#intoxicated",
            "The answer to “I have been drinking or using drugs” could not be read (not “maybe”): tick it or leave it "
            "unticked",
        )
    ]
    assert "results-heading" not in page
    assert 'id="walk_in" name="walk_in" type="checkbox" value="true" checked' in page
    # Two spellings of one answer are one answer, not two different ones.
    same = web.get("/", params={"postcode": "LS1 1UR", "at": FRIDAY_EVENING, "walk_in": ["true", "yes"]}).text
    assert "There is a problem" not in same
    assert "Only places you can walk into are shown" in same


def test_open_within_minutes_the_api_takes_is_searched_and_shown_chosen(web: TestClient) -> None:
    # Friday 5:10pm: the café opens at 6pm, in 50 minutes.
    params = {"postcode": "LS1 1UR", "at": "2026-11-27T17:10:00Z", "open": "within:60"}
    page = web.get("/", params=params).text
    assert _names(page) == ["Leeds Test Café"]
    assert "1 place or line open at 5:10pm on Friday 27 November 2026 or within 1 hour near LS1 1UR" in page
    chosen = [a["id"] for t, a in _tags(page) if t == "input" and a.get("name") == "open" and "checked" in a]
    assert chosen == ["open-2"]
    assert '<label class="nhsuk-label nhsuk-radios__label" for="open-2">Open now or in the next hour</label>' in page
    assert ("open", "within:60") in _sent_again(page)
    assert _names(web.get("/", params={**params, "open": "now"}).text) == []


@pytest.mark.parametrize("choice", ["soon", "within:0", "within:10000", "NOW"])
def test_a_choice_of_when_that_cannot_be_used_is_said_not_turned_into_now(web: TestClient, choice: str) -> None:
    page = web.get("/", params={"postcode": "LS1 1UR", "open": choice}).text
    assert _error_summary(page) == [("#open-1", f"Choose when the places should be open (not “{choice}”)")]
    assert "results-heading" not in page
    assert not [a for t, a in _tags(page) if t == "input" and a.get("name") == "open" and "checked" in a]
