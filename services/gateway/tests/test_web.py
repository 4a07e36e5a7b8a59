"""The web app's foundations without a platform: languages and the Italian catalogue,
security headers and CSP nonces, CSRF refusals, rate limits, the session cookie, the error
mapping onto form fields, and the embedded mailbox over a folder of ``.eml`` files."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path

import grpc
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from google.rpc import code_pb2, error_details_pb2, status_pb2
from litestar.testing import TestClient

from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings, parse_networks
from missiva_gateway.web.frames import FRAME_POLICY
from missiva_gateway.web.i18n import from_accept_language, negotiate, translations
from missiva_gateway.web.problems import form_problem
from missiva_gateway.web.security import CSRF_COOKIE, RateLimited, RateLimiter, is_https
from missiva_gateway.web.session import Session

GATEWAY = Path(__file__).resolve().parents[1]
PO = GATEWAY / "src/missiva_gateway/web/locale/it/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}|%\(\w+\)s")


def client(**settings: object) -> TestClient:
    return TestClient(create_app(GatewaySettings(**settings)))  # type: ignore[arg-type]


# -- languages ---------------------------------------------------------------------------


def test_the_language_is_the_users_choice_then_the_browsers_then_english() -> None:
    assert from_accept_language("it-IT,it;q=0.9,en;q=0.8") == "it"
    assert from_accept_language("de-DE, en;q=0.5, it;q=0.7") == "it"
    assert from_accept_language("de, fr") is None
    assert from_accept_language("it;q=0, en") == "en"
    assert negotiate("it", "en-GB") == "it"
    assert negotiate("", "it") == "it"
    assert negotiate("de", "fr") == "en"


def test_every_string_of_the_pages_has_an_italian_translation() -> None:
    with (GATEWAY / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(GATEWAY), method_map, options_map, keywords={"_": None, "N_": None}
        )
    }
    assert len(found) > 150
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(m for m in found if isinstance(m, str) and m not in translated)
    assert missing == [], f"untranslated: {missing}"
    for source, target in translated.items():
        assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(target)), source
    assert translations("it").gettext("Sign in") == "Accedi"


def test_pages_answer_in_the_browsers_language() -> None:
    with client() as c:
        assert 'lang="it"' in c.get("/", headers={"accept-language": "it-IT"}).text
        page = c.get("/", headers={"accept-language": "en-GB"}).text
        assert 'lang="en"' in page
        assert "Sign in" in page


# -- headers, nonces, CSRF ---------------------------------------------------------------


def test_every_page_has_a_fresh_nonce_and_sends_no_referrer() -> None:
    with client() as c:
        first, second = c.get("/"), c.get("/")
    policies = [r.headers["content-security-policy"] for r in (first, second)]
    nonces = [re.search(r"'nonce-([^']+)'", p).group(1) for p in policies]  # type: ignore[union-attr]
    assert nonces[0] != nonces[1]
    assert f'nonce="{nonces[0]}"' in first.text
    assert "default-src 'none'" in policies[0]
    assert "frame-ancestors 'none'" in policies[0]
    assert "unsafe-inline" not in policies[0]
    for reply in (first, second):
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["cache-control"] == "no-store"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http (the embedded platform): see session.py


def test_https_is_believed_from_the_connection_or_a_trusted_proxy_only() -> None:
    trusted = parse_networks("10.0.0.0/8")
    proto = [(b"x-forwarded-proto", b"https")]
    assert is_https({"scheme": "https", "client": ("192.0.2.9", 1)}, ())
    assert is_https({"scheme": "http", "client": ("10.1.2.3", 1), "headers": proto}, trusted)
    assert not is_https({"scheme": "http", "client": ("192.0.2.9", 1), "headers": proto}, trusted)
    assert not is_https({"scheme": "http", "client": ("10.1.2.3", 1), "headers": []}, trusted)


def test_a_form_without_its_csrf_token_or_with_another_is_refused() -> None:
    with client() as c:
        token = c.get("/login").cookies[CSRF_COOKIE]
        missing = c.post("/login", data={"email": "a@example.org", "password": "x"})
        wrong = c.post("/login", data={"email": "a@example.org", "csrf_token": "y" * 43})
        header = c.post("/logout", headers={"x-csrf-token": "z" * 43})
        right = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    for reply in (missing, wrong, header):
        assert reply.status_code == 403
        assert "This form has expired" in reply.text
        assert reply.headers["referrer-policy"] == "no-referrer"
    assert right.status_code == 303
    assert right.headers["location"] == "/"


def test_signed_in_pages_send_the_browser_to_the_sign_in_page() -> None:
    with client() as c:
        reply = c.get("/app/contacts", follow_redirects=False)
        htmx = c.get("/app/contacts", headers={"hx-request": "true"})
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Fapp%2Fcontacts"
    assert htmx.headers["hx-redirect"] == "/login?next=%2Fapp%2Fcontacts"


def test_the_rate_limit_refuses_past_its_window_and_names_the_wait() -> None:
    limiter = RateLimiter({"auth": (3, 60.0)})
    for _ in range(3):
        limiter.check("auth", "192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        limiter.check("auth", "192.0.2.1")
    assert 1 <= refused.value.retry_after <= 61
    limiter.check("auth", "192.0.2.2")  # another client has its own count


# -- session and errors ------------------------------------------------------------------


def test_the_session_cookie_round_trips_and_a_garbled_one_is_no_session() -> None:
    session = Session("a.b.c", time.time() + 600, "r1", time.time() + 86400, "sid", "it")
    assert Session.decode(session.encode()) == session
    assert Session.decode("not base64 json") is None
    assert Session.decode(session.encode()[:-4]) is None


def _rpc_error(code: grpc.StatusCode, message: str, violations: dict[str, str]) -> grpc.RpcError:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in violations.items()
        ]
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
    status.details.add().Pack(bad)
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details=message)


def test_field_violations_land_next_to_their_form_fields() -> None:
    error = _rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad",
        {"template.subject": "is required", "acceptances[0].accepted": "tick it", "x.y": "?"},
    )
    problem = form_problem(error, {"template.subject": "subject", "acceptances": "acceptances"})
    assert problem.status == 400
    assert problem.fields == {"subject": "is required", "acceptances": "tick it"}
    assert problem.other  # "x.y" has no field on the form: the message still says it
    alone = form_problem(
        _rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad", {"template.subject": "needed"}),
        {"template.subject": "subject"},
    )
    assert alone.fields == {"subject": "needed"}
    assert not alone.other


# -- the embedded mailbox ----------------------------------------------------------------


def test_the_mailbox_exists_only_in_embedded_mode() -> None:
    with client() as c:
        assert c.get("/mailbox").status_code == 404


def test_the_mailbox_lists_and_shows_caught_mail_with_html_in_a_sandbox(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "Shop <news@shop.example>"
    message["To"] = "ada@example.org"
    message["Subject"] = "Autumn letter"
    message["List-Unsubscribe"] = "<http://testserver.local/unsubscribe/tok>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("Hello, see http://testserver.local/preferences/tok")
    message.add_alternative("<h1>Hello</h1><script>alert(1)</script>", subtype="html")
    name = "20261207T101010123456-0a1b2c3d.eml"
    (tmp_path / name).write_bytes(bytes(message))
    with client(smtp_sink_dir=str(tmp_path)) as c:
        listing = c.get("/mailbox")
        shown = c.get(f"/mailbox/{name}")
        html = c.get(f"/mailbox/{name}/html")
        assert c.get("/mailbox/..%2Fsecrets.eml").status_code == 404
        assert c.get("/mailbox/20261207T101010123456-ffffffff.eml").status_code == 404
    assert "Autumn letter" in listing.text
    assert f'src="/mailbox/{name}/html"' in shown.text
    assert "sandbox" in shown.text
    assert 'id="dkim">not signed' in shown.text
    assert 'action="/unsubscribe/tok"' in shown.text  # the one-click button
    assert 'href="http://testserver.local/preferences/tok"' in shown.text
    assert html.headers["content-security-policy"] == FRAME_POLICY
    assert html.headers["x-frame-options"] == "SAMEORIGIN"
    assert "<h1>Hello</h1>" in html.text
