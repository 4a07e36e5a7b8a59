"""The campaign lane: compiled content per (campaign, revision), ledger rows of a batch
(inserted once per (campaign, contact)), and a campaign's counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from missiva_delivery.batches import LANE_CAMPAIGN, PRIORITY_CAMPAIGN, Content
from missiva_delivery.store.holds import HELD_UNTIL

_CONTENT_COLUMNS = (
    "campaign_id, template_revision, template_id, subject, preheader, html_body, text_body,"
    " category, purpose_id, from_name, from_address, reply_to, sender_domain_id"
)


async def save_content(conn: Any, tenant_id: str, content: Content) -> None:
    """Keep a campaign revision's content; the first batch's copy stays (every batch of a
    revision carries the same)."""
    await conn.execute(
        f"INSERT INTO campaign_contents (tenant_id, {_CONTENT_COLUMNS}) VALUES"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, campaign_id, template_revision) DO NOTHING",
        (
            tenant_id, content.campaign_id, content.template_revision, content.template_id,
            content.subject, content.preheader, content.html_body, content.text_body,
            content.category, content.purpose_id, content.from_name, content.from_address,
            content.reply_to, content.sender_domain_id,
        ),
    )  # fmt: skip


async def content(conn: Any, tenant_id: str, campaign_id: str, revision: int) -> Content | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_CONTENT_COLUMNS} FROM campaign_contents"
        " WHERE tenant_id = %s AND campaign_id = %s AND template_revision = %s",
        (tenant_id, campaign_id, revision),
    )
    row = await cur.fetchone()
    return None if row is None else Content(**row)


@dataclass(frozen=True)
class CampaignRow:
    id: str
    idempotency_key: str
    contact_id: str
    person_key: str
    to_address_enc: bytes | None
    payload_enc: bytes | None
    rfc822_message_id: str
    status: str
    failure_reason: str
    tracking: bool = False  # the recipient allows personal engagement tracking


async def insert_rows(
    conn: Any, tenant_id: str, content: Content, batch_id: str, reservation: str,
    rows: list[CampaignRow], *, held: bool = False,
) -> list[tuple[str, str]]:  # fmt: skip
    """Insert a batch's rows in one statement; rows already in the ledger (a redelivered
    batch, a contact already sent to in this campaign) are left as they are. Returns the
    (id, status) of the rows inserted now, each with its first history event."""
    if not rows:
        return []
    cur = await conn.execute(
        "INSERT INTO messages (id, tenant_id, idempotency_key, lane, priority, category,"
        " campaign_id, batch_id, contact_id, person_key, purpose_id, content_revision,"
        " credit_reservation_id, to_address_enc, payload_enc, rfc822_message_id, status,"
        " failure_reason, subject, next_attempt_at, tracking)"
        " SELECT u.id, %(tenant)s, u.key, %(lane)s, %(priority)s, %(category)s, %(campaign)s,"
        " %(batch)s, u.contact, u.person, %(purpose)s, %(revision)s, %(reservation)s, u.addr,"
        " u.payload, u.rfc, u.status, u.reason, '', COALESCE(%(held)s, now()), u.tracking"
        " FROM unnest(%(ids)s::uuid[], %(keys)s::text[], %(contacts)s::text[],"
        " %(persons)s::text[], %(addrs)s::bytea[], %(payloads)s::bytea[], %(rfcs)s::text[],"
        " %(statuses)s::text[], %(reasons)s::text[], %(tracking)s::boolean[])"
        " AS u(id, key, contact, person, addr, payload, rfc, status, reason, tracking)"
        " ON CONFLICT DO NOTHING RETURNING id::text, status",
        {
            "tenant": tenant_id, "lane": LANE_CAMPAIGN, "priority": PRIORITY_CAMPAIGN,
            "category": content.category, "campaign": content.campaign_id, "batch": batch_id,
            "purpose": content.purpose_id, "revision": content.template_revision,
            "reservation": reservation, "held": HELD_UNTIL if held else None,
            "ids": [r.id for r in rows], "keys": [r.idempotency_key for r in rows],
            "contacts": [r.contact_id for r in rows], "persons": [r.person_key for r in rows],
            "addrs": [r.to_address_enc for r in rows], "payloads": [r.payload_enc for r in rows],
            "rfcs": [r.rfc822_message_id for r in rows], "statuses": [r.status for r in rows],
            "reasons": [r.failure_reason for r in rows],
            "tracking": [r.tracking for r in rows],
        },
    )  # fmt: skip
    inserted = [(str(a), str(b)) for a, b in await cur.fetchall()]
    if inserted:
        reasons = {r.id: r.failure_reason for r in rows}
        await conn.execute(
            "INSERT INTO message_events (message_id, status, detail)"
            " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[])",
            (
                [i for i, _ in inserted],
                [s for _, s in inserted],
                [reasons.get(i) or f"batch {batch_id[:40]}" for i, _ in inserted],
            ),
        )
    return inserted


# The ledger's statuses → the counters of DeliveryStats (``sent`` counts what reached the
# receiving server, so a row bounced or complained about later was sent first).
async def stats(conn: Any, tenant_id: str, campaign_id: str) -> dict[str, int] | None:
    cur = await conn.execute(
        "SELECT count(*),"
        " count(*) FILTER (WHERE status IN ('queued', 'sending')),"
        " count(*) FILTER (WHERE sent_at IS NOT NULL),"
        " count(*) FILTER (WHERE status = 'deferred'),"
        " count(*) FILTER (WHERE status = 'bounced' AND bounce_type = 'hard'),"
        " count(*) FILTER (WHERE status = 'bounced' AND bounce_type = 'soft'),"
        " count(*) FILTER (WHERE status = 'complained'),"
        " count(*) FILTER (WHERE status = 'suppressed'),"
        " count(*) FILTER (WHERE status = 'failed'),"
        " COALESCE(sum(resends), 0)"
        " FROM messages WHERE tenant_id = %s AND campaign_id = %s AND lane = 'campaign'",
        (tenant_id, campaign_id),
    )
    row = await cur.fetchone()
    if row is None or not row[0]:
        return None
    names = ("total", "queued", "sent", "deferred", "hard_bounces", "soft_bounces",
             "complaints", "suppressed", "failed", "resent")  # fmt: skip
    return dict(zip(names, (int(v) for v in row), strict=True))
