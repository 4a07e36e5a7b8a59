"""Frequency caps of an account: at most max_messages campaigns per window, per purpose or
(purpose '') over every marketing purpose. Applied by the snapshot (``store.recipients``)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from missiva_campaign.store import Conn


async def put(conn: Conn, account_id: str, cap: dict[str, Any]) -> dict[str, Any]:
    await conn.execute(
        "INSERT INTO frequency_caps (account_id, purpose_id, max_messages, window_days)"
        " VALUES (%(account)s, %(purpose_id)s, %(max_messages)s, %(window_days)s)"
        " ON CONFLICT (account_id, purpose_id) DO UPDATE SET"
        " max_messages = EXCLUDED.max_messages, window_days = EXCLUDED.window_days",
        {**cap, "account": account_id},
    )
    return cap


async def of_account(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT purpose_id, max_messages, window_days FROM frequency_caps"
            " WHERE account_id = %s ORDER BY purpose_id",
            (account_id,),
        )
        return [dict(r) for r in await cur.fetchall()]


async def delete(conn: Conn, account_id: str, purpose_id: str) -> bool:
    cur = await conn.execute(
        "DELETE FROM frequency_caps WHERE account_id = %s AND purpose_id = %s",
        (account_id, purpose_id),
    )
    return cur.rowcount > 0
