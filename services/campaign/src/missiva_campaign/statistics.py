"""The statistics read model, fed by delivery's events about campaign mail.

Per campaign: counters (``campaign_stats``), hourly counters for charts
(``campaign_stats_hourly``), clicks per link position (``campaign_link_clicks``); each
recipient's outcome moves along in the snapshot (``campaign_recipients.status``), which is
what completes a campaign (``sending.maybe_complete``): a message reported sent, bounced
before it was ever sent, or reported failed (never to be sent: suppressed at send time, a
refused address, a block) answers its recipient. Later outcomes (a bounce
or a deferral after the send, a deferred message delivered) move a completed campaign
between completed and completed-with-failures (``sending.refresh_outcome``).

Only countable engagement is counted per person: an open or click counts towards the unique
figures when it names a person who allowed engagement tracking (the snapshot says so);
anonymous ones (no tracking consent) only add to the totals. Events of mail that is not a
campaign's of the envelope's account are ignored. The kit's inbox applies each event once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.delivery.v1 import delivery_service_pb2 as delivery_pb
from missiva.delivery.v1 import events_pb2 as delivery
from missiva_campaign import sending
from missiva_campaign.core import timestamp
from missiva_platform.events import EventEnvelope, unpack

log = logging.getLogger(__name__)

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

SENT = "delivery.message.sent"
DELIVERED = "delivery.message.delivered"
DEFERRED = "delivery.message.deferred"
FAILED = "delivery.message.failed"
BOUNCED = "delivery.message.bounced"
COMPLAINED = "delivery.message.complained"
OPENED = "delivery.message.opened"
CLICKED = "delivery.link.clicked"

_COUNTERS = ("sent", "delivered", "deferred", "hard_bounces", "soft_bounces", "complaints",
             "opens", "unique_opens", "clicks", "unique_clicks", "unsubscribes", "failed",
             "deferred_now")  # fmt: skip
_HOURLY = ("sent", "delivered", "bounces", "opens", "clicks", "complaints")


def _event_time(event: EventEnvelope) -> datetime:
    if event.HasField("occurred_at"):
        return event.occurred_at.ToDatetime(UTC)
    return datetime.now(UTC)


def _valid_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value)) if value else ""
    except ValueError:
        return ""


async def _campaign(conn: Any, tenant: str, campaign_id: str) -> bool:
    """Whether the id names a campaign of the envelope's account (mail of other kinds, or
    of another account, is not counted)."""
    if not tenant or not _valid_uuid(campaign_id):
        return False
    cur = await conn.execute(
        "SELECT 1 FROM campaigns WHERE account_id = %s AND id = %s::uuid", (tenant, campaign_id)
    )
    return await cur.fetchone() is not None


async def _count(conn: Any, tenant: str, campaign_id: str, at: datetime, **increments: int) -> None:
    counters = {k: v for k, v in increments.items() if k in _COUNTERS and v}
    hourly = {k: v for k, v in increments.items() if k in _HOURLY and v}
    if "hard_bounces" in increments or "soft_bounces" in increments:
        hourly["bounces"] = increments.get("hard_bounces", 0) + increments.get("soft_bounces", 0)
    if counters:
        names = ", ".join(counters)
        values = ", ".join(f"%({k})s" for k in counters)
        adds = ", ".join(f"{k} = campaign_stats.{k} + EXCLUDED.{k}" for k in counters)
        await conn.execute(
            f"INSERT INTO campaign_stats (campaign_id, account_id, {names}) VALUES"
            f" (%(campaign)s, %(account)s, {values}) ON CONFLICT (campaign_id) DO UPDATE"
            f" SET {adds}, updated_at = now()",
            {**counters, "campaign": campaign_id, "account": tenant},
        )
    if hourly:
        names = ", ".join(hourly)
        values = ", ".join(f"%({k})s" for k in hourly)
        adds = ", ".join(f"{k} = campaign_stats_hourly.{k} + EXCLUDED.{k}" for k in hourly)
        await conn.execute(
            f"INSERT INTO campaign_stats_hourly (campaign_id, bucket_start, {names}) VALUES"
            f" (%(campaign)s, date_trunc('hour', %(at)s::timestamptz), {values})"
            f" ON CONFLICT (campaign_id, bucket_start) DO UPDATE SET {adds}",
            {**hourly, "campaign": campaign_id, "at": at},
        )


async def _move(
    conn: Any, campaign_id: str, status: str, frm: tuple[str, ...], *, person_key: str = "",
    contact_id: str = "", message_id: str = "",
) -> str | None:  # fmt: skip
    """Move the recipient's outcome; the state it left, or None when it was in none of
    ``frm``."""
    # By person key (the snapshot's index); the contact id, when given, narrows it further.
    key_sql = "person_key = %(person)s" + (
        " AND contact_id = %(contact)s::uuid" if contact_id else ""
    )
    cur = await conn.execute(
        "WITH old AS (SELECT seq, status FROM campaign_recipients"
        f" WHERE campaign_id = %(campaign)s::uuid AND {key_sql} AND status = ANY(%(frm)s)"
        " LIMIT 1 FOR UPDATE)"
        " UPDATE campaign_recipients r SET status = %(status)s, updated_at = now(),"
        " message_id = CASE WHEN %(message)s = '' THEN r.message_id ELSE %(message)s END"
        " FROM old WHERE r.campaign_id = %(campaign)s::uuid AND r.seq = old.seq"
        " RETURNING old.status",
        {"status": status, "message": message_id, "campaign": campaign_id, "contact": contact_id,
         "person": person_key, "frm": list(frm)},
    )  # fmt: skip
    row = await cur.fetchone()
    return str(row[0]) if row else None


def _left_deferred(previous: str | None) -> int:
    return -1 if previous == "deferred" else 0


async def message_sent(conn: Any, event: EventEnvelope, msg: Any) -> None:
    sent = unpack(event, delivery.MessageSent)
    tenant = event.tenant_id
    if not await _campaign(conn, tenant, sent.campaign_id):
        return
    moved = await _move(
        conn, sent.campaign_id, "sent", ("batched", "queued"),
        contact_id=_valid_uuid(sent.contact_id), person_key=sent.person_key,
        message_id=sent.message_id,
    )  # fmt: skip
    if moved:  # a resend of the same recipient is not counted twice
        await _count(conn, tenant, sent.campaign_id, _event_time(event), sent=1)
        await sending.maybe_complete(conn, tenant, sent.campaign_id)


async def message_delivered(conn: Any, event: EventEnvelope, msg: Any) -> None:
    done = unpack(event, delivery.MessageDelivered)
    if not await _campaign(conn, event.tenant_id, done.campaign_id):
        return
    previous = await _move(conn, done.campaign_id, "delivered", ("sent", "deferred", "batched"),
                           person_key=done.person_key)  # fmt: skip
    if previous:
        await _count(conn, event.tenant_id, done.campaign_id, _event_time(event), delivered=1,
                     deferred_now=_left_deferred(previous))  # fmt: skip
        await sending.refresh_outcome(conn, event.tenant_id, done.campaign_id)


async def message_deferred(conn: Any, event: EventEnvelope, msg: Any) -> None:
    late = unpack(event, delivery.MessageDeferred)
    if not await _campaign(conn, event.tenant_id, late.campaign_id):
        return
    if await _move(conn, late.campaign_id, "deferred", ("sent",), person_key=late.person_key):
        await _count(conn, event.tenant_id, late.campaign_id, _event_time(event), deferred=1,
                     deferred_now=1)  # fmt: skip
        await sending.refresh_outcome(conn, event.tenant_id, late.campaign_id)
    else:  # deferred again: counted as an event, the recipient is deferred already
        await _count(conn, event.tenant_id, late.campaign_id, _event_time(event), deferred=1)


async def message_failed(conn: Any, event: EventEnvelope, msg: Any) -> None:
    """A recipient delivery will not send (suppressed or withdrawn at send time, a refused
    address, a policy block): answered for good, so the campaign can complete. Suppressed
    people count with those left out of the audience; the others are failures."""
    failed = unpack(event, delivery.MessageFailed)
    tenant = event.tenant_id
    if not await _campaign(conn, tenant, failed.campaign_id):
        return
    moved = await _move(
        conn, failed.campaign_id, "cancelled" if failed.suppressed else "failed",
        ("batched", "queued"), contact_id=_valid_uuid(failed.contact_id),
        person_key=failed.person_key, message_id=failed.message_id,
    )  # fmt: skip
    if not moved:  # redelivered, or the recipient was answered already
        return
    if failed.suppressed:
        await conn.execute(
            "UPDATE campaigns SET dropped_count = dropped_count + 1, updated_at = now()"
            " WHERE account_id = %s AND id = %s::uuid",
            (tenant, failed.campaign_id),
        )
    else:
        await _count(conn, tenant, failed.campaign_id, _event_time(event), failed=1)
    await sending.maybe_complete(conn, tenant, failed.campaign_id)


async def message_bounced(conn: Any, event: EventEnvelope, msg: Any) -> None:
    bounce = unpack(event, delivery.MessageBounced)
    tenant = event.tenant_id
    if not await _campaign(conn, tenant, bounce.campaign_id):
        return
    hard = bounce.bounce_type == delivery_pb.BOUNCE_TYPE_HARD
    # Bounced in the SMTP transaction (never reported sent): it failed for good.
    never_sent = await _move(
        conn, bounce.campaign_id, "failed", ("batched",), person_key=bounce.person_key
    )
    previous = never_sent or await _move(
        conn, bounce.campaign_id, "bounced", ("sent", "deferred", "delivered"),
        person_key=bounce.person_key,
    )  # fmt: skip
    kind = "hard_bounces" if hard else "soft_bounces"
    await _count(conn, tenant, bounce.campaign_id, _event_time(event), **{kind: 1},
                 failed=1 if previous else 0, deferred_now=_left_deferred(previous))  # fmt: skip
    if never_sent:
        await sending.maybe_complete(conn, tenant, bounce.campaign_id)
    else:
        await sending.refresh_outcome(conn, tenant, bounce.campaign_id)


async def message_complained(conn: Any, event: EventEnvelope, msg: Any) -> None:
    report = unpack(event, delivery.MessageComplained)
    if not await _campaign(conn, event.tenant_id, report.campaign_id):
        return
    after = ("sent", "delivered", "deferred")
    previous = await _move(
        conn, report.campaign_id, "complained", after, person_key=report.person_key
    )
    await _count(conn, event.tenant_id, report.campaign_id, _event_time(event), complaints=1,
                 deferred_now=_left_deferred(previous))  # fmt: skip


async def _unique(conn: Any, campaign_id: str, person_key: str, kind: str) -> bool:
    """A first open/click of a person who allowed tracking (the snapshot says so)."""
    if not person_key:
        return False
    cur = await conn.execute(
        "INSERT INTO campaign_engagement (campaign_id, person_key, kind)"
        " SELECT %(campaign)s::uuid, %(person)s, %(kind)s WHERE EXISTS (SELECT 1 FROM"
        " campaign_recipients WHERE campaign_id = %(campaign)s::uuid AND person_key = %(person)s"
        " AND engagement_tracking) ON CONFLICT DO NOTHING",
        {"campaign": campaign_id, "person": person_key, "kind": kind},
    )
    return bool(cur.rowcount)


async def interacted(conn: Any, tenant: str, person_key: str, at: datetime) -> None:
    """A counted (tracked) open or click: the contact's last interaction, no longer
    inactive."""
    if person_key:
        await conn.execute(
            "UPDATE contacts SET last_interaction_at = GREATEST(last_interaction_at, %s),"
            " inactive_since = NULL WHERE account_id = %s AND person_key = %s"
            " AND deleted_at IS NULL",
            (at, tenant, person_key),
        )


async def message_opened(conn: Any, event: EventEnvelope, msg: Any) -> None:
    opened = unpack(event, delivery.MessageOpened)
    if not await _campaign(conn, event.tenant_id, opened.campaign_id):
        return
    person = "" if opened.anonymous else opened.person_key
    first = await _unique(conn, opened.campaign_id, person, "open")
    if first:
        await interacted(conn, event.tenant_id, person, _event_time(event))
    await _count(conn, event.tenant_id, opened.campaign_id, _event_time(event),
                 opens=1, unique_opens=int(first))  # fmt: skip


async def link_clicked(conn: Any, event: EventEnvelope, msg: Any) -> None:
    click = unpack(event, delivery.LinkClicked)
    if not await _campaign(conn, event.tenant_id, click.campaign_id):
        return
    person = "" if click.anonymous else click.person_key
    first = await _unique(conn, click.campaign_id, person, "click")
    if first:
        await interacted(conn, event.tenant_id, person, _event_time(event))
    await _count(conn, event.tenant_id, click.campaign_id, _event_time(event),
                 clicks=1, unique_clicks=int(first))  # fmt: skip
    if click.position > 0:
        await conn.execute(
            "INSERT INTO campaign_link_clicks (campaign_id, position, url, clicks)"
            " VALUES (%s::uuid, %s, %s, 1) ON CONFLICT (campaign_id, position) DO UPDATE"
            " SET clicks = campaign_link_clicks.clicks + 1",
            (click.campaign_id, click.position, click.url[:2000]),
        )


async def unsubscribed(conn: Any, tenant: str, campaign_id: str, at: datetime) -> None:
    """Consent recorded a withdrawal through this campaign's unsubscribe link."""
    if await _campaign(conn, tenant, campaign_id):
        await _count(conn, tenant, campaign_id, at, unsubscribes=1)


HANDLERS: dict[str, Handler] = {
    SENT: message_sent,
    DELIVERED: message_delivered,
    DEFERRED: message_deferred,
    FAILED: message_failed,
    BOUNCED: message_bounced,
    COMPLAINED: message_complained,
    OPENED: message_opened,
    CLICKED: link_clicked,
}


async def stats_pb(conn: Any, row: dict[str, Any]) -> pb.CampaignStats:
    """A campaign's counters, outcome counts from its snapshot and hourly series."""
    cur = await conn.execute(
        f"SELECT {', '.join(_COUNTERS)}, updated_at FROM campaign_stats WHERE campaign_id = %s",
        (row["id"],),
    )
    found = await cur.fetchone()
    counters = dict(zip((*_COUNTERS, "updated_at"), found, strict=True)) if found else {}
    stats = pb.CampaignStats(
        recipients=row["recipient_count"],
        suppressed=row["excluded_count"] + row["dropped_count"],
        queued=max(0, row["recipient_count"] - row["batched_count"] - row["dropped_count"]),
        updated_at=timestamp(counters.get("updated_at")),
        **{k: counters.get(k, 0) for k in _COUNTERS if k != "deferred_now"},
    )
    cur = await conn.execute(
        "SELECT position, url, clicks FROM campaign_link_clicks WHERE campaign_id = %s"
        " ORDER BY position",
        (row["id"],),
    )
    stats.links.extend(
        pb.LinkStats(position=p, url=u, clicks=c) for p, u, c in await cur.fetchall()
    )
    cur = await conn.execute(
        f"SELECT bucket_start, {', '.join(_HOURLY)} FROM campaign_stats_hourly"
        " WHERE campaign_id = %s ORDER BY bucket_start",
        (row["id"],),
    )
    for bucket, *values in await cur.fetchall():
        point = pb.StatsPoint(**dict(zip(_HOURLY, values, strict=True)))
        point.bucket_start.FromDatetime(bucket)
        stats.series.append(point)
    return stats
