"""View online: the sealed merge data of sent campaign messages whose template links to their
online copy (online.py), kept ``VIEW_ONLINE_DAYS`` after the send."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row


async def keep(conn: Any, message_ids: list[str]) -> None:
    """Copy the sealed merge data of these campaign rows (being finished as sent, still
    ``sending`` with their payload) before the ledger drops it."""
    if not message_ids:
        return
    await conn.execute(
        "INSERT INTO online_copies (message_id, tenant_id, campaign_id, content_revision,"
        " person_key, payload_enc) SELECT id, tenant_id, campaign_id, content_revision,"
        " person_key, payload_enc FROM messages WHERE id = ANY(%s::uuid[])"
        " AND lane = 'campaign' AND status = 'sending' AND payload_enc IS NOT NULL"
        " ON CONFLICT (message_id) DO NOTHING",
        (message_ids,),
    )


async def copy(conn: Any, message_id: str, days: int) -> dict[str, Any] | None:
    """The copy of ``message_id`` if it is younger than ``days`` (retention may not have run
    yet), else None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT message_id::text, tenant_id, campaign_id, content_revision, person_key,"
        " payload_enc, sent_at FROM online_copies"
        " WHERE message_id = %s AND sent_at > now() - make_interval(days => %s)",
        (message_id, days),
    )
    row = await cur.fetchone()
    return None if row is None else dict(row)


async def for_person(conn: Any, person_key: str, tenant_id: str = "") -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT message_id::text, tenant_id, campaign_id, payload_enc, sent_at FROM online_copies"
        " WHERE person_key = %s AND (%s = '' OR tenant_id = %s) ORDER BY sent_at, message_id",
        (person_key, tenant_id, tenant_id),
    )
    return list(await cur.fetchall())


async def erase_person(conn: Any, person_key: str, tenant_id: str = "") -> int:
    cur = await conn.execute(
        "DELETE FROM online_copies WHERE person_key = %s AND (%s = '' OR tenant_id = %s)",
        (person_key, tenant_id, tenant_id),
    )
    return int(cur.rowcount)
