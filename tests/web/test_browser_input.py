"""Mistakes the page now names that it used to guess past (a field sent twice), in a real browser: the error summary
reaches a field under "More options", and the markup passes axe like the page's other error states."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from tests.web.test_browser import WCAG_TAGS


def test_a_choice_sent_twice_is_named_and_its_summary_link_reaches_it(browser: Browser, live_server: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/?postcode=LS1&open=now&open=any&intoxicated=true&intoxicated=x")
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("More than one choice of when was sent (“now” and “any”): choose one")
    expect(summary).to_contain_text("“I have been drinking or using drugs” was sent more than once")
    assert page.locator("#results-heading").count() == 0
    summary.get_by_role("link", name="More than one choice of when was sent", exact=False).click()
    expect(page.get_by_label("Open now", exact=True)).to_be_focused()
    context.close()


def test_errors_beside_checkboxes_and_radios_pass_axe(browser: Browser, live_server: str, axe_source: str) -> None:
    context = browser.new_context(bypass_csp=True)  # axe is injected as an inline script, which the policy refuses
    page = context.new_page()
    page.goto(f"{live_server}/embed?postcode=LS1&age=3&age=40&open=now&open=any&walk_in=true&walk_in=no")
    page.add_script_tag(content=axe_source)
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    assert [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]] == []
    context.close()
