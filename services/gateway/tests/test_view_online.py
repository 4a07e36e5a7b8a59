"""``GET /v/<token>`` end to end: a campaign batch sent by a real delivery (to an SMTP sink),
its "View online" link taken from the received mail and opened through the gateway (with the
gateway's service token from a real identity). The page is the message with its
personalised content, under a policy that allows no script and images only from the
origins the message names; no-store, no-referrer, noindex, no cookie. A bad token is a
translated 404 page."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from pathlib import Path

import pytest

from missiva.campaign.v1 import campaign_service_pb2 as campaign_pb
from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva_gateway import online
from missiva_platform.events import envelope
from missiva_platform.streams import SEND_BATCH

sys.path.insert(0, str(Path(__file__).parent))
# The same stack as the tracking links' (identity, delivery to an SMTP sink, the gateway):
# the view-online page is served beside /t/c and /t/o, under their rate limit.
from test_tracking_links import BASE, gateway, platform  # noqa: F401 (a fixture)

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOGO = "https://cdn.bottegarossi.example/logo.png"
HTML = (
    "<p>Ciao {{ first_name }}, a {{ attributes.city }} abbiamo novità.</p>"
    f'<p><img src="{LOGO}" alt="Bottega"> <a href="https://bottegarossi.example/">Shop</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    ' <a href="{{ view_online_url }}">View online</a></p>'
)


async def _received(platform, *, tracked: bool) -> str:  # noqa: F811
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


async def test_the_view_online_link_of_a_received_message_shows_it(platform, monkeypatch):  # noqa: F811
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


async def test_without_tracking_consent_the_page_has_plain_links(platform, monkeypatch):  # noqa: F811
    link = _view_link(await _received(platform, tracked=False))
    async with gateway(platform, monkeypatch) as client:
        page = await client.get(link.removeprefix(BASE))
    assert page.status_code == 200
    assert 'href="https://bottegarossi.example/"' in page.text
    assert "/t/c/" not in page.text
    assert "/t/o/" not in page.text
    assert "img-src https://cdn.bottegarossi.example;" in page.headers["content-security-policy"]


async def test_a_bad_token_is_a_translated_404_page(platform, monkeypatch):  # noqa: F811
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
