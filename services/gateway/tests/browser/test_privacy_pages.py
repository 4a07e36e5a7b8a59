"""The privacy and sender identity pages in a real browser, in English and Italian: axe-core
finds no serious or critical violation, every POST form refuses a missing and a wrong CSRF
token, and a field violation lands under its field (``Journey`` of ``test_journey``)."""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_journey import Journey
from test_session import PASSWORD, signed_up

pytestmark = pytest.mark.timeout(600)

WORDS = {
    "en": {"privacy": "Privacy", "sender": "Sender identity", "done": "Download my data"},
    "it": {"privacy": "Privacy", "sender": "Identità del mittente", "done": "Scarica i miei dati"},
}


@pytest.mark.parametrize("lang", ["en", "it"])
def test_the_privacy_and_sender_pages_are_accessible_and_guarded(
    platform: tuple[str, Path], browser: Any, screenshots: Path, lang: str
) -> None:
    base, mail = platform
    language = {"accept-language": "it-IT" if lang == "it" else "en-GB"}  # the profile's
    with httpx.Client(base_url=base, headers=language, follow_redirects=False, timeout=30) as c:
        address = signed_up(c, mail)
    j = Journey(browser, base, lang, screenshots)
    page = j.page
    j.goto("/login")
    page.fill("#f-email", address)
    page.fill("#f-password", PASSWORD)
    j.submit("form[action='/login']")
    assert urllib.parse.urlsplit(page.url).path == "/app"

    page.locator("nav a[href='/app/privacy']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == WORDS[lang]["privacy"]
    j.check("privacy")
    page.fill("#f-password", "not my password")
    j.submit("form[action='/app/privacy/delete-account']")
    assert page.locator("#e-password").count()  # identity's violation, under its field
    assert page.locator("#f-password").get_attribute("aria-invalid") == "true"
    j.check("privacy-delete-refused")

    j.submit("form[action='/app/privacy/export']")
    assert urllib.parse.urlsplit(page.url).path.startswith("/app/privacy/requests/")
    j.check("privacy-request")
    page.wait_for_selector(f"a:has-text('{WORDS[lang]['done']}')", timeout=90_000)
    j.check("privacy-request-done")

    page.locator("nav a[href='/app/settings/sender']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == WORDS[lang]["sender"]
    j.check("sender")
    page.fill("#f-name", "Hopper Ltd")
    page.fill("#f-privacy_contact", "nobody")
    j.submit("form[action='/app/settings/sender']")
    assert page.locator("#e-privacy_contact").count()  # consent's violation, under its field
    assert page.input_value("#f-name") == "Hopper Ltd"  # what was typed is kept
    j.check("sender-refused")
    page.fill("#f-privacy_contact", "privacy@hopper.example")
    page.fill("#f-postal_address", "1 Harbour Street\nPortsmouth")
    j.submit("form[action='/app/settings/sender']")
    assert page.input_value("#f-name") == "Hopper Ltd"
    j.check("sender-saved")

    j.goto("/restore-account?token=not-a-real-token")
    j.check("restore")
    assert not j.missing_policy, j.missing_policy
    foreign = [u for u in j.requests if not u.startswith((base, "data:", "about:"))]
    assert foreign == [], foreign
    j.context.close()
