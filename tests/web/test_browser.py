"""The search page in a real browser (Debian's Chromium), against a live server over the demonstration directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from tests.web.conftest import FRIDAY_EVENING

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BUDGET_BYTES = 150 * 1024


def _url(base: str, path: str = "/embed", **params: Any) -> str:
    return f"{base}{path}?{urlencode({'at': FRIDAY_EVENING, **params}, doseq=True)}"


def _search(page: Page, postcode: str) -> None:
    page.get_by_label("Your postcode").fill(postcode)
    page.get_by_role("button", name="Search", exact=True).click()


def test_searching_by_postcode_shows_open_services_in_place(page: Page, live_server: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(_url(live_server))
    page.evaluate("window.sameDocument = true")
    _search(page, "LS1 1UR")

    heading = page.locator("#results-heading")
    expect(heading).to_contain_text(re.compile(r"open at .* near LS1 1UR"))
    expect(heading).to_be_focused()
    # Updated in place: the page was not reloaded, and the address can be shared or reloaded.
    assert page.evaluate("window.sameDocument") is True
    assert "postcode=LS1+1UR" in page.url
    cards = page.locator(".sf-card")
    assert cards.count() >= 3
    statuses = cards.locator(".sf-status .nhsuk-tag").all_inner_texts()
    assert set(statuses) == {"Open at this time"}  # the tests pin the time: never "now" for a time not now
    assert page.locator(".sf-card", has_text="Demonstration data — not a real service").count() >= 1
    cafe = page.locator(".sf-card", has_text="Crisis café, safe haven or sanctuary").first
    expect(cafe.locator(".sf-status")).to_contain_text(re.compile(r"Closes at \d+(:\d\d)?(am|pm)|midnight"))
    expect(cafe.locator(".sf-card__distance")).to_contain_text("miles")
    expect(cafe.get_by_role("link", name=re.compile("^Directions on OpenStreetMap"))).to_have_attribute(
        "rel", "noreferrer noopener"
    )
    assert cafe.locator("a[href^='tel:']").count() >= 1
    expect(cafe.locator(".sf-verified")).to_contain_text(re.compile("verified|checked"))
    # The safety banner stays first, whatever the search.
    expect(page.locator(".sf-urgent a[href='tel:999']")).to_be_visible()
    # Nothing was fetched from any other host.
    assert all(url.startswith(live_server) for url in requested), [u for u in requested if live_server not in u]


def test_the_location_status_is_a_live_region_screen_readers_can_hear(page: Page, live_server: str) -> None:
    # A role=status region must be in the accessibility tree before text is written into it, or nothing is read.
    page.goto(_url(live_server))
    status = page.locator("#sf-locate-status")
    assert status.evaluate("element => getComputedStyle(element).display") != "none"
    assert page.get_by_role("status").count() == 1


def test_the_form_works_with_javascript_off(browser: Browser, live_server: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/?{urlencode({'at': FRIDAY_EVENING})}")
    expect(page.get_by_role("button", name="Use my location")).to_be_hidden()
    page.get_by_text("More options (optional)").click()
    page.get_by_label("I have been drinking or using drugs").check()
    with page.expect_navigation():
        _search(page, "M1 1AE")
    assert "intoxicated=true" in page.url
    expect(page.locator("#results-heading")).to_contain_text("near M1 1AE")
    assert page.locator(".sf-card").count() >= 1
    expect(page.get_by_label("I have been drinking or using drugs")).to_be_checked()
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_an_unknown_postcode_is_explained_next_to_the_field(
    browser: Browser, live_server: str, javascript: bool
) -> None:
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(_url(live_server))
    _search(page, "ZZ99 9ZZ")
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("ZZ99 9ZZ is not a known postcode")
    expect(page.locator("#postcode-error")).to_contain_text("Enter a postcode in England")
    assert "postcode-error" in (page.get_by_label("Your postcode").get_attribute("aria-describedby") or "")
    assert page.title().startswith("Error:")
    summary.get_by_role("link").click()
    expect(page.get_by_label("Your postcode")).to_be_focused()
    context.close()


def test_keyboard_alone_reaches_every_control_in_order(page: Page, live_server: str) -> None:
    page.goto(_url(live_server, postcode="LS1 1UR"))
    order: list[str] = []

    def focused() -> str:
        key: str = page.evaluate(
            """() => { const e = document.activeElement;
                if (!e || e === document.body) return "";
                e.dataset.sfSeen = "1";
                return e.id || e.getAttribute("href") || e.textContent.trim().slice(0, 40); }"""
        )
        return key

    for _ in range(200):
        page.keyboard.press("Tab")
        key = focused()
        if key == "More options (optional)" and key not in order:
            page.keyboard.press("Enter")  # open the options, as a keyboard user would
        if key == "open-1":
            # A radio group is one tab stop; its other choices are reached with the arrow keys.
            for _ in range(2):
                page.keyboard.press("ArrowDown")
                order.append(focused())
        if not key or (order and key == order[0]):
            break
        order.append(key)
    banner = ["tel:999", "tel:111", "tel:116123", "sms:85258"]
    assert order[:4] == banner
    assert order.index("postcode") < order.index("Search") < order.index("More options (optional)")
    assert order.index("age") < order.index("intoxicated") < order.index("Search again")
    assert any(key.startswith("tel:") for key in order[order.index("Search again") :])
    missed = page.evaluate(
        """() => [...document.querySelectorAll("a[href], button, input:not([type=hidden]), summary")]
            .filter(e => e.offsetParent !== null && !e.dataset.sfSeen)
            .map(e => e.id || e.getAttribute("href") || e.textContent.trim())"""
    )
    assert missed == []


def test_the_embedded_frame_takes_the_height_of_its_content(page: Page, live_server: str, integrator: str) -> None:
    page.goto(integrator)
    frame_element = page.locator("iframe[data-service-finder]")
    content = page.frame_locator("iframe[data-service-finder]")

    def frame_matches_content() -> bool:
        inner = content.locator(".sf-page").evaluate("e => Math.ceil(e.getBoundingClientRect().height)")
        outer = frame_element.evaluate("e => e.getBoundingClientRect().height")
        return bool(abs(inner - outer) <= 2)

    expect(frame_element).not_to_have_attribute("height", "300")
    assert frame_matches_content()
    before = frame_element.evaluate("e => e.getBoundingClientRect().height")
    content.get_by_label("Your postcode").fill("LS1 1UR")
    content.get_by_role("button", name="Search", exact=True).click()
    expect(content.locator("#results-heading")).to_be_visible()
    page.wait_for_function(
        "before => document.querySelector('iframe[data-service-finder]').getBoundingClientRect().height > before + 500",
        arg=before,
    )
    assert frame_matches_content()


def _axe(context: BrowserContext, url: str, axe_source: str) -> list[dict[str, Any]]:
    page = context.new_page()
    page.goto(url)
    page.add_script_tag(content=axe_source)
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    page.close()
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]]


@pytest.mark.parametrize(
    "params",
    [{}, {"postcode": "LS1 1UR"}, {"postcode": "ZZ99 9ZZ"}, {"postcode": "LS1 1UR", "accent": "ffdd00"}],
    ids=["search-page", "results-page", "error-page", "results-light-accent"],
)
def test_axe_finds_no_wcag_22_aa_violations(browser: Browser, live_server: str, axe_source: str, params: Any) -> None:
    # axe is injected as an inline script, which the page's own policy rightly refuses: bypass it for the audit.
    context = browser.new_context(bypass_csp=True)
    for path in ("/embed", "/"):
        assert _axe(context, _url(live_server, path, **params), axe_source) == []
    context.close()


def test_the_snippet_page_passes_axe_too(browser: Browser, live_server: str, axe_source: str) -> None:
    context = browser.new_context(bypass_csp=True)
    assert _axe(context, f"{live_server}/embed/snippet?postcode=LS1&kinds=crisis_cafe", axe_source) == []
    context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots_and_no_sideways_scrolling(browser: Browser, live_server: str, artifacts: Path, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 800}, device_scale_factor=1)
    page = context.new_page()
    page.goto(_url(live_server, "/", postcode="LS1 1UR"))
    # The urgent numbers are on the first screen, on a phone as on a desktop.
    banner = page.locator(".sf-urgent").bounding_box()
    assert banner is not None
    assert banner["y"] == 0
    assert banner["height"] < 800
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    path = artifacts / f"results-{width}px.png"
    page.screenshot(path=str(path), full_page=True)
    page.goto(_url(live_server, "/embed"))
    page.screenshot(path=str(artifacts / f"embed-search-{width}px.png"), full_page=True)
    assert path.stat().st_size > 10_000
    context.close()


def test_the_page_and_its_assets_weigh_under_the_budget(page: Page, live_server: str) -> None:
    sizes: dict[str, int] = {}

    def count(request: Request) -> None:
        response = request.response()
        if response is not None:
            sizes[request.url] = request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"]

    page.on("requestfinished", count)
    # Wait for the stylesheet's own "finished" event: the load state can come back before it is delivered.
    with page.expect_request_finished(lambda request: ".css" in request.url):
        page.goto(_url(live_server, "/", postcode="LS1 1UR"))
    page.wait_for_load_state("networkidle")
    assert any(url.endswith(".css") or ".css?" in url for url in sizes)
    assert sum(sizes.values()) < BUDGET_BYTES, sizes


def test_no_cookies_and_a_strict_policy(live_server: str) -> None:
    response = httpx.get(_url(live_server, "/embed", postcode="LS1 1UR"))
    assert "set-cookie" not in response.headers
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors *" in policy
    assert "'unsafe-inline'" not in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    full_page = httpx.get(f"{live_server}/")
    assert "frame-ancestors 'self'" in full_page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/embed/snippet",  # no public address set: the warning names SERVICE_FINDER_PUBLIC_BASE_URL, one long word
        f"/embed?{urlencode({'heading': 'Crisis' * 13, 'postcode': 'LS1 1UR', 'at': FRIDAY_EVENING})}",
    ],
    ids=["snippet", "long-heading"],
)
def test_a_long_word_reflows_at_320_px(browser: Browser, live_server: str, path: str) -> None:
    # WCAG 1.4.10 (Reflow): at 320 CSS px wide, nothing but the snippet's own code box may need scrolling across.
    context = browser.new_context(viewport={"width": 320, "height": 800}, device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{live_server}{path}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    context.close()
