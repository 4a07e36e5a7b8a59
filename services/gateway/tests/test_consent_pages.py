"""The public consent pages against a real consent service (PostgreSQL, NATS JetStream).

Consent runs in-process on this module's event loop; the gateway app runs on the same loop
through httpx's ASGI transport (which lets a test choose the socket peer's address), with its
lifespan entered by hand, so its gRPC channel to consent is a real one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import nats
import nats.js.errors
import pytest
import pytest_asyncio
from prometheus_client import generate_latest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import consent_service_pb2_grpc
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent.__main__ import build
from missiva_consent.config import ConsentSettings
from missiva_gateway.app import create_app
from missiva_gateway.client import client_ip
from missiva_gateway.config import GatewaySettings, parse_networks
from missiva_gateway.public import CSS, SECURITY_HEADERS
from missiva_platform.config import ConfigError, load_settings
from missiva_platform.devstack.ports import free_port
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.metrics import registry
from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    FIELD_KEYS_FILE,
    IP_SALTS_FILE,
    TOKEN_KEYRING_FILE,
    generate_secrets,
    load_email_hasher,
    load_ip_pseudonymiser,
    load_token_keyring,
)
from missiva_platform.testing import harness as kit
from missiva_platform.testing.tokens import TestIssuer

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETUP_SCOPES = ("consent:read", "consent:write", "links:write", "documents:write")

PUBLIC = "https://mail.missiva.test"  # consent's PUBLIC_BASE_URL: the gateway's public address
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
PEER = "192.0.2.44"


class Consent:
    """The consent service under test, its stub and a few helpers."""

    def __init__(self, app: Any, channel: grpc.aio.Channel, secrets: dict, nc: Any) -> None:
        self.app = app
        self.channel = channel
        self.stub = consent_service_pb2_grpc.ConsentServiceStub(channel)
        self.issuer = TestIssuer()
        self.secrets = secrets
        self.hasher = load_email_hasher(secrets[EMAIL_HASH_KEY_FILE])
        self.keyring = load_token_keyring(secrets[TOKEN_KEYRING_FILE])
        self.nc = nc

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.app.grpc_port}"

    @staticmethod
    def tenant() -> str:
        return f"acct-{uuid.uuid4().hex[:10]}"

    @staticmethod
    def email() -> str:
        return f"person-{uuid.uuid4().hex[:12]}@example.org"

    def md(self, tenant: str) -> tuple[tuple[str, str], ...]:
        """An account admin holding just the scopes these tests' set-up calls need."""
        token = self.issuer.token(tenant_id=tenant, roles=("admin",), scopes=SETUP_SCOPES)
        return (("authorization", f"Bearer {token}"),)

    async def purpose(self, tenant: str, key: str, **fields: Any) -> pb.Purpose:
        fields.setdefault("kind", pb.PURPOSE_KIND_EMAIL)
        fields.setdefault("category", types_pb2.EMAIL_CATEGORY_MARKETING)
        fields.setdefault("legal_basis", types_pb2.LEGAL_BASIS_CONSENT)
        fields.setdefault("name", key.title())
        reply = await self.stub.CreatePurpose(
            pb.CreatePurposeRequest(purpose=pb.Purpose(key=key, **fields)),
            metadata=self.md(tenant),
            timeout=10,
        )
        return reply.purpose

    @staticmethod
    def evidence() -> pb.ConsentEvidence:
        return pb.ConsentEvidence(
            source=pb.CONSENT_SOURCE_FORM,
            source_detail="form-1",
            checkbox_text="Yes, send me the newsletter",
            policy_document_id="privacy",
            policy_version="2026-01",
            client=types_pb2.ClientContext(ip_address="203.0.113.7", user_agent="Firefox/140"),
        )

    async def grant(self, tenant: str, email: str, purpose_id: str) -> None:
        await self.stub.RecordConsent(
            pb.RecordConsentRequest(
                person=types_pb2.PersonRef(email=email),
                purpose_id=purpose_id,
                evidence=self.evidence(),
            ),
            metadata=self.md(tenant),
            timeout=10,
        )

    async def links(self, tenant: str, email: str, purpose_id: str = "") -> Any:
        return await self.stub.IssueLinkTokens(
            pb.IssueLinkTokensRequest(
                person=types_pb2.PersonRef(email=email), purpose_id=purpose_id, campaign_id="c-1"
            ),
            metadata=self.md(tenant),
            timeout=10,
        )

    async def status(self, tenant: str, email: str, purpose_id: str) -> int:
        reply = await self.stub.CheckConsent(
            pb.CheckConsentRequest(person=types_pb2.PersonRef(email=email), purpose_id=purpose_id),
            metadata=self.md(tenant),
            timeout=10,
        )
        return int(reply.check.status)

    async def ledger_size(self, tenant: str) -> int:
        return await self.scalar(
            "SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant
        )

    async def scalar(self, statement: str, *params: Any) -> Any:
        return await kit.scalar(self.app.settings.database_url, statement, *params)

    async def start_double_opt_in(self, tenant: str, email: str, purpose_ids: list[str]) -> str:
        """Start a double opt-in and return the confirm_url of the email consent queued."""
        await self.stub.StartDoubleOptIn(
            pb.StartDoubleOptInRequest(
                person=types_pb2.PersonRef(email=email),
                purpose_ids=purpose_ids,
                evidence=self.evidence(),
                locale="en",
            ),
            metadata=self.md(tenant),
            timeout=10,
        )
        person_key = self.hasher.person_key(email)
        js = self.nc.jetstream()
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                msg = await js.get_last_msg("DELIVERY_COMMANDS", "cmd.delivery.send_transactional")
                command = unpack(
                    EventEnvelope.FromString(msg.data), delivery_events.SendTransactionalCommand
                )
                if command.person_key == person_key:
                    return str(command.variables["confirm_url"])
            assert asyncio.get_running_loop().time() < deadline, "no confirmation email queued"
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return generate_secrets(tmp_path_factory.mktemp("secrets"), now=datetime.now(UTC))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def consent(make_database, nats_url, secrets_dir) -> AsyncIterator[Consent]:
    probe = build(ConsentSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, "gateway_consent_pages")
    settings = ConsentSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        health_interval_seconds=0.5,
        shutdown_grace_seconds=1,
        platform_account_id="platform-acct",
        public_base_url=PUBLIC,
        # Only consent answers privacy requests here, so an export really completes.
        privacy_services="consent",
        token_keyring_file=str(secrets_dir[TOKEN_KEYRING_FILE]),
        email_hash_key_file=str(secrets_dir[EMAIL_HASH_KEY_FILE]),
        ip_salts_file=str(secrets_dir[IP_SALTS_FILE]),
        field_keys_file=str(secrets_dir[FIELD_KEYS_FILE]),
    )
    harness_issuer = TestIssuer()
    app = build(settings, jwks=harness_issuer.source())
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    nc = await nats.connect(nats_url)
    harness = Consent(app, channel, secrets_dir, nc)
    harness.issuer = harness_issuer
    yield harness
    await nc.close()
    await channel.close()
    await app.stop()


@contextlib.asynccontextmanager
async def gateway(
    consent: Consent, *, peer: str = PEER, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app pointed at ``consent``, as seen from a client at ``peer``."""
    settings.setdefault("consent_target", consent.target)
    app = create_app(GatewaySettings(**settings))
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=(peer, 41000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            yield client


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def assert_page_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["content-security-policy"]
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "set-cookie" not in response.headers
    assert "location" not in response.headers


def assert_html(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "text/html; charset=utf-8"  # charset once
    body = response.text
    assert '<html lang="en">' in body
    assert 'name="viewport"' in body
    assert "<script" not in body
    assert "http://" not in body.replace(PUBLIC, "")  # no external assets
    return body


def ticked(body: str, purpose_id: str) -> bool | None:
    """Whether the page's box for ``purpose_id`` is ticked; None when it has no box."""
    box = re.search(rf'<input type="checkbox" name="enabled" value="{purpose_id}"[^>]*>', body)
    return None if box is None else " checked" in box.group(0)


# --------------------------------------------------------------------------- links


async def test_every_link_consent_issues_is_a_page_of_the_gateway(consent: Consent) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    assert links.unsubscribe_url == f"{PUBLIC}/unsubscribe/{links.unsubscribe_token}"
    assert links.preferences_url == f"{PUBLIC}/preferences/{links.preferences_token}"
    async with gateway(consent) as client:
        for url in (links.unsubscribe_url, links.preferences_url):
            response = await client.get(url)  # the link exactly as consent wrote it
            assert response.status_code == 200, url
            assert_html(response)
            assert_page_headers(response)


# --------------------------------------------------------------------------- unsubscribe


async def test_one_click_post_withdraws_answers_text_and_a_replay_is_200(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    async with gateway(consent) as client:
        response = await client.post(links.unsubscribe_url, data=ONE_CLICK)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.text == "unsubscribed\n"
        assert_page_headers(response)
        assert await consent.status(tenant, email, news.purpose_id) == pb.CONSENT_STATUS_WITHDRAWN
        entries = await consent.ledger_size(tenant)

        replay = await client.post(links.unsubscribe_url, data=ONE_CLICK)
        assert replay.status_code == 200
        assert replay.text == "unsubscribed\n"
        assert await consent.ledger_size(tenant) == entries  # nothing appended


async def test_one_click_post_accepts_multipart_bodies(consent: Consent) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    body = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n"
        b"--b0undary--\r\n"
    )
    async with gateway(consent) as client:
        response = await client.post(
            links.unsubscribe_url,
            content=body,
            headers={"content-type": "multipart/form-data; boundary=b0undary"},
        )
    assert response.status_code == 200
    assert response.text == "unsubscribed\n"
    assert await consent.status(tenant, email, news.purpose_id) == pb.CONSENT_STATUS_WITHDRAWN


async def test_one_click_with_a_bad_token_is_a_readable_4xx(consent: Consent) -> None:
    async with gateway(consent) as client:
        response = await client.post("/unsubscribe/not-a-token", data=ONE_CLICK)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "this link is not valid" in response.text

    async with gateway(consent) as client:
        huge = await client.post("/unsubscribe/not-a-token", data={"x": "y" * 100_000})
    assert huge.status_code == 413


async def test_get_pages_change_nothing(consent: Consent) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    letters = await consent.purpose(tenant, "letters", double_opt_in=True)
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    confirm_url = await consent.start_double_opt_in(tenant, email, [letters.purpose_id])
    assert confirm_url.startswith(f"{PUBLIC}/confirm/")
    entries = await consent.ledger_size(tenant)
    async with gateway(consent) as client:
        for _ in range(2):  # a scanner, then the person
            page = await client.get(links.unsubscribe_url)
            assert page.status_code == 200
            body = assert_html(page)
            assert '<form method="post">' in body  # posts back to the same URL
            assert 'value="all"' in body
            confirm = await client.get(confirm_url)
            assert confirm.status_code == 200
            assert "Confirm my subscription" in assert_html(confirm)
            assert_page_headers(confirm)
    assert await consent.status(tenant, email, news.purpose_id) == pb.CONSENT_STATUS_GRANTED
    assert await consent.status(tenant, email, letters.purpose_id) == pb.CONSENT_STATUS_NOT_RECORDED
    assert await consent.ledger_size(tenant) == entries


async def test_the_page_form_unsubscribes_and_answers_html_with_a_preferences_link(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news", name="Weekly <news>")
    offers = await consent.purpose(tenant, "offers")
    for purpose in (news, offers):
        await consent.grant(tenant, email, purpose.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    async with gateway(consent) as client:
        response = await client.post(links.unsubscribe_url, data={"scope": "this"})
        assert response.status_code == 200
        body = assert_html(response)
        assert_page_headers(response)
        assert "Weekly &lt;news&gt;" in body  # escaped
        assert "Offers" not in body
        href = re.search(r'href="([^"]+)"', body)
        assert href is not None
        assert href.group(1).startswith("../preferences/")
        preferences = await client.get(urllib.parse.urljoin(links.unsubscribe_url, href.group(1)))
        assert preferences.status_code == 200
        assert "Your email preferences" in preferences.text
    assert await consent.status(tenant, email, news.purpose_id) == pb.CONSENT_STATUS_WITHDRAWN
    assert await consent.status(tenant, email, offers.purpose_id) == pb.CONSENT_STATUS_GRANTED


async def test_the_page_form_can_unsubscribe_from_everything_but_service_mail(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    offers = await consent.purpose(tenant, "offers")
    for purpose in (news, offers):
        await consent.grant(tenant, email, purpose.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    async with gateway(consent) as client:
        response = await client.post(links.unsubscribe_url, data={"scope": "all"})
    assert response.status_code == 200
    body = assert_html(response)
    assert "News" in body
    assert "Offers" in body
    assert "Service emails" in body
    for purpose in (news, offers):
        assert await consent.status(tenant, email, purpose.purpose_id) in (
            pb.CONSENT_STATUS_WITHDRAWN,
            pb.CONSENT_STATUS_OBJECTED,
        )


async def test_a_bad_unsubscribe_link_posted_from_a_browser_gets_an_html_page(
    consent: Consent,
) -> None:
    async with gateway(consent) as client:
        response = await client.post("/unsubscribe/garbage", data={"scope": "this"})
    assert response.status_code == 400
    body = assert_html(response)
    assert_page_headers(response)
    assert "This link is not valid (it may have been cut or changed)" in body


# --------------------------------------------------------------------------- preferences


async def test_the_preference_centre_shows_purposes_history_and_saves_changes(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news", description="What we wrote this week")
    offers = await consent.purpose(tenant, "offers")
    updates = await consent.purpose(
        tenant,
        "updates",
        category=types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
        legal_basis=types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
    )
    account = await consent.purpose(
        tenant,
        "account",
        category=types_pb2.EMAIL_CATEGORY_SYSTEM,
        legal_basis=types_pb2.LEGAL_BASIS_CONTRACT,
    )
    await consent.grant(tenant, email, news.purpose_id)
    await consent.stub.PublishDocumentVersion(
        pb.PublishDocumentVersionRequest(
            document=pb.LegalDocumentVersion(
                document_id="notice",
                kind=pb.DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE,
                version="1",
                title="How we use your data",
                locale="en",
                body_markdown="We keep your address to send what you asked for.",
                url="https://shop.example/privacy",
            )
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    links = await consent.links(tenant, email, news.purpose_id)
    async with gateway(consent) as client:
        page = await client.get(links.preferences_url)
        assert page.status_code == 200
        body = assert_html(page)
        assert_page_headers(page)
        assert '<a href="https://shop.example/privacy" rel="noopener noreferrer">' in body
        assert "What we wrote this week" in body
        assert ticked(body, news.purpose_id) is True
        assert ticked(body, offers.purpose_id) is False
        assert ticked(body, account.purpose_id) is None  # service mail: no box
        assert "always on" in body
        assert "legitimate interest" in body
        assert f'name="object" value="{updates.purpose_id}"' in body
        assert "<table>" in body
        assert "subscribed" in body

        shown = [news.purpose_id, offers.purpose_id, updates.purpose_id]
        form = {"shown": shown, "enabled": [offers.purpose_id, updates.purpose_id], "save": "1"}
        saved = await client.post(links.preferences_url, data=form)
        assert saved.status_code == 200
        body = assert_html(saved)
        assert "Your choices are saved (turned on: Offers; turned off: News)." in body
        assert ticked(body, offers.purpose_id) is True
        assert ticked(body, news.purpose_id) is False
        assert await consent.status(tenant, email, news.purpose_id) == pb.CONSENT_STATUS_WITHDRAWN
        assert await consent.status(tenant, email, offers.purpose_id) == pb.CONSENT_STATUS_GRANTED
        entries = await consent.ledger_size(tenant)

        again = await client.post(links.preferences_url, data=form)
        assert "Nothing changed." in again.text
        assert await consent.ledger_size(tenant) == entries

        objected = await client.post(links.preferences_url, data={"object": updates.purpose_id})
        assert objected.status_code == 200
        assert "you objected to: Updates" in objected.text
        assert await consent.status(tenant, email, updates.purpose_id) == pb.CONSENT_STATUS_OBJECTED
        assert (
            await consent.status(tenant, email, account.purpose_id) != pb.CONSENT_STATUS_WITHDRAWN
        )

        # Service mail cannot be turned off, whatever the form says.
        forged = await client.post(
            links.preferences_url, data={"shown": account.purpose_id, "save": "1"}
        )
        assert "Nothing changed." in forged.text


async def test_a_bad_preferences_link_is_a_readable_page(consent: Consent) -> None:
    tenant, email = consent.tenant(), consent.email()
    links = await consent.links(tenant, email)
    async with gateway(consent) as client:
        wrong = await client.get(f"/preferences/{links.unsubscribe_token}")  # not this page's
        assert wrong.status_code == 400
        assert "This link is not meant for this page" in assert_html(wrong)
        assert_page_headers(wrong)


# --------------------------------------------------------------------------- double opt-in


async def test_confirmation_needs_the_button_and_a_used_or_expired_link_says_so(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    letters = await consent.purpose(tenant, "letters", double_opt_in=True, name="Letters")
    confirm_url = await consent.start_double_opt_in(tenant, email, [letters.purpose_id])
    async with gateway(consent) as client:
        await client.get(confirm_url)
        assert await consent.status(tenant, email, letters.purpose_id) != pb.CONSENT_STATUS_GRANTED

        done = await client.post(confirm_url)
        assert done.status_code == 200
        body = assert_html(done)
        assert_page_headers(done)
        assert "your subscription is confirmed" in body
        assert "Letters" in body
        assert await consent.status(tenant, email, letters.purpose_id) == pb.CONSENT_STATUS_GRANTED

        used = await client.post(confirm_url)
        assert used.status_code == 409
        assert "This confirmation link was already used" in assert_html(used)

        payload = token_of(confirm_url).split(".")[2]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        expired = consent.keyring.sign(
            "confirm",
            {k: v for k, v in claims.items() if k not in ("p", "iat", "exp")},
            ttl=timedelta(hours=1),
            now=datetime.now(UTC) - timedelta(days=2),
        )
        late = await client.post(f"/confirm/{expired}")
        assert late.status_code == 409
        assert "This link has expired" in assert_html(late)


# --------------------------------------------------------------------------- export


async def test_a_finished_export_downloads_as_an_attachment(consent: Consent) -> None:
    tenant, email = consent.tenant(), consent.email()
    opened = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(
            person=types_pb2.PersonRef(email=email), kind=ppb.PRIVACY_REQUEST_KIND_EXPORT
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    request_id = opened.privacy_request.request_id
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        found = (
            await consent.stub.GetPrivacyRequest(
                pb.GetPrivacyRequestRequest(request_id=request_id),
                metadata=consent.md(tenant),
                timeout=10,
            )
        ).privacy_request
        if found.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED:
            break
        assert asyncio.get_running_loop().time() < deadline, "the export did not complete"
        await asyncio.sleep(0.2)
    assert found.export_url.startswith(f"{PUBLIC}/my-data/export/")
    async with gateway(consent) as client:
        response = await client.get(found.export_url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="missiva-export-{request_id}.json"'
        assert_page_headers(response)
        assert request_id in json.dumps(response.json())

        bad = await client.get("/my-data/export/v1.x.y.z")
        assert bad.status_code == 400
        assert "not valid" in assert_html(bad)


# --------------------------------------------------------------------------- client context


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(consent: Consent) -> None:
    pseudonyms = load_ip_pseudonymiser(consent.secrets[IP_SALTS_FILE])
    forwarded = {"x-forwarded-for": "198.51.100.77, 10.0.0.9", "user-agent": "Browser/1.0"}
    cases = [("10.0.0.5", "198.51.100.77"), ("203.0.113.50", "203.0.113.50")]
    for peer, recorded in cases:
        tenant, email = consent.tenant(), consent.email()
        letters = await consent.purpose(tenant, "letters", double_opt_in=True)
        confirm_url = await consent.start_double_opt_in(tenant, email, [letters.purpose_id])
        async with gateway(consent, peer=peer, trusted_proxies="10.0.0.0/8") as client:
            response = await client.post(confirm_url, headers=forwarded)
        assert response.status_code == 200
        ip_hash, agent = await consent.scalar(
            "SELECT ARRAY[ip_hash, user_agent] FROM consent_ledger WHERE account_id = %s "
            "AND action = 'confirm'",
            tenant,
        )
        assert ip_hash == pseudonyms.hash_ip(recorded, at=datetime.now(UTC)), peer
        assert agent == "Browser/1.0"


async def test_client_ip_walks_the_chain_from_the_right_past_trusted_proxies() -> None:
    trusted = parse_networks("10.0.0.0/8, 2001:db8::/32")
    assert client_ip("192.0.2.1", ["198.51.100.1"], trusted) == "192.0.2.1"  # not a proxy
    assert client_ip("10.1.1.1", ["198.51.100.1"], trusted) == "198.51.100.1"
    # A visitor's own X-Forwarded-For is kept at the left: the proxies' entries win.
    assert client_ip("10.1.1.1", ["6.6.6.6, 198.51.100.1, 10.2.2.2"], trusted) == "198.51.100.1"
    assert client_ip("10.1.1.1", ["6.6.6.6", "198.51.100.1"], trusted) == "198.51.100.1"
    assert client_ip("2001:db8::5", ["[2001:db8:ffff::1]:443"], trusted) == "2001:db8:ffff::1"
    assert client_ip("10.1.1.1", [], trusted) == "10.1.1.1"
    assert client_ip("10.1.1.1", ["not-an-ip"], trusted) == "10.1.1.1"
    assert client_ip("::ffff:192.0.2.9", [], ()) == "192.0.2.9"
    assert client_ip("testclient", ["198.51.100.1"], trusted) == ""
    assert client_ip("10.1.1.1", ["198.51.100.1"], ()) == "10.1.1.1"  # none trusted


async def test_trusted_proxies_is_a_checked_setting() -> None:
    assert load_settings(GatewaySettings, {}).trusted_proxy_networks == ()
    settings = load_settings(GatewaySettings, {"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"})
    assert [str(n) for n in settings.trusted_proxy_networks] == ["10.0.0.0/8", "192.0.2.1/32"]
    with pytest.raises(ConfigError) as raised:
        load_settings(GatewaySettings, {"TRUSTED_PROXIES": "10.0.0.0/33"})
    assert raised.value.variable == "TRUSTED_PROXIES"


# --------------------------------------------------------------------------- operations


async def test_a_consent_outage_is_a_503_page_and_a_503_one_click(consent: Consent) -> None:
    async with gateway(consent, consent_target=f"127.0.0.1:{free_port()}") as client:
        page = await client.get("/preferences/v1.a.b.c")
        assert page.status_code == 503
        body = assert_html(page)
        assert_page_headers(page)
        assert "try again in a few minutes" in body
        assert "127.0.0.1" not in body
        one_click = await client.post("/unsubscribe/v1.a.b.c", data=ONE_CLICK)
        assert one_click.status_code == 503
        assert one_click.headers["content-type"].startswith("text/plain")


async def test_tokens_never_reach_logs_or_metric_labels(
    consent: Consent, caplog: pytest.LogCaptureFixture
) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    secrets = [links.unsubscribe_token, links.preferences_token]
    caplog.set_level(logging.DEBUG)
    async with gateway(consent) as client:
        await client.get(links.unsubscribe_url)
        await client.post(links.unsubscribe_url, data=ONE_CLICK)
        await client.get(links.preferences_url)
        await client.post(links.preferences_url, data={"save": "1"})
        await client.get(f"/preferences/{links.unsubscribe_token}")  # refused: logged?
        metrics = generate_latest(registry()).decode()  # what METRICS_PORT serves
    async with gateway(consent, consent_target=f"127.0.0.1:{free_port()}") as client:
        await client.get(links.preferences_url)  # a 503, which is logged
    assert any(r.name.startswith("missiva_gateway") for r in caplog.records)
    for record in caplog.records:
        if record.name.startswith("httpx"):
            continue  # the test's own client, logging the URLs it asks for
        logged = f"{record.getMessage()} {record.__dict__!r}"
        for token in secrets:
            assert token not in logged
            assert token.split(".")[3] not in logged  # not even the signature
    assert 'route="/unsubscribe/{token}"' in metrics
    assert 'route="/preferences/{token}"' in metrics
    for token in secrets:
        assert token not in metrics


async def test_the_inline_style_is_the_only_one_the_policy_allows() -> None:
    digest = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in SECURITY_HEADERS["content-security-policy"]


async def test_a_preference_centre_with_nothing_to_choose_has_no_save_button(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    service = await consent.purpose(
        tenant,
        "orders",
        category=types_pb2.EMAIL_CATEGORY_SYSTEM,
        legal_basis=types_pb2.LEGAL_BASIS_CONTRACT,
    )
    assert service.purpose_id
    links = await consent.links(tenant, email)
    async with gateway(consent) as client:
        page = await client.get(links.preferences_url)
        italian = await client.get(links.preferences_url, headers={"accept-language": "it-IT"})
    body = assert_html(page)
    assert "always on" in body
    assert 'name="save"' not in body
    assert "There is nothing to choose here" in body
    assert '<html lang="it">' in italian.text
    assert "Le tue preferenze email" in italian.text
    assert 'name="save"' not in italian.text


async def test_the_public_pages_speak_italian_to_an_italian_browser(consent: Consent) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    italian = {"accept-language": "it-IT,it;q=0.9"}
    async with gateway(consent) as client:
        form = await client.get(links.unsubscribe_url, headers=italian)
        done = await client.post(links.unsubscribe_url, data={"scope": "this"}, headers=italian)
        bad = await client.get("/preferences/v1.not.a.token", headers=italian)
    assert "Annulla l&#39;iscrizione" in form.text
    assert "Nulla cambia finché non lo fai" in form.text
    assert "Fatto. Ha effetto immediato." in done.text
    assert '<html lang="it">' in bad.text
    assert bad.status_code >= 400


async def _queued_my_data_url(consent: Consent, email: str) -> str:
    person_key = consent.hasher.person_key(email)
    js = consent.nc.jetstream()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            msg = await js.get_last_msg("DELIVERY_COMMANDS", "cmd.delivery.send_transactional")
            command = unpack(
                EventEnvelope.FromString(msg.data), delivery_events.SendTransactionalCommand
            )
            if command.person_key == person_key and "my_data_url" in command.variables:
                return str(command.variables["my_data_url"])
        assert asyncio.get_running_loop().time() < deadline, "no my-data email queued"
        await asyncio.sleep(0.1)


async def test_a_recipient_gets_a_my_data_link_then_asks_for_a_copy_and_erasure(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    async with gateway(consent) as client:
        centre = assert_html(await client.get(links.preferences_url))
        assert f'action="/preferences/{token_of(links.preferences_url)}/my-data"' in centre
        wrong = await client.post(
            f"{links.preferences_url}/my-data", data={"email": "someone-else@example.org"}
        )
        assert wrong.status_code == 403
        sent = await client.post(f"{links.preferences_url}/my-data", data={"email": email})
        assert sent.status_code == 200
        assert "on its way" in sent.text
        url = await _queued_my_data_url(consent, email)
        assert url.startswith(f"{PUBLIC}/my-data/")

        page = await client.get(url)
        assert page.status_code == 200
        assert_page_headers(page)
        assert "Send me a copy of my data" in assert_html(page)
        unsure = await client.post(url, data={"kind": "erase"})  # the box is not ticked
        assert unsure.status_code == 400
        copy = await client.post(url, data={"kind": "export"})
        assert copy.status_code == 200
        assert "a copy of your data" in copy.text
        request_id = re.search(r"request_id=([0-9a-f-]+)", copy.text)
        again = await client.post(url, data={"kind": "export"})  # the same request, not two
        assert request_id is not None
        assert request_id.group(1) in again.text
        status = await client.get(f"{url}?request_id={request_id.group(1)}")
        assert status.status_code == 200
        erase = await client.post(url, data={"kind": "erase", "sure": "yes"})
        assert erase.status_code == 200
        assert "deletion of your data" in erase.text
        forged = await client.get("/my-data/v1.x.y.z?request_id=" + request_id.group(1))
        assert forged.status_code in (400, 401, 404)


# --------------------------------------------------------------------------- the sender


async def test_every_public_page_says_who_sent_it_and_a_bad_link_shows_no_form(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    await consent.stub.SetSenderIdentity(
        pb.SetSenderIdentityRequest(
            sender=pb.SenderIdentity(
                name="Bottega <Rossi>",
                postal_address="Via Roma 1\n00100 Roma",
                privacy_contact="privacy@rossi.example",
            )
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    news = await consent.purpose(tenant, "news", name="Weekly news")
    letters = await consent.purpose(tenant, "letters", double_opt_in=True, name="Letters")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    confirm_url = await consent.start_double_opt_in(tenant, email, [letters.purpose_id])
    footer = (
        "<strong>Bottega &lt;Rossi&gt;</strong><br>Via Roma 1<br>00100 Roma",
        '<a href="mailto:privacy@rossi.example" rel="noopener noreferrer">',
    )
    async with gateway(consent) as client:
        unsubscribe = await client.get(links.unsubscribe_url)
        assert "only Weekly news" in assert_html(unsubscribe)
        confirm = await client.get(confirm_url)
        assert "Letters" in assert_html(confirm)
        pages = [
            unsubscribe,
            confirm,
            await client.get(links.preferences_url),
            await client.post(links.unsubscribe_url, data={"scope": "this"}),
            await client.post(confirm_url),
        ]
        for page in pages:
            assert page.status_code == 200, page.request.url
            body = assert_html(page)
            assert_page_headers(page)
            for piece in footer:
                assert piece in body, (page.request.url, piece)
        # Used, the confirmation link's page says so instead of offering the button again.
        used = assert_html(await client.get(confirm_url))
        assert "already confirmed" in used
        assert "<form" not in used
        # The same footer in Italian.
        italian = await client.get(links.preferences_url, headers={"accept-language": "it"})
        assert "Chi invia queste email" in italian.text
        # A link that does not check out shows its problem and nothing to press.
        for bad in (
            "/unsubscribe/v1.x.y.z",
            f"/unsubscribe/{token_of(links.preferences_url)}",  # a token of another kind
            "/confirm/v1.x.y.z",
            "/my-data/v1.x.y.z",
        ):
            refused = await client.get(bad)
            assert 400 <= refused.status_code < 500, bad
            assert "<form" not in assert_html(refused), bad
            assert_page_headers(refused)
    # Nothing was used by the GETs: still subscribed to the letters only by the POST above.
    assert await consent.status(tenant, email, letters.purpose_id) == pb.CONSENT_STATUS_GRANTED


async def test_without_a_declared_identity_the_pages_show_no_empty_sender(
    consent: Consent,
) -> None:
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    links = await consent.links(tenant, email, news.purpose_id)
    async with gateway(consent) as client:
        body = assert_html(await client.get(links.unsubscribe_url))
    assert "Who sends these emails" not in body
