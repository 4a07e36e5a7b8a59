"""Login challenges between the password and the session (MFA, legal acceptance).
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_identity.store._sql import Conn, fetch_one


async def create_challenge(
    conn: Conn,
    token_hash: bytes,
    *,
    user_id: str,
    kind: str,
    mfa: bool,
    remember_me: bool,
    ttl: timedelta,
) -> datetime:
    cur = await conn.execute(
        "INSERT INTO login_challenges (token_hash, user_id, kind, mfa, remember_me, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING expires_at",
        (token_hash, user_id, kind, mfa, remember_me, ttl),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def live_challenge(conn: Conn, token_hash: bytes, kind: str) -> dict[str, Any] | None:
    return await fetch_one(
        conn,
        "SELECT user_id::text, mfa, remember_me, attempts FROM login_challenges"
        " WHERE token_hash = %s AND kind = %s AND used_at IS NULL AND expires_at > now()"
        " FOR UPDATE",
        (token_hash, kind),
    )


async def spend_challenge(conn: Conn, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE login_challenges SET used_at = now() WHERE token_hash = %s", (token_hash,)
    )


async def count_challenge_failure(conn: Conn, token_hash: bytes, max_attempts: int) -> None:
    await conn.execute(
        "UPDATE login_challenges SET attempts = attempts + 1,"
        " used_at = CASE WHEN attempts + 1 >= %s THEN now() END WHERE token_hash = %s",
        (max_attempts, token_hash),
    )
