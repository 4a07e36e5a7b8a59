"""``GET /t/c/<token>`` and ``GET /t/o/<token>`` end to end: a campaign batch sent by a real
delivery (to an SMTP sink), its links followed through the gateway with the gateway's service
token from a real identity. A click is a 302 to the campaign's own target, no-store and
no-referrer, without a cookie; a tampered token is a plain 404 page; the pixel is always a
GIF and records only a good token; the rate limit answers 429 for clicks."""

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
from missiva_gateway import tracking
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
from missiva_platform.testing import harness as kit

pytestmark = pytest.mark.asyncio(loop_scope="module")

PEER = "192.0.2.45"
BASE = "https://mail.missiva.test"
TARGET = "https://bottegarossi.example/spring?utm_source=missiva"
HTML = (
    f'<p>Hello {{{{ first_name }}}} <a href="{TARGET}">Spring</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
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
            database_url=make_database(probe.migration_sets, "gateway_tracking_identity"),
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
    delivery_url = make_database(probe.migration_sets, "gateway_tracking_delivery")
    delivery = build_delivery(
        DeliverySettings(
            database_url=delivery_url,
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
        "url": delivery_url,
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
async def gateway(platform, monkeypatch, *, rate: int = 600):
    monkeypatch.setenv("SERVICE_CREDENTIALS_FILE", platform["credentials"])
    monkeypatch.setenv("TRACKING_RATE_PER_MINUTE", str(rate))
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


async def _campaign_mail(platform, *, tracked: bool, html: str = HTML) -> tuple[str, str, str]:
    """A marketing campaign to one new address; (click link, pixel link, campaign id) of the
    message it received."""
    address = f"person-{uuid.uuid4().hex[:12]}@example.org"
    tenant, campaign_id = f"acct-{uuid.uuid4().hex[:10]}", str(uuid.uuid4())
    command = campaign_events.SendBatch(
        campaign_id=campaign_id,
        batch_id="0001",
        recipients=[
            campaign_events.Recipient(
                contact_id=str(uuid.uuid4()),
                person_key=platform["hasher"].person_key(address),
                email=address,
                merge_fields={"first_name": "Zoë"},
                engagement_tracking=tracked,
            )
        ],
        content=campaign_events.RenderedContent(
            subject="Spring", html_body=html, text_body="Hello", template_revision=1
        ),
        category=types_pb2.EMAIL_CATEGORY_MARKETING,
        purpose_id="0195a3d0-1111-7abc-8def-0123456789ab",
        sender=campaign_pb.Sender(from_name="Bottega", from_address="news@bottegarossi.example"),
    )
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
    html = next(
        p.get_content() for p in received.message.walk() if p.get_content_type() == "text/html"
    )
    [click] = re.findall(rf'href="({re.escape(BASE)}/t/c/[^"]+)"', html)
    [pixel] = re.findall(r'<img src="([^"]+)"', html)
    return click, pixel, campaign_id


async def _counts(platform, campaign_id: str) -> list[tuple[Any, ...]]:
    return await kit.sql(
        platform["url"],
        "SELECT kind, anonymous, personal FROM engagement_counts WHERE campaign_id = %s"
        " ORDER BY kind",
        campaign_id,
    )


async def test_a_click_redirects_to_the_campaigns_target_without_a_cookie(platform, monkeypatch):
    click, pixel, campaign_id = await _campaign_mail(platform, tracked=True)
    async with gateway(platform, monkeypatch) as client:
        reply = await client.get(click.removeprefix(BASE), headers={"User-Agent": "Mozilla/5.0"})
        opened = await client.get(pixel.removeprefix(BASE))
    assert reply.status_code == 302
    assert reply.headers["location"] == TARGET
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in reply.headers
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "image/gif"
    assert opened.content.startswith(b"GIF89a")
    assert "set-cookie" not in opened.headers
    assert await _counts(platform, campaign_id) == [("click", 0, 1), ("open", 0, 1)]
    personal = await kit.scalar(
        platform["url"], "SELECT count(*) FROM engagement_events WHERE campaign_id = %s",
        campaign_id,
    )  # fmt: skip
    assert personal == 2


async def test_without_tracking_consent_only_the_count_grows(platform, monkeypatch):
    click, _, campaign_id = await _campaign_mail(platform, tracked=False)
    async with gateway(platform, monkeypatch) as client:
        reply = await client.get(click.removeprefix(BASE))
    assert (reply.status_code, reply.headers["location"]) == (302, TARGET)
    assert await _counts(platform, campaign_id) == [("click", 1, 0)]
    assert not await kit.scalar(
        platform["url"], "SELECT count(*) FROM engagement_events WHERE campaign_id = %s",
        campaign_id,
    )  # fmt: skip


async def test_a_tampered_token_is_a_plain_404_and_a_bad_pixel_still_a_gif(platform, monkeypatch):
    click, pixel, campaign_id = await _campaign_mail(platform, tracked=True)
    token = click.rsplit("/", 1)[1]
    data, kid, tag = token.split(".")
    tampered = f"{data}.{kid}.{tag[:-2]}{'AA' if tag[-2:] != 'AA' else 'BB'}"
    async with gateway(platform, monkeypatch) as client:
        bad = await client.get(f"/t/c/{tampered}")
        garbage = await client.get("/t/c/not-a-token")
        long = await client.get("/t/c/" + "a" * 500)
        bad_pixel = await client.get(f"/t/o/{tampered}")
        pixel_as_click = await client.get(f"/t/c/{pixel.rsplit('/', 1)[1]}")
    for reply in (bad, garbage, long, pixel_as_click):
        assert reply.status_code == 404
        assert "This link is not valid" in reply.text
        assert "location" not in reply.headers
    assert bad_pixel.status_code == 200
    assert bad_pixel.headers["content-type"] == "image/gif"
    assert await _counts(platform, campaign_id) == []


async def test_clicks_are_rate_limited_per_client(platform, monkeypatch):
    click, pixel, campaign_id = await _campaign_mail(platform, tracked=False)
    async with gateway(platform, monkeypatch, rate=2) as client:
        first = [await client.get(click.removeprefix(BASE)) for _ in range(2)]
        limited = await client.get(click.removeprefix(BASE))
        quiet_pixel = await client.get(pixel.removeprefix(BASE))
    assert [r.status_code for r in first] == [302, 302]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert quiet_pixel.status_code == 200  # served, not recorded
    assert await _counts(platform, campaign_id) == [("click", 2, 0)]


async def test_a_target_with_other_than_ascii_goes_percent_encoded(platform, monkeypatch):
    html = '<p><a href="https://bottegarossi.example/caffè?tipo=crème">Caffè</a></p>'
    click, _, _ = await _campaign_mail(platform, tracked=False, html=html)
    async with gateway(platform, monkeypatch) as client:
        reply = await client.get(click.removeprefix(BASE))
    assert reply.status_code == 302
    assert reply.headers["location"] == "https://bottegarossi.example/caff%C3%A8?tipo=cr%C3%A8me"
