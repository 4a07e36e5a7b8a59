"""``GET /v/<token>`` end to end: a campaign batch sent by a real delivery (to an SMTP sink),
its "View online" link taken from the received mail and opened through the gateway (with the
gateway's service token from a real identity). The page is the message with its
personalised content, under a policy that allows no script and images only from the
origins the message names; no-store, no-referrer, noindex, no cookie. A bad token is a
translated 404 page."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import nats.js.errors
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller

from missiva.campaign.v1 import campaign_service_pb2 as campaign_pb
from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva_delivery.__main__ import build as build_delivery
from missiva_delivery.config import DeliverySettings
from missiva_gateway import online, tracking
from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings
from missiva_identity.__main__ import build as build_identity
from missiva_identity.config import IdentitySettings
from missiva_platform import secrets
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.smtp_sink import SinkHandler
from missiva_platform.events import envelope
from missiva_platform.secrets import load_email_hasher, own_credential_files
from missiva_platform.streams import SEND_BATCH

pytestmark = pytest.mark.asyncio(loop_scope="module")

PEER = "192.0.2.46"
BASE = "https://mail.missiva.test"
LOGO = "https://cdn.bottegarossi.example/logo.png"
HTML = (
    "<p>Ciao {{ first_name }}, a {{ attributes.city }} abbiamo novità.</p>"
    f'<p><img src="{LOGO}" alt="Bottega"> <a href="https://bottegarossi.example/">Shop</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    ' <a href="{{ view_online_url }}">View online</a></p>'
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(make_database, nats_url, tmp_path_factory) -> AsyncIterator[dict[str, Any]]:
    files = secrets.generate_secrets(tmp_path_factory.mktemp("secrets"), now=datetime.now(UTC))
    common: dict[str, Any] = {
        "nats_url": nats_url,
        "grpc_port": 0,
        "http_port": 0,
        "health_interval_seconds": 0.5,
        "shutdown_grace_seconds": 1,
        "field_keys_file": str(files[secrets.FIELD_KEYS_FILE]),
        "email_hash_key_file": str(files[secrets.EMAIL_HASH_KEY_FILE]),
        "token_keyring_file": str(files[secrets.TOKEN_KEYRING_FILE]),
    }
    probe = build_identity(
        IdentitySettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    identity = build_identity(
        IdentitySettings(
            database_url=make_database(probe.migration_sets, "gateway_online_identity"),
            service_credentials_file=str(files[secrets.SERVICE_CREDENTIALS_FILE]),
            jwt_signing_keys_file=str(files[secrets.JWT_SIGNING_KEYS_FILE]),
            ip_salts_file=str(files[secrets.IP_SALTS_FILE]),
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            **common,
        )
    )
    await identity.start()
    sink = SinkHandler()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    probe = build_delivery(
        DeliverySettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    delivery = build_delivery(
        DeliverySettings(
            database_url=make_database(probe.migration_sets, "gateway_online_delivery"),
            identity_target=f"127.0.0.1:{identity.grpc_port}",
            smtp_url=f"smtp://127.0.0.1:{port}",
            sender_poll_seconds=0.1,
            public_base_url=BASE,
            **common,
        )
    )
    await delivery.start()
    nc = await nats.connect(nats_url)
    own = own_credential_files(files[secrets.SERVICE_CREDENTIALS_FILE])
    yield {
        "identity": identity.grpc_port,
        "delivery": delivery.grpc_port,
        "credentials": str(own["gateway"]),
        "sink": sink,
        "nc": nc,
        "hasher": load_email_hasher(files[secrets.EMAIL_HASH_KEY_FILE]),
    }
    await delivery.stop()
    js = nc.jetstream()
    for spec, _ in delivery.consumers:  # the work queue admits one consumer per subject
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(spec.stream, spec.durable)
    await nc.close()
    controller.stop()
    await identity.stop()


@contextlib.asynccontextmanager
async def gateway(platform, monkeypatch):
    monkeypatch.setenv("SERVICE_CREDENTIALS_FILE", platform["credentials"])
    monkeypatch.setattr(tracking.TrackingController, "_settings", None)
    monkeypatch.setattr(tracking.TrackingController, "_limits", None)
    monkeypatch.setattr(tracking.TrackingController, "tokens", tracking.GatewayTokens("delivery"))
    monkeypatch.setattr(tracking.ReferralController, "_settings", None)
    app = create_app(
        GatewaySettings(
            identity_target=f"127.0.0.1:{platform['identity']}",
            delivery_target=f"127.0.0.1:{platform['delivery']}",
            backend_timeout_seconds=5,
        )
    )
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=(PEER, 41000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            yield c


async def _received(platform, *, tracked: bool) -> str:
    """The HTML part of a marketing campaign's message to one new address."""
    address = f"person-{uuid.uuid4().hex[:12]}@example.org"
    command = campaign_events.SendBatch(
        campaign_id=str(uuid.uuid4()),
        batch_id="0001",
        recipients=[
            campaign_events.Recipient(
                contact_id=str(uuid.uuid4()),
                person_key=platform["hasher"].person_key(address),
                email=address,
                merge_fields={"first_name": "Zoë", "attributes.city": "Torino", "locale": "it"},
                engagement_tracking=tracked,
            )
        ],
        content=campaign_events.RenderedContent(
            subject="Novità per {{ first_name }}",
            html_body=HTML,
            text_body="Ciao",
            template_revision=1,
        ),
        category=types_pb2.EMAIL_CATEGORY_MARKETING,
        purpose_id="0195a3d0-1111-7abc-8def-0123456789ab",
        sender=campaign_pb.Sender(from_name="Bottega", from_address="news@bottegarossi.example"),
    )
    tenant = f"acct-{uuid.uuid4().hex[:10]}"
    event = envelope(command, subject=SEND_BATCH, tenant_id=tenant, producer="campaign")
    await (
        platform["nc"]
        .jetstream()
        .publish(SEND_BATCH, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id})
    )
    for _ in range(300):
        found = [m for m in platform["sink"].messages if address in m.rcpt_tos]
        if found:
            break
        await asyncio.sleep(0.1)
    [received] = found
    parts = [p for p in received.message.walk() if p.get_content_type() == "text/html"]
    return str(parts[0].get_content())


def _view_link(html: str) -> str:
    [link] = re.findall(rf'href="({re.escape(BASE)}/v/[^"]+)"', html)
    return link


async def test_the_view_online_link_of_a_received_message_shows_it(platform, monkeypatch):
    mailed = await _received(platform, tracked=True)
    link = _view_link(mailed)
    async with gateway(platform, monkeypatch) as client:
        page = await client.get(link.removeprefix(BASE))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Ciao Zoë, a Torino abbiamo novità." in page.text
    assert "<title>Novità per Zoë</title>" in page.text
    assert '<html lang="it">' in page.text
    assert f'href="{link}"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert "set-cookie" not in page.headers
    csp = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'none'"
    assert csp["form-action"] == "'none'"
    # The sender's image and the open pixel (on our origin): nothing else.
    assert set(csp["img-src"].split()) == {"https://cdn.bottegarossi.example", BASE}


async def test_without_tracking_consent_the_page_has_plain_links(platform, monkeypatch):
    link = _view_link(await _received(platform, tracked=False))
    async with gateway(platform, monkeypatch) as client:
        page = await client.get(link.removeprefix(BASE))
    assert page.status_code == 200
    assert 'href="https://bottegarossi.example/"' in page.text
    assert "/t/c/" not in page.text
    assert "/t/o/" not in page.text
    assert "img-src https://cdn.bottegarossi.example;" in page.headers["content-security-policy"]


async def test_a_bad_token_is_a_translated_404_page(platform, monkeypatch):
    link = _view_link(await _received(platform, tracked=False))
    data, kid, tag = link.rsplit("/", 1)[1].split(".")
    tampered = f"/v/{data}.{kid}.{tag[:-2]}{'AA' if tag[-2:] != 'AA' else 'BB'}"
    async with gateway(platform, monkeypatch) as client:
        english = await client.get(tampered)
        italian = await client.get(tampered, headers={"Accept-Language": "it-IT,it;q=0.9"})
        garbage = await client.get("/v/not-a-token")
        long = await client.get("/v/" + "a" * 500)
    for reply in (english, italian, garbage, long):
        assert reply.status_code == 404
        assert reply.headers["cache-control"] == "no-store"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert "Zoë" not in reply.text
    assert online.GONE_TITLE in english.text
    assert "Questo messaggio non può essere mostrato" in italian.text
    assert '<html lang="it">' in italian.text


async def test_the_policy_allows_only_the_messages_own_image_origins() -> None:
    html = (
        "<img src=\"https://a.example/x.png\"><img src='http://b.example:8080/y.gif'>"
        '<td background="https://c.example/bg.jpg"><div style="background:url(https://d.example/z)">'
        '<a href="https://links.example/">not an image</a><img src="javascript:alert(1)">'
        '<img src="https://ba_d.example/x.png">'
    )
    assert online.image_origins(html) == [
        "https://a.example", "http://b.example:8080", "https://c.example", "https://d.example",
    ]  # fmt: skip
    assert "img-src 'none';" in online.policy("<p>No images</p>")
