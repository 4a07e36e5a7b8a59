"""The segments and forms pages in a real browser (Debian's Chromium), in English and Italian:
the rule builder's rows added by HTMX, the live count refreshing as a rule changes, a bad
value's violation under its row, save, trash; a subscribe form built, its embed snippet
and hosted page. On every page, through ``test_journey.Journey``: axe-core finds no serious
or critical violation, every POST form refuses a missing and a wrong CSRF token, every
answer carries ``no-referrer`` and nothing is requested from another origin."""

from __future__ import annotations

import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_journey import PASSWORD, Journey, mailbox_link

pytestmark = pytest.mark.timeout(600)


def signed_up_and_in(j: Journey, lang: str) -> None:
    """A new account, verified with the link from the mailbox, signed in."""
    page = j.page
    address = f"builder-{lang}-{uuid.uuid4().hex[:8]}@example.org"
    j.goto("/signup")
    page.fill("#f-account_name", "Bottega")
    page.fill("#f-display_name", "Ada")
    page.fill("#f-email", address)
    page.fill("#f-password", PASSWORD)
    page.check("input[name=accept_terms]")
    page.check("input[name=accept_privacy]")
    page.check("input[name=age_confirmed]")
    j.submit("form[action='/signup']")
    page.goto(mailbox_link(j, address, "/verify-email"))
    j.submit("form[action='/verify-email']")
    j.goto("/login")
    page.fill("#f-email", address)
    page.fill("#f-password", PASSWORD)
    j.submit("form[action='/login']")
    assert urllib.parse.urlsplit(page.url).path == "/app"


@pytest.mark.parametrize("lang", ["en", "it"])
def test_the_segment_and_form_builders(
    platform: tuple[str, Path], browser: Any, screenshots: Path, lang: str
) -> None:
    from playwright.sync_api import expect

    base, _mail = platform
    j = Journey(browser, base, lang, screenshots)
    page = j.page
    signed_up_and_in(j, lang)

    j.goto("/app/segments")
    j.check("segments-empty")
    j.goto("/app/segments/new")
    page.wait_for_selector("#segment-count")  # the live count, loaded by HTMX
    j.check("segment-new")
    page.fill("#f-name", f"Romans {lang}")
    page.locator("#rules > button[value=add]").click()
    page.wait_for_selector("#f-field_1")  # the rows, swapped in by HTMX
    page.select_option("#f-field_1", "attributes")
    page.fill("#f-key_1", "city")
    page.fill("#f-value_1", "Rome")
    page.select_option("#f-field_0", "created_at")
    page.select_option("#f-op_0", "greater")
    page.fill("#f-value_0", "not a time")
    expect(page.locator("#rerr-0")).to_contain_text("ISO 8601")  # under its row
    assert page.locator("#rerr-1").inner_text() == ""
    j.check("segment-violation")
    page.fill("#f-value_0", "2020-01-01")
    expect(page.locator("#rerr-0")).to_have_text("")
    expect(page.locator("#segment-count")).to_have_text("0")
    j.check("segment-counted")
    page.locator("button[value=save]").click()
    page.wait_for_load_state("networkidle")
    assert urllib.parse.urlsplit(page.url).path == "/app/segments"
    saved = page.locator("td:first-child a", has_text=f"Romans {lang}")
    assert saved.count() == 1
    j.check("segment-saved")
    # Edit: the rows come back as saved; a change is saved with UpdateSegment.
    page.locator("td a[href$='/edit']", has_text=f"Romans {lang}").click()
    page.wait_for_selector("#segment-count")
    assert page.locator("#f-key_1").input_value() == "city"
    assert page.locator("#f-op_0").input_value() == "greater"
    j.check("segment-edit")
    page.fill("#f-name", f"Romans {lang} 2")
    page.locator("button[value=save]").click()
    page.wait_for_load_state("networkidle")
    assert urllib.parse.urlsplit(page.url).path == "/app/segments"
    page.locator("td:first-child a", has_text=f"Romans {lang} 2").click()
    page.wait_for_load_state("networkidle")
    j.check("segment-page")
    page.locator("main form[action$='/delete'] button").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("form[action$='/restore']").count() == 1
    j.check("segment-trash")

    # A form needs a list, and a list a purpose.
    j.goto("/app/lists")
    page.fill("#f-purpose_name", "Newsletter")
    j.submit("form[action='/app/purposes']")
    page.fill("#f-name", "Subscribers")
    j.submit("form[action='/app/lists']")
    j.goto("/app/forms")
    j.check("forms-empty")
    j.goto("/app/forms/new")
    assert page.locator("input[name=double_opt_in]").is_checked()
    j.check("form-new")
    page.fill("#f-name", f"Footer {lang}")
    j.submit("#form-editor")
    assert page.locator("#e-consent_text").count() == 1  # campaign's violation, under it
    j.check("form-refused")
    page.fill("#f-consent_text", "Yes, send me the newsletter.")
    page.locator("input[name=list_ids]").first.check()
    j.submit("#form-editor")
    assert page.locator("#embed-snippet").input_value().startswith("<script src=")
    j.check("form-saved")
    hosted = str(page.locator("#hosted-link").get_attribute("href"))
    assert hosted.startswith(base + "/forms/")
    page.goto(hosted)
    assert page.locator("input[type=email]").count() == 1
    assert j.missing_policy == []
    assert [u for u in j.requests if not u.startswith(base)] == []
    j.context.close()
