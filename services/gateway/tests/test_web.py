"""The web app's foundations without a platform: languages and the Italian catalogue,
security headers and CSP nonces, CSRF refusals, rate limits, the session cookie, the error
mapping onto form fields, and the embedded mailbox over a folder of ``.eml`` files; then the
sender domains page against a real identity and delivery (CSRF, field violations, another
account's domain, a member's refusal) and a campaign's Retry button (shown only when there
are failed sends; posted to a real campaign service)."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from google.rpc import code_pb2, error_details_pb2, status_pb2
from litestar.testing import TestClient

from missiva.campaign.v1 import campaign_service_pb2 as cpb
from missiva_campaign.__main__ import build as build_campaign
from missiva_campaign.config import CampaignSettings
from missiva_delivery.__main__ import build as build_delivery
from missiva_delivery.config import DeliverySettings
from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings, parse_networks
from missiva_gateway.web.frames import FRAME_POLICY
from missiva_gateway.web.i18n import from_accept_language, negotiate, translations
from missiva_gateway.web.problems import form_problem
from missiva_gateway.web.render import environment
from missiva_gateway.web.security import CSRF_COOKIE, RateLimited, RateLimiter, is_https
from missiva_gateway.web.session import Session
from missiva_identity import store as identity_store
from missiva_identity.__main__ import build as build_identity
from missiva_identity.config import IdentitySettings
from missiva_identity.core import new_id
from missiva_platform import secrets
from missiva_platform.devstack.ports import free_port

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


# -- sender domains (a real identity and delivery) ---------------------------------------

PASSWORD = "correct horse battery staple 42"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def domain_backends(
    make_database: Any, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Any]]:
    """Identity (accounts, sign-in), delivery (sender domains; its resolver is a port nobody
    answers, so a verification finds nothing, quickly) and campaign (campaign pages)."""
    files = {k: str(v) for k, v in secrets.generate_secrets(tmp_path_factory.mktemp("s")).items()}
    own = secrets.own_credential_files(Path(files[secrets.SERVICE_CREDENTIALS_FILE]))
    probe = "postgresql://x@127.0.0.1/x"

    def common(build: Any, settings_class: Any, name: str) -> dict[str, Any]:
        sets = build(settings_class(database_url=probe, nats_url=nats_url)).migration_sets
        return {
            "database_url": make_database(sets, f"web_domains_{name}"),
            "nats_url": nats_url,
            "grpc_port": 0,
            "http_port": 0,
            "health_interval_seconds": 0.5,
            "shutdown_grace_seconds": 1.0,
            "token_keyring_file": files[secrets.TOKEN_KEYRING_FILE],
            "field_keys_file": files[secrets.FIELD_KEYS_FILE],
            "email_hash_key_file": files[secrets.EMAIL_HASH_KEY_FILE],
            "ip_salts_file": files[secrets.IP_SALTS_FILE],
        }

    identity = build_identity(
        IdentitySettings(
            **common(build_identity, IdentitySettings, "identity"),
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            service_credentials_file=files[secrets.SERVICE_CREDENTIALS_FILE],
            jwt_signing_keys_file=files[secrets.JWT_SIGNING_KEYS_FILE],
        )
    )
    await identity.start()
    delivery = build_delivery(
        DeliverySettings(
            **common(build_delivery, DeliverySettings, "delivery"),
            identity_target=f"127.0.0.1:{identity.grpc_port}",
            service_credentials_file=str(own["delivery"]),
            smtp_url=f"smtp://127.0.0.1:{free_port()}",
            dns_resolver=f"127.0.0.1:{free_port()}",
            dns_timeout_seconds=0.3,
        )
    )
    await delivery.start()
    campaign = build_campaign(
        CampaignSettings(
            **common(build_campaign, CampaignSettings, "campaign"),
            identity_target=f"127.0.0.1:{identity.grpc_port}",
            service_credentials_file=str(own["campaign"]),
        )
    )
    await campaign.start()
    try:
        yield {"identity": identity, "delivery": delivery, "campaign": campaign}
    finally:
        await campaign.stop()
        await delivery.stop()
        await identity.stop()


async def _user(backends: dict[str, Any], account_id: str | None, role: str) -> tuple[str, str]:
    """A verified user (in a new account when ``account_id`` is None): (account id, email)."""
    core = backends["identity"].services[0].servicer.core
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    async with core.pool.connection() as conn, conn.transaction():
        if account_id is None:
            account_id = new_id()
            await identity_store.create_account(conn, account_id, "Bottega")
        user_id = new_id()
        await identity_store.create_user(
            conn,
            identity_store.NewUser(
                id=user_id, account_id=account_id, email=email, email_normalised=email,
                person_key=core.vault.person_key(email), display_name=role, locale="en",
                role=role, password_hash=await core.hashing.hash(PASSWORD),
            ),
        )  # fmt: skip
        await identity_store.mark_verified(conn, user_id)
    return account_id, email


@contextlib.asynccontextmanager
async def _signed_in(backends: dict[str, Any], email: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of a fresh gateway app, signed in as ``email`` through /login."""
    app = create_app(
        GatewaySettings(
            identity_target=f"127.0.0.1:{backends['identity'].grpc_port}",
            delivery_target=f"127.0.0.1:{backends['delivery'].grpc_port}",
            campaign_target=f"127.0.0.1:{backends['campaign'].grpc_port}",
        )
    )
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=("192.0.2.20", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway.test", timeout=60
        ) as c:
            await c.get("/login")
            reply = await c.post(
                "/login",
                data={"email": email, "password": PASSWORD, "csrf_token": _csrf(c)},
            )
            assert reply.status_code == 303, reply.text
            assert reply.headers["location"] == "/app"
            yield c


def _csrf(c: httpx.AsyncClient) -> str:
    return str(c.cookies[CSRF_COOKIE])


def _domain_ids(page: str) -> dict[str, str]:
    return {
        name: found
        for found, name in re.findall(r'<h2 id="name-([0-9a-f-]{36})">([^<]+)</h2>', page)
    }


@pytest.mark.asyncio(loop_scope="module")
async def test_an_admin_registers_a_domain_sees_its_records_and_verifies_it(
    domain_backends: dict[str, Any],
) -> None:
    _account, email = await _user(domain_backends, None, "primary_admin")
    name = f"news-{uuid.uuid4().hex[:8]}.example.com"
    async with _signed_in(domain_backends, email) as c:
        empty = await c.get("/app/domains")
        assert empty.status_code == 200
        assert 'href="/app/domains" aria-current="page"' in empty.text  # in the navigation
        assert 'action="/app/domains"' in empty.text  # an admin may register
        # Without its CSRF token the form is refused before delivery hears of it.
        refused = await c.post("/app/domains", data={"domain": name})
        assert refused.status_code == 403
        assert "This form has expired" in refused.text
        assert name not in (await c.get("/app/domains")).text
        # A bad name: delivery's field violation under the field, what was typed kept.
        bad = await c.post("/app/domains", data={"domain": "not a domain", "csrf_token": _csrf(c)})
        assert bad.status_code == 400
        assert 'id="e-domain"' in bad.text
        assert 'aria-invalid="true"' in bad.text
        assert 'value="not a domain"' in bad.text

        made = await c.post(
            "/app/domains",
            data={"domain": name, "idempotency_key": str(uuid.uuid4()), "csrf_token": _csrf(c)},
        )
        assert made.status_code == 200, made.text
        assert f"{name} is registered" in made.text
        for record in (
            f"mv1-rsa._domainkey.{name}",
            f"mv1-ed25519._domainkey.{name}",
            f"bounces.{name}",
            f"_dmarc.{name}",
        ):
            assert f'<code class="record">{record}</code>' in made.text, record
        assert "v=DKIM1; k=rsa; p=" in made.text
        assert "v=DKIM1; k=ed25519; p=" in made.text
        assert "v=spf1 include:" in made.text
        assert "v=DMARC1" in made.text
        domain_id = _domain_ids(made.text)[name]
        assert f'id="status-{domain_id}">pending<' in made.text
        assert "not checked yet" in made.text
        assert "missiva publish-dns" not in made.text  # not the embedded platform

        # Nothing is published: the check says so, per record.
        checked = await c.post(f"/app/domains/{domain_id}/verify", data={"csrf_token": _csrf(c)})
        assert checked.status_code == 200
        assert f"{name} is not verified yet: 5 record(s)" in checked.text
        assert checked.text.count("missing or different") >= 5
        assert "not checked yet" not in checked.text

        rotated = await c.post(
            f"/app/domains/{domain_id}/rotate",
            data={"idempotency_key": str(uuid.uuid4()), "csrf_token": _csrf(c)},
        )
        assert rotated.status_code == 200
        assert "New keys (mv2-rsa)" in rotated.text
        assert f"mv2-ed25519._domainkey.{name}" in rotated.text


@pytest.mark.asyncio(loop_scope="module")
async def test_another_accounts_domain_is_not_found_and_a_member_cannot_register(
    domain_backends: dict[str, Any],
) -> None:
    account, admin = await _user(domain_backends, None, "primary_admin")
    _same, member = await _user(domain_backends, account, "member")
    _other, stranger = await _user(domain_backends, None, "primary_admin")
    name = f"shop-{uuid.uuid4().hex[:8]}.example.net"
    async with _signed_in(domain_backends, admin) as c:
        made = await c.post(
            "/app/domains",
            data={"domain": name, "idempotency_key": str(uuid.uuid4()), "csrf_token": _csrf(c)},
        )
        domain_id = _domain_ids(made.text)[name]

    async with _signed_in(domain_backends, stranger) as c:
        page = await c.get("/app/domains")
        assert name not in page.text
        for action in ("verify", "rotate"):
            reply = await c.post(
                f"/app/domains/{domain_id}/{action}",
                data={"idempotency_key": str(uuid.uuid4()), "csrf_token": _csrf(c)},
            )
            assert reply.status_code == 404, action
            assert name not in reply.text

    async with _signed_in(domain_backends, member) as c:
        page = await c.get("/app/domains")
        assert page.status_code == 200
        assert name in page.text  # a member reads the records
        assert 'action="/app/domains"' not in page.text  # but gets no form
        assert f'action="/app/domains/{domain_id}/verify"' not in page.text
        other = f"other-{uuid.uuid4().hex[:8]}.example.net"
        refused = await c.post(
            "/app/domains",
            data={"domain": other, "idempotency_key": str(uuid.uuid4()), "csrf_token": _csrf(c)},
        )
        assert refused.status_code == 403
        assert 'role="alert"' in refused.text
        assert _domain_ids(refused.text) == {name: domain_id}  # nothing was registered


# -- a campaign's Retry button -----------------------------------------------------------


def _campaign_page(campaign: cpb.Campaign, lang: str = "en") -> str:
    from missiva_gateway.web.app_pages import STATUS_NAMES
    from missiva_gateway.web.campaigns import retryable

    return environment(lang).get_template("campaign.html").render(
        lang=lang, languages=[], nonce="n", csrf_field="csrf_token", csrf_token="t", htmx="h.js",
        user=None, embedded=False, path="/app/campaigns/c", year=2026, title=campaign.name,
        campaign=campaign, stats=None, chart=None, status_names=STATUS_NAMES, problem="",
        notice="", key="k", running=False, retryable=retryable(campaign),
    )  # fmt: skip


def test_retry_is_offered_only_for_a_campaign_completed_with_failed_sends() -> None:
    failed = cpb.Campaign(
        campaign_id="c1", name="Autumn", status=cpb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES,
        failed_count=2, sent_count=8,
    )  # fmt: skip
    assert 'action="/app/campaigns/c1/retry"' in _campaign_page(failed)
    assert "Riprova gli invii non riusciti" in _campaign_page(failed, "it")
    nothing = (
        cpb.Campaign(campaign_id="c1", status=cpb.CAMPAIGN_STATUS_COMPLETED, sent_count=10),
        cpb.Campaign(campaign_id="c1", status=cpb.CAMPAIGN_STATUS_SENDING, failed_count=2),
        cpb.Campaign(campaign_id="c1", status=cpb.CAMPAIGN_STATUS_SENDING, deferred_count=3),
        cpb.Campaign(campaign_id="c1", status=cpb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES),
        cpb.Campaign(campaign_id="c1", status=cpb.CAMPAIGN_STATUS_DRAFT),
    )
    for campaign in nothing:
        assert "/retry" not in _campaign_page(campaign), campaign


@pytest.mark.asyncio(loop_scope="module")
async def test_retry_is_posted_to_campaign_with_its_csrf_token_and_an_unknown_one_is_404(
    domain_backends: dict[str, Any],
) -> None:
    _account, email = await _user(domain_backends, None, "primary_admin")
    unknown = str(uuid.uuid4())
    async with _signed_in(domain_backends, email) as c:
        refused = await c.post(f"/app/campaigns/{unknown}/retry", data={})
        assert refused.status_code == 403  # no CSRF token
        reply = await c.post(
            f"/app/campaigns/{unknown}/retry",
            data={"idempotency_key": str(uuid.uuid4()), "csrf_token": _csrf(c)},
        )
        assert reply.status_code == 404  # campaign's NOT_FOUND, as a page
        assert "Retry" not in reply.text
