"""The suppression list: person keys that may not (or, for SYSTEM mail, may still) be mailed."""

from __future__ import annotations

from typing import Any


async def reason_for(conn: Any, person_key: str, tenant_id: str) -> str | None:
    """The strongest suppression of ``person_key`` for ``tenant_id`` (or platform-wide):
    ``hard_bounce`` wins over any other reason; ``None`` when there is none."""
    cur = await conn.execute(
        "SELECT reason FROM suppressions WHERE person_key = %s AND tenant_id IN (%s, '')"
        " ORDER BY (reason = 'hard_bounce') DESC LIMIT 1",
        (person_key, tenant_id),
    )
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def add_hard_bounce(conn: Any, person_key: str, message_id: str, detail: str) -> None:
    """A hard bounce suppresses the address platform-wide: it does not exist anywhere."""
    await conn.execute(
        "INSERT INTO suppressions (person_key, tenant_id, reason, detail, message_id)"
        " VALUES (%s, '', 'hard_bounce', %s, %s)"
        " ON CONFLICT (person_key, tenant_id) DO UPDATE SET reason = 'hard_bounce',"
        " detail = EXCLUDED.detail, message_id = EXCLUDED.message_id, created_at = now()",
        (person_key, detail[:500], message_id),
    )


async def for_person(conn: Any, person_key: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT tenant_id, reason, detail, created_at FROM suppressions WHERE person_key = %s",
        (person_key,),
    )
    return [
        {"tenant_id": r[0], "reason": r[1], "detail": r[2], "created_at": r[3].isoformat()}
        for r in await cur.fetchall()
    ]
