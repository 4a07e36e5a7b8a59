"""The send ledger: one row per message, its status history, and the sender's claims."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from missiva_delivery.domain import FINAL, Status

_COLUMNS = (
    "id::text AS id, tenant_id, idempotency_key, lane, priority, category, template_key, locale,"
    " campaign_id, batch_id, contact_id, person_key, requested_by, to_address_enc, payload_enc,"
    " rfc822_message_id, subject, status, bounce_type, attempts, resends, last_smtp_reply,"
    " failure_reason, queued_at, next_attempt_at, claimed_at, sent_at, updated_at,"
    " purpose_id, content_revision, credit_reservation_id"
)


@dataclass(frozen=True)
class NewMessage:
    id: str
    tenant_id: str
    idempotency_key: str
    lane: str
    priority: int
    category: int
    template_key: str
    locale: str
    person_key: str
    requested_by: str
    to_address_enc: bytes | None
    payload_enc: bytes | None
    rfc822_message_id: str
    status: Status = Status.QUEUED
    failure_reason: str = ""


async def insert(conn: Any, row: NewMessage, detail: str = "") -> tuple[dict[str, Any], bool]:
    """Insert ``row`` once per (tenant, idempotency key): the ledger row and whether it is new.
    A second insert with the same key returns the first row untouched."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO messages (id, tenant_id, idempotency_key, lane, priority, category,"
        " template_key, locale, person_key, requested_by, to_address_enc, payload_enc,"
        " rfc822_message_id, status, failure_reason)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING {_COLUMNS}",
        (
            row.id,
            row.tenant_id,
            row.idempotency_key,
            row.lane,
            row.priority,
            row.category,
            row.template_key,
            row.locale,
            row.person_key,
            row.requested_by,
            row.to_address_enc,
            row.payload_enc,
            row.rfc822_message_id,
            str(row.status),
            row.failure_reason,
        ),
    )
    created = await cur.fetchone()
    if created is not None:
        await add_event(conn, created["id"], row.status, detail or row.failure_reason)
        return created, True
    await cur.execute(
        f"SELECT {_COLUMNS} FROM messages WHERE tenant_id = %s AND idempotency_key = %s",
        (row.tenant_id, row.idempotency_key),
    )
    existing = await cur.fetchone()
    assert existing is not None  # the conflict says it exists (rows are deleted only by age)
    return existing, False


async def add_event(conn: Any, message_id: str, status: Status | str, detail: str = "") -> None:
    await conn.execute(
        "INSERT INTO message_events (message_id, status, detail) VALUES (%s, %s, %s)",
        (message_id, str(status), detail[:1000]),
    )


async def get(conn: Any, tenant_id: str, message_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM messages WHERE id = %s AND tenant_id = %s",
        (message_id, tenant_id),
    )
    found: dict[str, Any] | None = await cur.fetchone()
    return found


async def events(conn: Any, message_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT status, detail, occurred_at FROM message_events WHERE message_id = %s ORDER BY id",
        (message_id,),
    )
    return list(await cur.fetchall())


# A due message (queued, or deferred and due), or one whose sender died while sending it
# (claimed too long ago): claimed by this sender, skipping rows another sender holds.
_M_COLUMNS = ", ".join("m." + c.strip() for c in _COLUMNS.split(","))
_CLAIM = f"""
WITH due AS (
    SELECT id, status AS was FROM messages
    WHERE (status IN ('queued', 'deferred') AND next_attempt_at <= now())
       OR (status = 'sending' AND claimed_at < now() - make_interval(secs => %(stale)s))
    ORDER BY priority, next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE messages m
SET status = 'sending', claimed_at = now(), attempts = m.attempts + 1,
    resends = m.resends + (due.was = 'sending')::int, updated_at = now()
FROM due WHERE m.id = due.id
RETURNING (due.was = 'sending') AS resend, {_M_COLUMNS}
"""


async def claim(conn: Any, *, limit: int, stale_seconds: float) -> list[dict[str, Any]]:
    """Claim up to ``limit`` messages for sending (commit at once: the claim is the record
    that a send may be under way)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_CLAIM, {"limit": limit, "stale": stale_seconds})
    claimed = list(await cur.fetchall())
    if claimed:
        details = [
            f"attempt {row['attempts']}"
            + (": sent again after a sender stopped mid-send (same Message-ID)"
               if row["resend"] else "")
            for row in claimed
        ]  # fmt: skip
        await conn.execute(
            "INSERT INTO message_events (message_id, status, detail)"
            " SELECT u.id, 'sending', u.detail"
            " FROM unnest(%s::uuid[], %s::text[]) AS u(id, detail)",
            ([row["id"] for row in claimed], details),
        )
    return claimed


async def finish(
    conn: Any,
    message_id: str,
    status: Status,
    *,
    reply: str = "",
    reason: str = "",
    subject: str | None = None,
    bounce_type: str | None = None,
    next_attempt_at: datetime | None = None,
) -> bool:
    """Move a claimed message to ``status``; a final status drops the address and the
    variables (nothing more will be sent). ``False`` if the message was not ours to move."""
    final = status in FINAL
    cur = await conn.execute(
        "UPDATE messages SET status = %(status)s, last_smtp_reply = %(reply)s,"
        " failure_reason = %(reason)s, subject = COALESCE(%(subject)s, subject),"
        " bounce_type = COALESCE(%(bounce)s, bounce_type),"
        " next_attempt_at = COALESCE(%(next)s, next_attempt_at),"
        " sent_at = CASE WHEN %(status)s = 'sent' THEN now() ELSE sent_at END,"
        " to_address_enc = CASE WHEN %(final)s THEN NULL ELSE to_address_enc END,"
        " payload_enc = CASE WHEN %(final)s THEN NULL ELSE payload_enc END,"
        " claimed_at = NULL, updated_at = now()"
        " WHERE id = %(id)s AND status = 'sending'",
        {
            "status": str(status),
            "reply": reply[:1000],
            "reason": reason[:1000],
            "subject": subject,
            "bounce": bounce_type,
            "next": next_attempt_at,
            "final": final,
            "id": message_id,
        },
    )
    if not cur.rowcount:
        return False
    await add_event(conn, message_id, status, reply or reason)
    return True


@dataclass(frozen=True)
class Finished:
    """What happened to one claimed message (recorded by ``finish_many``)."""

    row: dict[str, Any]
    status: Status
    reply: str = ""
    reason: str = ""
    subject: str | None = None
    bounce_type: str | None = None
    next_attempt_at: datetime | None = None
    event: Any = None
    suppress: bool = False


async def finish_many(conn: Any, outcomes: list[Finished]) -> set[str]:
    """``finish`` for many messages in two statements; the ids that were ours to move."""
    cur = await conn.execute(
        "UPDATE messages m SET status = u.status, last_smtp_reply = u.reply,"
        " failure_reason = u.reason, subject = COALESCE(u.subject, m.subject),"
        " bounce_type = COALESCE(u.bounce, m.bounce_type),"
        " next_attempt_at = COALESCE(u.next, m.next_attempt_at),"
        " sent_at = CASE WHEN u.status = 'sent' THEN now() ELSE m.sent_at END,"
        " to_address_enc = CASE WHEN u.final THEN NULL ELSE m.to_address_enc END,"
        " payload_enc = CASE WHEN u.final THEN NULL ELSE m.payload_enc END,"
        " claimed_at = NULL, updated_at = now()"
        " FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
        " %s::timestamptz[], %s::bool[]) AS u(id, status, reply, reason, subject, bounce, next,"
        " final) WHERE m.id = u.id AND m.status = 'sending' RETURNING m.id::text",
        (
            [o.row["id"] for o in outcomes],
            [str(o.status) for o in outcomes],
            [o.reply[:1000] for o in outcomes],
            [o.reason[:1000] for o in outcomes],
            [o.subject for o in outcomes],
            [o.bounce_type for o in outcomes],
            [o.next_attempt_at for o in outcomes],
            [o.status in FINAL for o in outcomes],
        ),
    )
    moved = {str(r[0]) for r in await cur.fetchall()}
    done = [o for o in outcomes if o.row["id"] in moved]
    if done:
        await conn.execute(
            "INSERT INTO message_events (message_id, status, detail)"
            " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[])",
            (
                [o.row["id"] for o in done],
                [str(o.status) for o in done],
                [(o.reply or o.reason)[:1000] for o in done],
            ),
        )
    return moved


async def queue_depth(conn: Any) -> dict[tuple[str, str], int]:
    """Messages waiting (queued, deferred, sending) by (lane, status)."""
    cur = await conn.execute(
        "SELECT lane, status, count(*) FROM messages"
        " WHERE status IN ('queued', 'deferred', 'sending') GROUP BY lane, status"
    )
    return {(r[0], r[1]): int(r[2]) for r in await cur.fetchall()}


async def oldest_waiting_age(conn: Any) -> float:
    cur = await conn.execute(
        "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(queued_at)), 0) FROM messages"
        " WHERE status IN ('queued', 'deferred')"
    )
    row = await cur.fetchone()
    return float(row[0]) if row else 0.0


async def for_person(conn: Any, person_key: str, tenant_id: str) -> list[dict[str, Any]]:
    """A person's send log (every account's when ``tenant_id`` is empty)."""
    cur = conn.cursor(row_factory=dict_row)
    where = "person_key = %s" + (" AND tenant_id = %s" if tenant_id else "")
    params = (person_key, tenant_id) if tenant_id else (person_key,)
    await cur.execute(f"SELECT {_COLUMNS} FROM messages WHERE {where} ORDER BY queued_at", params)
    return list(await cur.fetchall())


async def erase_person(conn: Any, person_key: str, tenant_id: str) -> int:
    where = "person_key = %s" + (" AND tenant_id = %s" if tenant_id else "")
    params = (person_key, tenant_id) if tenant_id else (person_key,)
    cur = await conn.execute(f"DELETE FROM messages WHERE {where}", params)
    return int(cur.rowcount)


async def recent_for_person(
    conn: Any, tenant_id: str, person_key: str, limit: int
) -> list[dict[str, Any]]:
    """The last ``limit`` messages ``tenant_id`` sent the person, newest first, with the
    campaign's sender for campaign mail."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT m.id::text AS id, m.lane, m.subject, m.category, m.status, m.sent_at,"
        " c.from_name, c.from_address FROM messages m"
        " LEFT JOIN campaign_contents c ON c.tenant_id = m.tenant_id"
        " AND c.campaign_id = m.campaign_id AND c.template_revision = m.content_revision"
        " AND m.lane = 'campaign'"
        " WHERE m.tenant_id = %s AND m.person_key = %s AND m.sent_at IS NOT NULL"
        " ORDER BY m.sent_at DESC LIMIT %s",
        (tenant_id, person_key, limit),
    )
    return list(await cur.fetchall())
