"""The projection of consent's state per (account, person, purpose)."""

from __future__ import annotations

from datetime import datetime

from missiva_campaign.store import Conn


async def apply(
    conn: Conn,
    *,
    account_id: str,
    person_key: str,
    purpose_id: str,
    status: str,
    kind: str,
    version: int,
    changed_at: datetime,
) -> bool:
    """Record the state at ``version``; False when a newer one was already applied (an older
    grant never undoes a withdrawal). A version of 0 is applied unless a versioned state is
    known. ``kind`` empty keeps the one known."""
    cur = await conn.execute(
        "INSERT INTO consent_states (account_id, person_key, purpose_id, status, kind,"
        " aggregate_version, changed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (account_id, purpose_id, person_key) DO UPDATE"
        " SET status = EXCLUDED.status, aggregate_version = EXCLUDED.aggregate_version,"
        " kind = COALESCE(NULLIF(EXCLUDED.kind, ''), consent_states.kind),"
        " changed_at = EXCLUDED.changed_at, updated_at = now()"
        " WHERE consent_states.aggregate_version < EXCLUDED.aggregate_version"
        " OR EXCLUDED.aggregate_version = 0",
        (account_id, person_key, purpose_id, status, kind, version, changed_at),
    )
    return bool(cur.rowcount)


async def forget_person(conn: Conn, person_key: str, account_id: str = "") -> int:
    cur = await conn.execute(
        "DELETE FROM consent_states WHERE person_key = %(key)s"
        " AND (%(account)s = '' OR account_id = %(account)s)",
        {"key": person_key, "account": account_id},
    )
    return cur.rowcount


async def purge_account(conn: Conn, account_id: str) -> int:
    cur = await conn.execute("DELETE FROM consent_states WHERE account_id = %s", (account_id,))
    return cur.rowcount
