"""An account user's journey in a real browser (Debian's Chromium), in English and Italian:
sign up, verify the address with the link read from the embedded mailbox, sign in, create a
purpose and a list, import 1,000 contacts from a CSV file while the progress bar runs,
write a template with its live preview, register the From domain on the sender domains page,
publish its records with ``missiva publish-dns`` (the test is the operator) and verify it,
create a campaign to a small list from that domain and press Send (campaign holds the
credits at billing and starts sending).

On every page: axe-core (vendored) finds no serious or critical violation; every POST form
refuses a missing and a wrong CSRF token (403); every answer of ours carries
``Referrer-Policy: no-referrer``; the browser requests nothing from another origin.
Screenshots of each step are kept under ``<basetemp>/screenshots``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(600)

AXE = (Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js").read_text()
PASSWORD = "a long and unusual passphrase 7351"
CONTACTS = 1000
CAPABILITY_PAGES = ("/unsubscribe/", "/preferences/", "/confirm/", "/my-data/")
WORDS = {
    "en": {
        "signup": "Create your account",
        "import_done": "Import finished.",
        "pending": "pending",
        "verified": "verified",
    },
    "it": {
        "signup": "Crea il tuo account",
        "import_done": "Importazione terminata.",
        "pending": "in attesa",
        "verified": "verificato",
    },
}


class Journey:
    """One browser context (one person) and what the checks collect on the way."""

    def __init__(self, browser: Any, base: str, lang: str, shots: Path) -> None:
        self.base, self.lang, self.shots = base, lang, shots
        locale = "it-IT" if lang == "it" else "en-GB"
        self.context = browser.new_context(locale=locale, extra_http_headers={})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.missing_policy: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", self._response)
        self.forms_checked: set[str] = set()
        self.step = 0

    def _response(self, response: Any) -> None:
        if (
            response.url.startswith(self.base)
            and response.headers.get("referrer-policy") != "no-referrer"
        ):
            self.missing_policy.append(response.url)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")

    def check(self, name: str) -> None:
        """Screenshot, axe-core, and the CSRF refusal of every form on the page."""
        self.page.wait_for_load_state("networkidle")
        self.step += 1
        self.page.screenshot(
            path=str(self.shots / f"{self.lang}-{self.step:02d}-{name}.png"), full_page=True
        )
        self.page.evaluate(AXE + "\n;0")
        result = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
        )
        assert result == [], f"{name}: axe-core found {result}"
        forms = self.page.eval_on_selector_all(
            "form[method=post]",
            "fs => fs.map(f => [f.getAttribute('action') || location.pathname,"
            " Object.fromEntries(new FormData(f).entries())])",
        )
        for action, fields in forms:
            path = urllib.parse.urlsplit(urllib.parse.urljoin(self.page.url, action)).path
            if path.startswith(CAPABILITY_PAGES) or path in self.forms_checked:
                # Consent's pages post to their own capability URL (its token is what a forged
                # request would need) and RFC 8058 one-click carries no cookie, by design.
                continue
            self.forms_checked.add(path)
            fields = {k: v for k, v in fields.items() if isinstance(v, str)}
            assert "csrf_token" in fields, f"{name}: the form to {path} has no CSRF token"
            without = {k: v for k, v in fields.items() if k != "csrf_token"}
            for body in (without, {**without, "csrf_token": "x" * 43}):
                reply = self.context.request.post(
                    self.base + path, form=body, max_redirects=0, headers={"x-csrf-token": ""}
                )
                assert reply.status == 403, f"{name}: {path} answered {reply.status} to {body}"

    def submit(self, form: str) -> None:
        self.page.locator(f"{form} button[type=submit]").first.click()
        self.page.wait_for_load_state("networkidle")


def mailbox_link(j: Journey, address: str, needle: str) -> str:
    """The first link containing ``needle`` in the newest mail to ``address`` (via the UI)."""
    for _ in range(40):
        j.goto("/mailbox")
        row = j.page.locator("tr", has_text=address).first
        if row.count():
            row.locator("a").first.click()
            j.page.wait_for_load_state("networkidle")
            links = j.page.locator("ul a", has_text=needle)
            if links.count():
                return str(links.first.get_attribute("href"))
        j.page.wait_for_timeout(300)
    raise AssertionError(f"no mail to {address}")


def recipient_links(j: Journey, base: str, address: str) -> Any:
    """Consent's links for ``address`` under the account's purpose, asked with the signed-in
    user's own access token (read from the session cookie, as the gateway would send it)."""
    import grpc

    from missiva.common.v1 import types_pb2
    from missiva.consent.v1 import consent_service_pb2 as cpb
    from missiva.consent.v1 import consent_service_pb2_grpc
    from missiva_gateway.web.session import COOKIE, Session

    value = next(c["value"] for c in j.context.cookies(base) if c["name"] == COOKIE)
    session = Session.decode(value)
    assert session is not None
    gateway_port = urllib.parse.urlsplit(base).port
    assert gateway_port is not None
    consent_port = gateway_port - 30 + 2  # missiva up: base + 2 is consent, base + 30 the gateway
    with grpc.insecure_channel(f"127.0.0.1:{consent_port}") as channel:
        stub = consent_service_pb2_grpc.ConsentServiceStub(channel)
        purposes = stub.ListPurposes(
            cpb.ListPurposesRequest(), metadata=session.metadata, timeout=10
        )
        return stub.IssueLinkTokens(
            cpb.IssueLinkTokensRequest(
                person=types_pb2.PersonRef(email=address),
                purpose_id=purposes.purposes[0].purpose_id,
                campaign_id="browser-test",
            ),
            metadata=session.metadata,
            timeout=10,
        )


def csv_file(folder: Path, lang: str) -> Path:
    path = folder / f"contacts-{lang}.csv"
    lines = ["Email,First name,Last name,City"]
    lines += [f"p{i}-{lang}@example.org,Person{i},Tester,Town {i % 7}" for i in range(CONTACTS - 1)]
    lines.append("not-an-address,Bad,Row,Nowhere")  # one bad row: the report
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("lang", ["en", "it"])
def test_an_account_user_signs_up_imports_and_builds_a_campaign(
    platform: tuple[str, Path], browser: Any, screenshots: Path, tmp_path: Path, lang: str
) -> None:
    base, mail = platform
    data_dir = mail.parent  # missiva up's data folder: the mail folder is in it
    j = Journey(browser, base, lang, screenshots)
    page = j.page
    address = f"ada-{lang}-{uuid.uuid4().hex[:8]}@example.org"

    j.goto("/")
    j.check("home")
    assert page.locator("a[href='/mailbox']").count()  # embedded mode: the mailbox
    page.locator("main a[href='/signup']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == WORDS[lang]["signup"]
    j.check("signup")
    for box in page.locator("form[action='/signup'] input[type=checkbox]").all():
        assert not box.is_checked()  # Terms, Privacy, age and marketing start unticked
    assert page.get_by_text(re.compile(r"0\.1-draft")).count() >= 2  # the versions shown

    # A refused sign-up shows the problem next to the field, and keeps what was typed.
    page.fill("#f-account_name", "Analytical Engines")
    page.fill("#f-email", address)
    page.fill("#f-password", PASSWORD)
    j.submit("form[action='/signup']")
    assert page.locator("#e-acceptances, #e-age_confirmed").count()
    assert page.input_value("#f-email") == address
    j.check("signup-refused")

    page.fill("#f-display_name", "Ada")
    page.fill("#f-password", PASSWORD)
    page.check("input[name=accept_terms]")
    page.check("input[name=accept_privacy]")
    page.check("input[name=age_confirmed]")
    j.submit("form[action='/signup']")
    j.check("signup-done")

    link = mailbox_link(j, address, "/verify-email")
    j.check("mailbox-verification")
    assert page.locator("#dkim").inner_text() in ("not signed", "pass", "fail")
    j.goto("/mailbox")
    j.check("mailbox")
    j.goto("/legal/terms")
    assert "0.1-draft" in page.locator("main").inner_text()  # the version shown
    j.check("terms")
    assert urllib.parse.urlsplit(link).netloc == urllib.parse.urlsplit(base).netloc
    page.goto(link)
    j.check("verify")
    j.submit("form[action='/verify-email']")
    j.check("verified")

    j.goto("/login")
    j.check("login")
    page.fill("#f-email", address)
    page.fill("#f-password", PASSWORD)
    j.submit("form[action='/login']")
    assert urllib.parse.urlsplit(page.url).path == "/app"
    j.check("dashboard")

    j.goto("/app/lists")
    page.fill("#f-purpose_name", "Newsletter")
    j.submit("form[action='/app/purposes']")
    j.check("purpose-created")
    page.fill("#f-name", "Customers")
    j.submit("form[action='/app/lists']")
    assert page.locator("td a", has_text="Customers").count()
    j.check("list-created")

    j.goto("/app/import")
    j.check("import-upload")
    page.set_input_files("#f-file", str(csv_file(tmp_path, lang)))
    j.submit("form[action='/app/import']")
    assert page.locator("select#map_0").input_value() == "email"
    assert page.locator("select#map_3").input_value() == "attributes.city"
    j.check("import-mapping")
    page.locator("form[action$='/start'] button[type=submit]").click()  # no consent text
    page.wait_for_selector("#e-consent_text")  # campaign's field violation, under its field
    assert page.locator("#f-consent_text").get_attribute("aria-invalid") == "true"
    assert "options." not in page.locator("#form-problem").inner_text()  # no field paths
    j.check("import-refused")
    page.fill("#f-consent_text", "Yes, send me the newsletter.")
    page.locator("form[action$='/start'] button[type=submit]").click()
    page.wait_for_selector("progress#import-bar")
    j.page.screenshot(path=str(screenshots / f"{lang}-progress.png"))
    page.wait_for_selector("#import-done", timeout=120_000)
    assert page.locator("#import-done").inner_text() == WORDS[lang]["import_done"]
    assert page.locator("progress#import-bar").get_attribute("value") == str(CONTACTS)
    j.check("import-done")
    report = page.locator("a[href^='/app/import/report/']")
    with page.expect_download() as download:
        report.click()
    assert Path(download.value.path()).read_text().splitlines()[1].startswith(f"{CONTACTS + 1},")

    # A small list for the campaign (the free plan's credits would not cover 1,000).
    j.goto("/app/lists")
    page.fill("#f-name", "Friends")
    j.submit("form[action='/app/lists']")
    friends = tmp_path / f"friends-{lang}.csv"
    friends.write_text(
        "email,first name\n"
        + "".join(f"friend{i}-{lang}@example.org,Friend{i}\n" for i in range(3))
    )
    j.goto("/app/import")
    page.set_input_files("#f-file", str(friends))
    j.submit("form[action='/app/import']")
    page.select_option("#f-list_id", label="Friends")
    page.fill("#f-consent_text", "Yes, write to me.")
    page.locator("form[action$='/start'] button[type=submit]").click()
    page.wait_for_selector("#import-done", timeout=60_000)

    j.goto("/app/contacts")
    j.check("contacts")
    page.fill("#q", "p7-")
    page.wait_for_timeout(800)
    page.wait_for_load_state("networkidle")
    assert page.locator("#results a", has_text=f"p7-{lang}@example.org").count()
    page.locator("#results a", has_text=f"p7-{lang}@example.org").click()
    j.check("contact")

    j.goto("/app/templates/new")
    page.fill("#f-name", "Welcome")
    page.fill("#f-subject", "Hello from Analytical Engines")
    page.fill(
        "#f-html_body",
        "<h1>Hello {{ first_name }}</h1><p>Our first letter.</p>"
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> '
        '<a href="{{ my_data_url }}">My data</a></p>',
    )
    page.wait_for_selector("#preview iframe")
    frame = page.frame_locator("#preview iframe")
    frame.locator("h1").wait_for()
    assert "Hello Ada" in frame.locator("h1").inner_text()
    j.check("template-preview")
    j.submit("#template-form")
    j.check("template-saved")

    # The From domain: registered, its records published by the operator's command that the
    # page shows (the loopback DNS of the embedded platform), then verified.
    sender = f"{lang}-{uuid.uuid4().hex[:8]}.example.org"
    j.goto("/app/domains")
    j.check("domains")
    page.fill("#f-domain", sender)
    j.submit("form[action='/app/domains']")
    section = page.locator("section.domain", has_text=sender)
    for record in (f"mv1-rsa._domainkey.{sender}", f"mv1-ed25519._domainkey.{sender}"):
        assert section.locator("code.record", has_text=record).count() == 1
    assert section.locator(".status").inner_text() == WORDS[lang]["pending"]
    j.check("domain-registered")
    command = section.locator("pre.command").inner_text().split()
    assert command[:3] == ["missiva", "publish-dns", sender], command
    cli = [sys.executable, "-m", "missiva_platform.devstack.cli"]
    published = subprocess.run(
        [*cli, *command[1:], "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert published.returncode == 0, published.stdout + published.stderr
    section.locator("form[action$='/verify'] button").click()
    page.wait_for_load_state("networkidle")
    section = page.locator("section.domain", has_text=sender)
    assert section.locator(".status").inner_text() == WORDS[lang]["verified"]
    assert page.locator("main .notice").count() == 1
    j.check("domain-verified")

    j.goto("/app/campaigns/new")
    page.fill("#f-name", "First letter")
    page.fill("#f-from_address", f"news@{sender}")
    page.select_option("#f-list_id", label="Friends")
    j.check("campaign-new")
    j.submit("form[action='/app/campaigns/new']")
    assert re.search(r"/app/campaigns/[0-9a-f-]{36}$", page.url), page.url
    j.check("campaign")
    # Campaign learns of the verification from delivery's event: until its projection has
    # it, Send is refused naming the domain, and the button is still there to press again.
    for _ in range(50):
        page.locator("form[action$='/send'] button").click()
        page.wait_for_load_state("networkidle")
        problem = page.locator("main .problem")
        if not problem.count() or sender not in problem.inner_text():
            break
        page.wait_for_timeout(200)
    assert page.locator("main .problem").count() == 0, page.locator("main .problem").inner_text()
    assert page.locator("main .notice").count() == 1  # "on its way": campaign accepted the send
    j.check("campaign-sent")

    # A recipient's links (consent issues them for the account, as a campaign's mail would
    # carry them): the preference centre, the unsubscribe page, and RFC 8058 one-click.
    links = recipient_links(j, base, f"friend1-{lang}@example.org")
    page.goto(links.preferences_url)
    j.check("preferences")
    assert page.locator("input[name=enabled]").count() == 1
    page.goto(links.unsubscribe_url)
    j.check("unsubscribe")
    j.submit("form")
    j.check("unsubscribed")
    other = recipient_links(j, base, f"friend2-{lang}@example.org")
    one_click = browser.new_context().request.post(  # a mailbox provider: no cookie at all
        other.unsubscribe_url, form={"List-Unsubscribe": "One-Click"}, max_redirects=0
    )
    assert one_click.status == 200
    assert one_click.text() == "unsubscribed\n"
    assert one_click.headers["referrer-policy"] == "no-referrer"
    assert browser.new_context().request.get(other.unsubscribe_url).status == 200  # GET: no change

    for path in ("/app/billing", "/app/team", "/app/security", "/app/api-keys"):
        j.goto(path)
        j.check(path.rsplit("/", 1)[1])
    page.fill("#f-name", "Shop server")
    page.check("input[name=scopes][value='contacts:write']")
    j.submit("form[action='/app/api-keys']")
    assert page.input_value("#secret").startswith("mk_")
    j.check("api-key-created")

    page.locator("form[action='/logout'] button").click()
    page.wait_for_load_state("networkidle")
    j.goto("/app")
    assert urllib.parse.urlsplit(page.url).path == "/login"

    foreign = [url for url in j.requests if not url.startswith(base + "/")]
    assert foreign == [], f"requests left the origin: {foreign}"
    assert j.missing_policy == [], f"no Referrer-Policy: {j.missing_policy}"
    j.context.close()
