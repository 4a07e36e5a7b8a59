"""The local projection of consent's suppression list (what the notices and, later, the
recipient snapshots need). One row per consent suppression aggregate: the highest aggregate
version applied wins, so redelivered or reordered events converge on consent's state."""

from __future__ import annotations

from missiva_campaign.store import Conn


async def apply(
    conn: Conn,
    *,
    scope: str,
    person_key: str,
    reason: str,
    purpose_id: str,
    active: bool,
    version: int,
) -> bool:
    """Record the entry's state at ``version``; False when a newer one was already applied.

    A version of 0 (an event without one) is applied unless a versioned state is known."""
    cur = await conn.execute(
        "INSERT INTO suppressions (scope, person_key, reason, purpose_id, active,"
        " aggregate_version) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (scope, person_key, reason, purpose_id) DO UPDATE"
        " SET active = EXCLUDED.active, aggregate_version = EXCLUDED.aggregate_version,"
        " updated_at = now()"
        " WHERE suppressions.aggregate_version < EXCLUDED.aggregate_version"
        " OR EXCLUDED.aggregate_version = 0",
        (scope, person_key, reason, purpose_id, active, version),
    )
    return bool(cur.rowcount)


async def of_person(conn: Conn, person_key: str, account_id: str = "") -> list[dict[str, object]]:
    cur = await conn.execute(
        "SELECT scope, reason, purpose_id, active, updated_at FROM suppressions"
        " WHERE person_key = %(key)s AND (%(account)s = '' OR scope IN (%(account)s, ''))"
        " ORDER BY scope, reason, purpose_id",
        {"key": person_key, "account": account_id},
    )
    names = [c.name for c in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
