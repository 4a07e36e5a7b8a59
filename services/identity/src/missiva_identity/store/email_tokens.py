"""Single-use tokens sent by email (verification, reset, email change), stored as hashes.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_identity.store._sql import Conn, fetch_one


async def create_email_token(
    conn: Conn,
    token_hash: bytes,
    purpose: str,
    *,
    user_id: str | None,
    account_id: str | None,
    ttl: timedelta,
    new_email: str | None = None,
) -> datetime:
    cur = await conn.execute(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, account_id, new_email,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING expires_at",
        (token_hash, purpose, user_id, account_id, new_email, ttl),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def spend_email_token(conn: Conn, token_hash: bytes, purpose: str) -> dict[str, Any] | None:
    """Mark a live token used and return it; None if unknown, expired or already used."""
    return await fetch_one(
        conn,
        "UPDATE email_tokens SET used_at = now() WHERE token_hash = %s AND purpose = %s"
        " AND used_at IS NULL AND expires_at > now()"
        " RETURNING user_id::text, account_id::text, new_email",
        (token_hash, purpose),
    )


async def void_email_tokens(conn: Conn, user_id: str, purpose: str) -> None:
    await conn.execute(
        "UPDATE email_tokens SET used_at = now() WHERE user_id = %s AND purpose = %s"
        " AND used_at IS NULL",
        (user_id, purpose),
    )


async def recent_email_tokens(conn: Conn, user_id: str, purpose: str, within: timedelta) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM email_tokens WHERE user_id = %s AND purpose = %s"
        " AND created_at > now() - %s",
        (user_id, purpose, within),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0
