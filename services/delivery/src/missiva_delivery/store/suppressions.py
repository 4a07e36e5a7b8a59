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


# -- consent's replica ----------------------------------------------------------------------

# What still stops SYSTEM mail (a document notice) among consent's suppression reasons.
SYSTEM_STOPPERS = ("suppression:hard_bounce", "suppression:complaint", "suppression:erased")


async def apply_block(
    conn: Any, *, tenant_id: str, person_key: str, purpose_id: str, source: str, active: bool,
    version: int,
) -> bool:  # fmt: skip
    """Record one consent aggregate's state at ``version``; False when a newer one was applied.
    A version of 0 (an event without one) is applied unless a versioned state is known."""
    cur = await conn.execute(
        "INSERT INTO consent_blocks (tenant_id, person_key, purpose_id, source, active,"
        " aggregate_version) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (person_key, tenant_id, purpose_id, source) DO UPDATE"
        " SET active = EXCLUDED.active, aggregate_version = EXCLUDED.aggregate_version,"
        " updated_at = now()"
        " WHERE consent_blocks.aggregate_version < EXCLUDED.aggregate_version"
        " OR EXCLUDED.aggregate_version = 0",
        (tenant_id, person_key, purpose_id, source, active, version),
    )
    return bool(cur.rowcount)


async def blocked_among(
    conn: Any, tenant_id: str, purpose_id: str, person_keys: list[str], *, system: bool
) -> dict[str, str]:
    """Which of ``person_keys`` may not get mail of ``purpose_id`` from ``tenant_id`` now,
    each with its reason: one query over consent's replica and delivery's own list, run
    right before a batch is sent. SYSTEM mail is stopped only by a hard bounce, a complaint
    or an erasure."""
    if not person_keys:
        return {}
    cur = await conn.execute(
        "SELECT person_key, source FROM consent_blocks"
        " WHERE person_key = ANY(%(keys)s) AND tenant_id IN (%(tenant)s, '') AND active"
        " AND purpose_id IN ('', %(purpose)s)"
        " AND (NOT %(system)s OR source = ANY(%(stoppers)s))"
        " UNION ALL SELECT person_key, 'delivery:' || reason FROM suppressions"
        " WHERE person_key = ANY(%(keys)s) AND tenant_id IN (%(tenant)s, '')"
        " AND (NOT %(system)s OR reason = 'hard_bounce')",
        {"keys": person_keys, "tenant": tenant_id, "purpose": purpose_id, "system": system,
         "stoppers": list(SYSTEM_STOPPERS)},
    )  # fmt: skip
    found: dict[str, str] = {}
    for key, source in await cur.fetchall():
        found.setdefault(str(key), str(source).split(":", 1)[1])
    return found


async def blocks_of_person(conn: Any, person_key: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT tenant_id, purpose_id, source, active, updated_at FROM consent_blocks"
        " WHERE person_key = %s ORDER BY tenant_id, purpose_id, source",
        (person_key,),
    )
    return [
        {"tenant_id": r[0], "purpose_id": r[1], "source": r[2], "active": r[3],
         "updated_at": r[4].isoformat()}
        for r in await cur.fetchall()
    ]  # fmt: skip
