"""A campaign's recipient snapshot: taken by one statement, then handed out in batches.

``snapshot`` is the whole audience rule as one set-based statement: the contacts of the
campaign's lists and the contacts matching its segments (each segment's compiled rule tree,
with its own account filter), minus its excluded lists, with consent
active for the campaign's purpose in the consent projection, minus the suppressed (in the
account or platform-wide, for every purpose or this one), minus the capped (the account's
frequency cap for the purpose, or its cap over every marketing purpose, counting the
person's campaigns in the cap's window). It
writes the recipients and returns (audience, written) from the same statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from missiva_campaign.segments import Compiled
from missiva_campaign.store import Conn

# MARKETING needs an explicit grant; PRODUCT_UPDATE (legitimate interest) goes unless the
# person withdrew, objected or restricted it.
_GRANTED = (
    "EXISTS (SELECT 1 FROM consent_states s WHERE s.account_id = %(account)s"
    " AND s.purpose_id = %(purpose)s AND s.person_key = a.person_key AND s.status = 'granted'"
    " AND s.kind <> 'tracking')"
)
_NOT_REFUSED = (
    "NOT EXISTS (SELECT 1 FROM consent_states s WHERE s.account_id = %(account)s"
    " AND s.purpose_id = %(purpose)s AND s.person_key = a.person_key"
    " AND s.status IN ('withdrawn', 'objected', 'restricted'))"
)

_SNAPSHOT = """
WITH zones AS MATERIALIZED (
    SELECT name FROM pg_timezone_names WHERE %(local)s
), members AS (
    -- A list in the trash sends to nobody (its members are kept for a restore).
    SELECT m.contact_id AS id FROM list_members m WHERE m.list_id = ANY(ARRAY(
        SELECT l.id FROM contact_lists l WHERE l.id = ANY(%(lists)s::uuid[])
        AND l.deleted_at IS NULL))
    {segments}
), audience AS (
    SELECT c.id, c.person_key, c.timezone
    FROM contacts c
    WHERE c.account_id = %(account)s AND c.deleted_at IS NULL
      AND c.id IN (SELECT id FROM members)
      AND NOT EXISTS (SELECT 1 FROM list_members x WHERE x.contact_id = c.id
                      AND x.list_id = ANY(%(excluded)s::uuid[]))
), capped AS (
    -- People who already had the cap's number of campaigns in its window: of the purpose,
    -- or (the cap with no purpose) of any marketing purpose, for a marketing campaign.
    SELECT r.person_key FROM frequency_caps f
    JOIN campaigns k ON k.account_id = f.account_id
    JOIN campaign_recipients r ON r.campaign_id = k.id
    WHERE f.account_id = %(account)s
      AND (f.purpose_id = %(purpose)s AND r.purpose_id = %(purpose)s
           OR f.purpose_id = '' AND %(marketing)s AND k.category = 'marketing')
      AND r.status <> 'cancelled' AND r.person_key IS NOT NULL
      AND r.created_at > %(now)s - f.window_days * interval '1 day'
    GROUP BY f.purpose_id, r.person_key, f.max_messages HAVING count(*) >= f.max_messages
), tracked AS (
    SELECT DISTINCT t.person_key FROM consent_states t
    WHERE t.account_id = %(account)s AND t.kind = 'tracking' AND t.status = 'granted'
), chosen AS (
    SELECT a.id, a.person_key, z.name AS zone, (tr.person_key IS NOT NULL) AS tracking
    FROM audience a
    LEFT JOIN zones z ON z.name = a.timezone
    LEFT JOIN tracked tr ON tr.person_key = a.person_key
    WHERE {consent}
      AND NOT EXISTS (SELECT 1 FROM suppressions p WHERE p.person_key = a.person_key
                      AND p.active AND p.scope IN (%(account)s, '')
                      AND (p.purpose_id = '' OR p.purpose_id = %(purpose)s))
      AND NOT EXISTS (SELECT 1 FROM capped cp WHERE cp.person_key = a.person_key)
), written AS (
    INSERT INTO campaign_recipients
        (campaign_id, seq, contact_id, person_key, purpose_id, due_at, engagement_tracking)
    SELECT %(campaign)s, row_number() OVER (ORDER BY ch.person_key), ch.id, ch.person_key,
        %(purpose)s,
        CASE WHEN %(local)s THEN
            (%(send_at)s::timestamptz AT TIME ZONE %(zone)s)
                AT TIME ZONE COALESCE(ch.zone, %(zone)s)
        ELSE %(send_at)s::timestamptz END,
        ch.tracking
    FROM chosen ch
    RETURNING 1
)
SELECT (SELECT count(*) FROM audience), (SELECT count(*) FROM written)
"""


async def snapshot(
    conn: Conn,
    *,
    account_id: str,
    campaign_id: str,
    purpose_id: str,
    marketing: bool,
    list_ids: list[str],
    excluded_list_ids: list[str],
    send_at: datetime,
    zone: str,
    local: bool,
    now: datetime,
    segments: Sequence[Compiled] = (),
) -> tuple[int, int]:
    """Write the snapshot; (contacts in the audience, recipients written). ``segments`` are
    compiled with distinct placeholder prefixes (``segments.compile_tree(prefix=...)``)."""
    params: dict[str, Any] = {}
    unions = []
    prefixes = [compiled.prefix for compiled in segments]
    if len(set(prefixes)) != len(prefixes) or not all(p.startswith("seg") for p in prefixes):
        raise ValueError("each segment is compiled with its own prefix seg<n>_")
    for compiled in segments:
        unions.append(
            sql.SQL("UNION SELECT c.id FROM contacts c WHERE {}").format(compiled.condition)
        )
        params.update(compiled.named())
    statement = sql.SQL(_SNAPSHOT).format(
        consent=sql.SQL(_GRANTED if marketing else _NOT_REFUSED),
        segments=sql.SQL(" ").join(unions),
    )
    # One big sort (the emission order, by person key: the person index then grows at its end
    # like the others) and the hash joins: in memory rather than on disk.
    await conn.execute("SET LOCAL work_mem = '256MB'")
    cur = await conn.execute(
        statement,
        {
            **params,
            "account": account_id,
            "campaign": campaign_id,
            "purpose": purpose_id,
            "lists": list_ids,
            "excluded": excluded_list_ids,
            "send_at": send_at,
            "zone": zone or "UTC",
            "local": local,
            "now": now,
            "marketing": marketing,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def next_batch(
    conn: Conn, account_id: str, campaign_id: str, now: datetime, size: int
) -> list[dict[str, Any]]:
    """The next due recipients, locked, with the contact's current fields (None when the
    contact is gone)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT r.seq, r.contact_id::text AS contact_id, r.person_key,"
            " r.engagement_tracking, c.email, c.first_name, c.last_name, c.locale, c.timezone,"
            " c.attributes, (c.id IS NOT NULL) AS present"
            " FROM campaign_recipients r LEFT JOIN contacts c ON c.id = r.contact_id"
            " AND c.account_id = %(account)s AND c.deleted_at IS NULL"
            " WHERE r.campaign_id = %(campaign)s AND r.status = 'queued'"
            " AND r.due_at <= %(now)s ORDER BY r.due_at, r.seq LIMIT %(size)s"
            " FOR UPDATE OF r SKIP LOCKED",
            {"account": account_id, "campaign": campaign_id, "now": now, "size": size},
        )
        return [dict(r) for r in await cur.fetchall()]


async def mark(conn: Conn, campaign_id: str, seqs: list[int], status: str, batch_id: str) -> None:
    await conn.execute(
        "UPDATE campaign_recipients SET status = %s, batch_id = %s, updated_at = now()"
        " WHERE campaign_id = %s AND seq = ANY(%s)",
        (status, batch_id, campaign_id, seqs),
    )


async def cancel_queued(conn: Conn, campaign_id: str) -> int:
    cur = await conn.execute(
        "UPDATE campaign_recipients SET status = 'cancelled', updated_at = now()"
        " WHERE campaign_id = %s AND status = 'queued'",
        (campaign_id,),
    )
    return cur.rowcount


async def of_person(conn: Conn, person_key: str, account_id: str = "") -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT r.campaign_id::text AS campaign_id, k.name AS campaign_name, r.status,"
            " r.created_at, r.updated_at, r.engagement_tracking FROM campaign_recipients r"
            " JOIN campaigns k ON k.id = r.campaign_id WHERE r.person_key = %(key)s"
            " AND (%(account)s = '' OR k.account_id = %(account)s) ORDER BY r.created_at",
            {"key": person_key, "account": account_id},
        )
        return [dict(r) for r in await cur.fetchall()]


async def forget_person(conn: Conn, person_key: str, account_id: str = "") -> int:
    """Erasure: the person's snapshot rows lose who they were (the counts stay)."""
    cur = await conn.execute(
        "UPDATE campaign_recipients r SET contact_id = NULL, person_key = NULL,"
        " anonymised_at = now() FROM campaigns k WHERE k.id = r.campaign_id"
        " AND r.person_key = %(key)s AND (%(account)s = '' OR k.account_id = %(account)s)",
        {"key": person_key, "account": account_id},
    )
    await conn.execute(
        "DELETE FROM campaign_engagement e USING campaigns k WHERE k.id = e.campaign_id"
        " AND e.person_key = %(key)s AND (%(account)s = '' OR k.account_id = %(account)s)",
        {"key": person_key, "account": account_id},
    )
    return cur.rowcount


async def has_queued(conn: Conn, campaign_id: str) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = %s"
        " AND status = 'queued')",
        (campaign_id,),
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def has_due(conn: Conn, campaign_id: str, now: datetime) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = %s"
        " AND status = 'queued' AND due_at <= %s)",
        (campaign_id, now),
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def has_pending(conn: Conn, campaign_id: str) -> bool:
    """Recipients not yet handed out, or handed out and not yet answered by delivery (two
    probes of partial indexes: cheap however large the snapshot)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = %(c)s"
        " AND status = 'queued') OR EXISTS (SELECT 1 FROM campaign_recipients"
        " WHERE campaign_id = %(c)s AND status = 'batched')",
        {"c": campaign_id},
    )
    row = await cur.fetchone()
    return bool(row and row[0])


_RETRYABLE = """
SELECT count(*) FROM campaign_recipients a
JOIN contacts c ON c.id = a.contact_id AND c.account_id = %(account)s AND c.deleted_at IS NULL
WHERE a.campaign_id = %(campaign)s AND a.status = 'failed' AND {consent}
  AND NOT EXISTS (SELECT 1 FROM suppressions p WHERE p.person_key = a.person_key
                  AND p.active AND p.scope IN (%(account)s, '')
                  AND (p.purpose_id = '' OR p.purpose_id = %(purpose)s))
"""

_REQUEUE = """
WITH eligible AS (
    SELECT a.seq FROM campaign_recipients a
    JOIN contacts c ON c.id = a.contact_id AND c.account_id = %(account)s
        AND c.deleted_at IS NULL
    WHERE a.campaign_id = %(campaign)s AND a.status = 'failed' AND {consent}
      AND NOT EXISTS (SELECT 1 FROM suppressions p WHERE p.person_key = a.person_key
                      AND p.active AND p.scope IN (%(account)s, '')
                      AND (p.purpose_id = '' OR p.purpose_id = %(purpose)s))
    FOR UPDATE OF a
), moved AS (
    UPDATE campaign_recipients r SET status = 'queued', due_at = %(now)s, batch_id = '',
        message_id = '', updated_at = now()
    FROM eligible e WHERE r.campaign_id = %(campaign)s AND r.seq = e.seq
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved),
    (SELECT count(*) FROM campaign_recipients WHERE campaign_id = %(campaign)s
     AND status = 'failed')
"""


def _retry_params(account_id: str, campaign_id: str, purpose_id: str) -> dict[str, Any]:
    return {"account": account_id, "campaign": campaign_id, "purpose": purpose_id}


async def retryable(
    conn: Conn, *, account_id: str, campaign_id: str, purpose_id: str, marketing: bool
) -> int:
    """Failed recipients still allowed to get the campaign (consent, no suppression, a
    contact still there)."""
    statement = _RETRYABLE.format(consent=_GRANTED if marketing else _NOT_REFUSED)
    cur = await conn.execute(
        statement,  # type: ignore[arg-type]
        _retry_params(account_id, campaign_id, purpose_id),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def requeue_failed(
    conn: Conn,
    *,
    account_id: str,
    campaign_id: str,
    purpose_id: str,
    marketing: bool,
    now: datetime,
) -> tuple[int, int]:
    """Queue the retryable failed recipients again: (queued, left failed)."""
    statement = _REQUEUE.format(consent=_GRANTED if marketing else _NOT_REFUSED)
    cur = await conn.execute(
        statement,  # type: ignore[arg-type]
        {**_retry_params(account_id, campaign_id, purpose_id), "now": now},
    )
    row = await cur.fetchone()
    assert row is not None
    moved, failed_before = int(row[0]), int(row[1])
    await conn.execute(
        "UPDATE campaign_stats SET failed = GREATEST(failed - %s, 0), updated_at = now()"
        " WHERE campaign_id = %s",
        (moved, campaign_id),
    )
    return moved, failed_before - moved
