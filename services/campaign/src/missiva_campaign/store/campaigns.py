"""Campaigns of an account: the draft's fields, the state machine's columns and counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from missiva_campaign.store import Conn

COLUMNS = (
    "id::text AS id, account_id, name, status, category, purpose_id, template_id, subject,"
    " preheader, from_name, from_address, reply_to, sender_domain_id,"
    " list_ids::text[] AS list_ids, segment_ids::text[] AS segment_ids,"
    " excluded_list_ids::text[] AS excluded_list_ids, scheduled_at, schedule_timezone,"
    " recipient_local_time, pause_reason, last_error, missing_credits, start_attempt,"
    " generation, chain_idle, credit_reservation_id, compiled_subject, compiled_preheader,"
    " compiled_html,"
    " compiled_text, compiled_revision, recipient_count, excluded_count, batch_count,"
    " batched_count, version, started_at, completed_at, created_at, updated_at,"
    " dropped_count, retry_count, review_flags, deleted_at,"
    # The outcome counters of the statistics read model (one primary-key lookup each).
    " COALESCE((SELECT s.sent FROM campaign_stats s WHERE s.campaign_id = campaigns.id), 0)"
    "   AS sent_count,"
    " COALESCE((SELECT s.failed FROM campaign_stats s WHERE s.campaign_id = campaigns.id), 0)"
    "   AS failed_count,"
    " COALESCE((SELECT s.deferred_now FROM campaign_stats s"
    "   WHERE s.campaign_id = campaigns.id), 0) AS deferred_count"
)
DRAFT_FIELDS = (
    "name", "category", "purpose_id", "template_id", "subject", "preheader", "from_name",
    "from_address", "reply_to", "sender_domain_id", "list_ids", "segment_ids",
    "excluded_list_ids",
)  # fmt: skip
STATE_FIELDS = (
    "status", "scheduled_at", "schedule_timezone", "recipient_local_time", "pause_reason",
    "last_error", "missing_credits", "start_attempt", "generation", "chain_idle",
    "credit_reservation_id",
    "compiled_subject", "compiled_preheader", "compiled_html", "compiled_text",
    "compiled_revision", "recipient_count", "excluded_count", "batch_count", "batched_count",
    "dropped_count",
    "started_at", "completed_at", "retry_count", "review_flags",
)  # fmt: skip
_CASTS = {"list_ids": "::uuid[]", "segment_ids": "::uuid[]", "excluded_list_ids": "::uuid[]"}


async def create(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    names = ["id", "account_id", *DRAFT_FIELDS]
    values = ", ".join(f"%({n})s{_CASTS.get(n, '')}" for n in names)
    await conn.execute(f"INSERT INTO campaigns ({', '.join(names)}) VALUES ({values})", row)
    created = await get(conn, row["account_id"], row["id"])
    assert created is not None
    return created


async def get(
    conn: Conn, account_id: str, campaign_id: str, *, lock: bool = False
) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM campaigns WHERE account_id = %s AND id = %s"
            " AND deleted_at IS NULL" + (" FOR UPDATE" if lock else ""),
            (account_id, campaign_id),
        )
        found = await cur.fetchone()
    return dict(found) if found else None


async def update(
    conn: Conn, account_id: str, campaign_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    allowed = (*DRAFT_FIELDS, *STATE_FIELDS)
    assigns = ", ".join(
        f"{name} = %({name})s{_CASTS.get(name, '')}" for name in values if name in allowed
    )
    await conn.execute(
        f"UPDATE campaigns SET {assigns}, version = version + 1, updated_at = now()"
        " WHERE account_id = %(account)s AND id = %(id)s",
        {**values, "account": account_id, "id": campaign_id},
    )
    updated = await get(conn, account_id, campaign_id)
    assert updated is not None
    return updated


async def page(
    conn: Conn,
    account_id: str,
    *,
    status: str | None,
    after: str | None,
    limit: int,
    trash_since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Live campaigns, or (``trash_since``) those deleted since then, newest id first."""
    state = "deleted_at IS NULL" if trash_since is None else "deleted_at > %(since)s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM campaigns WHERE account_id = %(account)s AND {state}"
            " AND (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(after)s::uuid IS NULL OR id < %(after)s::uuid)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {
                "account": account_id,
                "status": status,
                "after": after,
                "limit": limit,
                "since": trash_since,
            },
        )
        return [dict(r) for r in await cur.fetchall()]


async def trash(
    conn: Conn, account_id: str, campaign_id: str, *, statuses: tuple[str, ...]
) -> bool:
    """Move a live campaign in one of ``statuses`` to the trash; whether it was."""
    cur = await conn.execute(
        "UPDATE campaigns SET deleted_at = now(), updated_at = now(), version = version + 1"
        " WHERE account_id = %s AND id = %s AND deleted_at IS NULL AND status = ANY(%s)",
        (account_id, campaign_id, list(statuses)),
    )
    return bool(cur.rowcount)


async def restore(conn: Conn, account_id: str, campaign_id: str, *, since: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE campaigns SET deleted_at = NULL, updated_at = now(), version = version + 1"
        " WHERE account_id = %s AND id = %s AND deleted_at > %s",
        (account_id, campaign_id, since),
    )
    return bool(cur.rowcount)


async def get_trashed(conn: Conn, account_id: str, campaign_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM campaigns WHERE account_id = %s AND id = %s"
            " AND deleted_at IS NOT NULL",
            (account_id, campaign_id),
        )
        found = await cur.fetchone()
    return dict(found) if found else None


async def blocking(
    conn: Conn, account_id: str, *, template_id: str = "", list_id: str = ""
) -> list[dict[str, Any]]:
    """The live scheduled or sending campaigns that send the template or go to (or leave out)
    the list: deleting either would change or break them.

    The drafts among its users are locked too (as Schedule and SendCampaignNow lock the
    campaign before reading its template and lists), so a draft scheduled meanwhile is seen.
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id::text AS id, name, status FROM campaigns WHERE account_id = %(account)s"
            " AND deleted_at IS NULL AND status IN ('draft', 'scheduled', 'sending')"
            " AND ((%(template)s <> '' AND template_id = %(template)s)"
            " OR (%(list)s <> '' AND (%(list)s::text = ANY(list_ids::text[])"
            " OR %(list)s::text = ANY(excluded_list_ids::text[]))))"
            " ORDER BY id FOR UPDATE",
            {"account": account_id, "template": template_id, "list": list_id},
        )
        found = [dict(r) for r in await cur.fetchall()]
    return [r for r in found if r["status"] != "draft"]


async def due(conn: Conn, now: Any, limit: int = 100) -> list[tuple[str, str]]:
    """Scheduled campaigns whose first recipients are due: (account, campaign)."""
    cur = await conn.execute(
        "SELECT account_id, id::text FROM campaigns WHERE status = 'scheduled'"
        " AND scheduled_at - CASE WHEN recipient_local_time THEN interval '14 hours'"
        " ELSE interval '0' END <= %s ORDER BY scheduled_at LIMIT %s",
        (now, limit),
    )
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def purge_account(conn: Conn, account_id: str) -> int:
    await conn.execute("DELETE FROM frequency_caps WHERE account_id = %s", (account_id,))
    cur = await conn.execute("DELETE FROM campaigns WHERE account_id = %s", (account_id,))
    return cur.rowcount


async def idle_due(conn: Conn, now: Any) -> list[tuple[str, str, int]]:
    """Sending campaigns whose chain went idle and whose next recipients are now due."""
    cur = await conn.execute(
        "SELECT k.account_id, k.id::text, k.generation FROM campaigns k"
        " WHERE k.status = 'sending' AND k.chain_idle AND EXISTS (SELECT 1 FROM"
        " campaign_recipients r WHERE r.campaign_id = k.id AND r.status = 'queued'"
        " AND r.due_at <= %s) FOR UPDATE OF k SKIP LOCKED",
        (now,),
    )
    return [(r[0], r[1], int(r[2])) for r in await cur.fetchall()]
