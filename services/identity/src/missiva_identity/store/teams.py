"""Invitations, members and roles.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_identity.store._sql import Conn, fetch_all, fetch_one
from missiva_identity.store.users import USER_SELECT, User, user_from_row


async def create_invitation(
    conn: Conn,
    *,
    invitation_id: str,
    account_id: str,
    email: str,
    role: str,
    invited_by: str,
    token_hash: bytes,
    ttl: timedelta,
) -> dict[str, Any]:
    row = await fetch_one(
        conn,
        "INSERT INTO invitations (id, account_id, email, role, invited_by_user_id, token_hash,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s, now() + %s)"
        " RETURNING id::text, email, role, invited_by_user_id::text, expires_at",
        (invitation_id, account_id, email, role, invited_by, token_hash, ttl),
    )
    assert row is not None
    return row


async def pending_invitations(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    return await fetch_all(
        conn,
        "SELECT id::text, email, role, expires_at FROM invitations WHERE account_id = %s"
        " AND accepted_at IS NULL AND expires_at > now() ORDER BY created_at LIMIT 100",
        (account_id,),
    )


async def spend_invitation(conn: Conn, token_hash: bytes) -> dict[str, Any] | None:
    return await fetch_one(
        conn,
        "UPDATE invitations SET accepted_at = now() WHERE token_hash = %s"
        " AND accepted_at IS NULL AND expires_at > now()"
        " RETURNING id::text, account_id::text, email, role",
        (token_hash,),
    )


async def list_members(
    conn: Conn,
    account_id: str,
    *,
    show_removed: bool,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[User]:
    rows = await fetch_all(
        conn,
        USER_SELECT + " WHERE u.account_id = %(account)s"
        " AND (u.status = 'active' OR (%(removed)s AND u.restorable_until > now()))"
        " AND (%(after_t)s::timestamptz IS NULL"
        "      OR (u.created_at, u.id) > (%(after_t)s, %(after_id)s::uuid))"
        " ORDER BY u.created_at, u.id LIMIT %(limit)s",
        {
            "account": account_id,
            "removed": show_removed,
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [u for u in (user_from_row(r) for r in rows) if u is not None]


async def lock_role(conn: Conn, user_id: str) -> str | None:
    """The user's role, with their row locked until the transaction ends."""
    row = await fetch_one(conn, "SELECT role FROM users WHERE id = %s FOR UPDATE", (user_id,))
    return str(row["role"]) if row else None


async def set_role(conn: Conn, user_id: str, role: str) -> None:
    await conn.execute("UPDATE users SET role = %s WHERE id = %s", (role, user_id))


async def remove_member(conn: Conn, user_id: str, removed_by: str, window: timedelta) -> None:
    await conn.execute(
        "UPDATE users SET status = 'removed', removed_at = now(),"
        " restorable_until = now() + %s, removed_by = %s WHERE id = %s",
        (window, removed_by, user_id),
    )


async def restore_member(conn: Conn, user_id: str) -> None:
    await conn.execute(
        "UPDATE users SET status = 'active', removed_at = NULL, restorable_until = NULL,"
        " removed_by = NULL WHERE id = %s",
        (user_id,),
    )
