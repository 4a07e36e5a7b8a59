"""View online: a sent campaign message re-rendered for the gateway's ``/v/<token>`` from the
campaign's compiled template and the message's merge data (kept sealed, 30 days after the
send, only when the template links to the page); tracking links only with tracking consent;
bad, foreign, expired and erased tokens NOT_FOUND; RenderOnline's access rule; retention and
the privacy contract."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import msgspec
import pytest

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_delivery.retention import RULES
from missiva_platform.auth import CallerKind
from missiva_platform.config import ConfigError
from missiva_platform.events import unpack
from missiva_platform.retention import run_retention

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHOP = "https://bottegarossi.example/spring"
HTML = (
    "<p>Hello {{ first_name }} from {{ attributes.city }}</p>"
    f'<p><a href="{SHOP}">Spring</a> <img src="https://bottegarossi.example/logo.png" alt=""></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    ' <a href="{{ view_online_url }}">View online</a></p>'
)
TEXT = "Hello {{ first_name }}\n\nView online: {{ view_online_url }}\n"
_HREF = re.compile(r'href="([^"]+)"')


def gateway(delivery: Any, tenant: str = "") -> Any:
    return delivery.md(tenant, kind=CallerKind.SERVICE, subject="gateway", scopes=())


async def _send(
    delivery: Any, *, tracked: int = 0, people: int = 1, html: str = HTML, text: str = TEXT
) -> tuple[str, str, list[str], list[tuple[Any, ...]]]:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(people)]
    event, campaign_id = delivery.batch(tenant, addresses, html_body=html, text_body=text)
    command = unpack(event, campaign_events.SendBatch)
    for recipient in command.recipients[:tracked]:
        recipient.engagement_tracking = True
    event.payload.Pack(command)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=people)
    assert {r[3] for r in rows} == {"sent"}
    return tenant, campaign_id, addresses, rows


def _mail(delivery: Any, address: str) -> tuple[str, str]:
    [received] = delivery.sink.for_address(address)
    found = {p.get_content_type(): p.get_content() for p in received.message.walk()
             if p.get_content_type() in ("text/plain", "text/html")}  # fmt: skip
    return found["text/html"], found["text/plain"]


def _online_link(delivery: Any, address: str) -> str:
    body, text = _mail(delivery, address)
    base = delivery.app.settings.public_base_url.rstrip("/")
    [link] = [u for u in _HREF.findall(body) if u.startswith(f"{base}/v/")]
    assert f"View online: {link}" in text.splitlines()
    return link


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def render(delivery: Any, token: str, md: Any = None) -> pb.RenderOnlineResponse:
    return await delivery.stub.RenderOnline(
        pb.RenderOnlineRequest(token=token), metadata=md or gateway(delivery), timeout=10
    )


async def _refused(delivery: Any, token: str, md: Any = None) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await render(delivery, token, md)
    return err.value.code()


async def test_the_page_is_the_mail_rendered_again_with_tracking_only_by_consent(delivery) -> None:
    _tenant, _campaign, addresses, rows = await _send(delivery, tracked=1, people=2)
    base = delivery.app.settings.public_base_url.rstrip("/")
    tracked, untracked = addresses
    # The tracked person's page carries the message's own tokens, as in the mail.
    mailed, _ = _mail(delivery, tracked)
    page = await render(delivery, _token(_online_link(delivery, tracked)))
    assert page.subject == "News for Zoë"
    assert page.language == "en"
    assert "Hello Zoë from Torino" in page.html
    assert "<title>News for Zoë</title>" in page.html
    mailed_clicks = [u for u in _HREF.findall(mailed) if u.startswith(f"{base}/t/c/")]
    assert [u for u in _HREF.findall(page.html) if u.startswith(f"{base}/t/c/")] == mailed_clicks
    assert f'<img src="{base}/t/o/' in page.html
    assert f'href="{base}/unsubscribe/' in page.html
    assert f'href="{_online_link(delivery, tracked)}"' in page.html
    # Without tracking consent: the template's own links, no pixel.
    page = await render(delivery, _token(_online_link(delivery, untracked)))
    assert "Hello Zoë from Torino" in page.html
    assert f'href="{SHOP}"' in page.html
    assert "/t/c/" not in page.html
    assert "/t/o/" not in page.html
    # Kept sealed: the merge data is not readable in the table.
    sealed = await delivery.scalar(
        "SELECT payload_enc FROM online_copies WHERE message_id = %s", rows[0][0]
    )
    assert sealed
    assert b"Torino" not in bytes(sealed)
    # The ledger row itself dropped it, as before.
    assert (
        await delivery.scalar(
            "SELECT count(*) FROM messages WHERE id = %s AND payload_enc IS NULL", rows[0][0]
        )
        == 1
    )


async def test_a_template_without_the_link_keeps_nothing(delivery) -> None:
    html = '<p>Hello {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    _tenant, campaign_id, addresses, _rows = await _send(delivery, html=html, text="Hello")
    body, _ = _mail(delivery, addresses[0])
    assert "/v/" not in body
    assert not await delivery.scalar(
        "SELECT count(*) FROM online_copies WHERE campaign_id = %s", campaign_id
    )


async def test_bad_tokens_are_not_found_and_an_empty_one_invalid(delivery) -> None:
    _tenant, _campaign, addresses, _rows = await _send(delivery, tracked=1)
    token = _token(_online_link(delivery, addresses[0]))
    data, kid, tag = token.split(".")
    tampered = f"{data}.{kid}.{tag[:-2]}{'AA' if tag[-2:] != 'AA' else 'BB'}"
    body, _ = _mail(delivery, addresses[0])
    [pixel] = re.findall(r'<img src="([^"]+/t/o/[^"]+)"', body)
    for bad in (tampered, "not-a-token", "a" * 500, _token(pixel), f"{data}.zz.{tag}"):
        assert await _refused(delivery, bad) == grpc.StatusCode.NOT_FOUND, bad
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await render(delivery, "")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "token" in (err.value.details() or "")


async def test_only_the_gateway_may_ask_and_only_for_its_account(delivery) -> None:
    tenant, _campaign, addresses, _rows = await _send(delivery)
    token = _token(_online_link(delivery, addresses[0]))
    campaign = delivery.md(tenant, kind=CallerKind.SERVICE, subject="campaign", scopes=("*",))
    assert await _refused(delivery, token, campaign) == grpc.StatusCode.PERMISSION_DENIED
    admin = delivery.admin(tenant)
    assert await _refused(delivery, token, admin) == grpc.StatusCode.PERMISSION_DENIED
    other = gateway(delivery, delivery.tenant())
    assert await _refused(delivery, token, other) == grpc.StatusCode.NOT_FOUND
    assert "Zoë" in (await render(delivery, token, gateway(delivery, tenant))).html


async def test_the_copy_goes_30_days_after_the_send_and_the_template_waits_for_it(
    delivery,
) -> None:
    _tenant, campaign_id, addresses, rows = await _send(delivery)
    token = _token(_online_link(delivery, addresses[0]))
    now = datetime.now(UTC)
    await run_retention(delivery.url, RULES, now=now + timedelta(days=29))
    assert "Zoë" in (await render(delivery, token)).html
    await run_retention(delivery.url, RULES, now=now + timedelta(days=31))
    assert not await delivery.scalar(
        "SELECT count(*) FROM online_copies WHERE message_id = %s", rows[0][0]
    )
    assert await _refused(delivery, token) == grpc.StatusCode.NOT_FOUND

    # The compiled template stays while a copy of one of its messages does (a message sent
    # late in a long campaign), then goes with the send log's rule.
    _tenant, campaign_id, addresses, rows = await _send(delivery)
    await delivery.sql(
        "UPDATE online_copies SET sent_at = sent_at + interval '70 days' WHERE message_id = %s",
        rows[0][0],
    )
    await delivery.sql(
        "UPDATE messages SET queued_at = queued_at + interval '70 days' WHERE id = %s", rows[0][0]
    )
    await run_retention(delivery.url, RULES, now=now + timedelta(days=91))
    assert await delivery.scalar(
        "SELECT count(*) FROM campaign_contents WHERE campaign_id = %s", campaign_id
    )
    await run_retention(delivery.url, RULES, now=now + timedelta(days=101))
    for table in ("campaign_contents", "online_copies"):
        assert not await delivery.scalar(
            f"SELECT count(*) FROM {table} WHERE campaign_id = %s", campaign_id
        ), table


async def test_the_copy_is_exported_and_erased_with_the_person(delivery) -> None:
    tenant, campaign_id, addresses, rows = await _send(delivery)
    token = _token(_online_link(delivery, addresses[0]))
    key = delivery.key(addresses[0])
    consent = delivery.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=("*",))
    exported = await delivery.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(
            request_id="dsar-v", person=types_pb2.PersonRef(person_key=key)
        ),
        metadata=consent,
        timeout=10,
    )
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    [copy] = sections["delivery.view_online"]
    assert (copy["message_id"], copy["campaign_id"]) == (rows[0][0], campaign_id)
    assert copy["merge_fields"]["attributes.city"] == "Torino"
    erased = await delivery.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(request_id="dsar-w", person=types_pb2.PersonRef(person_key=key)),
        metadata=consent,
        timeout=10,
    )
    assert {e.category: e.count for e in erased.erased}["delivery.view_online"] == 1
    assert await _refused(delivery, token) == grpc.StatusCode.NOT_FOUND


async def test_the_copies_cannot_outlive_the_send_log(delivery) -> None:
    settings = msgspec.structs.replace(delivery.app.settings, view_online_days=91)
    with pytest.raises(ConfigError, match="VIEW_ONLINE_DAYS"):
        settings.validate()
    msgspec.structs.replace(settings, send_log_days=91).validate()


async def test_a_tracking_withdrawal_after_the_send_makes_the_page_plain(delivery) -> None:
    tenant, _campaign_id, addresses, _rows = await _send(delivery, tracked=1)
    token = _token(_online_link(delivery, addresses[0]))
    assert "/t/c/" in (await render(delivery, token)).html
    key = delivery.key(addresses[0])
    await delivery.withdraw_tracking(tenant, key)
    page = (await render(delivery, token)).html
    assert f'href="{SHOP}"' in page
    assert "/t/c/" not in page
    assert "/t/o/" not in page
