"""Link and open tracking of campaign mail: links rewritten (once per revision) only where
the purpose allows tracking, tokens that bind message and position (tampered, foreign or
out-of-range ones are NOT_FOUND), personal rows only with tracking consent, the events,
RecordEngagement's access rule, retention and the privacy contract."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_delivery import tracking
from missiva_delivery.retention import RULES
from missiva_delivery.store import suppressions
from missiva_platform import metrics
from missiva_platform.auth import CallerKind
from missiva_platform.events import unpack
from missiva_platform.retention import run_retention

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHOP = "https://bottegarossi.example/spring?utm_source=missiva&x=1"
HTML = (
    "<p>Hello {{ first_name }}</p>"
    f'<p><a href="{SHOP.replace("&", "&amp;")}">Spring</a>'
    ' <a href="https://bottegarossi.example/about">About</a>'
    f' <a href="{SHOP.replace("&", "&amp;")}">Spring again</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    ' <a href="{{ preferences_url }}">Preferences</a> <a href="{{ my_data_url }}">My data</a></p>'
)
TEXT = (
    "Hello {{ first_name }}\n\nSpring: https://bottegarossi.example/text-only.\n\n"
    "{{ unsubscribe_url }}"
)
_HREF = re.compile(r'href="([^"]+)"')
_SRC = re.compile(r'<img src="([^"]+)"')


def _parts(received: Any) -> tuple[str, str]:
    found = {p.get_content_type(): p.get_content() for p in received.message.walk()
             if p.get_content_type() in ("text/plain", "text/html")}  # fmt: skip
    return found["text/html"], found["text/plain"]


def counted(name: str, **labels: str) -> float:
    return metrics.registry().get_sample_value(metrics.full_name(name), labels) or 0.0


def gateway(delivery: Any, tenant: str = "") -> Any:
    return delivery.md(tenant, kind=CallerKind.SERVICE, subject="gateway", scopes=())


async def _send(
    delivery: Any, *, tracked: int = 0, people: int = 2,
    category: int = types_pb2.EMAIL_CATEGORY_MARKETING, tenant: str = "",
) -> tuple[str, str, list[str], list[tuple[Any, ...]]]:  # fmt: skip
    """A campaign batch to ``people`` addresses, the first ``tracked`` allowing engagement
    tracking; (tenant, campaign id, addresses, rows) once sent."""
    tenant = tenant or delivery.tenant()
    addresses = [delivery.address() for _ in range(people)]
    event, campaign_id = delivery.batch(tenant, addresses, html_body=HTML, text_body=TEXT)
    command = unpack(event, campaign_events.SendBatch)
    command.category = category
    for recipient in command.recipients[:tracked]:
        recipient.engagement_tracking = True
    event.payload.Pack(command)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=people)
    assert {r[3] for r in rows} == {"sent"}
    return tenant, campaign_id, addresses, rows


def _links(delivery: Any, address: str) -> tuple[list[str], str, str]:
    """The click links, the pixel and the text part of the message sent to ``address``."""
    [received] = delivery.sink.for_address(address)
    body, text = _parts(received)
    base = delivery.app.settings.public_base_url.rstrip("/")
    clicks = [u for u in _HREF.findall(body) if u.startswith(f"{base}/t/c/")]
    [pixel] = _SRC.findall(body)
    return clicks, pixel, text


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def record(delivery: Any, token: str, kind: int = pb.ENGAGEMENT_KIND_CLICK,
                 md: Any = None, agent: str = "Mozilla/5.0 (iPhone; Mobile)") -> Any:  # fmt: skip
    return await delivery.stub.RecordEngagement(
        pb.RecordEngagementRequest(
            kind=kind, token=token, client=types_pb2.ClientContext(user_agent=agent)
        ),
        metadata=md or gateway(delivery),
        timeout=10,
    )


async def _refused(delivery: Any, token: str, kind: int = pb.ENGAGEMENT_KIND_CLICK,
                   md: Any = None) -> grpc.StatusCode:  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await record(delivery, token, kind, md)
    return err.value.code()


async def test_marketing_links_are_rewritten_once_per_revision_with_a_pixel(delivery) -> None:
    tenant, campaign_id, addresses, rows = await _send(delivery, people=3, tracked=1)
    base = delivery.app.settings.public_base_url.rstrip("/")
    tokens: dict[str, tuple[str, ...]] = {}
    for address in addresses:
        clicks, pixel, text = _links(delivery, address)
        # Two distinct targets in the HTML (the repeated one keeps its position).
        assert len(clicks) == 3
        assert clicks[0] == clicks[2]
        assert clicks[0] != clicks[1]
        assert pixel.startswith(f"{base}/t/o/")
        # The text part's fixed URL is tracked too; its unsubscribe link is not.
        [text_link] = re.findall(rf"{re.escape(base)}/t/c/\S+?(?=\.\s)", text)
        assert f"{base}/unsubscribe/" in text
        tokens[address] = tuple(_token(c) for c in [*clicks, text_link, pixel])
        [received] = delivery.sink.for_address(address)
        body, _ = _parts(received)
        assert "bottegarossi.example" not in body  # no target left in the open
        # The unsubscribe, preference and my-data links lead to the pages themselves.
        assert f'href="{base}/unsubscribe/' in body
        assert body.count(f'href="{base}/preferences/') == 2
        assert received.message["List-Unsubscribe"].startswith(f"<{base}/unsubscribe/")
    # The person who allows tracking has the message's own tokens; the others share the
    # revision's anonymous ones, which name no message.
    personal, *anonymous = (tokens[a] for a in addresses)
    assert anonymous[0] == anonymous[1]
    assert not set(personal) & set(anonymous[0])
    check = delivery.app_core.tracking_tokens.check
    [mine] = [r[0] for r in rows if r[2] == delivery.key(addresses[0])]
    assert check(tracking.CLICK, personal[0]).message_id == mine
    assert check(tracking.CLICK, anonymous[0][0]).message_id == ""
    assert check(tracking.OPEN, anonymous[0][-1]).message_id == ""
    positions = await delivery.sql(
        "SELECT l.position, l.url FROM tracked_links l JOIN tracked_contents c USING"
        " (link_set_id) WHERE c.tenant_id = %s AND c.campaign_id = %s ORDER BY 1",
        tenant, campaign_id,
    )  # fmt: skip
    assert positions == [
        (1, SHOP),
        (2, "https://bottegarossi.example/about"),
        (3, "https://bottegarossi.example/text-only"),
    ]
    # Rewritten when the revision was compiled, not per message.
    assert delivery.app_core.renders.cached(tenant, campaign_id, 1).links == (
        SHOP, "https://bottegarossi.example/about", "https://bottegarossi.example/text-only",
    )  # fmt: skip


async def test_system_mail_is_not_tracked(delivery) -> None:
    _, _, addresses, _ = await _send(delivery, category=types_pb2.EMAIL_CATEGORY_SYSTEM)
    [received] = delivery.sink.for_address(addresses[0])
    body, text = _parts(received)
    for tracked_part in ("/t/c/", "/t/o/", "<img"):
        assert tracked_part not in body
    assert 'href="https://bottegarossi.example/about"' in body
    assert "https://bottegarossi.example/text-only." in text


async def test_product_updates_are_tracked_too(delivery) -> None:
    _, _, addresses, _ = await _send(delivery, category=types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE)
    clicks, _, _ = _links(delivery, addresses[0])
    assert len(clicks) == 3


async def test_a_click_is_personal_only_with_tracking_consent(delivery) -> None:
    tenant, campaign_id, addresses, rows = await _send(delivery, tracked=1)
    by_address = {a: next(r for r in rows if r[2] == delivery.key(a)) for a in addresses}
    allowed, refused = addresses
    before = {r: counted("engagement_total", kind="click", recording=r)
              for r in ("personal", "anonymous")}  # fmt: skip

    reply = await record(delivery, _token(_links(delivery, allowed)[0][1]))
    assert (reply.target_url, reply.position, reply.anonymous) == (
        "https://bottegarossi.example/about", 2, False,
    )  # fmt: skip
    anonymous = await record(delivery, _token(_links(delivery, refused)[0][0]))
    assert (anonymous.target_url, anonymous.position, anonymous.anonymous) == (SHOP, 1, True)
    for recording in ("personal", "anonymous"):
        assert counted("engagement_total", kind="click", recording=recording) == (
            before[recording] + 1
        )

    personal = await delivery.sql(
        "SELECT message_id::text, person_key, kind, position, url, device_class"
        " FROM engagement_events WHERE tenant_id = %s AND campaign_id = %s",
        tenant, campaign_id,
    )  # fmt: skip
    assert personal == [
        (by_address[allowed][0], delivery.key(allowed), "click", 2,
         "https://bottegarossi.example/about", "mobile"),
    ]  # fmt: skip
    counts = await delivery.sql(
        "SELECT kind, position, anonymous, personal FROM engagement_counts"
        " WHERE tenant_id = %s AND campaign_id = %s ORDER BY position", tenant, campaign_id,
    )  # fmt: skip
    assert counts == [("click", 1, 1, 0), ("click", 2, 0, 1)]

    # The events: the personal one names message and person, the anonymous one neither.
    [named] = await delivery.events("delivery.link.clicked", by_address[allowed][0])
    click = unpack(named, events_pb2.LinkClicked)
    assert (click.person_key, click.anonymous, click.position) == (delivery.key(allowed), False, 2)
    assert named.tenant_id == tenant
    [unnamed] = await delivery.events("delivery.link.clicked", campaign_id)
    click = unpack(unnamed, events_pb2.LinkClicked)
    assert (click.message_id, click.person_key, click.anonymous) == ("", "", True)
    assert (click.campaign_id, click.position, click.url, click.device_class) == (
        campaign_id, 1, SHOP, "",
    )  # fmt: skip

    stats = await delivery.stub.GetCampaignDeliveryStats(
        pb.GetCampaignDeliveryStatsRequest(campaign_id=campaign_id),
        metadata=delivery.admin(tenant, scopes=("campaigns:read",)),
        timeout=10,
    )
    assert (stats.stats.clicks, stats.stats.opens) == (2, 0)
    assert [(link.position, link.url, link.clicks) for link in stats.links] == [
        (1, SHOP, 1), (2, "https://bottegarossi.example/about", 1),
    ]  # fmt: skip


async def test_an_open_follows_the_same_rule_and_answers_no_target(delivery) -> None:
    _tenant, campaign_id, addresses, _rows = await _send(delivery, tracked=1)
    allowed, refused = addresses
    for address, anonymous in ((allowed, False), (refused, True)):
        reply = await record(
            delivery, _token(_links(delivery, address)[1]), pb.ENGAGEMENT_KIND_OPEN
        )
        assert (reply.target_url, reply.anonymous, reply.position) == ("", anonymous, 0)
    kept = await delivery.sql(
        "SELECT person_key, kind FROM engagement_events WHERE campaign_id = %s", campaign_id
    )
    assert kept == [(delivery.key(allowed), "open")]
    [opened] = await delivery.events("delivery.message.opened", campaign_id)
    assert unpack(opened, events_pb2.MessageOpened).anonymous


async def test_tampered_foreign_and_out_of_range_tokens_are_not_found(delivery) -> None:
    tenant, campaign_id, addresses, rows = await _send(delivery, tracked=2)
    clicks, pixel, _ = _links(delivery, addresses[0])
    good = _token(clicks[0])
    data, kid, tag = good.split(".")
    raw = base64.urlsafe_b64decode(data + "==")
    # Another position under the same tag; a changed tag; the other message's id.
    moved = base64.urlsafe_b64encode(raw[:32] + (2).to_bytes(2, "big")).decode().rstrip("=")
    flipped = tag[:-1] + ("A" if tag[-1] != "A" else "B")
    mine = next(r[0] for r in rows if r[2] == delivery.key(addresses[0]))
    other_message = uuid.UUID(next(r[0] for r in rows if r[0] != mine)).bytes
    swapped = base64.urlsafe_b64encode(raw[:16] + other_message + raw[32:]).decode().rstrip("=")
    tokens = delivery.app_core.tracking_tokens
    link_set = tracking.link_set_id(tenant, campaign_id, 1)
    beyond = tokens.click(link_set, uuid.UUID(mine), 4)  # signed, but no position 4
    unknown_set = tokens.click(uuid.uuid4(), uuid.UUID(mine), 1)
    refused_before = counted("engagement_refused_total", kind="click")
    for bad in (f"{moved}.{kid}.{tag}", f"{data}.{kid}.{flipped}", f"{swapped}.{kid}.{tag}",
                f"{data}.nokey.{tag}", beyond, unknown_set, "x", "a" * 300):  # fmt: skip
        assert await _refused(delivery, bad) == grpc.StatusCode.NOT_FOUND, bad
    assert counted("engagement_refused_total", kind="click") == refused_before + 8
    # An open token is no click token, and the reverse.
    assert await _refused(delivery, _token(pixel)) == grpc.StatusCode.NOT_FOUND
    assert await _refused(delivery, good, pb.ENGAGEMENT_KIND_OPEN) == grpc.StatusCode.NOT_FOUND
    assert (
        await delivery.scalar(
            "SELECT count(*) FROM engagement_counts WHERE campaign_id = %s", campaign_id
        )
        == 0
    )
    assert (await record(delivery, good)).target_url == SHOP  # the real one still works


async def test_only_the_gateway_may_record_and_only_for_its_account(delivery) -> None:
    tenant, _campaign_id, addresses, _ = await _send(delivery, people=1)
    token = _token(_links(delivery, addresses[0])[0][0])
    user = delivery.admin(tenant)
    campaign = delivery.md(tenant, kind=CallerKind.SERVICE, subject="campaign", scopes=("*",))
    for md in (user, campaign):
        assert await _refused(delivery, token, md=md) == grpc.StatusCode.PERMISSION_DENIED
    # A gateway token acting for another account finds nothing; for this one, the link.
    other = gateway(delivery, delivery.tenant())
    assert await _refused(delivery, token, md=other) == grpc.StatusCode.NOT_FOUND
    assert (await record(delivery, token, md=gateway(delivery, tenant))).target_url == SHOP
    for request, field in (
        (pb.RecordEngagementRequest(kind=pb.ENGAGEMENT_KIND_CLICK), "token"),
        (pb.RecordEngagementRequest(token=token), "kind"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.stub.RecordEngagement(request, metadata=gateway(delivery), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (err.value.details() or "")


async def test_a_tracking_withdrawal_after_the_send_makes_clicks_anonymous(delivery) -> None:
    tenant, _campaign_id, addresses, _rows = await _send(delivery, tracked=1, people=1)
    key = delivery.key(addresses[0])
    await delivery.withdraw_tracking(tenant, key)
    reply = await record(delivery, _token(_links(delivery, addresses[0])[0][0]))
    assert reply.anonymous
    assert not await delivery.scalar(
        "SELECT count(*) FROM engagement_events WHERE person_key = %s", key
    )
    # It never stops mail: the tracking purpose is not the campaign's.
    async with delivery.app_core.pool.connection() as conn:
        purpose = "0195a3d0-1111-7abc-8def-0123456789ab"
        assert await suppressions.blocked_among(conn, tenant, purpose, [key], system=False) == {}


async def test_personal_engagement_is_exported_erased_and_kept_18_months(delivery) -> None:
    tenant, campaign_id, addresses, rows = await _send(delivery, tracked=1, people=1)
    key = delivery.key(addresses[0])
    await record(delivery, _token(_links(delivery, addresses[0])[0][1]))
    consent = delivery.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=("*",))
    exported = await delivery.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(
            request_id="dsar-t", person=types_pb2.PersonRef(person_key=key)
        ),
        metadata=consent,
        timeout=10,
    )
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    [entry] = sections["delivery.engagement"]
    assert (entry["campaign_id"], entry["kind"], entry["position"]) == (campaign_id, "click", 2)
    assert entry["message_id"] == rows[0][0]

    now = datetime.now(UTC)
    await run_retention(delivery.url, RULES, now=now + timedelta(days=547))
    assert await delivery.scalar(
        "SELECT count(*) FROM engagement_events WHERE person_key = %s", key
    )
    # The anonymous counters and the link set are kept as long (no person in them).
    assert await delivery.scalar(
        "SELECT count(*) FROM engagement_counts WHERE campaign_id = %s", campaign_id
    )
    await run_retention(delivery.url, RULES, now=now + timedelta(days=549))
    for table in ("engagement_events", "engagement_counts", "tracked_contents"):
        assert not await delivery.scalar(
            f"SELECT count(*) FROM {table} WHERE campaign_id = %s", campaign_id
        ), table
    assert not await delivery.scalar(
        "SELECT count(*) FROM tracked_links l WHERE NOT EXISTS (SELECT 1 FROM"
        " tracked_contents c WHERE c.link_set_id = l.link_set_id)"
    )


async def test_erasure_removes_the_personal_rows_of_the_callers_account(delivery) -> None:
    tenant, _campaign_id, addresses, _rows = await _send(delivery, tracked=1, people=1)
    key = delivery.key(addresses[0])
    await record(delivery, _token(_links(delivery, addresses[0])[1]), pb.ENGAGEMENT_KIND_OPEN)
    other = delivery.tenant()
    await delivery.sql(
        "INSERT INTO engagement_events (tenant_id, campaign_id, message_id, person_key, kind)"
        " VALUES (%s, 'c', %s, %s, 'open')", other, str(uuid.uuid4()), key,
    )  # fmt: skip
    erased = await delivery.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(request_id="dsar-e", person=types_pb2.PersonRef(person_key=key)),
        metadata=delivery.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=("*",)),
        timeout=10,
    )
    assert {e.category: e.count for e in erased.erased}["delivery.engagement"] == 1
    left = await delivery.sql("SELECT tenant_id FROM engagement_events WHERE person_key = %s", key)
    assert left == [(other,)]
